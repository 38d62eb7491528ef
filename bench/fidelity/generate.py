"""Held-out fidelity sets generated from the Human Phenotype Ontology's structure.

Built by a process independent of the scoring rules (`bench.fidelity.ontology` parses ``hp.obo``
itself and never imports `scorers`):

- positives: a term against its EXACT synonyms (layperson ones included) in neutral framings,
  and one modifier applied to both sides ("mild X" / "mild <synonym of X>");
- hard negatives: two distinct siblings under one is-a parent (neither an ancestor of the other,
  no synonym shared); one term under two different modifiers of one dimension (negation,
  uncertainty, laterality, location within the organ, severity, extent, number, acuity, size,
  lesion type, malignancy), the answer side written with a synonym where there is one.
- answer cases for every kind: open (synonym, sentence, notation; sibling, negation, modifier),
  mcq (option named by a synonym; a sibling's synonym, two options, a denied option), closed (the
  verdict with a second finding's negation), ordinal (grades written out, the grade word alone;
  two grades, another grade), numeric (the same length in other units; another dimension,
  another value).

- wording the ontology does not hold (`bench.fidelity.lay_terms`): lay terms against their
  clinical names (and against another finding, and denied), normal findings said two ways (and
  pairs that sound alike but are not equivalent), device positions (right against right, right
  against a misplaced tip); and misspellings: the term's longest word (8 letters or more) with
  one seeded random typing error that is no word of the ontology.

Split: every case belongs to ``dev`` or ``test`` by a hash of the HPO id that defines it (the
parent for sibling pairs; the lay phrase, the normal pair, the device for the wording cases), so
the two splits share no concept. The framings, negations and hedges around a finding differ too:
test uses only wording dev never uses (`_wording`), so no rule was written looking at it. Rules
may be written while looking at ``dev`` only; ``test`` is scored, never printed
(`bench.bench_fidelity`).

Run ``python -m bench.fidelity.generate`` to write ``bench/fidelity/data/{dev,test}_{semantic,answer}.jsonl``
(generated, not committed: the bench regenerates them deterministically).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.fidelity.lay_terms import BAD_POSITION, DEVICES, GOOD_POSITION, LAY_TERMS, NORMAL_NON_PAIRS, NORMAL_PAIRS
from bench.fidelity.ontology import PHENOTYPIC_ABNORMALITY, Term, ancestors, children, terms

DATA = Path(__file__).resolve().parent / "data"
SPLITS = ("dev", "test")
# Labels longer than this (in words) are definitions rather than answers a model would give.
MAX_WORDS = 4
# Cases per category and split, a deterministic sample: enough for a stable rate (±3% at 95%),
# few enough that the bench runs in a minute on two cores.
PER_CATEGORY = 300
_SKIP = re.compile(
    r"abnormal|aplasia/|/hypoplasia|morphology|physiology|phenotyp|\bof the\b.*\bof the\b|[(),;:\d]", re.I
)


def split_of(key: str) -> str:
    """The split of a case keyed by an HPO id: half of the ids to each, fixed forever."""
    return SPLITS[int(hashlib.sha256(key.encode()).hexdigest(), 16) % 2]


def _rank(key: str) -> int:
    # a deterministic pseudo-random order, independent of the split hash
    return int(hashlib.sha256(("order:" + key).encode()).hexdigest(), 16)


def _pick(key: str, seq: list[Any] | tuple[Any, ...]) -> Any:
    return seq[_rank(key) % len(seq)]


def _text(name: str) -> str:
    # "Pleural effusion" -> "pleural effusion"; "GGO" and "IgA deficiency" keep their capitals
    if len(name) > 1 and name[1].isupper():
        return name
    return name[0].lower() + name[1:]


def _usable(name: str) -> bool:
    return 0 < len(name.split()) <= MAX_WORDS and not _SKIP.search(name)


def _synonym_owners() -> dict[str, set[str]]:
    owners: dict[str, set[str]] = {}
    for t in terms().values():
        for s in [t.name, *(s for s, _ in t.synonyms)]:
            owners.setdefault(s.lower(), set()).add(t.id)
    return owners


def _candidates() -> list[Term]:
    """Phenotypic-abnormality terms with a usable name."""
    anc = ancestors()
    return [
        t
        for t in terms().values()
        if PHENOTYPIC_ABNORMALITY in anc[t.id] and _usable(t.name) and t.id != PHENOTYPIC_ABNORMALITY
    ]


def _synonyms(t: Term, owners: dict[str, set[str]]) -> list[str]:
    """Synonyms that are answers (short, not abbreviations, owned by this term alone)."""
    out = []
    for s, kind in t.synonyms:
        if kind == "abbreviation" or not _usable(s) or s.lower() == t.name.lower():
            continue
        if owners.get(s.lower(), set()) != {t.id}:
            continue
        out.append(s)
    return out


# Neutral framings of an answer: they add no clinical content.
_FRAMES = (
    "{}",
    "there is {}",
    "{} is present",
    "findings consistent with {}",
    "the image shows {}",
    "{} is seen",
    "the patient has {}",
    "appearance is that of {}",
)
_NEGATIONS = ("no {}", "there is no {}", "{} is absent", "no evidence of {}", "{} is ruled out", "without {}")
_HEDGES = ("possible {}", "{} cannot be excluded", "suspected {}", "probable {}", "questionable {}")
# Wording for the test split only: dev cases never use it, so no rule was written looking at it.
_HELD_OUT_FRAMES = (
    "{} is noted",
    "there appears to be {}",
    "imaging demonstrates {}",
    "{} can be seen",
    "{} is evident",
    "the scan reveals {}",
    "features of {}",
    "this is {}",
)
_HELD_OUT_NEGATIONS = ("no sign of {}", "{} is not seen", "negative for {}", "{} is excluded", "free of {}")
_HELD_OUT_HEDGES = ("{} is likely", "may represent {}", "cannot rule out {}", "{} is suspected", "likely {}")


def _wording(split: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(framings, negations, hedges) for a split: test's are held out from dev."""
    if split == "test":
        return _HELD_OUT_FRAMES, _HELD_OUT_NEGATIONS, _HELD_OUT_HEDGES
    return _FRAMES[1:], _NEGATIONS, _HEDGES


