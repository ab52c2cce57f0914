"""Does NTP then RL reach 100% where NTP alone stays at chance (Fig. 1)? python benchmarks/paper_scale.py --scale cpu

    python benchmarks/paper_scale.py --scale cpu --seeds 0 1 2 --run-dir runs/fig1 --name fig1
    python benchmarks/plots.py fig1 --results runs/benchmarks                # its figure
    python benchmarks/paper_scale.py --scale paper --device cuda             # benchmarks/gpu.sh runs this
    python benchmarks/paper_scale.py --scale d50-cpu --agent-config '{"preset": "mistral-2x128"}' --control-samples 0

Per seed, one pipeline in RUN_DIR/seedS: pre-training until the chain is learned (pretrain/), RL (REINFORCE) from
its checkpoint to >= 99% greedy accuracy (finetune/), and the NTP-only control resumed from the same checkpoint
twice: at the peak learning rate (control/, a constant schedule: the strongest control) and on the schedule
pre-training ended with, decayed to its floor (control_decayed/). The scales:
- ``--scale paper``: the paper's setting, d = 50, p_long = 0.25, control to 10^7 samples; for one GPU (targets:
  reproduction <= 30 s, control <= 90 s on one H100-class GPU);
- ``--scale d50-cpu``: the paper's d = 50, p_long = 0.25 on a CPU, the controls to 10^6 samples;
- ``--scale cpu``: d = 24, p_long = 0.25, control to 10^6 samples; the figure suite's CPU version;
- ``--scale small``: d = 6, the control as long as the RL stage; seconds on a CPU (``gpu.sh --small``);
- ``--scale tiny``: d = 4, the same; the smoke test's.

Writes RESULTS/NAME.json (--name, default paper_scale): per seed and stage the wall time (compilation and warm-up
included: nothing is excluded), the samples used, the evaluation and the evaluation points along the way.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from common import add_agent_arguments, add_results_arguments, agent_options, hardware, write_result

from agents.ntp.pretrain import PretrainConfig, pretrain
from agents.rl.finetune import FinetuneConfig, finetune
from parity_env import Task


@dataclass
class Scale:
    d: int
    p_long: float
    batch_size: int
    """Large batches keep a GPU busy; the learning rate below was chosen with them."""
    lr: float
    eval_every: int
    control_samples: int
    """Total samples of the control: the paper's "~10^7 training samples" (0: as many as the RL stage used)."""
    rl_batch: int
    eval_n: int


SCALES = {
    "paper": Scale(d=50, p_long=0.25, batch_size=1024, lr=3e-3, eval_every=51_200, control_samples=10_000_000,
                   rl_batch=1024, eval_n=4096),
    "d50-cpu": Scale(d=50, p_long=0.25, batch_size=256, lr=3e-3, eval_every=51_200, control_samples=1_000_000,
                     rl_batch=256, eval_n=2048),
    "cpu": Scale(d=24, p_long=0.25, batch_size=256, lr=3e-3, eval_every=25_600, control_samples=1_000_000,
                 rl_batch=256, eval_n=2048),
    "small": Scale(d=6, p_long=0.25, batch_size=256, lr=3e-3, eval_every=12_800, control_samples=0, rl_batch=256,
                   eval_n=512),
    "tiny": Scale(d=4, p_long=0.25, batch_size=256, lr=3e-3, eval_every=2_560, control_samples=0, rl_batch=64,
                  eval_n=256),
}


def control_budgets(start: int, target: int, per_decade: int, batch: int) -> list[int]:
    """The sample counts at which the control is evaluated with ``--points-per-decade``: ``per_decade`` log-spaced
    points a decade after ``start`` (where pre-training stopped), whole batches, ending at ``target``."""
    n = max(1, math.ceil(per_decade * math.log10(max(target, start + 1) / start)))
    points = [math.ceil(start * (target / start) ** (k / n) / batch) * batch for k in range(1, n)]
    return sorted({p for p in points if start < p < target} | {target})


