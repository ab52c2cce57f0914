"""The main job, ``parity-cot reproduce``: the paper's central result end to end on a laptop CPU in minutes.

    parity-cot reproduce                                   # parity d = 24, p_long = 0.01, gpt, REINFORCE, seed 0
    parity-cot reproduce --task multiplication --task-config '{"digits": 3, "p_long": 0.25}' --out runs/mul3
    parity-cot reproduce --algo grpo --seed 1 --out runs/grpo-1
    parity-cot reproduce --agent linear --agent-config '{"block_size": 50}' --lr 0.05 --out runs/linear
    parity-cot reproduce --resume                          # finish an interrupted run (or print a finished one's table)
    parity-cot plot runs/reproduce                         # redraw the figure from the run's results.json

1. Next-token pre-training on the task's demonstration mixture until the long form (the chain) is learned, then an
   evaluation: greedy decoding answers short and sits at chance; sampling is length-calibrated (long with
   probability ~ p_long).
2. RL fine-tuning through TorchRL (REINFORCE by default, the fastest shipped algorithm), then an evaluation:
   greedy accuracy >= 99% with long answers (d bits, for parity).
3. The control: the pre-trained agent trained further by next-token prediction alone, on as many sequences as the
   RL stage generated, at the peak learning rate (``--control-lr decayed``: on its decayed schedule); it stays at
   chance.
4. A table (before / after / control), ``results.json`` and ``figure.png`` in the run directory.

Each stage writes its own run directory under OUT (pretrain/, finetune/, control/), so an interrupted job resumes
stage by stage with ``--resume``, each stage bit-identically on the CPU.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from parity_env.checks import check_int, check_run_seed
from parity_env.contract import CoTTask
from parity_env.registry import make_task, task_from_dict

from ..ntp.pretrain import PretrainConfig, initial_agent, pretrain, task_recipe
from ..rl.finetune import FinetuneConfig, finetune
from ..run.checkpoint import has_checkpoint
from ..run.config import config_differences, config_to_dict
from ..run.task_options import as_task
from ..run.training import LOCK_FILE, run_directory

ROWS = (("pretrained", "after NTP"), ("finetuned", "after RL"), ("control", "NTP-only control"))
RESULTS, FIGURE, CONFIG = "results.json", "figure.png", "reproduce_config.json"


@dataclass
class ReproduceConfig:
    """The main job's options; the stages use their own configs' defaults for everything else."""

    task: CoTTask = field(default_factory=make_task)
    """The task and its settings (parity by default: d = 24, p_long = 0.01)."""
    agent: str = "gpt"
    """The agent: gpt, linear, hf, a registered name or a factory's import path 'package.module:function'."""
    agent_config: dict = field(default_factory=dict)
    """The agent factory's keyword arguments, a JSON object ({} for gpt: the task's recipe's, if it has one)."""
    lr: float | None = None
    """Pre-training's peak learning rate (None: the task's recipe's, else pre-training's default, 3e-3)."""
    max_samples: int = 5_000_000
    """Pre-training's sample budget (it stops earlier once the chain is learned)."""
    algo: str = "reinforce"
    """The RL algorithm: reinforce (the fastest shipped one on the CPU), ppo, grpo, star, a registered name or a
    factory's import path 'package.module:function'."""
    steps: int = 500
    """RL's most steps (it stops earlier once greedy accuracy holds >= 99%)."""
    seed: int = 0
    """Seed of every stage."""
    device: str = "cpu"
    """torch device: cpu, cuda, ..."""
    out: str = "runs/reproduce"
    """Run directory; new or empty unless resume."""
    resume: bool = False
    """Finish the interrupted run in out, stage by stage (a finished run's table is printed again)."""
    eval_n: int = 4096
    """Prompts per mode (greedy, sampled) of each of the three evaluations."""
    control_lr: str = field(default="peak", metadata={"choices": ("peak", "decayed")})
    """The NTP-only control continues pre-training at the peak learning rate (a constant schedule: the strongest
    control), or on the schedule pre-training ended with (decayed to its floor)."""

    def __post_init__(self) -> None:
        self.task = as_task(self.task)
        self.seed = check_run_seed(self.seed)
        self.eval_n = check_int("eval_n", self.eval_n, 1)
        self.steps = check_int("steps", self.steps, 1)
        if self.control_lr not in ("peak", "decayed"):
            raise ValueError(f"control_lr must be 'peak' or 'decayed'; got {self.control_lr!r}")
        self.pretrain_config()  # validates the agent and the task for pre-training now, before anything is written
        self.finetune_config()  # and the algorithm

    def pretrain_config(self, **changes) -> PretrainConfig:
        """The pre-training stage's config: this job's settings over the task's recipe, ``changes`` over them.

        The recipe (``task.pretrain_recipe``) gives what this job leaves open; its agent_config counts only for the
        gpt agent given none.
        """
        recipe = task_recipe(self.task, self.agent, bool(self.agent_config))
        agent_config = self.agent_config or recipe.pop("agent_config", {})
        lr = {} if self.lr is None else {"lr": self.lr}
        return PretrainConfig(**{**recipe, "task": self.task, "agent": self.agent, "agent_config": agent_config,
                                 "seed": self.seed, "device": self.device, "final_eval_n": self.eval_n,
                                 "max_samples": self.max_samples, **lr, **changes})

    def finetune_config(self, **changes) -> FinetuneConfig:
        """The RL stage's config: this job's algorithm, steps, seed, device and evaluation, ``changes`` over them."""
        return FinetuneConfig(algo=self.algo, steps=self.steps, seed=self.seed, device=self.device,
                              final_eval_n=self.eval_n, **changes)


