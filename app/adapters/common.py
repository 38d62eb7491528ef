"""What the trainer adapters share: labels → Item fields, prompt → group, run on first use."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import ValidationError

from app.api.errors import ApiError, validation_error
from app.grouping import GroupBuffer
from app.profiles import ResolvedProfile
from app.scoring import RunRef
from schedulers.base import RunExistsError, RunNotFoundError, RunStore
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
    """Item fields of a JSON object; the first reference alias found fills ``reference``."""
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
    """The run to report to, created from the profile's scheduler on first use.

    Trainers with a fixed wire protocol cannot call ``POST /v1/runs`` first, so the run named in
    the URL (``?run_id=``) is created with the profile's scheduler when it does not exist yet.
    """
    if run_id is None:
        return None
    try:
        store.get_run(tenant, run_id)
    except RunNotFoundError:
        sched = profile.profile.scheduler
        if sched is None:
            raise ApiError(
                404, "run_not_found", f"unknown run {run_id!r} and profile {profile.name!r} has no scheduler", "run_id"
            ) from None
        try:
            store.create_run(tenant, run_id, sched.type, dict(sched.config))
        except RunExistsError:
            pass  # another request created it first
    return RunRef(store, tenant, run_id, step, group_size=group_size, buffer=buffer)
