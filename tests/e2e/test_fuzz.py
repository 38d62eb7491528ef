"""Hostile-input fuzzing of every route of a live server, beyond schemathesis' schema-driven cases.

Hypothesis builds requests shaped like each route's (so they get past the first validation and
reach the scorers, schedulers, stores and adapters) and fills their fields with what a hostile or
broken client sends: lone UTF-16 surrogates, JSON nested past any limit, huge lists in every
list-typed field, numbers at and beyond float limits (subnormals, ±1.8e308, NaN, ±Infinity, a
400-digit integer), oversized texts, special tokens by the thousand, and junk of any type. Every
operation of the server's OpenAPI document is hit (those without a shaped strategy get junk
bodies), for a bounded time. Nothing may answer 5xx, every 4xx must be the error shape, and the
server must stay healthy and fast for a well-formed request afterwards.
"""

from __future__ import annotations

import json
import math
import random
import re
import time
from collections import Counter
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from scorers import REGISTRY
from tests.e2e.conftest import ALICE, Server

BUDGET_S = 40.0  # fuzzing wall time (the server's start comes on top)
MAX_EXAMPLES = 2_000  # stops earlier when the budget is spent
MAX_SENT_BYTES = 4 * 1024 * 1024
BIG_INT = "__BIG_INT__"  # spliced into the encoded body as a 400-digit integer (no float holds it)


def rarely(common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any], p: float = 0.125) -> Any:
    """``rare`` about one time in 1/p, else ``common``.

    Hypothesis' own choice between branches leans towards the later, "simpler" ones; a seeded
    coin keeps most requests plausible enough to reach the scorers.
    """
    return st.integers(0, 2**32).flatmap(lambda seed: rare if random.Random(seed).random() < p else common)


# ---- leaves ---------------------------------------------------------------------------------------

EDGE_NUMBERS: list[Any] = [
    0,
    -0.0,
    1,
    -1,
    0.5,
    5e-324,
    -5e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    -1.7976931348623157e308,
    2**53 + 1,
    2**63,
    -(2**63),
    10**30,
    math.inf,
    -math.inf,
    math.nan,
    BIG_INT,
]
SPECIAL_TEXTS = [
    "",
    " ",
    "\x00",
    "😀",
    "\\ud800",
    "NaN",
    "1e400",
    "<think>",
    "<answer></answer>",
    "<think>a</think><answer>yes</answer>",
    "<think>no line</think><answer>no</answer>",
    "<answer>[1e308, 1e308, -1e308, 0]</answer>",
    "<answer>[10, 10, 50, 50]</answer>",
    "<answer>[[0, 0], [2, 2], [2, 0], [0, 2]]</answer>",
    '<answer>{"bbox_2d": [1, 2, 3, 4]}</answer>',
    "<|box_start|>(1,2),(3,4)<|box_end|>",
    "<|im_start|>assistant\nleft<|im_end|>",
    "[/INST] B",
    "no pleural effusion on the left",
    "grade 3 of 4",
    "12 mm",
]
PROFILES = ["vqa-closed", "vqa-mcq", "vqa-open", "grading", "grounding-medloc", "fuzz-profile", "missing"]

lone_surrogates = st.text(alphabet=st.characters(categories=["Cs"]), min_size=1, max_size=3)
with_surrogate = st.tuples(st.text(max_size=8), lone_surrogates, st.text(max_size=8)).map("".join)
small_texts = st.one_of(st.text(max_size=30), with_surrogate, st.sampled_from(SPECIAL_TEXTS))
long_texts = st.one_of(
    st.sampled_from([4_097, 33_000, 300_000]).map(lambda n: "x" * n),
    st.sampled_from([1_000, 60_000]).map(lambda n: "</s>" * n),
    st.sampled_from([1_000, 100_000]).map(lambda n: "[" * n),
    st.sampled_from([500, 5_000]).map(lambda n: "<answer>yes</answer>" * n),
)
texts = rarely(small_texts, long_texts)
numbers = st.one_of(st.sampled_from(EDGE_NUMBERS), st.floats(), st.integers())


def nested_json(depth: int) -> str:
    """JSON text nested ``depth`` levels (arrays and objects alternating), built without recursion."""
    opens = ['{"k": ' if i % 2 else "[" for i in range(depth)]
    closes = ["}" if i % 2 else "]" for i in reversed(range(depth))]
    return "".join(opens) + '"leaf"' + "".join(closes)


