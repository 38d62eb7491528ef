"""Negation and uncertainty cues in the NegEx / ConText manner, over normalised tokens.

NegEx (Chapman et al., "A simple algorithm for identifying negated findings and diseases in
discharge summaries", J Biomed Inform 2001) finds negation cues before ("no", "without") or after
("... ruled out") a finding, ignores pseudo-negations ("no change") and ends a cue's scope at a
termination term ("but"). ConText (Harkema et al., J Biomed Inform 2009) adds uncertainty
("possible", "cannot be excluded") and scopes to the end of the sentence. The cue lists below
are this project's own, written for short radiology answers, in normalised form (lower case,
singular, American spelling, as `scorers.medical.surface` leaves them).

Scopes: a pre-cue reaches forward, a post-cue backward, both to the nearest terminator
(``.``, ``;``, "but", "however", ...); a comma does not end a scope, so "no effusion,
consolidation or pneumothorax" negates all three, as NegEx does, unless the words after the
comma are affirmed ("no effusion, small pneumothorax present"). A pre-cue that reaches a comma
before any finding ("No, it is mild") answers a question; it negates nothing after the comma.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import Enum
from typing import NamedTuple

from scorers.medical.surface import SEPARATOR_TOKENS, TERMINATOR_TOKENS


class Cue(Enum):
    NEG_PRE = "neg_pre"
    NEG_POST = "neg_post"
    UNC_PRE = "unc_pre"
    UNC_POST = "unc_post"
    PSEUDO = "pseudo"  # looks like a cue, is not one: replaced by its stand-in tokens
    TERM = "term"  # ends every open scope
    FILLER = "filler"  # carries no finding ("there is", "consistent with"): dropped
    AFFIRM = "affirm"  # "present", "seen": ends a segment; after a comma, ends a negation's reach


_NEG_PRE = (
    "no",
    "not",
    "without",
    "absent",
    "absence of",
    "no evidence of",
    "no evidence for",
    "no sign of",
    "no finding of",
    "no radiographic evidence of",
    "negative for",
    "free of",
    "rule out of",
    "ruled out for",
    "never",
    "neither",
    "nor",
    "none",
    "nothing",
    "lack of",
    "deny",
    "fail to reveal",
    "no suspicious",
    "no definite",
    "no obvious",
    "no significant",
    "no acute",
)
_NEG_POST = (
    "absent",
    "is absent",
    "not seen",
    "not present",
    "not identified",
    "not visualized",
    "not demonstrated",
    "not detected",
    "not appreciated",
    "not evident",
    "ruled out",
    "has been ruled out",
    "been ruled out",
    "excluded",
    "has been excluded",
    "resolved",
    "has resolved",
    "none",
    "negative",
    "unlikely",
)
_UNC_PRE = (
    "possible",
    "possibly",
    "probable",
    "probably",
    "likely",
    "most likely",
    "suspected",
    "suspect",
    "suspicious for",
    "suspicious of",
    "suggestive of",
    "suggest",
    "concerning for",
    "concern for",
    "questionable",
    "question of",
    "may represent",
    "may be",
    "might be",
    "could be",
    "could represent",
    "cannot exclude",
    "can not exclude",
    "cant exclude",
    "cannot rule out",
    "can not rule out",
    "cant rule out",
    "cannot be excluded",
    "rule out",
    "r o",
    "differential include",
    "differential diagnosis include",
    "equivocal",
    "indeterminate",
    "presumed",
    "presumably",
    "perhaps",
    "maybe",
    "uncertain",
    "not certain",
    "versus",
    "vs",
    # The answer declines to answer ("not sure" had read as a negation of "sure").
    "not sure",
    "unsure",
    "cannot be determined",
    "cannot determine",
    "can not determine",
    "cannot tell",
    "can not tell",
    "cant tell",
    "cannot say",
    "cant say",
    "do not know",
    "dont know",
)
_UNC_POST = (
    "cannot be excluded",
    "can not be excluded",
    "cannot be ruled out",
    "can not be ruled out",
    "cannot be entirely excluded",
    "not excluded",
    "not ruled out",
    "is not excluded",
    "is possible",
    "is likely",
    "is suspected",
    "is questionable",
    "suspected",
    "questionable",
    "likely",
    "possible",
)
# Pseudo-negations (NegEx's own category): "no change" says the finding is still there.
# A stand-in token keeps the clinical content ("unchanged" is a member of the
# increased/decreased polarity group in `scorers.medical.clinical`).
_PSEUDO: dict[str, tuple[str, ...]] = {
    "no change": ("unchanged",),
    "no interval change": ("unchanged",),
    "no significant change": ("unchanged",),
    "no significant interval change": ("unchanged",),
    "not changed": ("unchanged",),
    "no increase": ("unchanged",),
    "no decrease": ("unchanged",),
    "not increased": ("unchanged",),
    "not decreased": ("unchanged",),
    "no further": (),
    "not only": (),
    "not necessarily": (),
    "without difficulty": (),
    "gram negative": ("gram", "negative"),
    "not cause": (),
    "not drain": (),
}
_TERM = (
    "but",
    "however",
    "although",
    "though",
    "except",
    "yet",
    "aside from",
    "apart from",
    "with exception of",
    "which",
    "whereas",
    "while",
    "otherwise",
    "nevertheless",
)
_FILLER: tuple[str, ...] = (
    "there is",
    "there are",
    "there was",
    "there were",
    "there",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "finding of",
    "finding",
    "consistent with",
    "compatible with",
    "in keeping with",
    "evidence of",
    "sign of",
    "it is",
    "this is",
    "this",
    "these",
)


# "No effusion, small pneumothorax present": the comma and the affirmation end the reach of
# "no" (NegEx would negate both; radiology answers list findings this way).
_AFFIRM = (
    "is seen",
    "seen",
    "noted",
    "present",
    "is present",
    "are present",
    "evident",
    "identified",
    "demonstrated",
    "visible",
    "visualized",
    "shown",
)


# Report openers ("the image demonstrates no pneumothorax"): the study that shows a finding is
# not a finding, so without these the sentence would count as only partly negated. Nouns and
# verbs in normalised form (articles dropped, singular, as `scorers.medical.surface` leaves them).
_STUDY_NOUNS = (
    "image",
    "scan",
    "film",
    "radiograph",
    "study",
    "picture",
    "view",
    "exam",
    "examination",
    "xray",
    "ct",
    "mri",
)
_SHOW_VERBS = ("show", "demonstrate", "reveal", "depict", "display")
_FILLER += tuple(f"{noun} {verb}" for noun in _STUDY_NOUNS for verb in _SHOW_VERBS)


def _build() -> dict[str, list[tuple[tuple[str, ...], Cue, tuple[str, ...]]]]:
    entries: list[tuple[tuple[str, ...], Cue, tuple[str, ...]]] = []

    def add(phrases: Iterable[str], cue: Cue) -> None:
        entries.extend((tuple(p.split()), cue, ()) for p in phrases)

    # Order matters only for phrases listed under two kinds (e.g. "absent" is both a pre- and a
    # post-cue): the first kind wins and the scan resolves pre/post by position.
    add(_UNC_POST, Cue.UNC_POST)
    add(_NEG_POST, Cue.NEG_POST)
    add(_UNC_PRE, Cue.UNC_PRE)
    add(_NEG_PRE, Cue.NEG_PRE)
    add(_TERM, Cue.TERM)
    add(_FILLER, Cue.FILLER)
    add(_AFFIRM, Cue.AFFIRM)
    entries.extend((tuple(p.split()), Cue.PSEUDO, stand_in) for p, stand_in in _PSEUDO.items())
    index: dict[str, list[tuple[tuple[str, ...], Cue, tuple[str, ...]]]] = {}
    seen: set[tuple[str, ...]] = set()
    for phrase, cue, stand_in in entries:
        if phrase in seen and cue is not Cue.PSEUDO:
            continue
        seen.add(phrase)
        index.setdefault(phrase[0], []).append((phrase, cue, stand_in))
    for cands in index.values():
        cands.sort(key=lambda e: -len(e[0]))  # longest match first: "no change" before "no"
    return index


_INDEX = _build()
_BOTH_WAYS = frozenset({("absent",), ("none",), ("possible",), ("likely",), ("suspected",), ("questionable",)})
# Words that deny the value written right after them, as one regex fragment for the answer kinds
# that read a single value from the raw text (an option letter, a number): "not A", "isn't
# 12 mm", "rather than (B)". Kept here, beside the cue lists, so the kinds cannot drift apart.
DENIAL_BEFORE = r"(?:\b(?:not|no|never|isnt|except|rather\s+than|instead\s+of)|n['’]t)"
# The first word of every cue, filler and affirmation, and the punctuation the scan acts on: a
# text with none of them passes through the scan unchanged.
_SCAN_STOPS = frozenset(_INDEX) | TERMINATOR_TOKENS | SEPARATOR_TOKENS
CUE_WORDS = frozenset(w for phrases in (_NEG_PRE, _NEG_POST, _UNC_PRE, _UNC_POST) for p in phrases for w in p.split())


class CueScan(NamedTuple):
    """What the cue scan found in one text (a named tuple: built once per analysed text)."""

    content: tuple[str, ...]  # finding tokens, cue/filler words removed, stand-ins inserted
    negated_mask: tuple[bool, ...]  # per content token: inside a negation scope
    has_negation: bool  # at least one negation cue (even with nothing to negate: "no")
    uncertain: bool  # at least one uncertainty cue


def scan(tokens: Sequence[str]) -> CueScan:
    """Find cues in normalised ``tokens`` and mark which finding words they negate.

    >>> s = scan("no effusion but pneumothorax".split())
    >>> s.content, s.negated_mask
    (('effusion', 'pneumothorax'), (True, False))
    >>> scan("pneumothorax cannot be excluded".split()).uncertain
    True
    >>> scan("no , it is mild".split()).negated_mask  # "No, ...": an answer particle
    (False,)
    """
    if _SCAN_STOPS.isdisjoint(tokens):
        # the usual short answer: no cue, filler or punctuation, so every word is a finding word
        return CueScan(tuple(tokens), (False,) * len(tokens), False, False)
    content: list[str] = []
    mask: list[bool] = []
    has_neg = False
    uncertain = False
    seg_start = 0  # index into content where the current scope segment began
    neg_open = False  # a pre-negation reaches the words that follow
    neg_start = 0  # index into content where that pre-negation began
    last_comma = -1  # index into content of the segment's last comma
    n = len(tokens)
    i = 0
    while i < n:
        tok = tokens[i]
        if tok in TERMINATOR_TOKENS:
            seg_start, neg_open, last_comma = len(content), False, -1
            i += 1
            continue
        if tok in SEPARATOR_TOKENS:
            if neg_open and neg_start == len(content):
                # A negation with nothing in its scope before the comma is an answer particle
                # ("No, it is mild"; "No, there is a pneumothorax"), not a list's negation.
                neg_open = False
            last_comma = len(content)
            i += 1
            continue
        match = None
        for phrase, cue, stand_in in _INDEX.get(tok, ()):
            k = len(phrase)
            if tuple(tokens[i : i + k]) == phrase:
                match = (k, phrase, cue, stand_in)
                break
        if match is None:
            content.append(tok)
            mask.append(neg_open)
            i += 1
            continue
        k, phrase, cue, stand_in = match
        i += k
        if phrase in _BOTH_WAYS:
            # "absent thumb" (pre) vs "thumb absent" (post): post when a finding precedes it
            # in this segment.
            post = len(content) > seg_start
            if cue in (Cue.UNC_POST, Cue.UNC_PRE):
                cue = Cue.UNC_POST if post else Cue.UNC_PRE
            else:
                cue = Cue.NEG_POST if post else Cue.NEG_PRE
        if cue is Cue.NEG_PRE:
            if not neg_open:
                neg_start = len(content)
            has_neg, neg_open = True, True
        elif cue is Cue.NEG_POST:
            has_neg = True
            for j in range(seg_start, len(content)):
                mask[j] = True
        elif cue is Cue.UNC_PRE or cue is Cue.UNC_POST:
            uncertain = True
        elif cue is Cue.TERM:
            seg_start, neg_open, last_comma = len(content), False, -1
        elif cue is Cue.AFFIRM:
            if neg_open and last_comma > neg_start:
                for j in range(last_comma, len(content)):
                    mask[j] = False
            seg_start, neg_open, last_comma = len(content), False, -1
        elif cue is Cue.PSEUDO:
            content.extend(stand_in)
            mask.extend([neg_open] * len(stand_in))
    return CueScan(tuple(content), tuple(mask), has_neg, uncertain)
