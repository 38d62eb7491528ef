"""Runs: one training run's schedule state (MedLoc-R1 τ, window, raises), tenant-scoped."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response

from app import metrics
from app.api.deps import StoreDep, TenantDep
from app.insight.recorder import forget as forget_insight
from app.schemas import RUN_ID, RunCreate, RunHistory, RunList, RunState

router = APIRouter(prefix="/v1/runs", tags=["runs"])

RunId = Annotated[str, Path(pattern=RUN_ID, description="Run id.", examples=["exp-1"])]


def _state(doc: dict[str, object], tenant: str) -> RunState:
    state = RunState.model_validate(doc)
    metrics.RUN_TAU.labels(tenant=tenant, run_id=state.run_id).set(state.tau)
    return state


@router.post("", response_model=RunState, status_code=201)
def create_run(body: RunCreate, tenant: TenantDep, store: StoreDep) -> RunState:
    """Create a run (409 if the id is taken); the id is generated when absent."""
    run_id = body.run_id or f"run-{uuid.uuid4().hex[:12]}"
    return _state(store.create_run(tenant, run_id, body.scheduler, body.config), tenant)


@router.get("", response_model=RunList)
def list_runs(tenant: TenantDep, store: StoreDep) -> RunList:
    """This tenant's runs."""
    return RunList(runs=[RunState.model_validate(r) for r in store.list_runs(tenant)])


@router.get("/{run_id}", response_model=RunState)
def get_run(run_id: RunId, tenant: TenantDep, store: StoreDep) -> RunState:
    """A run's state: τ, step, groups counted, window statistics and raises."""
    return _state(store.get_run(tenant, run_id), tenant)


@router.get("/{run_id}/history", response_model=RunHistory)
def run_history(run_id: RunId, tenant: TenantDep, store: StoreDep) -> RunHistory:
    """Every τ raise with its step and the statistics that allowed it."""
    return RunHistory(run_id=run_id, history=store.history(tenant, run_id))


@router.post("/{run_id}/reset", response_model=RunState)
def reset_run(run_id: RunId, tenant: TenantDep, store: StoreDep) -> RunState:
    """Back to τ₀ with an empty window and history (same config)."""
    return _state(store.reset_run(tenant, run_id), tenant)


@router.delete("/{run_id}", status_code=204, response_class=Response)
def delete_run(run_id: RunId, tenant: TenantDep, store: StoreDep) -> Response:
    """Delete a run and its idempotency records."""
    store.delete_run(tenant, run_id)
    forget_insight(store, tenant, run_id)
    try:
        metrics.RUN_TAU.remove(tenant, run_id)
    except KeyError:
        pass
    return Response(status_code=204)
