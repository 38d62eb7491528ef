"""Hostile input against the in-process app: each request shape a probe turned into a 5xx, a wrong
reward, seconds of CPU or another tenant's data, answered as it must be now.

Connection behaviour (413 draining, keep-alive after a 500) needs a real server: tests/e2e/test_hardening.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.main import create_app
from app.profile_checks import ProfileFileError
from app.settings import Settings
from tests.app.conftest import ALICE, BOB, KEYS, make_client

LONE = "\ud800"  # valid JSON ("\\ud800"), not Unicode text
FFFD = "\ufffd"
GROUNDING = {"completion": "<answer>[10, 10, 50, 50]</answer>", "boxes": [[10, 10, 50, 50]]}
NEMO_RESPONSE = {"output": [{"type": "message", "content": [{"type": "output_text", "text": "<answer>no</answer>"}]}]}


def send(c: TestClient, method: str, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    """The body as an ASCII-only JSON encoder writes it: lone surrogates as \\uXXXX escapes."""
    raw = body if isinstance(body, str | bytes) else json.dumps(body)
    return c.request(method, path, content=raw, headers={"content-type": "application/json", **(headers or {})})


def nested(depth: int) -> Any:
    doc: Any = "leaf"
    for _ in range(depth):
        doc = {"k": doc}
    return doc


@pytest.fixture
def sqlite_client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(store_url=f"sqlite:///{tmp_path}/runs.db") as c:
        yield c


# ---- lone surrogates: replaced at the boundary, so every echo renders -------------------------


@pytest.mark.parametrize(
    ("path", "body", "pick"),
    [
        (
            "/v1/rewards/answer",
            {"items": [{"completion": f"<answer>{LONE}yes</answer>", "reference": "yes"}]},
            lambda r: r["details"][0]["answer"],
        ),
        (
            "/v1/rewards/semantic",
            {
                "items": [{"completion": f"<answer>eff{LONE}usion</answer>", "reference": "effusion"}],
                "params": {"backend": "lexical"},
            },
            lambda r: r["details"][0]["answer"],
        ),
        (
            "/v1/score",
            {
                "profile": {"components": [{"reward": "answer"}, {"reward": "format", "name": f"fmt{LONE}"}]},
                "items": [{"completion": "<think>a</think><answer>b</answer>", "reference": "b"}],
            },
            lambda r: list(r["components"])[1],
        ),
        (
            "/verify/vqa-closed",
            {"responses_create_params": {"input": []}, "response": NEMO_RESPONSE, "note": f"x{LONE}"},
            lambda r: r["note"],
        ),
    ],
    ids=["answer-details", "semantic-details", "component-name", "nemo-gym-echo"],
)
def test_lone_surrogates_are_replaced_wherever_text_comes_back(
    client: TestClient, path: str, body: dict[str, Any], pick: Any
) -> None:
    resp = send(client, "POST", path, body)
    assert resp.status_code == 200, resp.text
    assert FFFD in pick(resp.json())


def test_a_group_named_with_a_lone_surrogate_is_reported_once_and_its_retry_replays(
    sqlite_client: TestClient,
) -> None:
    """The report is committed only for a response that renders; the trainer's retry gets the same step."""
    sqlite_client.post("/v1/runs", json={"run_id": "r", "scheduler": "fixed", "config": {"tau": 0.5}})
    body = {"items": [{**GROUNDING, "group": f"img{LONE}"}], "run_id": "r", "request_id": "step-1"}
    first = send(sqlite_client, "POST", "/v1/rewards/iou", body)
    assert first.status_code == 200, first.text
    assert first.json()["schedule"]["group_tau"] == {f"img{FFFD}": 0.5}
    retry = send(sqlite_client, "POST", "/v1/rewards/iou", body)
    assert retry.status_code == 200 and retry.json()["schedule"]["replayed"] is True
    assert retry.json()["rewards"] == first.json()["rewards"] == [1.0]
    assert sqlite_client.get("/v1/runs/r").json()["groups"] == 1


