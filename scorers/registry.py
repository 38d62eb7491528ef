"""The reward registry: a dict filled by a decorator, never an if/elif chain.

Each reward is a pure function over a batch, ``fn(items, params) -> list[Score]``, declared
next to its code with its params model, its range, a description and a citation. The API
lists this registry at ``GET /v1/rewards`` and one contract test runs over every entry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from scorers.gc_pause import MIN_ITEMS as GC_PAUSE_MIN_ITEMS
from scorers.gc_pause import collector_paused
from scorers.item_records import ItemRecord, records_from_python
from scorers.types import Item, Score

log = logging.getLogger(__name__)

P = TypeVar("P", bound=BaseModel)
RewardFn = Callable[[Sequence[Item], P], list[Score]]
# A reward's shortcut for one item: its Score, or None to take the batch function as usual.
OneItemFn = Callable[[Item, P], Score | None]


class Params(BaseModel):
    """Base of every reward's params model: unknown keys are an error, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class RewardSpec(Generic[P]):
    """A registered reward: the function and everything a caller needs to know about it."""

    name: str
    fn: RewardFn[P]
    params: type[P]
    range: tuple[float, float]
    description: str
    citation: str = ""
    # Item dicts the contract test feeds the reward (alongside generic garbage): at least one
    # should score "ok", so that the range and determinism checks see real values.
    examples: tuple[Mapping[str, Any], ...] = field(default=())
    # The params used when a call gives none, validated once at registration (params models are
    # frozen, so one instance serves every call): per-sample callers pay no validation. None when
    # the model has a required field; a call without params then gets its validation error.
    defaults: P | None = field(default=None, compare=False)
    # Batches of at least this many items run with the cyclic collector paused (`gc_pause`).
    gc_pause_items: int = GC_PAUSE_MIN_ITEMS
    # Per-sample traffic (one Item per call) goes here first when set: see `register`.
    one: OneItemFn[P] | None = field(default=None, compare=False)

    def info(self) -> dict[str, Any]:
        """The public description served at ``GET /v1/rewards``."""
        return {
            "name": self.name,
            "description": self.description,
            "range": list(self.range),
            "params_schema": self.params.model_json_schema(),
            "citation": self.citation,
        }


REGISTRY: dict[str, RewardSpec[Any]] = {}


class UnknownRewardError(KeyError):
    """Raised for a reward name that is not registered; the message lists the valid names."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.valid = sorted(REGISTRY)
        super().__init__(f"unknown reward {name!r}; valid rewards: {', '.join(self.valid)}")

    def __str__(self) -> str:
        return str(self.args[0])


def register(
    name: str,
    *,
    params: type[P],
    range: tuple[float, float],
    description: str,
    citation: str = "",
    examples: Sequence[Mapping[str, Any]] = (),
    gc_pause_items: int = GC_PAUSE_MIN_ITEMS,
    one: OneItemFn[P] | None = None,
) -> Callable[[RewardFn[P]], RewardFn[P]]:
    """Register ``fn`` under ``name``. A name registered twice is a programming error.

    ``gc_pause_items``: the batch size from which scoring pauses the cyclic collector; a reward
    that allocates little per item gains from the pause only on big batches (see `gc_pause`).

    ``one``: an optional shortcut for a call with a single `Item` (per-sample trainers send
    one completion per request): it returns that item's Score, or None for an item it does not
    handle, which then goes to ``fn`` as usual. It must score exactly as ``fn([item])`` does;
    the reward's own tests have to show it. If it raises, ``fn`` scores the item.
    """

    def decorate(fn: RewardFn[P]) -> RewardFn[P]:
        if name in REGISTRY:
            raise ValueError(f"reward {name!r} is registered twice")
        try:
            defaults: P | None = params.model_validate({})
        except ValidationError:
            defaults = None
        REGISTRY[name] = RewardSpec(
            name=name,
            fn=fn,
            params=params,
            range=range,
            description=description,
            citation=citation,
            examples=tuple(examples),
            defaults=defaults,
            gc_pause_items=gc_pause_items,
            one=one,
        )
        return fn

    return decorate


def get_reward(name: str) -> RewardSpec[Any]:
    """The spec registered under ``name``, or `UnknownRewardError` naming the valid ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownRewardError(name) from None


