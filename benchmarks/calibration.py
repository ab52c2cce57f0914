"""Length calibration after pre-training (paper Sec. 3.2): sampled long fraction against p_long, at d = 24.

    nice python benchmarks/calibration.py [--p-long 0.01 0.05 0.1 0.25 --n 10000 --seed 0]   # ~5-10 min, 2 cores
    python benchmarks/plot_calibration.py

For each p_long: pre-train with the default recipe until the chain is learned, then evaluate on --n fresh prompts
per mode. "Learned" is judged here by a stricter chain check than the default stopping rule (at most 2 of 400 sampled
long responses wrong rather than 2 of 200, --check-n-long / --check-max-error): the claim is about a model that has
learned the chain, and the default rule passes models whose long answers are only 98-99% right (measured: p_long 0.05,
0.1, 0.25 stopped with 98.3, 98.5, 98.9%). Measured: the sampled long fraction (with its binomial standard deviation
and the pass band max(30% of p_long, 3 sd) around p_long), the answer and exact-chain accuracy of the long samples,
and the greedy accuracy and length (expected: short answers at chance, 0.45-0.55). Writes results/calibration.json.
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
    parser.add_argument("--check-n-long", type=int, default=400, help="long samples the chain check judges (400)")
    parser.add_argument("--check-max-error", type=float, default=0.005, help="fraction of them allowed wrong (0.005)")
    args = parser.parse_args()
    rows = []
    for p in args.p_long:
        cfg = PretrainConfig(d=args.d, p_long=p, seed=args.seed, final_eval_n=0, check_n_long=args.check_n_long,
                             check_max_error=args.check_max_error)
        r = pretrain(cfg, progress=False)
        m = evaluate(r.model, cfg.task, n=args.n, seed=args.seed + 100)
        sd = math.sqrt(p * (1 - p) / args.n)
        band = max(0.3 * p, 3 * sd)
        row = {"p_long": p, "stop_reason": r.stop_reason, "samples": r.samples, "pretrain_s": r.wall_time_s,
               **m, "binomial_sd": sd, "band": band,
               "calibrated": m["sampled_long_fraction"] > 0 and abs(m["sampled_long_fraction"] - p) <= band,
               "long_accuracy_ok": (m["sampled_long_accuracy"] or 0) >= 0.99,
               "greedy_at_chance": 0.45 <= m["greedy_accuracy"] <= 0.55}
        rows.append(row)
        print(f"p_long {p}: {r.stop_reason} after {r.samples:,} samples; sampled long fraction "
              f"{m['sampled_long_fraction']:.4f} (band +-{band:.4f}), long accuracy {m['sampled_long_accuracy']}, "
              f"greedy {m['greedy_accuracy']:.3f} (length {m['greedy_mean_length']:.2f})", flush=True)
        write_result("calibration", {"benchmark": "calibration", "d": args.d, "n": args.n, "seed": args.seed,
                                     "check_n_long": args.check_n_long, "check_max_error": args.check_max_error,
                                     "rows": rows})  # after every p_long, so that an interrupted run keeps its rows


if __name__ == "__main__":
    main()