def test_profile_text_with_lone_surrogates_is_stored_and_read_back(sqlite_client: TestClient) -> None:
    body = {"description": f"chest{LONE}", "components": [{"reward": "answer", "name": f"a{LONE}"}]}
    assert send(sqlite_client, "PUT", "/v1/profiles/mine", body).status_code == 200
    got = sqlite_client.get("/v1/profiles/mine").json()["profile"]
    assert got["description"] == f"chest{FFFD}" and got["components"][0]["name"] == f"a{FFFD}"


def test_surrogate_pairs_and_escaped_backslashes_are_text_and_kept(client: TestClient) -> None:
    # json.dumps writes 😀 as the pair \ud83d\ude00; "\\ud800" is a backslash and five letters.
    body = {"responses_create_params": {"input": []}, "response": NEMO_RESPONSE, "a": "😀", "b": "\\ud800"}
    raw = json.dumps(body)
    assert "\\ud83d\\ude00" in raw and "\\\\ud800" in raw
    got = send(client, "POST", "/verify/vqa-closed", raw).json()
    assert (got["a"], got["b"]) == ("😀", "\\ud800")


# ---- nesting: bounded before any route runs -------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        (
            "POST",
            "/verify/vqa-closed",
            {"responses_create_params": {"input": []}, "response": NEMO_RESPONSE, "x": nested(300)},
        ),
        ("PUT", "/v1/profiles/deep", {"components": [{"reward": "iou"}], "scheduler": {"config": nested(300)}}),
        ("POST", "/v1/rewards/answer", {"items": [{"completion": "a"}], "params": nested(300)}),
        ("POST", "/slime/vqa-closed", {"response": "yes", "label": nested(300)}),
        ("POST", "/v1/runs", {"config": nested(80)}),
    ],
    ids=["nemo-gym-echo", "profile-scheduler-config", "reward-params", "slime-label", "run-config"],
)
def test_json_nested_past_the_limit_is_a_422_not_a_500(client: TestClient, method: str, path: str, body: Any) -> None:
    resp = send(client, method, path, body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] == "too_deeply_nested"
    assert "MEDREWARD_MAX_JSON_DEPTH" in resp.json()["error"]["message"]


def test_nesting_within_the_limit_is_echoed_whole(client: TestClient) -> None:
    body = {"responses_create_params": {"input": []}, "response": NEMO_RESPONSE, "tools": nested(50)}
    resp = send(client, "POST", "/verify/vqa-closed", body)
    assert resp.status_code == 200 and resp.json()["tools"] == nested(50)


# ---- sizes that cost other tenants CPU ----------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "field", "code"),
    [
        ({"reference": [f"finding {i}" for i in range(33)]}, "items[0].reference", "too_many_references"),
        ({"reference": "x" * 4097}, "items[0].reference", "reference_too_long"),
        ({"reference": ["ok", "y" * 5000]}, "items[0].reference[1]", "reference_too_long"),
        (
            {"options": {f"O{i}": "opt" for i in range(40)}, "reference": "O1"},
            "items[0].options",
            "too_many_references",
        ),
        ({"grades": [f"g{i}" for i in range(40)], "reference": "g1"}, "items[0].grades", "too_many_references"),
        ({"knowledge": "k" * 5000}, "items[0].knowledge", "reference_too_long"),
        ({"group": "g" * 300}, "items[0].group", "group_too_long"),
    ],
    ids=["references", "reference-chars", "one-long-reference", "options", "grades", "knowledge", "group-id"],
)
def test_reference_lists_and_texts_are_bounded(
    client: TestClient, item: dict[str, Any], field: str, code: str
) -> None:
    body = {"items": [{"completion": "<answer>effusion</answer>", **item}], "params": {"backend": "lexical"}}
    resp = client.post("/v1/rewards/semantic", json=body)
    assert resp.status_code == 413, resp.text
    assert (resp.json()["error"]["code"], resp.json()["error"]["field"]) == (code, field)


def test_the_reference_limit_reaches_the_adapters(client: TestClient) -> None:
    label = json.dumps({"reference": [f"finding {i}" for i in range(2000)]})
    resp = client.post("/openrlhf/vqa-open", json={"query": ["<answer>x</answer>"], "labels": [label]})
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "too_many_references"


def test_thirty_two_references_score(client: TestClient) -> None:
    refs = [f"finding {i}" for i in range(31)] + ["pleural effusion"]
    body = {
        "items": [{"completion": "<answer>pleural effusion</answer>", "reference": refs}],
        "params": {"backend": "lexical"},
    }
    assert client.post("/v1/rewards/semantic", json=body).json()["rewards"] == [1.0]


