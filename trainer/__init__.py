"""Trainer side of medreward: HTTP clients for the service and shims for TRL, verl and AReaL.

Talks to the service over HTTP only; nothing here imports the service's code.
"""

from trainer.client import AsyncMedRewardClient, MedRewardClient
from trainer.results import MedRewardError, RewardResult, ScoreResult

__all__ = ["AsyncMedRewardClient", "MedRewardClient", "MedRewardError", "RewardResult", "ScoreResult"]
