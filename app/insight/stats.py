"""The statistics of run insight, as pure functions over what scoring returned.

GRPO's advantage is ``(r − mean(group)) / std(group)``: a group whose totals are all equal
teaches nothing (a **dead** group). Shaping hides it: a format or length term gives an
all-wrong group a small spread, std normalisation blows that spread up to unit size and the
update chases formatting noise (the collapse discussed in verl-recipe PR #125). Such a group is
**phantom**: its outcome components (``answer``, ``iou``, ``semantic`` by default, the profile's
``required`` ones) are equal across the group, and its totals differ only through shaping terms.

Everything is kept as additive counters (`step_counters`), so that concurrent workers merge
their contributions into one per-step document with `schedulers.stores.doc_merge` and lose
nothing; `step_summary` turns a document back into rates, means and standard deviations.
Items whose total is ``None`` (a required component abstained) are left out of their group,
as GRPO trainers leave them out of the baseline.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

# Totals are weighted means of component rewards, and every registered reward lies in [-1, 1]
# (length and recitation can be negative), so fixed bins over [-1, 1] fit every profile and
# merge across workers and steps. 40 bins: 0.05 wide, finer than a 0.25 format tag.
HIST_LO, HIST_HI, HIST_BINS = -1.0, 1.0, 40
# Totals are sums of floats: equal within this are equal (far below any reward's resolution).
EQUAL_EPS = 1e-9

Verdict = Literal["dead", "phantom", "live", "small"]


@dataclass(frozen=True)
class GroupSummary:
    """One GRPO group reduced to what the verdict needs (mergeable: counts, lows and highs).

    ``scored``: items with a total. ``total_lo``/``total_hi``: the range of their totals.
    ``outcome_lo``/``outcome_hi``: per outcome component, the range of its rewards over those items.
    """

    scored: int
    total_lo: float | None = None
    total_hi: float | None = None
    outcome_lo: dict[str, float] = field(default_factory=dict)
    outcome_hi: dict[str, float] = field(default_factory=dict)


def summarise_group(totals: Sequence[float | None], outcomes: Mapping[str, Sequence[float | None]]) -> GroupSummary:
    """Reduce one group: ``totals`` per item, ``outcomes`` the outcome components' rewards per item.

    >>> summarise_group([0.5, None, 0.7], {"answer": [0.0, None, 0.0]})
    GroupSummary(scored=2, total_lo=0.5, total_hi=0.7, outcome_lo={'answer': 0.0}, outcome_hi={'answer': 0.0})
    """
    kept = [i for i, t in enumerate(totals) if t is not None]
    if not kept:
        return GroupSummary(0)
    values = [float(t) for t in totals if t is not None]
    lo: dict[str, float] = {}
    hi: dict[str, float] = {}
    for key, rewards in outcomes.items():
        # A scored item has every outcome component (a required one abstaining nulls the total).
        present = [float(r) for r in (rewards[i] for i in kept) if r is not None]
        if present:
            lo[key], hi[key] = min(present), max(present)
    return GroupSummary(len(kept), min(values), max(values), lo, hi)


def verdict(group: GroupSummary) -> Verdict:
    """``small`` (under 2 scored items: no group statistic), ``dead``, ``phantom`` or ``live``.

    >>> verdict(GroupSummary(4, 0.2, 0.2))
    'dead'
    >>> verdict(GroupSummary(4, 0.1, 0.3, {"answer": 0.0}, {"answer": 0.0}))
    'phantom'
    >>> verdict(GroupSummary(4, 0.1, 0.9, {"answer": 0.0}, {"answer": 1.0}))
    'live'
    """
    if group.scored < 2 or group.total_lo is None or group.total_hi is None:
        return "small"
    if group.total_hi - group.total_lo <= EQUAL_EPS:
        return "dead"
    outcome_flat = all(group.outcome_hi[k] - group.outcome_lo[k] <= EQUAL_EPS for k in group.outcome_lo)
    # A profile without outcome components has no "only shaping" spread to speak of.
    if group.outcome_lo and outcome_flat:
        return "phantom"
    return "live"


def histogram_bin(value: float) -> int:
    """The fixed bin of a total (values outside [-1, 1] land in the edge bins).

    >>> histogram_bin(-1.0), histogram_bin(0.0), histogram_bin(0.99), histogram_bin(1.0)
    (0, 20, 39, 39)
    """
    i = math.floor((value - HIST_LO) / (HIST_HI - HIST_LO) * HIST_BINS)
    return min(max(i, 0), HIST_BINS - 1)


def histogram_edges() -> list[float]:
    """The ``HIST_BINS + 1`` bin edges."""
    width = (HIST_HI - HIST_LO) / HIST_BINS
    return [round(HIST_LO + i * width, 10) for i in range(HIST_BINS + 1)]


def _moments(prefix: str, values: Sequence[float]) -> dict[str, float]:
    return {
        f"{prefix}n": len(values),
        f"{prefix}sum": math.fsum(values),
        f"{prefix}sumsq": math.fsum(v * v for v in values),
    }


def item_counters(
    totals: Sequence[float | None], components: Mapping[str, Sequence[float | None]]
) -> dict[str, float]:
    """Additive per-step counters of a batch's items: totals, each component, the histogram.

    >>> c = item_counters([0.5, None], {"answer": [1.0, None]})
    >>> c["items"], c["t|n"], c["t|sum"], c["c|answer|abstain"], c["h|30"]
    (2, 1, 0.5, 1, 1)
    """
    scored = [float(t) for t in totals if t is not None]
    out: dict[str, float] = {"items": len(totals), **_moments("t|", scored)}
    for key, rewards in components.items():
        present = [float(r) for r in rewards if r is not None]
        out.update(_moments(f"c|{key}|", present))
        out[f"c|{key}|abstain"] = len(rewards) - len(present)
    for t in scored:
        b = f"h|{histogram_bin(t)}"
        out[b] = out.get(b, 0) + 1
    return out


def group_counters(groups: Sequence[GroupSummary]) -> dict[str, float]:
    """Additive per-step counters of closed groups: how many of each verdict.

    >>> group_counters([GroupSummary(2, 0.0, 0.0), GroupSummary(1, 0.3, 0.3)])
    {'groups': 1, 'dead': 1, 'phantom': 0, 'small_groups': 1}
    """
    verdicts = [verdict(g) for g in groups]
    counted = [v for v in verdicts if v != "small"]
    return {
        "groups": len(counted),
        "dead": counted.count("dead"),
        "phantom": counted.count("phantom"),
        "small_groups": len(verdicts) - len(counted),
    }


def _mean_std(doc: Mapping[str, Any], prefix: str) -> tuple[int, float | None, float | None]:
    n = int(doc.get(f"{prefix}n", 0))
    if n == 0:
        return 0, None, None
    mean = float(doc[f"{prefix}sum"]) / n
    # Population std, as GRPO's group std; clamp the tiny negatives of float cancellation.
    var = max(float(doc[f"{prefix}sumsq"]) / n - mean * mean, 0.0)
    return n, mean, math.sqrt(var)


def _rate(num: float, den: float) -> float | None:
    return None if den <= 0 else num / den


def step_summary(step: int, doc: Mapping[str, Any]) -> dict[str, Any]:
    """One step's statistics from its merged counters (rates are None where nothing was counted).

    >>> s = step_summary(3, {**item_counters([0.5, 0.5], {"answer": [0.0, 0.0]}),
    ...                      **group_counters([GroupSummary(2, 0.5, 0.5)])})
    >>> s["dead_group_rate"], s["reward"]["mean"], s["components"]["answer"]["abstain_rate"]
    (1.0, 0.5, 0.0)
    """
    groups = float(doc.get("groups", 0))
    dead, phantom = float(doc.get("dead", 0)), float(doc.get("phantom", 0))
    n, mean, std = _mean_std(doc, "t|")
    components: dict[str, dict[str, Any]] = {}
    # Keys are "c|<component>|<field>"; a component name may hold "|", so cut from the right.
    names = sorted({k[2:].rsplit("|", 1)[0] for k in doc if k.startswith("c|")})
    for key in names:
        cn, cmean, cstd = _mean_std(doc, f"c|{key}|")
        abstain = int(doc.get(f"c|{key}|abstain", 0))
        components[key] = {
            "n": cn,
            "mean": cmean,
            "std": cstd,
            "abstentions": abstain,
            "abstain_rate": _rate(abstain, cn + abstain),
        }
    return {
        "step": step,
        "items": int(doc.get("items", 0)),
        "scored": n,
        "groups": int(groups),
        "dead_groups": int(dead),
        "phantom_groups": int(phantom),
        "small_groups": int(doc.get("small_groups", 0)),
        "dead_group_rate": _rate(dead, groups),
        "phantom_group_rate": _rate(phantom, groups),
        # Dead or phantom: the groups whose outcome gives the policy no signal.
        "no_signal_rate": _rate(dead + phantom, groups),
        "reward": {"mean": mean, "std": std},
        "components": components,
        "histogram": [int(doc.get(f"h|{i}", 0)) for i in range(HIST_BINS)],
        "tau": doc.get("tau"),
        "window": doc.get("window"),
        "updated_at": doc.get("updated_at"),
    }


def dead_group_warning(steps: Sequence[Mapping[str, Any]], level: float, span: int) -> str | None:
    """A warning when the dead-group rate is above ``level`` in each of the last ``span`` steps with groups.

    >>> dead_group_warning([{"step": s, "dead_group_rate": 0.75} for s in (1, 2, 3)], 0.5, 3)[:38]
    'dead-group rate above 0.50 for 3 steps'
    >>> dead_group_warning([{"step": 1, "dead_group_rate": 0.75}], 0.5, 3) is None
    True
    """
    rated = [s for s in steps if s.get("dead_group_rate") is not None]
    last = rated[-span:]
    if span <= 0 or len(last) < span or not all(float(s["dead_group_rate"]) > level for s in last):
        return None
    rates = ", ".join(f"{float(s['dead_group_rate']):.2f}" for s in last)
    return (
        f"dead-group rate above {level:.2f} for {span} steps "
        f"(steps {last[0]['step']}–{last[-1]['step']}: {rates}): most GRPO groups get equal rewards and "
        "teach nothing (all right: the task is too easy, raise τ or the difficulty; all wrong: too hard, "
        "lower it or sample more completions per prompt)"
    )
