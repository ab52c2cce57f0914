"""Where does NTP then RL beat NTP alone at multiplication with a chain? python benchmarks/multiplication.py

    python benchmarks/multiplication.py --scale main --run-dir runs/mul/main            # 3 x 3, p_long 0.25, 3 seeds
    python benchmarks/multiplication.py --scale cpu --run-dir runs/mul/map --resume     # the map: digits 2-3 x p_long
    python benchmarks/multiplication.py --scale cpu --digits 2 --run-dir runs/mul/map --resume   # a part of it
    python benchmarks/multiplication.py --scale paper --device cuda --run-dir runs/mul/paper     # benchmarks/gpu.sh
    python benchmarks/plots.py multiplication --results runs/benchmarks                          # its figure

The paper's second setting (Tsilivis et al. 2025, Sec. 5): a transformer pre-trained by next-token prediction on a
mixture of short answers (``#### product``) and, with probability p_long, the chain of partial products with running
sums (``parity_env.multiplication``), then fine-tuned by RL with the end-to-end answer reward. Per cell (digits,
p_long, seed), in RUN_DIR/dD-pP-sS:

1. pretrain/: NTP with the recipe of ``RECIPE`` (benchmarks/multiplication_recipe.py found it) until the chain check
   passes (>= 99% of 200 sampled long answers exactly the chain) or the budget: ``long_budget`` long demonstrations,
   i.e. long_budget / p_long samples (at most ``max_samples``); then an evaluation on ``eval_n`` fresh prompts per
   mode: length calibration (sampled long fraction and P(first token != ####) against p_long), greedy accuracy and
   length, the accuracy and exact-chain rate of the sampled long answers.
2. reinforce/, grpo/ (``--algos``): RL from that checkpoint for exactly ``rl_steps`` steps of ``rl_batch`` episodes
   (no early stop, so every cell's RL sees the same number of sequences), the algorithms' default settings (lr 3e-4;
   GRPO groups of 8), a greedy probe on 2000 prompts every 5 steps; then the same evaluation, with the greedy answers'
   exact-chain rate (the answer reward leaves the chain's tokens free, so it is reported separately).
3. control/: the pre-trained run continued by NTP alone at the peak learning rate (constant: the strongest control)
   on as many sequences as the longest RL run collected; the same evaluation. With ``--long-control N`` also
   control_long/: the same to N samples in all (does NTP alone get there with far more data?).

Wall times include every evaluation made along the way (chain checks, probes) and exclude the final evaluations.
Writes RESULTS/NAME.json (--name, default multiplication) after every stage; ``--resume`` keeps the finished cells
of an existing NAME.json with the same settings (and redoes an unfinished one), so a map can be run in parts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from common import add_results_arguments, chain_learned_at, write_result

from agents.ntp.pretrain import PretrainConfig, pretrain
from agents.rl.finetune import FinetuneConfig, finetune
from agents.run.config import parse_json_object
from parity_env import make_task

RECIPE = make_task("multiplication").pretrain_recipe
"""The pre-training recipe (``PretrainConfig`` overrides; the rest are its defaults): the task's own,
multiplication_recipe's "gpt2-3e-3-late"."""


@dataclass
class Scale:
    digits: list[int]
    p_long: list[float]
    seeds: list[int]
    long_budget: int
    """Long demonstrations a pre-training run may see: its sample budget is long_budget / p_long."""
    max_samples: int
    """Most samples of a pre-training run whatever p_long."""
    rl_steps: int
    rl_batch: int = 256
    eval_n: int = 4096
    eval_every: int = 25_600
    """Fewest samples between pre-training's evaluation points (chain checks)."""
    eval_long_every: int = 6_400
    """Long demonstrations between pre-training's evaluation points: every eval_long_every / p_long samples, at
    least eval_every (a chain check judges 200 long answers, so it costs ~1 / p_long)."""
    probe_n: int = 2000
    recipe: dict = field(default_factory=lambda: dict(RECIPE))


