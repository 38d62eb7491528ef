"""SQLite run store, the embedded default: WAL, one ``BEGIN IMMEDIATE`` transaction per report.

Safe for several threads and several worker processes on one host: every write takes
SQLite's write lock first (``BEGIN IMMEDIATE``; threads, then processes, queue for it on a lock of
their own, ``<database>-writer.lock``), then reads the run, applies the report and
commits, so reports from many ranks are serialised and none is lost. ``synchronous=FULL``
(the default here) makes each acknowledged report durable against a crash of the process
and of the machine; ``synchronous=normal`` keeps it durable against a crash of the process
only, for fewer fsyncs. Each thread (and each process after a fork) opens its own connection.
"""

from __future__ import annotations

import fcntl
import json
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

from schedulers.base import (
    BufferResult,
    ClosedGroup,
    GroupPolicy,
    GroupReport,
    ReportResult,
    RunExistsError,
    RunNotFoundError,
)
from schedulers.stores.doc_merge import DocMerge, merge_fields
from schedulers.stores.pending import Closing, check_samples, merge_step, report_closing
from schedulers.stores.records import (
    Record,
    apply_report,
    check_report,
    export_state,
    import_state,
    new_record,
    public_run,
    replay,
    report_digest,
    reset_record,
    run_summary,
)

