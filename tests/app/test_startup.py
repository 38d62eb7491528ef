"""What the lifespan does at start-up beyond opening the store (tested elsewhere)."""

from __future__ import annotations

import gc

from tests.app.conftest import make_client


def test_startup_freezes_the_loaded_heap() -> None:
    """Start-up ends with `scorers.freeze_heap`: full collections skip what was loaded."""
    gc.unfreeze()
    try:
        with make_client():
            assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()
