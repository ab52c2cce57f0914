"""Starting RL too early (paper Sec. 3.1): RL from pre-training checkpoints taken before and after the chain is learned.

    nice python benchmarks/too_early.py --pretrain-run runs/pre [--fractions 0.25 0.5 0.75 1.0 --rl-steps 200]
    python benchmarks/plot_too_early.py           # benchmarks/figures/too_early.png

``--pretrain-run`` is a finished ``parity-cot pretrain`` run whose chain was learned after S samples. Its
configuration is re-run (same seed: bit-identical) into a scratch directory, stopping at f x S samples for each
fraction f and copying the checkpoint there. From each copy, ``finetune`` (the default algorithm) runs for at most
``--rl-steps`` steps. Recorded per checkpoint: the chain check and evaluation at the start (sampled long fraction,
accuracy of the long samples), and after RL greedy accuracy and greedy answer length: where length grows but
accuracy does not, RL started too early.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import torch

from agents.checkpoint import load_checkpoint
from agents.evaluate import evaluate
from agents.pretrain import PretrainConfig, pretrain
from agents.rl import FinetuneConfig, finetune
from common import write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrain-run", required=True, help="a pretrain --out directory whose chain was learned")
    parser.add_argument("--fractions", nargs="+", type=float, default=[0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--rl-steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    saved = load_checkpoint(args.pretrain_run)
    learned_at = saved.meta["training_state"]["samples"]
    config = dict(saved.meta["pretrain_config"], betas=tuple(saved.meta["pretrain_config"]["betas"]),
                  threads=args.threads, final_eval_n=0)
    batch = config["batch_size"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        for i, f in enumerate(sorted(args.fractions)):
            budget = max(batch, int(f * learned_at) // batch * batch)
            pretrain(PretrainConfig(**{**config, "out": str(run), "resume": i > 0, "max_samples": budget,
                                       "stop_when_learned": False}), progress=False)
            snapshot = Path(tmp) / f"f{f}"
            shutil.copytree(run / "checkpoint", snapshot)
            ckpt = load_checkpoint(snapshot)
            start = evaluate(ckpt.model, ckpt.task, n=4096)
            result = finetune(ckpt.model, FinetuneConfig(steps=args.rl_steps, threads=args.threads), task=ckpt.task,
                              progress=False)
            probes = [e for e in result.log if "greedy_accuracy" in e]
            rows.append({"fraction": f, "samples": budget, "start": start, "after": result.metrics,
                         "solved_step": result.solved_step, "probe_steps": [e["step"] for e in probes],
                         "greedy_accuracy": [e["greedy_accuracy"] for e in probes],
                         "greedy_length": [e["greedy_mean_length"] for e in probes]})
            print(json.dumps({k: rows[-1][k] for k in ("fraction", "samples", "solved_step")}),
                  f"start long acc {start['sampled_long_accuracy']}, after greedy {result.metrics['greedy_accuracy']:.3f}"
                  f" length {result.metrics['greedy_mean_length']:.1f}")
    write_result("too_early", {"pretrain_run": str(args.pretrain_run), "learned_at_samples": learned_at,
                               "rows": rows})


if __name__ == "__main__":
    main()