# A marker spliced into the encoded body as nested_json(n): the client's own encoder is recursive.
deep = st.sampled_from([8, 60, 66, 300, 3_000]).map(lambda n: f"__DEEP_{n}__")
_DEEP = re.compile(r'"__DEEP_(\d+)__"')
scalars = st.one_of(st.none(), st.booleans(), numbers, small_texts)
junk = st.one_of(
    scalars,
    deep,
    st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(small_texts, inner, max_size=4),
        max_leaves=8,
    ),
)


def sized(element: st.SearchStrategy[Any], counts: tuple[int, ...] = (0, 1, 2, 33, 101, 1_025, 5_000)) -> Any:
    """A list of one drawn element repeated a drawn number of times (huge lists, cheap to build)."""
    return st.tuples(element, st.sampled_from(counts)).map(lambda t: [t[0]] * t[1])


def maybe(valid: st.SearchStrategy[Any]) -> Any:
    """Mostly a plausible value (so that most requests reach the scorers), one time in eight junk."""
    return rarely(valid, junk)


# ---- shaped values ----------------------------------------------------------------------------------

box = st.one_of(st.lists(st.integers(0, 500), min_size=4, max_size=4), st.lists(numbers, min_size=0, max_size=6))


def star(n: int) -> list[list[float]]:
    return [[200 + 100 * math.cos(2.1 * i), 200 + 100 * math.sin(2.1 * i)] for i in range(n)]


polygons = st.one_of(
    sized(st.sampled_from([3, 4, 17]).map(star), (1, 2, 101)),
    st.sampled_from([250, 1_001, 20_000]).map(lambda n: [star(n)]),
    st.lists(st.lists(st.lists(numbers, max_size=3), max_size=4), max_size=2),
)
options = st.one_of(
    st.dictionaries(st.sampled_from("ABCDE"), small_texts, max_size=5),
    st.sampled_from([33, 1_000]).map(lambda n: {f"O{i}": "option" for i in range(n)}),
)
item = st.fixed_dictionaries(
    {"completion": maybe(texts)},
    optional={
        "reference": maybe(st.one_of(texts, sized(small_texts))),
        "kind": maybe(st.sampled_from(["closed", "mcq", "open", "ordinal", "numeric", "auto"])),
        "options": maybe(options),
        "grades": maybe(sized(small_texts)),
        "boxes": maybe(sized(box)),
        "polygons": maybe(polygons),
        "image_size": maybe(st.lists(numbers, min_size=2, max_size=2)),
        "input_size": maybe(st.lists(numbers, min_size=2, max_size=2)),
        "knowledge": maybe(texts),
        "num_tokens": maybe(numbers),
        "group": maybe(st.one_of(small_texts, numbers)),
    },
)
small_item = st.fixed_dictionaries(
    {"completion": small_texts}, optional={"reference": small_texts, "group": small_texts}
)
items = st.one_of(st.lists(item, max_size=3), sized(small_item, (0, 17, 1_025, 3_000)))
run_ids = rarely(st.sampled_from(["fuzz-run", "fuzz-fixed", "missing-run"]), small_texts)
steps = rarely(st.integers(0, 1_000), numbers)
group_sizes = rarely(st.integers(1, 8), numbers)
scheduler_config = st.fixed_dictionaries(
    {},
    optional={
        "window": maybe(numbers),
        "tau0": maybe(numbers),
        "tau": maybe(numbers),
        "delta0": maybe(numbers),
        "decay": maybe(st.sampled_from(["piecewise", "linear", "cosine"])),
        "stages": maybe(sized(st.fixed_dictionaries({"min_tau": numbers, "min_reward": numbers, "max_std": numbers}))),
        "milestones": maybe(sized(st.tuples(numbers, numbers).map(list))),
        "unknown_key": junk,
    },
)


def reward_params(name: str) -> st.SearchStrategy[Any]:
    fields = list(REGISTRY[name].params.model_fields) if name in REGISTRY else ["mode"]
    return maybe(st.fixed_dictionaries({}, optional=dict.fromkeys(fields, junk)))


