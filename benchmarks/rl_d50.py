"""The paper's Fig. 1 setting on a CPU (slow): d = 50, p_long = 0.25, NTP until the chain is learned, then RL to 99%.

    nice python benchmarks/rl_d50.py [--seed 0 --algo reinforce]       # tens of minutes on a 2-core CPU
    python benchmarks/plot_rl_d50.py               # benchmarks/figures/rl_d50.png

Pre-training (``agents.pretrain`` defaults, stopping when the chain is learned) gives greedy accuracy at chance
with calibrated length; ``finetune`` then runs until greedy accuracy holds >= 99%. Recorded: the pre-training log
(greedy accuracy against samples), the RL log (greedy accuracy and length against steps), both evaluations.
"""

from __future__ import annotations

import argparse
import tempfile

import torch

from agents.pretrain import PretrainConfig, pretrain
from agents.rl import FinetuneConfig, finetune
from rl_common import write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--algo", default="reinforce")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        pre = pretrain(PretrainConfig(d=50, p_long=0.25, seed=args.seed, threads=args.threads, out=tmp),
                       progress=False)
    print(f"pre-training: {pre.stop_reason} after {pre.samples} samples, {pre.wall_time_s:.0f} s: {pre.metrics}")
    rl = finetune(pre.model, FinetuneConfig(algo=args.algo, seed=args.seed, threads=args.threads),
                  task={"d": 50, "p_long": 0.25, "leap": 1, "max_response_len": 51}, progress=False)
    print(f"RL: {rl.stop_reason} at step {rl.solved_step}, {rl.wall_time_s:.0f} s: {rl.metrics}")
    probes = [e for e in rl.log if "greedy_accuracy" in e]
    write_result("rl_d50", {
        "seed": args.seed, "algo": args.algo,
        "pretrain": {"samples": pre.samples, "wall_time_s": pre.wall_time_s, "stop_reason": pre.stop_reason,
                     "metrics": pre.metrics, "log": pre.log},
        "rl": {"solved_step": rl.solved_step, "time_to_solved_s": rl.time_to_solved_s, "episodes": rl.episodes,
               "metrics": rl.metrics, "probe_steps": [e["step"] for e in probes],
               "greedy_accuracy": [e["greedy_accuracy"] for e in probes],
               "greedy_length": [e["greedy_mean_length"] for e in probes]},
        "note": "wall times on a shared 2-core CPU are inflated by contention",
    })


if __name__ == "__main__":
    main()
