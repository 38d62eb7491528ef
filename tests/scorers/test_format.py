"""The ``format`` reward, case by case: what a clinician's model may emit and what it earns."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from scorers import score
from scorers.format_reward import FormatParams, analyse, boxes_schema_error
from tests.hang_guard import finishes_without_hanging

BOXES: dict[str, Any] = {"answer_schema": "boxes"}
GOOD = "<think>Opacity in the right lower lobe, no effusion.</think>\n<answer>pneumonia</answer>"

# (completion, params, reward, rule, note)
STRICT_CASES: list[tuple[str, dict[str, Any], float, str, str]] = [
    (GOOD, {}, 1.0, "ok", "one think block then one answer block"),
    ("  \n" + GOOD + "\n\n", {}, 1.0, "ok", "whitespace around the blocks is allowed"),
    ("<think></think><answer>yes</answer>", {}, 1.0, "ok", "an empty think block is still a think block"),
    ("<think>a</think><answer>b</answer> Hope this helps!", {}, 0.0, "trailing_text", "text after </answer>"),
    (
        "<think>a</think>\n<answer>b</answer>\nextra line",
        {},
        0.0,
        "trailing_text",
        "open-r1's MULTILINE $ lets this pass; we do not",
    ),
    ("Sure. <think>a</think><answer>b</answer>", {}, 0.0, "leading_text", "text before <think>"),
    ("<think>a</think> so <answer>b</answer>", {}, 0.0, "text_between_blocks", "text between the blocks"),
    ("<think>a</think><answer>   </answer>", {}, 0.0, "empty_answer", "an answer of whitespace is no answer"),
    ("<think>a</think><answer></answer>", {}, 0.0, "empty_answer", "empty answer block"),
    ("<answer>b</answer>", {}, 0.0, "missing_think_open", "think required by default"),
    ("<think>a<answer>b</answer>", {}, 0.0, "missing_think_close", "think never closed"),
    ("<think>a</think><answer>b", {}, 0.0, "missing_answer_close", "truncated before </answer>"),
    ("<think>a</think>b</answer>", {}, 0.0, "missing_answer_open", "no <answer>"),
    ("", {}, 0.0, "missing_think_open", "empty completion: scored, not an error"),
    ("<think>a<think>b</think></think><answer>c</answer>", {}, 0.0, "nested_think", "think inside think"),
    ("<think>a</think><think>b</think><answer>c</answer>", {}, 0.0, "duplicate_think_tag", "two think blocks"),
    ("<think>a</think><answer>b</answer><answer>c</answer>", {}, 0.0, "duplicate_answer_tag", "two answers"),
    ("<think>a</think><answer>b<answer>c</answer></answer>", {}, 0.0, "nested_answer", "answer inside answer"),
    ("<think>a<answer>b</answer></think>", {}, 0.0, "answer_inside_think", "answer nested in the reasoning"),
    ("<answer>b</answer><think>a</think>", {}, 0.0, "tag_order", "answer before think"),
    ("</think>a<think><answer>b</answer>", {}, 0.0, "tag_order", "think closed before it is opened"),
    # prefix: the chat template put <think> in the prompt (trl#6966).
    ("Left apex is clear.</think><answer>no</answer>", {"prefix": True}, 1.0, "ok", "template-prefilled think"),
    ("Left apex is clear.</think><answer>no</answer>", {}, 0.0, "missing_think_open", "same, prefix not declared"),
    ("<think>x</think><answer>no</answer>", {"prefix": True}, 0.0, "nested_think", "think opened twice"),
    # require_think=False: Med-R1's no-think format.
    ("<answer>effusion</answer>", {"require_think": False}, 1.0, "ok", "bare answer block allowed"),
    (GOOD, {"require_think": False}, 1.0, "ok", "a present think block still counts"),
    ("a</think><answer>b</answer>", {"require_think": False}, 0.0, "missing_think_open", "half a think block"),
    # configurable tags.
    (
        "<reasoning>r</reasoning><final>B</final>",
        {"think_tags": ["<reasoning>", "</reasoning>"], "answer_tags": ["<final>", "</final>"]},
        1.0,
        "ok",
        "custom tag pairs",
    ),
    (GOOD, {"answer_tags": ["<final>", "</final>"]}, 0.0, "missing_answer_open", "default answer tags not accepted"),
    # answer schema: a JSON box list.
    ('<think>a</think><answer>[{"bbox_2d": [12, 30.5, 200, 24]}]</answer>', BOXES, 1.0, "ok", "bbox"),
    ("<think>a</think><answer>[12, 30, 200, 240]</answer>", BOXES, 1.0, "ok", "bare box"),
    ("<think>a</think><answer>[-3.5, 0, 20, 1e2]</answer>", BOXES, 1.0, "ok", "floats/negatives"),
    (
        '<think>a</think><answer>```json\n[{"bbox_2d": [1, 2, 3, 4], "label": "nodule"}]\n```</answer>',
        {"answer_schema": "boxes"},
        1.0,
        "ok",
        "Qwen2.5-VL json fence",
    ),
    ("<think>a</think><answer>[1, 2, 3]</answer>", BOXES, 0.0, "schema_invalid", "3 numbers"),
    ("<think>a</think><answer>the left lung</answer>", BOXES, 0.0, "schema_invalid", "prose"),
    ("<think>a</think><answer>[NaN, 1, 2, 3]</answer>", BOXES, 0.0, "schema_invalid", "NaN"),
    ("<think>a</think><answer>[]</answer>", BOXES, 0.0, "schema_invalid", "no box at all"),
    ("<think>a</think><answer>b</answer>x", BOXES, 0.0, "trailing_text", "layout rule first"),
]


@pytest.mark.parametrize(
    ("completion", "params", "reward", "rule"),
    [c[:4] for c in STRICT_CASES],
    ids=[c[4] or c[0][:40] for c in STRICT_CASES],
)
def test_strict(completion: str, params: dict[str, Any], reward: float, rule: str) -> None:
    (s,) = score("format", [{"completion": completion}], params)
    assert s.status == "ok"
    assert s.reward == reward
    assert s.details["rule"] == rule


LENIENT_CASES: list[tuple[str, dict[str, Any], float, str]] = [
    (GOOD, {}, 1.0, "all four tags once, in order"),
    ("<think>a</think><answer>b</answer> trailing", {}, 1.0, "lenient ignores trailing text (rule still reported)"),
    ("<think>a</think> b", {}, 0.5, "think tags only"),
    ("<answer>b</answer>", {}, 0.5, "answer tags only"),
    ("<think>a</think><answer>b", {}, 0.75, "truncated answer: three tags"),
    ("<think>a<think>b</think><answer>c</answer>", {}, 0.75, "duplicate <think> earns nothing"),
    ("<answer>b</answer><think>a</think>", {}, 0.5, "out of order: the later pair loses"),
    ("no tags at all", {}, 0.0, "nothing"),
    ("a</think><answer>b</answer>", {"prefix": True}, 1.0, "prefilled <think> counts as present"),
    ("<answer>b</answer>", {"require_think": False}, 1.0, "no-think format: two tags, 0.5 each"),
    ("<answer>b", {"require_think": False}, 0.5, "no-think format, truncated"),
    ("<think>a</think><answer>[1,2,3,4]</answer>", BOXES, 1.0, "tags + schema: five shares"),
    ("<think>a</think><answer>left lung</answer>", BOXES, 0.8, "schema share lost"),
]


@pytest.mark.parametrize(
    ("completion", "params", "reward"), [c[:3] for c in LENIENT_CASES], ids=[c[3] for c in LENIENT_CASES]
)
def test_lenient(completion: str, params: dict[str, Any], reward: float) -> None:
    (s,) = score("format", [{"completion": completion}], {"mode": "lenient", **params})
    assert s.status == "ok"
    assert s.reward == pytest.approx(reward)


def test_lenient_reports_the_strict_rule() -> None:
    (s,) = score("format", [{"completion": "<think>a</think><answer>b</answer> x"}], {"mode": "lenient"})
    assert (s.reward, s.details["rule"]) == (1.0, "trailing_text")


@pytest.mark.parametrize(
    "params",
    [
        {"think_tags": ["<a>", "</a>"], "answer_tags": ["<a>", "</b>"]},
        {"answer_tags": ["", "</answer>"]},
        {"answer_tags": ["<answer>", "<answer>"]},
        {"think_tags": ["<t>", "</t>"], "answer_tags": ["<t>x", "</x>"]},
        {"mode": "loose"},
        {"answer_schema": "polygons"},
        {"unknown": 1},
    ],
    ids=["shared tag", "blank tag", "open equals close", "tag inside tag", "bad mode", "bad schema", "unknown key"],
)
def test_bad_params_are_rejected(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        score("format", [{"completion": GOOD}], params)


@pytest.mark.parametrize(
    ("answer", "ok"),
    [
        ('{"bbox_2d": [1, 2, 3, 4]}', True),
        ("[[1, 2, 3, 4], [5, 6, 7, 8]]", True),
        ('[{"bbox_2d": [1, 2, 3, 4]}, {"bbox_2d": [1, 2, 3]}]', False),
        ("[true, 2, 3, 4]", False),
        ("[1e400, 2, 3, 4]", False),
        ('["1", 2, 3, 4]', False),
        ("[" * 10_000 + "]" * 10_000, False),
        ("[1, 2, 3, 4", False),
        ("```json\n[1, 2, 3, 4]\n```", True),
    ],
    ids=["object", "list of lists", "one bad box", "bool", "inf", "string", "deep", "broken", "fence"],
)
def test_boxes_schema(answer: str, ok: bool) -> None:
    assert (boxes_schema_error(answer) is None) is ok


@pytest.mark.parametrize(
    "completion",
    [
        "x" * 100_000,
        "<think>" * 10_000,
        "<think>a</think><answer>" + "[" * 10_000 + "]" * 10_000 + "</answer>",
        "<answer>" * 5_000 + "</answer>" * 5_000,
    ],
    ids=["100k chars", "10k think tags", "10k-deep brackets in a box answer", "10k answer tags"],
)
def test_pathological_inputs_do_not_hang(completion: str) -> None:
    with finishes_without_hanging():
        (s,) = score("format", [{"completion": completion}], {"answer_schema": "boxes"})
    assert s.reward == 0.0


# Property tests against deliberately naive references, on texts built from tag soup.
TAGS = ["<think>", "</think>", "<answer>", "</answer>"]
PIECES = st.lists(st.sampled_from([*TAGS, "a", " ", "\n", "<", "x < y", "</", "answer>"]), max_size=12)


def naive_strict(text: str) -> float:
    """The strict rule as one regex, valid once every tag is known to occur exactly once."""
    if any(text.count(t) != 1 for t in TAGS):
        return 0.0
    m = re.fullmatch(r"\s*<think>(.*)</think>\s*<answer>(.*)</answer>\s*", text, re.DOTALL)
    return 1.0 if m and m.group(2).strip() else 0.0


@settings(max_examples=400, deadline=None)
@given(PIECES)
def test_strict_matches_naive_regex(pieces: list[str]) -> None:
    text = "".join(pieces)
    assert score("format", [{"completion": text}])[0].reward == naive_strict(text)


@settings(max_examples=400, deadline=None)
@given(PIECES)
def test_lenient_is_tag_count_when_in_order(pieces: list[str]) -> None:
    """open-r1's tag_count (each tag once, any order) bounds ours; in canonical order they agree."""
    text = "".join(pieces)
    reward = score("format", [{"completion": text}], {"mode": "lenient"})[0].reward
    once = [t for t in TAGS if text.count(t) == 1]
    tag_count = 0.25 * len(once)
    assert reward is not None and reward <= tag_count
    if [text.find(t) for t in once] == sorted(text.find(t) for t in once):
        assert reward == tag_count


