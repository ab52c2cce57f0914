"""What does the main job give across seeds, and how long does it take? python benchmarks/main_job.py

    python benchmarks/main_job.py [--seeds 0 1 2 3 4] [--runs-dir runs/main_job] [--resume] [--results DIR]
    python benchmarks/main_job.py --seeds 0 1 --task multiplication --task-config '{"digits": 3}'

Runs the main job as a user does, ``parity-cot reproduce --seed S --out RUNS_DIR/seed-S --no-progress`` (any other
option is passed on to it; its defaults: parity d = 24, p_long = 0.01, the gpt agent, REINFORCE), once per seed, one
after the other, each in a fresh process. Records each seed's table (after NTP, after RL, the NTP-only control: greedy
accuracy and length, exact chains, long fraction, samples, wall time of each stage), the job's wall time as the
command reports it (its stages and evaluations), the whole command's wall time (with Python's start and the imports),
its peak memory (the process's maximum resident set), and what it printed. A seed whose run directory holds a finished
run is read, not rerun, with ``--resume`` (an interrupted one is finished). Writes RESULTS/main_job.json
(``--results benchmarks/results``: the committed one the README's main-job paragraph quotes).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import add_results_arguments, write_result

from agents.jobs.reproduce import RESULTS, format_table


def run_seed(seed: int, out: Path, options: list[str], resume: bool) -> dict:
    """One seed's ``parity-cot reproduce`` in a fresh process: its results, wall time, peak memory and output."""
    finished = resume and (out / RESULTS).exists()
    command = [sys.executable, "-m", "agents", "reproduce", "--seed", str(seed), "--out", str(out), "--no-progress",
               *options, *(["--resume"] if resume and out.exists() else [])]
    t0 = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    printed = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own resource usage
    proc.returncode = os.waitstatus_to_exitcode(status)
    command_s = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"seed {seed}: {' '.join(command)} exited {proc.returncode}:\n{printed[-3000:]}")
    results = json.loads((out / RESULTS).read_text())
    stages = {key: {k: v for k, v in stage.items() if k != "metrics"}
              | {"greedy_chain_accuracy": stage["metrics"].get("greedy_chain_accuracy")}
              for key, stage in results["stages"].items()}
    run = {"seed": seed, "rl_solved_step": results["rl_solved_step"], "wall_time_s": results["wall_time_s"],
           **stages, "printed": printed}
    if not finished:  # a finished run read again: its command's time and memory are not this run's
        run |= {"command_wall_time_s": command_s, "peak_memory_gb": usage.ru_maxrss * 1024 / 1e9}
    print(f"seed {seed}: job {run['wall_time_s']:.1f} s" + (f", command {command_s:.1f} s, peak memory "
          f"{run['peak_memory_gb']:.2f} GB" if not finished else " (read from its finished run)"))
    print(format_table(results), flush=True)
    return run


def summarize(runs: list[dict]) -> dict:
    """The ranges over seeds that the docs quote: [min, max] of each."""
    def span(values) -> list:
        values = [v for v in values if v is not None]
        return [min(values), max(values)] if values else []

    def stage(name: str, key: str) -> list:
        return span(r[name][key] for r in runs)

    return {
        "seeds": [r["seed"] for r in runs],
        "wall_time_s": span(r["wall_time_s"] for r in runs),
        "median_wall_time_s": statistics.median(r["wall_time_s"] for r in runs),
        "command_wall_time_s": span(r.get("command_wall_time_s") for r in runs),
        "peak_memory_gb": span(r.get("peak_memory_gb") for r in runs),
        "pretrain_samples": stage("pretrained", "samples"),
        "rl_episodes": stage("finetuned", "samples"),
        "rl_solved_step": span(r["rl_solved_step"] for r in runs),
        "after_ntp_greedy_accuracy": stage("pretrained", "greedy_accuracy"),
        "after_ntp_long_fraction": stage("pretrained", "sampled_long_fraction"),
        "after_rl_greedy_accuracy": stage("finetuned", "greedy_accuracy"),
        "after_rl_greedy_length": stage("finetuned", "greedy_mean_length"),
        "after_rl_exact_chain": stage("finetuned", "greedy_chain_accuracy"),
        "control_greedy_accuracy": stage("control", "greedy_accuracy"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False,
                                     epilog="any other option goes to parity-cot reproduce")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--runs-dir", default="runs/main_job", help="parent of the seeds' run directories")
    parser.add_argument("--resume", action="store_true", help="read finished seeds, finish interrupted ones")
    add_results_arguments(parser, out=True)
    args, options = parser.parse_known_args()
    runs = [run_seed(seed, Path(args.runs_dir) / f"seed-{seed}", options, args.resume) for seed in args.seeds]
    summary = summarize(runs)
    print(json.dumps(summary))
    write_result("main_job", {"command": ["parity-cot", "reproduce", *options], "summary": summary, "runs": runs},
                 args.results, args.out)


if __name__ == "__main__":
    main()
