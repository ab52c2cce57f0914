"""What a larger sweep will cost, estimated from the per-cell times of a finished one (``parity-cot sweep``).

    python benchmarks/sweep_cost.py benchmarks/results/phase_cpu                        # the grid it ran, checked
    python benchmarks/sweep_cost.py benchmarks/results/phase_cpu --d 8 16 24 32 40 50 \\
        --p-long 0.001 0.003 0.01 0.03 0.1 0.25 0.4 --seeds 5 --algos 4 \\
        --max-samples 20000000 --steps 2000 --slots 256                                 # the paper-scale grid

The estimate is an upper bound: every cell spends its whole budgets (``--max-samples`` next-token sequences, then
``--steps`` RL steps, then the control on as many sequences as RL generated), at the cost per sequence that the
finished sweep measured at each d (a straight line in d, so d beyond the measured ones is extrapolated). Cells that
learn early cost less; at small p_long they do not, and those cells dominate. The first line checks the bound on
the finished sweep itself: the bound of its own grid against the CPU time it took. Costs are for the hardware that
ran the finished sweep (named in the output); RL steps of other algorithms cost about what REINFORCE's do per
episode (PPO and GRPO take more epochs per batch: give ``--algos`` a larger count to allow for it).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from agents.jobs.sweep import latest_results
from agents.rl import FinetuneConfig

STAGES = {"pretrained": "next-token pre-training", "finetuned": "RL fine-tuning", "control": "NTP-only control"}


def per_sample_costs(records: list[dict]) -> dict[str, np.ndarray]:
    """Seconds per sequence of each stage as a line in d: stage -> (slope, intercept), fit to the per-d totals."""
    fits = {}
    for stage in STAGES:
        ds = sorted({r["d"] for r in records})
        costs = [sum(r["stages"][stage]["wall_time_s"] for r in records if r["d"] == d)
                 / sum(r["stages"][stage]["samples"] for r in records if r["d"] == d) for d in ds]
        fits[stage] = np.polyfit(ds, costs, 1) if len(ds) > 1 else np.array([0.0, costs[0]])
    return fits


def stage_costs(fits: dict, d: int) -> dict[str, float]:
    """Seconds per sequence of each stage at ``d`` (the fitted lines, never below 0)."""
    return {stage: max(float(np.polyval(fit, d)), 0.0) for stage, fit in fits.items()}


def cell_bound(fits: dict, d: int, max_samples: int, episodes: int) -> float:
    """Seconds for one cell that spends every budget."""
    cost = stage_costs(fits, d)
    return cost["pretrained"] * max_samples + (cost["finetuned"] + cost["control"]) * episodes


def cell_expected(fits: dict, records: list[dict], d: int, p_long: float, max_samples: int, episodes: int) -> float:
    """Seconds for one cell as the finished sweep saw it: the mean samples its cells at this p_long and the nearest
    measured d used, where every seed there learned the chain and solved the task; otherwise every budget."""
    seen = [r for r in records if math.isclose(r["p_long"], p_long)]
    if not seen:
        return cell_bound(fits, d, max_samples, episodes)
    nearest = min({r["d"] for r in seen}, key=lambda measured: (abs(measured - d), -measured))
    seen = [r for r in seen if r["d"] == nearest]
    if any(r["stages"]["pretrained"]["stop_reason"] != "learned" or r["rl_steps_to_solve"] is None for r in seen):
        return cell_bound(fits, d, max_samples, episodes)
    cost = stage_costs(fits, d)
    return sum(cost[stage] * np.mean([r["stages"][stage]["samples"] for r in seen]) for stage in STAGES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path, help="a finished sweep's --out directory (results.jsonl, sweep.json)")
    parser.add_argument("--d", type=int, nargs="+", help="the grid's d values (default: the sweep's)")
    parser.add_argument("--p-long", type=float, nargs="+", help="the grid's p_long values (default: the sweep's)")
    parser.add_argument("--seeds", type=int, help="seeds per cell (default: the sweep's)")
    parser.add_argument("--algos", type=int, help="algorithms (and agents) per cell (default: the sweep's)")
    parser.add_argument("--max-samples", type=int, help="pre-training budget per cell (default: the sweep's)")
    parser.add_argument("--steps", type=int, help="RL steps per cell (default: the sweep's)")
    parser.add_argument("--slots", type=int, default=None, help="cells run at once (default: the sweep's slots)")
    args = parser.parse_args()

    spec = json.loads((args.sweep / "sweep.json").read_text())
    runs = [json.loads(line) for line in (args.sweep / "runs.jsonl").read_text().splitlines() if line.strip()]
    records = [r for r in latest_results(args.sweep).values() if r["status"] == "ok"]
    if not records:
        raise SystemExit(f"{args.sweep}/results.jsonl holds no finished cell: nothing to measure costs from")
    grid, cell = spec["grid"], spec["cell"]
    fits = per_sample_costs(records)
    # episodes per RL step, from the cells that ran every step
    full = [r["stages"]["finetuned"]["samples"] for r in records if r["stages"]["finetuned"]["stop_reason"] == "steps"]
    per_step = full[0] / cell["steps"] if full else FinetuneConfig().batch_size

    measured_cpu_s = sum(r["wall_time_s"] for r in records)
    own_bound = sum(cell_bound(fits, r["d"], cell["max_samples"], cell["steps"] * per_step) for r in records)
    own_expected = sum(cell_expected(fits, records, r["d"], r["p_long"], cell["max_samples"], cell["steps"] * per_step)
                       for r in records)
    print(f"measured on: {records[0]['hardware'].get('cpu', records[0]['hardware'])}")
    print(f"the finished sweep: {len(records)} cells, {measured_cpu_s / 3600:.2f} cell-hours measured; "
          f"estimated {own_expected / 3600:.2f} ({own_expected / measured_cpu_s:.2f}x), "
          f"bound {own_bound / 3600:.2f} ({own_bound / measured_cpu_s:.2f}x)")
    share = sum(r["wall_time_s"] for r in records if r["stages"]["pretrained"]["stop_reason"] == "max_samples")
    print(f"  cells that spent the whole pre-training budget: {share / measured_cpu_s:.0%} of its time")
    for stage, (slope, intercept) in fits.items():
        print(f"  {STAGES[stage]}: {intercept * 1e6:.1f} + {slope * 1e6:.2f} * d microseconds per sequence")

    ds, ps = args.d or grid["d"], args.p_long or grid["p_long"]
    seeds = args.seeds or len(grid["seeds"])
    algos = args.algos or len(grid["algo"]) * len(grid["agent"])
    max_samples, steps = args.max_samples or cell["max_samples"], args.steps or cell["steps"]
    slots = args.slots or (runs[-1]["slots"] if runs else 1)
    bound = sum(cell_bound(fits, d, max_samples, steps * per_step) for d in ds) * len(ps) * seeds * algos
    expected = sum(cell_expected(fits, records, d, p, max_samples, steps * per_step)
                   for d in ds for p in ps) * seeds * algos
    cells = len(ds) * len(ps) * seeds * algos
    longest = max(cell_bound(fits, d, max_samples, steps * per_step) for d in ds)
    wall = max(bound / slots, longest)  # the grid cannot finish before its longest cell
    print(f"the grid: {cells} cells (d {ds}, p_long {ps}, {seeds} seeds, {algos} algorithms), budgets "
          f"{max_samples:,} sequences and {steps} steps, {slots} slots:")
    print(f"  expected {expected / 3600:,.1f} cell-hours, {max(expected / slots, longest) / 3600:,.1f} hours")
    print(f"  at most  {bound / 3600:,.1f} cell-hours, {wall / 3600:,.1f} hours (longest cell {longest / 3600:.1f} h)")


if __name__ == "__main__":
    main()
