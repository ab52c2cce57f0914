"""ParityCoTTorchEnv: the parity-with-chain-of-thought task as a native batched TorchRL ``EnvBase`` in pure torch.

B independent rows step together on any device; each row is one episode of the token protocol of
``parity_env.parity.protocol`` (prompt x_1..x_d SEP, then one emitted token per step until EOS or ``max_response_len``
tokens). Given the same prompts and actions it produces exactly what ``ParityCoTEnv`` produces (tested step by step).

Tensordict entries (B = batch size, L = d + 1 + max_response_len)::

    tokens           (B, L) uint8   prompt, SEP, the response so far, PAD after it (see TOKEN_DTYPE)
    prompt_id        (B,)   int64   equal for equal prompts (see protocol.prompt_id_weights)
    parity           (B,)   int64   x_1 xor ... xor x_d
    response_length  (B,)   int64   tokens emitted, EOS included
    is_long          (B,)   bool    more than one bit emitted so far
    is_correct       (B,)   bool    the reward mode's verdict, False until the episode ends
    reward           (B, 1) float32 1.0 on the final step of a correct response, else 0.0
    done, terminated, truncated (B, 1) bool
    action           (B,)   int64   the emitted token: 0, 1 or EOS (2)
    bits             (B, d) int64   optional, read at reset: fixes the prompts of the rows reset (or ``problems``,
                                    the generic envs' name for the same)

Prompts and groups: a reset without a ``_reset`` mask draws a fresh 64-bit key from the env's private generator (seeded
by ``seed`` / ``set_seed``), and row r starts with its block's prompt 0, ``protocol.hashed_prompt_bits(key, r //
group_size, 0, d)``, as in the numpy vector env. With ``group_size`` G > 1, row r's k-th episode uses block r // G's
k-th prompt however the rows finish, so each block of G consecutive rows shares one prompt per episode. With G = 1 the
later prompts are dealt like cards from a deck in episode-major order (prompt 1 of rows 0 .. B - 1, then prompt 2, ...),
one to each row reset, in row order: the rows still get independent uniform prompts, prepared thousands at a time. A
``bits`` entry overrides the prompts of the rows reset (it takes no card from the deck; with groups it still uses up the
block's prompt, so the group stays aligned). All of this is ``parity_env.parity.prompt_supply``'s job: the env hands it
the key at a full reset and asks it for the next starts of the rows it resets.

Implementation: the env is stateful (like ``GymEnv``): ``_step`` reads only ``action`` (and TorchRL's ``_step``
partial-step mask) from the input tensordict. A row's state is a row of the step table of
``parity_env.parity.step_table`` (index ``idx``); a step gathers the rows ``code + action`` into a fresh (B, N_COLUMNS)
block whose views are the output entries, copies the tokens and puts the action in. ``step_and_maybe_reset`` (what
rollouts and collectors call) is overridden to fuse step, step_mdp and the reset of the finished rows: the step writes
its tokens into the first B rows of a spare tensor, the finished rows' next starts are copied into the rows after them,
and the next root's tokens are one row gather from it; its block is one gather from the table (a reset row's state is
the initial state of its prompt's parity). Every output tensor is fresh whenever the state changed (root entries the
step leaves unchanged are carried as they are, as step_mdp carries them); the env keeps the latest tensors as its state,
so do not modify outputs in place.

Cost: a fused step with resets is a fixed few dozen tensor calls whatever B, so small batches pay the per-call
overhead and large ones the memory traffic (two fresh (B, L) token tensors and two (B, N_COLUMNS) blocks a step, and
the deck's preparation per dealt prompt). ``benchmarks/env_step_profile.py`` prints where a step goes;
benchmarks/README.md has the measurements.

Run ``python -m parity_env.parity.torch_env`` for a short random rollout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import torch
from tensordict import TensorDictBase
from torchrl.data import Categorical

from ..checks import check_seed, make_rng
from ..envs.base import BatchedTorchEnv, check_batch
from ..registry import resolve_task
from .prompt_supply import PromptSupply
from .protocol import N_ACTIONS, PAD, VOCAB_SIZE, chain_positions
from .step_table import (
    CODE,
    CORRECT,
    DONE,
    FLAGS,
    ILLEGAL,
    IS_LONG,
    NOOP,
    PARITY,
    RESP_LEN,
    TERMINATED,
    TRUNCATED_FLAG,
    initial_code,
    step_table,
)

if TYPE_CHECKING:
    from .task import ParityTask

TOKEN_DTYPE = torch.uint8
"""dtype of the ``tokens`` entry: every step hands out a fresh (B, L) token tensor (a rollout keeps each step's), and in
bytes rather than int64 those copies move 8x less memory, the largest saving at large B (the numpy envs keep int64;
the values are equal). ``agents.models.gpt.GPT`` reads any integer dtype."""
MAX_RESPONSE_LEN = 4096
"""Longest response the env's step table is built for: the table holds 384 rows of 32 bytes per response slot (50 MB
at 4096); the numpy envs, whose memory is their token buffers only, have no such limit."""


class _Block(NamedTuple):
    """A block (B, N_COLUMNS) of step-table rows and the views of it that the env reads and hands out.

    Made once per block rather than at every read.
    """

    rows: torch.Tensor  # (B, N_COLUMNS) int64
    resp_len: torch.Tensor  # (B,) int64
    parity: torch.Tensor  # (B,) int64
    flags: torch.Tensor  # (B, 8) bool: FLAG_NAMES, then padding


def _block(rows: torch.Tensor) -> _Block:
    cols = rows.unbind(1)
    flags = rows.view(torch.bool).narrow(1, 8 * FLAGS, 8)  # byte k of column FLAGS is flag k
    return _Block(rows, cols[RESP_LEN], cols[PARITY], flags)


@dataclass
class _Rows:
    """The per-row state.

    ``tokens``, ``block`` and ``prompt_id`` are handed out (the block as views) in the tensordicts, so they are
    replaced, never written in place; the others are the env's own (the prompt key, streams, counters and deck are
    the PromptSupply's).
    """

    tokens: torch.Tensor  # (B, L)
    idx: torch.Tensor  # (B,) int64 the row of the step table holding each row's state
    block: _Block  # of (B, N_COLUMNS): the step-table rows idx
    prompt_id: torch.Tensor  # (B,)
    chain: torch.Tensor  # (B, R) the chain of thought, -1 after its end ("cot" only; else (B, 0))
    some_finished: bool = False  # whether some row's episode may have ended and not been reset yet


class ParityCoTTorchEnv(BatchedTorchEnv):
    """Native batched TorchRL env of the ParityCoT task (see the module docstring for entries and groups).

    Args:
        task: the ``parity_env.Task`` (or its dict); or give its fields as the keywords d, leap, max_response_len,
            reward, p_long (None: the Task default), not both.
        d: number of prompt bits (>= 2).
        batch_size: ``[B]``, the number of rows stepped together.
        device: where every tensor lives.
        leap: keep every leap-th prefix parity in the chain (1 <= leap <= d - 1); used by ``reward="cot"``.
        max_response_len: tokens a row may emit before it is truncated (default d + 1).
        reward: "answer" (last bit before EOS equals the parity) or "cot" (exact short answer or exact chain).
        group_size: rows per block sharing a prompt; must divide B.
        p_long: fraction of long demonstrations returned by ``sample_demonstrations``; never changes the dynamics.
        seed: seed of the private generator (None: nondeterministic).
    """

    batch_locked = True

    def __init__(
        self,
        d: int | None = None,
        batch_size: Sequence[int] | torch.Size = (1,),
        device: Any = "cpu",
        leap: int | None = None,
        max_response_len: int | None = None,
        reward: str | None = None,
        group_size: int = 1,
        p_long: float | None = None,
        seed: int | None = None,
        task: ParityTask | dict | None = None,
    ):
        self.task: ParityTask = cast("ParityTask", resolve_task(task, "parity", d=d, p_long=p_long, leap=leap,
                                                                max_response_len=max_response_len, reward=reward))
        seed = check_seed(seed)
        d, leap, max_response_len = self.task.d, self.task.leap, self.task.max_response_len
        assert max_response_len is not None  # ParityTask's check_settings made it an int
        if max_response_len > MAX_RESPONSE_LEN:
            raise ValueError(f"max_response_len must be <= {MAX_RESPONSE_LEN} in ParityCoTTorchEnv, whose step table "
                             f"grows with it (got {max_response_len}; its default is d + 1): give a smaller one, or "
                             "use ParityCoTVectorEnv, which has no such limit")
        reward, p_long = self.task.reward, self.task.p_long
        batch_size, n_rows, group_size = check_batch(batch_size, group_size)
        super().__init__(device=device, batch_size=batch_size)
        self.d, self.leap, self.max_response_len, self.reward_mode = d, leap, max_response_len, reward
        self.group_size, self.p_long, self._n_rows = group_size, p_long, n_rows
        self.seq_len = d + 1 + max_response_len
        self.chain_len = self.task.chain_length
        dev = self.device
        self._table = torch.as_tensor(step_table(d, leap, max_response_len, reward), device=dev)  # (T, N_COLUMNS)
        self._start_rows = torch.tensor([initial_code(p) + NOOP for p in (0, 1)], device=dev)  # (2,) by parity
        self._chain_pos = torch.as_tensor(chain_positions(d, leap), device=dev)  # (m,)
        self._row_ids = torch.arange(n_rows, device=dev)  # (B,) for _reset_rows' gather
        self._action_shape = torch.Size([n_rows])
        self._spare_ids = torch.arange(n_rows, 2 * n_rows, device=dev)  # (B,) the spare token rows, idem
        self._response_start = torch.arange(n_rows, device=dev) * self.seq_len + d + 1  # (B,) flat index of slot 0
        self._prompts = PromptSupply(d, n_rows, group_size, self.seq_len, self._start_rows, TOKEN_DTYPE, dev)
        self._make_specs(n_rows, VOCAB_SIZE, TOKEN_DTYPE, N_ACTIONS,
                         parity=Categorical(2, shape=(n_rows,), dtype=torch.int64, device=dev))
        self._rng = torch.Generator(device=dev)
        self._demo_rng = make_rng(seed)
        self._state: _Rows | None = None  # set by the first reset (a plain object: nn.Module attributes are slow)
        self._set_seed(seed)

    # ------------------------------------------------------------------------------------------------ reset
    def _read_bits(self, tensordict: TensorDictBase | None) -> torch.Tensor | None:
        bits = None if tensordict is None else tensordict.get("bits", tensordict.get("problems", None))
        if bits is None:
            return None
        n, d, G = self.batch_size[0], self.d, self.group_size
        if not isinstance(bits, torch.Tensor) or bits.dtype == torch.bool or bits.is_floating_point():
            raise TypeError(f"bits must be an integer tensor of 0s and 1s; got {getattr(bits, 'dtype', type(bits))}")
        if tuple(bits.shape) != (n, d):
            raise ValueError(f"bits must have shape (B, d) = ({n}, {d}); got {tuple(bits.shape)}")
        bits = bits.to(self.device, torch.int64)
        bad = (bits != 0) & (bits != 1)
        if bad.any():
            raise ValueError(f"bits must hold only 0 and 1; got values {bits[bad][:5].tolist()}")
        blocks = bits.view(n // G, G, d)
        if G > 1 and (blocks != blocks[:, :1]).any():
            raise ValueError(f"bits must be equal within each block of group_size = {G} consecutive rows")
        return bits

    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs) -> TensorDictBase:
        n, dev = self._n_rows, self.device
        mask = None if tensordict is None else tensordict.get("_reset", None)
        given = self._read_bits(tensordict)
        if mask is None or self._state is None:  # a full reset: a fresh key, every row back to its stream's start
            key = torch.randint(-(2**63), 2**63 - 1, (), generator=self._rng, device=dev)
            self._prompts.full_reset(key)
            chain_cols = self.max_response_len if self.reward_mode == "cot" else 0
            idx = self._start_rows[:1].expand(n).clone()  # (B,) every row rewritten below
            self._state = _Rows(
                tokens=torch.full((n, self.seq_len), PAD, dtype=TOKEN_DTYPE, device=dev),  # (B, L) idem
                idx=idx,
                block=_block(self._table.index_select(0, idx)),
                prompt_id=torch.zeros(n, dtype=torch.int64, device=dev),
                chain=torch.full((n, chain_cols), -1, dtype=torch.int64, device=dev),  # (B, R) "cot", else (B, 0)
            )
            mask = torch.ones(n, dtype=torch.bool, device=dev)
        rows = mask.reshape(n).nonzero().squeeze(1)  # (N,)
        if rows.shape[0]:
            spare = torch.empty(n + rows.shape[0], self.seq_len, dtype=TOKEN_DTYPE, device=dev)
            spare[:n].copy_(self._state.tokens)
            self._reset_rows(rows, given, spare)
        return self._output(with_reward=False)

    def _reset_rows(self, rows: torch.Tensor, given: torch.Tensor | None, spare: torch.Tensor) -> None:
        """Start the next episode of rows ``rows`` (N,), not empty.

        Their next prompt from the PromptSupply, or ``given`` (B, d).

        ``spare`` (B + N, L) holds the current tokens in its first B rows; the N new starts are written in the
        others and the new tokens are one row gather from it (on the CPU, writing rows into a copy with index_copy_
        is several times slower than the gather). The new block is one gather from the step table.
        """
        st, n, N = self._state, self._n_rows, rows.shape[0]
        assert st is not None  # set by the first reset
        fresh = spare[n:]  # (N, L)
        bits = None if given is None else given.index_select(0, rows)  # (N, d)
        start, prompt_id = self._prompts.next_starts(rows, fresh, bits)
        source_row = self._row_ids.index_put((rows,), self._spare_ids[:N])  # (B,) out of place
        st.tokens = spare.index_select(0, source_row)  # (B, L)
        st.idx = st.idx.index_put((rows,), start)
        st.block = _block(self._table.index_select(0, st.idx))
        st.prompt_id = st.prompt_id.index_put((rows,), prompt_id)
        if self.reward_mode == "cot":  # the env's own tensor: written in place
            m = min(self.chain_len, self.max_response_len)
            chain = torch.full((N, self.max_response_len), -1, dtype=torch.int64, device=self.device)
            prefix = torch.cumsum(fresh[:, : self.d], dim=1) & 1  # (N, d) prefix parities
            chain[:, :m] = prefix[:, self._chain_pos[:m]]  # the kept ones
            st.chain.index_copy_(0, rows, chain)

    # ------------------------------------------------------------------------------------------------ step
    def _advance(
        self, action: torch.Tensor, step_mask: torch.Tensor | None = None, reset_room: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of every row with ``action`` (B,): replaces ``tokens``, ``idx`` and ``block``.

        Only of the rows in ``step_mask`` (B,) or (B, 1), TorchRL's partial-step mask, when given.

        Returns the finished rows (N,) (empty when none) and the tensor (B + N', L) whose first B rows are the new
        tokens: N' = N with ``reset_room`` (room for ``_reset_rows`` to write their next starts in), else 0.
        """
        st = self._state
        if st is None:
            raise RuntimeError("step called before reset: call env.reset() first")
        if action.dtype != torch.int64:
            raise TypeError(f"action must be an int64 tensor of tokens in {{0, 1, 2}}; got dtype {action.dtype}")
        if action.shape != self._action_shape:
            if action.shape != self._action_shape + (1,):
                raise ValueError(f"action must have shape (B,) = {tuple(self._action_shape)} (or (B, 1)); got "
                                 f"{tuple(action.shape)}")
            action = action.reshape(-1)  # TorchRL's categorical specs often give a trailing 1
        if step_mask is not None:
            step_mask = step_mask.reshape(-1)  # (B,)
            action = torch.where(step_mask, action, 0)
        low, high = torch.aminmax(action)
        if low.item() < 0 or high.item() >= N_ACTIONS:
            bad = (action < 0) | (action >= N_ACTIONS)
            raise ValueError(f"action must be 0, 1 or 2 (EOS); got values {action[bad][:5].tolist()}")
        n, prev = self._n_rows, st.block
        column = action if step_mask is None else torch.where(step_mask, action, NOOP)  # (B,) table column
        code = prev.rows.view(torch.int32).select(1, 2 * CODE)  # (B,) bytes 0..3 of column CODE: the state code
        idx = code + column  # (B,) int64 rows of the step table
        if self.reward_mode == "cot":  # hit: the action is the next chain bit
            target = st.chain.gather(1, prev.resp_len.clamp(max=self.max_response_len - 1)[:, None]).squeeze(1)
            idx = idx + (target == action) * 4
        block = _block(self._table.index_select(0, idx))  # (B, N_COLUMNS) fresh: every output entry is a view of it
        if st.some_finished:  # (no row can be finished otherwise: skip the check)
            illegal = block.flags.select(1, ILLEGAL)
            if illegal.any().item():
                rows = illegal.nonzero().squeeze(-1)[:5].tolist()
                raise RuntimeError(f"step called on finished rows {rows}: reset them first (pass a '_reset' mask)")
        (finished,) = torch.where(block.flags.select(1, DONE))  # (N,) rows whose episode ended (or had)
        st.some_finished = finished.shape[0] > 0
        spare = torch.empty(n + finished.shape[0] * reset_room, self.seq_len, dtype=TOKEN_DTYPE, device=self.device)
        tokens = spare[:n]  # (B, L) fresh: the previous one stays with the caller
        tokens.copy_(st.tokens)
        if step_mask is None:
            tokens.put_(self._response_start + prev.resp_len, action.to(TOKEN_DTYPE))  # flat positions (B,)
        else:  # rows not stepped write their current token back (positions clamped: finished rows may be full)
            pos = self._response_start + prev.resp_len.clamp(max=self.max_response_len - 1)  # (B,)
            tokens.put_(pos, torch.where(step_mask, action.to(TOKEN_DTYPE), tokens.take(pos)))
        st.tokens, st.idx, st.block = tokens, idx, block
        return finished, spare

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        self._advance(tensordict.get("action"), tensordict.get("_step", None))
        return self._output(with_reward=True)

    def _advance_fused(self, action: torch.Tensor) -> Callable[[], None] | None:
        finished, spare = self._advance(action, reset_room=True)
        if not finished.shape[0]:
            return None

        def reset_finished() -> None:
            self._reset_rows(finished, None, spare)
            assert self._state is not None  # stepped: set by the first reset
            self._state.some_finished = False  # every finished row was reset

        return reset_finished

    def _entries(self, with_reward: bool) -> dict[str, torch.Tensor]:
        """The env's entries for the current state: the tokens, the prompt ids and views of the block.

        The state is replaced, never written in place, so every entry is fresh whenever the state changed.
        """
        st = self._state
        assert st is not None  # set by the first reset
        flags = st.block.flags
        out = {
            "tokens": st.tokens,
            "prompt_id": st.prompt_id,
            "parity": st.block.parity,
            "response_length": st.block.resp_len,
            "is_long": flags.select(1, IS_LONG),
            "is_correct": flags.select(1, CORRECT),
            "done": flags.narrow(1, DONE, 1),  # (B, 1)
            "terminated": flags.narrow(1, TERMINATED, 1),
            "truncated": flags.narrow(1, TRUNCATED_FLAG, 1),
        }
        if with_reward:  # (B, 1): bytes 4..7 of the CODE column
            out["reward"] = st.block.rows.view(torch.float32).narrow(1, 2 * CODE + 1, 1)
        return out


if __name__ == "__main__":
    from torchrl.envs.utils import check_env_specs

    from .protocol import format_tokens

    env = ParityCoTTorchEnv(d=6, batch_size=[4], seed=0)
    check_env_specs(env)
    rollout = env.rollout(8, break_when_any_done=False)
    for row in rollout["next", "tokens"][:, -1]:
        print(format_tokens(row.numpy()))
    print("rewards", rollout["next", "reward"].squeeze(-1).T.tolist())