def test_polygon_vertices_are_bounded(client: TestClient) -> None:
    square = [[0, 0], [10, 0], [10, 10], [0, 10]]
    many = [[float(i), float(i % 7)] for i in range(1001)]
    ok = client.post("/v1/rewards/iou", json={"items": [{"completion": "[0, 0, 10, 10]", "polygons": [square]}]})
    assert ok.json()["rewards"] == [1.0]
    resp = client.post("/v1/rewards/iou", json={"items": [{"completion": "[0, 0, 10, 10]", "polygons": [many]}]})
    assert resp.status_code == 413 and resp.json()["error"]["field"] == "items[0].polygons"


def test_a_large_self_intersecting_reference_polygon_is_unscorable_at_once(client: TestClient) -> None:
    import math

    star = [[200 + 100 * math.cos(2.1 * i), 200 + 100 * math.sin(2.1 * i)] for i in range(250)]
    start = time.perf_counter()
    resp = client.post("/v1/rewards/iou", json={"items": [{"completion": "[100, 100, 300, 300]", "polygons": [star]}]})
    assert time.perf_counter() - start < 5.0, "repairing it took minutes before the bound"
    # A malformed reference is the dataset's bug: 422 naming it (a predicted one is unscorable).
    assert resp.status_code == 422 and resp.json()["error"]["field"] == "items[0].polygons"
    assert "self-intersecting" in resp.json()["error"]["message"]


def test_self_intersecting_outlines_are_repaired_a_few_per_item_only(client: TestClient) -> None:
    """Even small repairs add up: 8 items x 62 sixteen-vertex stars took 15 s of one request before."""
    import math

    def star(dx: float) -> list[list[float]]:
        return [[200 + dx + 100 * math.cos(2.1 * i), 200 + 100 * math.sin(2.1 * i)] for i in range(16)]

    bowtie = [[0, 0], [20, 20], [20, 0], [0, 20]]
    one = client.post("/v1/rewards/iou", json={"items": [{"completion": "[0, 0, 20, 20]", "polygons": [bowtie]}]})
    assert one.status_code == 200 and one.json()["rewards"][0] == pytest.approx(0.5)
    item = {"completion": "[100, 100, 300, 300]", "polygons": [star(j) for j in range(62)]}
    start = time.perf_counter()
    resp = client.post("/v1/rewards/iou", json={"items": [item] * 8})
    assert time.perf_counter() - start < 5.0
    assert resp.status_code == 422 and "self-intersecting outlines in one item" in resp.json()["error"]["message"]


@pytest.mark.parametrize(
    ("path", "raw", "field"),
    [
        (
            "/v1/rewards/length",
            '{"items": [{"completion": "a", "num_tokens": 1%s}], "params": {"mode": "ecr", "unit": '
            '"tokens"}}' % ("0" * 400),
            "items[0].num_tokens",
        ),
        (
            "/slime/vqa-closed",
            '{"response": "yes", "label": {"reference": "yes", "num_tokens": 1%s}}' % ("0" * 40),
            "response[0].num_tokens",
        ),
    ],
    ids=["length-ecr", "slime-label"],
)
def test_num_tokens_beyond_any_completion_is_a_422(client: TestClient, path: str, raw: str, field: str) -> None:
    resp = send(client, "POST", path, raw)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["field"] == field


# ---- run configs, profiles, weights ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scheduler": "step", "config": {"milestones": [[i, 0.5] for i in range(1001)]}}, "config.milestones"),
        ({"config": {"stages": [{"min_tau": 0.0, "min_reward": 0.5, "max_std": 0.5}] * 17}}, "config.stages"),
        ({"config": {"delta1": 1e-12}}, "config.delta1"),
    ],
    ids=["milestones", "stages", "vanishing-delta"],
)
def test_run_configs_that_would_grow_the_run_record_are_refused(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    resp = client.post("/v1/runs", json=body)
    assert resp.status_code == 422 and resp.json()["error"]["field"] == field


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ('{"window": 1000000000}', "body.scheduler.config.window"),
        ('{"windw": 30}', "body.scheduler.config.windw"),
        ('{"tau0": NaN}', "body.scheduler.config.tau0"),
    ],
    ids=["window-1e9", "unknown-key", "nan"],
)
def test_profile_scheduler_configs_are_validated_when_saved(client: TestClient, config: str, field: str) -> None:
    raw = '{"components": [{"reward": "iou"}], "scheduler": {"type": "medloc", "config": CONFIG}}'
    raw = raw.replace("CONFIG", config)
    resp = send(client, "PUT", "/v1/profiles/grounding", raw)
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["field"] == field
    assert client.get("/v1/profiles/grounding").status_code == 404


