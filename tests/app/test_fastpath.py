"""The fast path for the hot scoring POSTs answers exactly as the full FastAPI stack does.

Each request is sent twice: as is (eligible for the fast path) and with a query string, which
always takes the full stack (the routes take no query parameters, so it changes nothing else).
Status, body and content type must match, and the fast path must have served the happy cases.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from fastapi.testclient import TestClient

import app.fastpath as fastpath
from app.json_body import json_depth
from app.lean_requests import LEAN_DEPTH, nesting, plain_reward_request
from app.settings import Settings
from tests.app.conftest import ALICE, KEYS, make_client

BOX = {"completion": "<think>t</think><answer>[10, 10, 50, 50]</answer>", "boxes": [[10, 10, 50, 52]]}
MCQ = {"completion": "<think>t</think><answer>B</answer>", "reference": "B", "options": {"A": "x", "B": "y"}}
JSON = {"content-type": "application/json"}
MSGPACK = {"accept": "application/msgpack, application/json;q=0.9"}

SERVED: list[tuple[str, Any, dict[str, str]]] = [
    ("/v1/rewards/iou", {"items": [BOX]}, {}),
    ("/v1/rewards/iou", {"items": [BOX] * 20, "params": {"mode": "threshold", "tau": 0.5}}, {}),
    ("/v1/rewards/format", {"items": [MCQ]}, {}),
    ("/v1/rewards/answer", {"items": [MCQ, {"completion": "no answer", "reference": "B"}]}, {}),
    ("/v1/score", {"profile": "vqa-mcq", "items": [MCQ]}, {}),
    (
        "/v1/score",
        {"profile": {"components": [{"reward": "format"}, {"reward": "iou", "weight": 2}]}, "items": [BOX]},
        {},
    ),
    ("/v1/rewards/iou", {"items": [BOX]}, {"content-type": "application/json; charset=utf-8"}),
    ("/v1/rewards/iou", {"items": [BOX] * 20 + [{"completion": "no box"}], "details": False}, {}),
    ("/v1/score", {"profile": "vqa-mcq", "items": [MCQ], "details": False}, {}),
    # The client library names every call: a request id without a run stays on the lean decoder.
    ("/v1/rewards/iou", {"items": [BOX], "request_id": "step-3.0:a_b-c"}, {}),
    ("/v1/score", {"profile": "vqa-mcq", "items": [MCQ], "request_id": "r" * 128}, {}),
    # MessagePack when the caller asks for it, as the client library does.
    ("/v1/rewards/iou", {"items": [BOX] * 20 + [{"completion": "no box"}]}, MSGPACK),
    ("/v1/rewards/answer", {"items": [MCQ], "details": False}, MSGPACK),
    ("/v1/score", {"profile": "vqa-mcq", "items": [MCQ, {"completion": "none", "reference": "B"}]}, MSGPACK),
    ("/v1/rewards/iou", {"items": [BOX]}, {"accept": "application/json, application/msgpack;q=0.5"}),
]

REFUSED: list[tuple[str, Any, dict[str, str]]] = [
    ("/v1/rewards/nope", {"items": [BOX]}, {}),
    ("/v1/rewards/iou", {"items": [{"completion": 3}]}, {}),
    ("/v1/rewards/iou", {"items": [BOX], "extra": 1}, {}),
    ("/v1/rewards/iou", {"items": [BOX], "details": "no"}, {}),
    # Request ids the model refuses ("$" would let msgspec take the newline), or that come with a run.
    ("/v1/rewards/iou", {"items": [BOX], "request_id": "r1\n"}, {}),
    ("/v1/rewards/iou", {"items": [BOX], "request_id": ""}, {}),
    ("/v1/rewards/iou", {"items": [BOX], "request_id": "r" * 129}, {}),
    ("/v1/rewards/iou", {"items": [BOX], "request_id": "r/1"}, {}),
    ("/v1/score", {"profile": "vqa-mcq", "items": [MCQ], "request_id": "é"}, {}),
    ("/v1/rewards/iou", {"items": [BOX], "request_id": "r1", "step": 2}, {}),
    ("/v1/rewards/iou", {"items": [BOX], "params": {"mode": "sloppy"}}, {}),
    ("/v1/rewards/format", {"items": [MCQ], "run_id": "r1"}, {}),
    ("/v1/rewards/iou", {"items": [BOX] * 2000}, {}),
    ("/v1/rewards/iou", "not json", {}),
    ("/v1/rewards/iou", '{"items": [{"completion": NaN}]}', {}),
    ("/v1/rewards/iou", '{"items": [{"completion": "\\ud800"}]}', {}),
    ("/v1/rewards/iou", "", {}),
    ("/v1/rewards/iou", {"items": [BOX]}, {"content-type": "text/plain"}),
    ("/v1/rewards/iou", {"items": [{"completion": 3}]}, MSGPACK),  # errors stay JSON
    ("/v1/score", {"profile": "nope", "items": [MCQ]}, {}),
    ("/v1/score", {"items": [MCQ]}, {}),
    # JSON-mode parsing must read what json.loads + python-mode validation reads:
    ("/v1/rewards/iou", {"items": [{**BOX, "boxes": [["10", 10, 50, 50.0]]}]}, {}),
    ("/v1/rewards/length", {"items": [{"completion": "x", "num_tokens": 12.0}]}, {}),
    ("/v1/rewards/length", {"items": [{"completion": "x", "num_tokens": "12"}]}, {}),
    ("/v1/rewards/answer", {"items": [{**MCQ, "kind": 3}]}, {}),
    ("/v1/rewards/iou", '{"items": [{"completion": "a", "completion": "b"}]}', {}),
    ("/v1/rewards/iou", '{"items": [{"completion": "x", "num_tokens": 1e400}]}', {}),
    ("/v1/rewards/iou", '{"items": [{"completion": "x", "group": 123456789012345678901234567890}]}', {}),
]


@pytest.fixture
def fallbacks(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    seen: list[bytes] = []
    original = fastpath.replay_body

    def counting(body: bytes, receive: Any) -> Any:
        seen.append(body)
        return original(body, receive)

    monkeypatch.setattr(fastpath, "replay_body", counting)
    return seen


@pytest.fixture(params=["open", "keyed"])
def client(request: pytest.FixtureRequest) -> Iterator[tuple[TestClient, dict[str, str]]]:
    keyed = request.param == "keyed"
    with make_client(**({"api_keys": KEYS} if keyed else {}), max_items=1024) as c:
        yield c, (ALICE if keyed else {})


def _both(c: TestClient, path: str, body: Any, headers: dict[str, str]) -> tuple[Any, Any]:
    content = body if isinstance(body, str) else json.dumps(body)
    out = []
    for url in (path, path + "?via=full-stack"):
        resp = c.post(url, content=content, headers=JSON | headers)
        out.append((resp.status_code, resp.headers.get("content-type"), resp.content, resp.headers.get("vary")))
        assert resp.headers.get("x-request-id"), "the request-id middleware applies to both paths"
    return out[0], out[1]


@pytest.mark.parametrize(("path", "body", "headers"), SERVED, ids=[f"{p} {i}" for i, (p, _, _) in enumerate(SERVED)])
def test_the_fast_path_serves_the_common_case_identically(
    client: tuple[TestClient, dict[str, str]], fallbacks: list[bytes], path: str, body: Any, headers: dict[str, str]
) -> None:
    c, auth = client
    fast, full = _both(c, path, body, auth | headers)
    assert fast[0] == 200, fast
    assert fast == full
    assert fallbacks == [], "served by the fast path"
    assert fast[3] == "accept", "the encoding follows Accept"


@pytest.mark.parametrize(
    "headers", [MSGPACK, {"accept": "application/vnd.msgpack"}, {"accept": "application/x-msgpack"}]
)
@pytest.mark.parametrize(
    ("path", "body"),
    [(p, b) for p, b, h in SERVED if not h],
    ids=[f"{p} {i}" for i, (p, _, h) in enumerate(SERVED) if not h],
)
def test_msgpack_answers_carry_the_json_answers_values(
    client: tuple[TestClient, dict[str, str]], path: str, body: Any, headers: dict[str, str]
) -> None:
    c, auth = client
    as_json = c.post(path, json=body, headers=auth)
    as_msgpack = c.post(path, json=body, headers=auth | headers)
    assert as_json.headers["content-type"] == "application/json"
    assert as_msgpack.headers["content-type"] == "application/msgpack"
    assert msgspec.msgpack.decode(as_msgpack.content) == as_json.json()


@pytest.mark.parametrize(("path", "body", "headers"), REFUSED, ids=[f"{p} {i}" for i, (p, _, _) in enumerate(REFUSED)])
def test_unusual_requests_get_the_full_stacks_answer(
    client: tuple[TestClient, dict[str, str]], path: str, body: Any, headers: dict[str, str]
) -> None:
    c, auth = client
    fast, full = _both(c, path, body, auth | headers)
    assert fast == full


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-key", "bearer key-alice-0123456789", "Basic abc", "Bearer "]
)
def test_auth_failures_are_the_full_stacks(authorization: str | None) -> None:
    with make_client(api_keys=KEYS) as c:
        headers = {} if authorization is None else {"Authorization": authorization}
        fast, full = _both(c, "/v1/rewards/iou", {"items": [BOX]}, headers)
        assert fast == full
        assert fast[0] == (200 if authorization and authorization.lower().startswith("bearer key") else 401)


def test_request_metrics_label_the_route_template(fallbacks: list[bytes]) -> None:
    with make_client() as c:
        assert c.post("/v1/rewards/iou", json={"items": [BOX]}).status_code == 200
        assert fallbacks == []
        metrics = c.get("/metrics").text
    assert 'route="/v1/rewards/{name}"' in metrics


def _grouped(group: str, hit: bool = True) -> dict[str, Any]:
    pred = "[10, 10, 50, 50]" if hit else "[60, 60, 90, 90]"
    return {"completion": f"<think>t</think><answer>{pred}</answer>", "boxes": [[10, 10, 50, 50]], "group": group}


# Requests into runs, in order: each changes the run, so the sequence goes to two apps, one through
# the fast path and one through the full stack, and every answer must be the same bytes.
RUN_SEQUENCE: list[tuple[str, Any]] = [
    ("/v1/rewards/iou", {"items": [_grouped("p1")], "run_id": "r", "group_size": 2, "request_id": "a", "step": 1}),
    ("/v1/rewards/iou", {"items": [_grouped("p1")], "run_id": "r", "group_size": 2, "request_id": "a", "step": 1}),
    ("/v1/rewards/iou", {"items": [_grouped("p1", False)], "run_id": "r", "group_size": 2, "request_id": "b"}),
    ("/v1/rewards/iou", {"items": [_grouped("p2"), _grouped("p2", False)], "run_id": "s", "request_id": "c"}),
    ("/v1/rewards/iou", {"items": [_grouped("p2"), _grouped("p2", False)], "run_id": "s", "request_id": "c"}),
    # The same request id with other IoUs: 409 from the store, after the route started.
    ("/v1/rewards/iou", {"items": [_grouped("p2"), _grouped("p2")], "run_id": "s", "request_id": "c"}),
    ("/v1/rewards/iou", {"items": [{**_grouped("p3"), "boxes": [[5, 5, 5, 9]]}], "run_id": "s", "request_id": "d"}),
    ("/v1/rewards/format", {"items": [MCQ], "run_id": "s"}),
    ("/v1/rewards/iou", {"items": [], "run_id": "t", "group_size": 4}),
    ("/v1/score", {"profile": "grounding-medloc", "items": [_grouped("p4")], "run_id": "u", "request_id": "e"}),
    ("/v1/score", {"profile": "vqa-mcq", "items": [MCQ], "run_id": "v"}),
    ("/v1/score", {"profile": "grounding-medloc", "items": [_grouped("p5")], "run_id": "u", "group_size": 2}),
]


def test_reports_to_a_run_are_served_and_answer_as_the_full_stack(fallbacks: list[bytes]) -> None:
    with make_client() as fast, make_client() as full:
        for i, (path, body) in enumerate(RUN_SEQUENCE):
            a = fast.post(path, json=body)
            b = full.post(path + "?via=full-stack", json=body)
            assert (a.status_code, a.headers["content-type"], a.content) == (
                b.status_code,
                b.headers["content-type"],
                b.content,
            ), (i, a.text, b.text)
        statuses = [fast.post(p, json=b).status_code for p, b in RUN_SEQUENCE[:2]]
        for run_id in ("r", "s", "u"):
            assert fast.get(f"/v1/runs/{run_id}").json()["groups"] == full.get(f"/v1/runs/{run_id}").json()["groups"]
        # Refused requests create no run (the run is created by the first store operation on it).
        assert fast.get("/v1/runs/v").status_code == full.get("/v1/runs/v").status_code == 404
    assert statuses == [200, 200]
    assert fallbacks == [], "every request of the sequence was served by the fast path"


@pytest.mark.parametrize("failure", ["store_down", "bug"])
def test_a_run_request_that_fails_after_reporting_is_not_run_twice(
    monkeypatch: pytest.MonkeyPatch, fallbacks: list[bytes], failure: str
) -> None:
    """The report is a side effect: a failure after it must not send the request through the full stack again."""
    import sqlite3

    import app.api.routes.rewards as rewards_route

    def failing(*args: Any) -> None:
        raise sqlite3.OperationalError("disk I/O error") if failure == "store_down" else RuntimeError("bug")

    monkeypatch.setattr(rewards_route, "record_reward", failing)
    body = {"items": [_grouped("p1"), _grouped("p1", False)], "run_id": "r"}
    with make_client() as c:
        fast = c.post("/v1/rewards/iou", json=body)
        assert c.get("/v1/runs/r").json()["groups"] == 1, "reported once"
        full = c.post("/v1/rewards/iou?via=full-stack", json=body)
        assert c.get("/v1/runs/r").json()["groups"] == 2
    assert fallbacks == []
    assert (fast.status_code, fast.content) == (full.status_code, full.content)
    assert fast.status_code == (503 if failure == "store_down" else 500)
    assert fast.headers.get("x-request-id")


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The functions the fast path sends to the threadpool (clear it after the lifespan's own)."""
    seen: list[object] = []
    original = fastpath.anyio.to_thread.run_sync

    async def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(fn)
        return await original(fn, *args, **kwargs)

    monkeypatch.setattr(fastpath.anyio.to_thread, "run_sync", counting)
    return seen