# Modifier dimensions: pairs of values that contradict each other, and paraphrases of each value
# (a value's forms agree with each other). "{}" is the finding.
_DIMENSIONS: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "laterality": [
        (("left {}", "left-sided {}", "{} on the left"), ("right {}", "right-sided {}", "{} on the right")),
        (("bilateral {}", "{} on both sides"), ("left {}", "unilateral left {}")),
    ],
    "location": [
        (("{} in the upper lobe", "upper lobe {}"), ("{} in the lower lobe", "lower lobe {}")),
        (("{} at C5-C6", "{} at the C5/6 level", "{} at C5-6"), ("{} at C6-C7", "{} at the C6/7 level")),
        (("{} at L4-L5", "{} at the L4/5 level"), ("{} at L5-S1", "{} at the L5/S1 level")),
        (("{} in the anterior wall", "anterior wall {}"), ("{} in the posterior wall", "posterior wall {}")),
        (("{} in the proximal segment", "proximal {}"), ("{} in the distal segment", "distal {}")),
    ],
    "severity": [
        (("mild {}", "{}, mild", "{} of mild degree"), ("severe {}", "marked {}", "{}, severe")),
        (("mild {}", "minimal {}"), ("moderate {}", "{} of moderate degree")),
    ],
    "extent": [
        (("partial {}", "incomplete {}"), ("complete {}", "total {}")),
        (("focal {}", "localized {}"), ("diffuse {}", "generalized {}")),
    ],
    "number": [
        (("a single {}", "solitary {}", "one {}"), ("multiple {}", "several {}", "numerous {}")),
        (("two {}", "2 {}"), ("three {}", "3 {}")),
    ],
    "acuity": [
        (("acute {}", "new {}"), ("chronic {}", "old {}", "long-standing {}")),
    ],
    "size": [
        (("small {}", "tiny {}"), ("large {}", "big {}")),
        (("{} measuring 5 mm", "{} of 0.5 cm"), ("{} measuring 15 mm", "{} of 1.5 cm")),
    ],
    "lesion type": [
        (("cystic {}",), ("solid {}",)),
        (("calcified {}",), ("non-calcified {}", "noncalcified {}")),
    ],
    "malignancy": [
        (("benign {}", "non-malignant {}"), ("malignant {}", "cancerous {}")),
    ],
}


