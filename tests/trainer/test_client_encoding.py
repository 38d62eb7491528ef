"""What the clients put on the wire and how they read the answer: bodies encoded once (and refused
when they hold NaN or infinity), scoring answers asked for in MessagePack and read by content type."""

from __future__ import annotations

import json
import math
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.trainer.scripted_service import ITEMS, Runner, Service, score_body
from trainer import MedRewardError
from trainer.batching import encode_body


def msgpack_service(requests: list[httpx.Request]) -> Any:
    """A scripted service that answers in MessagePack when asked, as medreward does."""

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        doc = score_body(json.loads(request.content)["items"])
        if "application/msgpack" in request.headers.get("accept", ""):
            return httpx.Response(
                200, content=msgspec.msgpack.encode(doc), headers={"content-type": "application/msgpack"}
            )
        return httpx.Response(200, json=doc)

    return handle


@pytest.mark.parametrize("msgpack", [True, False])
def test_scoring_answers_in_either_encoding_read_the_same(run: Runner, msgpack: bool) -> None:
    requests: list[httpx.Request] = []
    client = run.client(msgpack_service(requests), msgpack=msgpack)
    out = run.call(client, "score", ITEMS, "vqa-closed")
    assert out.rewards == [0.5, 1.0] and out.components["format"] == [1.0, 1.0]
    accept = requests[0].headers.get("accept", "")
    assert ("application/msgpack" in accept) is msgpack
    assert "application/json" in accept or not msgpack, "JSON stays acceptable: a service may not offer MessagePack"


def test_a_service_answering_json_to_a_msgpack_request_is_read(run: Runner) -> None:
    svc = Service()  # ignores Accept, as an older service does
    out = run.call(run.client(svc), "reward", "format", ITEMS)
    assert out.rewards == [0.5, 1.0]
    assert svc.requests[0].headers["content-type"] == "application/json"


def test_errors_are_read_as_json_whatever_was_accepted(run: Runner) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"error": {"code": "invalid_item", "message": "bad box", "field": "items[0]"}})

    with pytest.raises(MedRewardError) as info:
        run.call(run.client(refuse), "reward", "iou", ITEMS)
    assert (info.value.status, info.value.code, info.value.field) == (422, "invalid_item", "items[0]")


@pytest.mark.parametrize(
    ("items", "params", "field"),
    [
        ([{"completion": "x", "boxes": [[1, 2, math.nan, 4]]}], None, "items[1].boxes"),
        ([{"completion": "x"}, {"completion": "y", "num_tokens": math.inf}], None, "items[2].num_tokens"),
        ([{"completion": "x", "reference": None, "boxes": [[1, -math.inf, 3, 4]]}], None, "items[1].boxes"),
        ([{"completion": "x"}], {"tau": math.nan}, "params"),
    ],
    ids=["nan-box", "inf-tokens", "none-beside-inf", "nan-param"],
)
def test_non_finite_numbers_are_refused_before_anything_is_sent(
    run: Runner, items: list[dict[str, Any]], params: dict[str, Any] | None, field: str
) -> None:
    svc = Service()
    # One item per chunk: a NaN in a later chunk must not let the first ones through, and the
    # error names the caller's item, not its place in its chunk.
    client = run.client(svc, max_batch=1)
    with pytest.raises(MedRewardError) as info:
        run.call(client, "reward", "iou", [{"completion": "ok"}, *items], params)
    assert info.value.code == "invalid_item" and info.value.field == field
    assert svc.requests == []


def test_a_none_beside_finite_numbers_is_sent_as_null(run: Runner) -> None:
    svc = Service()
    run.call(run.client(svc), "score", [{"completion": "0.5", "reference": None, "boxes": [[1, 2, 3, 4]]}], "p")
    assert svc.bodies()[0]["items"] == [{"completion": "0.5", "reference": None, "boxes": [[1, 2, 3, 4]]}]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=6), json_values, max_size=5))
def test_encode_body_writes_what_json_dumps_writes(body: dict[str, Any]) -> None:
    assert json.loads(encode_body(body)) == json.loads(json.dumps(body, allow_nan=False))


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.text(max_size=6), json_values, max_size=4),
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.text(max_size=6),
)
def test_encode_body_refuses_any_non_finite_number(body: dict[str, Any], bad: float, key: str) -> None:
    body[key] = [1, {"deep": [bad]}]
    with pytest.raises(MedRewardError):
        encode_body(body)


def test_encode_body_takes_what_orjson_does_not_as_json_dumps_does() -> None:
    import numpy as np

    body = {"params": {"weights": {1: 0.5}}, "items": [{"completion": "x", "num_tokens": np.float64(3.0)}]}
    assert json.loads(encode_body(body)) == {
        "params": {"weights": {"1": 0.5}},
        "items": [{"completion": "x", "num_tokens": 3.0}],
    }
    with pytest.raises(MedRewardError):
        encode_body({"items": [{"completion": "x", "num_tokens": np.float64("nan")}]})
