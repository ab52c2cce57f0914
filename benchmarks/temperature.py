"""The temperature ablation (paper Sec. 4): RL at sampling temperatures 0.75, 1.0 and 1.5, REINFORCE and STaR.

    nice python benchmarks/temperature.py --checkpoint runs/pre24-s0     # writes benchmarks/results/temperature.json
    python benchmarks/plot_temperature.py                                # benchmarks/figures/temperature.png

Each (algorithm, temperature, seed) runs ``finetune`` from the same pretrained checkpoint with the end-to-end
(answer) reward until greedy accuracy holds >= 99% or the step budget ends (``--steps``; STaR: ``--star-rounds``).
The paper notes STaR with a high temperature and the end-to-end reward as a failure case.
"""

from __future__ import annotations

import argparse

import torch

from agents.checkpoint import load_checkpoint
from rl_algorithms import run
from common import write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="pretrained checkpoint (d = 24, p_long = 0.01)")
    parser.add_argument("--temperatures", nargs="+", type=float, default=[0.75, 1.0, 1.5])
    parser.add_argument("--algos", nargs="+", default=["reinforce", "star"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=150, help="most RL steps per run (default 150)")
    parser.add_argument("--star-rounds", type=int, default=15, help="most STaR rounds per run (default 15)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default="temperature",
                        help="results/NAME.json (default temperature); plot_temperature.py reads every temperature*.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    runs = [run(args.checkpoint, algo, seed, 0, args.star_rounds if algo == "star" else args.steps, args.threads,
                temperature)
            for algo in args.algos for temperature in args.temperatures for seed in args.seeds]
    write_result(args.name, {"checkpoint": str(args.checkpoint), "task": load_checkpoint(args.checkpoint).task,
                                 "runs": runs})


if __name__ == "__main__":
    main()
