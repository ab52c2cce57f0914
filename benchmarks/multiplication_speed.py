"""How fast are the TorchRL env and RL collection on multiplication? python benchmarks/multiplication_speed.py

    python benchmarks/multiplication_speed.py --checkpoint runs/mul/main/d3-p0.25-s0/pretrain \
        --after runs/mul/main/d3-p0.25-s0/reinforce [--batch 1024 --collect-batch 256 --repeats 5]
    python benchmarks/multiplication_speed.py --digits 2 --batch 4 --min-time 0.01 --repeats 1   # the env only

Part 1, the env alone: the generic TorchRL env (``parity_env.envs.torch_env.CoTTorchEnv``, what ``task.make_env``
returns for multiplication) at ``--batch`` rows, stepped under uniformly random actions (the 15 emitted tokens: EOS
with probability 1/15, so responses run about 15 tokens, truncated at max_response_len): the collector's loop
``td["action"] = a; data, td = env.step_and_maybe_reset(td)`` and ``env.rollout(T, actions=...)`` (T = 128; it also
stacks every step), timed as ``benchmarks/env_throughput.py`` times them (median of --repeats runs of >= --min-time
seconds after a warm-up). For scale, the same two loops of the same generic env on parity (d = 24) and of parity's
own tuned env (``ParityCoTTorchEnv``) at the same batch, in the same process.

Part 2, with --checkpoint (a multiplication pre-training run) and optionally --after (the same agent after RL,
whose answers are chains): RL collection through ``EpisodeCollector`` (the env's TorchRL step with the incrementally
decoding policy) against bare cached ``generate`` on the same prompts with an equally seeded generator (identical
tokens): ``benchmarks/rl_speed.py``'s ``collection_vs_generate``, at --collect-batch rows. Writes
RESULTS/multiplication_speed.json (or --out FILE).
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch
from common import add_results_arguments, hardware, write_result
from env_throughput import bench_step_and_maybe_reset, timed_runs
from rl_speed import collection_vs_generate

from agents.run.checkpoint import load_checkpoint
from parity_env import make_task
from parity_env.envs.torch_env import CoTTorchEnv
from parity_env.parity.torch_env import ParityCoTTorchEnv


def random_actions(rng: np.random.Generator, n_actions: int, batch: int, length: int = 512) -> np.ndarray:
    """(length, batch) int64 uniform tokens in [0, n_actions)."""
    return rng.integers(0, n_actions, (length, batch)).astype(np.int64)


def bench_rollout(env, batch: int, actions: np.ndarray, **kw) -> list[float]:
    n_steps = max(8, min(128, 2**18 // batch))
    acts = list(torch.from_numpy(actions[:n_steps]))

    def rollout():
        env.rollout(n_steps, actions=acts, break_when_any_done=False)

    return timed_runs(rollout, batch * n_steps, **kw)


def env_rows(task, label: str, make_env, batch: int, kw: dict) -> list[dict]:
    """step_and_maybe_reset and rollout of ``make_env()`` under uniform random actions of ``task``."""
    rows = []
    actions = random_actions(np.random.default_rng(0), task.n_actions, batch)
    for loop in ("step_and_maybe_reset", "rollout"):
        env = make_env()
        runs = (bench_step_and_maybe_reset(env, batch, "cpu", actions, **kw) if loop == "step_and_maybe_reset"
                else bench_rollout(env, batch, actions, **kw))
        rate = statistics.median(runs)
        print(f"  {label:38s} {loop:22s} batch {batch}: {rate:12,.0f} token-steps/s "
              f"({1e6 * batch / rate:8.1f} us/step)", flush=True)
        rows.append({"env": label, "loop": loop, "batch": batch, "task": task.to_dict(), "token_steps_per_s": rate,
                     "runs": runs})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="a multiplication pre-training run (part 2)")
    parser.add_argument("--after", default=None, help="the same agent after RL (a finetune run directory)")
    parser.add_argument("--digits", type=int, default=3, help="the env's task without --checkpoint (default 3)")
    parser.add_argument("--batch", type=int, default=1024, help="env rows of part 1 (default 1024)")
    parser.add_argument("--collect-batch", type=int, default=256, help="episodes per collection of part 2")
    parser.add_argument("--min-time", type=float, default=0.3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-parity", action="store_true", help="skip parity's rows of part 1")
    add_results_arguments(parser, out=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    kw = {"min_time": args.min_time, "repeats": args.repeats}
    ckpt = load_checkpoint(args.checkpoint) if args.checkpoint else None
    task = ckpt.task if ckpt is not None else make_task("multiplication", digits=args.digits)
    print("hardware:", ", ".join(f"{k}={v}" for k, v in hardware().items()))
    print(f"part 1: the env alone, uniform random tokens, {task.describe()}")
    b = args.batch
    env = env_rows(task, "generic CoTTorchEnv, multiplication", lambda: task.make_env(b, seed=0), b, kw)
    if not args.no_parity:
        parity = make_task("parity", d=24)
        env += env_rows(parity, "generic CoTTorchEnv, parity d=24",
                        lambda: CoTTorchEnv(task=parity, batch_size=[b], seed=0), b, kw)
        env += env_rows(parity, "ParityCoTTorchEnv (tuned), parity d=24",
                        lambda: ParityCoTTorchEnv(d=24, batch_size=[b], seed=0), b, kw)
    result = {"task": task.to_dict(), "batch": b, "env": env}
    if ckpt is not None:
        print(f"part 2: collection against generate, {args.collect_batch} episodes, checkpoint {args.checkpoint}")
        result["checkpoint"] = str(args.checkpoint)
        result["collection_pretrained"] = collection_vs_generate(ckpt.agent.eval(), task, args.collect_batch,
                                                                 args.repeats)
        if args.after:
            after = load_checkpoint(args.after)
            result["after"] = str(args.after)
            result["collection_after_rl"] = collection_vs_generate(after.agent.eval(), after.task,
                                                                   args.collect_batch, args.repeats)
    write_result("multiplication_speed", {**result, "config": {k: v for k, v in vars(args).items()
                                                               if k not in ("results", "out")}},
                 args.results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
