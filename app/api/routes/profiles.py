"""Profiles: list, read, save and delete (tenant-scoped; presets and file profiles are read-only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from app.api.deps import ProfilesDep, TenantDep
from app.profile_checks import check_profile
from app.profiles import PROFILE_NAME, Profile
from app.schemas import ProfileList, ProfileOut

router = APIRouter(prefix="/v1/profiles", tags=["profiles"])

ProfileName = Annotated[str, Path(pattern=PROFILE_NAME, description="Profile name.", examples=["vqa-closed"])]


@router.get("", response_model=ProfileList)
def list_profiles(tenant: TenantDep, profiles: ProfilesDep) -> ProfileList:
    """Every profile this tenant can use, with where it comes from."""
    rows = [ProfileOut(name=n, source=src, profile=p) for n, (src, p) in sorted(profiles.all(tenant).items())]
    return ProfileList(profiles=rows)


@router.get("/{name}", response_model=ProfileOut)
def get_profile(name: ProfileName, tenant: TenantDep, profiles: ProfilesDep) -> ProfileOut:
    """One profile."""
    source, prof = profiles.get(tenant, name)
    return ProfileOut(name=name, source=source, profile=prof)


@router.put("/{name}", response_model=ProfileOut)
def put_profile(name: ProfileName, body: Profile, tenant: TenantDep, profiles: ProfilesDep) -> ProfileOut:
    """Create or replace this tenant's profile (it shadows a preset of the same name)."""
    check_profile(body)
    profiles.put(tenant, name, body)
    return ProfileOut(name=name, source="tenant", profile=body)


@router.delete("/{name}", status_code=204, response_class=Response)
def delete_profile(name: ProfileName, tenant: TenantDep, profiles: ProfilesDep) -> Response:
    """Delete this tenant's profile (presets and file profiles are read-only: 409)."""
    profiles.delete(tenant, name)
    return Response(status_code=204)
