"""Run insight over HTTP: ``GET /v1/runs/{id}/stats``, ``POST /v1/explain`` and the dashboard pages.

The pages are HTML shells rendered here plus static scripts shipped in the package (uPlot,
vendored from npm with its licence): nothing to build. They hold no data: the page's script
calls the JSON routes with the tenant's API key, so a tenant sees only its runs, exactly as
over the API. The key is typed into the page (or passed as ``#api_key=…``, which browsers
never send to a server, or ``?api_key=…``) and kept in the page's JavaScript memory only:
not in a cookie (no cookie-authenticated API means no CSRF to defend), not in storage (a
reload asks again). Pages are served with a strict Content-Security-Policy (scripts from this
origin only) and ``Referrer-Policy: no-referrer``.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse

from app.api.deps import ProfilesDep, SettingsDep, StoreDep, TenantDep
from app.api.errors import ApiError
from app.api.responses import json_response
from app.api.routes.runs import RunId
from app.insight.explain import explain
from app.insight.recorder import flush, read_steps
from app.insight.schemas import ExplainRequest, Explanation, RunStats, StepStats
from app.insight.settings import get_insight_settings
from app.insight.stats import dead_group_warning, histogram_edges
from app.limits import check_items
from app.profile_checks import check_profile
from app.profiles import resolve

HERE = Path(__file__).parent
STATIC = HERE / "static"
# Served by name only: no path from the request ever reaches the filesystem.
STATIC_FILES = {
    "dashboard.js": ("dashboard.js", "text/javascript"),
    "explain.js": ("explain.js", "text/javascript"),
    "insight.css": ("insight.css", "text/css"),
    "uPlot.iife.min.js": ("vendor/uplot/uPlot.iife.min.js", "text/javascript"),
    "uPlot.min.css": ("vendor/uplot/uPlot.min.css", "text/css"),
    "uPlot-LICENSE.txt": ("vendor/uplot/LICENSE", "text/plain"),
}
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

api = APIRouter(tags=["insight"])
pages = APIRouter(include_in_schema=False)


@api.get("/v1/runs/{run_id}/stats", response_model=RunStats)
def run_stats(
    run_id: RunId,
    tenant: TenantDep,
    store: StoreDep,
    last: Annotated[int | None, Query(ge=1, le=100_000, description="Only the newest so many steps.")] = None,
) -> Response:
    """Per step: dead and phantom group rates, component means, std, abstentions, reward histogram, τ, window."""
    run = store.get_run(tenant, run_id)  # 404 for an unknown run or another tenant's
    settings = get_insight_settings()
    flush(store)  # this process's pending statistics first (other workers flush on their own clock)
    steps = read_steps(store, tenant, run_id, last)
    warning = dead_group_warning(steps, settings.dead_group_warn, settings.dead_group_warn_steps)
    body = RunStats(
        run_id=run_id,
        scheduler=str(run["scheduler"]),
        tau=float(run["tau"]),
        step=run.get("step"),
        groups=int(run.get("groups") or 0),
        window=dict(run.get("window") or {}),
        raises=list(run.get("raises") or []),
        warnings=[warning] if warning else [],
        dead_group_warn=settings.dead_group_warn,
        dead_group_warn_steps=settings.dead_group_warn_steps,
        steps_kept=settings.insight_steps,
        histogram_edges=histogram_edges(),
        steps=[StepStats.model_validate(s) for s in steps],
    )
    return json_response(body)


@api.post("/v1/explain", response_model=Explanation)
def explain_item(body: ExplainRequest, tenant: TenantDep, settings: SettingsDep, profiles: ProfilesDep) -> Response:
    """Score one item and show, per component, the rule applied, what was extracted and the normalised forms."""
    check_items([body.item], settings)
    if isinstance(body.profile, str):
        resolved = profiles.resolved(tenant, body.profile)
    else:
        check_profile(body.profile, "profile")
        resolved = resolve("inline", body.profile, judges=profiles.judges)
    return json_response(Explanation.model_validate(explain(resolved, body.item)))


def _page(name: str, request: Request) -> HTMLResponse:
    text = (HERE / "templates" / name).read_text(encoding="utf-8")
    open_mode = request.app.state.keyring.open
    settings = get_insight_settings()
    values = {
        "open_mode": "true" if open_mode else "false",
        "dead_group_warn": f"{settings.dead_group_warn:g}",
        "version": request.app.version,
    }
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", html.escape(value, quote=True))
    return HTMLResponse(text, headers=PAGE_HEADERS)


@pages.get("/dashboard")
def dashboard(request: Request) -> HTMLResponse:
    """The runs of the caller's tenant, live."""
    return _page("dashboard.html", request)


@pages.get("/dashboard/explain")
def explain_page(request: Request) -> HTMLResponse:
    """Score one item and see why."""
    return _page("explain.html", request)


@pages.get("/dashboard/static/{name}")
def static_file(name: str) -> FileResponse:
    """The pages' scripts and styles (uPlot vendored with its licence)."""
    if name not in STATIC_FILES:
        raise ApiError(404, "not_found", f"no static file {name!r}; the files are {', '.join(sorted(STATIC_FILES))}")
    path, media = STATIC_FILES[name]
    return FileResponse(STATIC / path, media_type=media, headers={"Cache-Control": "public, max-age=3600"})


router = APIRouter()
router.include_router(api)
router.include_router(pages)
