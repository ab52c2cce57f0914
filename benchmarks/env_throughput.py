"""How many token-steps per second do the four ways to run ParityCoT give? python benchmarks/env_throughput.py

    python benchmarks/env_throughput.py                      # everything; JSON to runs/benchmarks/env_throughput.json
    python benchmarks/env_throughput.py --batch-sizes 1024 --impls torch --threads 1
    python benchmarks/env_throughput.py --out /tmp/env.json --min-time 0.5 --repeats 7

Measures, through their public APIs only, the single Gymnasium env, Gymnasium's SyncVectorEnv over it, the native
numpy vector env and the native TorchRL env at batch sizes 1, 64, 1024 and 16384 (and on CUDA when present), under a
fixed stream of uniformly random tokens (0, 1, EOS; episodes of about 3 tokens, so finished rows are reset on almost
every step, the worst case for the batched envs), and the demonstration sampler's rate. Each cell is the median of
several timed runs after a warm-up; ratios are to the single env in the same run. Prints a table and writes JSON.
(Where a TorchRL env step goes, and TorchRL's own per-step floor: ``benchmarks/env_step_profile.py``.)

What the TorchRL rows measure:
- ``torch``: the loop a collector runs, ``td["action"] = a; data, td = env.step_and_maybe_reset(td)`` with a
  precomputed action tensor (no policy, nothing stored): the env plus TorchRL's per-step call overhead, with one
  torch thread; ``torch_2threads`` the same with two (``--threads``).
- ``torch_rollout``: ``env.rollout(T, actions=..., break_when_any_done=False)``, which also stacks every step's data
  into a (B, T) tensordict (T = 128, fewer for large B to bound memory): what a user of ``rollout`` pays.

Timings on a shared machine are inflated by other processes: compare numbers only within one run. With
``--threads 1 2`` the TorchRL env runs with one and with two torch threads (two help only once its tensors are large
enough for torch to split, benchmarks/README.md); everything else runs with the first count.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from common import add_results_arguments, device_sync, hardware, write_result

import parity_env
from parity_env import ParityCoTEnv, ParityCoTTorchEnv, ParityCoTVectorEnv, sample_demonstrations

IMPLS = ("single", "sync_vector", "native_vector", "torch", "torch_rollout")


def timed_runs(
    step: Callable[[], None], tokens_per_step: int, min_time: float, repeats: int, sync=lambda: None
) -> list[float]:
    """Token-steps/s of ``repeats`` runs, each of as many steps as fill ``min_time`` seconds (after a warm-up).

    Starts from a collected heap, so that no cell pays for collecting an earlier cell's garbage (such as the 1024
    Gymnasium envs of a SyncVectorEnv); the GC stays on while timing, as in a real loop."""
    gc.collect()
    n = 1
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < min_time / 4:  # warm-up, and a step count for the timed runs
        step()
        n += 1
    sync()
    per_step = (time.perf_counter() - t0) / n
    n_steps = max(1, int(min_time / max(per_step, 1e-9)))
    rates = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        for _ in range(n_steps):
            step()
        sync()
        rates.append(n_steps * tokens_per_step / (time.perf_counter() - t0))
    return rates


def action_stream(rng: np.random.Generator, batch: int, p_eos: float, length: int = 512) -> np.ndarray:
    """(length, batch) int64 tokens: EOS with probability p_eos, else a uniform bit."""
    eos = rng.random((length, batch)) < p_eos
    return np.where(eos, 2, rng.integers(0, 2, (length, batch))).astype(np.int64)


def throughput_row(impl: str, device: str, batch: int, runs: list[float]) -> dict:
    """A table row (the median of ``runs``), printed as it is measured."""
    rate = statistics.median(runs)
    print(f"  {impl:20s} {device:5s} batch {batch:6d}: {rate:12.4g} token-steps/s ({1e6 * batch / rate:9.1f} us/step)",
          flush=True)
    return {"impl": impl, "device": device, "batch": batch, "token_steps_per_s": rate, "runs": runs}


def bench_single(d: int, actions: np.ndarray, **kw) -> list[float]:
    env = ParityCoTEnv(d=d)
    env.reset(seed=0)
    stream = [int(a) for a in actions[:, 0]]
    state = {"t": 0}

    def step():
        a = stream[state["t"] % len(stream)]
        state["t"] += 1
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()

    return timed_runs(step, 1, **kw)


def bench_vector(envs, actions: np.ndarray, **kw) -> list[float]:
    envs.reset(seed=0)
    state = {"t": 0}

    def step():
        envs.step(actions[state["t"] % len(actions)])
        state["t"] += 1

    return timed_runs(step, actions.shape[1], **kw)


def bench_step_and_maybe_reset(env, batch: int, device: str, actions: np.ndarray, **kw) -> list[float]:
    """The collector's loop over any TorchRL env: set the action, ``step_and_maybe_reset``."""
    acts = torch.from_numpy(actions).to(device)
    state = {"t": 0, "td": env.reset()}

    def step():
        td = state["td"]
        td["action"] = acts[state["t"] % len(acts)]
        state["t"] += 1
        _, state["td"] = env.step_and_maybe_reset(td)

    return timed_runs(step, batch, sync=device_sync(device), **kw)


def bench_torch(d: int, batch: int, device: str, actions: np.ndarray, **kw) -> list[float]:
    env = ParityCoTTorchEnv(d=d, batch_size=[batch], device=device, seed=0)
    return bench_step_and_maybe_reset(env, batch, device, actions, **kw)


