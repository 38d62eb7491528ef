"""What the trainer adapters share: labels → Item fields, prompt → group, run on first use."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from pydantic import ValidationError

from app.api.errors import ApiError, validation_error
from app.grouping import GroupBuffer
from app.profiles import ResolvedProfile
from app.scoring import SCHEDULED_REWARD, Composite, RunRef, open_run, profile_scheduler, weighted_mean
from schedulers.base import RunStore
from scorers import Item

ITEM_FIELDS = frozenset(Item.model_fields) - {"completion"}
# Dataset columns trainers commonly use for the ground truth (OpenRLHF --data.label_key answer,
# verl ground_truth, NeMo Gym expected_answer).
REFERENCE_ALIASES = ("reference", "answer", "expected_answer", "ground_truth", "solution", "label")


def label_fields(label: Any) -> dict[str, Any]:
    """A trainer's label → Item fields: a plain reference, or a (JSON) object with Item fields.

    >>> label_fields("yes"), label_fields('{"reference": "B", "kind": "mcq"}'), label_fields(True)
    ({'reference': 'yes'}, {'reference': 'B', 'kind': 'mcq'}, {'reference': 'yes'})
    """
    if label is None:
        return {}
    if isinstance(label, bool):
        return {"reference": "yes" if label else "no"}
    if isinstance(label, int | float):
        return {"reference": str(label)}
    if isinstance(label, str):
        text = label.strip()
        if text.startswith("{"):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            except RecursionError:
                # A JSON string nested ~1,000 levels deep exhausts the parser's stack.
                raise ApiError(422, "invalid_field", "the label's JSON is nested too deeply", "labels") from None
            if isinstance(parsed, dict):
                return object_fields(parsed)
        return {"reference": label}
    if isinstance(label, list):
        if all(isinstance(x, str | int | float) and not isinstance(x, bool) for x in label):
            return {"reference": [str(x) for x in label]}
        raise ApiError(422, "invalid_field", "a list label must hold plain references", "labels")
    if isinstance(label, dict):
        return object_fields(label)
    raise ApiError(422, "invalid_field", f"unsupported label type {type(label).__name__}", "labels")


def object_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """Item fields of a JSON object; the first reference alias found fills ``reference``.

    Keys that are neither are left out; when the object has no reference at all, the answer
    reward abstains and the item's total is null, with that reason ("no reference answer").
    """
    out = {k: v for k, v in doc.items() if k in ITEM_FIELDS}
    if "reference" not in out:
        for alias in REFERENCE_ALIASES:
            value = doc.get(alias)
            if isinstance(value, str | list):
                out["reference"] = value
                break
            if isinstance(value, int | float) and not isinstance(value, bool):
                out["reference"] = str(value)
                break
    return out


def make_item(completion: str, fields: dict[str, Any], where: str) -> Item:
    try:
        return Item.model_validate({**fields, "completion": completion})
    except ValidationError as exc:
        raise validation_error(exc, where) from None


def prompt_group(prompt: Any) -> str:
    """Completions of the same prompt form one GRPO group: key them by a hash of the prompt."""
    text = prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True, default=str)
    return "p-" + hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()[:16]


def ensure_run(
    store: RunStore,
    tenant: str,
    run_id: str | None,
    profile: ResolvedProfile,
    step: int | None,
    group_size: int | None = None,
    buffer: GroupBuffer | None = None,
) -> RunRef | None:
    """The run named in the URL (``?run_id=``), created from the profile's scheduler on first use."""
    if run_id is None:
        return None
    return open_run(store, tenant, run_id, profile_scheduler(profile), step, None, group_size, buffer)


# --- What a trainer protocol reports besides the total -------------------------------------


def filled(values: list[float | None], fallback: float) -> list[float]:
    """Protocols whose fields must be numbers: an abstention (or a non-finite value) → ``fallback``."""
    return [fallback if v is None or not math.isfinite(v) else v for v in values]


def outcome_scores(profile: ResolvedProfile, out: Composite) -> list[float | None]:
    """Per item, the weighted mean of the required (outcome) components alone.

    What dynamic filtering needs (OpenRLHF's ``scores``): a group whose answers are all wrong
    but well formatted has equal outcome scores, though its totals differ by format credit.
    ``None`` where the total is None.
    """
    required = [c for c in profile.components if c.required]
    result: list[float | None] = []
    for i, total in enumerate(out.rewards):
        outcome = None if total is None else weighted_mean(required, out.components, i)
        result.append(total if outcome is None else outcome)
    return result


def overlaps(profile: ResolvedProfile, out: Composite) -> dict[str, list[float | None]]:
    """The raw IoU behind each ``iou`` component's (possibly thresholded) reward, per item."""
    result: dict[str, list[float | None]] = {}
    for comp in profile.components:
        if comp.reward != SCHEDULED_REWARD:
            continue
        values: list[float | None] = []
        for detail in out.details:
            v = detail.get(comp.key, {}).get("iou")
            values.append(float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None)
        result[comp.key] = values
    return result
