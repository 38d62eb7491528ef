"""One item scored component by component, with what each component read and why it scored so.

Reward hacking shows in the details: a format credit on an empty answer, an answer that names
two options, a box list that covers the image, a long recitation. `explain` lays out, per
component, the rule that fired, the extracted answer and boxes, and both sides normalised by
the medical normaliser (the forms the answer and semantic rewards compare).
"""

from __future__ import annotations

from typing import Any

from app.profiles import ResolvedProfile
from app.scoring import score_profile
from scorers import Item
from scorers.medical.normalise import normalise

# Detail keys shown as the component's extraction; everything else stays under "details".
_EXTRACTED = ("answer", "source", "verdict", "named", "expected", "boxes", "format", "pairs")


def _rule(reward: str, details: dict[str, Any], params: Any) -> str | None:
    rule = details.get("rule")
    if isinstance(rule, str):
        return rule
    # Rewards without a "rule" detail: say which mode of theirs applied.
    mode, metric = getattr(params, "mode", None), getattr(params, "metric", None)
    parts = [str(p) for p in (mode, metric) if p is not None]
    if details.get("reason"):
        return "abstained"
    return " ".join(parts) or reward


def _references(item: Item) -> list[str]:
    ref = item.reference
    if ref is None:
        return []
    return [ref] if isinstance(ref, str) else [str(r) for r in ref]


def explain(profile: ResolvedProfile, item: Item) -> dict[str, Any]:
    """Score ``item`` with ``profile`` (no run: the profile's own τ) and explain every component."""
    out = score_profile(profile, [item], None, "item")
    components: list[dict[str, Any]] = []
    for comp in profile.components:
        details = dict(out.details[0].get(comp.key, {}))
        status = details.pop("status", None)
        answer = details.get("answer")
        normalised: dict[str, Any] = {}
        if isinstance(answer, str):
            normalised["answer"] = normalise(answer)
            normalised["reference"] = [normalise(r) for r in _references(item)]
        components.append(
            {
                "key": comp.key,
                "reward_name": comp.reward,
                "reward": out.components[comp.key][0],
                "weight": comp.weight,
                "required": comp.required,
                "status": status,
                "rule": _rule(comp.reward, details, comp.params),
                "reason": details.get("reason"),
                "extracted": {k: details[k] for k in _EXTRACTED if k in details},
                "normalised": normalised,
                "details": details,
            }
        )
    return {
        "profile": profile.name,
        "total": out.rewards[0],
        "status": out.status[0],
        "reason": out.reasons[0] if out.reasons else None,
        "components": components,
    }
