"""What the package's envs share, whatever the task.

The demonstration stream, the vector envs' rows and autoreset, and the TorchRL envs' private generator:

- ``DemonstrationStream``: an env's own demonstration generator (seeded by ``reset(seed=...)``, never its episode
  stream) behind ``sample_demonstrations``.
- ``RowsVectorEnv``: a native ``gymnasium.vector.VectorEnv`` of N rows in blocks of ``group_size`` sharing a prompt:
  the autoreset modes NEXT_STEP, SAME_STEP and DISABLED, partial resets (``options={"reset_mask": mask}``), given
  prompts, and the 64-bit key of a full reset behind every row's counter-based prompts. A subclass (the generic
  ``CoTVectorEnv``, parity's tuned ``ParityCoTVectorEnv``) says how a row starts and steps.
- ``BatchedTorchEnv``: a TorchRL env's private episode generator (seeded by ``set_seed``, saved with a run),
  its specs, its demonstrations as tensors, its outputs built without validation, and its fused step-and-reset.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from tensordict import TensorDict, TensorDictBase, is_tensor_collection
from torchrl.data import Bounded, Categorical, Composite, TensorSpec, Unbounded
from torchrl.envs import EnvBase

from ..checks import check_int, check_options, check_seed, make_rng


class DemonstrationStream:
    """An env's demonstration generator: ``sample_demonstrations`` draws from it unless given a seed."""

    task: Any

    def _seed_demonstrations(self, seed: int | None) -> None:
        """A new stream for ``seed`` (derived from it, apart from the episodes'); None: a fresh, unseeded one."""
        self._demo_rng = make_rng(None) if seed is None else np.random.default_rng([seed, 1])

    def sample_demonstrations(self, n: int, seed: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n`` demonstrations of this env's task (``task.sample_demonstrations``).

        Tokens (n, L) int64, the response mask (n, L) bool and is_long (n,) bool. Draws from the env's own
        demonstration generator (seeded by ``reset(seed=...)``, never the episodes' stream) unless ``seed`` (an int or
        a numpy Generator) is given.
        """
        return self.task.sample_demonstrations(n, seed=self._demo_rng if seed is None else make_rng(seed))


class RowsVectorEnv(DemonstrationStream, VectorEnv):
    """N rows of one task in blocks sharing a prompt, with Gymnasium's autoreset modes (see the module docstring).

    A subclass calls ``_set_up`` from its constructor and provides ``_allocate`` (the per-row state of a full reset),
    ``_check_given`` (given prompts, as an (N, k) array), ``_check_actions``, ``_reset_rows`` (start the rows' next
    episodes), ``_advance`` (emit the actions; the rewards) and ``_infos``; the state it keeps includes ``_tokens``,
    ``_term``, ``_trunc``, and ``_episode`` (the rows' episode counters), which ``reset`` sets.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}
    given_key = "problems"
    """The reset option that poses given prompts (parity's env calls them bits)."""

    def _set_up(self, num_envs: int, group_size: int, autoreset_mode: AutoresetMode | str, render_mode: None,
                single_env: str) -> None:
        """Check and keep the rows, the blocks and the autoreset mode (``single_env``: what renders, for errors)."""
        if render_mode is not None:
            raise ValueError(f"render_mode must be None: the vector env does not render (got {render_mode!r}); render "
                             f"single episodes with {single_env}")
        self.num_envs = check_int("num_envs", num_envs, 1)
        self.group_size = check_int("group_size", group_size, 1)
        if self.num_envs % self.group_size:
            raise ValueError(f"group_size must divide num_envs = {self.num_envs}; got group_size = {group_size}")
        try:
            self.autoreset_mode = AutoresetMode(autoreset_mode)
        except ValueError:
            allowed = [m.value for m in AutoresetMode]
            raise ValueError(f"autoreset_mode must be one of {allowed}; got {autoreset_mode!r}") from None
        self.metadata = {**self.metadata, "autoreset_mode": self.autoreset_mode}
        self._row_block = np.arange(self.num_envs) // self.group_size  # (N,)
        self._seed_demonstrations(None)
        self._tokens: np.ndarray | None = None  # (N, L); None before the first reset
        self._pending: np.ndarray  # (N,) bool, NEXT_STEP: rows to reset at the next step; set by a full reset
        self._term: np.ndarray  # (N,) bool: the row's episode ended with EOS; set by ``_allocate``
        self._trunc: np.ndarray  # (N,) bool: it ended at max_response_len without EOS

    # ------------------------------------------------------------------------------------------------ the hooks
    def _allocate(self) -> None:
        """Allocate the per-row state of a full reset (its ``_tokens``, ``_term``, ``_trunc`` among it)."""
        raise NotImplementedError

    def _check_given(self, given: Any) -> np.ndarray:
        """Given prompts as an (N, k) int64 array, else raise naming what is wrong."""
        raise NotImplementedError

    def _check_actions(self, actions: Any) -> np.ndarray:
        """``actions`` as an int64 array (N,) of emitted tokens, else raise naming the bad values."""
        raise NotImplementedError

    def _reset_rows(self, mask: np.ndarray, given: np.ndarray | None) -> None:
        """Start the next episode of the rows in ``mask`` (N,): their block's next prompt, or ``given`` (N, k)."""
        raise NotImplementedError

    def _advance(self, active: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Emit ``actions`` (N,) on the ``active`` rows (N,); returns the rewards (N,) float64."""
        raise NotImplementedError

    def _infos(self) -> dict:
        """Fresh per-row arrays under the single env's info keys."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------------ reset
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        """Reset every row, or the rows of ``options["reset_mask"]``; the ``given_key`` option poses given prompts."""
        seed = check_seed(seed)
        options = check_options(options, (self.given_key, "reset_mask"))
        n = self.num_envs
        given = None
        if self.given_key in options:
            given = self._check_given(options[self.given_key])
            blocks = given.reshape(n // self.group_size, self.group_size, -1)
            if (blocks != blocks[:, :1]).any():
                raise ValueError(f"{self.given_key} must be equal within each block of group_size = "
                                 f"{self.group_size} rows")
        if "reset_mask" in options:
            mask = np.asarray(options["reset_mask"])
            if mask.dtype != np.bool_ or mask.shape != (n,):
                raise ValueError(f"reset_mask must be a bool array of shape ({n},); got {mask.dtype} {mask.shape}")
            if seed is not None:
                raise ValueError(f"seed must be None with reset_mask (partial resets use the current key); got {seed}")
            if self._tokens is None:
                raise RuntimeError("reset with reset_mask before a full reset: call envs.reset() first")
            self._reset_rows(mask, given)
            self._pending = self._pending & ~mask
        else:
            super().reset(seed=seed)
            if seed is not None:
                self._seed_demonstrations(seed)
            self._key = int(self.np_random.integers(-(2**63), 2**63, dtype=np.int64))
            self._episode = np.full(n, -1, dtype=np.int64)  # (N,) _reset_rows advances every counter to 0
            self._pending = np.zeros(n, dtype=bool)  # NEXT_STEP: rows to reset at the next step
            self._allocate()
            self._reset_rows(np.ones(n, dtype=bool), given)
        assert self._tokens is not None  # allocated by the full reset
        return self._tokens.copy(), self._infos()

    # ------------------------------------------------------------------------------------------------ step
    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Emit ``actions`` (N,) on every row; returns (tokens, rewards, terminations, truncations, infos)."""
        if self._tokens is None:
            raise RuntimeError("step called before reset: call envs.reset() first")
        actions = self._check_actions(actions)
        done = self._term | self._trunc  # (N,) finished before this step
        mode = self.autoreset_mode
        if mode == AutoresetMode.DISABLED and done.any():
            rows = np.flatnonzero(done)[:5].tolist()
            raise RuntimeError(f"step called on finished rows {rows} with autoreset DISABLED: reset them first with "
                               "envs.reset(options={'reset_mask': mask})")
        active = ~self._pending if mode == AutoresetMode.NEXT_STEP else np.ones(self.num_envs, dtype=bool)
        reward = self._advance(active, actions)
        infos = {}
        if mode == AutoresetMode.NEXT_STEP:
            if self._pending.any():
                self._reset_rows(self._pending, None)
            self._pending = self._term | self._trunc
        obs, term, trunc = self._tokens.copy(), self._term.copy(), self._trunc.copy()
        if mode == AutoresetMode.SAME_STEP:
            finished = term | trunc
            if finished.any():
                infos["final_obs"], infos["_final_obs"] = obs, finished.copy()
                infos["final_info"], infos["_final_info"] = self._infos(), finished.copy()
                self._reset_rows(finished, None)
                obs = self._tokens.copy()
        infos.update(self._infos())
        return obs, reward, term, trunc, infos


def check_actions(actions: Any, n: int, n_actions: int, tokens: str | None = None,
                  which: str = "EOS among them") -> np.ndarray:
    """``actions`` as an int64 array (n,) of tokens in [0, n_actions), else raise naming the bad values.

    ``tokens`` and ``which`` name the allowed tokens in the messages (default ``[0, n_actions)``, EOS among them).
    """
    arr = np.asarray(actions)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"actions must be integer tokens in {tokens or f'[0, {n_actions})'}; got dtype {arr.dtype}")
    if arr.shape != (n,):
        raise ValueError(f"actions must have shape (num_envs,) = ({n},); got {arr.shape}")
    bad = (arr < 0) | (arr >= n_actions)
    if bad.any():
        raise ValueError(f"actions must be integer tokens in {tokens or f'[0, {n_actions})'} ({which}); got values "
                         f"{arr[bad][:5].tolist()}")
    return arr.astype(np.int64, copy=False)


def check_batch(batch_size: Any, group_size: int) -> tuple[torch.Size, int, int]:
    """A batched env's ``batch_size`` [B] and ``group_size`` (a divisor of B), checked: (torch.Size, B, group_size)."""
    batch_size = torch.Size(batch_size)
    if len(batch_size) != 1:
        raise ValueError(f"batch_size must have exactly one dimension, [B]; got {list(batch_size)}")
    n_rows = check_int("batch_size[0]", batch_size[0], 1)
    group_size = check_int("group_size", group_size, 1)
    if n_rows % group_size:
        raise ValueError(f"group_size must divide the batch size {n_rows}; got group_size = {group_size}")
    return batch_size, n_rows, group_size


class BatchedTorchEnv(EnvBase):
    """What the package's native batched TorchRL envs share (the generic ``CoTTorchEnv``, parity's tuned one).

    A private episode generator ``_rng`` (never torch's global one), seeded by ``set_seed`` and saved with a run
    (``get_rng_state``), so that a resumed run draws its next prompt keys as the uninterrupted run would; the
    demonstrations as tensors on the env's device; and outputs built without validation (``_entries`` gives them in
    their spec shapes, which ``check_env_specs`` verifies), so that EnvBase's per-step reshaping is skipped.
    """

    _rng: torch.Generator
    _demo_rng: np.random.Generator
    task: Any
    seq_len: int
    max_response_len: int

    def _set_seed(self, seed: int | None) -> None:
        seed = check_seed(seed)
        if seed is None:
            self._rng.seed()
        else:
            self._rng.manual_seed(seed)

    def get_rng_state(self) -> torch.Tensor:
        """The state (uint8) of the env's private episode generator: saved with a run."""
        return self._rng.get_state()

    def set_rng_state(self, state: torch.Tensor) -> None:
        """Restore a state from ``get_rng_state``."""
        self._rng.set_state(state)

    def sample_demonstrations(self, n: int, seed: Any = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``n`` demonstrations of this env's task as torch tensors on its device (``task.sample_demonstrations``).

        Draws from the env's own demonstration generator (seeded by the constructor's ``seed``), never from the
        episode generator, unless ``seed`` is given.
        """
        arrays = self.task.sample_demonstrations(n, seed=self._demo_rng if seed is None else make_rng(seed))
        tokens, mask, is_long = (torch.from_numpy(np.ascontiguousarray(a)).to(self.device) for a in arrays)
        return tokens, mask, is_long

    def _make_specs(self, n: int, vocab_size: int, token_dtype: torch.dtype, n_actions: int, **task_obs: TensorSpec) \
            -> None:
        """Set the specs of ``n`` rows: tokens, the task's entries ``task_obs``, the episode's facts, reward, done."""
        dev, L, R = self.device, self.seq_len, self.max_response_len
        flag = Categorical(2, shape=(n,), dtype=torch.bool, device=dev)  # (B,) bool
        self.observation_spec = Composite(
            tokens=Categorical(vocab_size, shape=(n, L), dtype=token_dtype, device=dev),
            prompt_id=Unbounded(shape=(n,), dtype=torch.int64, device=dev),
            **task_obs,
            response_length=Bounded(0, R, shape=(n,), dtype=torch.int64, device=dev),
            is_long=flag.clone(),
            is_correct=flag.clone(),
            shape=(n,),
            device=dev,
        )
        self.action_spec = Categorical(n_actions, shape=(n,), dtype=torch.int64, device=dev)
        self.reward_spec = Unbounded(shape=(n, 1), dtype=torch.float32, device=dev)
        done = Categorical(2, shape=(n, 1), dtype=torch.bool, device=dev)  # (B, 1) bool
        self.full_done_spec = Composite(done=done, terminated=done.clone(), truncated=done.clone(), shape=(n,),
                                        device=dev)

    def _entries(self, with_reward: bool) -> dict[str, torch.Tensor]:
        """The env's entries for its current state, fresh whenever the state changed."""
        raise NotImplementedError

    def _output(self, with_reward: bool) -> TensorDictBase:
        """The tensordict of the current state, built without validation (its entries match the specs)."""
        return TensorDict._new_unsafe(self._entries(with_reward), batch_size=self.batch_size, device=self.device)

    def _advance_fused(self, action: torch.Tensor) -> Callable[[], None] | None:
        """Step every row with ``action`` (B,); return what resets the rows that finished (None: none did)."""
        raise NotImplementedError

    # TorchRL shortcut: it changes nothing the env computes, only how much of EnvBase's generic machinery each step
    # goes through (tests/test_torch_env_fast_paths.py checks it against the generic path).
    def _step_and_maybe_reset(self, tensordict: TensorDictBase) -> tuple[TensorDictBase, TensorDictBase]:
        """EnvBase's step, step_mdp and maybe_reset fused.

        The step data are built as EnvBase.step builds them, the next root as step_mdp does (every root entry but
        "next", then the next entries but the reward), and the finished rows are reset on the env's state directly
        rather than through ``maybe_reset`` (whose generic masked merge costs more than the step itself). Gives the
        generic path's data (tested), except that carried entries the env does not produce (the action, policy
        outputs) are not zeroed on reset rows. Falls back to the generic path for anything unusual (partial steps,
        preset "next" values, hooks, type checks, other devices, lazy stacks).
        """
        if (
            type(tensordict) is not TensorDict
            or tensordict.device != self.device
            or tensordict.batch_size != self.batch_size
            or "_step" in tensordict._tensordict  # the plain dict of a TensorDict's entries (faster than keys())
            or "next" in tensordict._tensordict
            or self._post_step_mdp_hooks is not None
            or self.run_type_checks
        ):
            return super()._step_and_maybe_reset(tensordict)
        reset_finished = self._advance_fused(tensordict._tensordict["action"])
        entries = self._entries(with_reward=True)
        next_td = TensorDict._new_unsafe(entries, batch_size=self.batch_size, device=self.device)
        root = tensordict._tensordict.copy()  # step_mdp's root: the entries as they are, ...
        if not all(type(v) is torch.Tensor for v in root.values()):  # ... nested tensordicts as shallow copies
            root = {key: _shallow_copy(v) for key, v in root.items()}
        tensordict._set_str("next", next_td, validated=True, inplace=False, non_blocking=False)
        if reset_finished is not None:
            reset_finished()
            root.update(self._entries(with_reward=False))
        else:
            del entries["reward"]
            root.update(entries)
        return tensordict, TensorDict._new_unsafe(root, batch_size=self.batch_size, device=self.device)

    def _step_proc_data(self, next_tensordict: TensorDictBase) -> TensorDictBase:
        """Skip EnvBase's per-step reshaping and done completion (``_output`` gives the spec shapes already).

        Type checks still run when run_type_checks is set.
        """
        if self.run_type_checks:
            return super()._step_proc_data(next_tensordict)
        return next_tensordict


def _shallow_copy(value: Any) -> Any:
    """A root entry as step_mdp carries it: tensors as they are, tensordicts as shallow copies."""
    return value if type(value) is torch.Tensor or not is_tensor_collection(value) else value.copy()
