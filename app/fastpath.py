"""A lean path for the hot scoring POSTs: the same handlers without FastAPI's routing and injection.

Per-sample trainers send one completion per request, so what a request costs besides the
scorer decides their throughput: profiled under wrk (64 keep-alive connections, one item per
POST), FastAPI's router, dependency solving and the threadpool hop took most of the server's
time, the scorer a few percent. For ``POST /v1/rewards/{name}`` and ``POST /v1/score`` this
middleware does what that machinery would, for the common case only, and calls the very same
route function:

- the body is decoded by msgspec into item records when it is plainly valid and has no run
  (`app.lean_requests`: for 256 box items 0.07 ms), which also settles the JSON checks (depth,
  lone surrogates) the full stack makes in `app.middleware.JsonBodyMiddleware`; else it gets
  those checks here and is parsed and validated in one pass by the route's own pydantic model
  (``model_validate_json``: 0.3 ms, against 1.9 ms for ``json.loads`` then validation, as
  FastAPI does); the caller is authenticated by the same key ring; limits, scoring and the
  response are the route function's;
- the request goes on through the full stack instead, with its body replayed, whenever anything
  is unusual: a query string, an Authorization header that is not ``Bearer <key>``, a content
  type other than JSON, a body too deep or one the model refuses, an unknown name,
  or an exception before the route function starts. So every error response (status, body,
  headers) is the one the full stack gives, unchanged;
- once its route function has started a request is never handed over (it may have reported to a
  run, a side effect that must happen once, and it has counted its items in the metrics): an
  exception it raises is answered by the app's own exception handler for it, as the full stack
  would answer the same exception from the same function (or, with no handler, by the
  request-id middleware's 500, as there). A request with a ``run_id`` is always called in the
  threadpool: the run store blocks.

Small batches of cheap rewards are scored on the event loop (a threadpool hop costs more than
scoring one box), and so are box batches of up to 64 kB with one reference box per item (see
`INLINE_BATCH_BYTES`); ``semantic`` (which batches concurrent requests' texts, or calls a
judge), polygons and other batches still go to the threadpool. Batches from 4 kB on run with the
cyclic collector paused (`PAUSE_GC_BYTES`). This sits inside the request-id/logging and body-limit
middleware, which therefore apply to both paths; the JSON checks' middleware sits inside it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import partial

import anyio.to_thread
from fastapi import Request, Response
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.deps import Service
from app.api.media import wants_msgpack
from app.api.routes.rewards import score_reward
from app.api.routes.score import score as score_profile_route
from app.json_body import clean_json_body
from app.lean_requests import LEAN_DEPTH, plain_reward_request, plain_score_request
from app.limits import any_polygons, most_boxes, one_box_records
from app.middleware import read_body, replay_body
from app.schemas import RewardRequest, ScoreRequest
from app.settings import Settings
from scorers import REGISTRY, Item
from scorers.gc_pause import collector_paused

REWARDS_PREFIX = "/v1/rewards/"
SCORE_PATH = "/v1/score"
# Scored on the event loop when a request holds at most this many items of a reward other than
# semantic: about 20-100 µs of scoring each, less than the hop to a worker thread and back.
INLINE_ITEMS = 8
INLINE_EXCLUDED = frozenset({"semantic"})
# Box batches of up to this many body bytes are scored on the event loop too, when every item
# holds at most one reference box and no polygon: their cost then grows with the bytes only (the
# box syntax search; one box against a few predictions), ~1-2 ms for 64 kB, what validating the
# body on the loop costs anyway. In a threadpool the batch held the GIL just the same (one
# process runs Python on one core; the loop would get a slice every 5 ms switch interval), and
# the hop there and back, with two threads taking turns on the GIL, cost ~0.8 µs per item of a
# 256-item batch (measured under wrk, 2026-12-01), a quarter of the scorer's own time.
INLINE_BATCH_BYTES = 64 << 10
INLINE_BATCH_REWARDS = frozenset({"iou"})
# From this body size the cyclic collector is paused while the request is validated and, on the
# event loop, scored and answered (`scorers.gc_pause`):
# decoding a batch allocates a record (or a model, a dict and a set) and box lists per item, and scoring
# and the response as many again; none of it forms a cycle and all of it is freed by reference
# counting once the response is written, yet the collector ran several times per 256-item box
# batch and walked it: ~1 µs per item, a quarter of the scorer's own time (2026-12-01).
PAUSE_GC_BYTES = 4096


class FastPathMiddleware:
    """Serve the common case of the hot scoring routes directly; everything else goes to ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("query_string"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(REWARDS_PREFIX):
            name = path[len(REWARDS_PREFIX) :]
            if name not in REGISTRY:
                await self.app(scope, receive, send)
                return
            kind = "rewards"
        elif path == SCORE_PATH:
            name, kind = "", "score"
        else:
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:  # the client went away
            return
        # Paused around work on this thread only, never across an await: other requests' work
        # goes on meanwhile, and a long one must not keep the collector off for everybody.
        pause: Callable[[], AbstractContextManager[None]] = (
            nullcontext if len(body) < PAUSE_GC_BYTES else collector_paused
        )
        response: Response | None = None
        failure: Exception | None = None
        scored_inline = False
        with pause():
            try:
                call = self._prepare(scope, kind, name, body)
            except Exception:
                call = None
            if call is not None and call.inline:
                scope["route"] = call.route  # the label the request metrics and access log use
                try:
                    response = call.fn()
                except Exception as exc:
                    failure = exc
                scored_inline = True
                # Dropped here, with the collector still paused, which frees the validated request:
                # its allocations (a record or model and box lists per item) had the collector's
                # count far past its threshold, and resumed with them alive, the next allocation
                # set off a collection that walked all of them (101 collections per 100 256-item
                # box batches, ~4% of their CPU by py-spy; 2026-12-01). Freed, the count falls back.
                call = None
        if call is None and not scored_inline:  # nothing has happened yet: the full stack answers
            await self.app(scope, replay_body(body, receive), send)
            return
        if call is not None:  # in the threadpool: scorers.score pauses the collector there as its rewards ask
            scope["route"] = call.route
            try:
                response = await anyio.to_thread.run_sync(call.fn)
            except Exception as exc:
                failure = exc
        if failure is not None:
            # The route function has run: it may have reported to a run and has counted its items
            # in the metrics, so running it again through the full stack would do both twice.
            # Answered here as the full stack answers the same exception from the same function.
            response = await _handled(scope, receive, failure)
        assert response is not None
        await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})

    def _prepare(self, scope: Scope, kind: str, name: str, body: bytes) -> _Call | None:
        """The route call for this request, or None (or an exception) to leave it to the full stack."""
        authorization: str | None = None
        content_type: str | None = None
        accept: str | None = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                authorization = value.decode("latin-1")
            elif key == b"content-type":
                content_type = value.decode("latin-1")
            elif key == b"accept":
                accept = value.decode("latin-1")
        if content_type is None or not content_type.lower().startswith("application/json"):
            return None
        if authorization is not None and not authorization.startswith("Bearer "):
            return None
        state = scope["app"].state
        tenant = state.keyring.authenticate(authorization)
        max_depth: int = state.settings.max_json_depth
        # Plainly valid bodies are decoded without a model per item (`app.lean_requests`), and
        # need no JSON checks: msgspec refuses lone surrogates, and the types bound the nesting.
        request: BaseModel | None = None
        if LEAN_DEPTH <= max_depth:
            lean = plain_reward_request if kind == "rewards" else plain_score_request
            request = lean(body, state.settings)
        if request is None:
            # The checks the full stack makes (`app.middleware.JsonBodyMiddleware`): a body too
            # deep raises, and goes there for its 422.
            body = clean_json_body(body, max_depth)
            model: type[BaseModel] = RewardRequest if kind == "rewards" else ScoreRequest
            request = model.model_validate_json(body)
        # As the full stack's tenant dependency does: error handlers name this tenant's runs.
        scope.setdefault("state", {})["tenant"] = tenant
        svc = Service(state.settings, state.store, state.profiles, state.group_buffer, tenant, wants_msgpack(accept))
        # A run's store work blocks (SQLite waits for its group commit): never on the event loop.
        into_run = request.run_id is not None  # type: ignore[attr-defined]  # both request models have it
        if kind == "rewards":
            assert isinstance(request, RewardRequest)
            inline = not into_run and _inline(name, request.items, len(body), state.settings)
            return _Call(partial(score_reward, name, request, svc), REWARDS_ROUTE, inline)
        assert isinstance(request, ScoreRequest)
        return _Call(partial(score_profile_route, request, svc), SCORE_ROUTE, False)


