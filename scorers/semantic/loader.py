"""The process-wide embedding model: loaded once (at service start-up, or on first use in-process).

``MEDREWARD_EMBEDDING_BACKEND`` picks the backend: ``onnx`` (default, no torch) or ``torch``.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from scorers.semantic.embedder import CachingEmbedder, Embedder, EmbedderUnavailableError, OnnxMiniLM, TorchMiniLM

BACKEND_ENV = "MEDREWARD_EMBEDDING_BACKEND"
BACKENDS: dict[str, type[CachingEmbedder]] = {"onnx": OnnxMiniLM, "torch": TorchMiniLM}

_lock = threading.Lock()
_embedder: Embedder | None = None
_load_seconds: float | None = None
_error: str | None = None


def configured_backend() -> str:
    """The backend named by ``$MEDREWARD_EMBEDDING_BACKEND`` (default ``onnx``)."""
    name = os.environ.get(BACKEND_ENV, "onnx").strip().lower() or "onnx"
    if name not in BACKENDS:
        raise ValueError(f"{BACKEND_ENV}={name!r}: expected one of {', '.join(BACKENDS)}")
    return name


def load_default_embedder() -> Embedder:
    """The process-wide embedder, loading the model on the first call (idempotent, thread-safe).

    Raises:
        EmbedderUnavailableError: a package the backend needs is missing (the message says which).
        ValueError: ``$MEDREWARD_EMBEDDING_BACKEND`` names no backend.
    """
    global _embedder, _load_seconds, _error
    if _embedder is not None:
        return _embedder
    with _lock:
        if _embedder is None:
            start = time.perf_counter()
            try:
                _embedder = BACKENDS[configured_backend()]()
            except (EmbedderUnavailableError, ValueError) as exc:
                _error = str(exc)
                raise
            _load_seconds = time.perf_counter() - start
            _error = None
        return _embedder


def embedder_status() -> dict[str, Any]:
    """For ``/readyz``: backend, model, loaded, load_seconds, dims (and the last load error, if any)."""
    emb = _embedder
    try:
        backend = emb.backend if emb is not None else configured_backend()
    except ValueError as exc:
        backend = os.environ.get(BACKEND_ENV, "")
        return {
            "backend": backend,
            "model": None,
            "loaded": False,
            "load_seconds": None,
            "dims": None,
            "error": str(exc),
        }
    status: dict[str, Any] = {
        "backend": backend,
        "model": emb.model if emb is not None else BACKENDS[backend].model,
        "loaded": emb is not None,
        "load_seconds": None if _load_seconds is None else round(_load_seconds, 3),
        "dims": emb.dims if emb is not None else None,
    }
    if _error is not None:
        status["error"] = _error
    return status
