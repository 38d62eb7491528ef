"""The models the service loads at start (the semantic reward's embedder) and their status."""

from __future__ import annotations

import importlib
from typing import Any

# The semantic package exposes these at its top level or in its loader module.
_MODULES = ("scorers.semantic", "scorers.semantic.loader")


def _find(name: str) -> Any:
    for module in _MODULES:
        try:
            fn = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if fn is not None:
            return fn
    raise ImportError(f"scorers.semantic provides no {name}()")


def load_models() -> None:
    """Load the embedding model (idempotent); raises if it cannot load."""
    _find("load_default_embedder")()


def model_status(required: bool) -> dict[str, Any]:
    """For /readyz: the embedder's status, and whether readiness waits for it."""
    if not required:
        return {"loaded": False, "required": False}
    try:
        status: dict[str, Any] = dict(_find("embedder_status")())
    except Exception as exc:  # readiness must answer whatever the model layer does
        return {"loaded": False, "required": True, "error": f"{type(exc).__name__}: {exc}"}
    return {**status, "required": True}
