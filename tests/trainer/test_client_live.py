"""The clients against a real ``medreward serve``: every route, the service's errors, idempotent chunks."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.e2e.conftest import KEYS, Server
from trainer import AsyncMedRewardClient, MedRewardClient, MedRewardError

BOX = [118, 190, 250, 320]


def grounding_item(pred: list[int], group: str) -> dict[str, object]:
    return {"completion": f"<think>t</think><answer>{pred}</answer>", "boxes": [BOX], "group": group}


def test_every_route(medreward_env: Server) -> None:
    name = f"cli-{time.time_ns()}"
    with MedRewardClient() as client:
        assert client.health() == {"status": "ok"}
        assert client.ready()["status"] == "ready"
        assert "iou" in {r["name"] for r in client.list_rewards()}
        assert client.get_reward("answer")["name"] == "answer"
        profile = {"components": [{"reward": "format", "weight": 0.2}, {"reward": "answer", "weight": 0.8}]}
        assert client.put_profile(name, profile)["source"] == "tenant"
        assert client.get_profile(name)["name"] == name
        assert name in {p["name"] for p in client.list_profiles()}
        run = client.create_run(name, "fixed", {"tau": 0.5})
        assert run["tau"] == 0.5
        assert client.get_run(name)["run_id"] == name
        assert name in {r["run_id"] for r in client.list_runs()}
        assert client.run_history(name) == []
        assert client.reset_run(name)["tau"] == 0.5
        client.delete_run(name)
        client.delete_profile(name)
        with pytest.raises(MedRewardError) as info:
            client.get_run(name)
        assert (info.value.status, info.value.code, info.value.field) == (404, "run_not_found", "run_id")


def test_details_false_keeps_rewards_and_reasons(medreward_env: Server) -> None:
    items = [grounding_item([118, 190, 250, 320], "g"), {"completion": "<answer>[1, 2, 3, 4]</answer>"}]
    with MedRewardClient(max_batch=1) as client:  # two chunks: the reasons come back in the caller's order
        full, lean = (client.reward("iou", items, details=d) for d in (True, False))
        assert lean.rewards == full.rewards == [1.0, None]
        assert lean.reasons == full.reasons and full.reasons[1] is not None
        assert full.reasons[1].startswith("no reference boxes")
        assert lean.details == [{}, {}] and full.details[0]["iou"] == 1.0
        scored = client.score(items, "grounding-medloc", details=False)
        assert scored.rewards[0] == pytest.approx(1.0) and scored.details == [{}, {}]
        assert scored.item_reason(1) is not None and "iou" in scored.item_reason(1)


def test_null_total_with_reason_and_422_naming_the_field(medreward_env: Server) -> None:
    with MedRewardClient() as client:
        out = client.score(
            [
                {"completion": "<think>t</think><answer>yes</answer>", "reference": "yes"},
                {"completion": "<think>t</think><answer>yes</answer>"},  # no label
                {"completion": "<think>t</think><answer>yes</answer>", "reference": ""},  # empty label
            ],
            "vqa-closed",
        )
        assert out.rewards[0] == pytest.approx(1.0)
        assert out.rewards[1:] == [None, None] and out.abstained == [False, True, True]
        assert out.components["format"] == [1.0, 1.0, 1.0]  # scored, but never the total on its own
        assert all(r and "answer" in r for r in out.reasons[1:])
        with pytest.raises(MedRewardError) as info:
            client.score(
                [{"completion": "<answer>[1, 2, 3, 4]</answer>", "boxes": [[5, 5, 1, 1]]}], "grounding-medloc"
            )
        assert info.value.status == 422 and info.value.field == "items[0].boxes"


def test_wrong_key_is_401_at_once(server: Server) -> None:
    with MedRewardClient(server.url, "not-a-key", max_retries=5) as client:
        started = time.perf_counter()
        with pytest.raises(MedRewardError) as info:
            client.score([{"completion": "x"}], "vqa-closed")
        assert info.value.status == 401
        assert time.perf_counter() - started < 2.0  # not retried


def test_chunked_batch_is_one_run_report_per_group_and_idempotent(medreward_env: Server) -> None:
    run_id = f"chunks-{time.time_ns()}"
    items = [grounding_item(BOX if i % 2 == 0 else [0, 0, 5, 5], f"g{i // 4}") for i in range(12)]
    with MedRewardClient(max_batch=5) as client:  # 3 groups of 4: three chunks, groups whole
        out = client.score(items, "grounding-medloc", run_id=run_id, step=0, request_id="step-0")
        again = client.score(items, "grounding-medloc", run_id=run_id, step=0, request_id="step-0")  # a retry
        state = client.get_run(run_id)
    assert out.components["iou"] == [1.0, 0.0] * 6
    assert again.rewards == out.rewards
    assert state["groups"] == 3  # created on first use; the repeated chunks counted nothing twice
    assert out.tau == pytest.approx(0.3)


def test_async_client_and_first_use_run_on_the_iou_route(medreward_env: Server) -> None:
    run_id = f"async-{time.time_ns()}"

    async def main() -> tuple[list[float | None], dict[str, object]]:
        async with AsyncMedRewardClient(api_key=KEYS["alice"]) as client:
            batches = [
                client.reward("iou", [grounding_item(BOX, f"p{k}")] * 2, {"mode": "threshold"}, run_id=run_id, step=k)
                for k in range(4)
            ]
            results = await asyncio.gather(*batches)
            return [r.rewards[0] for r in results], await client.get_run(run_id)

    rewards, state = asyncio.run(main())
    assert rewards == [1.0] * 4
    assert state["groups"] == 4 and state["scheduler"] == "medloc"
