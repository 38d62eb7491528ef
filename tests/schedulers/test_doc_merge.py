"""``RunStore.merge_doc``: the same merge from every store, and no update lost between processes."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator
from pathlib import Path

import pytest

from schedulers.base import RunStore
from schedulers.stores import open_store
from schedulers.stores.doc_merge import DocMerge, merge_fields

CTX = mp.get_context("spawn")


@pytest.fixture
def store(store_url: str) -> Iterator[RunStore]:
    s = open_store(store_url)
    yield s
    s.close()


def test_merge_creates_then_adds_keeps_extremes_and_overwrites(store: RunStore) -> None:
    first = DocMerge(add={"n": 2, "sum": 0.5}, low={"lo": 0.4}, high={"hi": 0.4}, keep={"step": 3, "w": {"a": 1}})
    doc, created = store.merge_doc("t", "stats", "s1", first)
    assert created is True
    assert doc == {"n": 2, "sum": 0.5, "lo": 0.4, "hi": 0.4, "step": 3, "w": {"a": 1}}
    doc, created = store.merge_doc(
        "t", "stats", "s1", DocMerge(add={"n": 1, "sum": 0.1}, low={"lo": 0.9}, high={"hi": 0.9}, keep={"step": 4})
    )
    assert created is False
    assert doc["n"] == 3 and doc["sum"] == pytest.approx(0.6)
    assert (doc["lo"], doc["hi"], doc["step"], doc["w"]) == (0.4, 0.9, 4, {"a": 1})
    assert store.get_doc("t", "stats", "s1") == doc
    # Tenant-scoped like every document; an empty merge makes an empty object, not a list.
    assert store.get_doc("u", "stats", "s1") is None
    assert store.merge_doc("t", "stats", "empty", DocMerge()) == ({}, True)
    assert list(store.list_docs("t", "stats")) == ["empty", "s1"]


def test_merge_refuses_non_finite_numbers() -> None:
    with pytest.raises(ValueError, match="'x' must be a finite number"):
        DocMerge(add={"x": float("nan")})
    with pytest.raises(ValueError, match="'y'"):
        DocMerge(high={"y": True})


def test_float_sums_survive_the_round_trip(store: RunStore) -> None:
    # The Redis script must not round to cjson's default 14 digits.
    for value in (0.1, 0.2, 1 / 3):
        doc, _ = store.merge_doc("t", "k", "f", DocMerge(add={"s": value}))
    assert (
        doc["s"]
        == merge_fields(
            merge_fields(merge_fields(None, DocMerge(add={"s": 0.1})), DocMerge(add={"s": 0.2})),
            DocMerge(add={"s": 1 / 3}),
        )["s"]
    )


def _merge_many(url: str, worker: int, n: int, start: mp.synchronize.Event) -> None:
    store = open_store(url)
    start.wait()
    for i in range(n):
        store.merge_doc("t", "stats", "shared", DocMerge(add={"n": 1}, low={"lo": worker * 1000 + i}, high={"hi": i}))
    store.close()


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_concurrent_processes_lose_no_merge(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path}/runs.db" if kind == "sqlite" else str(request.getfixturevalue("clean_redis_url"))
    n, workers = 150, 3
    start = CTX.Event()
    procs = [CTX.Process(target=_merge_many, args=(url, w, n, start)) for w in range(workers)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = open_store(url)
    assert store.get_doc("t", "stats", "shared") == {"n": n * workers, "lo": 0, "hi": n - 1}
    store.close()