def run(scale: Scale, agent: dict, device: str, out: Path, seed: int, progress: bool, per_decade: int = 0) -> dict:
    """One seed of the pipeline in ``out`` (pretrain/, finetune/, control/), with the agent ``agent_options``; the
    controls evaluated ``per_decade`` times a decade (0: ten times, evenly spaced)."""
    control_eval_n = 1024 if per_decade else PretrainConfig.eval_n  # the greedy evaluation at each control point
    common = dict(task=Task(d=scale.d, p_long=scale.p_long), **agent, batch_size=scale.batch_size, lr=scale.lr,
                  seed=seed, device=device, eval_every=scale.eval_every, final_eval_n=scale.eval_n,
                  warmup_samples=25 * scale.batch_size)
    t0 = time.perf_counter()
    pre = pretrain(PretrainConfig(**common, out=str(out / "pretrain")), progress=progress)
    t_pre = time.perf_counter() - t0
    t1 = time.perf_counter()
    ft = finetune(out / "pretrain", FinetuneConfig(algo="reinforce", seed=seed, device=device,
                                                   batch_size=scale.rl_batch, out=str(out / "finetune"),
                                                   final_eval_n=scale.eval_n), progress=progress)
    t_rl = time.perf_counter() - t1
    target = max(scale.control_samples, pre.samples + ft.episodes)  # at least as many sequences as RL generated
    # the control's evaluation points: every max(eval_every, target / 10) samples, or per_decade a decade (log-spaced)
    budgets = control_budgets(pre.samples, target, per_decade, scale.batch_size) if per_decade else [target]
    every = 2 * target if per_decade else max(scale.eval_every, target // 10)  # per_decade: at each budget's end only
    controls = {}
    for name, schedule in (("control", "constant"), ("control_decayed", "chain")):  # the peak rate; the decayed one
        shutil.copytree(out / "pretrain", out / name, ignore=shutil.ignore_patterns(".lock"))
        t2 = time.perf_counter()
        for budget in budgets:  # one resumed run per budget: bit-identical to one uninterrupted run
            cfg = PretrainConfig(**{**common, "eval_every": every, "eval_n": control_eval_n,
                                    "final_eval_n": scale.eval_n if budget == budgets[-1] else 0},
                                 out=str(out / name), resume=True, stop_when_learned=False, max_samples=budget,
                                 schedule=schedule)
            control = pretrain(cfg, progress=progress)
        controls[name] = {"wall_s": time.perf_counter() - t2, "samples": control.samples, "schedule": schedule,
                          "metrics": control.metrics,
                          "log": [p for p in control.log if p["samples"] > pre.samples]}  # its own points only
    return {
        "seed": seed,
        "pretrain": {"wall_s": t_pre, "samples": pre.samples, "stop_reason": pre.stop_reason,
                     "tokens_per_s": pre.tokens_per_s, "metrics": pre.metrics, "log": pre.log},
        "finetune": {"wall_s": t_rl, "episodes": ft.episodes, "steps": ft.steps, "solved_step": ft.solved_step,
                     "metrics": ft.metrics, "log": ft.log},
        **controls,
        "reproduction_wall_s": t_pre + t_rl,
    }


def print_run(r: dict) -> None:
    """The seed's three stages: wall time, sequences, greedy accuracy and length."""
    pre, ft, control, decayed = r["pretrain"], r["finetune"], r["control"], r["control_decayed"]
    rows = (("NTP until the chain is learned", pre["wall_s"], pre["samples"], pre["metrics"]),
            ("RL (reinforce) to >= 99% greedy", ft["wall_s"], ft["episodes"], ft["metrics"]),
            (f"NTP-only control to {control['samples']:.1e} (peak lr)", control["wall_s"], control["samples"],
             control["metrics"]),
            (f"NTP-only control to {decayed['samples']:.1e} (decayed lr)", decayed["wall_s"], decayed["samples"],
             decayed["metrics"]))
    print(f"seed {r['seed']}")
    for label, wall, samples, m in rows:
        print(f"  {label:44} {wall:7.1f} s {samples:>11,} seq   greedy acc {m['greedy_accuracy']:.3f}"
              f"   greedy len {m['greedy_mean_length']:.1f}")
    print(f"  reproduction (NTP + RL): {r['reproduction_wall_s']:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=SCALES, default="paper")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--run-dir", type=Path, default=Path("runs/paper_scale"),
                        help="new or empty directory of the runs' checkpoints (default runs/paper_scale)")
    parser.add_argument("--name", default="paper_scale", help="RESULTS/NAME.json (default paper_scale)")
    parser.add_argument("--control-samples", type=int, default=None, metavar="N",
                        help="the controls' total samples instead of the scale's (0: as many as the RL stage used)")
    parser.add_argument("--points-per-decade", type=int, default=0, metavar="K",
                        help="evaluate the controls K times per decade of samples, log-spaced, each on 1024 prompts "
                             "(default 0: ten times, evenly spaced, on 256)")
    parser.add_argument("--no-progress", action="store_true")
    add_agent_arguments(parser)
    add_results_arguments(parser)
    args = parser.parse_args(argv)
    scale, run_dir = SCALES[args.scale], args.run_dir
    if args.control_samples is not None:
        if args.control_samples < 0:
            parser.error(f"--control-samples must be >= 0; got {args.control_samples}")
        scale = replace(scale, control_samples=args.control_samples)
    if run_dir.exists() and any(run_dir.iterdir()):
        parser.error(f"--run-dir {run_dir} is not empty; choose a new directory")
    print(f"hardware: {hardware()}; device {args.device}; d = {scale.d}, p_long = {scale.p_long}")
    if args.points_per_decade < 0:
        parser.error(f"--points-per-decade must be >= 0; got {args.points_per_decade}")
    runs = []
    for seed in args.seeds:  # the result is written after each seed
        runs.append(run(scale, agent_options(args), args.device, run_dir / f"seed{seed}", seed, not args.no_progress,
                        args.points_per_decade))
        print_run(runs[-1])
        result = {"device": args.device, "scale_name": args.scale, "scale": asdict(scale),
                  "points_per_decade": args.points_per_decade, **agent_options(args), "run_dir": str(run_dir),
                  "runs": runs}
        if args.scale == "paper":
            result["targets"] = {"reproduction_wall_s": 30, "control_wall_s": 90}
        write_result("paper_scale", result, args.results, name=args.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
