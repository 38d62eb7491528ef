"""The ``closed`` (yes/no) kind of the ``answer`` reward.

The verdict words are read on word boundaries from normalised tokens, so the "no" in "normal",
"know" or "nodule" is not a no; an answer naming both yes and no is wrong. A "no" that denies
another finding ("Yes, there is a pneumothorax; no effusion") is not a second verdict.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from scorers.answer.verdict import Verdict
from scorers.medical.normalise import analyse, normalised_tokens

YesNo = Literal["yes", "no"]

# Words that say yes or no wherever they stand in the answer.
_YES = frozenset({"yes", "yeah", "yep", "true", "correct", "affirmative"})
_NO = frozenset({"no", "nope", "false", "incorrect"})
# Words that say yes or no only when they are the whole answer: "present" alone answers "is
# there X?", but "X present, Y absent" is a finding list, not a verdict.
_YES_ALONE = frozenset({"y", "present", "positive", "seen"})
_NO_ALONE = frozenset({"n", "absent", "negative", "none"})
_STRICT_YES = frozenset({"yes", "y", "true"})
_STRICT_NO = frozenset({"no", "n", "false"})


@lru_cache(maxsize=65536)
def closed_verdict(text: str) -> tuple[YesNo | None, str]:
    """Read a yes/no answer: (verdict or None, how it was read).

    >>> closed_verdict("No, there is no effusion.")
    ('no', 'closed_word')
    >>> closed_verdict("Yes, no effusion. No.")
    (None, 'closed_both')
    >>> closed_verdict("Yes, there is a pneumothorax; no effusion.")
    ('yes', 'closed_word')
    >>> closed_verdict("The nodule looks normal")
    (None, 'closed_no_verdict')
    """
    all_toks = normalised_tokens(text)
    toks = [t for t in all_toks if t.isalnum()]
    says_yes = any(t in _YES for t in toks)
    says_no = any(t in _NO for t in toks)
    if says_yes and says_no and _no_denies_findings_only(all_toks) and _affirms_a_finding(text):
        # "Yes, there is X; no Y": that "no" denies another finding, it is not a second verdict
        # ("Yes, there is no effusion" affirms nothing the yes could stand for: both)
        says_no = False
    if says_yes and says_no:
        return None, "closed_both"
    if says_yes:
        return "yes", "closed_word"
    if says_no:
        return "no", "closed_word"
    if len(toks) == 1:
        if toks[0] in _YES_ALONE:
            return "yes", "closed_word"
        if toks[0] in _NO_ALONE:
            return "no", "closed_word"
    a = analyse(text)
    if a.uncertain:
        return None, "closed_hedged"
    if a.negated:  # "not present", "pneumothorax is ruled out"
        return "no", "closed_from_negation"
    return None, "closed_no_verdict"


def _no_denies_findings_only(toks: list[str]) -> bool:
    """Every no-word is "no" followed by a word ("no effusion"), i.e. a finding's denial, never
    a particle standing alone ("No." / "No, ...") or one of the other no-words ("false")."""
    for i, t in enumerate(toks):
        if t in _NO:
            if t != "no" or i + 1 >= len(toks) or not toks[i + 1].isalnum() or toks[i + 1] in _YES:
                return False
    return True


def _affirms_a_finding(text: str) -> bool:
    return any(t not in _YES and t.isalnum() for t in analyse(text).asserted)


def strict_yes_no(text: str) -> YesNo | None:
    """ "yes"/"no" when the text is nothing but a yes/no word (used by kind inference).

    >>> strict_yes_no(" Yes. "), strict_yes_no("no pneumothorax")
    ('yes', None)
    """
    toks = [t for t in normalised_tokens(text) if t.isalnum()]
    if len(toks) != 1:
        return None
    if toks[0] in _STRICT_YES:
        return "yes"
    if toks[0] in _STRICT_NO:
        return "no"
    return None


def score_closed(answer: str, refs: list[str]) -> Verdict:
    """Closed (yes/no) answer against references. 1.0 when the verdicts agree, else 0.0.

    >>> score_closed("No.", ["no"]).reward, score_closed("Not present", ["no"]).rule
    (1.0, 'closed_from_negation')
    """
    ref_verdicts = [v for v in (closed_verdict(r)[0] for r in refs) if v is not None]
    if not ref_verdicts:
        return Verdict(None, "reference is not a yes/no answer", {})
    got, how = closed_verdict(answer)
    extra = {"verdict": got, "expected": ref_verdicts[0]}
    if got is None:
        return Verdict(0.0, how, extra)
    if got in ref_verdicts:
        return Verdict(1.0, how if how != "closed_word" else "closed_match", extra)
    return Verdict(0.0, "closed_mismatch", extra)