@dataclass(frozen=True)
class _Call:
    fn: Callable[[], Response]
    route: RouteLabel
    inline: bool
    """On the event loop rather than in the threadpool (never for a run: its store blocks)."""


async def _handled(scope: Scope, receive: Receive, exc: Exception) -> Response:
    """The response the app's exception handlers give ``exc``, as in the full stack; re-raises
    what no handler takes (the request-id middleware answers it with its 500, as for the full stack)."""
    handlers = scope["app"].exception_handlers
    for cls in type(exc).__mro__:
        if cls is Exception:
            break
        handler = handlers.get(cls)
        if handler is not None:
            response = handler(Request(scope, receive), exc)
            if inspect.isawaitable(response):
                response = await response
            assert isinstance(response, Response)
            return response
    raise exc


def _inline(name: str, items: list[Item], body_bytes: int, settings: Settings) -> bool:
    """Score this request on the event loop rather than in the threadpool (see `INLINE_ITEMS`)."""
    if name in INLINE_EXCLUDED:
        return False
    # Polygons go to the threadpool: even bounded, repairing outlines can take a while, and on
    # the event loop it would stall every other tenant's requests.
    if len(items) <= INLINE_ITEMS:
        return not any_polygons(items)
    if name not in INLINE_BATCH_REWARDS or body_bytes > INLINE_BATCH_BYTES:
        return False
    # Records of the one-box type hold no polygon and at most one box each: no walk needed.
    return one_box_records(items, settings) or (not any_polygons(items) and most_boxes(items) <= 1)


@dataclass(frozen=True)
class RouteLabel:
    """What the request metrics and access log read from ``scope["route"]``: the path template."""

    path: str


REWARDS_ROUTE = RouteLabel(REWARDS_PREFIX + "{name}")
SCORE_ROUTE = RouteLabel(SCORE_PATH)
