"""The verdict every ``answer`` kind returns: a reward (or None to abstain), the rule that fired."""

from __future__ import annotations

from typing import Any, NamedTuple


class Verdict(NamedTuple):
    """One kind's judgement of one answer against its references.

    ``reward`` None means the item cannot be scored (bad reference, missing options); then
    ``rule`` is the reason. ``extra`` goes into the Score's details (normalised forms, letters).
    """

    reward: float | None
    rule: str
    extra: dict[str, Any]


def best(verdicts: list[Verdict]) -> Verdict:
    """The highest-reward verdict over several accepted references; the first on ties.

    Abstentions lose to any scored verdict; with nothing scored, the first abstention is kept.

    >>> best([Verdict(0.0, "a", {}), Verdict(1.0, "b", {}), Verdict(None, "c", {})]).rule
    'b'
    """
    top: Verdict | None = None
    for v in verdicts:
        if v.reward is None:
            continue
        if top is None or top.reward is None or v.reward > top.reward:
            top = v
    return top if top is not None else verdicts[0]
