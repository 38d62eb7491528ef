"""Run insight through the service: /v1/score feeds GET /v1/runs/{id}/stats, the gauges and warnings."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.insight.settings import get_insight_settings
from tests.app.conftest import ALICE, BOB, KEYS, make_client

BOX = [[40, 40, 120, 120]]
HIT = "<think>t</think><answer>[42, 38, 118, 121]</answer>"
MISS = "<think>t</think><answer>[150, 150, 220, 230]</answer>"
MISS_BARE = "<answer>[150, 150, 220, 230]</answer>"
# total = (0.8·iou + 0.2·format): a hit with format 1.0 → 1.0; a miss → 0.2; a bare miss → 0.2·0.5?
PROFILE = {
    "components": [
        {"reward": "iou", "weight": 0.8, "params": {"mode": "threshold"}},
        {"reward": "format", "weight": 0.2},
    ],
    "scheduler": {"type": "fixed", "config": {"tau": 0.5}},
}


def items(*pairs: tuple[str, str | None]) -> list[dict[str, Any]]:
    return [{"completion": c, "boxes": BOX, **({"group": g} if g else {})} for c, g in pairs]


# One dead (both hit), one phantom (both miss, format differs), one live group.
HAND = items((HIT, "d"), (HIT, "d"), (MISS, "p"), (MISS_BARE, "p"), (HIT, "l"), (MISS, "l"))


@pytest.fixture
def insight_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Set MEDREWARD_* insight settings for one test (the settings are cached per process)."""
    get_insight_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_insight_settings.cache_clear()


@pytest.fixture
def keyed() -> Iterator[TestClient]:
    with make_client(api_keys=KEYS) as c:
        yield c


def score(c: TestClient, batch: list[dict[str, Any]], run: str = "r1", **extra: Any) -> dict[str, Any]:
    r = c.post("/v1/score", headers=ALICE, json={"profile": PROFILE, "items": batch, "run_id": run, **extra})
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def stats(c: TestClient, run: str = "r1") -> dict[str, Any]:
    r = c.get(f"/v1/runs/{run}/stats", headers=ALICE)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def test_batch_groups_are_judged_per_step(keyed: TestClient) -> None:
    rewards = score(keyed, HAND, step=4)["rewards"]
    assert rewards[2] != rewards[3]  # the phantom group does have a spread (the format term)
    s = stats(keyed)
    assert [x["step"] for x in s["steps"]] == [4]
    step = s["steps"][0]
    assert (step["groups"], step["dead_groups"], step["phantom_groups"]) == (3, 1, 1)
    assert step["dead_group_rate"] == pytest.approx(1 / 3) and step["phantom_group_rate"] == pytest.approx(1 / 3)
    assert step["components"]["iou"]["mean"] == pytest.approx(3 / 6)
    assert step["components"]["format"]["abstain_rate"] == 0.0
    assert sum(step["histogram"]) == 6 and step["histogram"][39] == 3  # the three hits total 1.0
    assert step["tau"] == 0.5 and step["window"]["size"] == 3
    assert s["tau"] == 0.5 and s["scheduler"] == "fixed" and len(s["histogram_edges"]) == 41


def test_step_defaults_to_the_runs_step_and_items_without_group_are_small(keyed: TestClient) -> None:
    score(keyed, items((HIT, None), (MISS, None)))
    step = stats(keyed)["steps"][0]
    assert (step["groups"], step["small_groups"], step["dead_group_rate"]) == (0, 2, None)


def test_a_retried_request_counts_once(keyed: TestClient) -> None:
    score(keyed, HAND, step=1, request_id="req-1")
    score(keyed, HAND, step=1, request_id="req-1")
    assert stats(keyed)["steps"][0]["items"] == 6


def test_per_sample_groups_are_judged_when_whole(keyed: TestClient) -> None:
    """One item per request (OpenRLHF, slime): the group is judged when its 4th sample arrives."""
    for i, text in enumerate((MISS, MISS_BARE, MISS, MISS)):
        score(keyed, items((text, "prompt-7")), step=2, group_size=4)
        step = stats(keyed)["steps"][0]
        assert step["items"] == i + 1
        assert step["groups"] == (1 if i == 3 else 0)
    assert step["phantom_groups"] == 1


