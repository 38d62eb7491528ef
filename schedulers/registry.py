"""Scheduler names → classes, and config validation with errors that name the field.

>>> make_scheduler("medloc", {"window": 10}).config.window
10
>>> validate_config("fixed", {})
{'window': 30, 'strict': False, 'tau': 0.5}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from schedulers.base import SchedulerConfigError
from schedulers.medloc import MedLocScheduler
from schedulers.scheduler import Scheduler, SchedulerConfig
from schedulers.simple import FixedScheduler, StepScheduler

SCHEDULERS: dict[str, type[Scheduler]] = {cls.name: cls for cls in (MedLocScheduler, FixedScheduler, StepScheduler)}


def scheduler_class(name: str) -> type[Scheduler]:
    try:
        return SCHEDULERS[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(SCHEDULERS))
        raise SchedulerConfigError(f"unknown scheduler {name!r} (known: {known})", field="scheduler") from None


def build_config(name: str, config: Mapping[str, Any] | None) -> SchedulerConfig:
    """Validate ``config`` for scheduler ``name``; `SchedulerConfigError` names the bad field."""
    cls = scheduler_class(name)
    if config is not None and not isinstance(config, Mapping):
        raise SchedulerConfigError("config must be an object", field="config")
    try:
        return cls.config_model.model_validate(dict(config or {}))
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        where = f"config.{loc}" if loc else "config"
        raise SchedulerConfigError(f"{where}: {err['msg']}", field=where) from None


def validate_config(name: str, config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The config as stored: JSON-ready, every default filled in."""
    return build_config(name, config).model_dump(mode="json")


def make_scheduler(
    name: str, config: Mapping[str, Any] | SchedulerConfig | None = None, state: Mapping[str, Any] | None = None
) -> Scheduler:
    """A scheduler ready to ``report``, optionally resumed from ``state``."""
    cfg = config if isinstance(config, SchedulerConfig) else build_config(name, config)
    return scheduler_class(name)(cfg, state)


def config_schema(name: str) -> dict[str, Any]:
    """JSON schema of a scheduler's config (for the API's docs)."""
    return scheduler_class(name).config_model.model_json_schema()