def _semantic(t: Term, syns: list[str]) -> Iterator[dict[str, Any]]:
    name = _text(t.name)
    key = t.id
    frames, negations, hedges = _wording(split_of(key))
    for i, s in enumerate(syns[:3]):
        frame = _pick(f"{key}:{i}", ("{}", *frames))
        yield {"reference": name, "answer": frame.format(_text(s)), "label": 1, "category": "synonym", "id": key}
        neg = _pick(f"{key}:neg:{i}", negations)
        yield {
            "reference": "no " + name,
            "answer": neg.format(_text(s)),
            "label": 1,
            "category": "negated synonym",
            "id": key,
        }
    other = _text(syns[0]) if syns else name
    yield {
        "reference": name,
        "answer": _pick(key + ":n", negations).format(other),
        "label": 0,
        "category": "negation",
        "id": key,
    }
    yield {
        "reference": name,
        "answer": _pick(key + ":h", hedges).format(other),
        "label": 0,
        "category": "uncertainty",
        "id": key,
    }
    dims = sorted(_DIMENSIONS)
    for k in range(3):  # three dimensions per term
        dim = dims[(_rank(key) + 4 * k) % len(dims)]
        pairs = _DIMENSIONS[dim]
        forms_a, forms_b = _pick(f"{key}:{dim}", pairs)
        if _rank(key + dim) % 2:
            forms_a, forms_b = forms_b, forms_a
        ref = forms_a[0].format(name)
        same = _pick(f"{key}:{dim}:s", forms_a[1:] or forms_a).format(other)
        diff = _pick(f"{key}:{dim}:d", forms_b).format(other)
        yield {"reference": ref, "answer": same, "label": 1, "category": f"same {dim}", "id": key}
        yield {"reference": ref, "answer": diff, "label": 0, "category": dim, "id": key}


def _siblings(parent: str, eligible: dict[str, Term], owners: dict[str, set[str]]) -> list[tuple[Term, Term]]:
    anc = ancestors()
    kids = [eligible[c] for c in children().get(parent, []) if c in eligible]
    out = []
    for i, a in enumerate(kids):
        for b in kids[i + 1 :]:
            if a.id in anc[b.id] or b.id in anc[a.id]:
                continue
            na = {s.lower() for s in [a.name, *(s for s, _ in a.synonyms)]}
            nb = {s.lower() for s in [b.name, *(s for s, _ in b.synonyms)]}
            if na & nb:
                continue
            out.append((a, b))
    out.sort(key=lambda p: _rank(p[0].id + p[1].id))
    return out


def _answer_cases(t: Term, syns: list[str], sibs: list[Term], owners: dict[str, set[str]]) -> Iterator[dict[str, Any]]:
    key = t.id
    name = _text(t.name)
    s = _text(syns[0]) if syns else None
    frames, negations, _ = _wording(split_of(key))
    tag = "<answer>{}</answer>"
    # open
    if s is not None:
        yield {"kind": "open", "reference": name, "answer": s, "full": True, "category": "open synonym"}
        yield {
            "kind": "open",
            "reference": name,
            "answer": _pick(key + ":f", frames).format(s),
            "full": True,
            "category": "open synonym in a sentence",
        }
    yield {
        "kind": "open",
        "reference": name,
        "answer": _pick(key + ":on", negations).format(s or name),
        "full": False,
        "category": "open negation",
    }
    dim = sorted(_DIMENSIONS)[_rank(key + "open") % len(_DIMENSIONS)]
    fa, fb = _pick(key + ":od", _DIMENSIONS[dim])
    yield {
        "kind": "open",
        "reference": fa[0].format(name),
        "answer": fb[0].format(s or name),
        "full": False,
        "category": f"open {dim}",
    }
    if sibs:
        sib = sibs[0]
        ssyn = _synonyms(sib, owners)
        yield {
            "kind": "open",
            "reference": name,
            "answer": _text(_pick(key + ":ss", [sib.name, *ssyn])),
            "full": False,
            "category": "open sibling",
        }
    # mcq
    if len(sibs) >= 2 and s is not None:
        opts = [t, *sibs[:3]]
        opts.sort(key=lambda o: _rank(key + o.id))
        letters = "ABCD"[: len(opts)]
        options = {letters[i]: o.name for i, o in enumerate(opts)}
        right = letters[opts.index(t)]
        wrong_i = next(i for i, o in enumerate(opts) if o is not t)
        base = {"kind": "mcq", "reference": right, "options": options}
        yield {**base, "answer": s, "full": True, "category": "mcq option by synonym"}
        yield {**base, "answer": f"The answer is {s}.", "full": True, "category": "mcq synonym in a sentence"}
        wsyn = _synonyms(opts[wrong_i], owners)
        yield {
            **base,
            "answer": _text(wsyn[0]) if wsyn else opts[wrong_i].name,
            "full": False,
            "category": "mcq another option",
        }
        yield {
            **base,
            "answer": f"{right} or {letters[wrong_i]}",
            "full": False,
            "category": "mcq two options",
        }
        yield {**base, "answer": f"not {name}", "full": False, "category": "mcq denied option"}
    # closed
    other = _text(sibs[0].name) if sibs else "pleural effusion"
    yield {
        "kind": "closed",
        "reference": "yes",
        "answer": f"Yes, there is {name}; no {other}.",
        "full": True,
        "category": "closed yes with a second finding denied",
    }
    yield {
        "kind": "closed",
        "reference": "no",
        "answer": f"No {name} is seen. There is no {other} either.",
        "full": True,
        "category": "closed no",
    }
    yield {
        "kind": "closed",
        "reference": "yes",
        "answer": f"There is no {s or name}.",
        "full": False,
        "category": "closed wrong verdict",
    }
    del tag