SCALES = {
    "main": Scale(digits=[3], p_long=[0.25], seeds=[0, 1, 2], long_budget=400_000, max_samples=8_000_000,
                  rl_steps=60),
    "cpu": Scale(digits=[2, 3], p_long=[0.05, 0.1, 0.25, 0.5], seeds=[0, 1, 2], long_budget=400_000,
                 max_samples=8_000_000, rl_steps=60),
    "paper": Scale(digits=[5, 6, 7], p_long=[0.25], seeds=[0, 1, 2], long_budget=5_000_000, max_samples=20_480_000,
                   rl_steps=100, rl_batch=1024, eval_every=102_400, eval_long_every=25_600,
                   recipe={**RECIPE, "agent_config": {"preset": "gpt2-4x256"}, "lr": 1e-3, "batch_size": 1024,
                           "short_rows": 128, "warmup_samples": 102_400, "decay_half_life": 400_000}),
    "small": Scale(digits=[2], p_long=[0.25], seeds=[0], long_budget=2_560, max_samples=10_240, rl_steps=2,
                   rl_batch=64, eval_n=256, eval_every=5_120, eval_long_every=1_280, probe_n=256,
                   recipe={**RECIPE, "batch_size": 64, "short_rows": 8, "warmup_samples": 640}),
    "tiny": Scale(digits=[2], p_long=[0.5], seeds=[0], long_budget=512, max_samples=1_024, rl_steps=2, rl_batch=16,
                  eval_n=64, eval_every=512, eval_long_every=256, probe_n=64,
                  recipe={**RECIPE, "batch_size": 16, "short_rows": 4, "warmup_samples": 64}),
}

DROP = ("mistakes",)
LOG_KEYS = ("samples", "loss", "lr", "chain_learned", "check_n_long", "check_n_wrong", "check_long_fraction",
            "chain_loss", "greedy_accuracy", "greedy_mean_length", "sampled_long_fraction", "elapsed_s")
STEP_KEYS = ("step", "episodes", "reward", "sampled_accuracy", "mean_length", "long_fraction", "entropy", "wall_s",
             "greedy_accuracy", "greedy_mean_length")


def _metrics(m: dict) -> dict:
    return {k: v for k, v in m.items() if k not in DROP}


def _load() -> float:
    return os.getloadavg()[0]


