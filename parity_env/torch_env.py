"""ParityCoTTorchEnv: the parity-with-chain-of-thought task as a native batched TorchRL ``EnvBase`` in pure torch.

B independent rows step together on any device; each row is one episode of the token protocol of
``parity_env.protocol`` (prompt x_1..x_d SEP, then one emitted token per step until EOS or ``max_response_len``
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
    bits             (B, d) int64   optional, read at reset: fixes the prompts of the rows reset

Prompts and groups: each block of ``group_size`` consecutive rows shares one prompt. A reset without a ``_reset``
mask draws a fresh 64-bit key from the env's private generator (seeded by ``seed`` / ``set_seed``) and restarts every
row's episode counter at 0; any later reset of a row (a ``_reset`` mask, or the auto-reset of
``step_and_maybe_reset``) advances its counter. Row r's k-th episode uses the prompt
``protocol.hashed_prompt_bits(key, r // group_size, k, d)`` (a counter-based SplitMix64 stream per block, the same
function as the numpy vector env's), so row r's k-th episode always uses its block's k-th prompt and groups stay
complete however the rows finish. A ``bits`` entry overrides the prompts of the rows reset for that episode only.

Implementation: the env is stateful (like ``GymEnv``): ``_step`` reads only ``action`` (and TorchRL's ``_step``
partial-step mask) from the input tensordict. A step is one row lookup in a step table built once per env (see
``step_table``): the (B, 6) int64 block it returns holds the next state code, response_length, parity, the reward
and the done / terminated / truncated / is_correct / is_long flags, and every one of those entries is a view of it.
Beyond that a step makes one copy of the token tensor and one put of the action. ``step_and_maybe_reset`` (what
rollouts and collectors call) is overridden to fuse step, step_mdp and the partial reset: the finished rows' next
prompts are built in spare rows of the step's token copy and the next root's tokens are one row gather from it.
Prompts are hashed ahead in a per-row pool of ``POOL_SIZE``. Every output tensor is fresh whenever the state
changed (the root entries that a step leaves unchanged, such as prompt_id, are carried as they are, as step_mdp
carries them); the env keeps the latest tensors as its state, so do not modify outputs in place.

Cost (``benchmarks/env_throughput.py`` prints where a step goes): a step is ~25 tensor ops plus ~30 views whatever
B (the ~20 output entries alone, views of the step's block, cost 3x TorchRL's whole fused step machinery), so below
B ~ 4096 the time is per-call overhead, half of it in the reset of the finished rows; above, it is the reset's
gathers and copies of (B, L) bytes and (B, 6) int64 blocks.

Run ``python -m parity_env.torch_env`` for a short random rollout.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase, is_tensor_collection
from torchrl.data import Bounded, Categorical, Composite, Unbounded
from torchrl.envs import EnvBase

from .demonstrations import make_rng, sample_demonstrations
from .protocol import (
    EOS,
    N_ACTIONS,
    PAD,
    SEP,
    VOCAB_SIZE,
    chain_length,
    chain_positions,
    check_int,
    check_probability,
    check_reward_mode,
    check_task,
    prompt_id_weights,
    splitmix64_consts,
)

# The step is one row lookup in a step table built once per env (``step_table``): a row's state code packs
# (tokens emitted n, last bit vs parity, chain still right, parity, status), and the table row of (state, hit, action)
# holds everything the step outputs, so one index_select gives the next state and every output entry at once.
LAST_NONE, LAST_RIGHT, LAST_WRONG = 0, 1, 2  # the last bit emitted: none yet / equals the parity / does not
RUNNING, TERM_RIGHT, TERM_WRONG, TRUNCATED = 0, 1, 2, 3  # status
POOL_SIZE = 32  # prompts hashed ahead per row (see ParityCoTTorchEnv._next_prompts), fewer for huge B * d
POOL_MAX_WORDS = 1 << 22  # at most 32 MB of pooled hash words
NOOP = 3  # the action index of rows that TorchRL's "_step" mask leaves alone
DONE, TERMINATED, TRUNCATED_FLAG, CORRECT, IS_LONG, ILLEGAL = range(6)  # columns of transition_tables' flags
# Columns of the step table, and of the (B, 6) int64 block the env keeps per row (the table row of its last step):
# REWARD holds the float32 reward in its first 4 bytes and FLAGS one bool per byte (DONE .. IS_LONG), so the entries
# are views of the block; CHECK = done + 2 * illegal: its nonzero rows are the finished ones, and max() >= 2 flags a
# step of a finished row (checked only while some row may be finished: ``_Rows.some_finished``).
NEXT_CODE, RESP_LEN, REWARD, FLAGS, CHECK, PARITY = range(6)
N_COLUMNS = 6
TOKEN_DTYPE = torch.uint8
"""dtype of the ``tokens`` entry: every step hands out a fresh (B, L) token tensor (a rollout keeps each step's), and in
bytes rather than int64 those copies move 8x less memory, the largest saving at large B (the numpy envs keep int64;
the values are equal). ``agents.model.GPT`` reads any integer dtype."""


def state_index(n, last, ok, parity, status):
    """The state number of (n tokens emitted, last, chain ok, parity, status); works on ints and arrays."""
    return (((n * 3 + last) * 2 + ok) * 2 + parity) * 4 + status


def transition_tables(d: int, leap: int, max_response_len: int, reward: str) -> dict[str, np.ndarray]:
    """Tables indexed by i = 8 * state + 4 * hit + action (action 0, 1, EOS or NOOP; hit: the action equals the next
    chain bit, used by "cot" only): ``next`` (8 * next state), ``length`` (tokens emitted after the step), ``parity``,
    ``flags`` (bool: done, terminated, truncated, correct, is_long, illegal) and ``reward`` (float32). Built from the
    rules of ``protocol.is_correct``."""
    R, m = max_response_len, chain_length(d, leap)
    n, last, ok, par, status, hit, act = np.meshgrid(
        np.arange(R + 1), np.arange(3), np.arange(2), np.arange(2), np.arange(4), np.arange(2), np.arange(4),
        indexing="ij",
    )
    # raveled in "ij" order, entry i is exactly state_index(...) * 8 + hit * 4 + act
    n, last, ok, par, status, hit, act = (x.ravel() for x in (n, last, ok, par, status, hit, act))
    running, is_bit, is_eos, noop = status == RUNNING, act < EOS, act == EOS, act == NOOP
    # a bit: one more token; the last bit is compared with the parity; the chain stays right only on a hit
    last_bit = np.where(act == par, LAST_RIGHT, LAST_WRONG)
    status_bit = np.where(n + 1 >= R, TRUNCATED, RUNNING)
    # EOS: the verdict of the reward mode on the bits emitted so far
    if reward == "answer":
        right = last == LAST_RIGHT
    else:
        right = ((n == 1) & (last == LAST_RIGHT)) | ((n == m) & (ok == 1))
    status_eos = np.where(right, TERM_RIGHT, TERM_WRONG)
    step = running & ~noop & (n < R)
    new_n = np.where(step, n + 1, n)  # step implies n < R
    new_last = np.where(step & is_bit, last_bit, last)
    new_ok = np.where(step & is_bit, ok & hit, ok)
    new_status = np.where(step, np.where(is_bit, status_bit, status_eos), status)
    nxt = state_index(new_n, new_last, new_ok, par, new_status) * 8
    term = (new_status == TERM_RIGHT) | (new_status == TERM_WRONG)
    trunc = new_status == TRUNCATED
    n_bits = new_n - term  # EOS is not a bit
    flags = np.stack(
        [term | trunc, term, trunc, new_status == TERM_RIGHT, n_bits > 1, ~noop & ~step], axis=1
    )  # (T, 6)
    rewards = (step & is_eos & right).astype(np.float32)[:, None]  # (T, 1)
    return {"next": nxt.astype(np.int64), "length": new_n, "parity": par, "flags": flags, "reward": rewards}


def step_table(d: int, leap: int, max_response_len: int, reward: str) -> np.ndarray:
    """``transition_tables`` packed into one (T, N_COLUMNS) int64 table (columns NEXT_CODE .. PARITY above).

    The reward and the flags are written through byte views of their columns, so that the env reads them back
    through the same byte views (``ParityCoTTorchEnv._entries``) whatever the machine's byte order."""
    t = transition_tables(d, leap, max_response_len, reward)
    n_rows = len(t["next"])
    reward_col = np.zeros(n_rows, dtype=np.int64)
    reward_col.view(np.float32).reshape(n_rows, 2)[:, 0] = t["reward"][:, 0]  # bytes 0..3: the float32 reward
    flags_col = np.zeros(n_rows, dtype=np.int64)
    flags_col.view(np.uint8).reshape(n_rows, 8)[:, : IS_LONG + 1] = t["flags"][:, : IS_LONG + 1]  # byte k: flag k
    check = t["flags"][:, DONE].astype(np.int64) + 2 * t["flags"][:, ILLEGAL]
    return np.stack([t["next"], t["length"], reward_col, flags_col, check, t["parity"]], axis=1)  # (T, 6)


def _wrap64(x: int) -> int:
    """A Python int reduced to the signed int64 it wraps to (torch has no uint64 arithmetic)."""
    return (x + 2**63) % 2**64 - 2**63


def _lsr(x: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of int64 ``x`` read as uint64 (torch's >> on int64 is arithmetic)."""
    return (x >> s).bitwise_and_((1 << (64 - s)) - 1)


def splitmix64_torch(x: torch.Tensor) -> torch.Tensor:
    """The splitmix64 finaliser on int64 tensors (wrapping arithmetic); bit-identical to protocol.splitmix64.

    In place after the first add: the prompt pool hashes B x POOL_SIZE words at a time, and fresh temporaries of that
    size cost more than the arithmetic."""
    golden, mul1, mul2 = splitmix64_consts()
    x = x + golden
    x.bitwise_xor_(_lsr(x, 30)).mul_(mul1)
    x.bitwise_xor_(_lsr(x, 27)).mul_(mul2)
    return x.bitwise_xor_(_lsr(x, 31))


def prompt_streams_torch(key: torch.Tensor, block: torch.Tensor) -> torch.Tensor:
    """The SplitMix64 stream seeds (N,) of blocks ``block`` (N,) under ``key`` (see protocol.hashed_prompt_bits)."""
    return splitmix64_torch(key + block)


def stream_prompt_words_torch(counter: torch.Tensor, d: int) -> torch.Tensor:
    """The W = ceil(d / 32) hash words (N, W) of the prompts at stream positions ``counter`` (N,)."""
    golden = splitmix64_consts()[0]
    n_words = -(-d // 32)
    if n_words > 1:
        counter = counter[:, None] + torch.arange(n_words, device=counter.device) * golden  # (N, W)
    return splitmix64_torch(counter).reshape(len(counter), n_words)


def unpack_prompt_bits(
    words: torch.Tensor, d: int, out: torch.Tensor | None = None, byte_bits: torch.Tensor | None = None
) -> torch.Tensor:
    """Prompt bits (N, d) from hash words (N, W): bit j is bit j % 32 of word j // 32.

    On little-endian machines, looked up byte by byte in ``byte_bits`` (256, 8) (row b: the bits of b; ``BYTE_BITS``
    on the words' device, cached by the env): one gather of N x d bytes, 3x faster than shifting at B = 16384.
    Elsewhere shifted out of the words. ``out`` (N, d) of any integer dtype."""
    dev = words.device
    if sys.byteorder == "little":
        if byte_bits is None:
            byte_bits = BYTE_BITS.to(dev)
        n_bytes = -(-d // 8)
        raw = words.view(torch.uint8)  # (N, 8 W), least significant byte first
        if words.shape[1] == 1:
            raw = raw[:, :n_bytes]  # (N, n_bytes)
        else:  # byte k (bits 8k .. 8k + 7) is byte k % 4 of word k // 4
            cols = torch.arange(n_bytes, device=dev)
            raw = raw.index_select(1, (cols // 4) * 8 + cols % 4)  # (N, n_bytes)
        bits = byte_bits.index_select(0, raw.reshape(-1).long()).view(len(words), 8 * n_bytes)  # (N, 8 n_bytes)
        bits = bits[:, :d]  # (N, d)
        return bits if out is None else out.copy_(bits)
    if words.shape[1] > 1:  # word j // 32 for every bit j
        words = words.index_select(1, torch.arange(d, device=dev) // 32)  # (N, d)
    return torch.bitwise_and(words >> (torch.arange(d, device=dev) % 32), 1, out=out)  # (N, d)


BYTE_BITS = ((torch.arange(256)[:, None] >> torch.arange(8)) & 1).to(torch.uint8)  # (256, 8): bit k of byte b


def stream_prompt_bits_torch(counter: torch.Tensor, d: int) -> torch.Tensor:
    """Prompt bits (N, d) int64 at stream positions ``counter`` (N,) = seed + k W golden (prompt k of a stream)."""
    return unpack_prompt_bits(stream_prompt_words_torch(counter, d), d)


def hashed_prompt_bits_torch(key: torch.Tensor, block: torch.Tensor, episode: torch.Tensor, d: int) -> torch.Tensor:
    """Bit-identical torch version of ``protocol.hashed_prompt_bits`` (the env gets the same words from its pool)."""
    n_words = -(-d // 32)
    counter = prompt_streams_torch(key, block) + episode * _wrap64(n_words * splitmix64_consts()[0])
    return stream_prompt_bits_torch(counter, d)


def _shallow_copy(value: Any) -> Any:
    """A root entry as step_mdp carries it: tensors as they are, tensordicts as shallow copies."""
    return value if type(value) is torch.Tensor or not is_tensor_collection(value) else value.copy()


@dataclass
class _Rows:
    """The per-row state (every tensor (B,) unless noted). ``tokens``, ``block`` and ``prompt_id`` are handed out in
    the tensordicts, so they are replaced, never written in place; the others are the env's own."""

    key: torch.Tensor  # () the prompt key drawn at the last full reset
    stream: torch.Tensor  # seed of the row's block's SplitMix64 prompt stream
    pool_start: torch.Tensor  # episode of slot 0 of the row's prompt pool
    slot: torch.Tensor  # pool slot of the row's current episode (its episode is pool_start + slot)
    pool: torch.Tensor  # (B * K, W) hash words: row r's episode pool_start[r] + k at r * K + k
    tokens: torch.Tensor  # (B, L)
    block: torch.Tensor  # (B, N_COLUMNS) the step-table row of the row's state (NEXT_CODE: its code)
    prompt_id: torch.Tensor
    chain: torch.Tensor  # (B, R) the chain of thought, -1 after its end ("cot" only; else (B, 0))
    some_finished: bool = False  # whether some row's episode may have ended and not been reset yet
    pool_calls: int = 0  # _next_prompts calls since the pool was filled: no slot can exceed pool_calls - 1


class ParityCoTTorchEnv(EnvBase):
    """Native batched TorchRL env of the ParityCoT task (see the module docstring for entries and groups).

    Args:
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
        d: int = 24,
        batch_size: Sequence[int] | torch.Size = (1,),
        device: Any = "cpu",
        leap: int = 1,
        max_response_len: int | None = None,
        reward: str = "answer",
        group_size: int = 1,
        p_long: float = 0.01,
        seed: int | None = None,
    ):
        d, leap, max_response_len = check_task(d, leap, max_response_len)
        reward = check_reward_mode(reward)
        p_long = check_probability("p_long", p_long)
        batch_size = torch.Size(batch_size)
        if len(batch_size) != 1:
            raise ValueError(f"batch_size must have exactly one dimension, [B]; got {list(batch_size)}")
        n_rows = check_int("batch_size[0]", batch_size[0], 1)
        group_size = check_int("group_size", group_size, 1)
        if n_rows % group_size:
            raise ValueError(f"group_size must divide the batch size {n_rows}; got group_size = {group_size}")
        super().__init__(device=device, batch_size=batch_size)
        self.d, self.leap, self.max_response_len, self.reward_mode = d, leap, max_response_len, reward
        self.group_size, self.p_long, self._n_rows = group_size, p_long, n_rows
        self.seq_len = d + 1 + max_response_len
        self.chain_len = chain_length(d, leap)
        dev = self.device
        self._table = torch.as_tensor(step_table(d, leap, max_response_len, reward), device=dev)  # (T, N_COLUMNS)
        init_codes = [state_index(0, LAST_NONE, 1, p, RUNNING) * 8 for p in (0, 1)]
        self._init_block = self._table.index_select(0, torch.tensor(init_codes, device=dev) + NOOP)  # (2, N_COLUMNS)
        self._chain_pos = torch.as_tensor(chain_positions(d, leap), device=dev)  # (m,)
        self._id_weights = torch.as_tensor(prompt_id_weights(d), device=dev)  # (d,)
        self._row_block = torch.arange(n_rows, device=dev) // group_size  # (B,)
        self._row_ids = torch.arange(2 * n_rows, device=dev)  # (2B,) row numbers, for _reset_rows' gather
        self._response_start = torch.arange(n_rows, device=dev) * self.seq_len + d + 1  # (B,) flat index of slot 0
        self._byte_bits = BYTE_BITS.to(dev)  # (256, 8) for unpack_prompt_bits
        self._prompt_step = _wrap64(-(-d // 32) * splitmix64_consts()[0])  # stream advance per prompt
        self._pool_size = max(1, min(POOL_SIZE, POOL_MAX_WORDS // (n_rows * -(-d // 32))))
        self._pool_slots = torch.arange(self._pool_size, device=dev)  # (K,)
        self._template = torch.full((self.seq_len,), PAD, dtype=TOKEN_DTYPE, device=dev)  # (L,)
        self._template[d] = SEP
        self._make_specs(n_rows)
        self._rng = torch.Generator(device=dev)
        self._demo_rng = make_rng(seed)
        self._state: _Rows | None = None  # set by the first reset (a plain object: nn.Module attributes are slow)
        self._set_seed(seed)

    # ------------------------------------------------------------------------------------------------ specs
    def _make_specs(self, n: int) -> None:
        dev, L, R = self.device, self.seq_len, self.max_response_len
        self.observation_spec = Composite(
            tokens=Categorical(VOCAB_SIZE, shape=(n, L), dtype=TOKEN_DTYPE, device=dev),
            prompt_id=Unbounded(shape=(n,), dtype=torch.int64, device=dev),
            parity=Categorical(2, shape=(n,), dtype=torch.int64, device=dev),
            response_length=Bounded(0, R, shape=(n,), dtype=torch.int64, device=dev),
            is_long=Categorical(2, shape=(n,), dtype=torch.bool, device=dev),
            is_correct=Categorical(2, shape=(n,), dtype=torch.bool, device=dev),
            shape=(n,),
            device=dev,
        )
        self.action_spec = Categorical(N_ACTIONS, shape=(n,), dtype=torch.int64, device=dev)
        self.reward_spec = Unbounded(shape=(n, 1), dtype=torch.float32, device=dev)
        self.full_done_spec = Composite(
            done=Categorical(2, shape=(n, 1), dtype=torch.bool, device=dev),
            terminated=Categorical(2, shape=(n, 1), dtype=torch.bool, device=dev),
            truncated=Categorical(2, shape=(n, 1), dtype=torch.bool, device=dev),
            shape=(n,),
            device=dev,
        )

    def _set_seed(self, seed: int | None) -> None:
        if seed is None:
            self._rng.seed()
        else:
            self._rng.manual_seed(check_int("seed", seed, 0) % 2**64)

    # ------------------------------------------------------------------------------------------------ reset
    def _read_bits(self, tensordict: TensorDictBase | None) -> torch.Tensor | None:
        bits = None if tensordict is None else tensordict.get("bits", None)
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
        n, dev = self.batch_size[0], self.device
        mask = None if tensordict is None else tensordict.get("_reset", None)
        given = self._read_bits(tensordict)
        if mask is None or self._state is None:  # full reset: a fresh key, every row back to its stream's start
            key = torch.randint(-(2**63), 2**63 - 1, (), generator=self._rng, device=dev)
            chain_cols = self.max_response_len if self.reward_mode == "cot" else 0
            self._state = _Rows(
                key=key,
                stream=prompt_streams_torch(key, self._row_block),
                pool_start=torch.zeros(n, dtype=torch.int64, device=dev),
                slot=torch.full((n,), -1, dtype=torch.int64, device=dev),  # _next_prompts advances it to 0
                pool=torch.empty(0, -(-self.d // 32), dtype=torch.int64, device=dev),  # filled below
                tokens=self._template.expand(n, -1).clone(),  # (B, L) SEP stays in place from here on
                block=self._init_block[:1].expand(n, -1).clone(),  # (B, N_COLUMNS) every row rewritten below
                prompt_id=torch.zeros(n, dtype=torch.int64, device=dev),
                chain=torch.full((n, chain_cols), -1, dtype=torch.int64, device=dev),  # (B, R) "cot", else (B, 0)
            )
            self._fill_pool()
            mask = torch.ones(n, dtype=torch.bool, device=dev)
        rows = mask.reshape(n).nonzero().squeeze(1)  # (N,)
        if rows.shape[0]:
            self._reset_rows(rows, given)
        return self._output(with_reward=False)

    def _reset_rows(self, rows: torch.Tensor, given: torch.Tensor | None, spare: torch.Tensor | None = None) -> None:
        """Start the next episode of rows ``rows`` (N,), not empty: their block's next prompt, or ``given`` (B, d).

        Replaces ``tokens``, ``block`` and ``prompt_id`` with fresh tensors (handed-out tensordicts share the old
        ones); rows not reset keep their values. ``spare`` (B + N, L), when given, holds the current tokens in its
        first B rows (the step's copy): the N new rows are built in the others and the new token tensor is one row
        gather from it (index_copy_ into a copy costs ~5x a gather on CPU)."""
        st, d, n = self._state, self.d, self._n_rows
        if spare is None:
            spare = torch.empty(n + rows.shape[0], self.seq_len, dtype=TOKEN_DTYPE, device=self.device)
            spare[:n].copy_(st.tokens)
        fresh = spare[n:]  # (N, L)
        fresh.copy_(self._template.expand(rows.shape[0], -1))
        prompt = fresh[:, :d]  # (N, d) view
        if given is None:
            words = self._next_prompts(rows)  # (N, W)
            unpack_prompt_bits(words, d, out=prompt, byte_bits=self._byte_bits)
            prompt_id = words[:, 0] & ((1 << d) - 1) if d <= 32 else (prompt * self._id_weights).sum(dim=1)
        else:
            self._next_prompts(rows)  # a given prompt still uses up the row's episode
            prompt.copy_(given.index_select(0, rows))
            prompt_id = (prompt * self._id_weights).sum(dim=1)  # (N,) wraps above d = 62, as protocol.prompt_ids
        parity = prompt.sum(dim=1) & 1  # (N,)
        source_row = self._row_ids[:n].clone().index_copy_(0, rows, self._row_ids[n : n + rows.shape[0]])  # (B,)
        st.tokens = spare.index_select(0, source_row)  # (B, L)
        st.block = st.block.clone().index_copy_(0, rows, self._init_block.index_select(0, parity))
        st.prompt_id = st.prompt_id.clone().index_copy_(0, rows, prompt_id)
        if self.reward_mode == "cot":  # the env's own tensor: written in place
            m = min(self.chain_len, self.max_response_len)
            chain = torch.full((rows.shape[0], self.max_response_len), -1, dtype=torch.int64, device=self.device)
            chain[:, :m] = (torch.cumsum(prompt, dim=1) & 1)[:, self._chain_pos[:m]]  # kept prefix parities
            st.chain.index_copy_(0, rows, chain)

    def _next_prompts(self, rows: torch.Tensor) -> torch.Tensor:
        """Advance the episodes of rows ``rows`` (N,); the hash words (N, W) of their new prompts.

        Words come from a per-row pool of the next K = POOL_SIZE prompts (fewer for huge B * d), refilled for all
        rows at once when one of these rows runs out, so the 12-op hash runs once every K steps or fewer, not at
        every step."""
        st, K = self._state, self._pool_size
        slot = st.slot.index_select(0, rows) + 1  # (N,)
        st.pool_calls += 1
        if st.pool_calls > K and slot.max().item() >= K:  # a row ran out: restart at every row's next episode
            st.pool_start += st.slot + 1
            st.slot.fill_(-1)
            self._fill_pool()
            st.pool_calls = 1
            slot.zero_()
        st.slot.index_copy_(0, rows, slot)
        return st.pool.index_select(0, torch.add(slot, rows, alpha=K))  # (N, W)

    def _fill_pool(self) -> None:
        """Hash the prompts of episodes pool_start .. pool_start + K - 1 of every row into the pool."""
        st = self._state
        episodes = st.pool_start[:, None] + self._pool_slots  # (B, K)
        counter = st.stream[:, None] + episodes * self._prompt_step  # (B, K) stream positions, wrapping
        st.pool = stream_prompt_words_torch(counter.reshape(-1), self.d)  # (B * K, W)
        st.pool_calls = 0

    # ------------------------------------------------------------------------------------------------ step
    def _advance(self, tensordict: TensorDictBase, spare_finished: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of every row (or of the rows in TorchRL's ``_step`` mask): replaces ``tokens`` and ``block``.

        Returns the finished rows (N,) (empty when none) and the (B + N', L) tensor whose first B rows are the new
        tokens; N' = N with ``spare_finished`` (room for ``_reset_rows`` to build the finished rows' next prompts
        in), else 0."""
        st = self._state
        if st is None:
            raise RuntimeError("step called before reset: call env.reset() first")
        action = tensordict.get("action")
        step_mask = tensordict.get("_step", None)  # TorchRL's partial-step mask: rows not stepped keep their state
        if action.dtype != torch.int64:
            raise TypeError(f"action must be an int64 tensor of tokens in {{0, 1, 2}}; got dtype {action.dtype}")
        if step_mask is not None:
            step_mask = step_mask.reshape(-1)  # (B,)
            action = torch.where(step_mask, action, 0)
        low, high = torch.aminmax(action)
        if low.item() < 0 or high.item() >= N_ACTIONS:
            bad = (action < 0) | (action >= N_ACTIONS)
            raise ValueError(f"action must be 0, 1 or 2 (EOS); got values {action[bad][:5].tolist()}")
        column = action if step_mask is None else torch.where(step_mask, action, NOOP)  # (B,) table column
        resp_len = st.block[:, RESP_LEN]  # (B,) tokens emitted before this step
        idx = st.block[:, NEXT_CODE] + column  # (B,) row of the step table
        if self.reward_mode == "cot":  # hit: the action is the next chain bit
            target = st.chain.gather(1, resp_len.clamp(max=self.max_response_len - 1)[:, None]).squeeze(1)
            idx = idx + (target == action) * 4
        block = self._table.index_select(0, idx)  # (B, N_COLUMNS) fresh: every output entry is a view of it
        check = block[:, CHECK]  # (B,) done + 2 * illegal
        if st.some_finished and check.max().item() >= 2:  # (no row can be finished otherwise: skip the check)
            rows = (check >= 2).nonzero().squeeze(-1)[:5].tolist()
            raise RuntimeError(f"step called on finished rows {rows}: reset them first (pass a '_reset' mask to reset)")
        finished = check.nonzero().squeeze(1)  # (N,) rows whose episode ended (or had ended: rows not stepped)
        st.some_finished = finished.shape[0] > 0
        n = self._n_rows
        spare = torch.empty(n + finished.shape[0] * spare_finished, self.seq_len, dtype=TOKEN_DTYPE, device=self.device)
        tokens = spare[:n]  # (B, L) fresh: the previous one stays with the caller
        tokens.copy_(st.tokens)
        if step_mask is None:
            tokens.put_(self._response_start + resp_len, action.to(TOKEN_DTYPE))  # flat positions (B,)
        else:  # rows not stepped write their current token back (positions clamped: finished rows may be full)
            pos = self._response_start + resp_len.clamp(max=self.max_response_len - 1)  # (B,)
            tokens.put_(pos, torch.where(step_mask, action.to(TOKEN_DTYPE), tokens.take(pos)))
        st.tokens, st.block = tokens, block
        return finished, spare

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        self._advance(tensordict)
        return self._output(with_reward=True)

    def _step_and_maybe_reset(self, tensordict: TensorDictBase) -> tuple[TensorDictBase, TensorDictBase]:
        """EnvBase's step, step_mdp and maybe_reset fused: the step data are built as EnvBase.step builds them, the
        next root as step_mdp does (every root entry but "next", then the next entries but the reward), and the
        finished rows are reset on the env's state directly rather than through ``maybe_reset`` (whose generic
        masked merge costs more than the step itself). Gives the generic path's data (tested), except that carried
        entries the env does not produce (the action, policy outputs) are not zeroed on reset rows. Falls back to the
        generic path for anything unusual (partial steps, preset "next" values, hooks, other devices, lazy stacks).
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
        finished, spare = self._advance(tensordict, spare_finished=True)
        entries = self._entries(with_reward=True)
        next_td = TensorDict._new_unsafe(entries, batch_size=self.batch_size, device=self.device)
        root = {key: v if type(v) is torch.Tensor else _shallow_copy(v) for key, v in tensordict._tensordict.items()}
        tensordict._set_str("next", next_td, validated=True, inplace=False, non_blocking=False)
        if finished.shape[0]:
            self._reset_rows(finished, None, spare)
            self._state.some_finished = False  # every finished row was reset
            root.update(self._entries(with_reward=False))
        else:
            del entries["reward"]
            root.update(entries)
        return tensordict, TensorDict._new_unsafe(root, batch_size=self.batch_size, device=self.device)

    def _output(self, with_reward: bool) -> TensorDictBase:
        """The tensordict of the current state, built without validation."""
        return TensorDict._new_unsafe(self._entries(with_reward), batch_size=self.batch_size, device=self.device)

    def _entries(self, with_reward: bool) -> dict[str, torch.Tensor]:
        """The env's entries for the current state: ``tokens``, ``prompt_id`` and views of the state block (state
        tensors are replaced, never written in place, so every entry is fresh whenever the state changed)."""
        st = self._state
        block = st.block  # (B, N_COLUMNS)
        flags = block.view(torch.uint8)[:, 8 * FLAGS : 8 * FLAGS + 8].view(torch.bool)  # (B, 8): byte k is flag k
        out = {
            "tokens": st.tokens,
            "prompt_id": st.prompt_id,
            "parity": block[:, PARITY],
            "response_length": block[:, RESP_LEN],
            "is_long": flags[:, IS_LONG],
            "is_correct": flags[:, CORRECT],
            "done": flags[:, DONE : DONE + 1],  # (B, 1)
            "terminated": flags[:, TERMINATED : TERMINATED + 1],
            "truncated": flags[:, TRUNCATED_FLAG : TRUNCATED_FLAG + 1],
        }
        if with_reward:  # (B, 1): bytes 0..3 of the REWARD column
            out["reward"] = block.view(torch.float32)[:, 2 * REWARD : 2 * REWARD + 1]
        return out

    def _step_proc_data(self, next_tensordict: TensorDictBase) -> TensorDictBase:
        """Skip EnvBase's per-step reshaping and done completion: ``_output`` already returns every done key and the
        reward in their spec shapes (check_env_specs verifies it). Type checks still run when run_type_checks is set."""
        if self.run_type_checks:
            return super()._step_proc_data(next_tensordict)
        return next_tensordict

    # ------------------------------------------------------------------------------------------------ data
    def sample_demonstrations(self, n: int, seed: Any = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``n`` demonstrations of this env's task as torch tensors on its device (see parity_env.demonstrations).

        Draws from the env's own demonstration generator (seeded by the constructor's ``seed``), never from the
        episode generator, unless ``seed`` is given.
        """
        rng = self._demo_rng if seed is None else make_rng(seed)
        arrays = sample_demonstrations(n, self.d, self.p_long, self.leap, self.max_response_len, seed=rng)
        return tuple(torch.from_numpy(np.ascontiguousarray(a)).to(self.device) for a in arrays)


if __name__ == "__main__":
    from torchrl.envs.utils import check_env_specs

    from .protocol import format_tokens

    env = ParityCoTTorchEnv(d=6, batch_size=[4], seed=0)
    check_env_specs(env)
    rollout = env.rollout(8, break_when_any_done=False)
    for row in rollout["next", "tokens"][:, -1]:
        print(format_tokens(row.numpy()))
    print("rewards", rollout["next", "reward"].squeeze(-1).T.tolist())
