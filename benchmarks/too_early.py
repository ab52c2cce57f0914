"""Does RL started before the chain is learned fail (Sec. 3.1)? python benchmarks/too_early.py --pretrain-run RUN

    python benchmarks/too_early.py --pretrain-run runs/pre24-s0 [--fractions 0.25 0.5 0.75 1.0 --rl-steps 200]
    python benchmarks/plots.py too_early --results runs/benchmarks      # its figure

``--pretrain-run`` is a finished ``parity-cot pretrain`` run (any agent) whose chain was learned after S samples.
Its configuration is re-run (same seed: bit-identical) into a scratch directory, stopping at f x S samples for each
fraction f and copying the checkpoint there. From each copy, ``finetune`` (the default algorithm) runs for at most
``--rl-steps`` steps. Recorded per checkpoint: the evaluation at the start (sampled long fraction, accuracy of the
long samples), and after RL greedy accuracy and greedy answer length: where length grows but accuracy does not, RL
started too early. Writes RESULTS/too_early.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import torch
from common import add_results_arguments, write_result
from rl_algorithms import probe_curves

from agents.checkpoint import load_checkpoint
from agents.evaluate import evaluate
from agents.pretrain import PretrainConfig, pretrain
from agents.rl import FinetuneConfig, finetune


def rl_from(snapshot: Path, fraction: float, samples: int, rl_steps: int, threads: int) -> dict:
    """RL from the pre-training checkpoint ``snapshot`` (taken at ``fraction`` of the samples the chain needed)."""
    ckpt = load_checkpoint(snapshot)
    start = evaluate(ckpt.agent, ckpt.task, n=4096)
    result = finetune(snapshot, FinetuneConfig(steps=rl_steps, threads=threads), progress=False)
    row = {"fraction": fraction, "samples": samples, "start": start, "after": result.metrics,
           "solved_step": result.solved_step, **probe_curves(result.log)}
    print(json.dumps({k: row[k] for k in ("fraction", "samples", "solved_step")}),
          f"start long acc {start['sampled_long_accuracy']}, after greedy {result.metrics['greedy_accuracy']:.3f}"
          f" length {result.metrics['greedy_mean_length']:.1f}")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrain-run", required=True, help="a pretrain --out directory whose chain was learned")
    parser.add_argument("--fractions", nargs="+", type=float, default=[0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--rl-steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    add_results_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    saved = load_checkpoint(args.pretrain_run)
    learned_at = saved.meta["training_state"]["samples"]
    config = dict(saved.meta["pretrain_config"], threads=args.threads, final_eval_n=0, stop_when_learned=False)
    batch = config["batch_size"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        for i, f in enumerate(sorted(args.fractions)):
            budget = max(batch, int(f * learned_at) // batch * batch)
            pretrain(PretrainConfig(**{**config, "out": str(run), "resume": i > 0, "max_samples": budget}),
                     progress=False)
            snapshot = Path(tmp) / f"f{f}"
            shutil.copytree(run / "checkpoint", snapshot)
            rows.append(rl_from(snapshot, f, budget, args.rl_steps, args.threads))
    write_result("too_early", {"pretrain_run": str(args.pretrain_run), "learned_at_samples": learned_at,
                               "rows": rows}, args.results)


if __name__ == "__main__":
    main()
