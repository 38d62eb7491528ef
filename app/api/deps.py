"""Dependencies as ``Annotated`` aliases: settings, the run store, profiles and the caller's tenant.

They are ``async def`` on purpose: each only reads app state or compares a key, and FastAPI
would run a sync dependency in the threadpool, a hop per dependency per request that per-sample
trainers (one request per completion) would pay many times over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api.media import wants_msgpack
from app.auth import KeyRing
from app.grouping import GroupBuffer
from app.profiles import ProfileBook
from app.settings import Settings
from schedulers.base import RunStore

# auto_error=False: the missing-key case gets our own 401 body (and open mode needs no header).
bearer = HTTPBearer(auto_error=False, description="API key (MEDREWARD_API_KEYS); not needed in open mode.")


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_store(request: Request) -> RunStore:
    store: RunStore = request.app.state.store
    return store


async def get_profiles(request: Request) -> ProfileBook:
    book: ProfileBook = request.app.state.profiles
    return book


async def get_group_buffer(request: Request) -> GroupBuffer:
    buffer: GroupBuffer = request.app.state.group_buffer
    return buffer


def _keyring(request: Request) -> KeyRing:
    ring: KeyRing = request.app.state.keyring
    return ring


async def get_tenant(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> str:
    header = f"Bearer {credentials.credentials}" if credentials else request.headers.get("authorization")
    tenant = _keyring(request).authenticate(header)
    request.state.tenant = tenant  # for error messages that list this tenant's names
    return tenant


async def get_adapter_tenant(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    api_key: Annotated[
        str | None,
        Query(
            max_length=512,
            description="API key for trainers that cannot send headers (OpenRLHF, slime); never logged.",
        ),
    ] = None,
) -> str:
    header = f"Bearer {credentials.credentials}" if credentials else request.headers.get("authorization")
    tenant = _keyring(request).authenticate(header, api_key)
    request.state.tenant = tenant
    return tenant


@dataclass(frozen=True)
class Service:
    """Everything a scoring route needs, resolved as one dependency.

    Scoring routes serve per-sample traffic (one request per completion); FastAPI's cost grows
    with the number of dependencies it solves per request, so they take this one.
    """

    settings: Settings
    store: RunStore
    profiles: ProfileBook
    buffer: GroupBuffer
    tenant: str
    msgpack: bool = False
    """Write the scoring response as MessagePack: the caller's ``Accept`` asked for it (`app.api.media`)."""


def _service(request: Request, tenant: str, msgpack: bool = False) -> Service:
    state = request.app.state
    return Service(state.settings, state.store, state.profiles, state.group_buffer, tenant, msgpack)


async def get_service(request: Request, tenant: Annotated[str, Depends(get_tenant)]) -> Service:
    return _service(request, tenant, wants_msgpack(request.headers.get("accept")))


async def get_adapter_service(request: Request, tenant: Annotated[str, Depends(get_adapter_tenant)]) -> Service:
    return _service(request, tenant)


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[RunStore, Depends(get_store)]
ProfilesDep = Annotated[ProfileBook, Depends(get_profiles)]
TenantDep = Annotated[str, Depends(get_tenant)]
GroupBufferDep = Annotated[GroupBuffer, Depends(get_group_buffer)]
ServiceDep = Annotated[Service, Depends(get_service)]
AdapterServiceDep = Annotated[Service, Depends(get_adapter_service)]
AdapterTenantDep = Annotated[str, Depends(get_adapter_tenant)]
