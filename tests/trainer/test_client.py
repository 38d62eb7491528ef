"""The HTTP clients against a scripted service (``httpx.MockTransport``): retries, ids, chunking, errors.

Every scenario runs on both clients: the async one must behave exactly as the sync one.
"""

from __future__ import annotations

import json
import random

import httpx
import pytest

from scorers import Item
from tests.trainer.scripted_service import ITEMS, Runner, Service, error
from trainer import MedRewardError, ScoreResult
from trainer.batching import plan_chunks
from trainer.retry import RetryPolicy


@pytest.mark.parametrize(
    "failure",
    [
        error(503, "store_unavailable", headers={"Retry-After": "1"}),  # the store is down: retry
        error(429, "too_many_requests"),  # backpressure
        httpx.Response(502, text="<html>bad gateway</html>"),  # a proxy in front of the replicas
        httpx.Response(504, text="gateway timeout"),
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("read timed out"),
        httpx.ReadError("connection reset by peer"),
        httpx.RemoteProtocolError("server disconnected without sending a response"),
    ],
    ids=["503", "429", "502", "504", "connect", "read-timeout", "reset", "disconnect"],
)
def test_retries_with_the_same_request_id(run: Runner, failure: httpx.Response | Exception) -> None:
    svc = Service([failure, failure])
    client = run.client(svc, max_retries=3)
    out = run.call(client, "score", ITEMS, "vqa-closed", run_id="exp-1", step=4)
    assert out.rewards == [0.5, 1.0]
    assert len(svc.requests) == 3
    ids = {b["request_id"] for b in svc.bodies()}
    assert len(ids) == 1, "every retry must carry the first attempt's request_id"
    assert {r.headers["x-request-id"] for r in svc.requests} == ids
    assert all(b["run_id"] == "exp-1" and b["step"] == 4 for b in svc.bodies())
    assert len(run.sleeps) == 2


@pytest.mark.parametrize(
    ("response", "code", "field"),
    [
        (
            error(422, "invalid_field", "items[0].boxes: four finite numbers", "items[0].boxes"),
            "invalid_field",
            "items[0].boxes",
        ),
        (error(404, "run_not_found", "unknown run 'x'", "run_id"), "run_not_found", "run_id"),
        (error(401, "unauthorized", "missing API key"), "unauthorized", None),
        (error(500, "internal_error", "a bug"), "internal_error", None),  # a bug: repeating it helps nobody
        (error(413, "too_many_items", "at most 512", "items"), "too_many_items", "items"),
    ],
    ids=["422", "404", "401", "500", "413"],
)
def test_no_retry_on_other_errors(run: Runner, response: httpx.Response, code: str, field: str | None) -> None:
    svc = Service([response])
    client = run.client(svc, max_retries=5)
    with pytest.raises(MedRewardError) as info:
        run.call(client, "score", ITEMS, "vqa-closed")
    assert len(svc.requests) == 1
    err = info.value
    assert (err.status, err.code) == (response.status_code, code)
    assert err.message == response.json()["error"]["message"]
    assert err.field == field
    assert err.request_id == svc.bodies()[0]["request_id"]
    assert code in str(err)


def test_gives_up_after_max_retries_with_the_last_error(run: Runner) -> None:
    svc = Service([error(503, "store_unavailable", "the run store is unavailable; retry")] * 10)
    client = run.client(svc, max_retries=2, backoff=0.1)
    with pytest.raises(MedRewardError) as info:
        run.call(client, "score", ITEMS, "vqa-closed")
    assert len(svc.requests) == 3
    assert (info.value.status, info.value.code) == (503, "store_unavailable")
    # Exponential with jitter: each wait within [half, all] of 0.1·2^k.
    assert len(run.sleeps) == 2
    for k, wait in enumerate(run.sleeps):
        assert 0.05 * 2**k <= wait <= 0.1 * 2**k


def test_transport_error_after_retries_says_no_answer(run: Runner) -> None:
    svc = Service([httpx.ConnectError("refused")] * 3)
    client = run.client(svc, max_retries=2)
    with pytest.raises(MedRewardError) as info:
        run.call(client, "score", ITEMS, "vqa-closed")
    assert info.value.status is None and info.value.code == "unreachable"
    assert isinstance(info.value.__cause__, httpx.ConnectError)


def test_retry_after_is_honoured(run: Runner) -> None:
    svc = Service([error(429, headers={"Retry-After": "7"}), error(503, headers={"Retry-After": "0"})])
    client = run.client(svc, backoff=0.01)
    run.call(client, "score", ITEMS, "vqa-closed")
    assert run.sleeps == [7.0, 0.0]