component = st.fixed_dictionaries(
    {"reward": maybe(st.sampled_from([*sorted(REGISTRY), "nope"]))},
    optional={"weight": maybe(numbers), "params": junk, "name": maybe(small_texts)},
)
profile = st.fixed_dictionaries(
    {"components": maybe(st.one_of(st.lists(component, min_size=1, max_size=3), sized(component)))},
    optional={
        "description": maybe(texts),
        "answer_kind": maybe(st.sampled_from(["closed", "open", "mcq"])),
        "coords": maybe(st.sampled_from(["abs", "norm1", "norm1000"])),
        "scheduler": maybe(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["medloc", "fixed", "step"])}, optional={"config": scheduler_config}
            )
        ),
    },
)
checkpoint = st.fixed_dictionaries(
    {
        "scheduler": maybe(st.sampled_from(["medloc", "fixed", "step"])),
        "state": maybe(
            st.fixed_dictionaries(
                {"tau": maybe(numbers), "step": maybe(steps), "groups": maybe(steps)},
                optional={
                    "window": maybe(
                        sized(st.tuples(numbers, numbers, sized(numbers, (1, 2, 70_000))).map(list), (1, 40))
                    ),
                    "raises": maybe(sized(st.dictionaries(small_texts, scalars, max_size=4), (1, 10_001))),
                },
            )
        ),
    },
    optional={"config": maybe(scheduler_config), "run_id": maybe(run_ids)},
)
scheduling = {
    "run_id": maybe(run_ids),
    "request_id": maybe(small_texts),
    "step": maybe(numbers),
    "group_size": numbers,
}
label = st.one_of(
    texts,
    junk,
    st.fixed_dictionaries({}, optional={"reference": texts, "boxes": sized(box), "num_tokens": numbers}),
    st.sampled_from([2, 20]).map(lambda n: '{"reference": ' + "[" * n + "]" * n + "}"),
)
nemo_output = st.fixed_dictionaries(
    {"type": maybe(st.sampled_from(["message", "reasoning"]))},
    optional={"content": maybe(sized(st.fixed_dictionaries({"type": st.just("output_text"), "text": small_texts})))},
)
adapter_query = st.fixed_dictionaries(
    {},
    optional={
        "run_id": run_ids,
        "step": steps,
        "group_size": group_sizes,
        "output": st.sampled_from(["number", "dict", "x"]),
    },
)

# ---- requests --------------------------------------------------------------------------------------------

Request = tuple[str, str, Any, dict[str, Any]]  # method, path, body (or None), query params


