"""Run-state stores (memory, sqlite, redis) and ``open_store(url)``.

URLs (``MEDREWARD_STORE_URL``):

- ``memory://`` — in-process, for tests.
- ``sqlite:///medreward.db`` — relative to the working directory; ``sqlite:////abs/path.db``
  absolute. Query options: ``synchronous=full|normal`` (default full), ``busy_timeout_s``.
- ``redis://host:port/db`` (also ``rediss://``, ``unix://``) — query options ``prefix``
  (key prefix, default ``medreward``) and ``request_ttl_s``; the rest of the URL goes to redis-py.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from schedulers.base import RunStore, StoreURLError
from schedulers.stores.memory import MemoryStore
from schedulers.stores.sqlite import SQLiteStore

__all__ = ["MemoryStore", "SQLiteStore", "open_store"]


def open_store(url: str) -> RunStore:
    """Open the store a URL names; `StoreURLError` (a ValueError) for anything else.

    >>> type(open_store("memory://")).__name__
    'MemoryStore'
    >>> open_store("mongodb://x")
    Traceback (most recent call last):
    ...
    schedulers.base.StoreURLError: unsupported store URL scheme 'mongodb' (use memory://, sqlite:///path.db or redis://host:port/db)
    """
    if not isinstance(url, str) or "://" not in url:
        raise StoreURLError(f"store URL must look like scheme://..., got {url!r}")
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        return MemoryStore()
    if scheme == "sqlite":
        return _open_sqlite(url)
    if scheme in ("redis", "rediss", "unix"):
        return _open_redis(url)
    raise StoreURLError(
        f"unsupported store URL scheme {scheme!r} (use memory://, sqlite:///path.db or redis://host:port/db)"
    )


def _open_sqlite(url: str) -> SQLiteStore:
    rest = url.split("://", 1)[1]
    if not rest.startswith("/"):
        raise StoreURLError(f"sqlite URL needs three slashes: sqlite:///relative.db or sqlite:////abs.db, got {url!r}")
    path, _, query = rest[1:].partition("?")
    if not path or path == ":memory:":
        raise StoreURLError("sqlite URL needs a file path (use memory:// for an in-process store)")
    opts = dict(parse_qsl(query))
    unknown = set(opts) - {"synchronous", "busy_timeout_s"}
    if unknown:
        raise StoreURLError(f"unknown sqlite URL option(s): {', '.join(sorted(unknown))}")
    try:
        return SQLiteStore(
            path,
            synchronous=opts.get("synchronous", "FULL"),
            busy_timeout_s=float(opts.get("busy_timeout_s", 60.0)),
        )
    except ValueError as exc:
        raise StoreURLError(f"bad sqlite URL {url!r}: {exc}") from None


def _open_redis(url: str) -> RunStore:
    from schedulers.stores.redis import RedisStore  # redis-py import kept off the embedded path

    parts = urlsplit(url)
    params = parse_qsl(parts.query)
    ours = {k: v for k, v in params if k in ("prefix", "request_ttl_s")}
    theirs = [(k, v) for k, v in params if k not in ours]
    client_url = urlunsplit(parts._replace(query=urlencode(theirs)))
    try:
        return RedisStore.from_url(
            client_url,
            prefix=ours.get("prefix", "medreward"),
            request_ttl_s=int(ours.get("request_ttl_s", 7 * 24 * 3600)),
        )
    except ValueError as exc:
        raise StoreURLError(f"bad redis URL {url!r}: {exc}") from None
