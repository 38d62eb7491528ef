"""A request id comes back with other groups or IoUs: 409 (RequestConflictError), never a mixed replay.

Every store keeps a digest of what a report carried next to its stored result; a retry of the
same report replays the stored result exactly, another report under the same id changes nothing
and is refused (it used to return the stored groups, so items of other groups kept raw IoUs).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from schedulers.base import GroupReport, RequestConflictError, RunStore
from schedulers.stores import open_store
from schedulers.stores.records import report_digest

KINDS = ["memory", "sqlite", "redis"]


@pytest.fixture(params=KINDS, ids=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunStore]:
    if request.param == "memory":
        url = "memory://"
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/runs.db"
    else:
        url = request.getfixturevalue("clean_redis_url")
    s = open_store(url)
    yield s
    s.close()


FIRST = [GroupReport("img-1", [0.9, 0.2])]


@pytest.mark.parametrize(
    "other",
    [
        [GroupReport("img-2", [0.9, 0.2])],  # same IoUs, another prompt group
        [GroupReport("img-1", [0.9, 0.3])],  # same group, another completion's IoU
        [GroupReport("img-1", [0.9])],  # fewer items
        [GroupReport("img-1", [0.9, 0.2]), GroupReport("img-2", [0.5])],  # an extra group
    ],
    ids=["other-group", "other-iou", "fewer-items", "extra-group"],
)
def test_a_reused_request_id_with_other_data_is_refused_and_changes_nothing(
    store: RunStore, other: list[GroupReport]
) -> None:
    store.create_run("t", "r", "fixed", {"tau": 0.5})
    first = store.report("t", "r", FIRST, request_id="step-3")
    before = store.get_run("t", "r")
    with pytest.raises(RequestConflictError, match="step-3"):
        store.report("t", "r", other, request_id="step-3")
    assert store.get_run("t", "r") == before
    again = store.report("t", "r", FIRST, request_id="step-3")
    assert again.replayed and again.groups == first.groups and again.run == first.run


def test_a_retry_replays_exactly_even_with_unscorable_values_spelled_differently(store: RunStore) -> None:
    # None, NaN and a string are all "unscorable" to the scheduler: the same report.
    store.create_run("t", "r", "fixed", {"tau": 0.5})
    first = store.report("t", "r", [GroupReport("g", [0.7, None])], request_id="x")
    again = store.report("t", "r", [GroupReport("g", [0.7, float("nan")])], request_id="x")
    assert again.replayed and again.groups == first.groups


def test_sqlite_records_stored_before_digests_still_replay(tmp_path: Path) -> None:
    """An idempotency record written by an older version (no digest) replays as it did."""
    path = tmp_path / "runs.db"
    store = open_store(f"sqlite:///{path}")
    store.create_run("t", "r", "fixed", {"tau": 0.5})
    first = store.report("t", "r", FIRST, request_id="old")
    with sqlite3.connect(path) as conn:
        (raw,) = conn.execute("SELECT result FROM requests").fetchone()
        doc = json.loads(raw)
        assert doc.pop("digest") == report_digest(FIRST)
        conn.execute("UPDATE requests SET result = ?", (json.dumps(doc),))
    again = store.report("t", "r", [GroupReport("img-2", [0.1])], request_id="old")
    assert again.replayed and again.groups == first.groups
    store.close()
