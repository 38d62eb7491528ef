"""What a profile must satisfy beyond its schema before it is stored or served.

`app.profiles.Profile` checks shapes; these checks need the scheduler registry and the
operator's settings. They run where profiles enter: ``PUT /v1/profiles/{name}``, inline profiles
of ``POST /v1/score``, and the profiles file at start (which obeys the judge allow-list too).
"""

from __future__ import annotations

from collections.abc import Mapping

from app.api.errors import ApiError
from app.limits import check_weights
from app.profiles import Profile, resolve
from schedulers.base import SchedulerConfigError
from schedulers.registry import validate_config


def check_profile(profile: Profile, field: str = "body") -> None:
    """422 naming the field: a weight too small to count, or a scheduler config the scheduler refuses.

    A scheduler config used to be checked only when an adapter first created a run from it, so a
    profile with ``window: 1e9`` or an unknown key was accepted and failed the trainer later.
    """
    check_weights([c.weight for c in profile.components], field)
    if profile.scheduler is not None:
        try:
            validate_config(profile.scheduler.type, profile.scheduler.config)
        except SchedulerConfigError as exc:
            where = f"{field}.scheduler.{exc.field or 'config'}"
            raise ApiError(422, "invalid_field", f"scheduler {exc}", where) from None


class ProfileFileError(ValueError):
    """A profile of MEDREWARD_PROFILES_FILE is invalid; the message names it and the field."""


def check_file_profiles(profiles: Mapping[str, Profile], judges: frozenset[str]) -> None:
    """Every profile of the profiles file, checked as a PUT would check it (judge allow-list included).

    A file profile is served to every tenant, so it must not name a judge URL requests may not
    name (the allow-list is the guard against the service calling where it should not).
    """
    for name, profile in profiles.items():
        try:
            check_profile(profile, "profile")
            resolve(name, profile, judges=judges)
        except ApiError as exc:
            raise ProfileFileError(f"MEDREWARD_PROFILES_FILE: profile {name!r}: {exc.message} ({exc.field})") from None
