"""The ``format`` reward: is the response laid out as ``<think>…</think><answer>…</answer>``?

Two modes over the same analysis of where the four tags are:

* ``strict``: 1.0 only when the whole completion is exactly one think block followed by one
  answer block (whitespace allowed around and between them), the answer is not empty and,
  with ``answer_schema``, parses as a box list; else 0.0. It fixes two upstream pitfalls:
  open-r1's ``re.MULTILINE`` ``$`` that lets text after ``</answer>`` pass, and TRL's
  ``think_format_reward`` that gives 0 to every completion whose chat template already put
  ``<think>`` in the prompt (trl#6966; our ``prefix`` param).
* ``lenient``: partial credit, one equal share per tag that occurs exactly once and after the
  tags before it (open-r1's ``tag_count_reward``: 0.25 per tag for the four default tags),
  plus one share for a valid answer schema when one is asked for.
* ``think``: the think block alone, as TRL's ``think_format_reward``
  (``^<think>(?!.*<think>)(.*?)</think>.*$``): 1.0 when the completion opens with the think tag,
  holds no second one, and closes it; anything may follow (no answer block is asked for). The
  ``prefix`` param applies as in the other modes.

In both modes ``details["rule"]`` names the first rule the completion breaks ("ok" if none),
so a trainer can log why a completion lost its format reward. Scanning is ``str.count`` and
``str.find`` only: linear in the completion, ≥100k items/s on one core.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, model_validator

from scorers.registry import Params, register
from scorers.types import Item, Score

# A single-character class searched between two offsets: bounded, no backtracking, no slicing.
_NON_SPACE = re.compile(r"\S")
# A box-list answer longer than this is not a box list a VLM writes (≈ 1,000 boxes); refusing
# it keeps json.loads off pathological inputs.
_MAX_SCHEMA_CHARS = 50_000
_MAX_TAG_CHARS = 64


class FormatParams(Params):
    """Params of the ``format`` reward."""

    mode: Literal["strict", "lenient", "think"] = Field(
        default="strict",
        description="strict: 1.0 only for exactly one think block then one answer block and nothing else; "
        "lenient: an equal share per tag present exactly once and in order (open-r1 tag_count); "
        "think: the think block alone, as TRL's think_format_reward (it opens the completion, once, and closes).",
    )
    think_tags: tuple[str, str] = Field(default=("<think>", "</think>"), description="Opening and closing think tag.")
    answer_tags: tuple[str, str] = Field(
        default=("<answer>", "</answer>"), description="Opening and closing answer tag."
    )
    prefix: bool = Field(
        default=False,
        description="The chat template already opened the think tag in the prompt, so the completion "
        "starts inside the reasoning (trl#6966). The completion is judged as if prefixed with it.",
    )
    require_think: bool = Field(
        default=True,
        description="Whether a think block is required. If false, a bare answer block is well formed "
        "(Med-R1's no-think format); a think block that is present must still be well formed.",
    )
    answer_schema: Literal["boxes"] | None = Field(
        default=None,
        description='"boxes": the answer must be a JSON box list: [x1,y1,x2,y2], a list of such lists, '
        'or {"bbox_2d": [x1,y1,x2,y2]} objects (alone or in a list), optionally in a ```json fence.',
    )

    @model_validator(mode="after")
    def _distinct_tags(self) -> FormatParams:
        tags = [*self.think_tags, *self.answer_tags]
        for tag in tags:
            if not tag.strip() or len(tag) > _MAX_TAG_CHARS:
                raise ValueError(f"tags must be non-blank and at most {_MAX_TAG_CHARS} characters: {tag!r}")
        for i, a in enumerate(tags):
            for j, b in enumerate(tags):
                # A tag inside another would be counted twice by str.count.
                if i != j and a in b:
                    raise ValueError(f"tag {a!r} occurs inside tag {b!r}; tags must be distinct")
        return self


def _has_text(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` holds anything but whitespace (without copying it)."""
    return start < end and _NON_SPACE.search(text, start, end) is not None


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _is_box(v: object) -> bool:
    return isinstance(v, list) and len(v) == 4 and all(_is_number(x) for x in v)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a coordinate")


