"""The baselines (fixed τ, τ by step) and the registry's config validation."""

from __future__ import annotations

import json

import pytest

from schedulers.base import GroupReport, SchedulerConfigError
from schedulers.registry import SCHEDULERS, config_schema, make_scheduler, validate_config
from schedulers.simple import FixedConfig, FixedScheduler, StepConfig, StepScheduler, tau_at_step


def test_fixed_never_moves_even_for_a_perfect_policy() -> None:
    sched = FixedScheduler(FixedConfig(tau=0.5))
    for i in range(100):
        result = sched.report([GroupReport(str(i), [1.0, 0.49])])
        assert result[0].rewards == [1.0, 0.0] and result[0].tau == 0.5
    assert sched.tau == 0.5 and sched.raises == [] and sched.groups == 100
    assert sched.public()["window"]["mean_reward"] == 0.5, "the window is still tracked for observability"


MILESTONES = ((0, 0.3), (10, 0.5), (20, 0.7))


@pytest.mark.parametrize(
    ("step", "tau"),
    [(0, 0.3), (9, 0.3), (10, 0.5), (19, 0.5), (20, 0.7), (10_000, 0.7)],
    ids=["start", "before-first-milestone", "at-milestone", "between", "last", "far-past-the-end"],
)
def test_step_schedule_tau_by_step(step: int, tau: float) -> None:
    assert tau_at_step(step, MILESTONES) == tau
    sched = StepScheduler(StepConfig(milestones=MILESTONES))
    assert sched.report([GroupReport("g", [0.6])], step=step)[0].tau == tau


def test_step_schedule_before_its_first_milestone_uses_the_first_tau() -> None:
    assert tau_at_step(3, ((5, 0.4), (10, 0.6))) == 0.4


def test_step_schedule_records_each_change_once_with_its_step() -> None:
    sched = StepScheduler(StepConfig(milestones=MILESTONES))
    for step in range(25):
        for rank in range(2):  # two ranks report every step
            sched.report([GroupReport(f"{step}-{rank}", [0.65])], step=step)
    assert [(r["step"], r["tau_before"], r["tau_after"]) for r in sched.raises] == [(10, 0.3, 0.5), (20, 0.5, 0.7)]
    assert sched.raises[0]["mean_iou"] == pytest.approx(0.65), "the window statistics at the change are recorded"
    assert sched.step == 24 and sched.groups == 50


def test_a_lagging_rank_is_scored_with_the_tau_of_its_own_step() -> None:
    sched = StepScheduler(StepConfig(milestones=MILESTONES))
    sched.report([GroupReport("fast", [0.6])], step=10)
    late = sched.report([GroupReport("slow", [0.4])], step=9)
    assert late[0].tau == 0.3 and late[0].rewards == [1.0]
    assert sched.tau == 0.5 and sched.step == 10


def test_without_steps_the_run_counts_one_step_per_report() -> None:
    sched = StepScheduler(StepConfig(milestones=((0, 0.3), (3, 0.6))))
    taus = [sched.report([GroupReport(str(i), [0.5])])[0].tau for i in range(4)]
    assert taus == [0.3, 0.3, 0.6, 0.6]  # steps 1, 2, 3, 4


@pytest.mark.parametrize(
    ("name", "config", "field"),
    [
        ("nope", {}, "scheduler"),
        ("medloc", {"tau0": 1.5}, "config.tau0"),
        ("medloc", {"windw": 30}, "config.windw"),
        ("medloc", {"window": 0}, "config.window"),
        ("medloc", {"decay": "exponential"}, "config.decay"),
        ("medloc", {"tau0": 0.9, "tau_target": 0.8}, "config"),
        ("medloc", {"stages": [{"min_tau": 0.5, "min_reward": 0.8, "max_std": 0.2}]}, "config"),
        ("medloc", {"stages": [{"min_tau": 0.0, "min_reward": 2, "max_std": 0.2}]}, "config.stages.0.min_reward"),
        ("medloc", {"keep": 30}, "config"),
        ("fixed", {"tau": "high"}, "config.tau"),
        ("step", {"milestones": [[10, 0.5], [5, 0.6]]}, "config.milestones"),
        ("step", {"milestones": []}, "config.milestones"),
        ("step", {"milestones": [[0, 1.2]]}, "config.milestones"),
        ("fixed", ["tau", 0.5], "config"),
    ],
    ids=[
        "unknown-scheduler",
        "tau0-out-of-range",
        "typo-is-not-ignored",
        "empty-window",
        "unknown-decay",
        "start-above-target",
        "stages-do-not-cover-tau0",
        "hit-rate-above-one",
        "keep-whole-window",
        "tau-not-a-number",
        "milestones-out-of-order",
        "no-milestones",
        "milestone-tau-above-one",
        "config-not-an-object",
    ],
)
def test_bad_configs_name_the_field(name: str, config: object, field: str) -> None:
    with pytest.raises(SchedulerConfigError) as info:
        validate_config(name, config)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError), "the API maps ValueError subclasses to 422"
    assert info.value.field == field
    assert field.split(".")[-1] in str(info.value)


@pytest.mark.parametrize("name", sorted(SCHEDULERS), ids=sorted(SCHEDULERS))
def test_every_scheduler_has_defaults_that_survive_json(name: str) -> None:
    stored = validate_config(name, {})
    assert json.loads(json.dumps(stored)) == stored
    assert validate_config(name, stored) == stored, "a stored config re-validates to itself"
    assert config_schema(name)["properties"], "the API can document the fields"
    sched = make_scheduler(name, stored)
    assert 0.0 <= sched.tau <= 1.0 and sched.state_dict()["groups"] == 0


def test_medloc_defaults_are_the_papers() -> None:
    cfg = validate_config("medloc", {})
    assert (cfg["tau0"], cfg["tau_target"], cfg["window"], cfg["margin"]) == (0.3, 0.8, 30, 0.10)
    assert (cfg["delta1"], cfg["delta2"], cfg["delta3"], cfg["beta1"], cfg["beta2"]) == (0.15, 0.10, 0.05, 0.55, 0.75)
    assert cfg["decay"] == "piecewise" and cfg["delta0"] == 0.2 and cfg["strict"] is False
    assert [tuple(s.values()) for s in cfg["stages"]] == [(0.75, 0.55, 0.40), (0.60, 0.75, 0.35), (0.0, 0.80, 0.20)]
