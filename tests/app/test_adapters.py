"""Trainer-native adapters: the exact payloads OpenRLHF, slime and NeMo Gym send."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.adapters.common import label_fields
from app.adapters.nemo_gym import output_text
from app.adapters.openrlhf import response_from_query

ANSWER = "<think>apex lucency</think><answer>[10, 10, 50, 50]</answer>"
QWEN_VL_PROMPT = (
    "<|im_start|>system\nYou are a radiologist.<|im_end|>\n<|im_start|>user\n<|vision_start|>"
    + "<|image_pad|>" * 64
    + "<|vision_end|>Locate the pneumothorax.<|im_end|>\n<|im_start|>assistant\n"
)
# The prompt as OpenRLHF sends it in `prompts`: before the processor expanded the image tokens.
QWEN_VL_PROMPT_RAW = QWEN_VL_PROMPT.replace("<|image_pad|>" * 64, "<|image_pad|>")

QUERIES = [
    (QWEN_VL_PROMPT + ANSWER + "<|im_end|>", QWEN_VL_PROMPT_RAW, ANSWER, "Qwen2.5-VL with expanded image pads"),
    (
        "<|start_header_id|>user<|end_header_id|>\n\nWhere?<|eot_id|><|start_header_id|>assistant<|end_header_id|>"
        "\n\n" + ANSWER + "<|eot_id|>",
        None,
        ANSWER,
        "Llama 3",
    ),
    (
        "<start_of_turn>user\nWhere?<end_of_turn>\n<start_of_turn>model\n" + ANSWER + "<end_of_turn>",
        None,
        ANSWER,
        "Gemma",
    ),
    ("[INST] Where? [/INST] " + ANSWER + "</s>", None, ANSWER, "Mistral"),
    ("plain prompt: " + ANSWER, "plain prompt: ", ANSWER, "no template: prompt prefix"),
    (ANSWER, None, ANSWER, "response only"),
    (
        "<|im_start|>assistant\nfirst turn<|im_end|><|im_start|>user\nagain<|im_end|><|im_start|>assistant\n" + ANSWER,
        None,
        ANSWER,
        "multi-turn: the last assistant turn",
    ),
]


@pytest.mark.parametrize(("query", "prompt", "expected"), [q[:3] for q in QUERIES], ids=[q[3] for q in QUERIES])
def test_response_from_query(query: str, prompt: str | None, expected: str) -> None:
    assert response_from_query(query, prompt) == expected


LABELS: list[tuple[Any, dict[str, Any], str]] = [
    ("no", {"reference": "no"}, "plain reference"),
    ('{"boxes": [[1, 2, 3, 4]], "image_size": [10, 10]}', {"boxes": [[1, 2, 3, 4]], "image_size": [10, 10]}, "JSON"),
    (
        {"answer": "B", "options": {"A": "x", "B": "y"}},
        {"reference": "B", "options": {"A": "x", "B": "y"}},
        "object with an alias",
    ),
    (["left", "left-sided"], {"reference": ["left", "left-sided"]}, "accepted answers"),
    (3, {"reference": "3"}, "number"),
    (False, {"reference": "no"}, "boolean"),
    ("{not json", {"reference": "{not json"}, "brace but not JSON"),
    (None, {}, "no label"),
]


@pytest.mark.parametrize(("label", "fields"), [c[:2] for c in LABELS], ids=[c[2] for c in LABELS])
def test_label_fields(label: Any, fields: dict[str, Any]) -> None:
    assert label_fields(label) == fields


def test_openrlhf_per_sample(client: TestClient) -> None:
    body = {
        "query": [QWEN_VL_PROMPT + ANSWER + "<|im_end|>"],
        "prompts": [QWEN_VL_PROMPT_RAW],
        "labels": ['{"boxes": [[10, 10, 50, 50]]}'],
    }
    out = client.post("/openrlhf/grounding-medloc", json=body).json()
    assert out["rewards"] == [1.0] and out["scores"] == [1.0]
    assert out["extra_logs"] == {
        "format": [1.0],
        "format_abstained": [0.0],
        "iou": [1.0],
        "iou_abstained": [0.0],
        "iou_overlap": [1.0],
        "abstained": [0.0],
    }


def test_openrlhf_empty_lists(client: TestClient) -> None:
    out = client.post("/openrlhf/grounding-medloc", json={"query": [], "prompts": [], "labels": []})
    assert out.status_code == 200
    assert out.json()["rewards"] == [] and out.json()["scores"] == []


def test_openrlhf_batch_with_run_creates_it(client: TestClient) -> None:
    hit = QWEN_VL_PROMPT + ANSWER
    miss = QWEN_VL_PROMPT + "<think>t</think><answer>[70, 70, 90, 90]</answer>"
    body = {"query": [hit, miss], "prompts": [QWEN_VL_PROMPT_RAW] * 2, "labels": [{"boxes": [[10, 10, 50, 50]]}] * 2}
    out = client.post("/openrlhf/grounding-medloc?run_id=orl&step=3", json=body).json()
    assert out["extra_logs"]["iou"] == [1.0, 0.0]
    assert out["extra_logs"]["tau"] == [0.3, 0.3]
    run = client.get("/v1/runs/orl").json()
    assert run["scheduler"] == "medloc" and run["groups"] == 1  # same prompt = one group


def test_openrlhf_abstention_uses_fallback_and_flags_it(client: TestClient) -> None:
    prof = {"components": [{"reward": "iou"}]}
    client.put("/v1/profiles/boxes", json=prof)
    out = client.post("/openrlhf/boxes", json={"query": ["no label"], "prompts": ["p"], "labels": [""]}).json()
    assert out["rewards"] == [0.0] and out["extra_logs"]["abstained"] == [1.0]
    assert out["extra_logs"]["iou_abstained"] == [1.0]


@pytest.mark.parametrize(
    ("query", "expected"),
    [("", {"format": 1.0, "iou": 1.0}), ("?output=number", 1.0)],
    ids=["dict for --reward-key score", "bare number"],
)
def test_slime(client: TestClient, query: str, expected: Any) -> None:
    body = {
        "prompt": [{"role": "user", "content": "Locate it."}],
        "response": ANSWER,
        "label": {"boxes": [[10, 10, 50, 50]]},
    }
    out = client.post(f"/slime/grounding-medloc{query}", json=body).json()
    if isinstance(expected, dict):
        assert out["score"] == 1.0 and out["components"] == expected and out["abstained"] is False
    else:
        assert out == expected


NEMO_BODY = {
    "responses_create_params": {
        "input": [
            {"role": "system", "type": "message", "content": "Answer with a box in <answer>."},
            {
                "role": "user",
                "type": "message",
                "content": [
                    {"type": "input_image", "image_url": "data:image/png;base64,iVBOR", "detail": "auto"},
                    {"type": "input_text", "text": "Where is the nodule?"},
                ],
            },
        ],
        "tools": [],
        "tool_choice": "auto",
        "parallel_tool_calls": True,
    },
    "response": {
        "id": "resp_1",
        "object": "response",
        "model": "Qwen/Qwen3-VL-8B-Instruct",
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "id": "msg_1",
                "content": [{"type": "output_text", "text": ANSWER, "annotations": []}],
            },
        ],
        "usage": {"input_tokens": 2044, "output_tokens": 174, "total_tokens": 2218},
    },
    "boxes": [[10, 10, 50, 50]],
    "case_id": "cxr-17",
}


def test_nemo_gym_verify_echoes_and_rewards(client: TestClient) -> None:
    out = client.post("/verify/grounding-medloc", json=NEMO_BODY).json()
    assert out["reward"] == 1.0
    assert out["reward_components"] == {"format": 1.0, "iou": 1.0}
    for key, value in NEMO_BODY.items():
        assert out[key] == value  # the whole row comes back
    assert output_text(NEMO_BODY["response"]) == ANSWER  # type: ignore[arg-type]


def test_nemo_gym_without_output_text_abstains(client: TestClient) -> None:
    client.put("/v1/profiles/boxes", json={"components": [{"reward": "iou"}]})
    body = {**NEMO_BODY, "response": {"output": []}, "boxes": None}
    out = client.post("/verify/boxes", json=body).json()
    assert out["reward"] == 0.0 and out["abstained"] is True and out["mask_sample"] is True
    # One key set for every item: the abstained component is there, flagged.
    assert out["reward_components"] == {"iou": 0.0} and out["reward_iou_abstained"] is True
    assert out["failure_kind"] == "medreward:abstained" and "no reference boxes" in out["failure_reason"]


def test_openrlhf_long_vlm_query_is_not_a_long_completion(client: TestClient) -> None:
    # Qwen2.5-VL expands a 1344x1344 image to ~2300 pads: the query is far over the completion limit.
    prompt = QWEN_VL_PROMPT.replace("<|image_pad|>" * 64, "<|image_pad|>" * 2304)
    body = {"query": [prompt + ANSWER], "prompts": [QWEN_VL_PROMPT_RAW], "labels": [{"boxes": [[10, 10, 50, 50]]}]}
    assert len(body["query"][0]) > 30_000
    out = client.post("/openrlhf/grounding-medloc", json=body)
    assert out.status_code == 200, out.text
    assert out.json()["rewards"] == [1.0]


def test_openrlhf_long_response_is_413(client: TestClient) -> None:
    body = {"query": [QWEN_VL_PROMPT + "x" * 40_000], "prompts": [QWEN_VL_PROMPT_RAW], "labels": ["no"]}
    out = client.post("/openrlhf/grounding-medloc", json=body)
    assert out.status_code == 413
    assert out.json()["error"]["field"] == "query[0].completion"