_SCALES: list[tuple[list[str], list[list[str]]]] = [
    # grades, and per grade the ways an answer writes it
    (
        ["none", "mild", "moderate", "severe"],
        [["none", "absent"], ["mild {}", "mildly"], ["moderate {}", "moderately"], ["severe {}", "severely"]],
    ),
    (
        ["grade 1", "grade 2", "grade 3", "grade 4"],
        [
            ["grade one", "grade I", "1"],
            ["grade two", "grade II", "2"],
            ["grade three", "grade III", "3"],
            ["grade four", "grade IV", "4"],
        ],
    ),
    (
        ["stage I", "stage II", "stage III", "stage IV"],
        [
            ["stage 1", "stage one", "I"],
            ["stage 2", "stage two", "II"],
            ["stage 3", "stage three", "III"],
            ["stage 4", "stage four", "IV"],
        ],
    ),
]


def _ordinal_cases(t: Term) -> Iterator[dict[str, Any]]:
    key = t.id
    name = _text(t.name)
    grades, forms = _pick(key + ":scale", _SCALES)
    g = 1 + _rank(key + ":g") % (len(grades) - 1)
    base = {"kind": "ordinal", "reference": grades[g], "grades": grades}
    form = _pick(key + ":form", forms[g])
    yield {
        **base,
        "answer": form.format(name) if "{}" in form else form,
        "full": True,
        "category": "ordinal written out",
    }
    yield {
        **base,
        "answer": f"{forms[g][0].format(name)} {name}".replace(f"{name} {name}", name),
        "full": True,
        "category": "ordinal grade with finding",
    }
    lo, hi = (g - 1, g) if g > 0 else (g, g + 1)
    yield {
        **base,
        "answer": f"{grades[lo]} to {grades[hi]}" if _rank(key) % 2 else f"{grades[lo]} or {grades[hi]}",
        "full": False,
        "category": "ordinal two grades",
    }
    other = (g + 1) % len(grades)
    yield {
        **base,
        "answer": _pick(key + ":of", forms[other]).format(name),
        "full": False,
        "category": "ordinal another grade",
    }


def _numeric_cases(key: str) -> Iterator[dict[str, Any]]:
    mm = 3 + _rank(key + ":mm") % 60  # 3-62 mm
    ref = f"{mm} mm"
    base = {"kind": "numeric", "reference": ref}
    cm = f"{mm / 10:g}"
    yield {**base, "answer": f"{cm} cm", "full": True, "category": "numeric in cm"}
    yield {**base, "answer": f"it measures about {cm} cm", "full": True, "category": "numeric in a sentence"}
    yield {**base, "answer": f"{mm / 1000:g} m", "full": True, "category": "numeric in m"}
    yield {**base, "answer": f"{mm} mL", "full": False, "category": "numeric volume for a length"}
    yield {**base, "answer": f"{mm} mm2", "full": False, "category": "numeric area for a length"}
    yield {**base, "answer": f"{mm} cm", "full": False, "category": "numeric wrong unit"}
    yield {**base, "answer": f"{mm * 2} mm", "full": False, "category": "numeric another value"}


