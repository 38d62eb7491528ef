"""A reward never lies silently: a missing label is a null total, a malformed one a 422.

Each case is a way a dataset or a trainer's flags go wrong in practice; before, each earned a
well-formatted answer the format reward alone (0.2 of a total, renormalised to 1.0).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from fastapi.testclient import TestClient

GOOD = "<think>no pleural line</think><answer>yes</answer>"
BOX_ANSWER = "<think>apex</think><answer>[10, 10, 50, 50]</answer>"
QWEN = "<|im_start|>user\nIs there a pneumothorax?<|im_end|>\n<|im_start|>assistant\n"

# (profile, item fields, note): a required component has nothing to judge by.
MISSING: list[tuple[str, dict[str, Any], str]] = [
    ("vqa-closed", {}, "no reference at all"),
    ("vqa-closed", {"reference": ""}, "empty label"),
    ("vqa-closed", {"reference": "   "}, "blank label"),
    ("grounding-medloc", {}, "no reference boxes"),
]


@pytest.mark.parametrize(("profile", "fields"), [m[:2] for m in MISSING], ids=[m[2] for m in MISSING])
def test_score_total_is_null_when_a_required_component_abstains(
    client: TestClient, profile: str, fields: dict[str, Any]
) -> None:
    completion = BOX_ANSWER if profile.startswith("grounding") else GOOD
    body = client.post("/v1/score", json={"profile": profile, "items": [{"completion": completion, **fields}]})
    assert body.status_code == 200, body.text
    out = body.json()
    assert out["rewards"] == [None]
    assert out["status"] == ["unscorable"]
    assert out["components"]["format"] == [1.0]  # the shaping term is there, but carries no total
    assert out["reasons"][0].startswith("required component")


def test_label_under_an_unknown_key_is_flagged_everywhere(client: TestClient) -> None:
    label = {"gt": "yes"}  # a trainer's --label_key pointing at the wrong column
    orl = client.post(
        "/openrlhf/vqa-closed", json={"query": [QWEN + GOOD], "prompts": [QWEN], "labels": [json.dumps(label)]}
    ).json()
    assert orl["rewards"] == [0.0] and orl["scores"] == [0.0]
    assert orl["extra_logs"]["abstained"] == [1.0] and orl["extra_logs"]["answer_abstained"] == [1.0]
    assert orl["extra_logs"]["format_abstained"] == [0.0]

    slime = client.post("/slime/vqa-closed", json={"prompt": "p", "response": GOOD, "label": label}).json()
    assert slime["abstained"] is True and slime["reward"] is None and slime["score"] == 0.0
    assert slime["components"]["answer"] is None and "no reference" in slime["reason"]

    nemo_body = {
        "responses_create_params": {"input": "Is there a pneumothorax?"},
        "response": {"output": [{"type": "message", "content": [{"type": "output_text", "text": GOOD}]}]},
        **label,
    }
    nemo = client.post("/nemo-gym/vqa-closed/verify", json=nemo_body).json()
    assert nemo["abstained"] is True and nemo["mask_sample"] is True and nemo["reward"] == 0.0
    assert set(nemo["reward_components"]) == {"format", "answer"}
    assert nemo["reward_answer_abstained"] is True and nemo["reward_format_abstained"] is False


# (profile, item fields, field named in the 422, note)
MALFORMED: list[tuple[str, dict[str, Any], str, str]] = [
    ("grounding-medloc", {"boxes": [[50, 50, 10, 10]]}, "boxes", "reference box with x2 < x1"),
    ("grounding-medloc", {"boxes": [[1, 2, 3]]}, "boxes", "reference box of three numbers"),
    ("grounding-medloc", {"boxes": [[10, 10, 50, 50]], "image_size": [0, 10]}, "image_size", "zero image side"),
    ("grading", {"reference": "catastrophic", "grades": ["none", "mild", "severe"]}, "reference", "off the scale"),
    ("grading", {"reference": "mild"}, "grades", "ordinal item without a scale"),
    ("vqa-mcq", {"reference": "E", "options": {"A": "Mass", "B": "Effusion"}}, "reference", "option not offered"),
]


@pytest.mark.parametrize(("profile", "fields", "field"), [m[:3] for m in MALFORMED], ids=[m[3] for m in MALFORMED])
def test_malformed_reference_is_422_naming_the_field(
    client: TestClient, profile: str, fields: dict[str, Any], field: str
) -> None:
    completion = BOX_ANSWER if profile.startswith("grounding") else "<think>t</think><answer>mild</answer>"
    ok = {"completion": completion, "reference": "mild", "grades": ["none", "mild", "severe"]}
    items = (
        [ok, {"completion": completion, **fields}] if profile == "grading" else [{"completion": completion, **fields}]
    )
    where = f"items[{len(items) - 1}].{field}"
    resp = client.post("/v1/score", json={"profile": profile, "items": items})
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["field"] == where
    assert resp.json()["error"]["code"] == "invalid_item"
    # Each trainer protocol names the field where its label sits.
    orl = client.post("/openrlhf/" + profile, json={"query": [completion], "labels": [fields]})
    assert orl.status_code == 422 and orl.json()["error"]["field"] == f"labels[0].{field}"
    slime = client.post("/slime/" + profile, json={"response": completion, "label": fields})
    assert slime.status_code == 422 and slime.json()["error"]["field"] == f"label.{field}"


def test_required_can_be_set_per_component(client: TestClient) -> None:
    prof = {
        "components": [
            {"reward": "format", "weight": 0.2},
            {"reward": "answer", "weight": 0.8},
            {"reward": "iou", "weight": 0.5, "required": False},  # optional here: boxes only on some items
        ],
        "answer_kind": "closed",
    }
    item = {"completion": GOOD, "reference": "yes"}
    out = client.post("/v1/score", json={"profile": prof, "items": [item]}).json()
    assert out["components"]["iou"] == [None]
    assert out["rewards"] == [pytest.approx(1.0)] and out["reasons"] == [None]
    prof["components"][2]["required"] = True  # type: ignore[index]
    out = client.post("/v1/score", json={"profile": prof, "items": [item]}).json()
    assert out["rewards"] == [None] and "'iou' abstained" in out["reasons"][0]


def test_a_profile_of_shaping_terms_alone_is_refused(client: TestClient) -> None:
    prof = {"components": [{"reward": "format"}, {"reward": "length", "params": {"mode": "range"}}]}
    resp = client.put("/v1/profiles/shaping-only", json=prof)
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "no_outcome_component"
    prof["components"][0]["required"] = True  # type: ignore[index]
    assert client.put("/v1/profiles/shaping-only", json=prof).status_code == 200


def test_openrlhf_scores_come_from_outcome_components(client: TestClient) -> None:
    # An all-wrong, well-formatted group: totals 0.2 each, but scores (dynamic filtering) 0.
    wrong = QWEN + "<think>t</think><answer>no</answer>"
    body = {"query": [wrong] * 4, "prompts": [QWEN] * 4, "labels": ["yes"] * 4}
    out = client.post("/openrlhf/vqa-closed", json=body).json()
    assert out["rewards"] == [pytest.approx(0.2)] * 4
    assert out["scores"] == [0.0] * 4


def test_openrlhf_logs_raw_iou_beside_the_thresholded_reward(client: TestClient) -> None:
    answer = QWEN + "<think>t</think><answer>[10, 10, 50, 50]</answer>"
    body = {"query": [answer], "prompts": [QWEN], "labels": [{"boxes": [[10, 10, 50, 90]]}]}  # IoU 0.5
    out = client.post("/openrlhf/grounding-medloc?run_id=raw-iou", json=body).json()
    assert out["extra_logs"]["iou"] == [1.0]  # 0.5 >= τ₀ = 0.3
    assert out["extra_logs"]["iou_overlap"] == [pytest.approx(0.5)]


def test_runs_are_created_on_first_use(client: TestClient) -> None:
    item = {"completion": BOX_ANSWER, "boxes": [[10, 10, 50, 50]], "group": "g"}
    first = client.post("/v1/score", json={"profile": "grounding-medloc", "items": [item], "run_id": "fresh-1"})
    assert first.status_code == 200, first.text
    assert client.get("/v1/runs/fresh-1").json()["groups"] == 1
    bare = client.post("/v1/rewards/iou", json={"items": [item], "run_id": "fresh-2"})
    assert bare.status_code == 200, bare.text
    run = client.get("/v1/runs/fresh-2").json()
    assert run["scheduler"] == "medloc" and run["groups"] == 1


# --- NeMo Gym as a resources server ------------------------------------------------------

NEMO_ROW: dict[str, Any] = {
    "responses_create_params": {"input": [{"role": "user", "content": "Is there a pneumothorax?"}]},
    "expected_answer": "yes",
    "_ng_task_index": 7,
    "_ng_rollout_index": 0,
}


def _response(reasoning: str | None, text: str, summary: bool = False) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    if reasoning is not None:
        part = {"type": "summary_text" if summary else "reasoning_text", "text": reasoning}
        output.append(
            {
                "type": "reasoning",
                "id": "rs",
                **({"summary": [part]} if summary else {"summary": [], "content": [part]}),
            }
        )
    output.append({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]})
    return {"id": "resp", "object": "response", "output": output}


def test_nemo_gym_stock_agent_flow(client: TestClient) -> None:
    base = "/nemo-gym/vqa-closed"
    assert client.post(base + "/seed_session", json=NEMO_ROW).json() == {}
    env_seed = {"resources_session_id": "s-1", "episode_id": "e", "task_id": "t", "task_data": {}}
    assert client.post(base + "/seed_session", json=env_seed).json() == {"resources_session_id": "s-1"}
    assert client.get(base + "/reverify_mode").json() == "stateless"
    responses = []
    for i, (reasoning, text) in enumerate(
        [("air in the pleural space", "<answer>yes</answer>"), ("lungs look fine", "<answer>no</answer>")]
    ):
        row = {**NEMO_ROW, "_ng_rollout_index": i, "response": _response(reasoning, text)}
        out = client.post(base + "/verify", json=row)
        assert out.status_code == 200, out.text
        responses.append(out.json())
    # vLLM's reasoning parser moves the thinking into a reasoning item: it still counts as <think>.
    assert [r["reward_format"] for r in responses] == [1.0, 1.0]
    assert [r["reward_answer"] for r in responses] == [1.0, 0.0]
    assert responses[0]["reward"] == pytest.approx(1.0) and responses[1]["reward"] == pytest.approx(0.2)
    assert all(r["_ng_task_index"] == 7 for r in responses)  # the row is echoed
    assert len({frozenset(r) for r in responses}) == 1  # one key set
    agg = client.post(base + "/aggregate_metrics", json={"verify_responses": responses}).json()
    assert agg["agent_metrics"]["mean/reward"] == pytest.approx(0.6)
    assert agg["key_metrics"]["mean/reward_answer"] == pytest.approx(0.5)
    assert agg["agent_metrics"]["medreward/dead_group_rate"] == 0.0
    assert agg["group_level_metrics"][0]["_ng_task_index"] == 7
    assert agg["group_level_metrics"][0]["std/reward"] == pytest.approx(math.sqrt(0.32))


def test_nemo_gym_summary_reasoning_counts_as_think(client: TestClient) -> None:
    row = {**NEMO_ROW, "response": _response("air", "<answer>yes</answer>", summary=True)}
    out = client.post("/nemo-gym/vqa-closed/verify", json=row).json()
    assert out["reward_format"] == 1.0


def test_nemo_gym_run_attached_through_the_base_url(client: TestClient) -> None:
    base = "/nemo-gym/grounding-medloc/runs/gym-run/group-size/2"
    assert client.get(base + "/reverify_mode").json() == "unsupported"
    for i in range(2):
        row = {
            **NEMO_ROW,
            "boxes": [[10, 10, 50, 50]],
            "_ng_rollout_index": i,
            "response": _response("apex", BOX_ANSWER),
        }
        out = client.post(base + "/verify", json=row)
        assert out.status_code == 200, out.text
        assert out.json()["tau"] == 0.3
    assert client.get("/v1/runs/gym-run").json()["groups"] == 1  # two rollouts of task 7: one group


@pytest.mark.parametrize("key", ["reward", "reward_components", "abstained", "mask_sample", "reward_answer"])
def test_nemo_gym_row_carrying_our_keys_is_answered_not_500(client: TestClient, key: str) -> None:
    row = {**NEMO_ROW, "response": _response("t", "<answer>yes</answer>"), key: {"stale": 1}}
    out = client.post("/nemo-gym/vqa-closed/verify", json=row)
    assert out.status_code == 200, out.text
    assert out.json()["reward"] == pytest.approx(1.0)


def test_nemo_gym_deeply_nested_echo_is_422(client: TestClient) -> None:
    deep: Any = 1
    for _ in range(300):
        deep = [deep]
    row = {**NEMO_ROW, "response": _response("t", "<answer>yes</answer>"), "extra": deep}
    out = client.post("/nemo-gym/vqa-closed/verify", json=row)
    assert out.status_code == 422 and out.json()["error"]["code"] == "too_deeply_nested"


def test_label_json_nested_past_the_parser_is_422(client: TestClient) -> None:
    label = '{"a": ' * 5000 + "1" + "}" * 5000
    out = client.post("/openrlhf/vqa-closed", json={"query": [GOOD], "labels": [label]})
    assert out.status_code == 422 and out.json()["error"]["field"] == "labels"


def test_openrlhf_query_is_bounded(client: TestClient) -> None:
    from tests.app.conftest import make_client

    with make_client(max_query_chars=1000) as small:
        out = small.post("/openrlhf/vqa-closed", json={"query": ["x" * 1001], "labels": ["yes"]})
    assert out.status_code == 413 and out.json()["error"]["field"] == "query[0]"
