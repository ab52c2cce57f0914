"""STaR's long fraction per round against the recursion p_n = 2 p_{n-1} / (1 + p_{n-1}) (paper Theorem 2).

    nice python benchmarks/star_recursion.py --checkpoint runs/pre [--seeds 0 1 2 --rounds 12]
    python benchmarks/plot_star_recursion.py      # benchmarks/figures/star_recursion.png

Each round samples ``star_samples`` (4096) responses at temperature 1, keeps the correct ones and trains on them by
next-token prediction. Recorded per round: the long fraction of the round's samples (p_n, before its update) and the
long fraction among the kept (correct) ones. The recursion starts from the measured p_0; a round that fits its
kept samples exactly would make p_{n+1} equal the kept fraction 2 p_n / (1 + p_n) (long answers are all right, short
ones half right). Greedy accuracy is probed each round.
"""

from __future__ import annotations

import argparse

import torch

from agents.checkpoint import load_checkpoint
from agents.rl import FinetuneConfig, finetune
from common import write_result


def recursion(p0: float, rounds: int) -> list[float]:
    out = [p0]
    for _ in range(rounds - 1):
        out.append(2 * out[-1] / (1 + out[-1]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--star-epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    runs = []
    for seed in args.seeds:
        ckpt = load_checkpoint(args.checkpoint)
        cfg = FinetuneConfig(algo="star", seed=seed, steps=args.rounds, steps_after_solved=None,
                             star_epochs=args.star_epochs, threads=args.threads, final_eval_n=0)
        log = finetune(ckpt.model, cfg, task=ckpt.task, progress=False).log
        p = [e["long_fraction"] for e in log]
        runs.append({"seed": seed, "long_fraction": p, "kept_long_fraction": [e["correct_long_fraction"] for e in log],
                     "greedy_accuracy": [e["greedy_accuracy"] for e in log],
                     "greedy_length": [e["greedy_mean_length"] for e in log],
                     "recursion": recursion(p[0], len(p))})
        print(f"seed {seed}: p_n {[round(x, 3) for x in p]}\n  recursion {[round(x, 3) for x in runs[-1]['recursion']]}")
    write_result("star_recursion", {"checkpoint": str(args.checkpoint), "task": load_checkpoint(args.checkpoint).task, "star_samples": cfg.star_samples,
                                    "star_epochs": args.star_epochs, "runs": runs})


if __name__ == "__main__":
    main()
