"""A run's curves from its log: ``parity-cot plot RUN`` draws RUN/log.jsonl (pre-training or fine-tuning) to a PNG.

    parity-cot plot runs/pre                    # runs/pre/curves.png: loss, greedy accuracy, answer length, ...
    parity-cot plot runs/rl --out rl.png
    parity-cot plot runs/reproduce              # a main job's figure, redrawn from its results.json

Pre-training is plotted against demonstrations seen (its evaluation points), fine-tuning against RL steps (every
step; the greedy probes where they ran).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..run.logs import LOG_FILE, read_log
from ..run.task_options import TaskExpectation

# (key, title, log scale) per panel; a panel whose keys are all absent from the log is left out
PRETRAIN = (("loss", "loss (response tokens)", True), ("lr", "learning rate", True),
            ("greedy_accuracy", "greedy accuracy", False),
            ("greedy_mean_length", "greedy answer length (tokens)", False),
            ("sampled_long_fraction", "sampled long fraction", False),
            ("chain_exact", "exact chains among judged", False))
FINETUNE = (("loss", "loss", False), ("reward", "reward (sampled)", False),
            ("greedy_accuracy", "greedy accuracy", False),
            ("greedy_mean_length", "answer length (tokens): greedy, sampled", False),
            ("long_fraction", "sampled long fraction", False), ("entropy", "entropy (per token)", False))


def draw_run(run: Path, out: Path) -> Path:
    """Draw the curves of the run in ``run`` to ``out``; returns ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = read_log(run / LOG_FILE)
    if not entries:
        stages = sorted(p.parent.name for p in run.glob(f"*/{LOG_FILE}"))
        hint = f" (its stages have logs: {', '.join(str(run / s) for s in stages)})" if stages else ""
        raise FileNotFoundError(f"{run / LOG_FILE} does not exist or is empty: RUN must be a pretrain or finetune run "
                                f"directory{hint}")
    pretraining = "samples" in entries[0]
    x_key, every = ("samples", PRETRAIN) if pretraining else ("step", FINETUNE)
    for e in entries:
        if pretraining and e.get("check_n_long"):
            e["chain_exact"] = 1 - e["check_n_wrong"] / e["check_n_long"]
    panels = [p for p in every if any(p[0] in e for e in entries)]
    fig, axes = plt.subplots(2, (len(panels) + 1) // 2, figsize=(12, 6.5), squeeze=False, constrained_layout=True)
    for ax, (key, title, log_scale) in zip(axes.T.ravel(), panels):
        points = [(e[x_key], e[key]) for e in entries if e.get(key) is not None]
        ax.plot(*zip(*points), "o-" if len(points) < 60 else "-", ms=3, label="greedy" if key.startswith("greedy_m")
                else None)
        if key == "greedy_mean_length" and not pretraining:
            ax.plot([e["step"] for e in entries], [e["mean_length"] for e in entries], lw=0.8, label="sampled")
            ax.legend(fontsize=8)
        if log_scale:
            ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.set_xlabel("demonstrations seen" if pretraining else "RL step")
    for ax in axes.T.ravel()[len(panels):]:
        ax.axis("off")
    fig.suptitle(f"{'pre-training' if pretraining else 'fine-tuning'}: {run}", fontsize=11)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


@dataclass
class PlotConfig:
    """``parity-cot plot``'s options."""

    run: str = field(metadata={"positional": True, "metavar": "RUN"})
    """A pretrain, finetune or reproduce run directory (it holds log.jsonl, or results.json)."""
    out: str | None = None
    """The PNG to write (default RUN/curves.png, or RUN/figure.png for a main job)."""
    task: TaskExpectation = field(default_factory=TaskExpectation)
    """The task the run must be of (a check)."""


def run_task(run: Path):
    """The task of the run in ``run`` (a stage's checkpoint, or a main job's results), or None if it records none."""
    from parity_env.registry import task_from_dict

    from ..run.checkpoint import CheckpointError, read_checkpoint_config
    from .reproduce import RESULTS

    if (run / RESULTS).is_file():
        return task_from_dict(json.loads((run / RESULTS).read_text())["config"]["task"])
    try:
        return task_from_dict(read_checkpoint_config(run)["task"])
    except (CheckpointError, KeyError):
        return None


def add_arguments(parser) -> None:
    """The ``parity-cot plot`` flags on ``parser``: those of ``PlotConfig``."""
    from ..run.config import add_config_arguments

    add_config_arguments(parser, PlotConfig)


def main(args) -> int:
    """Run ``parity-cot plot`` with the parsed ``args`` (redraw a main job's figure); returns the exit code."""
    from ..run.config import config_from_args
    from .reproduce import FIGURE, RESULTS, redraw

    cfg = config_from_args(PlotConfig, vars(args))
    run = Path(cfg.run)
    if cfg.task:
        task = run_task(run)
        if task is None:
            raise FileNotFoundError(f"{run} records no task (no checkpoint, no results.json) to check --task against")
        cfg.task.check(task, f"run {run}")
    if (run / RESULTS).is_file():  # a main job's directory: its figure
        out = redraw(run, Path(cfg.out) if cfg.out else run / FIGURE)
    else:
        out = draw_run(run, Path(cfg.out) if cfg.out else run / "curves.png")
    print(f"figure: {out}")
    return 0
