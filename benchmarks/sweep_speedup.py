"""How much faster is ``parity-cot sweep`` with 2 CPUs than with 1? python benchmarks/sweep_speedup.py

    python benchmarks/sweep_speedup.py [--order 1 2 2 1] [--runs-dir runs/sweep_speedup] [--results DIR]

Runs the README's small grid (``parity-cot sweep --d 8 16 --p-long 0.1 0.4 --seeds 0 1``: 8 cells; any other option
is passed on to the sweep) once per entry of ``--order`` with ``--num-cpus`` that entry, each into a fresh directory
and in a fresh process, in that order (1, 2, 2, 1 by default, so that a drift of the machine's speed falls on both
sides). Records per run: the whole command's wall time (Ray's start included), the sweep's own wall time for its cells
(``runs.jsonl``), Ray's start, Ray's overhead per cell, every cell's wall time; and whether every cell's results are
identical across the runs (each cell is seeded: Ray only decides where it runs). Needs the ``[sweep]`` extra (Ray).
Writes RESULTS/sweep_speedup.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import add_results_arguments, write_result

GRID = ["--d", "8", "16", "--p-long", "0.1", "0.4", "--seeds", "0", "1"]
"""The README's small grid: 8 cells of 10-30 s on 2 cores, enough to fill two slots several times."""
COMPARED = ("ntp", "rl", "control")
"""The parts of a cell's record that must be identical across runs (its evaluations)."""


def run_sweep(num_cpus: int, out: Path, options: list[str]) -> dict:
    """One sweep of the grid with ``num_cpus`` CPUs into the fresh directory ``out``."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "agents", "sweep", *GRID, "--num-cpus", str(num_cpus), "--out", str(out),
               "--no-progress", *options]
    t0 = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    command_s = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{' '.join(command)} exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    (summary,) = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    cells = sorted((json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()),
                   key=lambda r: r["cell"])
    run = {"num_cpus": num_cpus, "command_wall_time_s": command_s, "cells_wall_time_s": summary["wall_time_s"],
           "ray_start_s": summary["ray_start_s"], "ray_overhead": summary["ray_overhead"],
           "cell_wall_time_s": {c["cell"]: c["wall_time_s"] for c in cells},
           "results": {c["cell"]: {k: c.get(k) for k in COMPARED} for c in cells}}
    print(f"--num-cpus {num_cpus}: cells in {run['cells_wall_time_s']:.1f} s, command {command_s:.1f} s, Ray's "
          f"overhead {summary['ray_overhead']['mean_s']:.2f} s per cell", flush=True)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False,
                                     epilog="any other option goes to parity-cot sweep")
    parser.add_argument("--order", type=int, nargs="+", default=[1, 2, 2, 1], help="--num-cpus of each run, in order")
    parser.add_argument("--runs-dir", default="runs/sweep_speedup", help="parent of the runs' sweep directories")
    add_results_arguments(parser)
    args, options = parser.parse_known_args()
    runs = [run_sweep(n, Path(args.runs_dir) / f"run{i}-cpus{n}", options) for i, n in enumerate(args.order)]
    identical = all(r["results"] == runs[0]["results"] for r in runs)
    by_cpus = {n: [r for r in runs if r["num_cpus"] == n] for n in sorted(set(args.order))}
    summary = {
        "identical_results": identical,
        "cells": len(runs[0]["results"]),
        "by_num_cpus": {str(n): {"cells_wall_time_s": [r["cells_wall_time_s"] for r in rs],
                                 "command_wall_time_s": [r["command_wall_time_s"] for r in rs],
                                 "ray_overhead_s": [r["ray_overhead"]["mean_s"] for r in rs],
                                 "ray_overhead_fraction": [r["ray_overhead"]["fraction_of_cell_time"] for r in rs],
                                 "median_cell_wall_time_s": statistics.median(
                                     t for r in rs for t in r["cell_wall_time_s"].values())}
                        for n, rs in by_cpus.items()},
    }
    if {1, 2} <= set(by_cpus):
        one, two = (statistics.median(r["cells_wall_time_s"] for r in by_cpus[n]) for n in (1, 2))
        whole = [statistics.median(r["command_wall_time_s"] for r in by_cpus[n]) for n in (1, 2)]
        summary["speedup_cells"], summary["speedup_command"] = one / two, whole[0] / whole[1]
    print(json.dumps({k: v for k, v in summary.items() if k != "by_num_cpus"}))
    write_result("sweep_speedup", {"grid": GRID, "options": options, "order": args.order, "summary": summary,
                                   "runs": [{k: v for k, v in r.items() if k != "results"} for r in runs]},
                 args.results)
    if not identical:
        raise SystemExit("the cells' results differ between runs: a cell is not reproducible from its seed")


if __name__ == "__main__":
    main()
