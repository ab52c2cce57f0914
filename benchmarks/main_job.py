"""What does the main job give across seeds, and how long does it take? python benchmarks/main_job.py

    python benchmarks/main_job.py [--seeds 0 1 2 3 4] [--runs-dir runs/main_job] [--resume] [--results DIR]
    python benchmarks/main_job.py --seeds 0 1 --task multiplication --task-config '{"digits": 3, "p_long": 0.25}'

Runs ``parity-cot reproduce`` (its defaults: parity d = 24, p_long = 0.01, the gpt agent, REINFORCE) once per seed,
one after the other, and records each seed's table (after NTP, after RL, the NTP-only control: greedy accuracy and
length, exact chains, long fraction, samples, wall time) and the job's wall time (the stages and evaluations; not the
imports). Each seed's run directory (RUNS_DIR/seed-S) is kept, so ``--resume`` finishes an interrupted sweep without
redoing finished seeds. Writes RESULTS/main_job.json (``--results benchmarks/results``: the committed one that the
README's main-job paragraph quotes).
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import replace
from pathlib import Path

from common import (
    add_agent_arguments,
    add_results_arguments,
    add_task_arguments,
    agent_options,
    task_of,
    write_result,
)

from agents.jobs.reproduce import ReproduceConfig, reproduce
from agents.run.config import config_to_dict


def run_seed(cfg: ReproduceConfig) -> dict:
    """One seed's main job (resumed where its run directory holds a finished or interrupted one)."""
    results = reproduce(cfg, progress=False, verbose=False)
    rows = {key: {k: v for k, v in stage.items() if k != "metrics"}
            | {"greedy_chain_accuracy": stage["metrics"].get("greedy_chain_accuracy")}
            for key, stage in results["stages"].items()}
    wall = results["wall_time_s"]
    print(f"seed {cfg.seed}: after NTP {rows['pretrained']['greedy_accuracy']:.3f} "
          f"({rows['pretrained']['samples']:,} demonstrations), after RL {rows['finetuned']['greedy_accuracy']:.3f} "
          f"({rows['finetuned']['samples']:,} episodes), control {rows['control']['greedy_accuracy']:.3f}; "
          f"{wall:.1f} s", flush=True)
    return {"seed": cfg.seed, "wall_time_s": wall, **rows}


def summarize(runs: list[dict]) -> dict:
    """The ranges over seeds that the README quotes."""
    def span(stage: str, key: str) -> list[float]:
        values = [r[stage][key] for r in runs]
        return [min(values), max(values)]

    return {
        "seeds": [r["seed"] for r in runs],
        "wall_time_s": [min(r["wall_time_s"] for r in runs), max(r["wall_time_s"] for r in runs)],
        "median_wall_time_s": statistics.median(r["wall_time_s"] for r in runs),
        "pretrain_samples": span("pretrained", "samples"),
        "rl_episodes": span("finetuned", "samples"),
        "after_ntp_greedy_accuracy": span("pretrained", "greedy_accuracy"),
        "after_rl_greedy_accuracy": span("finetuned", "greedy_accuracy"),
        "after_rl_exact_chain": span("finetuned", "greedy_chain_accuracy"),
        "after_rl_long_fraction": span("finetuned", "sampled_long_fraction"),
        "control_greedy_accuracy": span("control", "greedy_accuracy"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--runs-dir", default="runs/main_job", help="parent of the seeds' run directories")
    parser.add_argument("--resume", action="store_true", help="finish the seeds' runs in --runs-dir")
    parser.add_argument("--max-samples", type=int, default=ReproduceConfig.max_samples, help="pre-training's budget")
    parser.add_argument("--steps", type=int, default=ReproduceConfig.steps, help="RL's most steps")
    parser.add_argument("--eval-n", type=int, default=ReproduceConfig.eval_n, help="prompts per evaluation mode")
    add_task_arguments(parser)
    add_agent_arguments(parser)
    add_results_arguments(parser, out=True)
    args = parser.parse_args()
    base = ReproduceConfig(task=task_of(args), **agent_options(args), max_samples=args.max_samples, steps=args.steps,
                           eval_n=args.eval_n, out=args.runs_dir)
    runs = []
    for seed in args.seeds:
        out = Path(args.runs_dir) / f"seed-{seed}"
        runs.append(run_seed(replace(base, seed=seed, out=str(out), resume=args.resume and out.exists())))
    summary = summarize(runs)
    print(json.dumps(summary))
    write_result("main_job", {"config": config_to_dict(base), "summary": summary, "runs": runs}, args.results, args.out)


if __name__ == "__main__":
    main()