def as_items(items: Sequence[Item | Mapping[str, Any]]) -> Sequence[Item]:
    """Accept `Item` objects, `ItemRecord` structs or plain dicts with the Item fields (validated).

    A list or tuple of nothing but Items (or records) is returned as it is (the rewards only read
    it), checked by type in C rather than item by item in Python. A list of dicts is decoded into
    records by msgspec (`scorers.item_records`, ~5x faster than a model each); whatever msgspec
    refuses is validated by the `Item` model, which converts it or raises the usual error.
    """
    if type(items) in (list, tuple):
        kinds = set(map(type, items))
        if all(issubclass(kind, _ITEM_TYPES) for kind in kinds):  # the few distinct types, not the items
            return items  # type: ignore[return-value]  # every element is an Item or a record: checked just above
        if kinds == {dict}:
            records = records_from_python(items)
            if records is not None:
                return records
    return [_as_item(it) for it in items]


_ITEM_TYPES = (Item, ItemRecord)  # and their subclasses (the service's records checked against its limits)


def _as_item(item: Item | Mapping[str, Any]) -> Item:
    if isinstance(item, _ITEM_TYPES):
        return item  # a record reads as an Item (`scorers.item_records`)
    return Item.model_validate(item)


def score(
    name: str,
    items: Sequence[Item | Mapping[str, Any]],
    params: BaseModel | Mapping[str, Any] | None = None,
) -> list[Score]:
    """Score a batch with one registered reward: the entry point the service itself calls.

    Params are validated against the reward's params model (a `pydantic.ValidationError`
    names the bad field). A scorer that raises on the batch is retried item by item so that
    one bad item costs only its own score: it comes back with ``status="error"`` and
    ``reward=None``, never a silent 0.

    >>> [s.reward for s in score("format", [{"completion": "<think>x</think><answer>y</answer>"}])]
    [1.0]
    """
    spec = REGISTRY.get(name) or get_reward(name)  # get_reward raises, naming the valid rewards
    p = spec.defaults if params is None else None
    if p is None:
        p = _validated(spec, params)
    n = len(items)
    if not n:
        return []
    batch = as_items(items)
    one = spec.one
    if n == 1 and one is not None:  # per-sample traffic
        try:
            s = one(batch[0], p)
        except Exception:  # the batch function scores the item, and explains any failure
            log.exception("reward %s: the one-item shortcut failed; using the batch function", name)
            s = None
        if s is not None:
            return [s]
    try:
        if n < spec.gc_pause_items:  # per-sample traffic and small batches: skip even entering the pause
            out = spec.fn(batch, p)
        else:
            with collector_paused():
                out = spec.fn(batch, p)
    except Exception:
        log.exception("reward %s failed on a batch of %d; scoring item by item", name, n)
        out = [_score_one(spec, it, p) for it in batch]
    if len(out) != n:
        raise RuntimeError(f"reward {name!r} returned {len(out)} scores for {n} items")
    return out


def _validated(spec: RewardSpec[P], params: BaseModel | Mapping[str, Any] | None) -> P:
    """``params`` as the reward's params model; `pydantic.ValidationError` names a bad field."""
    if isinstance(params, spec.params):
        return params
    raw = params.model_dump() if isinstance(params, BaseModel) else dict(params or {})
    return spec.params.model_validate(raw)  # with no params: raises, naming the required field


def _score_one(spec: RewardSpec[Any], item: Item, params: BaseModel) -> Score:
    try:
        return spec.fn([item], params)[0]
    except Exception as exc:  # the reason reaches the caller; the traceback reaches the log
        log.exception("reward %s failed on one item", spec.name)
        return Score.error(f"scorer failed: {type(exc).__name__}: {exc}")
