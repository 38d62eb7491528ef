"""Where a shim finds the service: constructor arguments first, then ``MEDREWARD_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from trainer.client import AsyncMedRewardClient, MedRewardClient

__all__ = ["ShimConfig"]


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


@dataclass(frozen=True)
class ShimConfig:
    """The service, profile and run a shim scores with (picklable; holds no connection).

    >>> ShimConfig.resolve(profile="vqa-closed", base_url="http://rm:8000").base_url
    'http://rm:8000'
    """

    profile: str
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    run_id: str | None = None
    group_size: int | None = None
    timeout: float = 60.0
    max_retries: int = 5
    deadline: float | None = None
    max_batch: int = 512

    @classmethod
    def resolve(
        cls,
        profile: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        run_id: str | None = None,
        group_size: int | None = None,
        timeout: float = 60.0,
        max_retries: int = 5,
        deadline: float | None = None,
        max_batch: int = 512,
    ) -> ShimConfig:
        """Arguments win; ``MEDREWARD_PROFILE``, ``MEDREWARD_URL``, ``MEDREWARD_API_KEY``, ``MEDREWARD_RUN_ID`` and
        ``MEDREWARD_GROUP_SIZE`` fill what is left."""
        profile = profile or os.environ.get("MEDREWARD_PROFILE")
        if not profile:
            raise ValueError("no profile: pass profile=... or set MEDREWARD_PROFILE (e.g. vqa-closed)")
        return cls(
            profile=profile,
            base_url=base_url or os.environ.get("MEDREWARD_URL") or None,
            api_key=api_key if api_key is not None else os.environ.get("MEDREWARD_API_KEY") or None,
            run_id=run_id or os.environ.get("MEDREWARD_RUN_ID") or None,
            group_size=group_size if group_size is not None else _env_int("MEDREWARD_GROUP_SIZE"),
            timeout=timeout,
            max_retries=max_retries,
            deadline=deadline,
            max_batch=max_batch,
        )

    def sync_client(self) -> MedRewardClient:
        return MedRewardClient(
            self.base_url,
            self.api_key,
            timeout=self.timeout,
            max_retries=self.max_retries,
            deadline=self.deadline,
            max_batch=self.max_batch,
        )

    def async_client(self) -> AsyncMedRewardClient:
        return AsyncMedRewardClient(
            self.base_url,
            self.api_key,
            timeout=self.timeout,
            max_retries=self.max_retries,
            deadline=self.deadline,
            max_batch=self.max_batch,
        )
