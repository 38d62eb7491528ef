"""Trainer adapters with the exact payloads the trainers send, at their concurrency."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import KEYS, Server, server_env

SYSTEM = "<|im_start|>system\nYou are a radiologist. Think in <think>, answer in <answer>.<|im_end|>\n"


def qwen_vl_prompt(question: str, expanded: bool) -> str:
    # OpenRLHF's `prompts` holds one image placeholder; the decoded `query` holds the expansion.
    pads = "<|image_pad|>" * (256 if expanded else 1)
    return (
        f"{SYSTEM}<|im_start|>user\n<|vision_start|>{pads}<|vision_end|>{question}<|im_end|>\n<|im_start|>assistant\n"
    )


def openrlhf_payload(i: int) -> tuple[dict[str, Any], float]:
    """One per-sample OpenRLHF request (lists of length 1) and the reward it must get."""
    question = f"Is there a pneumothorax? (case {i // 8})"
    correct = i % 2 == 0
    answer = "yes" if correct else "no"
    response = f"<think>visceral pleural line at the apex</think><answer>{answer}</answer><|im_end|>"
    payload = {
        "query": [qwen_vl_prompt(question, True) + response],
        "prompts": [qwen_vl_prompt(question, False)],
        "labels": ["yes"],
    }
    return payload, 1.0 if correct else 0.2  # vqa-closed: format 0.2 + answer 0.8


@pytest.mark.slow
def test_openrlhf_per_sample_hundreds_concurrent(server: Server) -> None:
    n = 400

    async def fire() -> list[tuple[httpx.Response, float]]:
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)  # OpenRLHF: a new session per try
        async with httpx.AsyncClient(base_url=server.url, timeout=180, limits=limits) as c:

            async def one(i: int) -> tuple[httpx.Response, float]:
                payload, expected = openrlhf_payload(i)
                resp = await c.post(f"/openrlhf/vqa-closed?api_key={KEYS['alice']}", json=payload)
                return resp, expected

            return await asyncio.gather(*(one(i) for i in range(n)))

    start = time.perf_counter()
    results = asyncio.run(fire())
    elapsed = time.perf_counter() - start
    for resp, expected in results:
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["rewards"] == [pytest.approx(expected)]
        assert body["scores"] == [1.0 if expected == 1.0 else 0.0]  # the outcome alone
        assert set(body["extra_logs"]) == {"format", "format_abstained", "answer", "answer_abstained", "abstained"}
    print(f"\n{n} concurrent OpenRLHF requests in {elapsed:.2f}s ({n / elapsed:.0f} req/s)")


def test_openrlhf_empty_lists_to_other_urls(server: Server) -> None:
    # OpenRLHF with several URLs sends empty lists to every URL but the first.
    resp = httpx.post(
        f"{server.url}/openrlhf/vqa-closed",
        json={"query": [], "prompts": [], "labels": []},
        headers={"Authorization": f"Bearer {KEYS['alice']}"},
    )
    assert resp.status_code == 200
    logs = {"format": [], "format_abstained": [], "answer": [], "answer_abstained": [], "abstained": []}
    assert resp.json() == {"rewards": [], "scores": [], "extra_logs": logs}


def test_openrlhf_grounding_label_object_and_run(server: Server) -> None:
    prompt = qwen_vl_prompt("Box the nodule.", False)
    queries = [
        qwen_vl_prompt("Box the nodule.", True) + f"<think>t</think><answer>{box}</answer><|im_end|>"
        for box in ("[10, 10, 50, 50]", "[300, 300, 340, 340]")
    ]
    label = json.dumps({"boxes": [[10, 10, 50, 50]], "image_size": [512, 512]})
    resp = httpx.post(
        f"{server.url}/openrlhf/grounding-medloc?run_id=orl-e2e&step=1&api_key={KEYS['alice']}",
        json={"query": queries, "prompts": [prompt, prompt], "labels": [label, label]},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["extra_logs"]["iou"] == [1.0, 0.0]
    run = httpx.get(f"{server.url}/v1/runs/orl-e2e", headers={"Authorization": f"Bearer {KEYS['alice']}"}).json()
    assert run["scheduler"] == "medloc" and run["groups"] == 1


@pytest.mark.parametrize(
    ("output", "check"),
    [("dict", lambda b: b["score"] == 1.0 and b["components"]["answer"] == 1.0), ("number", lambda b: b == 1.0)],
    ids=["dict (--reward-key score)", "bare number"],
)
def test_slime_remote_rm(server: Server, output: str, check: Any) -> None:
    payload = {
        "prompt": [{"role": "user", "content": "Which option? A) Pneumonia B) Effusion"}],
        "response": "<think>blunted angle</think><answer>B</answer>",
        "label": json.dumps({"reference": "Effusion", "options": {"A": "Pneumonia", "B": "Effusion"}}),
    }
    resp = httpx.post(f"{server.url}/slime/vqa-mcq?output={output}&api_key={KEYS['bob']}", json=payload)
    assert resp.status_code == 200, resp.text
    assert check(resp.json())


def test_nemo_gym_verify(server: Server) -> None:
    row = {
        "responses_create_params": {
            "input": [
                {
                    "role": "user",
                    "type": "message",
                    "content": [
                        {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "auto"},
                        {"type": "input_text", "text": "Is there cardiomegaly?"},
                    ],
                }
            ],
            "tools": [],
        },
        "expected_answer": "yes",
        "case": 12,
    }
    response = {
        "id": "resp_9",
        "object": "response",
        "model": "Qwen/Qwen3-VL-8B-Instruct",
        "output": [
            {
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "id": "msg_9",
                "content": [
                    {"type": "output_text", "text": "<think>CTR 0.6</think><answer>Yes</answer>", "annotations": []}
                ],
            }
        ],
        "usage": {"input_tokens": 900, "output_tokens": 20, "total_tokens": 920},
    }
    resp = httpx.post(
        f"{server.url}/verify/vqa-closed",
        json=row | {"response": response},
        headers={"Authorization": f"Bearer {KEYS['alice']}"},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["reward"] == 1.0
    assert body["reward_components"] == {"format": 1.0, "answer": 1.0}
    assert body["response"] == response and body["case"] == 12 and body["expected_answer"] == "yes"


@pytest.mark.slow
def test_openrlhf_per_sample_grounding_raises_tau_with_group_size(server: Server) -> None:
    """OpenRLHF grounding as it really arrives: one POST per completion, 8 per prompt, concurrently."""
    url = f"/openrlhf/grounding-medloc?run_id=orl-ps&group_size=8&api_key={KEYS['bob']}"
    label = json.dumps({"boxes": [[10, 10, 50, 50]]})

    async def fire() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=180) as c:

            async def one(prompt_id: int, sample: int) -> httpx.Response:
                prompt = qwen_vl_prompt(f"Box the nodule (case {prompt_id}).", False)
                box = "[10, 10, 50, 50]" if sample != 5 else "[70, 70, 90, 90]"  # 7 of 8 hit
                query = qwen_vl_prompt(f"Box the nodule (case {prompt_id}).", True) + f"<answer>{box}</answer>"
                return await c.post(url, json={"query": [query], "prompts": [prompt], "labels": [label]})

            out: list[httpx.Response] = []
            for start in range(0, 40, 4):  # rollout batches of 4 prompts × 8 samples in flight
                out += await asyncio.gather(*(one(p, s) for p in range(start, start + 4) for s in range(8)))
            return out

    responses = asyncio.run(fire())
    assert all(r.status_code == 200 for r in responses)
    run = httpx.get(f"{server.url}/v1/runs/orl-ps", headers={"Authorization": f"Bearer {KEYS['bob']}"}).json()
    assert run["groups"] == 40
    assert run["tau"] > 0.3


@pytest.mark.slow
def test_nemo_gym_stock_agent_against_an_open_loopback_server(tmp_path: Path) -> None:
    """What NeMo Gym's simple agent does, with no credentials, at the resources server's base URL."""
    env = {k: v for k, v in server_env(MEDREWARD_LOAD_MODELS="false").items() if k != "MEDREWARD_API_KEYS"}
    srv = Server(tmp_path / "gym.db", env).start()
    base = f"{srv.url}/nemo-gym/vqa-closed"
    try:
        with httpx.Client(timeout=30) as agent:  # one session, cookies carried, no auth header
            rows = []
            for i, (thinking, text) in enumerate(
                [("enlarged cardiac silhouette", "<answer>yes</answer>"), ("", "no")]
            ):
                row = {
                    "responses_create_params": {"input": [{"role": "user", "content": "Is there cardiomegaly?"}]},
                    "expected_answer": "yes",
                    "_ng_task_index": 3,
                    "_ng_rollout_index": i,
                }
                assert agent.post(f"{base}/seed_session", json=row).status_code == 200
                # vLLM's reasoning parser: the thinking as a reasoning item, the answer as the message.
                output: list[dict[str, Any]] = []
                if thinking:
                    output.append(
                        {
                            "type": "reasoning",
                            "id": "rs",
                            "summary": [],
                            "content": [{"type": "reasoning_text", "text": thinking}],
                        }
                    )
                output.append(
                    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}
                )
                resp = agent.post(f"{base}/verify", json=row | {"response": {"id": f"r{i}", "output": output}})
                assert resp.status_code == 200, resp.text
                rows.append(resp.json())
            assert [r["reward_format"] for r in rows] == [1.0, 0.0]
            assert [r["reward_answer"] for r in rows] == [1.0, 0.0]
            assert rows[0]["reward"] == pytest.approx(1.0) and rows[1]["reward"] == 0.0
            agg = agent.post(f"{base}/aggregate_metrics", json={"verify_responses": rows}).json()
            assert agg["key_metrics"]["mean/reward"] == pytest.approx(0.5)
            assert agent.get(f"{base}/reverify_mode").json() == "stateless"
    finally:
        assert srv.stop() == 0, srv.logs()