def test_a_per_sample_group_short_of_samples_is_judged_two_steps_later(keyed: TestClient) -> None:
    score(keyed, items((HIT, "a")), step=1, group_size=4)
    score(keyed, items((HIT, "a")), step=1, group_size=4)
    score(keyed, items((MISS, "b")), step=2, group_size=4)
    assert [x["groups"] for x in stats(keyed)["steps"]] == [0, 0]
    score(keyed, items((MISS, "c")), step=3, group_size=4)  # step 3 starts: group "a" (step 1) is stale
    steps = {x["step"]: x for x in stats(keyed)["steps"]}
    assert (steps[1]["groups"], steps[1]["dead_groups"]) == (1, 1)
    assert steps[2]["groups"] == 0  # "b" is one step behind: still open


def test_stats_are_tenant_scoped_and_go_with_the_run(keyed: TestClient) -> None:
    score(keyed, HAND, step=1)
    r = keyed.get("/v1/runs/r1/stats", headers=BOB)
    assert r.status_code == 404
    assert keyed.get("/v1/runs/r1/stats").status_code == 401
    assert keyed.delete("/v1/runs/r1", headers=ALICE).status_code == 204
    score(keyed, items((HIT, "x"), (MISS, "x")), step=9)
    assert [x["step"] for x in stats(keyed)["steps"]] == [9]


def test_only_the_newest_steps_are_kept(keyed: TestClient, insight_env: pytest.MonkeyPatch) -> None:
    insight_env.setenv("MEDREWARD_INSIGHT_STEPS", "3")
    for step in range(1, 7):
        score(keyed, HAND, step=step)
    s = stats(keyed)
    assert [x["step"] for x in s["steps"]] == [4, 5, 6] and s["steps_kept"] == 3
    assert [x["step"] for x in keyed.get("/v1/runs/r1/stats?last=2", headers=ALICE).json()["steps"]] == [5, 6]