def bench_torch_rollout(d: int, batch: int, device: str, actions: np.ndarray, **kw) -> list[float]:
    env = ParityCoTTorchEnv(d=d, batch_size=[batch], device=device, seed=0)
    n_steps = max(8, min(128, 2**18 // batch))  # the stacked rollout holds 2 n_steps (B, L) token tensors
    acts = list(torch.from_numpy(actions[:n_steps]).to(device))

    def rollout():
        env.rollout(n_steps, actions=acts, break_when_any_done=False)

    return timed_runs(rollout, batch * n_steps, sync=device_sync(device), **kw)


def bench_sampler(d: int, p_long: float, n: int, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    sample_demonstrations(n, d, p_long, seed=rng)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        sample_demonstrations(n, d, p_long, seed=rng)
        times.append(time.perf_counter() - t0)
    per_min = [60 * n / t for t in times]
    median = statistics.median(per_min)
    return {"d": d, "p_long": p_long, "n_per_call": n, "sequences_per_minute": median, "runs": per_min}


def measure(args, use_cuda: bool, set_threads: Callable[[int], None]) -> list[dict]:
    """Every (implementation, device, batch) cell asked for, in order."""
    kw = {"min_time": args.min_time, "repeats": args.repeats}
    rng = np.random.default_rng(0)
    results = []
    if "single" in args.impls:
        runs = bench_single(args.d, action_stream(rng, 1, args.p_eos), **kw)
        results.append(throughput_row("single", "cpu", 1, runs))
    for batch in args.batch_sizes:
        actions = action_stream(rng, batch, args.p_eos)
        if "sync_vector" in args.impls and batch <= args.sync_vector_max_batch:
            envs = gym.make_vec(parity_env.ENV_ID, num_envs=batch, vectorization_mode="sync", d=args.d)
            results.append(throughput_row("sync_vector", "cpu", batch, bench_vector(envs, actions, **kw)))
            envs.close()
            del envs  # its garbage is collected before the next cell (see timed_runs)
        if "native_vector" in args.impls:
            runs = bench_vector(ParityCoTVectorEnv(batch, d=args.d), actions, **kw)
            results.append(throughput_row("native_vector", "cpu", batch, runs))
        for device in ["cpu"] + (["cuda"] if use_cuda else []):
            if "torch" in args.impls:
                for threads in args.threads if device == "cpu" else args.threads[:1]:
                    set_threads(threads)
                    name = "torch" if threads == 1 or device == "cuda" else f"torch_{threads or 'default'}threads"
                    runs = bench_torch(args.d, batch, device, actions, **kw)
                    results.append(throughput_row(name, device, batch, runs))
                set_threads(args.threads[0])
            if "torch_rollout" in args.impls:
                runs = bench_torch_rollout(args.d, batch, device, actions, **kw)
                results.append(throughput_row("torch_rollout", device, batch, runs))
    single = next((r["token_steps_per_s"] for r in results if r["impl"] == "single"), None)
    for r in results:
        r["ratio_to_single"] = r["token_steps_per_s"] / single if single else None
    return results


def print_table(results: list[dict], sampler: dict) -> None:
    print(f"\n{'implementation':22s}{'device':8s}{'batch':>7s}{'token-steps/s':>16s}{'us/step':>11s}{'x single':>11s}")
    for r in results:
        ratio = f"{r['ratio_to_single']:.1f}" if r["ratio_to_single"] else "-"
        us = 1e6 * r["batch"] / r["token_steps_per_s"]
        print(f"{r['impl']:22s}{r['device']:8s}{r['batch']:7d}{r['token_steps_per_s']:16.4g}{us:11.1f}{ratio:>11s}")
    print("(us/step counts one step of all B rows)")
    print(f"\nsampler (d = 50, p_long = 0.25): {sampler['sequences_per_minute'] / 1e6:.2f}M sequences/minute")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, default=24)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 64, 1024, 16384])
    parser.add_argument("--impls", nargs="+", choices=IMPLS, default=list(IMPLS))
    parser.add_argument("--p-eos", type=float, default=1 / 3, help="EOS probability of the random action stream")
    parser.add_argument("--min-time", type=float, default=0.3, help="seconds per timed run")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per cell (the median is reported)")
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[1, 2],
        help="torch intra-op thread counts for the TorchRL env rows (0: torch's default; see the module docstring)",
    )
    parser.add_argument("--no-cuda", action="store_true", help="skip the CUDA runs even when a GPU is present")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None,
                        help="cuda: also run the TorchRL env on CUDA, and fail if there is none; cpu: the CPU only "
                             "(default: CUDA too when present)")
    parser.add_argument("--sync-vector-max-batch", type=int, default=16384, help="largest batch for SyncVectorEnv")
    add_results_arguments(parser, out=True)
    args = parser.parse_args()
    if min(args.threads) < 0:
        parser.error(f"--threads must be >= 0; got {args.threads}")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible to torch")
    default_threads = torch.get_num_threads()

    def set_threads(count: int) -> None:
        torch.set_num_threads(count or default_threads)

    set_threads(args.threads[0])
    use_cuda = args.device == "cuda" or (args.device is None and torch.cuda.is_available() and not args.no_cuda)
    print("hardware:", ", ".join(f"{k}={v}" for k, v in hardware().items()))
    print(f"d = {args.d}, random tokens, P(EOS) = {args.p_eos:.3f}, median of {args.repeats} runs >= {args.min_time} s")
    results = measure(args, use_cuda, set_threads)
    sampler = bench_sampler(50, 0.25, 100_000, args.repeats)
    print_table(results, sampler)
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    write_result("env_throughput", {"config": config, "results": results, "sampler": sampler}, args.results, args.out)


if __name__ == "__main__":
    main()
