"""How fast does pre-training learn the chain at d = 24, p_long = 0.01? python benchmarks/pretrain_speed.py

    python benchmarks/pretrain_speed.py [--seeds 0 1 2 3 4 --max-samples 1500000 --d 24 --p-long 0.01]
    python benchmarks/plots.py pretrain_speed --results runs/benchmarks      # its figure

Time to learned counts everything from the start of pre-training to the chain check that passes (evaluations
included; imports and the final evaluation excluded). Achieved FLOP/s is the training matmul FLOPs actually computed
(3 x the agent's ``forward_flops`` of every sequence, which counts the prompt positions' skipped outputs as not
computed; agents without ``forward_flops`` report none) per second of training steps, as a fraction of a float32
matmul peak measured here with the same number of threads. Tokens/s counts every input position of the training
sequences. Writes RESULTS/pretrain_speed.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace

import torch
from common import add_agent_arguments, add_results_arguments, add_task_arguments, agent_options, task_of, write_result

from agents.ntp.pretrain import PretrainConfig, pretrain
from agents.run.config import config_to_dict


def matmul_peak(threads: int, n: int = 512, repeats: int = 50) -> float:
    """Best-of float32 FLOP/s of an n x n matmul with ``threads`` torch threads (after a warm-up)."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(5):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


def timed_run(cfg: PretrainConfig, peak: float) -> dict:
    """One seed's pre-training: when it learned the chain, its throughput, its final evaluation and its log."""
    r = pretrain(cfg, progress=False)
    flops = r.flop_per_s
    fraction = flops / peak if flops is not None else None
    decay = next((p["samples"] for p in r.log if p["lr"] < cfg.lr and p["samples"] > cfg.warmup_samples), None)
    print(f"seed {cfg.seed}: {r.stop_reason} at {r.time_to_learned_s} s, {r.samples:,} samples (lr decaying from "
          f"{decay}), {r.tokens_per_s:,.0f} tok/s, "
          + (f"{flops / 1e9:.2f} GFLOP/s ({fraction:.1%} of peak), " if flops is not None else "")
          + f"greedy {r.metrics['greedy_accuracy']:.3f} length {r.metrics['greedy_mean_length']:.2f}", flush=True)
    return {"seed": cfg.seed, "learned": r.stop_reason == "learned", "time_to_learned_s": r.time_to_learned_s,
            "samples": r.samples, "steps": r.steps, "wall_time_s": r.wall_time_s, "decaying_at": decay,
            "tokens_per_s": r.tokens_per_s, "achieved_flop_s": flops, "fraction_of_peak": fraction,
            "final": r.metrics, "log": r.log}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--max-samples", type=int, default=1_500_000,
                        help="per-seed budget (a seed that needs more fails)")
    parser.add_argument("--p-long", type=float, default=0.01)
    add_task_arguments(parser)
    add_agent_arguments(parser)
    add_results_arguments(parser)
    args = parser.parse_args()
    base = PretrainConfig(task=task_of(args, p_long=args.p_long), **agent_options(args),
                          max_samples=args.max_samples, final_eval_n=2048)
    peak = matmul_peak(base.threads or torch.get_num_threads())
    runs = [timed_run(replace(base, seed=seed), peak) for seed in args.seeds]
    times = [r["time_to_learned_s"] for r in runs if r["learned"]]
    summary = {"all_learned": all(r["learned"] for r in runs), "median_s": statistics.median(times) if times else None,
               "max_s": max(times) if times else None, "matmul_peak_flop_s": peak,
               "median_tokens_per_s": statistics.median(r["tokens_per_s"] for r in runs)}
    print(json.dumps(summary))
    write_result("pretrain_speed", {"config": config_to_dict(base), "summary": summary, "runs": runs}, args.results)


if __name__ == "__main__":
    main()