@settings(max_examples=400, deadline=None)
@given(PIECES)
def test_fast_path_agrees_with_general_path(pieces: list[str]) -> None:
    text = "".join(pieces)
    p = FormatParams()
    assert analyse(text, p, single_marker=True) == analyse(text, p, single_marker=False)


# mode="think": TRL's think_format_reward, with its published test cases (trl tests/test_rewards.py)
TRL_THINK_VALID = [
    "<think>This is my reasoning.</think>This is my answer.",
    "<think>\nThis is my reasoning.\n</think>\nThis is my answer.",
    "<think>\nThis is\nmy reasoning.\n</think>\nThis is my answer.",
    "<think>\nThis is <some tag> my reasoning.</think>\nThis is my answer.",
    "<think></think>\nThis is my answer.",
]
TRL_THINK_INVALID = [
    ("<think>\nThis is my reasoning.\nThis is my answer.", "missing_think_close"),
    ("<think>This is my reasoning.\nThis is my answer.", "missing_think_close"),
    ("This is my reasoning. This is my answer.", "missing_think_open"),
    ("This is my reasoning.\nThis is my answer.", "missing_think_open"),
    ("This is my reasoning.</think>\nThis is my answer.", "missing_think_open"),
    ("This is my reasoning.</think>This is my answer.", "missing_think_open"),
    ("This<think>is my reasoning.</think>\nThis is my answer.", "leading_text"),
    ("<think>This is<think>my reasoning.</think></think>This is my answer.", "duplicate_think_tag"),
    ("<think>This is</think>\nmy\n<think>reasoning.</think>\nThis is my answer.", "duplicate_think_tag"),
]


@pytest.mark.parametrize("text", TRL_THINK_VALID)
def test_think_mode_accepts_trls_valid_cases(text: str) -> None:
    s = score("format", [{"completion": text}], {"mode": "think"})[0]
    assert (s.reward, s.details["rule"]) == (1.0, "ok")


@pytest.mark.parametrize(("text", "rule"), TRL_THINK_INVALID)
def test_think_mode_refuses_trls_invalid_cases(text: str, rule: str) -> None:
    s = score("format", [{"completion": text}], {"mode": "think"})[0]
    assert (s.reward, s.details["rule"]) == (0.0, rule)


def test_think_mode_with_prefix_judges_the_completion_as_continued_reasoning() -> None:
    # the chat template opened <think> in the prompt (trl#6966): the completion starts inside it
    s = score("format", [{"completion": "reasoning</think>answer"}], {"mode": "think", "prefix": True})[0]
    assert s.reward == 1.0
    assert score("format", [{"completion": "reasoning</think>answer"}], {"mode": "think"})[0].reward == 0.0
