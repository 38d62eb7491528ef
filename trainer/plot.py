"""A PNG of a training run from its metrics.jsonl: reward, τ, dead-group rate and accuracy per step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The JSONL rows; a resumed run's repeated steps keep their last row."""
    rows: dict[int, dict[str, Any]] = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            rows[int(row["step"])] = row
    return [rows[k] for k in sorted(rows)]


def plot_metrics(metrics: str | Path, png: str | Path, title: str = "GRPO through medreward") -> Path:
    """Four panels over steps; returns the PNG path."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    rows = read_metrics(metrics)
    steps = [r["step"] for r in rows]

    def series(key: str) -> list[float]:
        return [float("nan") if r.get(key) is None else float(r[key]) for r in rows]

    fig, axes = plt.subplots(2, 2, figsize=(9, 6), sharex=True)
    panels = [
        ("reward", "mean reward", axes[0][0]),
        ("tau", "IoU threshold τ (run's schedule)", axes[0][1]),
        ("dead_group_rate", "dead-group rate (all rewards equal)", axes[1][0]),
        ("accuracy", "accuracy (grounding: IoU ≥ 0.5)", axes[1][1]),
    ]
    for key, label, ax in panels:
        ys = series(key)
        ax.plot(steps, ys, lw=1.2, drawstyle="steps-post" if key == "tau" else "default")
        if key != "tau" and len(ys) >= 5:  # a 5-step moving average over the noisy per-step values
            k = 5
            smooth = [sum(ys[max(0, i - k + 1) : i + 1]) / len(ys[max(0, i - k + 1) : i + 1]) for i in range(len(ys))]
            ax.plot(steps, smooth, lw=2.0, alpha=0.8)
        if key != "reward":  # τ, rates and accuracy live in [0, 1]: a flat τ should look flat
            ax.set_ylim(-0.02, 1.02)
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("step")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    out = Path(png)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
