"""How much faster is generation with the KV cache than recomputing the context? python benchmarks/generation_speed.py

    python benchmarks/generation_speed.py [--batch 1024 --d 50 --repeats 3]
    python benchmarks/generation_speed.py --device cuda --out runs/benchmarks/gpu/generation_speed.json
    python benchmarks/plots.py generation_speed --results runs/benchmarks      # its figure

The agent (default: the gpt agent at the pre-training recipe's size, random weights seeded 0: speed does not depend
on them) continues --batch random prompts of the d-bit task by exactly d + 1 tokens each (EOS disabled), once through
its incremental-decoding interface (the GPT's KV cache) and once recomputing the context at every token
(``generate(..., incremental=False)``). One warm-up call each, then the best of --repeats. Writes
RESULTS/generation_speed.json (or --out FILE).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from common import add_agent_arguments, add_results_arguments, add_task_arguments, device_sync, task_of, write_result

from agents import make_agent
from agents.models.agent import is_incremental
from agents.models.generate import generate
from agents.models.registry import agent_spec


def tokens_per_s(agent, task, prompts: torch.Tensor, incremental: bool, repeats: int) -> dict:
    """Best-of-``repeats`` new tokens per second of generating ``task.max_response_len`` tokens for every prompt."""
    sync = device_sync(prompts.device)
    generate(agent, task, prompts[:64], allow_eos=False, incremental=incremental)  # warm-up
    times = []
    for r in range(repeats):
        sync()
        t0 = time.perf_counter()
        generate(agent, task, prompts, generator=torch.Generator(prompts.device).manual_seed(r), allow_eos=False,
                 incremental=incremental)
        sync()
        times.append(time.perf_counter() - t0)
    best = min(times)
    return {"best_s": best, "times_s": times, "tokens_per_s": prompts.shape[0] * task.max_response_len / best}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_task_arguments(parser, d=50)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    add_agent_arguments(parser)
    add_results_arguments(parser, out=True)
    args = parser.parse_args()
    task = task_of(args)
    torch.set_num_threads(1)  # as in pre-training: these matmuls are too small to gain from a second thread
    torch.manual_seed(0)
    device = torch.device(args.device)
    agent = make_agent(args.agent, task, **args.agent_config).to(device).eval()
    if not is_incremental(agent):
        parser.error(f"--agent {args.agent} has no incremental-decoding interface: there is nothing to compare")
    prompts = task.sample_prompts(args.batch, np.random.default_rng(0))[1].to(device)  # (batch, prompt_len)
    out = {"task": task.to_dict(), "d": task.config().get("d"), "batch": args.batch,
           "new_tokens_per_row": task.max_response_len, "device": str(device), "agent": agent_spec(agent).to_dict()}
    for key, incremental in (("cached", True), ("uncached", False)):
        out[key] = tokens_per_s(agent, task, prompts, incremental, args.repeats)
        print(f"{key}: {out[key]['tokens_per_s']:,.0f} new tokens/s (best of {args.repeats}: "
              f"{out[key]['best_s']:.2f} s)")
    out["speedup"] = out["cached"]["tokens_per_s"] / out["uncached"]["tokens_per_s"]
    print(f"speed-up of the cache: {out['speedup']:.1f}x")
    write_result("generation_speed", out, args.results, args.out)


if __name__ == "__main__":
    main()
