"""Runs: one training run's schedule state (MedLoc-R1 τ, window, raises), tenant-scoped."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response

from app import metrics
from app.api.deps import StoreDep, TenantDep
from app.api.errors import ApiError
from app.insight.recorder import forget as forget_insight
from app.schemas import RUN_ID, RunCheckpoint, RunCreate, RunHistory, RunList, RunState
from schedulers.base import RunNotFoundError, SchedulerConfigError
from schedulers.registry import validate_config

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


@router.get("/{run_id}/state", response_model=RunCheckpoint)
def export_state(run_id: RunId, tenant: TenantDep, store: StoreDep) -> RunCheckpoint:
    """The run's full schedule state (config, τ, window with raw IoUs, raises), to save in a checkpoint."""
    return RunCheckpoint.model_validate(store.get_state(tenant, run_id))


@router.put("/{run_id}/state", response_model=RunState)
def restore_state(run_id: RunId, body: RunCheckpoint, tenant: TenantDep, store: StoreDep) -> RunState:
    """Restore a checkpoint's schedule state, creating the run if absent (request ids seen before are forgotten)."""
    if body.run_id is not None and body.run_id != run_id:
        raise ApiError(422, "invalid_field", f"run_id {body.run_id!r} differs from the path's {run_id!r}", "run_id")
    config = validate_config(body.scheduler, body.config)
    try:
        current = store.get_state(tenant, run_id)
    except RunNotFoundError:
        store.create_run(tenant, run_id, body.scheduler, config)
        try:
            return _state(store.put_state(tenant, run_id, body.state), tenant)
        except SchedulerConfigError:
            store.delete_run(tenant, run_id)  # a bad document leaves nothing behind
            raise
    if (current["scheduler"], current["config"]) != (body.scheduler, config):
        # Restoring a state under another schedule would silently mean something else.
        raise ApiError(
            409,
            "run_exists",
            f"run {run_id!r} exists with another scheduler or config; delete it first or restore into a new run id",
            "config",
        )
    return _state(store.put_state(tenant, run_id, body.state), tenant)


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
