"""Does NTP alone generalise only for p_long > 1/3 (Theorem 1)? python benchmarks/threshold.py

    python benchmarks/threshold.py [--p-long 0.2 0.25 0.3 0.35 0.4 0.5 --seeds 0 1 2 --budget 600000 --n 4096 --d 24]
    python benchmarks/threshold.py --p-long 0.4 0.5 --name threshold_high      # a sweep split across processes
    python benchmarks/plots.py threshold --results runs/benchmarks             # threshold.json and threshold_*.json

Every run trains on exactly --budget demonstrations (no early stop), at least 3x what p_long = 0.25 needs to learn the
chain (the samples at which its chain check first passed are recorded per run to show it), then greedy accuracy and
length are measured on --n fresh prompts. Writes RESULTS/NAME.json (--name, default threshold) after every run, so
that a stopped sweep keeps what it measured.
"""

from __future__ import annotations

import argparse

from common import add_agent_arguments, add_results_arguments, agent_options, chain_learned_at, write_result

from agents.ntp.pretrain import PretrainConfig, pretrain
from agents.run.evaluate import evaluate
from parity_env import Task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--p-long", type=float, nargs="+", default=[0.2, 0.25, 0.3, 0.35, 0.4, 0.5])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget", type=int, default=600_000, help="demonstrations per run, the same for every p")
    parser.add_argument("--n", type=int, default=4096, help="fresh prompts of the greedy evaluation")
    parser.add_argument("--d", type=int, default=24)
    parser.add_argument("--name", default="threshold",
                        help="RESULTS/NAME.json (default threshold); plots.py threshold also draws threshold_*.json")
    add_agent_arguments(parser)
    add_results_arguments(parser)
    args = parser.parse_args()
    runs = []
    for p in args.p_long:
        for seed in args.seeds:
            cfg = PretrainConfig(task=Task(d=args.d, p_long=p), **agent_options(args), seed=seed,
                                 max_samples=args.budget, stop_when_learned=False, eval_every=51_200, final_eval_n=0)
            r = pretrain(cfg, progress=False)
            m = evaluate(r.agent, cfg.task, n=args.n, seed=1000 + seed)
            learned_at = chain_learned_at(r.log)
            runs.append({"p_long": p, "seed": seed, "samples": r.samples, "chain_learned_at": learned_at,
                         "greedy_accuracy": m["greedy_accuracy"], "greedy_mean_length": m["greedy_mean_length"],
                         "sampled_long_fraction": m["sampled_long_fraction"],
                         "sampled_long_chain_accuracy": m["sampled_long_chain_accuracy"],
                         "continuation_probability": m["continuation_probability"], "wall_time_s": r.wall_time_s})
            print(f"p_long {p} seed {seed}: greedy {m['greedy_accuracy']:.3f} length {m['greedy_mean_length']:.1f}, "
                  f"chain learned at {learned_at} samples", flush=True)
            write_result("threshold", {"d": args.d, "budget": args.budget, "n": args.n, **agent_options(args),
                                       "runs": runs}, args.results, name=args.name)


if __name__ == "__main__":
    main()
