"""Does RL started before the chain is learned fail (Sec. 3.1)? ``python benchmarks/too_early.py``

    python benchmarks/too_early.py [--seeds 0 1 2 --fractions 0.1 0.25 0.5 0.75 1.0 --rl-steps 500]   # ~40 min
    python benchmarks/plots.py too_early --results runs/benchmarks      # its figure

For each seed, pre-training with the default recipe at --d, --p-long runs until the chain is learned, in chunks of
--snapshot-every samples (a resumed run is bit-identical to an uninterrupted one), and the checkpoint of every chunk
is kept. The chain was learned after S samples; from the snapshot nearest to f x S for each fraction f (early ones
sample mostly wrong chains), REINFORCE runs for exactly --rl-steps steps (no early stop: the run goes on after it is
solved, to show where it settles). Recorded per start: the evaluation before RL (sampled long fraction, exact chains
among the sampled long answers, greedy accuracy) and after (greedy accuracy and length, greedy exact chains, exact
chains among sampled long answers, greedy accuracy split by the first prompt bit), and the probes along the way. The
paper's failure mode is a run whose answers grow long while its accuracy does not. Writes RESULTS/too_early.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import torch
from common import add_agent_arguments, add_results_arguments, agent_options, write_result
from rl_algorithms import probe_curves

from agents.ntp.pretrain import PretrainConfig, pretrain
from agents.rl import FinetuneConfig, finetune
from agents.run.checkpoint import load_checkpoint
from agents.run.evaluate import evaluate
from parity_env import Task

KEPT = ("greedy_accuracy", "greedy_mean_length", "greedy_chain_accuracy", "greedy_accuracy_x1_0",
        "greedy_accuracy_x1_1", "sampled_long_fraction", "sampled_long_accuracy", "sampled_long_chain_accuracy",
        "first_token_margin", "continuation_probability")


def snapshots(cfg: PretrainConfig, every: int, keep: Path) -> tuple[int, dict[int, Path]]:
    """Pre-train ``cfg`` in chunks of ``every`` samples until the chain is learned (or its budget ends), copying each
    chunk's checkpoint into ``keep``; returns the samples at which it was learned and {samples: snapshot}."""
    run, taken, budget = keep / "run", {}, 0
    while True:
        budget += every
        r = pretrain(replace(cfg, out=str(run), resume=budget > every, max_samples=budget), progress=False)
        taken[r.samples] = keep / f"s{r.samples}"
        shutil.copytree(run / "checkpoint", taken[r.samples])
        if r.stop_reason == "learned" or r.samples >= cfg.max_samples:
            return r.samples, taken


def rl_from(snapshot: Path, fraction: float, samples: int, seed: int, rl_steps: int) -> dict:
    """REINFORCE for ``rl_steps`` steps from the pre-training checkpoint ``snapshot``."""
    ckpt = load_checkpoint(snapshot)
    start = evaluate(ckpt.agent, ckpt.task, n=4096, seed=seed)
    cfg = FinetuneConfig(steps=rl_steps, seed=seed, steps_after_solved=None, logger="none")
    result = finetune(snapshot, cfg, progress=False)
    row = {"seed": seed, "fraction": fraction, "samples": samples, "start": {k: start[k] for k in KEPT},
           "after": {k: result.metrics[k] for k in KEPT}, "solved_step": result.solved_step,
           **probe_curves(result.log)}
    print(json.dumps({k: row[k] for k in ("seed", "fraction", "samples", "solved_step")}),
          f"start: long chains exact {start['sampled_long_chain_accuracy']}; after: greedy "
          f"{result.metrics['greedy_accuracy']:.3f}, length {result.metrics['greedy_mean_length']:.1f}, greedy exact "
          f"chains {result.metrics['greedy_chain_accuracy']:.3f}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--d", type=int, default=24)
    parser.add_argument("--p-long", type=float, default=0.01)
    parser.add_argument("--fractions", nargs="+", type=float, default=[0.1, 0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--rl-steps", type=int, default=500)
    parser.add_argument("--snapshot-every", type=int, default=25_600)
    parser.add_argument("--max-samples", type=int, default=3_000_000, help="pre-training's budget per seed")
    add_agent_arguments(parser)
    add_results_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows, learned = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            cfg = PretrainConfig(task=Task(d=args.d, p_long=args.p_long), **agent_options(args), seed=seed,
                                 max_samples=args.max_samples, final_eval_n=0, logger="none")
            learned[seed], taken = snapshots(cfg, args.snapshot_every, Path(tmp) / f"seed{seed}")
            for f in sorted(args.fractions):
                samples = min(taken, key=lambda s: abs(s - f * learned[seed]))
                rows.append(rl_from(taken[samples], f, samples, seed, args.rl_steps))
                write_result("too_early", {"d": args.d, "p_long": args.p_long, "rl_steps": args.rl_steps,
                                           "learned_at_samples": learned, "rows": rows}, args.results)


if __name__ == "__main__":
    main()
