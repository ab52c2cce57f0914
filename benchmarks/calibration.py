"""Does NTP leave the model length-calibrated, long with probability p_long (Sec. 3.2)? python benchmarks/calibration.py

    python benchmarks/calibration.py [--p-long 0.01 0.05 0.1 0.25 --n 10000 --seed 0 --budget 600000 --d 24]
    python benchmarks/plots.py calibration --results runs/benchmarks      # its figure
    python benchmarks/calibration.py --agent linear --agent-config '{"init_std": 0.0}'   # any agent

For each p_long: pre-train with the default recipe on --budget demonstrations (the same for every p_long, as in the
threshold benchmark; the chain check still runs at every evaluation point and the samples at which it first passed are
recorded), then evaluate on --n fresh prompts per mode. A fixed budget rather than the stopping rule, because the rule
stops at the first evaluation point whose 200 sampled long responses have at most 2 errors, so it stops on models that
are only 98-99% right about as often as on better ones (benchmarks/README.md). Measured: the sampled long fraction (with
its binomial standard deviation and the pass band max(30% of p_long, 3 sd) around p_long), the answer and exact-chain
accuracy of the long samples, and the greedy accuracy and length (expected: short answers at chance, within 0.05 of the
task's chance level). Writes RESULTS/calibration.json after every p_long, so that an interrupted run keeps its rows.
"""

from __future__ import annotations

import argparse
import math

from common import (
    add_agent_arguments,
    add_results_arguments,
    add_task_arguments,
    agent_options,
    chain_learned_at,
    task_of,
    write_result,
)

from agents.ntp.pretrain import PretrainConfig, pretrain
from agents.run.evaluate import evaluate


def calibration_row(p: float, r, m: dict, n: int, chance: float = 0.5) -> dict:
    """What the figure and the README table show for one p_long: pre-training ``r``, evaluation ``m`` on n prompts."""
    sd = math.sqrt(p * (1 - p) / n)
    band = max(0.3 * p, 3 * sd)
    learned_at = chain_learned_at(r.log)
    return {"p_long": p, "samples": r.samples, "chain_learned_at": learned_at, "pretrain_s": r.wall_time_s,
            **m, "binomial_sd": sd, "band": band,
            "calibrated": m["sampled_long_fraction"] > 0 and abs(m["sampled_long_fraction"] - p) <= band,
            "long_accuracy_ok": (m["sampled_long_accuracy"] or 0) >= 0.99,
            "greedy_at_chance": abs(m["greedy_accuracy"] - chance) <= 0.05}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--p-long", type=float, nargs="+", default=[0.01, 0.05, 0.1, 0.25])
    parser.add_argument("--n", type=int, default=10_000, help="fresh prompts per mode (>= 1e4 sampled, >= 2000 greedy)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=600_000, help="demonstrations per p_long (default 600000)")
    add_task_arguments(parser)
    add_agent_arguments(parser)
    add_results_arguments(parser)
    args = parser.parse_args()
    rows = []
    for p in args.p_long:
        cfg = PretrainConfig(task=task_of(args, p_long=p), **agent_options(args), seed=args.seed, final_eval_n=0,
                             max_samples=args.budget, stop_when_learned=False)
        r = pretrain(cfg, progress=False)
        m = evaluate(r.agent, cfg.task, n=args.n, seed=args.seed + 100)
        row = calibration_row(p, r, m, args.n, cfg.task.chance)
        rows.append(row)
        print(f"p_long {p}: chain learned at {row['chain_learned_at']} of {r.samples:,} samples; sampled long "
              f"fraction {m['sampled_long_fraction']:.4f} (band +-{row['band']:.4f}), long accuracy "
              f"{m['sampled_long_accuracy']}, greedy {m['greedy_accuracy']:.3f} (length "
              f"{m['greedy_mean_length']:.2f})", flush=True)
        write_result("calibration", {"task": cfg.task.to_dict(), "n": args.n, "seed": args.seed, "budget": args.budget,
                                     **agent_options(args), "rows": rows},
                     args.results)


if __name__ == "__main__":
    main()
