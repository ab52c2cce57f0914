"""How fast are RL collection, and RL to 99% greedy accuracy? python benchmarks/rl_speed.py --checkpoint CKPT

    python benchmarks/rl_speed.py --checkpoint CKPT [--batch-size 256 --repeats 5 --runs 3 --steps 500]
    python benchmarks/rl_speed.py --checkpoint CKPT --device cuda --out runs/benchmarks/gpu/rl_speed.json
    python benchmarks/plots.py rl_speed --results runs/benchmarks      # its figure

Part 1, in one process and on the same episodes: for each agent state (the checkpoint's, whose answers are mostly
short after pre-training, and the same agent after RL, whose answers are full chains), collect a batch through
``EpisodeCollector`` (the env's TorchRL step with the incrementally decoding policy) and time it, then time
``generate`` on the same prompts with an equally seeded generator (identical tokens). Tokens = emitted tokens, EOS
included. One warm-up, then the median of ``--repeats``. Part 2: ``finetune`` with ``--algo`` ``--runs`` times
(seeds 0..runs-1, at most ``--steps`` steps) from the checkpoint, recording the wall time until greedy accuracy held
>= 99% (probes included). Writes RESULTS/rl_speed.json (or --out FILE).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import add_results_arguments, device_sync, write_result

from agents.models.generate import generate
from agents.rl import ALGORITHMS, EpisodeCollector, FinetuneConfig, finetune
from agents.run.checkpoint import load_checkpoint
from parity_env import Task


def collection_vs_generate(agent: torch.nn.Module, task: Task, batch_size: int, repeats: int, seed: int = 0) -> dict:
    device = next(agent.parameters()).device
    sync = device_sync(device)
    env = task.make_env(batch_size, device=device, seed=seed)
    collector = EpisodeCollector(env, agent, task, 1.0, torch.Generator(device).manual_seed(seed))
    rows = []
    for rep in range(repeats + 1):
        state = collector.policy.module.generator.get_state()
        sync()
        t0 = time.perf_counter()
        episodes = collector.collect()
        sync()
        t1 = time.perf_counter()
        gen = generate(agent, task, episodes["prompt"], 1.0, torch.Generator(device).set_state(state))
        sync()
        t2 = time.perf_counter()
        assert torch.equal(gen.tokens, episodes["action"]), "collection and generate disagree"
        tokens = int(gen.lengths.sum())
        if rep:  # the first is a warm-up
            rows.append({"tokens": tokens, "torchrl_s": t1 - t0, "generate_s": t2 - t1})
    torchrl = statistics.median(r["tokens"] / r["torchrl_s"] for r in rows)
    bare = statistics.median(r["tokens"] / r["generate_s"] for r in rows)
    mean_len = statistics.mean(r["tokens"] for r in rows) / batch_size
    print(f"  tokens/episode {mean_len:.2f}: TorchRL {torchrl:,.0f} tok/s, generate {bare:,.0f} tok/s, "
          f"ratio {torchrl / bare:.2f}")
    return {"batch_size": batch_size, "tokens_per_episode": mean_len, "torchrl_tokens_per_s": torchrl,
            "generate_tokens_per_s": bare, "ratio": torchrl / bare, "repeats": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="pretrained checkpoint (d = 24, p_long = 0.01)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3, help="finetune runs timed to 99%% (seeds 0..runs-1)")
    parser.add_argument("--steps", type=int, default=FinetuneConfig.steps,
                        help=f"most RL steps per run (default {FinetuneConfig.steps})")
    parser.add_argument("--algo", default="reinforce", choices=ALGORITHMS)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    add_results_arguments(parser, out=True)
    args = parser.parse_args()
    if args.runs < 1:
        parser.error(f"--runs must be >= 1 (the agent after RL is timed too); got {args.runs}")
    torch.set_num_threads(args.threads)
    ckpt = load_checkpoint(args.checkpoint, device=args.device)
    print(f"collection at the pretrained checkpoint ({args.checkpoint}):")
    before = collection_vs_generate(ckpt.agent.eval(), ckpt.task, args.batch_size, args.repeats)
    runs = []
    for seed in range(args.runs):
        result = finetune(args.checkpoint, FinetuneConfig(algo=args.algo, seed=seed, steps=args.steps,
                                                          threads=args.threads, final_eval_n=0, device=args.device),
                          progress=False)
        runs.append({"seed": seed, "time_to_solved_s": result.time_to_solved_s, "solved_step": result.solved_step,
                     "wall_time_s": result.wall_time_s, "episodes": result.episodes})
        print(f"  {args.algo} seed {seed}: solved at step {result.solved_step} in {result.time_to_solved_s} s")
    print("collection after RL (long answers):")
    after = collection_vs_generate(result.agent.eval(), ckpt.task, args.batch_size, args.repeats)
    times = [r["time_to_solved_s"] for r in runs if r["time_to_solved_s"] is not None]
    write_result("rl_speed", {
        "checkpoint": str(args.checkpoint), "task": ckpt.task.to_dict(), "algo": args.algo, "device": args.device,
        "collection_pretrained": before, "collection_after_rl": after, "time_to_99": runs,
        "time_to_99_median_s": statistics.median(times) if times else None,
    }, args.results, args.out)


if __name__ == "__main__":
    main()
