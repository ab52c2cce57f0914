"""CoTTorchEnv: any task of the contract as a native batched TorchRL ``EnvBase``, its state in torch on any device.

B independent rows step together; each row is one episode of the task's token protocol (a prompt of ``prompt_len``
tokens, then one emitted token per step until EOS or ``max_response_len`` tokens). Given the same problems and
actions it produces exactly what ``CoTEnv`` produces (tested step by step), and for parity what
``ParityCoTTorchEnv`` produces. ``task.make_env(batch_size, device, seed, group_size)`` builds it for any task but
parity (whose tuned env it returns instead).

Tensordict entries (B = batch size, L = task.seq_len = prompt_len + max_response_len, k = the problems' columns)::

    tokens           (B, L) uint8   prompt, the response so far, PAD after it (int64 when vocab_size > 256)
    prompt_id        (B,)   int64   ``task.prompt_ids``: equal for equal prompts
    response_length  (B,)   int64   tokens emitted, EOS included
    is_long          (B,)   bool    more tokens before EOS so far than the short form has (``task.short_length``)
    is_correct       (B,)   bool    the reward mode's verdict, False until the episode ends
    reward           (B, 1) float32 1.0 on the step that emits EOS if the response is correct, else 0.0
    done, terminated, truncated (B, 1) bool
    action           (B,)   int64   the emitted token in [0, n_actions) ((B, 1) is accepted too)
    problems         (B, k) int64   optional, read at reset: fixes the problems of the rows reset

Prompts and groups: a reset without a ``_reset`` mask draws a fresh 64-bit key from the env's private generator
(seeded by ``seed`` / ``set_seed``; drawn exactly as ``ParityCoTTorchEnv`` draws it) and sets every row's episode
counter to 0; any later reset of a row (a ``_reset`` mask, or ``step_and_maybe_reset``) advances its counter. Row r's
k-th episode uses ``task.hashed_problems(key, r // group_size, k)`` for every group_size, as ``CoTVectorEnv`` does, so
each block of group_size consecutive rows shares one problem per episode however the rows finish. For parity with
group_size > 1 (and for every group_size in the episodes after a full reset) these are exactly the prompts of
``ParityCoTTorchEnv`` under the same seed; with group_size 1 parity's env deals the later prompts from a prepared deck
instead (another order of the same kind of uniform prompts), so the two differ there. A ``problems`` entry overrides
the problems of the rows reset (rows of one block equal; the counters still advance, so the blocks stay aligned).

How it judges: the env never reads a task's rules; the rows that emit EOS in a step are judged together with one
``task.verdicts`` call on the CPU (their responses are copied from the device; the problems are kept on the CPU, where
the task made them), and only in steps where some row emitted EOS. Truncated rows are not judged (no EOS: never
correct). Everything else is a fixed number of tensor operations per step whatever B: the token write, the counters
and flags, and one host read of a few scalars (the action range, whether a finished row was stepped, whether some
row emitted EOS). Resets hash the rows' next problems with ``task.hashed_problems`` and write their prompts with
``task.prompt_tokens`` on the CPU, then copy them to the device in one go.

TorchRL details: the env is stateful (like ``GymEnv``): ``_step`` reads only ``action`` and TorchRL's partial-step mask
``"_step"`` (rows outside it keep their state and report reward 0). Every output tensor is fresh whenever the state
changed (the state's tensors are replaced, never written in place), so rollouts keep every step's data; do not modify
outputs in place. ``step_and_maybe_reset`` (what rollouts and collectors call) is fused like ``ParityCoTTorchEnv``'s:
the step, step_mdp and the reset of the finished rows without EnvBase's generic masked merge (tested against it).

Run ``python -m parity_env.envs.torch_env`` for a short random rollout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tensordict import TensorDictBase

from ..checks import check_seed, make_rng
from ..contract import CoTTask
from .base import BatchedTorchEnv, check_batch
from .env import check_problems, problem_width, resolve_env_task


def token_dtype(vocab_size: int) -> torch.dtype:
    """The dtype of the ``tokens`` entry: uint8 where the vocabulary fits in a byte, else int64.

    Every step hands out a fresh (B, L) tensor, so uint8 takes 8x less memory than int64.
    """
    return torch.uint8 if vocab_size <= 256 else torch.int64


@dataclass
class _Rows:
    """The per-row state.

    The tensors are handed out in the tensordicts, so they are replaced, never written in place; ``problems`` and
    ``episode`` are the env's own numpy arrays on the CPU (where the task judges and hashes).
    """

    tokens: torch.Tensor  # (B, L)
    prompt_id: torch.Tensor  # (B,) int64
    n: torch.Tensor  # (B,) int64 tokens emitted, EOS included
    term: torch.Tensor  # (B,) bool
    trunc: torch.Tensor  # (B,) bool
    done: torch.Tensor  # (B,) bool term | trunc
    correct: torch.Tensor  # (B,) bool
    is_long: torch.Tensor  # (B,) bool
    problems: np.ndarray  # (B, k) int64
    episode: np.ndarray  # (B,) int64 the rows' episode counters
    key: int  # the prompt key of the last full reset
    reward: torch.Tensor | None = None  # (B, 1) float32 of the last step
    some_finished: bool = False  # whether some row may be finished and not reset yet


class CoTTorchEnv(BatchedTorchEnv):
    """Native batched TorchRL env of any task (see the module docstring for entries, groups and judging).

    Args:
        task: a registered task name (``settings`` are then its config keywords, None: the task's default), or a
            ``parity_env.CoTTask`` or its dict (no settings beside it).
        batch_size: ``[B]``, the number of rows stepped together.
        device: where every tensor lives (the task's problems and its checker stay on the CPU).
        seed: seed of the private generator (None: nondeterministic); also seeds the demonstration generator.
        group_size: rows per block sharing a problem; must divide B.
    """

    batch_locked = True

    def __init__(
        self,
        task: str | CoTTask | dict = "parity",
        batch_size: Sequence[int] | torch.Size = (1,),
        device: Any = "cpu",
        seed: int | None = None,
        group_size: int = 1,
        **settings: Any,
    ):
        self.task = resolve_env_task(task, settings, type(self).__name__)
        seed = check_seed(seed)
        batch_size, n_rows, group_size = check_batch(batch_size, group_size)
        super().__init__(device=device, batch_size=batch_size)
        t = self.task
        self.prompt_len, self.max_response_len, self.seq_len = t.prompt_len, t.max_response_len, t.seq_len
        self.n_actions, self.eos, self.pad, self.short_length = t.n_actions, t.eos, t.pad, t.short_length
        self.reward_mode, self.p_long = t.reward, t.p_long
        self.group_size, self._n_rows = group_size, n_rows
        self.problem_width = problem_width(t)
        self.token_dtype = token_dtype(t.vocab_size)
        dev = self.device
        self._row_block = np.arange(n_rows) // group_size  # (B,) on the CPU, for hashed_problems
        self._response_start = torch.arange(n_rows, device=dev) * self.seq_len + self.prompt_len  # (B,) flat slot 0
        self._action_shape = torch.Size([n_rows])
        self._make_specs(n_rows, self.task.vocab_size, self.token_dtype, self.n_actions)
        self._rng = torch.Generator(device=dev)
        self._demo_rng = make_rng(seed)
        self._state: _Rows | None = None  # set by the first reset (a plain object: nn.Module attributes are slow)
        self._set_seed(seed)

    # ------------------------------------------------------------------------------------------------ reset
    def _read_problems(self, tensordict: TensorDictBase | None) -> np.ndarray | None:
        """The ``problems`` entry (B, k) of a reset's input as a checked CPU int64 array, or None."""
        problems = None if tensordict is None else tensordict.get("problems", None)
        if problems is None:
            return None
        if not isinstance(problems, torch.Tensor) or problems.dtype == torch.bool or problems.is_floating_point() \
                or problems.is_complex():
            raise TypeError(f"problems must be an integer tensor (B, k); got {getattr(problems, 'dtype', problems)}")
        n, k, G = self._n_rows, self.problem_width, self.group_size
        arr = check_problems(self.task, problems.cpu().numpy(), (n, k), "problems")
        if G > 1 and (arr.reshape(n // G, G, k) != arr.reshape(n // G, G, k)[:, :1]).any():
            raise ValueError(f"problems must be equal within each block of group_size = {G} consecutive rows")
        return arr

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs) -> TensorDictBase:
        n, dev = self._n_rows, self.device
        mask = None if tensordict is None else tensordict.get("_reset", None)
        given = self._read_problems(tensordict)
        if mask is None or self._state is None:  # a fresh key, every row back to episode 0
            key = int(torch.randint(-(2**63), 2**63 - 1, (), generator=self._rng, device=dev))
            false = torch.zeros(n, dtype=torch.bool, device=dev)
            self._state = _Rows(
                tokens=torch.full((n, self.seq_len), self.pad, dtype=self.token_dtype, device=dev),
                prompt_id=torch.zeros(n, dtype=torch.int64, device=dev),
                n=torch.zeros(n, dtype=torch.int64, device=dev),
                term=false, trunc=false, done=false, correct=false, is_long=false,
                problems=np.zeros((n, self.problem_width), dtype=np.int64),
                episode=np.full(n, -1, dtype=np.int64),  # _reset_rows advances every counter to 0
                key=key,
            )
            mask = torch.ones(n, dtype=torch.bool, device=dev)
        mask = mask.reshape(n)
        rows = mask.nonzero().squeeze(1)  # (N,)
        if rows.shape[0]:
            self._reset_rows(rows, mask, given)
        return self._output(with_reward=False)

    def _reset_rows(self, rows: torch.Tensor, mask: torch.Tensor, given: np.ndarray | None,
                    all_finished: bool = False) -> None:
        """Start the next episode of rows ``rows`` (N,), not empty, the True entries of ``mask`` (B,).

        Their block's next problem, or ``given`` (B, k). ``all_finished``: ``mask`` is every finished row
        (step_and_maybe_reset), so that no row is finished afterwards.
        """
        st, dev = self._state, self.device
        assert st is not None  # set by the first reset
        rows_np = rows.cpu().numpy()
        episode = st.episode[rows_np] + 1  # (N,)
        st.episode[rows_np] = episode
        if given is None:
            problems = np.asarray(self.task.hashed_problems(st.key, self._row_block[rows_np], episode), dtype=np.int64)
        else:
            problems = given[rows_np]
        st.problems[rows_np] = problems  # (N, k)
        fresh = np.full((len(rows_np), self.seq_len), self.pad, dtype=np.int64)  # (N, L)
        fresh[:, : self.prompt_len] = self.task.prompt_tokens(problems)
        st.tokens = st.tokens.index_put((rows,), torch.from_numpy(fresh).to(dev, self.token_dtype))  # out of place
        st.prompt_id = st.prompt_id.index_put((rows,), torch.from_numpy(self.task.prompt_ids(problems)).to(dev))
        st.n = st.n.masked_fill(mask, 0)
        if all_finished:  # no row is finished any more: fresh False flags (three views of one tensor)
            st.term, st.trunc, st.done = torch.zeros(3, self._n_rows, dtype=torch.bool, device=dev).unbind(0)
        else:
            keep = ~mask
            st.term, st.trunc, st.done = st.term & keep, st.trunc & keep, st.done & keep
        st.correct, st.is_long = st.correct.masked_fill(mask, False), st.is_long.masked_fill(mask, False)

    # ------------------------------------------------------------------------------------------------ step
    def _advance(self, action: torch.Tensor, step_mask: torch.Tensor | None = None) -> None:
        """One step of every row with ``action`` (B,): replaces the state's tensors, judges the rows that emitted EOS.

        Only of the rows in ``step_mask`` (B,) or (B, 1), TorchRL's partial-step mask, when given.
        """
        st = self._state
        if st is None:
            raise RuntimeError("step called before reset: call env.reset() first")
        if not isinstance(action, torch.Tensor) or action.dtype != torch.int64:
            raise TypeError(f"action must be an int64 tensor of tokens in [0, {self.n_actions}); got "
                            f"{getattr(action, 'dtype', type(action).__name__)}")
        if action.shape != self._action_shape:
            if action.shape != self._action_shape + (1,):
                raise ValueError(f"action must have shape (B,) = {tuple(self._action_shape)} (or (B, 1)); got "
                                 f"{tuple(action.shape)}")
            action = action.reshape(-1)  # TorchRL's categorical specs often give a trailing 1
        if step_mask is not None:
            step_mask = step_mask.reshape(-1).bool()  # (B,)
            action = torch.where(step_mask, action, 0)  # rows not stepped: any legal token, never written
        is_eos = action == self.eos  # (B,)
        ended = is_eos if step_mask is None else is_eos & step_mask  # (B,) rows that emit EOS now
        low, high = torch.aminmax(action)
        checks = [low, high, ended.sum()]
        if st.some_finished:  # (no row can be finished otherwise: skip the check)
            checks.append((st.done if step_mask is None else st.done & step_mask).sum())
        checks = torch.stack(checks).tolist()  # one host read
        if checks[0] < 0 or checks[1] >= self.n_actions:
            bad = (action < 0) | (action >= self.n_actions)
            raise ValueError(f"action must be tokens in [0, {self.n_actions}) (EOS = {self.eos} among them); got "
                             f"values {action[bad][:5].tolist()}")
        if len(checks) > 3 and checks[3]:
            done = st.done if step_mask is None else st.done & step_mask
            shown = done.nonzero().squeeze(-1)[:5].tolist()
            raise RuntimeError(f"step called on finished rows {shown}: reset them first (pass a '_reset' mask)")
        tokens = st.tokens.clone()  # (B, L) fresh: the previous one stays with the caller
        if step_mask is None:
            tokens.put_(self._response_start + st.n, action.to(self.token_dtype))  # flat positions (B,)
            n = st.n + 1
            term = is_eos
            trunc = (n == self.max_response_len) & ~is_eos
        else:  # rows not stepped write their current token back (positions clamped: finished rows may be full)
            pos = self._response_start + st.n.clamp(max=self.max_response_len - 1)  # (B,)
            tokens.put_(pos, torch.where(step_mask, action.to(self.token_dtype), tokens.take(pos)))
            n = st.n + step_mask
            term = torch.where(step_mask, is_eos, st.term)
            trunc = torch.where(step_mask, (n == self.max_response_len) & ~is_eos, st.trunc)
        reward = torch.zeros(self._n_rows, 1, dtype=torch.float32, device=self.device)
        correct = st.correct
        if checks[2]:  # judge the rows that emitted EOS, together, on the CPU
            rows = ended.nonzero().squeeze(1)  # (E,)
            responses = tokens.index_select(0, rows).narrow(1, self.prompt_len, self.max_response_len).cpu()
            verdicts = self.task.verdicts(st.problems[rows.cpu().numpy()], responses.numpy().astype(np.int64))
            verdict = np.asarray(verdicts.correct(self.reward_mode), dtype=bool)  # (E,)
            correct = correct.index_put((rows,), torch.from_numpy(verdict).to(self.device))
            reward.view(-1).index_put_((rows,), torch.from_numpy(verdict.astype(np.float32)).to(self.device))
        st.tokens, st.n, st.term, st.trunc, st.correct = tokens, n, term, trunc, correct
        st.done = term | trunc
        st.is_long = (n - term.to(torch.int64)) > self.short_length  # tokens before EOS so far
        st.reward = reward
        st.some_finished = True  # (conservatively: the next step checks)

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        self._advance(tensordict.get("action"), tensordict.get("_step", None))
        return self._output(with_reward=True)

    def _advance_fused(self, action: torch.Tensor) -> Callable[[], None] | None:
        self._advance(action)
        st = self._state
        assert st is not None  # set by the first reset
        finished = st.done.nonzero().squeeze(1)  # (N,)
        st.some_finished = bool(finished.shape[0])
        if not finished.shape[0]:
            return None

        def reset_finished() -> None:
            self._reset_rows(finished, st.done, None, all_finished=True)
            st.some_finished = False  # every finished row was reset

        return reset_finished

    def _entries(self, with_reward: bool) -> dict[str, torch.Tensor]:
        """The env's entries for the current state (its tensors, replaced whenever the state changes)."""
        st = self._state
        assert st is not None  # set by the first reset
        out = {
            "tokens": st.tokens,
            "prompt_id": st.prompt_id,
            "response_length": st.n,
            "is_long": st.is_long,
            "is_correct": st.correct,
            "done": st.done.unsqueeze(1),  # (B, 1)
            "terminated": st.term.unsqueeze(1),
            "truncated": st.trunc.unsqueeze(1),
        }
        if with_reward:
            assert st.reward is not None  # set by the step
            out["reward"] = st.reward
        return out


if __name__ == "__main__":
    from torchrl.envs.utils import check_env_specs

    env = CoTTorchEnv(task="parity", d=6, batch_size=[4], seed=0)
    check_env_specs(env)
    rollout = env.rollout(8, break_when_any_done=False)
    for row in rollout["next", "tokens"][:, -1]:
        print(env.task.format_tokens(row.numpy()))
    print("rewards", rollout["next", "reward"].squeeze(-1).T.tolist())