def reproduce(cfg: ReproduceConfig, progress: bool = True, verbose: bool = True) -> dict:
    """Run (or with ``cfg.resume`` finish) the three stages.

    Returns, and writes to OUT/results.json, everything the table and the figure show (each stage's whole
    evaluation under ``stages.NAME.metrics``). ``verbose`` prints a line per stage.
    """
    out = Path(cfg.out)
    if cfg.resume and (out / RESULTS).exists():
        results = json.loads((out / RESULTS).read_text())
        differ = config_differences(results["config"], cfg, ignore=("resume",))
        if differ:
            listing = ", ".join(f"{k}: {there!r} there, {now!r} now" for k, (there, now) in differ.items())
            raise ValueError(f"--resume: {out} holds a finished run of another configuration ({listing})")
        return results
    fresh = not (cfg.resume and (out / "pretrain").exists())
    agent = initial_agent(cfg.pretrain_config()) if fresh else None  # a bad agent config fails before any write
    with run_directory(out, cfg.resume):
        return _stages(cfg, out, agent, progress, print if verbose else lambda *args: None)


def _stages(cfg: ReproduceConfig, out: Path, agent, progress: bool, say) -> dict:
    """The three stages in the locked run directory ``out``; ``agent``: pre-training's fresh agent (None: resume)."""
    if not (out / CONFIG).exists():
        (out / CONFIG).write_text(json.dumps(config_to_dict(cfg), indent=1))
    pre_dir, ft_dir, control_dir = out / "pretrain", out / "finetune", out / "control"

    say(f"[1/3] next-token pre-training, {cfg.agent} agent, task {cfg.task.describe()}")
    pre = pretrain(cfg.pretrain_config(out=str(pre_dir), resume=agent is None), model=agent, progress=progress)
    if pre.stop_reason != "learned":
        say(f"      warning: the chain was not learned within {pre.samples:,} samples; RL may not generalise")

    say(f"[2/3] RL fine-tuning through TorchRL ({cfg.algo})")
    ft = finetune(pre_dir, cfg.finetune_config(out=str(ft_dir), resume=cfg.resume), progress=progress)

    say(f"[3/3] NTP-only control: {ft.episodes:,} more demonstrations, as many sequences as RL generated")
    if not has_checkpoint(control_dir):  # a copy of the pre-trained run, renamed into place once complete
        shutil.rmtree(control_dir, ignore_errors=True)
        copy = out / ".control.tmp"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(pre_dir, copy, ignore=shutil.ignore_patterns(LOCK_FILE))
        os.rename(copy, control_dir)
    batch = PretrainConfig.batch_size
    every = max(batch, ft.episodes // 6 // batch * batch)  # about six evaluation points along the control's curve
    schedule = {"schedule": "constant"} if cfg.control_lr == "peak" else {}
    control = pretrain(cfg.pretrain_config(out=str(control_dir), resume=True, stop_when_learned=False,
                                           max_samples=pre.samples + ft.episodes, eval_every=every, **schedule),
                       progress=progress)

    results = {
        "config": config_to_dict(cfg),
        "stages": {
            "pretrained": _row(pre.metrics, pre.wall_time_s, pre.samples, pre.stop_reason),
            "finetuned": _row(ft.metrics, ft.wall_time_s, ft.episodes, ft.stop_reason),
            "control": _row(control.metrics, control.wall_time_s - pre.wall_time_s, control.samples - pre.samples,
                            control.stop_reason),
        },
        "curves": {
            "pretrain": [_point(p, "samples") for p in pre.log],
            "finetune": [{**_point(p, "episodes"), "samples": pre.samples + p["episodes"],
                          "sampled_mean_length": p["mean_length"]} for p in ft.log if "greedy_accuracy" in p],
            "control": [_point(p, "samples") for p in control.log if p["samples"] > pre.samples],
        },
        "rl_solved_step": ft.solved_step,
        "parameters": sum(p.numel() for p in pre.agent.parameters()),
        "wall_time_s": pre.wall_time_s + ft.wall_time_s + (control.wall_time_s - pre.wall_time_s),
    }
    draw_figure(results, out / FIGURE)
    (out / RESULTS).write_text(json.dumps(results, indent=2))
    return results


def _row(metrics: dict, wall: float, samples: int, stop: str) -> dict:
    keys = ("greedy_accuracy", "greedy_mean_length", "sampled_accuracy", "sampled_long_fraction",
            "sampled_long_accuracy")
    return {**{k: metrics.get(k) for k in keys}, "wall_time_s": wall, "samples": samples, "stop_reason": stop,
            "metrics": metrics}


def _point(p: dict, x: str) -> dict:
    return {"samples": p[x], "greedy_accuracy": p.get("greedy_accuracy"),
            "greedy_mean_length": p.get("greedy_mean_length")}


def format_table(results: dict) -> str:
    """The before / after / control table as fixed-width text.

    "exact chain": greedy answers that are exactly the correct chain (the answer reward checks only the last bit).
    """
    head = (f"{'':18}{'greedy acc':>11}{'greedy len':>11}{'exact chain':>12}{'long frac':>10}{'wall (s)':>9}"
            f"{'samples':>10}")
    lines = [head, "-" * len(head)]
    for key, label in ROWS:
        r = results["stages"][key]
        exact = r.get("metrics", {}).get("greedy_chain_accuracy", float("nan"))
        lines.append(f"{label:18}{r['greedy_accuracy']:>11.3f}{r['greedy_mean_length']:>11.2f}{exact:>12.3f}"
                     f"{r['sampled_long_fraction']:>10.3f}{r['wall_time_s']:>9.1f}{r['samples']:>10,}")
    return "\n".join(lines)


def redraw(run: Path, out: Path) -> Path:
    """Draw the figure of the main job in ``run`` from its results.json to ``out``; returns ``out``."""
    draw_figure(json.loads((run / RESULTS).read_text()), out)
    return out


def draw_figure(results: dict, path: Path) -> None:
    """Draw the main job's figure to ``path``: greedy accuracy (top) and answer length (bottom).

    During pre-training (left), then RL against the NTP-only control on the same number of further sequences
    (right).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg, curves = results["config"], results["curves"]
    task = task_from_dict(cfg["task"])  # an older results.json holds parity's fields
    fig, axes = plt.subplots(2, 2, figsize=(11, 6.5), sharey="row", constrained_layout=True,
                             gridspec_kw={"width_ratios": (3, 2)})
    start = curves["pretrain"][-1] if curves["pretrain"] else None
    offset = results["stages"]["pretrained"]["samples"]
    panels = (
        (0, [("pretrain", "next-token prediction", "C0")], 0),
        (1, [("finetune", f"RL ({cfg['algo']})", "C3"), ("control", "NTP-only control", "C7")], offset),
    )
    for col, series, x0 in panels:
        for key, label, color in series:
            pts = [p for p in curves[key] if p["greedy_accuracy"] is not None]
            if col == 1 and start is not None:
                pts = [start, *pts]  # both continue from the pre-trained model
            x = [p["samples"] - x0 for p in pts]
            axes[0, col].plot(x, [p["greedy_accuracy"] for p in pts], "o-", ms=3, color=color, label=label)
            axes[1, col].plot(x, [p["greedy_mean_length"] for p in pts], "o-", ms=3, color=color, label=label)
        axes[1, col].legend(loc="upper left")  # the length panels are empty there
    for ax in axes.ravel():
        ax.grid(alpha=0.3)
    for col in (0, 1):
        axes[0, col].axhline(task.chance, color="grey", lw=0.8, ls="--")  # chance
        axes[1, col].axhline(task.long_length, color="grey", lw=0.8, ls="--")  # the long form's length
    axes[1, 0].set_xlabel("demonstrations seen (pre-training)")
    axes[1, 1].set_xlabel("sequences after pre-training")
    axes[0, 0].set_ylabel("greedy accuracy")
    axes[0, 0].set_ylim(min(0.4, task.chance - 0.1), 1.03)
    axes[1, 0].set_ylabel("greedy answer length (tokens before EOS)")
    axes[1, 0].set_ylim(0, task.long_length + 1)
    fig.suptitle(f"{task.describe()}, {cfg['agent']} agent, seed {cfg['seed']}:\n"
                 "greedy decoding after next-token prediction, then RL", fontsize=11)
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --------------------------------------------------------------------------------------------------- command line
def add_arguments(parser) -> None:
    """The ``parity-cot reproduce`` flags on ``parser``: those of ``ReproduceConfig``."""
    from ..run.config import add_config_arguments

    add_config_arguments(parser, ReproduceConfig)


def main(args) -> int:
    """Run ``parity-cot reproduce`` with the parsed ``args`` and print its table; returns the exit code."""
    from ..run.config import config_from_args

    given = dict(vars(args))
    saved = Path(given.get("out", ReproduceConfig.out)) / CONFIG
    base = json.loads(saved.read_text()) if given.get("resume") and saved.exists() else None
    cfg = config_from_args(ReproduceConfig, given, base)
    results = reproduce(cfg, progress=args.progress)
    print()
    print(format_table(results))
    print()
    out = Path(cfg.out)
    print(f"results: {out / RESULTS}\nfigure:  {out / FIGURE}")
    print(f"wall time: {results['wall_time_s']:.1f} s")
    return 0
