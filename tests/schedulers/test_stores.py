"""The same RunStore behaviour from every store: memory, sqlite (a file) and redis (a real server)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from schedulers.base import (
    GroupReport,
    RunExistsError,
    RunNotFoundError,
    RunStore,
    SchedulerConfigError,
    StoreURLError,
)
from schedulers.registry import make_scheduler
from schedulers.stores import MemoryStore, SQLiteStore, open_store
from schedulers.stores.redis import RedisStore

# A quick medloc: raises after 4 groups, keeps 2.
QUICK = {"window": 4}


@pytest.fixture
def store(store_url: str) -> Iterator[RunStore]:
    s = open_store(store_url)
    yield s
    s.close()


def strip_times(run: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run.items() if k not in ("created_at", "updated_at")}


def test_create_and_get_a_run(store: RunStore) -> None:
    created = store.create_run("t1", "exp-1", "medloc", {"window": 10})
    assert created["run_id"] == "exp-1" and created["scheduler"] == "medloc"
    assert created["config"]["window"] == 10 and created["config"]["tau0"] == 0.3, "defaults filled in"
    assert (created["tau"], created["step"], created["groups"], created["raises"]) == (0.3, 0, 0, [])
    assert created["window"]["size"] == 0 and created["window"]["capacity"] == 10
    assert strip_times(store.get_run("t1", "exp-1")) == strip_times(created)
    assert store.tau("t1", "exp-1") == 0.3


def test_a_taken_id_is_refused_and_the_first_run_kept(store: RunStore) -> None:
    store.create_run("t1", "r", "fixed", {"tau": 0.5})
    with pytest.raises(RunExistsError):
        store.create_run("t1", "r", "medloc", {})
    assert store.get_run("t1", "r")["scheduler"] == "fixed"


@pytest.mark.parametrize(
    ("scheduler", "config"),
    [("nope", {}), ("medloc", {"window": -1})],
    ids=["unknown-scheduler", "bad-field"],
)
def test_a_bad_config_creates_nothing(store: RunStore, scheduler: str, config: dict[str, Any]) -> None:
    with pytest.raises(SchedulerConfigError):
        store.create_run("t1", "r", scheduler, config)
    assert store.list_runs("t1") == []


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.get_run("t1", "missing"),
        lambda s: s.history("t1", "missing"),
        lambda s: s.tau("t1", "missing"),
        lambda s: s.reset_run("t1", "missing"),
        lambda s: s.delete_run("t1", "missing"),
        lambda s: s.get_state("t1", "missing"),
        lambda s: s.put_state("t1", "missing", {}),
        lambda s: s.report("t1", "missing", [GroupReport("g", [0.5])], request_id="x"),
    ],
    ids=["get", "history", "tau", "reset", "delete", "get-state", "put-state", "report"],
)
def test_a_missing_run_is_not_found(store: RunStore, call: Any) -> None:
    with pytest.raises(RunNotFoundError):
        call(store)


def test_runs_are_tenant_scoped(store: RunStore) -> None:
    store.create_run("alice", "shared-id", "fixed", {"tau": 0.5})
    store.create_run("bob", "shared-id", "fixed", {"tau": 0.7})
    store.create_run("alice", "second", "medloc", {})
    store.report("alice", "shared-id", [GroupReport("g", [0.6])])
    assert store.get_run("bob", "shared-id")["groups"] == 0, "bob's run is untouched"
    assert store.get_run("bob", "shared-id")["tau"] == 0.7
    assert [r["run_id"] for r in store.list_runs("alice")] == ["second", "shared-id"]
    assert store.list_runs("carol") == []
    with pytest.raises(RunNotFoundError):
        store.get_run("carol", "second")
    store.delete_run("bob", "shared-id")
    assert store.get_run("alice", "shared-id")["groups"] == 1


def test_separators_in_ids_do_not_collide(store: RunStore) -> None:
    store.create_run("a:b", "c", "fixed", {"tau": 0.1})
    store.create_run("a", "b:c", "fixed", {"tau": 0.2})
    assert store.tau("a:b", "c") == 0.1 and store.tau("a", "b:c") == 0.2
    assert [r["run_id"] for r in store.list_runs("a")] == ["b:c"]


def test_report_scores_with_the_tau_in_force_and_counts_groups(store: RunStore) -> None:
    store.create_run("t", "r", "medloc", QUICK)
    results = [store.report("t", "r", [GroupReport(f"g{i}", [0.5, 0.2, None])], step=i) for i in range(5)]
    assert results[0].groups[0].rewards == [1.0, 0.0, None]
    assert [r.groups[0].tau for r in results] == [0.3] * 5
    run = store.get_run("t", "r")
    assert (run["groups"], run["step"], run["reports"]) == (5, 4, 5)
    assert run["window"]["mean_reward"] == 0.5 and run["window"]["size"] == 4
    assert results[-1].run["groups"] == 5 and not results[-1].replayed


def test_a_repeated_request_id_returns_the_first_result_and_changes_nothing(store: RunStore) -> None:
    store.create_run("t", "r", "medloc", QUICK)
    first = store.report("t", "r", [GroupReport("g", [0.9, 0.1])], step=3, request_id="batch-7")
    before = store.get_run("t", "r")
    for _ in range(5):  # trainers retry 5–10 times (another payload is a 409: test_request_reuse.py)
        again = store.report("t", "r", [GroupReport("g", [0.9, 0.1])], step=9, request_id="batch-7")
        assert again.replayed
        assert again.groups == first.groups
        assert again.run == first.run
    assert store.get_run("t", "r") == before
    other = store.report("t", "r", [GroupReport("g", [0.9])], request_id="batch-8")
    assert not other.replayed and other.run["groups"] == 2


def test_request_ids_are_per_run(store: RunStore) -> None:
    store.create_run("t", "a", "fixed", {})
    store.create_run("t", "b", "fixed", {})
    store.report("t", "a", [GroupReport("g", [0.9])], request_id="same")
    assert not store.report("t", "b", [GroupReport("g", [0.9])], request_id="same").replayed
    assert store.get_run("t", "b")["groups"] == 1


def test_raises_reach_the_history(store: RunStore) -> None:
    store.create_run("t", "r", "medloc", QUICK)
    raised = [store.report("t", "r", [GroupReport(str(i), [0.9] * 4)], step=i).groups[0].raised for i in range(6)]
    assert raised == [False, False, False, True, False, True]
    history = store.history("t", "r")
    assert [(h["step"], h["tau_before"], h["tau_after"]) for h in history] == [(3, 0.3, 0.45), (5, 0.45, 0.6)]
    assert history[0]["mean_reward"] == 1.0 and history[0]["std_reward"] == 0.0
    assert history[0]["mean_iou"] == pytest.approx(0.9)
    assert store.get_run("t", "r")["raises"] == history
    assert store.tau("t", "r") == 0.6


def test_reset_returns_to_tau0_and_forgets_request_ids(store: RunStore) -> None:
    store.create_run("t", "r", "medloc", QUICK)
    for i in range(4):
        store.report("t", "r", [GroupReport(str(i), [0.9] * 4)], request_id=f"q{i}")
    assert store.tau("t", "r") == 0.45
    reset = store.reset_run("t", "r")
    assert (reset["tau"], reset["groups"], reset["raises"], reset["config"]["window"]) == (0.3, 0, [], 4)
    again = store.report("t", "r", [GroupReport("0", [0.9] * 4)], request_id="q0")
    assert not again.replayed and again.run["groups"] == 1


def test_delete_then_recreate_starts_clean(store: RunStore) -> None:
    store.create_run("t", "r", "fixed", {})
    store.report("t", "r", [GroupReport("g", [0.9])], request_id="q")
    store.delete_run("t", "r")
    assert store.list_runs("t") == []
    store.create_run("t", "r", "fixed", {})
    assert not store.report("t", "r", [GroupReport("g", [0.9])], request_id="q").replayed


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"step": -1}, "step"), ({"request_id": ""}, "request_id"), ({"step": 1.5}, "step")],
    ids=["negative-step", "empty-request-id", "fractional-step"],
)
def test_malformed_reports_change_nothing(store: RunStore, kwargs: dict[str, Any], message: str) -> None:
    store.create_run("t", "r", "fixed", {})
    with pytest.raises(ValueError, match=message):
        store.report("t", "r", [GroupReport("g", [0.9])], **kwargs)
    assert store.get_run("t", "r")["groups"] == 0


def test_every_store_agrees_with_the_pure_scheduler(store: RunStore) -> None:
    """One scripted run through the store and through the bare state machine: same rewards, same state."""
    config = {"window": 6, "decay": "cosine", "rescore_kept": True}
    store.create_run("t", "r", "medloc", config)
    sched = make_scheduler("medloc", config)
    for i in range(40):
        groups = [GroupReport(f"{i}-{j}", [0.25 + 0.015 * i + 0.01 * j, None, 0.3 + 0.012 * i]) for j in range(2)]
        got = store.report("t", "r", groups, step=i, request_id=f"r{i}")
        assert got.groups == sched.report(groups, step=i)
    run = store.get_run("t", "r")
    assert {k: run[k] for k in ("tau", "step", "groups", "window", "raises")} == {
        k: v for k, v in sched.public().items() if k in ("tau", "step", "groups", "window", "raises")
    }
    assert len(run["raises"]) >= 2


def test_documents_are_tenant_scoped(store: RunStore) -> None:
    store.put_doc("alice", "profile", "p1", {"rewards": {"iou": 1.0}})
    store.put_doc("alice", "profile", "p2", {"rewards": {}})
    store.put_doc("bob", "profile", "p1", {"rewards": {"answer": 1.0}})
    store.put_doc("alice", "profile", "p1", {"rewards": {"iou": 0.5}})  # replace
    assert store.get_doc("alice", "profile", "p1") == {"rewards": {"iou": 0.5}}
    assert list(store.list_docs("alice", "profile")) == ["p1", "p2"]
    assert store.list_docs("alice", "other-kind") == {}
    assert store.delete_doc("alice", "profile", "p1") is True
    assert store.delete_doc("alice", "profile", "p1") is False
    assert store.get_doc("alice", "profile", "p1") is None
    assert store.get_doc("bob", "profile", "p1") == {"rewards": {"answer": 1.0}}


def test_ping(store: RunStore) -> None:
    assert store.ping() is True


@pytest.mark.parametrize("kind", ["sqlite", "redis"], ids=["sqlite", "redis"])
def test_state_survives_reopening_the_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path}/runs.db" if kind == "sqlite" else request.getfixturevalue("clean_redis_url")
    first = open_store(url)
    first.create_run("t", "r", "medloc", QUICK)
    for i in range(5):
        first.report("t", "r", [GroupReport(str(i), [0.9] * 4)], step=i, request_id=f"q{i}")
    first.put_doc("t", "profile", "p", {"x": 1})
    before = first.get_run("t", "r")
    first.close()

    second = open_store(url)
    assert second.get_run("t", "r") == before
    assert second.report("t", "r", [GroupReport("4", [0.9] * 4)], request_id="q4").replayed
    assert second.get_doc("t", "profile", "p") == {"x": 1}
    second.close()


def test_memory_store_forgets_the_oldest_request_ids_past_its_bound() -> None:
    store = MemoryStore(max_requests=3)
    store.create_run("t", "r", "fixed", {})
    for i in range(5):
        store.report("t", "r", [GroupReport("g", [0.9])], request_id=f"q{i}")
    assert store.report("t", "r", [GroupReport("g", [0.9])], request_id="q4").replayed
    assert not store.report("t", "r", [GroupReport("g", [0.9])], request_id="q0").replayed


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("memory://", MemoryStore),
        ("sqlite:///relative/runs.db", SQLiteStore),
        ("sqlite:///runs.db?synchronous=normal", SQLiteStore),
        ("SQLITE:///runs.db", SQLiteStore),
    ],
    ids=["memory", "sqlite-relative", "sqlite-option", "scheme-case-insensitive"],
)
def test_open_store_urls(url: str, kind: type, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store(url)
    assert isinstance(store, kind)
    if isinstance(store, SQLiteStore):
        assert store.path.is_relative_to(tmp_path), "relative paths are under the working directory"
    store.close()


def test_open_store_absolute_sqlite_path(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/abs.db")  # sqlite:////tmp/... = absolute
    assert isinstance(store, SQLiteStore) and store.path == tmp_path / "abs.db"
    store.close()
    assert (tmp_path / "abs.db").exists()


def test_open_store_redis_url_with_prefix(clean_redis_url: str) -> None:
    store = open_store(clean_redis_url + "?prefix=team-a")
    assert isinstance(store, RedisStore) and store.prefix == "team-a"
    store.create_run("t", "r", "fixed", {})
    assert store.client.exists("team-a:run:t:r") == 1
    store.close()


def test_redis_gives_up_on_endless_contention_with_a_timeout(
    clean_redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that always loses the WATCH race ends in TimeoutError (→ 503 + Retry-After), not a hang."""
    import redis as redis_lib

    import schedulers.stores.redis as redis_store

    monkeypatch.setattr(redis_store, "CONTENTION_DEADLINE_S", 0.05)
    store = open_store(clean_redis_url)
    assert isinstance(store, RedisStore)
    rival = redis_lib.Redis.from_url(clean_redis_url)

    def always_beaten(pipe: Any) -> None:
        rival.incr("contended")  # another replica commits between our WATCH and EXEC
        pipe.multi()
        pipe.set("contended", 0)
        pipe.execute()

    with pytest.raises(redis_lib.TimeoutError, match="other writers kept changing"):
        store._optimistic("contended", always_beaten)
    assert int(rival.get("contended") or 0) > 1, "it retried before giving up"
    store.close()


