"""What the service loads at start-up (the semantic reward's embedder, the medical vocabularies)
and how /readyz reports it."""

from __future__ import annotations

from typing import Any

from scorers.medical import warm as warm_vocabularies
from scorers.semantic import embedder_status, load_default_embedder


def load_models() -> None:
    """Load the embedding model (idempotent) and build the normaliser's vocabularies.

    Both would otherwise load on first use, so the first request of each worker would pay
    for them (about a second for the HPO index). Raises if the model cannot load.
    """
    warm_vocabularies()
    load_default_embedder()


def model_status(required: bool) -> dict[str, Any]:
    """For /readyz: the embedder's status, and whether readiness waits for it."""
    if not required:
        return {"loaded": False, "required": False}
    try:
        status: dict[str, Any] = dict(embedder_status())
    except Exception as exc:  # readiness must answer whatever the model layer does
        return {"loaded": False, "required": True, "error": f"{type(exc).__name__}: {exc}"}
    return {**status, "required": True}