def _term_words() -> set[str]:
    """Every word of every HPO name and synonym (lower case): a misspelling must be none of them."""
    words: set[str] = set()
    for t in terms().values():
        for phrase in (t.name, *(s for s, _ in t.synonyms)):
            words.update(re.findall(r"[a-z]+", phrase.lower()))
    return words


def _misspelt(word: str, key: str, words: set[str]) -> str | None:
    """One seeded random typing error in ``word``: a letter deleted, two neighbours swapped, a
    letter replaced or one inserted (Damerau's four), anywhere in the word; never a real word."""
    rng = random.Random(key)
    letters = "abcdefghijklmnopqrstuvwxyz"
    for _ in range(20):
        i = rng.randrange(len(word))
        op = rng.choice("dtri")
        if op == "d":
            cand = word[:i] + word[i + 1 :]
        elif op == "t" and i < len(word) - 1:
            cand = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        elif op == "r":
            cand = word[:i] + rng.choice(letters) + word[i + 1 :]
        else:
            cand = word[:i] + rng.choice(letters) + word[i:]
        if cand != word and cand not in words:
            return cand
    return None


def _misspellings(t: Term, words: set[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(kind, case) pairs: the term with its longest word (8 letters or more) misspelt."""
    name = _text(t.name)
    longest = max(re.findall(r"[A-Za-z]+", name), key=len, default="")
    if len(longest) < 8 or longest.lower() != longest:
        return
    typo = _misspelt(longest, "typo:" + t.id, words)
    if typo is None:
        return
    wrong = name.replace(longest, typo, 1)
    frames, negations, _ = _wording(split_of(t.id))
    said = _pick(t.id + ":tf", ("{}", *frames)).format(wrong)
    denied = _pick(t.id + ":tn", negations).format(wrong)
    yield "semantic", {"reference": name, "answer": said, "label": 1, "category": "misspelling", "id": t.id}
    yield "semantic", {"reference": name, "answer": denied, "label": 0, "category": "misspelling denied", "id": t.id}
    yield "answer", {"kind": "open", "reference": name, "answer": said, "full": True, "category": "open misspelling"}
    yield (
        "answer",
        {
            "kind": "open",
            "reference": name,
            "answer": denied,
            "full": False,
            "category": "open misspelling denied",
        },
    )


def _lay_cases() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(key, kind, case): lay terms against their clinical names (and against another finding),
    normal findings said two ways, and device positions; the key (the wording) splits them."""
    for i, (lay, clinical) in enumerate(LAY_TERMS):
        key = "lay:" + lay
        split = split_of(key)
        frames, negations, _ = _wording(split)
        said = _pick(key + ":f", ("{}", *frames)).format(lay)
        other = next(c for _, c in LAY_TERMS[i + 1 :] + LAY_TERMS[:i] if c != clinical)
        yield key, "semantic", {"reference": clinical, "answer": said, "label": 1, "category": "lay term"}
        yield (
            key,
            "semantic",
            {"reference": other, "answer": said, "label": 0, "category": "lay term, other finding"},
        )
        yield (
            key,
            "answer",
            {"kind": "open", "reference": clinical, "answer": said, "full": True, "category": "open lay term"},
        )
        yield (
            key,
            "answer",
            {
                "kind": "open",
                "reference": clinical,
                "answer": _pick(key + ":n", negations).format(lay),
                "full": False,
                "category": "open lay term denied",
            },
        )
        yield (
            key,
            "answer",
            {
                "kind": "open",
                "reference": other,
                "answer": said,
                "full": False,
                "category": "open lay term, other finding",
            },
        )
    for pairs, label in ((NORMAL_PAIRS, 1), (NORMAL_NON_PAIRS, 0)):
        category = "normal statement" if label else "normal statement, not equivalent"
        for absent, stated in pairs:
            key = f"normal:{absent}|{stated}"
            yield (
                key,
                "semantic",
                {"reference": absent, "answer": stated, "label": label, "category": category},
            )
            yield (
                key,
                "answer",
                {
                    "kind": "open",
                    "reference": absent,
                    "answer": stated,
                    "full": bool(label),
                    "category": "open " + category,
                },
            )
    for device in DEVICES:
        key = "device:" + device
        for i, good in enumerate(GOOD_POSITION):
            ref = good.format(device)
            same = GOOD_POSITION[(i + 1) % len(GOOD_POSITION)].format(device)
            for bad in BAD_POSITION:
                wrong = bad.format(device)
                yield (
                    key,
                    "semantic",
                    {"reference": ref, "answer": wrong, "label": 0, "category": "device malposition"},
                )
                yield (
                    key,
                    "answer",
                    {
                        "kind": "open",
                        "reference": ref,
                        "answer": wrong,
                        "full": False,
                        "category": "open device malposition",
                    },
                )
            yield (
                key,
                "semantic",
                {"reference": ref, "answer": same, "label": 1, "category": "device in position"},
            )
            yield (
                key,
                "answer",
                {
                    "kind": "open",
                    "reference": ref,
                    "answer": same,
                    "full": True,
                    "category": "open device in position",
                },
            )


def build() -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Both splits' semantic pairs and answer cases."""
    owners = _synonym_owners()
    words = _term_words()
    cands = _candidates()
    eligible = {t.id: t for t in cands}
    out: dict[str, dict[str, list[dict[str, Any]]]] = {s: {"semantic": [], "answer": []} for s in SPLITS}
    # sibling negatives (semantic), keyed by the parent
    parents = sorted({p for t in cands for p in t.parents if p in eligible or p in terms()})
    sib_of: dict[str, list[Term]] = {}
    for p in parents:
        pairs = _siblings(p, eligible, owners)
        for a, b in pairs[:3]:
            sa, sb = _synonyms(a, owners), _synonyms(b, owners)
            answer = _text(_pick(a.id + b.id, [b.name, *sb]))
            out[split_of(p)]["semantic"].append(
                {"reference": _text(a.name), "answer": answer, "label": 0, "category": "sibling", "id": p}
            )
            del sa
        for a, b in pairs:
            sib_of.setdefault(a.id, []).append(b)
            sib_of.setdefault(b.id, []).append(a)
    for t in sorted(cands, key=lambda t: t.id):
        syns = _synonyms(t, owners)
        split = split_of(t.id)
        if syns or _rank(t.id) % 8 == 0:  # every term with a synonym, and a sample of the others
            out[split]["semantic"].extend(_semantic(t, syns))
        sibs = [s for s in sib_of.get(t.id, []) if split_of(s.id) == split or True]
        if syns or _rank(t.id) % 8 == 1:
            for case in _answer_cases(t, syns, sibs, owners):
                out[split]["answer"].append({**case, "id": t.id})
            for case in _ordinal_cases(t):
                out[split]["answer"].append({**case, "id": t.id})
            if _rank(t.id) % 4 == 0:
                for case in _numeric_cases(t.id):
                    out[split]["answer"].append({**case, "id": t.id})
        for kind, case in _misspellings(t, words):
            out[split][kind].append({**case, "id": t.id})
    for key, kind, case in _lay_cases():
        out[split_of(key)][kind].append({**case, "id": key})
    for split in SPLITS:
        for kind in ("semantic", "answer"):
            seen: set[str] = set()
            per_category: dict[str, list[dict[str, Any]]] = {}
            for row in out[split][kind]:
                k = json.dumps({x: row[x] for x in row if x not in ("id", "category")}, sort_keys=True)
                if k not in seen:
                    seen.add(k)
                    per_category.setdefault(row["category"], []).append(row)
            rows = []
            for cat in sorted(per_category):
                ranked = sorted(per_category[cat], key=lambda r: _rank(json.dumps(r, sort_keys=True)))
                rows.extend(ranked[:PER_CATEGORY])
            out[split][kind] = rows
    return out


def load(split: str, kind: str) -> list[dict[str, Any]]:
    """One split's cases, generated on first use and cached under ``bench/fidelity/data``."""
    path = DATA / f"{split}_{kind}.jsonl"
    if not path.is_file():
        write()
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write() -> dict[str, int]:
    DATA.mkdir(exist_ok=True)
    counts = {}
    for split, kinds in build().items():
        for kind, rows in kinds.items():
            path = DATA / f"{split}_{kind}.jsonl"
            path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
            counts[f"{split}_{kind}"] = len(rows)
    return counts


if __name__ == "__main__":
    print(write())
