"""MedLoc-R1's performance-aware schedule, checked against the paper's behaviour.

The simulated policy's IoU improves with training; the schedule must walk τ along the
piecewise path 0.30 → 0.45 → 0.60 → 0.70 → 0.80, raising only when the window is full, the
hit rate is high, the group means are stable and the mean IoU clears τ by Δ. A deliberately
naive re-implementation written from the paper's formulas gives the expected τ per group.
"""

from __future__ import annotations

import json
import math
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schedulers.base import GroupReport
from schedulers.medloc import MAX_STEP_IOUS, MedLocConfig, MedLocScheduler, next_delta, raise_budget
from schedulers.registry import make_scheduler

G = 8  # MedLoc-R1: GRPO group size G=8
B = 4  # prompts per step


def simulate_policy(steps: int, seed: int = 0, start: float = 0.2, end: float = 0.92) -> list[list[list[float]]]:
    """IoUs per step → per prompt group → per rollout, from a policy whose skill grows linearly."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(steps):
        skill = start + (end - start) * k / (steps - 1)
        ious = np.clip(rng.normal(skill, 0.08, size=(B, G)), 0.0, 1.0)
        out.append(ious.tolist())
    return out


def naive_medloc_taus(groups: list[list[float]], n: int = 30) -> list[float]:
    """τ in force for each group, straight from the paper's description (window, conditions, δ, refresh)."""
    tau, entries, taus = 0.3, [], []
    for ious in groups:
        taus.append(tau)
        entries = [*entries, ious][-n:]
        if len(entries) == n and tau < 0.8:
            # r̄ₖ counts 1[IoU ≥ τₖ] at the current τ for every entry (kept ones re-scored)
            means = [statistics.fmean(1.0 if x >= tau else 0.0 for x in e) for e in entries]
            hit, std = statistics.fmean(means), statistics.pstdev(means)
            margin = statistics.fmean(statistics.fmean(e) for e in entries) - tau
            p, s = (0.55, 0.40) if tau >= 0.75 else (0.75, 0.35) if tau >= 0.6 else (0.80, 0.20)
            if hit >= p - 1e-9 and std <= s + 1e-9 and margin >= 0.10 - 1e-9:
                delta = 0.15 if tau < 0.55 else 0.10 if tau < 0.75 else 0.05
                tau = round(min(tau + delta, 0.8), 9)
                entries = entries[-(n // 2) :]
    return taus


def run_simulation(sched: MedLocScheduler, steps: list[list[list[float]]]) -> list[float]:
    """Feed each step's groups as one report; return the τ that scored each group."""
    taus = []
    for k, step in enumerate(steps):
        results = sched.report([GroupReport(f"s{k}p{i}", ious) for i, ious in enumerate(step)], step=k)
        taus.extend(r.tau for r in results)
    return taus


def test_improving_policy_walks_the_papers_tau_path() -> None:
    steps = simulate_policy(400)
    sched = MedLocScheduler(MedLocConfig())
    taus = run_simulation(sched, steps)

    path = [0.3] + [r["tau_after"] for r in sched.raises]
    assert path == [0.3, 0.45, 0.6, 0.7, 0.8]
    assert sched.tau == 0.8
    assert taus == naive_medloc_taus([g for step in steps for g in step])
    assert all(b >= a for a, b in zip(taus, taus[1:], strict=False)), "τ never goes down"


def test_every_raise_records_statistics_that_meet_all_three_conditions() -> None:
    sched = MedLocScheduler(MedLocConfig())
    run_simulation(sched, simulate_policy(400, seed=1))
    assert len(sched.raises) == 4
    for r in sched.raises:
        assert r["window_size"] == 30, "a raise needs a full window"
        assert r["mean_reward"] >= r["min_reward"]
        assert r["std_reward"] <= r["max_std"]
        assert r["mean_iou"] - r["tau_before"] >= 0.10 - 1e-9
        assert math.isclose(r["margin"], r["mean_iou"] - r["tau_before"])
        assert {"step", "group", "tau_before", "tau_after"} <= set(r)
    steps = [r["step"] for r in sched.raises]
    assert steps == sorted(steps) and len(set(steps)) == 4


def test_a_stagnant_policy_is_never_raised() -> None:
    sched = MedLocScheduler(MedLocConfig())
    run_simulation(sched, simulate_policy(200, start=0.3, end=0.3))
    assert sched.tau == 0.3 and sched.raises == []


def test_without_the_margin_check_the_first_raise_comes_earlier() -> None:
    """On the same improving policy the margin is the binding condition at τ₀ (paper's ablation)."""
    steps = simulate_policy(400, seed=2)
    full = MedLocScheduler(MedLocConfig())
    ablated = MedLocScheduler(MedLocConfig(check_margin=False))
    run_simulation(full, steps)
    run_simulation(ablated, steps)
    assert full.raises and ablated.raises
    assert ablated.raises[0]["step"] < full.raises[0]["step"]


# Windows that meet two of the three conditions: each case feeds 30 identical-pattern groups at
# τ=0.3 (P=0.80, S=0.20, Δ=0.10). With the failing check on, τ stays; switched off, τ rises.
HALF_HITS = [0.9] * 4 + [0.0] * 4  # hit rate 0.5, std 0, margin 0.15: not accurate enough
MARGINAL = [0.35] * 8  # hit rate 1, std 0, margin 0.05: passing only marginally
ERRATIC = [[0.6] * 8] * 4 + [[0.25] * 8]  # group means 1,1,1,1,0: mean 0.8, std 0.4, margin 0.23


@pytest.mark.parametrize(
    ("pattern", "check"),
    [
        ([HALF_HITS], "check_reward"),
        ([ERRATIC[i % 5] for i in range(30)], "check_stability"),
        ([MARGINAL], "check_margin"),
    ],
    ids=["low-hit-rate-blocks", "erratic-group-means-block", "thin-margin-blocks"],
)
def test_each_condition_alone_blocks_a_raise(pattern: list[list[float]], check: str) -> None:
    groups = [pattern[i % len(pattern)] for i in range(30)]
    with_check = MedLocScheduler(MedLocConfig())
    without = MedLocScheduler(MedLocConfig(**{check: False}))
    for i, ious in enumerate(groups):
        with_check.report([GroupReport(str(i), ious)])
        without.report([GroupReport(str(i), ious)])
    assert with_check.tau == 0.3 and with_check.raises == []
    assert without.tau == 0.45 and len(without.raises) == 1


@pytest.mark.parametrize(
    ("fill", "groups_before_raise"),
    [(None, 30), (10, 10)],
    ids=["default-needs-full-window", "min_fill-lowers-the-bar"],
)
def test_no_raise_before_the_window_is_filled(fill: int | None, groups_before_raise: int) -> None:
    sched = MedLocScheduler(MedLocConfig(min_fill=fill))
    raised_at = None
    for i in range(40):
        if sched.report([GroupReport(str(i), [0.9] * G)])[0].raised:
            raised_at = i + 1
            break
    assert raised_at == groups_before_raise


def perfect_path(cfg: MedLocConfig, groups: int) -> list[float]:
    sched = MedLocScheduler(cfg)
    for i in range(groups):
        sched.report([GroupReport(str(i), [1.0] * G)])
    return [cfg.tau0] + [r["tau_after"] for r in sched.raises]


def naive_path(decay: str, raises: int, delta0: float = 0.2, by: str = "raises", floor: float = 0.05) -> list[float]:
    """τ after each raise, straight from the formulas in next_delta's docstring."""
    tau, path = 0.3, [0.3]
    k_max = max(1, math.ceil(2 * 0.5 / delta0 - 1 - 1e-9))
    for k in range(raises):
        x = min(k / k_max, 1.0) if by == "raises" else (tau - 0.3) / 0.5
        d = {"linear": delta0 * (1 - x), "cosine": 0.5 * delta0 * (1 + math.cos(math.pi * x))}[decay]
        tau = min(tau + max(d, floor), 0.8)
        tau = round(0.8 if 0.8 - tau < 0.001 else tau, 9)
        path.append(tau)
        if tau >= 0.8:
            break
    return path


@pytest.mark.parametrize("decay", ["linear", "cosine"])
@pytest.mark.parametrize("delta0", [0.2, 0.1, 0.3, 0.5])
def test_linear_and_cosine_by_raise_count_arrive_in_k_raises(decay: str, delta0: float) -> None:
    cfg = MedLocConfig(decay=decay, delta0=delta0)
    path = perfect_path(cfg, 30 + 15 * 40)
    assert path == pytest.approx(naive_path(decay, 40, delta0))
    assert path[1] == pytest.approx(0.3 + delta0), "first step is δ₀"
    assert path[-1] == 0.8, "τ_target is reached"
    assert len(path) - 1 <= raise_budget(cfg), "within K raises (the floor can only make it sooner)"


@pytest.mark.parametrize(
    ("decay", "expected"),
    [("linear", [0.3, 0.5, 0.65, 0.75, 0.8]), ("cosine", [0.3, 0.5, 0.670710678, 0.770710678, 0.8])],
)
def test_default_linear_and_cosine_paths_take_four_raises_like_piecewise(decay: str, expected: list[float]) -> None:
    assert perfect_path(MedLocConfig(decay=decay), 30 + 15 * 10) == pytest.approx(expected)


@pytest.mark.parametrize("decay", ["linear", "cosine"])
def test_ports_tau_progress_form_arrives_through_its_floor(decay: str) -> None:
    path = perfect_path(MedLocConfig(decay=decay, decay_by="tau"), 30 + 15 * 20)
    assert path == pytest.approx(naive_path(decay, 20, by="tau"))
    assert path[:3] == pytest.approx([0.3, 0.5, 0.62 if decay == "linear" else 0.630901699])
    assert path[-1] == 0.8 and len(path) - 1 == 6


@pytest.mark.parametrize("decay", ["linear", "cosine"])
def test_ports_form_without_a_floor_still_stops_but_only_after_many_raises(decay: str) -> None:
    cfg = MedLocConfig(decay=decay, decay_by="tau", delta_floor=0.0)
    path = perfect_path(cfg, 30 + 15 * 200)
    assert path[:5] == pytest.approx(naive_path(decay, 4, by="tau", floor=0.0))
    assert path[-1] == 0.8 and 10 <= len(path) - 1 < 100, "the MIN_STEP rule bounds it, at 10+ raises"


def test_piecewise_decay_caps_at_target_and_stops() -> None:
    assert perfect_path(MedLocConfig(), 30 + 15 * 10) == [0.3, 0.45, 0.6, 0.7, 0.8]


@pytest.mark.parametrize(
    ("tau", "delta"),
    [(0.3, 0.15), (0.549, 0.15), (0.55, 0.10), (0.7, 0.10), (0.75, 0.05), (0.79, 0.05)],
    ids=["start", "just-below-beta1", "at-beta1", "mid", "at-beta2", "late"],
)
def test_piecewise_delta_boundaries(tau: float, delta: float) -> None:
    assert next_delta(tau, MedLocConfig()) == delta


@pytest.mark.parametrize(
    ("rescore", "mean_after"),
    [(False, 1.0), (True, 0.0)],
    ids=["port-keeps-old-rewards", "rescore-under-new-tau"],
)
def test_semi_preserved_refresh_keeps_the_newest_half(rescore: bool, mean_after: float) -> None:
    # IoU 0.42 hits τ=0.3 with margin 0.12 → raise to 0.45, under which 0.42 misses.
    sched = MedLocScheduler(MedLocConfig(rescore_kept=rescore))
    for i in range(30):
        sched.report([GroupReport(f"g{i}", [0.42 + 0.001 * (i % 2)] * G)])
    assert sched.tau == 0.45
    kept = sched.window.to_list()
    assert len(kept) == 15
    assert [e[1] for e in kept] == pytest.approx([0.42 + 0.001 * (i % 2) for i in range(15, 30)])
    assert sched.public()["window"]["mean_reward"] == mean_after


def test_a_raise_affects_only_later_groups_of_the_same_report() -> None:
    sched = MedLocScheduler(MedLocConfig())
    for i in range(29):
        sched.report([GroupReport(str(i), [0.5] * G)])
    results = sched.report([GroupReport("a", [0.44] * G), GroupReport("b", [0.44] * G)])
    assert results[0].tau == 0.3 and results[0].rewards == [1.0] * G and results[0].raised
    assert results[1].tau == 0.45 and results[1].rewards == [0.0] * G and not results[1].raised


@pytest.mark.parametrize(
    ("ious", "rewards", "entry"),
    [
        ([0.5, None, 0.1], [1.0, None, 0.0], (0.5, 0.3)),
        ([float("nan"), 0.4, float("inf")], [None, 1.0, None], (1.0, 0.4)),
        ([None, None], [None, None], None),
        (["0.9", True, 3.0], [None, None, None], None),
    ],
    ids=["unscorable-left-out", "non-finite-left-out", "all-unscorable-adds-no-entry", "garbage-abstains"],
)
def test_unscorable_items_are_left_out_of_the_statistics(
    ious: list[object], rewards: list[float | None], entry: tuple[float, float] | None
) -> None:
    sched = MedLocScheduler(MedLocConfig())
    result = sched.report([GroupReport("g", ious)])  # type: ignore[arg-type]
    assert result[0].rewards == rewards
    assert sched.groups == 1, "the group is counted even when it adds no window entry"
    window = sched.window.to_list()
    if entry is None:
        assert window == []
    else:
        assert (window[0][0], window[0][1]) == pytest.approx(entry)


@pytest.mark.parametrize(
    ("strict", "reward"),
    [(False, 1.0), (True, 0.0)],
    ids=["ge-default-paper-note", "gt-like-the-port"],
)
def test_iou_exactly_at_tau(strict: bool, reward: float) -> None:
    sched = MedLocScheduler(MedLocConfig(strict=strict))
    assert sched.report([GroupReport("g", [0.3])])[0].rewards == [reward]


def test_state_dict_round_trip_resumes_exactly() -> None:
    steps = simulate_policy(300, seed=3)
    straight = MedLocScheduler(MedLocConfig())
    run_simulation(straight, steps)

    first = MedLocScheduler(MedLocConfig())
    run_simulation(first, steps[:150])
    saved = json.loads(json.dumps(first.state_dict()))  # what a store persists
    resumed = make_scheduler("medloc", {}, saved)
    for k, step in enumerate(steps[150:], start=150):
        resumed.report([GroupReport(f"s{k}p{i}", g) for i, g in enumerate(step)], step=k)
    assert len(resumed.raises) > len(first.raises), "the schedule went on moving after the resume"
    assert resumed.state_dict() == straight.state_dict()


def test_load_state_dict_rejects_an_unknown_version() -> None:
    sched = MedLocScheduler(MedLocConfig())
    with pytest.raises(ValueError, match="version"):
        sched.load_state_dict(sched.state_dict() | {"version": 99})


iou_values = st.one_of(st.none(), st.floats(min_value=0.0, max_value=1.0), st.just(float("nan")))
group_lists = st.lists(st.lists(iou_values, min_size=0, max_size=8), min_size=1, max_size=120)


@settings(max_examples=60, deadline=None)
@given(
    groups=group_lists,
    window=st.integers(min_value=1, max_value=12),
    decay=st.sampled_from(["piecewise", "linear", "cosine"]),
    rescore=st.booleans(),
    cut=st.integers(min_value=0, max_value=120),
)
def test_invariants_hold_for_any_sequence_of_groups(
    groups: list[list[float | None]], window: int, decay: str, rescore: bool, cut: int
) -> None:
    """τ only rises, stays in [τ₀, τ_target], the window never overflows, and a resume at any point is exact."""
    cfg = MedLocConfig(window=window, decay=decay, rescore_kept=rescore)  # type: ignore[arg-type]
    straight = MedLocScheduler(cfg)
    resumed = MedLocScheduler(cfg)
    taus = []
    for i, ious in enumerate(groups):
        if i == cut:
            resumed = make_scheduler("medloc", cfg, json.loads(json.dumps(resumed.state_dict())))  # type: ignore[assignment]
        result = straight.report([GroupReport(str(i), ious)])[0]
        assert resumed.report([GroupReport(str(i), ious)])[0] == result
        assert len(result.rewards) == len(ious)
        assert all(r in (0.0, 1.0, None) for r in result.rewards)
        taus.append(result.tau)
        assert len(straight.window) <= window
    assert taus == sorted(taus)
    assert 0.3 <= straight.tau <= 0.8
    assert straight.groups == len(groups)
    assert len(straight.raises) == sum(1 for a, b in zip(taus, taus[1:], strict=False) if b > a) + (
        1 if straight.tau > taus[-1] else 0
    )
    assert resumed.state_dict() == straight.state_dict()


def test_rescoring_kept_entries_is_the_default_and_blocks_a_raise_the_ports_window_allows() -> None:
    """Half the rollouts at IoU 0.5, half at 0.9: at τ=0.6 the hit rate is 0.5 < P=0.75.

    The port keeps the kept half's rewards from τ=0.45 (all hits), so r̄ = 0.75 and τ goes on to
    0.7; the paper's r̄ₖ at the current τ re-scores them and holds τ at 0.6.
    """
    assert MedLocConfig().rescore_kept is True
    groups = [[0.5] * 4 + [0.9] * 4] * 120
    paper, port = MedLocScheduler(MedLocConfig()), MedLocScheduler(MedLocConfig(rescore_kept=False))
    for i, ious in enumerate(groups):
        paper.report([GroupReport(str(i), ious)])
        port.report([GroupReport(str(i), ious)])
    assert [r["tau_after"] for r in paper.raises] == [0.45, 0.6]
    assert [r["tau_after"] for r in port.raises] == [0.45, 0.6, 0.7]


def step_groups(step: int, ious: list[list[float]]) -> list[GroupReport]:
    return [GroupReport(f"s{step}p{i}", g) for i, g in enumerate(ious)]


def test_a_step_entry_pools_all_groups_of_the_step() -> None:
    sched = MedLocScheduler(MedLocConfig(window_entry="step"))
    sched.report(step_groups(0, [[0.2] * 4, [0.4] * 4]), step=0)
    sched.report(step_groups(0, [[0.6] * 8]), step=0)  # same step, another report: same entry
    assert len(sched.window) == 1
    (entry,) = sched.window.to_list()
    assert entry[0] == pytest.approx(12 / 16) and entry[1] == pytest.approx((0.8 + 1.6 + 4.8) / 16)
    sched.report(step_groups(1, [[0.9] * 8]), step=1)
    assert len(sched.window) == 2
    sched.report(step_groups(0, [[0.1] * 8]), step=0)  # a late group of step 0 joins the newest entry
    assert len(sched.window) == 2 and sched.window.to_list()[-1][0] == pytest.approx(0.5)


def test_with_step_entries_a_raise_waits_for_the_step_and_scores_the_whole_next_step() -> None:
    sched = MedLocScheduler(MedLocConfig(window_entry="step"))
    for k in range(30):  # 30 steps × 4 groups: a group-entry window would have raised at group 30
        results = sched.report(step_groups(k, [[0.9] * G] * B), step=k)
        assert all(r.tau == 0.3 and not r.raised for r in results)
    results = sched.report(step_groups(30, [[0.9] * G] * B), step=30)
    assert {r.tau for r in results} == {0.45}, "every group of the next step gets the new τ"
    (raise_,) = sched.raises
    assert raise_["step"] == 29 and raise_["window_size"] == 30 and raise_["tau_after"] == 0.45
    assert len(sched.window) == 16, "15 kept, then step 30's entry"


def test_step_entry_state_round_trips_mid_step() -> None:
    cfg = MedLocConfig(window_entry="step", window=4)
    a = MedLocScheduler(cfg)
    for k in range(3):
        a.report(step_groups(k, [[0.9] * G]), step=k)
    a.report(step_groups(3, [[0.9] * G]), step=3)
    b = MedLocScheduler(cfg, json.loads(json.dumps(a.state_dict())))
    for s in (a, b):
        s.report(step_groups(3, [[0.95] * G]), step=3)  # joins step 3's entry in both
        s.report(step_groups(4, [[0.9] * G]), step=4)
    assert a.state_dict() == b.state_dict() and len(a.window) == 3 and a.tau == 0.45  # 2 kept + step 4
    with pytest.raises(ValueError, match="entry_step"):
        MedLocScheduler(cfg, a.state_dict() | {"entry_step": -1})


def test_a_step_entry_keeps_a_bounded_number_of_raw_ious() -> None:
    sched = MedLocScheduler(MedLocConfig(window_entry="step"))
    for i in range(3):
        sched.report([GroupReport(str(i), [0.5] * 2000)], step=0)
    assert len(sched.window.to_list()[0][2]) == MAX_STEP_IOUS
