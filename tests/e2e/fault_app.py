"""The real app (settings from MEDREWARD_* as `medreward serve` reads them) plus one route that fails.

A bug is what the 500 path exists for, and the service has none to trigger on purpose, so the
connection tests serve this module with uvicorn, the way `medreward serve` does.
"""

from __future__ import annotations

from app.main import create_app

app = create_app()


@app.get("/test-only/bug", include_in_schema=False)
def bug() -> None:
    raise RuntimeError("a deliberate bug for the 500 tests")