# Request ids remembered per run; older ones are pruned in the same transaction every
# PRUNE_EVERY reports. Trainers retry within seconds, so this only has to outlast a burst.
DEFAULT_MAX_REQUESTS = 100_000
PRUNE_EVERY = 1_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    tenant TEXT NOT NULL, run_id TEXT NOT NULL, record TEXT NOT NULL,
    PRIMARY KEY (tenant, run_id)
);
CREATE TABLE IF NOT EXISTS requests (
    tenant TEXT NOT NULL, run_id TEXT NOT NULL, request_key TEXT NOT NULL,
    seq INTEGER NOT NULL, result TEXT NOT NULL,
    PRIMARY KEY (tenant, run_id, request_key)
);
CREATE INDEX IF NOT EXISTS requests_seq ON requests (tenant, run_id, seq);
CREATE TABLE IF NOT EXISTS open_groups (
    tenant TEXT NOT NULL, run_id TEXT NOT NULL, grp TEXT NOT NULL,
    ious TEXT NOT NULL, step INTEGER, last_at REAL NOT NULL,
    PRIMARY KEY (tenant, run_id, grp)
);
CREATE INDEX IF NOT EXISTS open_groups_run_age ON open_groups (tenant, run_id, last_at);
CREATE INDEX IF NOT EXISTS open_groups_run_step ON open_groups (tenant, run_id, step);
CREATE INDEX IF NOT EXISTS open_groups_age ON open_groups (last_at);
CREATE TABLE IF NOT EXISTS sample_tokens (
    tenant TEXT NOT NULL, run_id TEXT NOT NULL, token TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (tenant, run_id, token)
);
CREATE INDEX IF NOT EXISTS sample_tokens_age ON sample_tokens (at);
CREATE TABLE IF NOT EXISTS docs (
    tenant TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (tenant, kind, name)
);
"""

_SYNC_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
# Per-sample adds committed together at most (see SQLiteStore._group_commit).
GROUP_COMMIT_MAX = 256
T = TypeVar("T")


class _Slot:
    """One queued call of the group commit and its outcome."""

    __slots__ = ("done", "error", "result", "work")

    def __init__(self, work: Callable[[sqlite3.Connection], Any]) -> None:
        self.work = work
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


class SQLiteStore:
    """`RunStore` in one SQLite file.

    >>> import tempfile, os
    >>> s = SQLiteStore(os.path.join(tempfile.mkdtemp(), "runs.db"))
    >>> s.create_run("t", "r", "medloc", {})["tau"]
    0.3
    >>> s.report("t", "r", [GroupReport("p", [0.2, 0.5])], request_id="x").groups[0].rewards
    [0.0, 1.0]
    >>> s.close()
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "FULL",
        busy_timeout_s: float = 60.0,
        max_requests: int = DEFAULT_MAX_REQUESTS,
    ) -> None:
        if str(path) == ":memory:":
            raise ValueError("an in-memory SQLite store is per connection; use memory:// instead")
        if synchronous.upper() not in _SYNC_MODES:
            raise ValueError(f"synchronous must be one of {', '.join(_SYNC_MODES)}")
        # Absolute now, so that a later chdir cannot point new connections at another file.
        self.path = Path(path).absolute()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.synchronous = synchronous.upper()
        self.busy_timeout_s = busy_timeout_s
        self.max_requests = max_requests
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        # Threads of this process queue here for the write lock: SQLite's own busy handler
        # polls with sleeps of up to 100 ms, which is unfair and wastes time under contention.
        self._write_lock = threading.Lock()
        # Processes queue on an flock of a file beside the database for the same reason: a
        # writer blocked in the kernel wakes when the lock is released, where the busy handler
        # slept up to 100 ms a try (two workers' per-sample reports: p99 ~0.9-1 s, 2026-12-01).
        # SQLite's own lock still guards against writers that do not take this one.
        self._lock_path = self.path.with_name(self.path.name + "-writer.lock")
        self._lock_fd = -1
        self._lock_pid = 0
        self._queue: queue.SimpleQueue[_Slot] | None = None
        self._queue_pid = 0
        self._init_schema()

    # ---- connections and transactions -----------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so that the write lock is
        # taken before the read and two writers cannot both read the same old state.
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
        # journal_mode is not set here: it lives in the file, and _init_schema sets it once.
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        self._local.conn = conn
        self._local.pid = os.getpid()
        with self._all_lock:
            self._all.append(conn)
        return conn

    def _init_schema(self) -> None:
        """WAL mode, then the tables.

        Switching a new file to WAL needs an exclusive lock that SQLite does not wait for
        (its busy handler is skipped where waiting could deadlock): two workers of one
        server opening a new file at once failed startup with "database is locked" (CI,
        2026-12-01). Under the writers' lock, the first to come switches it and the rest
        find it done.
        """
        conn = self._conn()
        with self._writers_locked():
            conn.execute("PRAGMA journal_mode = WAL")
        with self._tx() as conn:
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    conn.execute(stmt)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction holding SQLite's write lock from the start."""
        conn = self._conn()
        with self._writers_locked():
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _writers_locked(self) -> Iterator[None]:
        """This process's threads' lock, then the processes' flock of the lock file."""
        with self._write_lock:
            fd = self._writer_lock_fd()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _writer_lock_fd(self) -> int:
        """This process's descriptor of the writers' lock file (opened again after a fork: an
        inherited descriptor would share its lock with the parent's)."""
        if self._lock_pid != os.getpid():
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._lock_pid = os.getpid()
        return self._lock_fd

    def _group_commit(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in a write transaction shared with the calls other threads make meanwhile.

        Per-sample traffic makes one small write per request; with ``synchronous=FULL`` each commit
        waits for an fsync, which capped a store at a few hundred samples per second. One writer
        thread per process takes every call queued while the previous commit was syncing, runs each
        in its own savepoint (a failing call rolls back alone) and commits them together; each
        caller returns only after that commit, so an acknowledged sample is as durable as before.
        """
        slot = _Slot(work)
        self._writer().put(slot)
        slot.done.wait()
        if slot.error is not None:
            raise slot.error
        return cast(T, slot.result)

    def _writer(self) -> queue.SimpleQueue[_Slot]:
        with self._all_lock:
            if self._queue is None or self._queue_pid != os.getpid():
                self._queue = queue.SimpleQueue()
                self._queue_pid = os.getpid()
                threading.Thread(
                    target=self._write_loop, args=(self._queue,), name="sqlite-writer", daemon=True
                ).start()
            return self._queue

    def _write_loop(self, slots: queue.SimpleQueue[_Slot]) -> None:
        while True:
            batch = [slots.get()]
            while len(batch) < GROUP_COMMIT_MAX:
                try:
                    batch.append(slots.get_nowait())
                except queue.Empty:
                    break
            self._commit_batch(batch)

    def _commit_batch(self, batch: list[_Slot]) -> None:
        try:
            with self._tx() as conn:
                for slot in batch:
                    conn.execute("SAVEPOINT sample")
                    try:
                        slot.result = slot.work(conn)
                    except Exception as exc:
                        conn.execute("ROLLBACK TO sample")
                        slot.error = exc
                    conn.execute("RELEASE sample")
        except BaseException as exc:  # the commit itself failed: nothing of the batch is acknowledged
            for slot in batch:
                slot.error, slot.result = slot.error or exc, None
        finally:
            for slot in batch:
                slot.done.set()

    def _load(self, conn: sqlite3.Connection, tenant: str, run_id: str) -> Record:
        row = conn.execute("SELECT record FROM runs WHERE tenant = ? AND run_id = ?", (tenant, run_id)).fetchone()
        if row is None:
            raise RunNotFoundError(run_id)
        record: Record = json.loads(row[0])
        return record

    def _save(self, conn: sqlite3.Connection, tenant: str, record: Record) -> None:
        conn.execute(
            "UPDATE runs SET record = ? WHERE tenant = ? AND run_id = ?", (_dumps(record), tenant, record["run_id"])
        )

    # ---- runs -------------------------------------------------------------------------
    def create_run(self, tenant: str, run_id: str, scheduler: str, config: dict[str, Any]) -> dict[str, Any]:
        record = new_record(run_id, scheduler, config, time.time())
        with self._tx() as conn:
            try:
                conn.execute(
                    "INSERT INTO runs (tenant, run_id, record) VALUES (?, ?, ?)", (tenant, run_id, _dumps(record))
                )
            except sqlite3.IntegrityError:
                raise RunExistsError(run_id) from None
        return public_run(record)

    def get_run(self, tenant: str, run_id: str) -> dict[str, Any]:
        return public_run(self._load(self._conn(), tenant, run_id))

    def list_runs(self, tenant: str) -> list[dict[str, Any]]:
        rows = self._conn().execute("SELECT record FROM runs WHERE tenant = ? ORDER BY run_id", (tenant,)).fetchall()
        return [public_run(json.loads(r[0])) for r in rows]

    def delete_run(self, tenant: str, run_id: str) -> None:
        with self._tx() as conn:
            if conn.execute("DELETE FROM runs WHERE tenant = ? AND run_id = ?", (tenant, run_id)).rowcount == 0:
                raise RunNotFoundError(run_id)
            conn.execute("DELETE FROM requests WHERE tenant = ? AND run_id = ?", (tenant, run_id))
            self._forget_groups(conn, tenant, run_id)

    def reset_run(self, tenant: str, run_id: str) -> dict[str, Any]:
        with self._tx() as conn:
            record = reset_record(self._load(conn, tenant, run_id), time.time())
            self._save(conn, tenant, record)
            conn.execute("DELETE FROM requests WHERE tenant = ? AND run_id = ?", (tenant, run_id))
            self._forget_groups(conn, tenant, run_id)
        return public_run(record)

    def history(self, tenant: str, run_id: str) -> list[dict[str, Any]]:
        raises: list[dict[str, Any]] = self._load(self._conn(), tenant, run_id)["state"]["raises"]
        return raises

    def tau(self, tenant: str, run_id: str) -> float:
        return float(self._load(self._conn(), tenant, run_id)["state"]["tau"])

    def get_state(self, tenant: str, run_id: str) -> dict[str, Any]:
        return export_state(self._load(self._conn(), tenant, run_id))

    def put_state(self, tenant: str, run_id: str, state: dict[str, Any]) -> dict[str, Any]:
        with self._tx() as conn:
            record = import_state(self._load(conn, tenant, run_id), state, time.time())
            self._save(conn, tenant, record)
            conn.execute("DELETE FROM requests WHERE tenant = ? AND run_id = ?", (tenant, run_id))
            self._forget_groups(conn, tenant, run_id)
        return public_run(record)

    def report(
        self,
        tenant: str,
        run_id: str,
        groups: Sequence[GroupReport],
        *,
        step: int | None = None,
        request_id: str | None = None,
    ) -> ReportResult:
        check_report(groups, step, request_id)
        digest = report_digest(groups) if request_id is not None else ""
        with self._tx() as conn:
            if request_id is not None:
                row = conn.execute(
                    "SELECT result FROM requests WHERE tenant = ? AND run_id = ? AND request_key = ?",
                    (tenant, run_id, request_id),
                ).fetchone()
                if row is not None:
                    return replay(json.loads(row[0]), digest, request_id)
            record = self._load(conn, tenant, run_id)
            new, result = apply_report(record, groups, step, time.time())
            self._save(conn, tenant, new)
            seq = int(new["state"]["reports"])
            if request_id is not None:
                conn.execute(
                    "INSERT INTO requests (tenant, run_id, request_key, seq, result) VALUES (?, ?, ?, ?, ?)",
                    (tenant, run_id, request_id, seq, _dumps(result.to_dict() | {"digest": digest})),
                )
            if seq % PRUNE_EVERY == 0:
                conn.execute(
                    "DELETE FROM requests WHERE tenant = ? AND run_id = ? AND seq <= ?",
                    (tenant, run_id, seq - self.max_requests),
                )
        return result

    # ---- the per-sample group buffer (see schedulers.stores.pending) ----------------------
    @staticmethod
    def _forget_groups(conn: sqlite3.Connection, tenant: str, run_id: str) -> None:
        conn.execute("DELETE FROM open_groups WHERE tenant = ? AND run_id = ?", (tenant, run_id))
        conn.execute("DELETE FROM sample_tokens WHERE tenant = ? AND run_id = ?", (tenant, run_id))

    @staticmethod
    def _count_open(conn: sqlite3.Connection, tenant: str, run_id: str) -> int:
        row = conn.execute("SELECT COUNT(*) FROM open_groups WHERE tenant = ? AND run_id = ?", (tenant, run_id))
        return int(row.fetchone()[0])

    def add_samples(
        self,
        tenant: str,
        run_id: str,
        group: str,
        ious: Sequence[float | None],
        *,
        size: int,
        step: int | None = None,
        token: str | None = None,
        policy: GroupPolicy = GroupPolicy(),  # noqa: B008 (frozen dataclass)
    ) -> BufferResult:
        ious = check_samples(group, ious, size, step, token)
        now = time.time()

        # One transaction: the sample is stored, and the group it completes is reported, or neither.
        def work(conn: sqlite3.Connection) -> BufferResult:
            record = self._load(conn, tenant, run_id)
            arrival = run_summary(record)
            if token is not None:
                cur = conn.execute(
                    "INSERT INTO sample_tokens (tenant, run_id, token, at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (tenant, run_id, token) DO UPDATE SET at = excluded.at WHERE sample_tokens.at <= ?",
                    (tenant, run_id, token, now, now - policy.token_ttl_s),
                )
                if cur.rowcount == 0:
                    return BufferResult(arrival, arrival, [], self._count_open(conn, tenant, run_id), duplicate=True)
            row = conn.execute(
                "SELECT ious, step FROM open_groups WHERE tenant = ? AND run_id = ? AND grp = ?",
                (tenant, run_id, group),
            ).fetchone()
            held: list[float | None] = json.loads(row[0]) if row else []
            held.extend(ious)
            group_step = merge_step(row[1] if row else None, step)
            closing: list[Closing] = []
            if len(held) >= size:
                closing.append((group, held, group_step, True))
                if row:
                    conn.execute(
                        "DELETE FROM open_groups WHERE tenant = ? AND run_id = ? AND grp = ?", (tenant, run_id, group)
                    )
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO open_groups (tenant, run_id, grp, ious, step, last_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (tenant, run_id, group, _dumps(held), group_step, now),
                )
            closing += self._take_due(conn, tenant, run_id, now, step, policy, keep=group)
            if closing:
                record, closed = report_closing(record, closing, now)
                self._save(conn, tenant, record)
                run = public_run(record)
            else:
                closed, run = [], arrival
            return BufferResult(arrival, run, closed, self._count_open(conn, tenant, run_id))

        return self._group_commit(work)

    def _take_due(
        self,
        conn: sqlite3.Connection,
        tenant: str,
        run_id: str,
        now: float,
        step: int | None,
        policy: GroupPolicy,
        keep: str | None,
    ) -> list[Closing]:
        """Delete and return the run's open groups that the policy closes, oldest first."""
        rows = conn.execute(
            "SELECT grp, ious, step, last_at FROM open_groups WHERE tenant = ? AND run_id = ? AND last_at <= ?",
            (tenant, run_id, now - policy.timeout_s),
        ).fetchall()
        if step is not None:
            rows += conn.execute(
                "SELECT grp, ious, step, last_at FROM open_groups WHERE tenant = ? AND run_id = ? AND step <= ? "
                "AND last_at > ?",
                (tenant, run_id, step - policy.step_lag, now - policy.timeout_s),
            ).fetchall()
        rows = [r for r in rows if r[0] != keep]
        excess = self._count_open(conn, tenant, run_id) - len(rows) - policy.max_pending
        if excess > 0:
            taken = {r[0] for r in rows} | {keep}
            oldest = conn.execute(
                "SELECT grp, ious, step, last_at FROM open_groups WHERE tenant = ? AND run_id = ? "
                "ORDER BY last_at LIMIT ?",
                (tenant, run_id, excess + len(taken)),
            ).fetchall()
            rows += [r for r in oldest if r[0] not in taken][:excess]
        rows.sort(key=lambda r: r[3])
        for r in rows:
            conn.execute("DELETE FROM open_groups WHERE tenant = ? AND run_id = ? AND grp = ?", (tenant, run_id, r[0]))
        return [(r[0], json.loads(r[1]), r[2], False) for r in rows]

    def close_stale_groups(
        self, policy: GroupPolicy, *, now: float | None = None
    ) -> list[tuple[str, str, ClosedGroup]]:
        now = time.time() if now is None else now
        # A read first: the sweep takes the write lock only when something is due.
        runs = (
            self._conn()
            .execute("SELECT DISTINCT tenant, run_id FROM open_groups WHERE last_at <= ?", (now - policy.timeout_s,))
            .fetchall()
        )
        out: list[tuple[str, str, ClosedGroup]] = []
        for tenant, run_id in runs:
            with self._tx() as conn:
                closing = self._take_due(conn, tenant, run_id, now, None, policy, keep=None)
                try:
                    record = self._load(conn, tenant, run_id)
                except RunNotFoundError:
                    continue  # deleted meanwhile: its groups go with it
                if closing:
                    record, closed = report_closing(record, closing, now)
                    self._save(conn, tenant, record)
                    out += [(tenant, run_id, c) for c in closed]
        with self._tx() as conn:
            conn.execute("DELETE FROM sample_tokens WHERE at <= ?", (now - policy.token_ttl_s,))
        return out

    def pending_groups(self, tenant: str, run_id: str) -> int:
        return self._count_open(self._conn(), tenant, run_id)

    # ---- documents --------------------------------------------------------------------
    def put_doc(self, tenant: str, kind: str, name: str, doc: dict[str, Any]) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO docs (tenant, kind, name, doc) VALUES (?, ?, ?, ?)",
                (tenant, kind, name, _dumps(doc)),
            )

    def get_doc(self, tenant: str, kind: str, name: str) -> dict[str, Any] | None:
        row = (
            self._conn()
            .execute("SELECT doc FROM docs WHERE tenant = ? AND kind = ? AND name = ?", (tenant, kind, name))
            .fetchone()
        )
        return None if row is None else dict(json.loads(row[0]))

    def delete_doc(self, tenant: str, kind: str, name: str) -> bool:
        with self._tx() as conn:
            cur = conn.execute("DELETE FROM docs WHERE tenant = ? AND kind = ? AND name = ?", (tenant, kind, name))
            return cur.rowcount > 0

    def list_docs(self, tenant: str, kind: str) -> dict[str, dict[str, Any]]:
        rows = (
            self._conn()
            .execute("SELECT name, doc FROM docs WHERE tenant = ? AND kind = ? ORDER BY name", (tenant, kind))
            .fetchall()
        )
        return {name: json.loads(doc) for name, doc in rows}

    def merge_doc(self, tenant: str, kind: str, name: str, merge: DocMerge) -> tuple[dict[str, Any], bool]:
        # BEGIN IMMEDIATE: the write lock is held from the read on, so no other writer's merge is lost.
        with self._tx() as conn:
            row = conn.execute(
                "SELECT doc FROM docs WHERE tenant = ? AND kind = ? AND name = ?", (tenant, kind, name)
            ).fetchone()
            doc = merge_fields(None if row is None else json.loads(row[0]), merge)
            conn.execute(
                "INSERT OR REPLACE INTO docs (tenant, kind, name, doc) VALUES (?, ?, ?, ?)",
                (tenant, kind, name, _dumps(doc)),
            )
        return doc, row is None

    def ping(self) -> bool:
        try:
            self._conn().execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def close(self) -> None:
        with self._write_lock:
            if self._lock_pid == os.getpid():
                os.close(self._lock_fd)
            self._lock_fd, self._lock_pid = -1, 0
        with self._all_lock:
            conns, self._all = self._all, []
        for conn in conns:
            try:
                conn.close()
            except sqlite3.Error:  # a connection of another thread mid-use; it dies with the process
                pass
        self._local = threading.local()
