"""Does STaR's long fraction follow p <- 2p/(1+p) (Thm. 2)? python benchmarks/star_recursion.py --checkpoint CKPT

    python benchmarks/star_recursion.py --checkpoint CKPT [--seeds 0 1 2 --rounds 12 --star-epochs 1]
    python benchmarks/plots.py star_recursion --results runs/benchmarks      # its figure

Each round samples ``star_samples`` (4096) responses at temperature 1, keeps the correct ones and trains on them by
next-token prediction (``--star-epochs`` passes). Recorded per round: the long fraction of the round's samples (p_n,
before its update) and the long fraction among the kept (correct) ones. The recursion starts from the measured p_0;
a round that fits its kept samples exactly would make p_{n+1} equal the kept fraction 2 p_n / (1 + p_n) (long
answers are all right, short ones half right). Greedy accuracy is probed each round. Writes
RESULTS/star_recursion.json.
"""

from __future__ import annotations

import argparse

import torch
from common import add_results_arguments, write_result

from agents.checkpoint import load_checkpoint
from agents.rl import FinetuneConfig, finetune


def recursion(p0: float, rounds: int) -> list[float]:
    out = [p0]
    for _ in range(rounds - 1):
        out.append(2 * out[-1] / (1 + out[-1]))
    return out


def star_rounds(checkpoint: str, seed: int, rounds: int, epochs: int, threads: int) -> dict:
    """``rounds`` STaR rounds from ``checkpoint``: the long fractions per round, the recursion, the greedy probes."""
    cfg = FinetuneConfig(algo="star", seed=seed, steps=rounds, steps_after_solved=None, epochs=epochs,
                         threads=threads, final_eval_n=0)
    log = finetune(checkpoint, cfg, progress=False).log
    p = [e["long_fraction"] for e in log]
    return {"seed": seed, "long_fraction": p, "kept_long_fraction": [e["correct_long_fraction"] for e in log],
            "greedy_accuracy": [e["greedy_accuracy"] for e in log],
            "greedy_length": [e["greedy_mean_length"] for e in log], "recursion": recursion(p[0], len(p))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--star-epochs", type=int, default=1, help="passes over each round's kept samples (default 1)")
    parser.add_argument("--threads", type=int, default=1)
    add_results_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    runs = []
    for seed in args.seeds:
        runs.append(star_rounds(args.checkpoint, seed, args.rounds, args.star_epochs, args.threads))
        print(f"seed {seed}: p_n {[round(x, 3) for x in runs[-1]['long_fraction']]}\n"
              f"  recursion {[round(x, 3) for x in runs[-1]['recursion']]}")
    write_result("star_recursion", {"checkpoint": str(args.checkpoint),
                                    "task": load_checkpoint(args.checkpoint).task.to_dict(),
                                    "star_samples": FinetuneConfig.star_samples, "star_epochs": args.star_epochs,
                                    "runs": runs}, args.results)


if __name__ == "__main__":
    main()
