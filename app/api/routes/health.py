"""Liveness."""

from fastapi import APIRouter

from app.schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is alive and serving."""
    return Health(status="ok")