@pytest.mark.parametrize("route", ["put", "inline"])
def test_subnormal_weights_are_refused(client: TestClient, route: str) -> None:
    profile = {"components": [{"reward": "answer", "weight": 5e-324}, {"reward": "format", "weight": 5e-324}]}
    if route == "put":
        resp = client.put("/v1/profiles/tiny", json=profile)
    else:
        resp = client.post("/v1/score", json={"profile": profile, "items": [{"completion": "<answer>a</answer>"}]})
    assert resp.status_code == 422 and resp.json()["error"]["field"].endswith("components[0].weight")


def test_a_zero_weight_still_leaves_a_component_out(client: TestClient) -> None:
    profile = {"components": [{"reward": "format", "weight": 0.0}, {"reward": "answer", "weight": 1.0}]}
    body = {"profile": profile, "items": [{"completion": "<answer>yes</answer>", "reference": "no"}]}
    resp = client.post("/v1/score", json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["weights"]["format"] == 0.0 and resp.json()["rewards"] == [0.0]


def _start_with_file(tmp_path: Path, profiles: dict[str, Any], **settings: Any) -> TestClient:
    path = tmp_path / "profiles.yaml"
    path.write_text(json.dumps(profiles))  # JSON is YAML
    client = TestClient(create_app(Settings(store_url="memory://", load_models=False, profiles_file=path, **settings)))
    client.__enter__()
    return client


def test_profiles_file_with_a_bad_scheduler_config_does_not_start(tmp_path: Path) -> None:
    bad = {"g": {"components": [{"reward": "iou"}], "scheduler": {"config": {"window": 10**9}}}}
    with pytest.raises(ProfileFileError, match=r"profile 'g'.*window"):
        _start_with_file(tmp_path, bad)


def test_profiles_file_obeys_the_judge_allow_list(tmp_path: Path) -> None:
    judge = {
        "components": [{"reward": "semantic", "params": {"backend": "judge", "judge_url": "http://10.0.0.9:8000"}}]
    }
    with pytest.raises(ProfileFileError, match="judge_url"):
        _start_with_file(tmp_path, {"j": judge})
    client = _start_with_file(tmp_path, {"j": judge}, allowed_judge_urls="http://10.0.0.9:8000")
    try:
        assert client.get("/v1/profiles/j").json()["source"] == "file"
    finally:
        client.__exit__(None, None, None)


# ---- idempotency -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/rewards/iou", "/v1/score"])
def test_a_request_id_reused_for_other_items_is_a_409(client: TestClient, path: str) -> None:
    client.post("/v1/runs", json={"run_id": "r", "scheduler": "fixed", "config": {"tau": 0.5}})
    extra = {"profile": "grounding-medloc"} if path == "/v1/score" else {}
    first = {"items": [{**GROUNDING, "group": "img-1"}], "run_id": "r", "request_id": "step-1", **extra}
    other = {**first, "items": [{**GROUNDING, "completion": "<answer>[10, 10, 90, 90]</answer>", "group": "img-2"}]}
    one = client.post(path, json=first)
    assert one.status_code == 200, one.text
    reused = client.post(path, json=other)
    assert reused.status_code == 409, reused.text
    assert (reused.json()["error"]["code"], reused.json()["error"]["field"]) == ("request_id_reused", "request_id")
    retry = client.post(path, json=first)
    assert retry.json()["rewards"] == one.json()["rewards"] and retry.json()["schedule"]["replayed"] is True


# ---- 500s and /metrics ------------------------------------------------------------------------------


def test_a_bug_is_a_500_in_the_error_shape_with_the_request_id() -> None:
    app: FastAPI = create_app(Settings(store_url="memory://", load_models=False))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app) as c:
        resp = c.get("/boom", headers={"X-Request-ID": "trace-42"})
    assert resp.status_code == 500
    assert resp.headers["x-request-id"] == "trace-42"
    assert resp.json()["error"]["code"] == "internal" and "X-Request-ID" in resp.json()["error"]["message"]


