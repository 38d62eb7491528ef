"""The tiny VLM trains through a live service: steps, metrics, checkpoints, resume with the schedule restored."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from trainer.checkpoint import latest_checkpoint
from trainer.client import MedRewardClient
from trainer.grpo import GRPOConfig, train
from trainer.plot import plot_metrics
from trainer.policies.tiny_vlm import TinyVLM, allowed_mask
from trainer.tasks.grounding import GroundingTask, box_statistics

# Raise τ whenever the window (2 groups) is full, deterministically: after a raise the newest entry is
# kept, so from the second group on every group raises (τ 0.3 → 0.45 | 0.6 → 0.7 | 0.75 → 0.8).
EAGER = {"window": 2, "check_reward": False, "check_stability": False, "check_margin": False}


def _cfg(tmp_path: Path, **kw: Any) -> GRPOConfig:
    base: dict[str, Any] = {
        "steps": 3,
        "prompts_per_step": 2,
        "group_size": 4,
        "out_dir": str(tmp_path / "run"),
        "progress": False,
        "scheduler_config": EAGER,
        "save_every": 1,
    }
    return GRPOConfig(**(base | kw))


def test_tiny_vlm_runs_grpo_steps_through_the_service(tmp_path: Path, service_client: MedRewardClient) -> None:
    policy, task = TinyVLM(size=32), GroundingTask(size=32)
    before = {k: v.clone() for k, v in policy.model.state_dict().items()}
    cfg = _cfg(tmp_path, run_id="tiny-e2e", sft_steps=2, sft_batch=4)
    history = train(cfg, policy, task, service_client, log=lambda _: None)

    assert [h["step"] for h in history] == [0, 1, 2]
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows == history
    for row in rows:
        assert 0.0 <= row["reward"] <= 1.0 and 0.0 <= row["dead_group_rate"] <= 1.0 and row["tau"] is not None
    run = service_client.get_run("tiny-e2e")
    assert run["groups"] == 3 * 2 and run["step"] == 2, "the service counted every group under the run id"
    assert [r["tau"] for r in rows] == pytest.approx([0.45, 0.7, 0.8]), "τ after each step"
    after = policy.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before), "the policy was updated"
    png = plot_metrics(tmp_path / "run" / "metrics.jsonl", tmp_path / "run" / "plot.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resume_restores_the_schedule_tau_and_window(tmp_path: Path, service_client: MedRewardClient) -> None:
    cfg = _cfg(tmp_path, run_id="tiny-resume", steps=2)
    train(cfg, TinyVLM(size=32), GroundingTask(size=32), service_client, log=lambda _: None)
    ckpt = tmp_path / "run" / "checkpoints" / "step-1.pt"
    saved = torch.load(ckpt, weights_only=False)["schedule"]
    assert saved["state"]["tau"] == pytest.approx(0.45) and saved["state"]["window"], "τ and window saved"
    assert latest_checkpoint(tmp_path / "run") == tmp_path / "run" / "checkpoints" / "step-2.pt"
    assert service_client.get_run("tiny-resume")["tau"] == pytest.approx(0.7)

    service_client.delete_run("tiny-resume")  # the service lost the run (or another run took over its state)
    policy = TinyVLM(size=32, seed=1)
    resumed = train(_cfg(tmp_path, run_id="tiny-resume", steps=1), policy, GroundingTask(size=32), service_client,
                    resume=str(ckpt), log=lambda _: None)  # fmt: skip
    assert resumed == [], "the checkpoint already holds step 1"
    state = service_client.export_run_state("tiny-resume")["state"]
    assert state["tau"] == pytest.approx(0.45)
    assert state["window"] == saved["state"]["window"], "window entries (with raw IoUs) restored"
    assert state["groups"] == saved["state"]["groups"] == 2
    weights = torch.load(ckpt, weights_only=False)["trainable"]
    for name, p in policy.model.named_parameters():
        torch.testing.assert_close(p, weights[name])

    # and training continues from there: the next step raises τ from the restored 0.45, not from τ₀ = 0.3
    more = train(_cfg(tmp_path, run_id="tiny-resume", steps=2), policy, GroundingTask(size=32), service_client,
                 resume=str(ckpt), log=lambda _: None)  # fmt: skip
    assert [m["step"] for m in more] == [1] and more[0]["tau"] == pytest.approx(0.7)


def test_sft_warm_start_teaches_boxes() -> None:
    """Behavioural imitation alone brings the tiny VLM from chance to boxes that overlap the lesion."""
    torch.manual_seed(0)
    policy, task = TinyVLM(size=32), GroundingTask(size=32, min_side=6)
    opt = torch.optim.AdamW(policy.model.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    for _ in range(60):
        loss = policy.sft_loss(task.sample(16, rng))
        opt.zero_grad()
        loss.backward()
        opt.step()
    examples = task.sample(32, np.random.default_rng(1))
    rollout = policy.generate(examples, 1, temperature=0.3)
    hits = 0
    for ex, s in zip(examples, rollout.samples, strict=True):
        x1, y1, x2, y2 = ex.meta["box"]
        cx, cy = (s.token_ids[0] + s.token_ids[2]) / 2, (s.token_ids[1] + s.token_ids[3]) / 2
        hits += x1 - 2 <= cx <= x2 + 2 and y1 - 2 <= cy <= y2 + 2
    assert hits >= 16, f"only {hits}/32 predicted centres near the lesion"


def test_constrained_decoding_always_writes_a_valid_box() -> None:
    policy, task = TinyVLM(size=32), GroundingTask(size=32)
    rollout = policy.generate(task.sample(4, np.random.default_rng(0)), 8, temperature=1.0)
    for s in rollout.samples:
        x1, y1, x2, y2 = s.token_ids
        assert 0 <= x1 < x2 <= 32 and 0 <= y1 < y2 <= 32
        assert s.text.startswith("<think>") and s.text.endswith(f"<answer>[{x1},{y1},{x2},{y2}]</answer>")
    logp = policy.logprobs(rollout, 1.0)
    assert logp.shape == (32, 4) and torch.isfinite(logp).all()
    assert allowed_mask("choice:AB", torch.zeros(1, 0, dtype=torch.long), 33, 38)[0].nonzero().flatten().tolist() == [
        33,
        34,
    ]


def test_box_statistics_come_from_the_shipped_annotations() -> None:
    vindr, nih = box_statistics("vindr"), box_statistics("nih")
    assert len(vindr) > 5000 and len(nih) == 984
    # VinDr focal lesions are small: median side about a tenth of the film; NIH boxes about a fifth
    assert 0.05 < float(np.median(vindr[:, 2])) < 0.2 and 0.15 < float(np.median(nih[:, 2])) < 0.3
    with pytest.raises(ValueError, match="vindr"):
        box_statistics("chexpert")


def _medreward_train(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``medreward train`` of 2 tiny steps into ``out``, in a process of its own."""
    args = ["--steps", "2", "--prompts-per-step", "2", "--group-size", "2", "--image-size", "32", "--sft-steps", "1"]
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "train", *args, "--out-dir", str(out), "--no-progress", *extra],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_medreward_train_starts_its_own_service_and_writes_metrics_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    proc = _medreward_train(out, "--save-every", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    assert (out / "train.png").read_bytes()[:4] == b"\x89PNG" and (out / "service.db").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 2 and summary["median_step_s"] > 0
    assert "groups = 4" in proc.stderr, "the embedded service counted both steps' groups"

    # --resume auto picks the latest checkpoint and the same run id; with steps already done it only re-plots
    again = _medreward_train(out, "--resume", "auto")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resumed from" in again.stdout and "step-2.pt" in again.stdout and "groups = 4" in again.stderr