def shaped_requests() -> dict[tuple[str, str], st.SearchStrategy[Request]]:
    """A strategy per (method, OpenAPI path) the service serves today."""
    reward_name = st.sampled_from([*sorted(REGISTRY), "nope"])
    prof = st.sampled_from(PROFILES)

    def post_reward(name: str) -> st.SearchStrategy[Request]:
        body = st.fixed_dictionaries({"items": maybe(items), "params": reward_params(name)}, optional=scheduling)
        return body.map(lambda b: ("POST", f"/v1/rewards/{name}", b, {}))

    score_body = st.fixed_dictionaries(
        {"profile": maybe(st.one_of(st.sampled_from(PROFILES), profile)), "items": maybe(items)}, optional=scheduling
    )
    run_body = st.fixed_dictionaries(
        {},
        optional={
            "run_id": maybe(run_ids),
            "scheduler": maybe(st.sampled_from(["medloc", "fixed", "step"])),
            "config": maybe(scheduler_config),
        },
    )
    openrlhf_body = st.fixed_dictionaries(
        {"query": maybe(st.one_of(st.lists(texts, max_size=3), sized(small_texts)))},
        optional={"prompts": maybe(sized(small_texts, (0, 1, 3))), "labels": maybe(st.lists(label, max_size=3))},
    )
    slime_body = st.fixed_dictionaries(
        {"response": maybe(texts)},
        optional={
            "prompt": maybe(
                st.one_of(texts, sized(st.fixed_dictionaries({"role": small_texts, "content": small_texts})))
            ),
            "label": label,
            "metadata": maybe(st.dictionaries(small_texts, junk, max_size=3)),
        },
    )
    nemo_body = st.fixed_dictionaries(
        {
            "responses_create_params": maybe(st.fixed_dictionaries({}, optional={"input": junk})),
            "response": maybe(
                st.fixed_dictionaries({}, optional={"output": maybe(sized(nemo_output, (0, 1, 2, 1_000)))})
            ),
        },
        optional={"expected_answer": texts, "extra": junk, "boxes": sized(box)},
    )
    return {
        ("post", "/v1/rewards/{name}"): st.one_of([post_reward(n) for n in [*sorted(REGISTRY), "nope"]]),
        ("get", "/v1/rewards/{name}"): reward_name.map(lambda n: ("GET", f"/v1/rewards/{n}", None, {})),
        ("post", "/v1/score"): score_body.map(lambda b: ("POST", "/v1/score", b, {})),
        ("put", "/v1/profiles/{name}"): maybe(profile).map(lambda b: ("PUT", "/v1/profiles/fuzz-profile", b, {})),
        ("get", "/v1/profiles/{name}"): prof.map(lambda p: ("GET", f"/v1/profiles/{p}", None, {})),
        ("delete", "/v1/profiles/{name}"): prof.map(lambda p: ("DELETE", f"/v1/profiles/{p}", None, {})),
        ("post", "/v1/runs"): maybe(run_body).map(lambda b: ("POST", "/v1/runs", b, {})),
        ("get", "/v1/runs/{run_id}"): run_ids.map(lambda r: ("GET", f"/v1/runs/{url_part(r)}", None, {})),
        ("delete", "/v1/runs/{run_id}"): run_ids.map(lambda r: ("DELETE", f"/v1/runs/{url_part(r)}", None, {})),
        ("get", "/v1/runs/{run_id}/history"): run_ids.map(
            lambda r: ("GET", f"/v1/runs/{url_part(r)}/history", None, {})
        ),
        ("post", "/v1/runs/{run_id}/reset"): run_ids.map(
            lambda r: ("POST", f"/v1/runs/{url_part(r)}/reset", None, {})
        ),
        ("post", "/openrlhf/{profile}"): st.tuples(prof, openrlhf_body, adapter_query).map(
            lambda t: ("POST", f"/openrlhf/{t[0]}", t[1], t[2])
        ),
        ("post", "/slime/{profile}"): st.tuples(prof, slime_body, adapter_query).map(
            lambda t: ("POST", f"/slime/{t[0]}", t[1], t[2])
        ),
        ("post", "/verify/{profile}"): st.tuples(prof, nemo_body, adapter_query).map(
            lambda t: ("POST", f"/verify/{t[0]}", t[1], t[2])
        ),
        ("post", "/v1/explain"): st.fixed_dictionaries(
            {"profile": maybe(st.one_of(st.sampled_from(PROFILES), profile)), "item": maybe(item)}
        ).map(lambda b: ("POST", "/v1/explain", b, {})),
        ("put", "/v1/runs/{run_id}/state"): st.tuples(run_ids, checkpoint).map(
            lambda t: ("PUT", f"/v1/runs/{url_part(t[0])}/state", t[1], {})
        ),
        # NeMo Gym's resources server: rollouts to verify, sessions to seed, responses to aggregate.
        "nemo-gym verify": nemo_body,
        "nemo-gym seed_session": maybe(st.dictionaries(small_texts, junk, max_size=3)),
        "nemo-gym aggregate_metrics": maybe(
            st.fixed_dictionaries({"verify_responses": maybe(sized(st.dictionaries(small_texts, junk, max_size=4)))})
        ),
    }


def nemo_gym_request(method: str, path: str, body: st.SearchStrategy[Any]) -> st.SearchStrategy[Request]:
    """A /nemo-gym/{profile}[/runs/{run_id}[/group-size/{group_size}]]/... request with drawn path parameters."""
    params = st.fixed_dictionaries(
        {"profile": st.sampled_from(PROFILES), "run_id": run_ids, "group_size": group_sizes}
    )

    def fill(t: tuple[dict[str, Any], Any]) -> Request:
        values, doc = t
        filled = re.sub(r"\{(\w+)\}", lambda m: url_part(values[m.group(1)]), path)
        return (method.upper(), filled, doc if method != "get" else None, {})

    return st.tuples(params, body).map(fill)


def junk_request(method: str, path: str) -> st.SearchStrategy[Request]:
    """For an operation without a shaped strategy: path parameters from known names, a junk body."""
    filled = re.sub(r"\{profile\}", "vqa-closed", path)
    filled = re.sub(r"\{[^}]+\}", "fuzz-run", filled)
    body = junk if method in ("post", "put", "patch") else st.none()
    return body.map(lambda b: (method.upper(), filled, b, {}))


