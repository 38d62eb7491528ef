"""The reward registry over HTTP."""

from fastapi import APIRouter

from app.schemas import RewardInfo, RewardList
from scorers import REGISTRY

router = APIRouter(prefix="/v1/rewards", tags=["rewards"])


@router.get("", response_model=RewardList)
def list_rewards() -> RewardList:
    """List every registered reward with its params schema and range."""
    return RewardList(rewards=[RewardInfo(**spec.info()) for spec in REGISTRY.values()])
