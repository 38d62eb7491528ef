"""The registered ``semantic`` reward: does the answer mean what the reference means?

Backends (param ``backend``):

- ``embedding`` (default): clinical checks, then calibrated all-MiniLM-L6-v2 cosine
  (`scorers.semantic.combine`). The model is loaded on first use (or at service start-up by
  `load_default_embedder`); reference embeddings are cached, repeated completions embedded once.
- ``judge``: a binary verdict from an OpenAI-compatible chat endpoint (`scorers.semantic.judge`),
  as in Zhu et al.; an item the judge cannot answer for abstains, it never scores 0.
- ``lexical``: the same clinical checks with rapidfuzz similarity instead of the model: cheap,
  no model, weaker on paraphrases.

A list of references scores the best one. An item without a reference or an answer abstains.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import Field

from scorers.registry import Params, register
from scorers.semantic.combine import (
    Agreement,
    decide,
    embedding_text,
    from_cosine,
    lexical_agreement,
    reference_texts,
)
from scorers.semantic.embedder import EmbedderUnavailableError
from scorers.semantic.judge import (
    JudgeConfig,
    Verdict,
    client_for,
    default_api_key,
    default_judge_model,
    default_judge_url,
)
from scorers.semantic.loader import load_default_embedder
from scorers.spans import extract_answer
from scorers.types import Item, Score

Backend = Literal["embedding", "judge", "lexical"]


class SemanticParams(Params):
    """Params of the ``semantic`` reward."""

    backend: Backend = Field(default="embedding", description="embedding (default), judge or lexical.")
    threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="If set, the reward is binary: 1 when the score reaches it, else 0 (0.5 is the calibrated "
        "operating point). The judge backend is binary already.",
    )
    answer_fallback: bool = Field(
        default=True,
        description="Without an <answer> span, read 'the answer is X' near the end, else the last line.",
    )
    judge_url: str | None = Field(
        default=None, description="OpenAI-compatible base URL of the judge; default $MEDREWARD_JUDGE_URL."
    )
    judge_model: str | None = Field(
        default=None, description="Model name sent to the judge; default $MEDREWARD_JUDGE_MODEL."
    )
    judge_timeout_s: float = Field(default=30.0, gt=0.0, le=600.0, description="Per-request timeout of the judge.")
    judge_retries: int = Field(default=2, ge=0, le=10, description="Retries on transport errors, 408, 429 and 5xx.")
    judge_concurrency: int = Field(default=8, ge=1, le=256, description="Judge requests in flight at most.")
    max_chars: int = Field(
        default=1000,
        ge=1,
        le=10_000,
        description="Answers longer than this score 0 (rule answer_too_long), as in the answer reward: a short "
        "VQA answer that runs to a page is wrong, and embedding it would cost the whole batch.",
    )


def _references(item: Item) -> list[str]:
    refs = item.reference if isinstance(item.reference, list) else [item.reference or ""]
    return [r.strip() for r in refs if r and r.strip()]


def _answer(item: Item, fallback: bool) -> str | None:
    answer, _ = extract_answer(item.completion, fallback=fallback)
    return answer if answer else None


def _finish(agreements: list[Agreement], refs: list[str], answer: str, threshold: float | None) -> Score:
    best = max(range(len(agreements)), key=lambda i: agreements[i].score)
    ag = agreements[best]
    reward = ag.score if threshold is None else float(ag.score >= threshold)
    details: dict[str, object] = {"answer": answer[:200], "reference": refs[best][:200], "rule": ag.rule}
    details["score"] = round(ag.score, 6)
    if ag.conflict is not None:
        details["conflict"] = ag.conflict
    if ag.similarity is not None:
        details["similarity"] = ag.similarity
    return Score.ok(reward, **details)


def _embedding_scores(pairs: list[tuple[int, str, list[str]]], threshold: float | None) -> dict[int, Score]:
    """Score (item index, answer, references) with the clinical checks and the embedding model."""
    decided: dict[int, list[Agreement | None]] = {}
    open_answers: dict[int, str] = {}
    open_refs: dict[tuple[int, int, int], str] = {}
    for idx, answer, refs in pairs:
        row: list[Agreement | None] = []
        for j, ref in enumerate(refs):
            a, r, ag = decide(answer, ref)
            row.append(ag)
            if ag is None:
                open_answers[idx] = embedding_text(a)
                for k, text in enumerate(reference_texts(r)):
                    open_refs[(idx, j, k)] = text
        decided[idx] = row
    unavailable: str | None = None
    if open_refs:
        try:
            embedder = load_default_embedder()
        except EmbedderUnavailableError as exc:
            # Pairs the clinical checks settled still score; the others say what to install.
            unavailable = f"embedding model unavailable: {exc}"
            open_refs = {}
    if open_refs:
        ans_keys = list(open_answers)
        ref_keys = list(open_refs)
        ans_vecs = embedder.embed([open_answers[k] for k in ans_keys])
        # References are shared by a group's G completions and come back every epoch: cache them.
        ref_vecs = embedder.embed([open_refs[k] for k in ref_keys], remember=True)
        row_of = {k: i for i, k in enumerate(ans_keys)}
        cosines = np.einsum("ij,ij->i", ans_vecs[[row_of[k[0]] for k in ref_keys]], ref_vecs)
        best: dict[tuple[int, int], float] = {}
        for (idx, j, _), cos in zip(ref_keys, cosines, strict=True):
            best[(idx, j)] = max(best.get((idx, j), -1.0), float(cos))
        for (idx, j), cos in best.items():
            decided[idx][j] = from_cosine(cos)
    out: dict[int, Score] = {}
    for idx, answer, refs in pairs:
        if unavailable is not None and any(ag is None for ag in decided[idx]):
            out[idx] = Score.error(unavailable, answer=answer[:200])
        else:
            out[idx] = _finish([ag for ag in decided[idx] if ag is not None], refs, answer, threshold)
    return out


def _judge_scores(pairs: list[tuple[int, str, list[str]]], params: SemanticParams) -> dict[int, Score]:
    url = params.judge_url or default_judge_url()
    if not url:
        reason = "judge backend needs judge_url or $MEDREWARD_JUDGE_URL"
        return {idx: Score.unscorable(reason) for idx, _, _ in pairs}
    config = JudgeConfig(
        url=url,
        model=params.judge_model or default_judge_model(),
        timeout_s=params.judge_timeout_s,
        retries=params.judge_retries,
        concurrency=params.judge_concurrency,
        api_key=default_api_key(),
    )
    flat = [(idx, answer, ref) for idx, answer, refs in pairs for ref in refs]
    verdicts = client_for(config).judge_many([(answer, ref) for _, answer, ref in flat])
    by_item: dict[int, list[tuple[str, Verdict]]] = {}
    for (idx, _, ref), v in zip(flat, verdicts, strict=True):
        by_item.setdefault(idx, []).append((ref, v))
    out: dict[int, Score] = {}
    for idx, answer, _ in pairs:
        rows = by_item[idx]
        yes = [ref for ref, v in rows if v.aligned]
        if yes:
            out[idx] = Score.ok(1.0, answer=answer[:200], reference=yes[0][:200], rule="judge", verdict="yes")
        elif all(v.aligned is False for _, v in rows):
            out[idx] = Score.ok(0.0, answer=answer[:200], reference=rows[0][0][:200], rule="judge", verdict="no")
        else:
            failed = next(v for _, v in rows if v.aligned is None)
            out[idx] = Score.unscorable(failed.reason, answer=answer[:200], judge_reply=failed.reply)
    return out


@register(
    "semantic",
    params=SemanticParams,
    range=(0.0, 1.0),
    description=(
        "Meaning agreement of the answer with the reference: negation, uncertainty, laterality, polarity and "
        "organ/sequence/modality conflicts score 0, normalised synonyms 1, otherwise calibrated all-MiniLM-L6-v2 "
        "cosine (backend=embedding), an OpenAI-compatible LLM judge's binary verdict (backend=judge) or rapidfuzz "
        "similarity (backend=lexical). `threshold` makes it binary."
    ),
    citation="Zhu et al., arXiv 2505.13973 (binary LLM-judge semantic reward); ARMed, arXiv 2508.12957 "
    "(calibrated semantic rewards); all-MiniLM-L6-v2 (Reimers & Gurevych, Sentence-BERT)",
    examples=(
        {"completion": "<think>heart is big</think><answer>enlarged heart</answer>", "reference": "cardiomegaly"},
        {"completion": "<answer>no pneumothorax</answer>", "reference": "pneumothorax"},
        {"completion": "<answer>fluid collecting around the left lung</answer>", "reference": "left pleural effusion"},
        {"completion": "<answer>right pleural effusion</answer>", "reference": ["left pleural effusion", "effusion"]},
    ),
)
def semantic_reward(items: Sequence[Item], params: SemanticParams) -> list[Score]:
    """Semantic agreement of each item's answer with its reference(s); range [0, 1].

    >>> from scorers.types import Item
    >>> items = [Item(completion="<answer>no pneumonia</answer>", reference="pneumonia")]
    >>> s = semantic_reward(items, SemanticParams())[0]
    >>> s.reward, s.details["rule"], s.details["conflict"]
    (0.0, 'conflict', 'negation')
    """
    out: list[Score | None] = [None] * len(items)
    pairs: list[tuple[int, str, list[str]]] = []
    for i, item in enumerate(items):
        refs = _references(item)
        if not refs:
            out[i] = Score.unscorable("item has no reference")
            continue
        answer = _answer(item, params.answer_fallback)
        # A completion without a usable answer is judged (wrong), not abstained on: an abstention
        # would give it advantage 0 and leave the policy free to stop answering.
        if answer is None:
            out[i] = Score.ok(0.0, rule="no_answer", answer=None)
            continue
        if len(answer) > params.max_chars:
            out[i] = Score.ok(0.0, rule="answer_too_long", answer=answer[:200], chars=len(answer))
            continue
        pairs.append((i, answer, refs))
    if params.backend == "judge":
        scored = _judge_scores(pairs, params)
    elif params.backend == "lexical":
        scored = {
            idx: _finish([lexical_agreement(answer, ref) for ref in refs], refs, answer, params.threshold)
            for idx, answer, refs in pairs
        }
    else:
        scored = _embedding_scores(pairs, params.threshold)
    for idx, s in scored.items():
        out[idx] = s
    return [s if s is not None else Score.error("not scored") for s in out]
