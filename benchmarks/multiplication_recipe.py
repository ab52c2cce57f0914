"""Which recipe learns the 3 x 3 multiplication chain fastest on one core? python benchmarks/multiplication_recipe.py

    python benchmarks/multiplication_recipe.py --recipes mistral-3e-3 gpt2-3e-3 --seeds 0 [--max-samples 1536000]
    python benchmarks/multiplication_recipe.py --recipes mistral-3e-3 --seeds 0 1 2 --name multiplication_recipe_seeds
    python benchmarks/plots.py multiplication_recipe --results runs/benchmarks      # its figure

Each recipe (``RECIPES``: the agent preset and the ``PretrainConfig`` optimiser settings) pre-trains on the task
(default: 3 x 3 digits, p_long = 0.25) until the chain check passes (>= 99% of 200 sampled long-form responses are
exactly the chain) or --max-samples, recording the wall time to the passing check (evaluations included, imports
and the final evaluation excluded), the evaluation points along the way (the exact fraction of the judged sampled
long answers, the lr) and a final evaluation on --n prompts. "probe" is the issue's untuned probe recipe (GPT 2 x 128,
AdamW 1e-3 constant after 50 warm-up steps, batch 256). Writes RESULTS/NAME.json (default multiplication_recipe)
after every run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from common import add_results_arguments, chain_learned_at, write_result

from agents.ntp.pretrain import PretrainConfig, pretrain
from agents.run.config import config_to_dict
from parity_env import make_task

RECIPES: dict[str, dict] = {
    "probe": {"agent_config": {"preset": "gpt2-2x128"}, "lr": 1e-3, "schedule": "constant", "warmup_samples": 12_800},
    "gpt2-1e-3": {"agent_config": {"preset": "gpt2-2x128"}, "lr": 1e-3, "short_rows": 32, "warmup_samples": 12_800},
    "gpt2-1e-3-late": {"agent_config": {"preset": "gpt2-2x128"}, "lr": 1e-3, "short_rows": 32, "warmup_samples": 12_800,
                       "decay_trigger": 0.95, "decay_half_life": 100_000, "decay_floor": 0.05},
    "gpt2-2e-3-late": {"agent_config": {"preset": "gpt2-2x128"}, "lr": 2e-3, "short_rows": 32, "warmup_samples": 12_800,
                       "decay_trigger": 0.95, "decay_half_life": 100_000, "decay_floor": 0.05},
    "gpt2-3e-3-late": {"agent_config": {"preset": "gpt2-2x128"}, "lr": 3e-3, "short_rows": 32, "warmup_samples": 12_800,
                       "decay_trigger": 0.95, "decay_half_life": 100_000, "decay_floor": 0.05},
    "mistral-1e-3-late": {"agent_config": {"preset": "mistral-2x128"}, "lr": 1e-3, "short_rows": 32,
                          "warmup_samples": 12_800, "decay_trigger": 0.95, "decay_half_life": 100_000,
                          "decay_floor": 0.05},
    "gpt2-3x128-1e-3-late": {"agent_config": {"preset": "gpt2-2x128", "n_layer": 3}, "lr": 1e-3, "short_rows": 32,
                             "warmup_samples": 12_800, "decay_trigger": 0.95, "decay_half_life": 100_000,
                             "decay_floor": 0.05},
    "mistral-1e-3": {"agent_config": {"preset": "mistral-2x128"}, "lr": 1e-3, "short_rows": 32,
                     "warmup_samples": 12_800},
    "gpt2-3e-3": {"agent_config": {"preset": "gpt2-2x128"}, "lr": 3e-3, "short_rows": 32},
    "mistral-3e-3": {"agent_config": {"preset": "mistral-2x128"}, "lr": 3e-3, "short_rows": 32},
    "mistral-2e-3": {"agent_config": {"preset": "mistral-2x128"}, "lr": 2e-3, "short_rows": 32},
    "mistral-5e-3": {"agent_config": {"preset": "mistral-2x128"}, "lr": 5e-3, "short_rows": 32},
    "mistral-3e-3-b128": {"agent_config": {"preset": "mistral-2x128"}, "lr": 3e-3, "batch_size": 128,
                          "short_rows": 16, "warmup_samples": 12_800},
    "mistral-3e-3-all-rows": {"agent_config": {"preset": "mistral-2x128"}, "lr": 3e-3},
    "gpt-1x64": {"lr": 3e-3, "short_rows": 32},
    "mistral-2x64": {"agent_config": {"preset": "mistral-2x128", "d_model": 64}, "lr": 3e-3, "short_rows": 32},
}
"""Recipe name -> PretrainConfig overrides (the rest: the package defaults: chain schedule, warm-up 25,600 samples,
batch 256, decay half-life 50,000 samples to 1% of lr, AdamW betas (0.9, 0.98), no weight decay, clip 1)."""


def merge(paths: list[Path], results: Path, name: str) -> int:
    """RESULTS/NAME.json holding the runs of the results ``paths`` of this script (of one task), in order; each run
    keeps its budget (``max_samples``) and the hardware record of the file it came from."""
    parts = [json.loads(Path(p).read_text()) for p in paths]
    if any(part.get("benchmark") != "multiplication_recipe" for part in parts):
        raise SystemExit("--merge: every file must be a multiplication_recipe result")
    if any(part["task"] != parts[0]["task"] for part in parts):
        raise SystemExit("--merge: the files are results of different tasks")
    runs = [{**run, "max_samples": run.get("max_samples", part["max_samples"]), "hardware": part["hardware"],
             "source": Path(path).name} for path, part in zip(paths, parts) for run in part["runs"]]
    write_result("multiplication_recipe", {"task": parts[0]["task"], "max_samples": max(r["max_samples"] for r in runs),
                                           "recipes": {r["recipe"]: r["overrides"] for r in runs},
                                           "merged_from": [Path(p).name for p in paths], "runs": runs},
                 results, name=name)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", choices=RECIPES, default=["mistral-3e-3"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--digits", type=int, default=3)
    parser.add_argument("--p-long", type=float, default=0.25)
    parser.add_argument("--max-samples", type=int, default=1_536_000, help="per-run budget (a run that needs more "
                        "fails; default 1,536,000)")
    parser.add_argument("--eval-every", type=int, default=25_600, help="samples between chain checks")
    parser.add_argument("--n", type=int, default=2048, help="prompts per mode of the final evaluation")
    parser.add_argument("--agent-config", default=None, metavar="JSON",
                        help="replaces every recipe's agent_config (the tests' tiny agent)")
    parser.add_argument("--name", default="multiplication_recipe", help="RESULTS/NAME.json")
    parser.add_argument("--merge", type=Path, nargs="+", default=None, metavar="JSON",
                        help="run nothing: write the runs of these earlier results of this script (same task) to "
                             "RESULTS/NAME.json, each run keeping its budget and the hardware it ran on")
    parser.add_argument("--run-dir", type=Path, default=None, metavar="DIR",
                        help="write each run's checkpoint and log.jsonl to DIR/RECIPE-sSEED (default: nothing)")
    add_results_arguments(parser)
    args = parser.parse_args(argv)
    from agents.run.config import parse_json_object

    if args.merge:
        return merge(args.merge, args.results, args.name)
    task = make_task("multiplication", digits=args.digits, p_long=args.p_long)
    runs = []
    for name in args.recipes:
        for seed in args.seeds:
            recipe = dict(RECIPES[name])
            if args.agent_config is not None:
                recipe["agent_config"] = parse_json_object(args.agent_config)
            cfg = PretrainConfig(task=task, **recipe, seed=seed, max_samples=args.max_samples,
                                 eval_every=args.eval_every, final_eval_n=args.n, logger="none",
                                 out=None if args.run_dir is None else str(args.run_dir / f"{name}-s{seed}"))
            r = pretrain(cfg, progress=False)
            m = r.metrics
            runs.append({"recipe": name, "seed": seed, "overrides": recipe, "max_samples": args.max_samples,
                         "config": config_to_dict(cfg),
                         "learned": r.stop_reason == "learned", "time_to_learned_s": r.time_to_learned_s,
                         "learned_at_samples": chain_learned_at(r.log), "samples": r.samples, "steps": r.steps,
                         "wall_time_s": r.wall_time_s, "tokens_per_s": r.tokens_per_s, "final": m, "log": r.log})
            learned = (f"learned at {r.samples:,} samples, {r.time_to_learned_s:.0f} s" if runs[-1]["learned"]
                       else f"NOT learned in {r.samples:,} samples ({r.wall_time_s:.0f} s)")
            print(f"{name} seed {seed}: {learned}; greedy {m['greedy_accuracy']:.3f}, sampled long fraction "
                  f"{m['sampled_long_fraction']:.3f}, long accuracy {m['sampled_long_accuracy']}, exact chains among "
                  f"long {m['sampled_long_chain_accuracy']}", flush=True)
            write_result("multiplication_recipe", {"task": task.to_dict(), "max_samples": args.max_samples,
                                                   "recipes": {k: RECIPES[k] for k in args.recipes}, "runs": runs},
                         args.results, name=args.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