def test_dead_groups_warn_in_stats_and_logs(
    keyed: TestClient, insight_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    insight_env.setenv("MEDREWARD_DEAD_GROUP_WARN", "0.5")
    insight_env.setenv("MEDREWARD_DEAD_GROUP_WARN_STEPS", "2")
    dead = items((HIT, "a"), (HIT, "a"), (MISS, "b"), (MISS, "b"), (HIT, "c"), (MISS, "c"))  # 2 of 3 dead
    score(keyed, dead, step=1)
    assert stats(keyed)["warnings"] == []
    with caplog.at_level(logging.WARNING, logger="app.insight"):
        score(keyed, dead, step=2)
        score(keyed, HAND[:2], step=3)  # the run moves on: steps 1 and 2 are judged
    warnings = stats(keyed)["warnings"]
    assert len(warnings) == 1 and "dead-group rate above 0.50 for 2 steps" in warnings[0]
    assert any("dead-group rate above 0.50" in r.getMessage() for r in caplog.records)


def test_prometheus_gauges_per_run(keyed: TestClient) -> None:
    score(keyed, HAND, step=1, run="gauged")
    stats(keyed, "gauged")  # the gauges follow the statistics written (each flush; the stats route flushes)
    text = keyed.get("/metrics", headers=ALICE).text
    assert 'medreward_run_dead_group_rate{run_id="gauged",tenant="alice"} 0.3333333333333333' in text
    assert 'medreward_run_phantom_group_rate{run_id="gauged",tenant="alice"} 0.3333333333333333' in text
    # Tenant-labelled series follow the metrics rules: another tenant does not see them.
    assert 'run_id="gauged"' not in keyed.get("/metrics", headers=BOB).text
    keyed.delete("/v1/runs/gauged", headers=ALICE)
    assert 'group_rate{run_id="gauged"' not in keyed.get("/metrics", headers=ALICE).text


def test_adapters_feed_the_stats(keyed: TestClient) -> None:
    """OpenRLHF's batch: completions of one prompt form a group (keyed by the prompt)."""
    prompt = "<|im_start|>user\nWhere is the lesion?<|im_end|>\n<|im_start|>assistant\n"
    label = '{"boxes": [[40, 40, 120, 120]]}'
    body = {"query": [prompt + HIT, prompt + HIT], "prompts": [prompt, prompt], "labels": [label, label]}
    r = keyed.post("/openrlhf/grounding-medloc?run_id=orl&step=3", headers=ALICE, json=body)
    assert r.status_code == 200, r.text
    step = stats(keyed, "orl")["steps"][0]
    assert (step["step"], step["groups"], step["dead_groups"]) == (3, 1, 1)


def test_explain_shows_rule_extraction_and_normalised_forms(keyed: TestClient) -> None:
    item = {"completion": "<think>clear</think><answer>No pneumothorax</answer>", "reference": "Pneumothoraces"}
    r = keyed.post("/v1/explain", headers=ALICE, json={"profile": "vqa-open", "item": item})
    assert r.status_code == 200, r.text
    x = r.json()
    comps = {c["key"]: c for c in x["components"]}
    answer = comps["answer"]
    assert answer["rule"] == "negation_mismatch" and answer["required"] is True and answer["reward"] == 0.0
    assert answer["extracted"]["answer"] == "No pneumothorax"
    assert answer["normalised"] == {"answer": "no pneumothorax", "reference": ["pneumothorax"]}
    assert comps["format"]["reward"] == 1.0 and comps["format"]["required"] is False
    # The format credit alone: total = 0.2 (weights of vqa-open), the outcome says 0.
    assert x["total"] == pytest.approx(0.2)


def test_explain_boxes_and_bad_input(keyed: TestClient) -> None:
    item = {"completion": "<answer>[42, 38, 118, 121]</answer>", "boxes": BOX}
    x = keyed.post("/v1/explain", headers=ALICE, json={"profile": "grounding-medloc", "item": item}).json()
    iou = next(c for c in x["components"] if c["key"] == "iou")
    assert iou["extracted"]["boxes"] == [[42.0, 38.0, 118.0, 121.0]]
    r = keyed.post("/v1/explain", headers=ALICE, json={"profile": "no-such", "item": item})
    assert r.status_code == 404
    r = keyed.post("/v1/explain", headers=ALICE, json={"profile": "vqa-open", "item": {"reference": "x"}})
    assert r.status_code == 422 and "completion" in r.text
    assert keyed.post("/v1/explain", json={"profile": "vqa-open", "item": item}).status_code == 401


def test_pages_and_static_files(keyed: TestClient) -> None:
    page = keyed.get("/dashboard")
    assert page.status_code == 200 and 'data-open-mode="false"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert keyed.get("/dashboard/explain").status_code == 200
    js = keyed.get("/dashboard/static/uPlot.iife.min.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert "MIT License" in keyed.get("/dashboard/static/uPlot-LICENSE.txt").text
    assert keyed.get("/dashboard/static/..%2F..%2Fsettings.py").status_code == 404
    missing = keyed.get("/dashboard/static/settings.py")
    assert missing.status_code == 404 and "dashboard.js" in missing.json()["error"]["message"]
    with make_client() as open_client:
        assert 'data-open-mode="true"' in open_client.get("/dashboard").text


def test_a_bare_iou_call_with_a_run_feeds_the_stats(keyed: TestClient) -> None:
    # Two groups of a plain /v1/rewards/iou call: one dead (both miss), one live.
    batch = items((MISS, "a"), (MISS, "a"), (HIT, "b"), (MISS, "b"))
    body = {"items": batch, "run_id": "bare", "step": 2, "params": {"mode": "threshold"}}
    assert keyed.post("/v1/rewards/iou", headers=ALICE, json=body).status_code == 200
    step = stats(keyed, "bare")["steps"][0]
    assert (step["step"], step["groups"], step["dead_groups"], step["phantom_groups"]) == (2, 2, 1, 0)
    assert step["components"]["iou"]["mean"] == pytest.approx(0.25)
