"""Internal: where does a TorchRL env step go, and what is its floor? python benchmarks/env_step_profile.py

    python benchmarks/env_step_profile.py [--batch-sizes 1 64 1024 16384 --repeats 5 --min-time 0.3]

INTERNAL, for work on ``parity_env.parity.torch_env`` only: unlike every other benchmark it does not go through public
APIs. It wraps the env's private methods (``_advance``, ``_reset_rows``, ``_entries``) in timers, refills the env's
prompt deck through its private prompt supply (``_prompts``: ``_refill_deck``, ``deck``, ``deck_episodes``), and
builds do-nothing TorchRL envs from tensordict internals (``TensorDict._new_unsafe``, ``_set_str``, ``_tensordict``),
so it breaks whenever those change, and its numbers describe the implementation, not what a user of the env sees
(that is ``benchmarks/env_throughput.py``). Measured, on the CPU with ``--threads`` torch threads:

- ``floor``: the collector's loop (``benchmarks/env_throughput.py``'s ``torch`` rows) on a do-nothing ``EnvBase``
  with the env's specs whose ``_step`` returns prebuilt tensors, through EnvBase's generic ``step_and_maybe_reset``
  (``torchrl_floor``) and through a fused override like the env's (``torchrl_floor_fused``, on ``--device``): no
  env driven through EnvBase this way can beat the fused floor's rate;
- ``torch_breakdown``: µs per fused ``step_and_maybe_reset`` of all B rows, split into the step (``_advance``), the
  reset of the finished rows (``_reset_rows``), the output entries (``_entries``, twice a step) and the rest
  (TorchRL and tensordict); the timers themselves add a little to every wrapped call;
- ``torch_diagnostics``: the costs the env's design rests on (benchmarks/README.md): one small tensor call, the
  deck's preparation per prompt, and a broadcast ``torch.where`` over the (B, L) tokens (the dense reset the env
  does not use) against the row gather it uses.

Writes RESULTS/env_step_profile.json.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from common import add_results_arguments, write_result
from env_throughput import action_stream, bench_step_and_maybe_reset, throughput_row, timed_runs
from tensordict import TensorDict
from torchrl.envs import EnvBase

from parity_env import ParityCoTTorchEnv


def noop_env(d: int, batch: int, device: str, fused: bool) -> EnvBase:
    """A TorchRL env with the specs of ParityCoTTorchEnv that does no work; ``fused``: with a fused
    ``step_and_maybe_reset`` like the env's (no row ever finishes)."""
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
        def _step_and_maybe_reset(self, tensordict):
            next_td = self._step(tensordict)
            root = dict(tensordict._tensordict.items())
            tensordict._set_str("next", next_td, validated=True, inplace=False, non_blocking=False)
            root.update((key, value) for key, value in next_td.items() if key != "reward")
            return tensordict, TensorDict._new_unsafe(root, batch_size=self.batch_size, device=device)

    return FusedNoOpEnv() if fused else NoOpEnv()


def torch_step_breakdown(d: int, batch: int, actions: np.ndarray, n_steps: int = 2000) -> dict:
    """µs per fused step of the env (CPU), split by timers wrapped around its private methods."""
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
    """µs per call (best of the ``timed_runs``): one small tensor call (an add of two (1024,) int64 tensors), the
    deck's preparation per prompt (ns), and per batch the dense reset's ``torch.where`` against the row gather."""

    def best_us(fn: Callable[[], object]) -> float:
        return 1e6 / max(timed_runs(fn, 1, **kw))

    small = torch.arange(1024)
    out = {"small_call_us": best_us(lambda: small + small), "where_us": {}, "row_gather_us": {}}
    env = ParityCoTTorchEnv(d=d, batch_size=[max(batch_sizes)], seed=0)
    env.reset()
    supply = env._prompts
    supply._refill_deck()  # allocates the deck

    def refill():
        supply.deck.next = supply.deck.size  # everything dealt: a refill prepares K B prompts
        supply._refill_deck()

    out["deck_ns_per_prompt"] = best_us(refill) * 1e3 / (len(supply.deck_episodes) * max(batch_sizes))
    for batch in batch_sizes:
        tokens = torch.zeros(batch, env.seq_len, dtype=torch.uint8)
        mask = torch.rand(batch) < 1 / 3
        spare, rows = torch.zeros(batch + batch // 3, env.seq_len, dtype=torch.uint8), torch.randperm(batch)
        out["where_us"][batch] = best_us(lambda m=mask, t=tokens: torch.where(m[:, None], t, t))
        out["row_gather_us"][batch] = best_us(lambda s=spare, r=rows: s.index_select(0, r))
    return out


def print_profile(breakdown: list[dict], diag: dict) -> None:
    print("\nTorchRL env, fused step on the CPU, µs per step (timers on the env's methods):")
    for b in breakdown:
        print(f"  batch {b['batch']:6d}: {b['total_us']:8.1f} = step {b['advance_us']:.1f} + reset of finished rows "
              f"{b['reset_rows_us']:.1f} + output entries {b['entries_us']:.1f} + TorchRL/tensordict "
              f"{b['other_us']:.1f}")
    print(f"  one small tensor call (add of two (1024,) int64): {diag['small_call_us']:.2f} µs; deck preparation: "
          f"{diag['deck_ns_per_prompt']:.1f} ns per prompt")
    for batch in diag["where_us"]:
        print(f"  batch {batch:6d}: torch.where over the (B, L) uint8 tokens {diag['where_us'][batch]:8.1f} µs, "
              f"the row gather of the reset {diag['row_gather_us'][batch]:8.1f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, default=24)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 64, 1024, 16384])
    parser.add_argument("--p-eos", type=float, default=1 / 3, help="EOS probability of the random action stream")
    parser.add_argument("--min-time", type=float, default=0.3, help="seconds per timed run")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per cell (the median is reported)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="device of the floor (default cpu)")
    add_results_arguments(parser)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible to torch")
    torch.set_num_threads(args.threads)
    kw = {"min_time": args.min_time, "repeats": args.repeats}
    rng = np.random.default_rng(0)
    floor, breakdown = [], []
    for batch in args.batch_sizes:
        actions = action_stream(rng, batch, args.p_eos)
        for fused in (False, True):
            runs = bench_step_and_maybe_reset(noop_env(args.d, batch, args.device, fused), batch, args.device,
                                              actions, **kw)
            floor.append(throughput_row("torchrl_floor" + "_fused" * fused, args.device, batch, runs))
        breakdown.append(torch_step_breakdown(args.d, batch, actions))
    diag = torch_diagnostics(args.d, args.batch_sizes, **kw)
    print_profile(breakdown, diag)
    config = {k: v for k, v in vars(args).items() if k != "results"}
    write_result("env_step_profile", {"config": config, "floor": floor, "torch_breakdown": breakdown,
                                      "torch_diagnostics": diag}, args.results)


if __name__ == "__main__":
    main()
