"""Do RL algorithms lift accuracy and length together (Fig. 3)? python benchmarks/rl_algorithms.py --checkpoint CKPT

    python benchmarks/rl_algorithms.py --checkpoint CKPT [--algos reinforce ppo grpo star --seeds 0 1 2 --steps 1000]
    python benchmarks/rl_algorithms.py --checkpoint runs/pre24-s0 runs/pre24-s1 runs/pre24-s2 --seeds 0 \
        --name rl_algorithms_seeds             # across pre-training seeds: every algorithm from each checkpoint
    python benchmarks/plots.py rl_algorithms --results runs/benchmarks      # its figure

For every algorithm and seed, ``finetune`` runs from the checkpoint (any agent) with the algorithm's defaults until
greedy accuracy holds >= 99% (two consecutive probes on 2000 fresh prompts), then trains ``--after`` more steps
(``--after-star`` more rounds for STaR) to show that it stays there. Probes every 5 steps (every round for STaR).
Recorded per probe: greedy accuracy and mean greedy answer length (bits before EOS); per step: reward and sampled
answer length; per run: the step and the wall time at which it was solved, the lowest greedy accuracy after that,
and the final ``evaluate`` on 4096 prompts. With several checkpoints (of one task: pre-training seeds), every
algorithm and seed runs from each. Writes RESULTS/NAME.json (--name, default rl_algorithms).
"""

from __future__ import annotations

import argparse

import torch
from common import add_results_arguments, write_result

from agents.rl import ALGORITHMS, FinetuneConfig, finetune
from agents.run.checkpoint import load_checkpoint


def probe_curves(log: list[dict]) -> dict:
    """The greedy probes of a fine-tuning log: their steps, greedy accuracy and greedy answer length."""
    probes = [e for e in log if "greedy_accuracy" in e]
    return {"probe_steps": [e["step"] for e in probes], "greedy_accuracy": [e["greedy_accuracy"] for e in probes],
            "greedy_length": [e["greedy_mean_length"] for e in probes]}


def run(checkpoint: str, algo: str, seed: int, after: int, steps: int, threads: int, temperature: float = 1.0) -> dict:
    """One fine-tuning run from ``checkpoint``: when it was solved, whether it stayed, and its curves."""
    cfg = FinetuneConfig(algo=algo, seed=seed, steps=steps, steps_after_solved=after, threads=threads,
                         temperature=temperature)
    result = finetune(checkpoint, cfg, progress=False)
    curves = probe_curves(result.log)
    after_solved = [acc for step, acc in zip(curves["probe_steps"], curves["greedy_accuracy"])
                    if result.solved_step and step > result.solved_step]
    print(f"{algo} from {checkpoint} seed {seed}: solved at step {result.solved_step} ({result.time_to_solved_s} s), "
          f"min accuracy after {min(after_solved, default=None)}, final {result.metrics.get('greedy_accuracy')}")
    return {
        "algo": algo, "seed": seed, "checkpoint": str(checkpoint),
        "pretrain_seed": load_checkpoint(checkpoint).meta.get("pretrain_config", {}).get("seed"),
        "temperature": temperature, "config": result.config,
        "solved_step": result.solved_step,
        "time_to_solved_s": result.time_to_solved_s, "wall_time_s": result.wall_time_s,
        "episodes": result.episodes, "min_accuracy_after_solved": min(after_solved, default=None),
        "final": result.metrics,
        "steps": [e["step"] for e in result.log], "reward": [e["reward"] for e in result.log],
        "sampled_length": [e["mean_length"] for e in result.log],
        **curves,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, nargs="+",
                        help="pretrained checkpoint(s) of one task (d = 24, p_long = 0.01)")
    parser.add_argument("--algos", nargs="+", default=list(ALGORITHMS), choices=ALGORITHMS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--after", type=int, default=300, help="steps trained after solved (default 300)")
    parser.add_argument("--after-star", type=int, default=10, help="STaR rounds trained after solved (default 10)")
    parser.add_argument("--steps", type=int, default=1000, help="most steps (STaR rounds) per run")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1)")
    parser.add_argument("--name", default="rl_algorithms", help="RESULTS/NAME.json (default rl_algorithms)")
    add_results_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tasks = {str(path): load_checkpoint(path).task.to_dict() for path in args.checkpoint}
    if len({str(t) for t in tasks.values()}) > 1:
        parser.error(f"--checkpoint: the checkpoints are of different tasks: {tasks}")
    many = len(args.checkpoint) > 1
    runs = []
    for algo in args.algos:
        for path in args.checkpoint:
            for seed in args.seeds:
                runs.append(run(path, algo, seed, args.after_star if algo == "star" else args.after, args.steps,
                                args.threads, args.temperature))
                write_result("rl_algorithms", {"checkpoint": str(args.checkpoint[0]), "task": tasks[str(path)],
                                               "temperature": args.temperature, "runs": runs,
                                               **({"checkpoints": list(tasks)} if many else {})},
                             args.results, name=args.name)


if __name__ == "__main__":
    main()