def boxes_schema_error(answer: str) -> str | None:
    """Why ``answer`` is not a JSON box list, or None if it is one.

    Accepted: ``[x1, y1, x2, y2]``, a list of such lists, ``{"bbox_2d": [...]}`` alone or in a
    list (Qwen2.5-VL's grounding output), each with four finite numbers (ints or floats,
    unlike VLM-R1's REC regex that demands integers inside braces), optionally in a
    ```` ```json ```` fence. Geometry (x2 < x1, image bounds) is the ``iou`` reward's business.

    >>> boxes_schema_error('[{"bbox_2d": [10, 20.5, 30, 40]}]') is None
    True
    >>> boxes_schema_error("[1, 2, 3]")
    'a box needs four finite numbers'
    """
    s = answer.strip()
    if s.startswith("```"):
        newline = s.find("\n")
        s = s[newline + 1 :] if newline >= 0 else ""
        s = s[:-3] if s.endswith("```") else s
        s = s.strip()
    if not s or s[0] not in "[{":
        return "not a JSON list or object"
    if len(s) > _MAX_SCHEMA_CHARS:
        return f"longer than {_MAX_SCHEMA_CHARS} characters"
    try:
        value = json.loads(s, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return "not valid JSON"
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value:
        return "not a non-empty list"
    if _is_box(value):
        return None
    for entry in value:
        box = entry.get("bbox_2d") if isinstance(entry, dict) else entry
        if not _is_box(box):
            return "a box needs four finite numbers"
    return None


def _once_rule(text: str, tag: str, close: str, first: int, count: int, what: str) -> str | None:
    """The rule broken by a tag that occurs ``count`` times (first at ``first``), or None if once."""
    if count == 1:
        return None
    if count == 0:
        return f"missing_{what}_close" if tag == close else f"missing_{what}_open"
    if tag == close:
        return f"duplicate_{what}_tag"
    # A second opening tag before the first closing one is nesting, not a second block.
    second = text.find(tag, first + len(tag))
    end = text.find(close, first + len(tag))
    return f"nested_{what}" if end < 0 or second < end else f"duplicate_{what}_tag"


def analyse(text: str, p: FormatParams, *, single_marker: bool | None = None) -> tuple[str, int, int, int]:
    """The first format rule ``text`` breaks ("ok" if none), the lenient credit and its total.

    Returns ``(rule, credited, checks, answer_chars)``: ``credited`` of ``checks`` equal shares
    earned in lenient mode, and the length of the stripped answer (-1 without an answer block).
    ``text`` already carries the think prefix when ``p.prefix`` is set. ``single_marker`` is
    `_single_marker(p)`, passed in by a caller that scores a batch under the same params.

    >>> analyse("<think>a</think><answer>b</answer> more", FormatParams())
    ('trailing_text', 4, 4, 1)
    """
    to, tc = p.think_tags
    ao, ac = p.answer_tags
    checks = 4
    fast = False
    marker = to[0]
    if single_marker is None:
        single_marker = _single_marker(p)
    if single_marker and text.count(marker) == 4:
        # The common case in five C calls: four tags found in order, disjoint, each holding one
        # of the text's four markers (and starting with it), so no tag can occur a second time.
        p_to = text.find(to)
        p_tc = text.find(tc, p_to + len(to)) if p_to >= 0 else -1
        p_ao = text.find(ao, p_tc + len(tc)) if p_tc >= 0 else -1
        p_ac = text.find(ac, p_ao + len(ao)) if p_ao >= 0 else -1
        fast = p_ac >= 0
    if fast:
        n_to = n_tc = n_ao = n_ac = 1
        credited = 4
        rule = _spacing_rule(text, p_to, p_tc + len(tc), p_ao, p_ac + len(ac))
    else:
        n_to, n_tc, n_ao, n_ac = text.count(to), text.count(tc), text.count(ao), text.count(ac)
        p_to, p_tc, p_ao, p_ac = text.find(to), text.find(tc), text.find(ao), text.find(ac)
        with_think = p.require_think or n_to > 0 or n_tc > 0
        # Lenient credit: each tag once, and after every earlier tag that was credited.
        seq = ((n_to, p_to), (n_tc, p_tc), (n_ao, p_ao), (n_ac, p_ac)) if with_think else ((n_ao, p_ao), (n_ac, p_ac))
        checks = len(seq)
        credited = 0
        last = -1
        for n, pos in seq:
            if n == 1 and pos > last:
                credited += 1
                last = pos
        rule = _strict_rule(text, p, with_think, (n_to, n_tc, n_ao, n_ac), (p_to, p_tc, p_ao, p_ac))

    answer_ok = n_ao == 1 and n_ac == 1 and p_ao < p_ac
    answer = text[p_ao + len(ao) : p_ac] if answer_ok else ""
    answer_chars = len(answer.strip()) if answer_ok else -1
    schema_error: str | None = None
    if p.answer_schema == "boxes":
        checks += 1
        schema_error = boxes_schema_error(answer) if answer_ok else "no answer block"
        if schema_error is None:
            credited += 1
    if rule == "ok" and answer_chars == 0:
        rule = "empty_answer"
    if rule == "ok" and schema_error is not None:
        rule = "schema_invalid"
    return rule, credited, checks, answer_chars


def _single_marker(p: FormatParams) -> bool:
    """Whether all four tags start with the same character and hold it once (``<…>`` tags)."""
    tags = (*p.think_tags, *p.answer_tags)
    m = tags[0][0]
    return all(t[0] == m and t.count(m) == 1 for t in tags)


def _spacing_rule(text: str, first: int, think_end: int, answer_open: int, answer_end: int) -> str:
    """With the tags in place: only whitespace may lie before, between and after the blocks."""
    # Inline checks for the usual empty gaps; the regex only runs on a non-empty one.
    if first > 0 and _NON_SPACE.search(text, 0, first):
        return "leading_text"
    if 0 <= think_end < answer_open and _NON_SPACE.search(text, think_end, answer_open):
        return "text_between_blocks"
    if answer_end < len(text) and _NON_SPACE.search(text, answer_end):
        return "trailing_text"
    return "ok"


def _strict_rule(
    text: str, p: FormatParams, with_think: bool, counts: tuple[int, int, int, int], pos: tuple[int, int, int, int]
) -> str:
    to, tc = p.think_tags
    ao, ac = p.answer_tags
    n_to, n_tc, n_ao, n_ac = counts
    p_to, p_tc, p_ao, p_ac = pos
    if with_think:
        broken = _once_rule(text, to, tc, p_to, n_to, "think") or _once_rule(text, tc, tc, p_tc, n_tc, "think")
        if broken:
            return broken
    broken = _once_rule(text, ao, ac, p_ao, n_ao, "answer") or _once_rule(text, ac, ac, p_ac, n_ac, "answer")
    if broken:
        return broken
    if with_think:
        if p_tc < p_to:
            return "tag_order"
        if p_to < p_ao < p_tc:
            return "answer_inside_think"
        if p_ao < p_to:
            return "tag_order"
    if p_ac < p_ao:
        return "tag_order"
    if with_think:
        return _spacing_rule(text, p_to, p_tc + len(tc), p_ao, p_ac + len(ac))
    return _spacing_rule(text, p_ao, -1, p_ao, p_ac + len(ac))


def think_rule(text: str, open_tag: str, close_tag: str) -> str:
    """The first rule of TRL's ``think_format_reward`` that ``text`` breaks, or "ok".

    >>> tags = ("<think>", "</think>")
    >>> think_rule("<think>a</think>anything", *tags), think_rule("x<think>a</think>", *tags)
    ('ok', 'leading_text')
    """
    if not text.startswith(open_tag):
        return "leading_text" if open_tag in text else "missing_think_open"
    if text.find(open_tag, len(open_tag)) >= 0:
        return "duplicate_think_tag"
    if text.find(close_tag, len(open_tag)) < 0:
        return "missing_think_close"
    return "ok"


def _think_only(text: str, tags: tuple[str, str]) -> Score:
    rule = think_rule(text, tags[0], tags[1])
    return Score(1.0 if rule == "ok" else 0.0, "ok", {"rule": rule})


@register(
    "format",
    params=FormatParams,
    range=(0.0, 1.0),
    description="Response structure: one think block then one answer block (tags configurable); strict "
    "(all or nothing), lenient (0.25 per tag as open-r1's tag_count) or think (the think block alone, as TRL's "
    "think_format_reward); optional JSON box-list answer schema.",
    citation="open-r1 format/tag_count rewards (huggingface/open-r1, src/open_r1/rewards.py); "
    "TRL think_format_reward (huggingface/trl, trl/rewards) and trl#6966; VLM-R1 REC format (om-ai-lab/VLM-R1).",
    examples=[
        {"completion": "<think>Opacity in the left lower lobe.</think>\n<answer>pneumonia</answer>"},
        {"completion": "<think>hmm</think><answer>yes</answer> trailing words"},
        {"completion": "<think>a</think><think>b</think><answer>no</answer>"},
        {"completion": "just an answer"},
    ],
)
def format_reward(items: Sequence[Item], params: FormatParams) -> list[Score]:
    """Score the think/answer structure of each completion; range [0, 1].

    >>> p = FormatParams()
    >>> [s.reward for s in format_reward([Item(completion="<think>a</think> <answer>b</answer>")], p)]
    [1.0]
    >>> s = format_reward([Item(completion="<think>a</think><answer>b</answer>!")], p)[0]
    >>> (s.reward, s.details["rule"])
    (0.0, 'trailing_text')
    >>> lenient = FormatParams(mode="lenient")
    >>> [s.reward for s in format_reward([Item(completion="<think>a</think> b")], lenient)]
    [0.5]
    """
    strict = params.mode == "strict"
    opener = params.think_tags[0] if params.prefix else ""
    if params.mode == "think":
        return [_think_only(opener + item.completion, params.think_tags) for item in items]
    marker = _single_marker(params)
    out: list[Score] = []
    for item in items:
        rule, credited, checks, answer_chars = analyse(opener + item.completion, params, single_marker=marker)
        reward = (1.0 if rule == "ok" else 0.0) if strict else credited / checks
        details = {"rule": rule, "credited": credited, "checks": checks, "answer_chars": answer_chars}
        out.append(Score(reward, "ok", details))
    return out
