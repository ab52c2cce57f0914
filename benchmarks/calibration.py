"""Length calibration after pre-training (paper Sec. 3.2): sampled long fraction against p_long, at d = 24.

    python benchmarks/calibration.py [--p-long 0.01 0.05 0.1 0.25 --n 10000 --seed 0 --budget 600000]   # ~5 min
    python benchmarks/plot_calibration.py

For each p_long: pre-train with the default recipe on --budget demonstrations (the same for every p_long, as in the
threshold benchmark; the chain check still runs at every evaluation point and the samples at which it first passed
are recorded), then evaluate on --n fresh prompts per mode. A fixed budget rather than the stopping rule, because
the rule stops at the first evaluation point whose 200 sampled long responses have at most 2 errors, so it stops on
models that are only 98-99% right about as often as on better ones (measured at p_long = 0.05: the rule stopped at
153,600 samples on a model whose long answers were 98.3% right, and 10 re-checks with other seeds all failed).
Measured: the sampled long fraction (with its binomial standard deviation and the pass band
max(30% of p_long, 3 sd) around p_long), the answer and exact-chain accuracy of the long samples, and the greedy
accuracy and length (expected: short answers at chance, 0.45-0.55). Writes benchmarks/results/calibration.json.
"""

from __future__ import annotations

import argparse
import math

from agents.evaluate import evaluate
from agents.pretrain import PretrainConfig, pretrain
from common import write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--p-long", type=float, nargs="+", default=[0.01, 0.05, 0.1, 0.25])
    parser.add_argument("--n", type=int, default=10_000, help="fresh prompts per mode (>= 1e4 sampled, >= 2000 greedy)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--d", type=int, default=24)
    parser.add_argument("--budget", type=int, default=600_000, help="demonstrations per p_long (default 600000)")
    args = parser.parse_args()
    rows = []
    for p in args.p_long:
        cfg = PretrainConfig(d=args.d, p_long=p, seed=args.seed, final_eval_n=0, max_samples=args.budget,
                             stop_when_learned=False)
        r = pretrain(cfg, progress=False)
        m = evaluate(r.model, cfg.task, n=args.n, seed=args.seed + 100)
        sd = math.sqrt(p * (1 - p) / args.n)
        band = max(0.3 * p, 3 * sd)
        learned_at = next((pt["samples"] for pt in r.log if pt["chain_learned"]), None)
        row = {"p_long": p, "samples": r.samples, "chain_learned_at": learned_at, "pretrain_s": r.wall_time_s,
               **m, "binomial_sd": sd, "band": band,
               "calibrated": m["sampled_long_fraction"] > 0 and abs(m["sampled_long_fraction"] - p) <= band,
               "long_accuracy_ok": (m["sampled_long_accuracy"] or 0) >= 0.99,
               "greedy_at_chance": 0.45 <= m["greedy_accuracy"] <= 0.55}
        rows.append(row)
        print(f"p_long {p}: chain learned at {learned_at} of {r.samples:,} samples; sampled long fraction "
              f"{m['sampled_long_fraction']:.4f} (band +-{band:.4f}), long accuracy {m['sampled_long_accuracy']}, "
              f"greedy {m['greedy_accuracy']:.3f} (length {m['greedy_mean_length']:.2f})", flush=True)
        write_result("calibration", {"benchmark": "calibration", "d": args.d, "n": args.n, "seed": args.seed,
                                     "budget": args.budget, "rows": rows})  # after every p_long, so that an interrupted run keeps its rows


if __name__ == "__main__":
    main()