def strategy_for(shaped: dict[Any, Any], method: str, path: str) -> st.SearchStrategy[Request]:
    if (method, path) in shaped:
        return shaped[(method, path)]
    if path.startswith("/nemo-gym/"):
        last = path.rsplit("/", 1)[1]
        return nemo_gym_request(method, path, shaped.get(f"nemo-gym {last}", st.none()))
    return junk_request(method, path)


def url_part(value: Any) -> str:
    """A path segment or query value as a hostile client sends it (a lone surrogate as its raw bytes)."""
    return quote(str(value).encode("utf-8", "surrogatepass"), safe="")


def target(path: str, params: dict[str, Any]) -> str:
    query = "&".join(f"{k}={url_part(v)}" for k, v in params.items())
    return f"{path}?{query}" if query else path


def encode(body: Any) -> bytes:
    """JSON as an ASCII-only encoder writes it (lone surrogates as escapes, NaN/Infinity as Python's)."""
    text = json.dumps(body, allow_nan=True).replace(f'"{BIG_INT}"', "1" + "0" * 400)
    return _DEEP.sub(lambda m: nested_json(int(m.group(1))), text).encode()


class BudgetSpent(Exception):
    """Raised from the test body once BUDGET_S is spent, to end generation early."""


# ---- the test ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_no_5xx_from_hostile_requests_on_any_route(server: Server) -> None:
    """Against the shared server (models loaded: the semantic reward is live); its runs and profile are fuzz-*."""
    with httpx.Client(base_url=server.url, headers=ALICE, timeout=120.0) as client:
        spec = client.get("/openapi.json").json()
        operations = [(m, p) for p, ops in spec["paths"].items() for m in ops]
        shaped = shaped_requests()
        strategies = [strategy_for(shaped, *op) for op in operations]
        client.post("/v1/runs", json={"run_id": "fuzz-run"})
        client.post("/v1/runs", json={"run_id": "fuzz-fixed", "scheduler": "fixed"})
        seen: Counter[str] = Counter()
        statuses: Counter[int] = Counter()
        failures: list[str] = []
        reasons: Counter[str] = Counter()
        deadline = time.monotonic() + BUDGET_S

        # Each example picks its operation with a seeded die, so every operation gets its share.
        def operation(seed: int) -> st.SearchStrategy[tuple[int, Request]]:
            index = random.Random(seed).randrange(len(strategies))
            return strategies[index].map(lambda r: (index, r))

        pick = st.integers(0, 2**32).flatmap(operation)

        @given(request=pick)
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(request: tuple[int, Request]) -> None:
            if time.monotonic() > deadline:
                raise BudgetSpent
            index, (method, path, body, params) = request
            content = None if body is None and method in ("GET", "DELETE") else encode(body)
            if content is not None and len(content) > MAX_SENT_BYTES:
                return  # past the body limit anyway (tested on its own); not worth the transfer
            headers = {"content-type": "application/json"} if content is not None else {}
            resp = client.request(method, target(path, params), content=content, headers=headers)
            seen[" ".join(operations[index])] += 1
            statuses[resp.status_code] += 1
            if resp.status_code >= 500:
                failures.append(f"{method} {path} {params} -> {resp.status_code} {resp.text[:200]}: {content[:300]!r}")
            elif resp.status_code >= 400:
                error = resp.json()["error"]
                reasons[f"{resp.status_code} {error['code']} {error.get('field')} {error['message'][:50]}"] += 1
                assert isinstance(error["code"], str) and error["message"], resp.text
            elif resp.headers.get("content-type", "").startswith("application/json"):
                resp.json()

        try:
            check()
        except BudgetSpent:
            pass  # without a shrink phase hypothesis stops at the first exception
        assert not failures, "\n".join(failures[:10])
        total = sum(statuses.values())
        assert total >= 200, f"only {total} requests in {BUDGET_S}s: {dict(seen)}"
        assert len(seen) == len(operations), f"operations never hit: {set(map(' '.join, operations)) - set(seen)}"
        assert statuses[200] > 0 and sum(n for s, n in statuses.items() if 400 <= s < 500) > 0
        # Still healthy and quick for a well-formed request.
        start = time.perf_counter()
        ok = client.post("/v1/rewards/format", json={"items": [{"completion": "<think>a</think><answer>b</answer>"}]})
        assert ok.status_code == 200 and time.perf_counter() - start < 5.0
        print(f"\nfuzz: {total} requests over {len(operations)} operations, statuses {dict(statuses)}")
        print(f"per route: {dict(seen)}\ncommonest errors: {reasons.most_common(12)}")
