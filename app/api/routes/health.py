"""Operations: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from app import metrics
from app.auth import KeyRing
from app.models import model_status
from app.schemas import Health, Readiness
from scorers import REGISTRY

router = APIRouter(tags=["operations"])
log = logging.getLogger(__name__)


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is alive and serving (async: no threadpool hop for a probe that does nothing)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(request: Request) -> Any:
    """Models loaded and the run store reachable (503 otherwise)."""
    try:
        store_ok = bool(request.app.state.store.ping())
    except Exception:
        log.warning("store ping failed", exc_info=True)
        store_ok = False
    models = model_status(request.app.state.settings.load_models)
    models_ok = bool(models.get("loaded")) or not models.get("required")
    ready = store_ok and models_ok
    body = Readiness(status="ready" if ready else "not_ready", store=store_ok, models=models, rewards=sorted(REGISTRY))
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


_METRICS_EXAMPLE = (
    'medreward_items_scored_total{reward="iou"} 4096.0\nmedreward_run_tau{run_id="exp-1",tenant="lab-a"} 0.45\n'
)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"example": _METRICS_EXAMPLE}}}},
)
def prometheus(request: Request) -> Response:
    """Prometheus metrics (text exposition format).

    Series labelled with a tenant (per-run τ with its run id, groups per tenant) are shown whole
    to ``MEDREWARD_METRICS_KEY`` (or when the service is open), to a tenant's API key for that
    tenant only, and not at all to anonymous callers; every other metric is shown to everyone.
    """
    data, content_type = metrics.render(metrics_viewer(request))
    return Response(content=data, media_type=content_type)


def metrics_viewer(request: Request) -> str | None:
    """Whose tenant-labelled series the caller may see (`metrics.EVERY_TENANT`, a tenant, or None)."""
    ring: KeyRing = request.app.state.keyring
    if ring.open:
        return metrics.EVERY_TENANT
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    key = value.strip() if scheme.lower() == "bearer" else ""
    metrics_key: str = request.app.state.settings.metrics_key
    if metrics_key and key and hmac.compare_digest(_digest(key), _digest(metrics_key)):
        return metrics.EVERY_TENANT
    return ring.authenticate(header)  # a wrong key is a 401, not a silent anonymous view


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()