def test_deadline_stops_retrying_before_it_is_passed(run: Runner) -> None:
    svc = Service([error(503, headers={"Retry-After": "30"})] * 3)
    client = run.client(svc, max_retries=5, deadline=10.0)
    with pytest.raises(MedRewardError):
        run.call(client, "score", ITEMS, "vqa-closed")
    assert len(svc.requests) == 1 and run.sleeps == []  # waiting 30 s would blow a 10 s budget


def test_request_id_generated_per_call_or_taken_from_the_caller(run: Runner) -> None:
    svc = Service()
    client = run.client(svc)
    run.call(client, "score", ITEMS, "vqa-closed")
    run.call(client, "score", ITEMS, "vqa-closed")
    run.call(client, "score", ITEMS, "vqa-closed", request_id="step-9.rank-0")
    first, second, third = (b["request_id"] for b in svc.bodies())
    assert len(first) == 32 and first != second
    assert third == "step-9.rank-0"


def test_details_false_is_sent_only_when_asked(run: Runner) -> None:
    svc = Service()
    client = run.client(svc)
    run.call(client, "score", ITEMS, "vqa-closed")
    run.call(client, "score", ITEMS, "vqa-closed", details=False)
    run.call(client, "reward", "format", ITEMS, details=False)
    asked = [b.get("details", "default") for b in svc.bodies()]
    assert asked == ["default", False, False]


def test_chunks_keep_groups_whole_and_results_in_order(run: Runner) -> None:
    # Ten items in four groups, interleaved; max_batch 4 → chunks of whole groups.
    groups = ["a", "b", "a", "c", "b", "a", "d", "d", "c", "c"]
    items = [{"completion": str(i), "group": g} for i, g in enumerate(groups)]
    svc = Service()
    client = run.client(svc, max_batch=4)
    out = run.call(client, "score", items, "grounding-medloc", run_id="exp-2", request_id="s3")
    assert out.rewards == [float(i) for i in range(10)]
    assert out.components["answer"] == [float(i) for i in range(10)]
    bodies = svc.bodies()
    assert [b["request_id"] for b in bodies] == [f"s3.{k}" for k in range(len(bodies))]
    for b in bodies:
        assert len(b["items"]) <= 4
        assert b["run_id"] == "exp-2"
    seen = [{it["group"] for it in b["items"]} for b in bodies]
    for g in set(groups):
        assert sum(g in s for s in seen) == 1, f"group {g} was split across chunks"
    assert out.schedule == {"tau": pytest.approx(0.3 + 0.1 * len(bodies))}  # the last chunk's state


def test_chunk_retry_reuses_that_chunks_id(run: Runner) -> None:
    items = [{"completion": str(i)} for i in range(5)]
    svc = Service()
    original = svc.__call__
    failed: list[str] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        rid = json.loads(request.content)["request_id"]
        if rid.endswith(".1") and not failed:
            failed.append(rid)
            svc.requests.append(request)
            return error(503)
        return original(request)

    client = run.client(flaky, max_batch=2)
    out = run.call(client, "score", items, "vqa-closed", request_id="r")
    assert out.rewards == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert [b["request_id"] for b in svc.bodies()] == ["r.0", "r.1", "r.1", "r.2"]


def test_long_request_id_is_hashed_for_chunks() -> None:
    svc = Service()
    client = Runner("sync").client(svc, max_batch=1)
    client.score(ITEMS, "vqa-closed", request_id="x" * 128)
    ids = [b["request_id"] for b in svc.bodies()]
    assert all(len(i) <= 128 for i in ids) and len(set(ids)) == 2


def test_items_as_models_dicts_and_reasons(run: Runner) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body["items"][0] == {"completion": "<answer>yes</answer>", "reference": "yes", "kind": "closed"}
        assert body["items"][1] == {"completion": "<answer>no</answer>"}
        return httpx.Response(
            200,
            json={
                "rewards": [1.0, None],
                "components": {"format": [1.0, 1.0], "answer": [1.0, None]},
                "weights": {"format": 0.2, "answer": 0.8},
                "status": ["ok", "unscorable"],
                "reasons": [None, "answer abstained: no reference"],
                "details": [{}, {"answer": {"reason": "no reference"}}],
            },
        )

    client = run.client(handler)
    items = [
        Item(completion="<answer>yes</answer>", reference="yes", kind="closed"),
        {"completion": "<answer>no</answer>"},
    ]
    out: ScoreResult = run.call(client, "score", items, "vqa-closed")
    assert out.rewards == [1.0, None] and out.abstained == [False, True]
    assert out.reasons == [None, "answer abstained: no reference"]
    assert out.item_reason(1) == "answer abstained: no reference"
    assert out.components["answer"] == [1.0, None]


