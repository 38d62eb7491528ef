"""No scheduler config makes a run record grow without bound (each report rewrites the record).

A 4.7 MB record made every report on it take 395 ms and, through SQLite's write lock, every
tenant's reports about 100× slower. Lists in configs are capped, and the raise history (one entry
per raise) stays short because δ cannot shrink to nothing.
"""

from __future__ import annotations

import json

import pytest

from schedulers.base import GroupReport, SchedulerConfigError
from schedulers.medloc import MAX_STAGES, MIN_STEP, MedLocConfig, MedLocScheduler
from schedulers.registry import validate_config
from schedulers.simple import MAX_MILESTONES


@pytest.mark.parametrize(
    ("name", "config", "field"),
    [
        ("step", {"milestones": [[i, 0.5] for i in range(MAX_MILESTONES + 1)]}, "config.milestones"),
        (
            "medloc",
            {"stages": [{"min_tau": 0.0, "min_reward": 0.5, "max_std": 0.5}] * (MAX_STAGES + 1)},
            "config.stages",
        ),
        ("medloc", {"delta3": MIN_STEP / 2}, "config.delta3"),
        ("medloc", {"decay": "linear", "delta0": 1e-300}, "config.delta0"),
    ],
    ids=["milestones", "stages", "piecewise-delta", "decay-delta0"],
)
def test_configs_that_grow_the_record_are_refused(name: str, config: dict[str, object], field: str) -> None:
    with pytest.raises(SchedulerConfigError) as err:
        validate_config(name, config)
    assert err.value.field == field


@pytest.mark.parametrize("decay", ["linear", "cosine"])
def test_decaying_delta_reaches_the_target_in_a_bounded_number_of_raises(decay: str) -> None:
    # The slowest schedule a config allows: the smallest δ₀ over the widest span, a raise per group.
    cfg = MedLocConfig(decay=decay, delta0=MIN_STEP, tau0=0.0, tau_target=1.0, window=1, margin=-1.0)
    sched = MedLocScheduler(cfg)
    for i in range(5000):
        sched.report([GroupReport(str(i), [1.0])])
        if sched.tau >= cfg.tau_target:
            break
    assert sched.tau == cfg.tau_target
    assert len(sched.raises) <= 400
    assert len(json.dumps(sched.state_dict())) < 200_000


def test_ports_unfloored_decay_still_approaches_the_target_before_the_last_step() -> None:
    # The port's τ-progress form without a floor shrinks δ geometrically; the default (δ by raise
    # count) arrives in K raises and is tested in test_medloc.py.
    cfg = MedLocConfig(decay="linear", decay_by="tau", delta_floor=0.0, window=1)
    sched = MedLocScheduler(cfg)
    for i in range(200):
        sched.report([GroupReport(str(i), [1.0])])
    taus = [r["tau_after"] for r in sched.raises]
    assert taus[-1] == cfg.tau_target and taus[-2] > 0.79, "only the last, sub-0.001 step is rounded up"
    assert all(b - a >= MIN_STEP for a, b in zip([cfg.tau0, *taus], taus[:-1], strict=False))


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"raises": [{"step": i, "tau_before": 0.3, "tau_after": 0.45} for i in range(10_001)]}, "raises"),
        ({"raises": [{"step": 1, "note": "x" * 1_000_000}]}, "number or a short text"),
        ({"raises": [{"step": 1, "nested": {"deep": [1, 2]}}]}, "number or a short text"),
        ({"window": [[1.0, 0.5, [0.5] * 70_000]]}, "IoUs"),
        ({"groups": float("-inf")}, "malformed state"),  # found by the fuzz: int(-inf) is an OverflowError
    ],
    ids=["too-many-raises", "huge-text-in-a-raise", "nested-raise", "huge-window-entry", "infinite-counter"],
)
def test_a_checkpoint_cannot_smuggle_in_a_huge_record(state: dict[str, object], message: str) -> None:
    from schedulers.base import SchedulerConfigError as ConfigError
    from schedulers.stores import open_store

    store = open_store("memory://")
    store.create_run("t", "r", "medloc", {})
    checkpoint = store.get_state("t", "r")["state"] | state
    with pytest.raises(ConfigError, match=message):
        store.put_state("t", "r", checkpoint)
    assert store.get_run("t", "r")["raises"] == []