def test_an_unrenderable_response_falls_back_instead_of_failing_after_the_report() -> None:
    from app.api.responses import json_response
    from app.schemas import RewardResponse

    resp = json_response(RewardResponse(rewards=[float("nan")], status=["ok"], details=[{"why": LONE, "n": {1, 2}}]))
    doc = json.loads(resp.body)
    assert doc["rewards"] == [None] and doc["details"][0]["why"] == LONE


def _run_series(text: str) -> list[str]:
    # This test's runs only: the Prometheus registry is per process, shared with earlier tests.
    mine = ('run_id="alice-study"', 'run_id="bob-study"')
    return sorted(
        line for line in text.splitlines() if line.startswith("medreward_run_tau{") and any(m in line for m in mine)
    )


def test_metrics_show_tenant_series_only_to_their_tenant_or_the_metrics_key() -> None:
    with make_client(api_keys=KEYS, metrics_key="metrics-key-7") as c:
        c.post("/v1/runs", json={"run_id": "alice-study"}, headers=ALICE)
        c.post("/v1/runs", json={"run_id": "bob-study"}, headers=BOB)
        anonymous = c.get("/metrics")
        assert anonymous.status_code == 200 and "medreward_http_requests_total" in anonymous.text
        assert "alice-study" not in anonymous.text and "bob-study" not in anonymous.text
        assert _run_series(c.get("/metrics", headers=ALICE).text) == [
            'medreward_run_tau{run_id="alice-study",tenant="alice"} 0.3'
        ]
        assert "alice-study" not in c.get("/metrics", headers=BOB).text
        full = c.get("/metrics", headers={"Authorization": "Bearer metrics-key-7"}).text
        assert 'run_id="alice-study"' in full and 'run_id="bob-study"' in full
        assert c.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401


# ---- adapter paths (fixed in app/adapters) ----------------------------------------------------------


def test_nemo_gym_rollout_that_already_carries_a_reward_is_scored_afresh(client: TestClient) -> None:
    body = {
        "responses_create_params": {"input": []},
        "response": NEMO_RESPONSE,
        "reward": 123.0,
        "reward_components": {},
    }
    resp = client.post("/verify/vqa-closed", json=body)
    assert resp.status_code in (200, 422), resp.text
    assert resp.status_code == 422 or resp.json()["reward"] != 123.0


@pytest.mark.parametrize("route", ["openrlhf", "slime"])
def test_labels_that_are_json_nested_past_recursion_are_a_4xx(client: TestClient, route: str) -> None:
    label = '{"reference": ' + "[" * 1500 + "]" * 1500 + "}"
    if route == "openrlhf":
        resp = client.post("/openrlhf/vqa-closed", json={"query": ["<answer>yes</answer>"], "labels": [label]})
    else:
        resp = client.post("/slime/vqa-closed", json={"response": "<answer>yes</answer>", "label": label})
    assert 400 <= resp.status_code < 500, resp.text


def test_nemo_gym_metrics_past_float_range_are_left_out_of_the_aggregate(client: TestClient) -> None:
    # JSON allows integers of any length; float() raises on one past 1.8e308 (found by the fuzz test).
    huge = "1" + "0" * 400
    rows = [
        f'{{"reward": {huge}, "steps": {huge}, "score": 0.5, "_ng_task_index": 0}}',
        '{"reward": 1.0, "steps": 3, "score": 1.5, "_ng_task_index": 0}',
    ]
    body = '{"verify_responses": [' + ", ".join(rows) + "]}"
    resp = client.post(
        "/nemo-gym/vqa-closed/aggregate_metrics", content=body, headers={"content-type": "application/json"}
    )
    assert resp.status_code == 200, resp.text
    agent = resp.json()["agent_metrics"]
    assert (agent["mean/score"], agent["mean/steps"], agent["mean/reward"]) == (1.0, 3.0, 1.0)
    assert "medreward/dead_group_rate" not in agent, "one finite reward: no group to judge"