def test_older_server_without_reasons_still_explains() -> None:
    doc = {
        "rewards": [None],
        "components": {"format": [1.0], "iou": [None]},
        "weights": {"format": 0.1, "iou": 0.9},
        "status": ["unscorable"],
        "details": [{"iou": {"reason": "no reference boxes"}}],
    }
    out = ScoreResult.from_json(doc)
    assert out.reasons == [None]
    assert out.item_reason(0) == "iou abstained: no reference boxes"


def test_routes_methods_paths_and_auth(run: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDREWARD_URL", "http://env-host:9000/")
    monkeypatch.setenv("MEDREWARD_API_KEY", "k-123")
    seen: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path))
        assert request.url.host == "env-host" and request.url.port == 9000
        assert request.headers["authorization"] == "Bearer k-123"
        path = request.url.path
        if request.method == "DELETE":
            return httpx.Response(204)
        if path == "/v1/runs" and request.method == "GET":
            return httpx.Response(200, json={"runs": [{"run_id": "a"}]})
        if path == "/v1/profiles" and request.method == "GET":
            return httpx.Response(200, json={"profiles": [{"name": "p"}]})
        if path == "/v1/rewards":
            return httpx.Response(200, json={"rewards": [{"name": "iou"}]})
        if path.endswith("/history"):
            return httpx.Response(200, json={"run_id": "a", "history": [{"step": 3}]})
        if path == "/v1/rewards/iou" and request.method == "POST":
            body = json.loads(request.content)
            assert body["params"] == {"mode": "continuous"} and body["group_size"] == 4
            n = len(body["items"])
            return httpx.Response(200, json={"rewards": [0.5] * n, "status": ["ok"] * n, "details": [{}] * n})
        return httpx.Response(200, json={"path": path, "body": json.loads(request.content or b"null")})

    client = run.client(handler, base_url=None)
    assert run.call(client, "list_runs") == [{"run_id": "a"}]
    assert run.call(client, "list_profiles") == [{"name": "p"}]
    assert run.call(client, "list_rewards") == [{"name": "iou"}]
    assert run.call(client, "run_history", "a") == [{"step": 3}]
    assert run.call(client, "create_run", "a", "fixed", {"tau": 0.5})["body"] == {
        "run_id": "a",
        "scheduler": "fixed",
        "config": {"tau": 0.5},
    }
    assert run.call(client, "put_profile", "p", {"components": []})["body"] == {"components": []}
    for method, args in [
        ("get_reward", ("iou",)),
        ("get_profile", ("p",)),
        ("get_run", ("a",)),
        ("reset_run", ("a",)),
        ("health", ()),
        ("ready", ()),
    ]:
        assert "path" in run.call(client, method, *args)
    assert run.call(client, "delete_run", "a") is None
    assert run.call(client, "delete_profile", "p") is None
    reward = run.call(client, "reward", "iou", [{"completion": "[1,2,3,4]"}], {"mode": "continuous"}, group_size=4)
    assert reward.rewards == [0.5]
    assert seen == [
        ("GET", "/v1/runs"),
        ("GET", "/v1/profiles"),
        ("GET", "/v1/rewards"),
        ("GET", "/v1/runs/a/history"),
        ("POST", "/v1/runs"),
        ("PUT", "/v1/profiles/p"),
        ("GET", "/v1/rewards/iou"),
        ("GET", "/v1/profiles/p"),
        ("GET", "/v1/runs/a"),
        ("POST", "/v1/runs/a/reset"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("DELETE", "/v1/runs/a"),
        ("DELETE", "/v1/profiles/p"),
        ("POST", "/v1/rewards/iou"),
    ]


@pytest.mark.parametrize(
    ("groups", "max_batch", "chunks"),
    [
        ("aabbbc", 3, [[0, 1], [2, 3, 4], [5]]),  # a group never straddles two chunks
        ("aaaaab", 3, [[0, 1, 2, 3, 4], [5]]),  # a group larger than max_batch travels alone
        ("abab", 2, [[0, 2], [1, 3]]),  # interleaved groups are gathered
        ("----", 3, [[0, 1, 2], [3]]),  # no groups: plain slices
    ],
)
def test_plan_chunks(groups: str, max_batch: int, chunks: list[list[int]]) -> None:
    items = [{"group": None if g == "-" else g} for g in groups]
    assert plan_chunks(items, max_batch) == chunks


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(backoff=1.0, backoff_max=4.0, rng=random.Random(1))
    assert all(2.0 <= policy.delay(k, None) <= 4.0 for k in range(3, 12))


def test_error_is_picklable() -> None:
    import pickle

    err = pickle.loads(pickle.dumps(MedRewardError(422, "invalid_field", "bad box", "items[0].boxes", "r1")))
    assert (err.status, err.code, err.message, err.field, err.request_id) == (
        422,
        "invalid_field",
        "bad box",
        "items[0].boxes",
        "r1",
    )
