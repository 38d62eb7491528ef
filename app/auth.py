"""API keys mapped to tenants (``Authorization: Bearer <key>``), compared in constant time.

With no keys configured the service is open: every caller is the tenant ``default`` and the
CLI binds 127.0.0.1 only. Keys never reach a log line; the tenant name does.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

from app.api.errors import ApiError

OPEN_TENANT = "default"
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class KeyFileError(ValueError):
    """The keys setting or file is malformed (the message never contains a key)."""


def parse_keys(spec: str, file: Path | None = None) -> dict[str, str]:
    """``"key1:tenant1,key2:tenant2"`` plus ``key:tenant`` lines of ``file`` → {key: tenant}.

    >>> parse_keys("k1:alice, k2:bob")
    {'k1': 'alice', 'k2': 'bob'}
    """
    entries = [e for e in (s.strip() for s in spec.split(",")) if e]
    if file is not None:
        for line in Path(file).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                entries.append(line)
    keys: dict[str, str] = {}
    for n, entry in enumerate(entries, 1):
        key, sep, tenant = entry.rpartition(":")
        key, tenant = key.strip(), tenant.strip()
        if not sep or not key or not tenant:
            raise KeyFileError(f"API key entry {n} is not 'key:tenant'")
        keys[key] = tenant
    return keys


@dataclass(frozen=True)
class KeyRing:
    """The configured keys, held as SHA-256 digests so every comparison has the same length."""

    digests: tuple[tuple[bytes, str], ...]

    @classmethod
    def from_keys(cls, keys: dict[str, str]) -> KeyRing:
        return cls(tuple((hashlib.sha256(k.encode()).digest(), t) for k, t in keys.items()))

    @property
    def open(self) -> bool:
        return not self.digests

    def tenant_for(self, key: str) -> str | None:
        """The tenant of ``key``; every configured key is compared so timing says nothing."""
        probe = hashlib.sha256(key.encode()).digest()
        found: str | None = None
        for digest, tenant in self.digests:
            if hmac.compare_digest(probe, digest):
                found = tenant
        return found

    def authenticate(self, authorization: str | None, query_key: str | None = None) -> str:
        """The caller's tenant from ``Authorization: Bearer`` (or an adapter's ``?api_key=``); 401 otherwise."""
        if self.open:
            return OPEN_TENANT
        key: str | None = None
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer" and value.strip():
                key = value.strip()
        if key is None and query_key:
            key = query_key
        if key is None:
            raise ApiError(
                401, "unauthorized", "missing API key: send 'Authorization: Bearer <key>'", headers=_CHALLENGE
            )
        tenant = self.tenant_for(key)
        if tenant is None:
            raise ApiError(401, "unauthorized", "invalid API key", headers=_CHALLENGE)
        return tenant