def pretrain_budget(scale: Scale, p_long: float, batch: int) -> int:
    """Samples of a pre-training run: long_budget / p_long, at most max_samples, a whole number of batches."""
    samples = min(scale.max_samples, int(round(scale.long_budget / p_long)))
    return max(batch, samples // batch * batch)


def eval_interval(scale: Scale, p_long: float, batch: int) -> int:
    """Samples between pre-training's evaluation points: eval_long_every / p_long, at least eval_every, whole
    batches."""
    every = max(scale.eval_every, int(round(scale.eval_long_every / p_long)))
    return max(batch, every // batch * batch)


def first_probe_at(log: list[dict], level: float) -> dict | None:
    """The first greedy probe of an RL log at or above ``level``: its step, episodes and wall time (the RL run's
    time at that step, the probes before it included)."""
    for e in log:
        if e.get("greedy_accuracy") is not None and e["greedy_accuracy"] >= level:
            return {"step": e["step"], "episodes": e["episodes"], "wall_s": e["wall_s"]}
    return None


def run_cell(scale: Scale, digits: int, p_long: float, seed: int, algos: list[str], device: str, out: Path,
             save, long_control: int = 0) -> dict:
    """One cell's pre-training, RL runs and control in ``out`` (and with ``long_control`` N a second control, to N
    samples in all); ``save(cell)`` is called after every stage."""
    task = make_task("multiplication", digits=digits, p_long=p_long)
    recipe = scale.recipe
    batch = recipe.get("batch_size", PretrainConfig.batch_size)
    budget = pretrain_budget(scale, p_long, batch)
    cell = {"digits": digits, "p_long": p_long, "seed": seed, "task": task.to_dict(), "long_length": task.long_length,
            "short_length": task.short_length, "chance": task.chance, "complete": False}
    common = dict(task=task, **recipe, seed=seed, device=device, eval_every=eval_interval(scale, p_long, batch),
                  final_eval_n=scale.eval_n, logger="none")
    load, t0 = _load(), time.perf_counter()
    pre = pretrain(PretrainConfig(**common, max_samples=budget, out=str(out / "pretrain")), progress=False)
    cell["pretrain"] = {
        "budget": budget, "samples": pre.samples, "stop_reason": pre.stop_reason,
        "learned": pre.stop_reason == "learned",
        "time_to_learned_s": pre.time_to_learned_s, "learned_at_samples": chain_learned_at(pre.log),
        "wall_s": time.perf_counter() - t0, "tokens_per_s": pre.tokens_per_s, "load_average_start": load,
        "metrics": _metrics(pre.metrics), "log": [{k: p.get(k) for k in LOG_KEYS} for p in pre.log]}
    m = pre.metrics
    print(f"d{digits} p{p_long} s{seed}: NTP {pre.stop_reason} at {pre.samples:,} samples "
          f"({pre.time_to_learned_s or pre.wall_time_s:.0f} s): greedy {m['greedy_accuracy']:.3f} (length "
          f"{m['greedy_mean_length']:.1f}), sampled long fraction {m['sampled_long_fraction']:.3f}, long accuracy "
          f"{m['sampled_long_accuracy']}, long exact {m['sampled_long_chain_accuracy']}", flush=True)
    save(cell)

    cell["rl"] = {}
    for algo in algos:
        load, t0 = _load(), time.perf_counter()
        cfg = FinetuneConfig(algo=algo, seed=seed, steps=scale.rl_steps, steps_after_solved=None,
                             batch_size=scale.rl_batch, eval_n=scale.probe_n, final_eval_n=scale.eval_n,
                             device=device, logger="none", out=str(out / algo))
        ft = finetune(out / "pretrain", cfg, progress=False)
        m = ft.metrics
        cell["rl"][algo] = {
            "episodes": ft.episodes, "steps": ft.steps, "wall_s": time.perf_counter() - t0,
            "rl_wall_s": ft.wall_time_s, "load_average_start": load, "config": ft.config,
            "first_95": first_probe_at(ft.log, 0.95), "first_99": first_probe_at(ft.log, 0.99),
            "metrics": _metrics(m), "log": [{k: e.get(k) for k in STEP_KEYS if k in e} for e in ft.log]}
        f95 = cell["rl"][algo]["first_95"]
        print(f"  {algo}: {ft.episodes:,} episodes, {ft.wall_time_s:.0f} s: greedy {m['greedy_accuracy']:.3f} (length "
              f"{m['greedy_mean_length']:.1f}, exact chains {m['greedy_chain_accuracy']:.3f}); >= 0.95 at "
              + (f"step {f95['step']} ({f95['wall_s']:.0f} s)" if f95 else "no probe"), flush=True)
        save(cell)

    def control(name: str, max_samples: int, points: int) -> dict:
        """NTP alone from the pre-trained checkpoint at the peak lr to ``max_samples`` in all, in RUN/NAME."""
        shutil.copytree(out / "pretrain", out / name, ignore=shutil.ignore_patterns(".lock"))
        every = max(batch, (max_samples - pre.samples) // points // batch * batch)
        load, t0 = _load(), time.perf_counter()
        run = pretrain(PretrainConfig(**{**common, "eval_every": every, "schedule": "constant"},
                                      max_samples=max_samples, stop_when_learned=False, resume=True,
                                      out=str(out / name)), progress=False)
        return {"sequences": run.samples - pre.samples, "samples": run.samples, "schedule": "constant",
                "wall_s": time.perf_counter() - t0, "load_average_start": load, "metrics": _metrics(run.metrics),
                "log": [{k: p.get(k) for k in LOG_KEYS} for p in run.log if p["samples"] > pre.samples]}

    sequences = max((r["episodes"] for r in cell["rl"].values()), default=0)
    if sequences:
        cell["control"] = c = control("control", pre.samples + sequences, 5)
        print(f"  NTP-only control, {c['sequences']:,} more sequences: greedy {c['metrics']['greedy_accuracy']:.3f} "
              f"(length {c['metrics']['greedy_mean_length']:.1f})", flush=True)
    if long_control > pre.samples + sequences:
        cell["control_long"] = c = control("control_long", long_control, 8)
        print(f"  NTP-only control to {c['samples']:,} samples in all: greedy {c['metrics']['greedy_accuracy']:.3f} "
              f"(length {c['metrics']['greedy_mean_length']:.1f})", flush=True)
    cell["complete"] = True
    save(cell)
    return cell


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=SCALES, default="main")
    parser.add_argument("--digits", type=int, nargs="+", default=None, help="instead of the scale's")
    parser.add_argument("--p-long", type=float, nargs="+", default=None, help="instead of the scale's")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="instead of the scale's")
    parser.add_argument("--algos", nargs="+", default=["reinforce", "grpo"])
    parser.add_argument("--agent-config", type=parse_json_object, default=None, metavar="JSON",
                        help="the agent's settings instead of the recipe's (e.g. '{\"preset\": \"gpt2-4x256\"}')")
    parser.add_argument("--rl-steps", type=int, default=None, help="RL steps per run instead of the scale's")
    parser.add_argument("--long-control", type=int, default=0, metavar="N",
                        help="also continue NTP alone (peak lr) from each pre-trained checkpoint to N samples in all "
                             "(0: no such control; it is recorded per cell as control_long)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--run-dir", type=Path, default=Path("runs/multiplication"),
                        help="directory of the runs' checkpoints (default runs/multiplication)")
    parser.add_argument("--name", default="multiplication", help="RESULTS/NAME.json (default multiplication)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the finished cells of RESULTS/NAME.json (same settings) and run the others")
    add_results_arguments(parser)
    args = parser.parse_args(argv)
    scale = SCALES[args.scale]
    for key in ("digits", "p_long", "seeds"):
        if getattr(args, key) is not None:
            scale = replace(scale, **{key: getattr(args, key)})
    if args.rl_steps is not None:
        scale = replace(scale, rl_steps=args.rl_steps)
    if args.agent_config is not None:
        scale = replace(scale, recipe={**scale.recipe, "agent_config": args.agent_config})
    settings = {"scale_name": args.scale, "recipe": scale.recipe, "long_budget": scale.long_budget,
                "max_samples": scale.max_samples, "rl_steps": scale.rl_steps, "rl_batch": scale.rl_batch,
                "eval_n": scale.eval_n, "eval_every": scale.eval_every, "eval_long_every": scale.eval_long_every,
                "probe_n": scale.probe_n,
                "device": args.device, "run_dir": str(args.run_dir)}

    path = args.results / f"{args.name}.json"
    cells: list[dict] = []
    if args.resume and path.exists():
        old = json.loads(path.read_text())
        differ = sorted(k for k in settings if k != "scale_name" and old["settings"].get(k) != settings[k])
        if differ:
            parser.error(f"--resume: {path} was written with other settings ({differ}); use another --name")
        cells = [c for c in old["cells"] if c.get("complete")]
    elif args.run_dir.exists() and any(args.run_dir.iterdir()):
        parser.error(f"--run-dir {args.run_dir} is not empty; choose a new directory (or --resume)")
    done = {(c["digits"], c["p_long"], c["seed"]) for c in cells}
    print(f"multiplication: digits {scale.digits}, p_long {scale.p_long}, seeds {scale.seeds}, algos {args.algos}, "
          f"recipe {scale.recipe}; {len(done)} cells already done", flush=True)

    def save(cell: dict | None = None) -> None:
        current = cells + ([cell] if cell is not None else [])
        write_result("multiplication", {"settings": settings, "scale": asdict(scale), "algos": args.algos,
                                        "cells": current}, args.results, name=args.name)

    for digits in scale.digits:
        for p_long in scale.p_long:
            for seed in scale.seeds:
                if (digits, p_long, seed) in done:
                    continue
                out = args.run_dir / f"d{digits}-p{p_long}-s{seed}"
                shutil.rmtree(out, ignore_errors=True)  # an unfinished cell starts again
                cells.append(run_cell(scale, digits, p_long, seed, args.algos, args.device, out, save,
                                      args.long_control))
                save()
    save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
