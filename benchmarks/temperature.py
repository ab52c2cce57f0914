"""Does STaR fail at high temperature, REINFORCE not (Sec. 4)? python benchmarks/temperature.py --checkpoint CKPT

    python benchmarks/temperature.py --checkpoint CKPT [--temperatures 0.75 1.0 1.5 --algos reinforce star]
    python benchmarks/temperature.py --checkpoint CKPT --algos star --name temperature_star   # a sweep split in two
    python benchmarks/plots.py temperature --results runs/benchmarks      # temperature.json and temperature_*.json

Each (algorithm, temperature, seed) runs ``finetune`` from the same checkpoint (any agent) with the end-to-end
(answer) reward until greedy accuracy holds >= 99% or the step budget ends (``--steps``; STaR: ``--star-rounds``).
The paper notes STaR with a high temperature and the end-to-end reward as a failure case. Writes RESULTS/NAME.json
(--name, default temperature).
"""

from __future__ import annotations

import argparse

import torch
from common import add_results_arguments, write_result
from rl_algorithms import run

from agents.rl import ALGORITHMS
from agents.run.checkpoint import load_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="pretrained checkpoint (d = 24, p_long = 0.01)")
    parser.add_argument("--temperatures", nargs="+", type=float, default=[0.75, 1.0, 1.5])
    parser.add_argument("--algos", nargs="+", default=["reinforce", "star"], choices=ALGORITHMS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=150, help="most RL steps per run (default 150)")
    parser.add_argument("--star-rounds", type=int, default=15, help="most STaR rounds per run (default 15)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default="temperature",
                        help="RESULTS/NAME.json (default temperature); plots.py temperature also draws "
                             "temperature_*.json")
    add_results_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    runs = [run(args.checkpoint, algo, seed, 0, args.star_rounds if algo == "star" else args.steps, args.threads,
                temperature)
            for algo in args.algos for temperature in args.temperatures for seed in args.seeds]
    write_result("temperature", {"checkpoint": str(args.checkpoint),
                                 "task": load_checkpoint(args.checkpoint).task.to_dict(), "runs": runs},
                 args.results, name=args.name)


if __name__ == "__main__":
    main()
