"""Token-steps per second of the four ways to run ParityCoT, and the demonstration sampler's rate.

Measures the single Gymnasium env, Gymnasium's SyncVectorEnv over it, the native numpy vector env and the native
TorchRL env at batch sizes 1, 64, 1024 and 16384 (and on CUDA when present), under a fixed stream of uniformly random
tokens (0, 1, EOS; episodes of about 3 tokens, so finished rows are reset on almost every step, the worst case for the
batched envs). Each cell is the median of several timed runs after a warm-up; ratios are to the single env in the same
run. Prints a table, names the hardware and writes JSON.

What the TorchRL rows measure:
- ``torch``: the loop a collector runs, ``td["action"] = a; data, td = env.step_and_maybe_reset(td)`` with a
  precomputed action tensor (no policy, nothing stored): the env plus TorchRL's per-step call overhead, with one
  torch thread; ``torch_2threads`` the same with two (``--threads``).
- ``torch_rollout``: ``env.rollout(T, actions=..., break_when_any_done=False)``, which also stacks every step's data
  into a (B, T) tensordict (T = 128, fewer for large B to bound memory): what a user of ``rollout`` pays.
- ``torchrl_floor`` / ``torchrl_floor_fused`` (context, not an env): the same loop on a do-nothing EnvBase with the
  same specs whose ``_step`` returns prebuilt tensors, through EnvBase's generic ``step_and_maybe_reset`` and through
  a fused override like ours. No env driven through EnvBase this way can beat the fused floor's rate.

    python benchmarks/env_throughput.py                      # everything, JSON to benchmarks/results/
    python benchmarks/env_throughput.py --batch-sizes 1024 --impls torch --threads 1
    python benchmarks/env_throughput.py --out /tmp/env.json --min-time 0.5 --repeats 7

Timings on a shared machine are inflated by other processes: compare numbers only within one run. The TorchRL env is
measured with one and with two torch threads (``--threads 1 2``): below B ~ 4096 its tensors are too small for torch
to split (two threads only add overhead, and on a busy 2-core machine a parallel region stalls on the descheduled
thread); at B = 16384 the copies and gathers split across both cores. Everything else runs with the first count.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from pathlib import Path
from typing import Callable

import gymnasium as gym
import numpy as np
import torch

import parity_env
from parity_env import ParityCoTEnv, ParityCoTTorchEnv, ParityCoTVectorEnv, sample_demonstrations
from common import device_sync, hardware

IMPLS = ("single", "sync_vector", "native_vector", "torch", "torch_rollout", "torchrl_floor")


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


def bench_torch(d: int, batch: int, device: str, actions: np.ndarray, **kw) -> list[float]:
    env = ParityCoTTorchEnv(d=d, batch_size=[batch], device=device, seed=0)
    return _bench_step_and_maybe_reset(env, batch, device, actions, **kw)


def _bench_step_and_maybe_reset(env, batch: int, device: str, actions: np.ndarray, **kw) -> list[float]:
    acts = torch.from_numpy(actions).to(device)
    state = {"t": 0, "td": env.reset()}

    def step():
        td = state["td"]
        td["action"] = acts[state["t"] % len(acts)]
        state["t"] += 1
        _, state["td"] = env.step_and_maybe_reset(td)

    sync = device_sync(device)
    return timed_runs(step, batch, sync=sync, **kw)


def torch_step_breakdown(d: int, batch: int, actions: np.ndarray, n_steps: int = 2000) -> dict:
    """Where a fused ``step_and_maybe_reset`` of the TorchRL env spends its time (CPU, µs per step): the step itself
    (``_advance``), the reset of the finished rows (``_reset_rows``), building the output entries (``_entries``, twice
    a step) and the rest (TorchRL and tensordict plumbing), by timing those methods on the instance. The timers add
    ~1 µs per wrapped call."""
    env = ParityCoTTorchEnv(d=d, batch_size=[batch], seed=0)
    spent = dict.fromkeys(("_advance", "_reset_rows", "_entries"), 0.0)
    for name in spent:
        method = getattr(env, name)

        def timed(*a, _method=method, _name=name, **k):
            t0 = time.perf_counter()
            out = _method(*a, **k)
            spent[_name] += time.perf_counter() - t0
            return out

        setattr(env, name, timed)
    acts = torch.from_numpy(actions)
    td = env.reset()
    for t in range(200):  # warm-up
        td["action"] = acts[t % len(acts)]
        _, td = env.step_and_maybe_reset(td)
    spent.update(dict.fromkeys(spent, 0.0))
    t0 = time.perf_counter()
    for t in range(n_steps):
        td["action"] = acts[t % len(acts)]
        _, td = env.step_and_maybe_reset(td)
    total = (time.perf_counter() - t0) / n_steps * 1e6
    out = {"batch": batch, "total_us": total, **{k.strip("_") + "_us": v / n_steps * 1e6 for k, v in spent.items()}}
    out["other_us"] = total - sum(v / n_steps * 1e6 for v in spent.values())
    return out


def torch_diagnostics(d: int, batch_sizes: list[int], **kw) -> dict:
    """The CPU costs the TorchRL env's design rests on (see benchmarks/README.md), in µs per call (best of the
    ``timed_runs``): one small tensor call (an add of two (1024,) int64 tensors), the deck's preparation per prompt,
    and, for each batch, a broadcast ``torch.where`` over the (B, L) uint8 tokens (the dense reset the env does not
    use) against the row gather it uses."""

    def best_us(fn: Callable[[], object]) -> float:
        return 1e6 / max(timed_runs(fn, 1, **kw))

    small = torch.arange(1024)
    out = {"small_call_us": best_us(lambda: small + small), "where_us": {}, "row_gather_us": {}}
    env = ParityCoTTorchEnv(d=d, batch_size=[max(batch_sizes)], seed=0)
    env.reset()
    env._refill_deck()  # allocates the deck

    def refill():
        env._state.deck.next = env._state.deck.size  # everything dealt: a refill prepares K B prompts
        env._refill_deck()

    out["deck_ns_per_prompt"] = best_us(refill) * 1e3 / (len(env._deck_episodes) * max(batch_sizes))
    for batch in batch_sizes:
        tokens = torch.zeros(batch, env.seq_len, dtype=torch.uint8)
        mask = torch.rand(batch) < 1 / 3
        spare, rows = torch.zeros(batch + batch // 3, env.seq_len, dtype=torch.uint8), torch.randperm(batch)
        out["where_us"][batch] = best_us(lambda: torch.where(mask[:, None], tokens, tokens))
        out["row_gather_us"][batch] = best_us(lambda: spare.index_select(0, rows))
    return out


def bench_torch_rollout(d: int, batch: int, device: str, actions: np.ndarray, **kw) -> list[float]:
    env = ParityCoTTorchEnv(d=d, batch_size=[batch], device=device, seed=0)
    n_steps = max(8, min(128, 2**18 // batch))  # the stacked rollout holds 2 n_steps (B, L) token tensors
    acts = list(torch.from_numpy(actions[:n_steps]).to(device))

    def rollout():
        env.rollout(n_steps, actions=acts, break_when_any_done=False)

    sync = device_sync(device)
    return timed_runs(rollout, batch * n_steps, sync=sync, **kw)


def bench_torchrl_floor(d: int, batch: int, device: str, actions: np.ndarray, fused: bool, **kw) -> list[float]:
    """TorchRL's per-step cost with an env that does no work (see the module docstring)."""
    from tensordict import TensorDict
    from torchrl.envs import EnvBase

    specs = ParityCoTTorchEnv(d=d, batch_size=[batch], device=device)
    obs = dict(specs.full_observation_spec.zero().items())
    dones = dict(specs.full_done_spec.zero().items())
    reward = specs.full_reward_spec.zero()["reward"]

    class NoOpEnv(EnvBase):
        batch_locked = True

        def __init__(self):
            super().__init__(device=device, batch_size=[batch])
            self.observation_spec = specs.observation_spec.clone()
            self.action_spec = specs.action_spec.clone()
            self.reward_spec = specs.reward_spec.clone()
            self.full_done_spec = specs.full_done_spec.clone()

        def _step(self, tensordict):
            return TensorDict._new_unsafe({**obs, **dones, "reward": reward}, batch_size=self.batch_size, device=device)

        def _reset(self, tensordict=None, **kwargs):
            return TensorDict._new_unsafe({**obs, **dones}, batch_size=self.batch_size, device=device)

        def _set_seed(self, seed):
            pass

    class FusedNoOpEnv(NoOpEnv):
        """What ParityCoTTorchEnv's fused step_and_maybe_reset costs with no env work (no row ever finishes)."""

        def _step_and_maybe_reset(self, tensordict):
            next_td = self._step(tensordict)
            root = dict(tensordict._tensordict.items())
            tensordict._set_str("next", next_td, validated=True, inplace=False, non_blocking=False)
            root.update((key, value) for key, value in next_td.items() if key != "reward")
            return tensordict, TensorDict._new_unsafe(root, batch_size=self.batch_size, device=device)

    env = FusedNoOpEnv() if fused else NoOpEnv()
    return _bench_step_and_maybe_reset(env, batch, device, actions, **kw)


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
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "env_throughput.json")
    args = parser.parse_args()
    if min(args.threads) < 0:
        parser.error(f"--threads must be >= 0; got {args.threads}")
    default_threads = torch.get_num_threads()

    def set_threads(count: int) -> None:
        torch.set_num_threads(count or default_threads)

    set_threads(args.threads[0])
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible to torch")
    use_cuda = args.device == "cuda" or (args.device is None and torch.cuda.is_available() and not args.no_cuda)
    kw = {"min_time": args.min_time, "repeats": args.repeats}
    rng = np.random.default_rng(0)
    hw = hardware()
    print("hardware:", ", ".join(f"{k}={v}" for k, v in hw.items()))
    print(f"d = {args.d}, random tokens, P(EOS) = {args.p_eos:.3f}, median of {args.repeats} runs >= {args.min_time} s")

    results = []

    def record(impl, device, batch, runs):
        rate = statistics.median(runs)
        row = {"impl": impl, "device": device, "batch": batch, "token_steps_per_s": rate, "runs": runs}
        results.append(row)
        us = 1e6 * batch / rate
        print(f"  {impl:20s} {device:5s} batch {batch:6d}: {rate:12.4g} token-steps/s ({us:9.1f} us/step)", flush=True)

    if "single" in args.impls:
        record("single", "cpu", 1, bench_single(args.d, action_stream(rng, 1, args.p_eos), **kw))
    for batch in args.batch_sizes:
        actions = action_stream(rng, batch, args.p_eos)
        if "sync_vector" in args.impls and batch <= args.sync_vector_max_batch:
            envs = gym.make_vec(parity_env.ENV_ID, num_envs=batch, vectorization_mode="sync", d=args.d)
            record("sync_vector", "cpu", batch, bench_vector(envs, actions, **kw))
            envs.close()
            del envs  # its garbage is collected before the next cell (see timed_runs)
        if "native_vector" in args.impls:
            record("native_vector", "cpu", batch, bench_vector(ParityCoTVectorEnv(batch, d=args.d), actions, **kw))
        devices = ["cpu"] + (["cuda"] if use_cuda else [])
        for device in devices:
            if "torch" in args.impls:
                for threads in args.threads if device == "cpu" else args.threads[:1]:
                    set_threads(threads)
                    name = "torch" if threads == 1 or device == "cuda" else f"torch_{threads or 'default'}threads"
                    record(name, device, batch, bench_torch(args.d, batch, device, actions, **kw))
                set_threads(args.threads[0])
            if "torch_rollout" in args.impls:
                record("torch_rollout", device, batch, bench_torch_rollout(args.d, batch, device, actions, **kw))
            if "torchrl_floor" in args.impls:
                for fused in (False, True):
                    runs = bench_torchrl_floor(args.d, batch, device, actions, fused, **kw)
                    record("torchrl_floor" + "_fused" * fused, device, batch, runs)

    single = next((r["token_steps_per_s"] for r in results if r["impl"] == "single"), None)
    for r in results:
        r["ratio_to_single"] = r["token_steps_per_s"] / single if single else None
    sampler = bench_sampler(50, 0.25, 100_000, args.repeats)
    breakdown, diag = [], None
    if "torch" in args.impls:
        print("\nTorchRL env, fused step on the CPU, µs per step (timers on the env's methods):")
        for batch in args.batch_sizes:
            b = torch_step_breakdown(args.d, batch, action_stream(rng, batch, args.p_eos))
            breakdown.append(b)
            print(f"  batch {batch:6d}: {b['total_us']:8.1f} = step {b['advance_us']:.1f} + reset of finished rows "
                  f"{b['reset_rows_us']:.1f} + output entries {b['entries_us']:.1f} + TorchRL/tensordict "
                  f"{b['other_us']:.1f}")

        diag = torch_diagnostics(args.d, args.batch_sizes, **kw)
        print(f"  one small tensor call (add of two (1024,) int64): {diag['small_call_us']:.2f} µs; deck preparation: "
              f"{diag['deck_ns_per_prompt']:.1f} ns per prompt")
        for batch in args.batch_sizes:
            print(f"  batch {batch:6d}: torch.where over the (B, L) uint8 tokens {diag['where_us'][batch]:8.1f} µs, "
                  f"the row gather of the reset {diag['row_gather_us'][batch]:8.1f} µs")

    print(f"\n{'implementation':22s}{'device':8s}{'batch':>7s}{'token-steps/s':>16s}{'us/step':>11s}{'x single':>11s}")
    for r in results:
        ratio = f"{r['ratio_to_single']:.1f}" if r["ratio_to_single"] else "-"
        us = 1e6 * r["batch"] / r["token_steps_per_s"]
        print(f"{r['impl']:22s}{r['device']:8s}{r['batch']:7d}{r['token_steps_per_s']:16.4g}{us:11.1f}{ratio:>11s}")
    print("(torchrl_floor*: a do-nothing EnvBase in the same loop, the most any EnvBase env can reach; "
          "us/step counts one step of all B rows)")
    print(f"\nsampler (d = 50, p_long = 0.25): {sampler['sequences_per_minute'] / 1e6:.2f}M sequences/minute")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    report = {
        "hardware": hw, "config": config, "results": results, "sampler": sampler, "torch_breakdown": breakdown,
        "torch_diagnostics": diag,
    }
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
