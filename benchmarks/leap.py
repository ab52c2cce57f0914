"""Does NTP alone generalise at p_long = 0.25 with leap-2 chains (Fig. 15)? python benchmarks/leap.py

    python benchmarks/leap.py [--leap 2 --p-long 0.25 --seeds 0 1 2 --budget 600000 --n 4096 --d 24]
    python benchmarks/plots.py leap --results runs/benchmarks      # its figure

Each seed trains on --budget demonstrations (no early stop) with the default recipe (or --agent); greedy accuracy and
length and the sampled long fraction are logged at every evaluation point and measured at the end on --n fresh
prompts. Writes RESULTS/leap.json; reports whatever happens.
"""

from __future__ import annotations

import argparse

from common import add_agent_arguments, add_results_arguments, agent_options, write_result

from agents.evaluate import evaluate
from agents.pretrain import PretrainConfig, pretrain
from parity_env import Task

CURVE_KEYS = ("samples", "greedy_accuracy", "greedy_mean_length", "chain_learned", "chain_loss")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leap", type=int, default=2)
    parser.add_argument("--p-long", type=float, default=0.25)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget", type=int, default=600_000)
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--d", type=int, default=24)
    add_agent_arguments(parser)
    add_results_arguments(parser)
    args = parser.parse_args()
    task = Task(d=args.d, p_long=args.p_long, leap=args.leap)
    runs = []
    for seed in args.seeds:
        cfg = PretrainConfig(task=task, **agent_options(args), seed=seed, max_samples=args.budget,
                             stop_when_learned=False, eval_every=51_200, eval_n=1024, final_eval_n=0)
        r = pretrain(cfg, progress=False)
        m = evaluate(r.agent, task, n=args.n, seed=1000 + seed)
        runs.append({"seed": seed, "final": m, "curve": [{k: pt.get(k) for k in CURVE_KEYS} for pt in r.log]})
        print(f"seed {seed}: greedy {m['greedy_accuracy']:.3f} length {m['greedy_mean_length']:.1f}, sampled long "
              f"fraction {m['sampled_long_fraction']:.3f} (long accuracy {m['sampled_long_accuracy']})", flush=True)
    write_result("leap", {"d": args.d, "leap": args.leap, "p_long": args.p_long, "budget": args.budget,
                          "agent": args.agent, "agent_config": args.agent_config, "runs": runs}, args.results)


if __name__ == "__main__":
    main()
