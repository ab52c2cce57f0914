"""Does the main job show the separation at 3 x 3 multiplication? python benchmarks/multiplication_reproduce.py

    python benchmarks/multiplication_reproduce.py --seeds 0 1 2 --run-dir runs/mul/reproduce
    python benchmarks/multiplication_reproduce.py --digits 2 --p-long 0.5 --recipe '{"batch_size": 16}' --tiny

Runs ``agents.jobs.reproduce.reproduce`` itself, the code behind ``parity-cot reproduce --task multiplication
--task-config '{"digits": 3, "p_long": 0.25}' --seed S``: NTP with the task's recipe (``pretrain_recipe``: agent, lr,
warm-up, short rows, decay) until the chain check passes, RL with its defaults until greedy accuracy holds >= 99% or
500 steps, the NTP-only control on as many sequences at the peak lr, the table. ``--recipe`` changes pre-training
settings over the task's recipe (the suite's tiny run). Writes, per seed, the job's results.json and the printed
table to RESULTS/NAME.json (default multiplication_reproduce), after every seed.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from common import add_results_arguments, write_result

from agents.jobs.reproduce import ReproduceConfig, format_table, reproduce
from agents.ntp.pretrain import PretrainConfig
from agents.run.config import parse_json_object
from parity_env import make_task


@dataclass
class RecipeReproduceConfig(ReproduceConfig):
    """``ReproduceConfig`` whose pre-training (and NTP-only control) takes ``recipe``'s PretrainConfig settings over
    the task's recipe (fields the command line does not have, such as batch_size)."""

    recipe: dict = field(default_factory=dict)

    def pretrain_config(self, **changes) -> PretrainConfig:
        settings = {k: v for k, v in self.recipe.items() if k not in ("agent_config", "lr")}
        return super().pretrain_config(**{**settings, **changes})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, default=3)
    parser.add_argument("--p-long", type=float, default=0.25)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--algo", default="reinforce")
    parser.add_argument("--recipe", type=parse_json_object, default={}, metavar="JSON",
                        help="pre-training settings over the task's recipe (e.g. a tiny agent_config)")
    parser.add_argument("--tiny", action="store_true", help="a smoke run: 1,024 samples, 2 RL steps, 64 prompts")
    parser.add_argument("--run-dir", type=Path, default=Path("runs/multiplication_reproduce"))
    parser.add_argument("--name", default="multiplication_reproduce")
    add_results_arguments(parser)
    args = parser.parse_args(argv)
    task = make_task("multiplication", digits=args.digits, p_long=args.p_long)
    recipe = {**task.pretrain_recipe, **args.recipe}
    size = {"max_samples": 1024, "steps": 2, "eval_n": 64} if args.tiny else {}
    runs = []
    for seed in args.seeds:
        cfg = RecipeReproduceConfig(task=task, agent_config=args.recipe.get("agent_config", {}), algo=args.algo,
                                    seed=seed, out=str(args.run_dir / f"seed{seed}"), recipe=args.recipe, **size)
        results = reproduce(cfg, progress=False)
        table = format_table(results)
        print(f"seed {seed}\n{table}\nwall time {results['wall_time_s']:.1f} s", flush=True)
        runs.append({"seed": seed, "table": table, "results": results})
        write_result("multiplication_reproduce", {"task": task.to_dict(), "recipe": recipe, "algo": args.algo,
                                                  "run_dir": str(args.run_dir), "runs": runs},
                     args.results, name=args.name)
    print(json.dumps({r["seed"]: r["results"]["stages"]["finetuned"]["greedy_accuracy"] for r in runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