@pytest.mark.parametrize(
    "url",
    ["postgres://db", "medreward.db", "sqlite://runs.db", "sqlite:///:memory:", "sqlite:///x.db?mode=ro", ""],
    ids=["unknown-scheme", "no-scheme", "two-slashes", "sqlite-in-memory", "unknown-option", "empty"],
)
def test_open_store_rejects_what_it_cannot_open(url: str) -> None:
    with pytest.raises(StoreURLError) as info:
        open_store(url)
    assert isinstance(info.value, ValueError) and str(info.value)


def test_put_state_rolls_back_to_a_trainer_checkpoint(store: RunStore) -> None:
    store.create_run("t", "r", "medloc", QUICK)
    for i in range(2):
        store.report("t", "r", [GroupReport(str(i), [0.9] * 4)], step=i, request_id=f"q{i}")
    checkpoint = json.loads(json.dumps(store.get_state("t", "r")))  # saved beside the model weights
    assert checkpoint["scheduler"] == "medloc" and checkpoint["state"]["groups"] == 2
    for i in range(2, 4):
        store.report("t", "r", [GroupReport(str(i), [0.9] * 4)], step=i, request_id=f"q{i}")
    assert store.tau("t", "r") == 0.45

    restored = store.put_state("t", "r", checkpoint["state"])
    assert (restored["tau"], restored["groups"], restored["step"], restored["raises"]) == (0.3, 2, 1, [])
    redo = store.report("t", "r", [GroupReport("2", [0.9] * 4)], step=2, request_id="q2")
    assert not redo.replayed, "reports after the checkpoint count again"
    store.report("t", "r", [GroupReport("3", [0.9] * 4)], step=3, request_id="q3")
    assert store.tau("t", "r") == 0.45 and store.get_run("t", "r")["groups"] == 4


@pytest.mark.parametrize(
    "state",
    [
        {"tau": 2.0, "step": 0, "groups": 0},
        {"step": 0, "groups": 0},
        {"tau": 0.3, "step": -1, "groups": 0},
        {"tau": 0.3, "step": 0, "groups": 0, "window": [["x", 0.5, [0.5]]]},
        {"tau": 0.3, "step": 0, "groups": 0, "window": [[1.0, 0.5, []]]},
        {"tau": 0.3, "step": 0, "groups": 0, "version": 7},
        ["not", "an", "object"],
    ],
    ids=["tau-above-one", "tau-missing", "negative-step", "garbage-window", "no-ious", "future-version", "list"],
)
def test_a_malformed_state_is_refused_and_changes_nothing(store: RunStore, state: Any) -> None:
    store.create_run("t", "r", "medloc", QUICK)
    store.report("t", "r", [GroupReport("g", [0.9])], request_id="q")
    before = store.get_run("t", "r")
    with pytest.raises(SchedulerConfigError) as info:
        store.put_state("t", "r", state)
    assert info.value.field == "state"
    assert store.get_run("t", "r") == before
    assert store.report("t", "r", [GroupReport("g", [0.9])], request_id="q").replayed, "request ids kept"