def test_a_run_request_goes_to_the_threadpool(hops: list[object]) -> None:
    with make_client() as c:
        hops.clear()
        assert c.post("/v1/rewards/iou", json={"items": [_grouped("p")], "run_id": "r", "group_size": 8}).status_code
        assert len(hops) == 1


def test_the_collector_is_paused_for_a_batch_and_back_on_after(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    seen: list[bool] = []
    original = fastpath.score_reward

    def recording(*args: Any) -> Any:
        seen.append(gc.isenabled())
        return original(*args)

    monkeypatch.setattr(fastpath, "score_reward", recording)
    batch = {"items": [BOX] * 100}
    assert len(json.dumps(batch)) >= fastpath.PAUSE_GC_BYTES
    with make_client() as c:
        assert c.post("/v1/rewards/iou", json={"items": [BOX]}).status_code == 200
        assert c.post("/v1/rewards/iou", json=batch).status_code == 200
        assert gc.isenabled()
        # A batch the fast path hands to the full stack (a params error) leaves it on too.
        assert c.post("/v1/rewards/iou", json=batch | {"params": {"mode": "x"}}).status_code == 422
        assert gc.isenabled()
    assert seen == [True, False, False]


@pytest.mark.parametrize(
    ("body", "on_the_loop"),
    [
        ({"items": [BOX]}, True),
        ({"items": [BOX] * 256}, True),  # ~20 kB of one-box items
        ({"items": [BOX] * 256, "params": {"metric": "giou"}}, True),
        ({"items": [{**BOX, "boxes": [[10, 10, 50, 52], [1, 1, 5, 5]]}] * 20}, False),  # several boxes an item
        ({"items": [BOX] * 1000}, False),  # over INLINE_BATCH_BYTES
        ({"items": [{"completion": "[[0,0],[9,0],[0,9]]", "polygons": [[[0, 0], [9, 0], [0, 9]]]}]}, False),
        # Past the one-box type (`app.limits.one_box_record`): the batch is walked, as before it.
        ({"items": [BOX] * 255 + [{**BOX, "boxes": [[10, 10, 50, 52], [1, 1, 5, 5]]}]}, False),
        ({"items": [BOX] * 255 + [{**BOX, "polygons": []}]}, True),  # no outline in it
        ({"items": [BOX] * 255 + [{**BOX, "polygons": [[[0, 0], [9, 0], [0, 9]]]}]}, False),
    ],
)
def test_which_box_batches_are_scored_on_the_event_loop(
    hops: list[object], fallbacks: list[bytes], body: dict[str, Any], on_the_loop: bool
) -> None:
    with make_client(max_items=1024) as c:
        hops.clear()  # the lifespan's own
        assert c.post("/v1/rewards/iou", json=body).status_code == 200
        hopped = list(hops)
    assert fallbacks == []
    assert (hopped == []) is on_the_loop
    assert (len(json.dumps(body)) <= fastpath.INLINE_BATCH_BYTES) or not on_the_loop


def _items_scored(metrics: str) -> float:
    """The process-wide iou item counter (it accumulates over the tests of this process)."""
    lines = [x for x in metrics.splitlines() if x.startswith('medreward_items_scored_total{reward="iou"}')]
    return float(lines[0].split()[-1]) if lines else 0.0


def test_an_item_refused_after_scoring_is_counted_once_and_answered_as_the_full_stack(
    fallbacks: list[bytes],
) -> None:
    """A reference box with no area is found by the scorer (422 after scoring): not scored again."""
    body = {"items": [BOX, {**BOX, "boxes": [[5, 5, 5, 9]]}]}
    with make_client() as c:
        before = _items_scored(c.get("/metrics").text)
        fast = c.post("/v1/rewards/iou", json=body)
        after_fast = _items_scored(c.get("/metrics").text)
        full = c.post("/v1/rewards/iou?via=full-stack", json=body)
        after_full = _items_scored(c.get("/metrics").text)
    assert fast.status_code == 422 and "items[1].boxes" in fast.text
    assert (fast.status_code, fast.content) == (full.status_code, full.content)
    assert fallbacks == [], "answered without replaying the body"
    assert (after_fast - before, after_full - after_fast) == (2, 2), "each request's two items counted once"


# ---- the JSON checks: made by the fast path itself, or settled by msgspec's types -------------------

SETTINGS = Settings(store_url="memory://", load_models=False)
POLYGON_ITEM = {"completion": "<answer>[1, 1, 5, 5]</answer>", "polygons": [[[0, 0], [9, 0], [9, 9]]]}


def test_the_lean_types_bound_the_nesting_of_what_they_accept() -> None:
    deepest = {"items": [POLYGON_ITEM], "params": {"answer": {"table": [1.0]}}}
    body = json.dumps(deepest).encode()
    assert json_depth(body) == LEAN_DEPTH == 6
    assert plain_reward_request(body, SETTINGS) is not None
    # One level more anywhere is refused (the full stack's checks then apply).
    for deeper in (
        {"items": [{**POLYGON_ITEM, "polygons": [[[[0, 0]]]]}]},
        {"items": [POLYGON_ITEM], "params": {"answer": {"table": [[1.0]]}}},
        {"items": [POLYGON_ITEM], "params": {"x": {"y": {"z": 1}}}},
    ):
        assert plain_reward_request(json.dumps(deeper).encode(), SETTINGS) is None
    with pytest.raises(TypeError, match="unbounded"):
        nesting(msgspec.inspect.type_info(dict[str, Any]))


@pytest.mark.parametrize(
    ("path", "within"),
    [("/v1/rewards/iou", {"items": [BOX]}), ("/v1/score", {"profile": "vqa-mcq", "items": [MCQ]})],
)
def test_a_depth_limit_below_the_lean_types_still_holds_on_the_fast_path(
    fallbacks: list[bytes], path: str, within: dict[str, Any]
) -> None:
    too_deep = {**within, "items": [{**within["items"][0], "polygons": POLYGON_ITEM["polygons"]}]}  # depth 6
    with make_client(max_json_depth=5) as c:
        fast, full = _both(c, path, too_deep, {})
        assert fast == full and fast[0] == 422 and json.loads(fast[2])["error"]["code"] == "too_deeply_nested"
        fallbacks.clear()
        fast, full = _both(c, path, within, {})
        assert fast == full and fast[0] == 200
        assert fallbacks == [], "served by the fast path"


def test_lone_surrogates_are_replaced_on_the_fast_path_as_on_the_full_stack(fallbacks: list[bytes]) -> None:
    body = '{"items": [{"completion": "<answer>ab\\ud800</answer>", "reference": "ab\\ufffd"}]}'
    with make_client() as c:
        fast, full = _both(c, "/v1/rewards/answer", body, {})
        assert fast == full and fast[0] == 200
        assert json.loads(fast[2])["rewards"] == [1.0], "the completion's lone surrogate was read as U+FFFD"
        assert fallbacks == [], "served by the fast path"


def test_a_typed_body_skips_the_json_scans_and_any_other_gets_them(monkeypatch: pytest.MonkeyPatch) -> None:
    import app.middleware as middleware

    scanned: list[str] = []
    for module, label in ((fastpath, "fast path"), (middleware, "full stack")):
        original = module.clean_json_body

        def counting(body: bytes, depth: int, original: Any = original, label: str = label) -> bytes:
            scanned.append(label)
            return original(body, depth)

        monkeypatch.setattr(module, "clean_json_body", counting)
    with make_client() as c:
        assert c.post("/v1/rewards/iou", json={"items": [BOX] * 20}).status_code == 200
        # As the client library sends them: a request id, and no details wanted.
        body = {"items": [BOX] * 20, "request_id": "step-1.0", "details": False}
        assert c.post("/v1/rewards/iou", json=body).status_code == 200
        assert c.post("/v1/score", json={"profile": "vqa-mcq", "items": [MCQ], "request_id": "s2"}).status_code == 200
        assert scanned == [], "msgspec's types settled both checks"
        body = {"items": [{**BOX, "group": "g"}], "run_id": "r1", "group_size": 2}
        assert c.post("/v1/rewards/iou", json=body).status_code == 200  # a run: validated by the model
        assert scanned == ["fast path"]
        assert c.post("/v1/rewards/iou?full=1", json={"items": [BOX]}).status_code == 200
        assert scanned == ["fast path", "full stack"]
