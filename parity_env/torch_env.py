"""ParityCoTTorchEnv: the parity-with-chain-of-thought task as a native batched TorchRL ``EnvBase`` in pure torch.

B independent rows step together on any device; each row is one episode of the token protocol of
``parity_env.protocol`` (prompt x_1..x_d SEP, then one emitted token per step until EOS or ``max_response_len``
tokens). Given the same prompts and actions it produces exactly what ``ParityCoTEnv`` produces (tested step by step).

Tensordict entries (B = batch size, L = d + 1 + max_response_len)::

    tokens           (B, L) int64   prompt, SEP, the response so far, PAD after it
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
partial-step mask) from the input tensordict. A step is a lookup in transition tables built once per env (see
``transition_tables``), one copy of the token tensor and a put of the action; resets are elementwise over all rows
(scattering rows is slower on CPU), with prompts hashed ahead in a per-row pool of ``POOL_SIZE``.
``step_and_maybe_reset`` (what rollouts and collectors call) is overridden to fuse step, step_mdp and the partial
reset. Every output tensor is fresh at each step (done, terminated, truncated, is_correct and is_long are views of
one fresh (B, 6) flags tensor); the env keeps the latest ``tokens`` as its state, so do not modify outputs in place.

Run ``python -m parity_env.torch_env`` for a short random rollout.
"""

from __future__ import annotations

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

# The step is a lookup in transition tables built once per env (``transition_tables``): a row's state code packs
# (tokens emitted n, last bit vs parity, chain still right, parity, status), so one step costs a handful of tensor
# ops whatever the reward mode, instead of a few dozen comparisons.
LAST_NONE, LAST_RIGHT, LAST_WRONG = 0, 1, 2  # the last bit emitted: none yet / equals the parity / does not
RUNNING, TERM_RIGHT, TERM_WRONG, TRUNCATED = 0, 1, 2, 3  # status
POOL_SIZE = 32  # prompts hashed ahead per row (see ParityCoTTorchEnv._current_words)
NOOP = 3  # the action index of rows that TorchRL's "_step" mask leaves alone
DONE, TERMINATED, TRUNCATED_FLAG, CORRECT, IS_LONG, ILLEGAL = range(6)  # columns of the flags table


def state_index(n, last, ok, parity, status):
    """The state number of (n tokens emitted, last, chain ok, parity, status); works on ints and arrays."""
    return (((n * 3 + last) * 2 + ok) * 2 + parity) * 4 + status


def transition_tables(d: int, leap: int, max_response_len: int, reward: str) -> dict[str, np.ndarray]:
    """Tables indexed by i = 8 * state + 4 * hit + action (action 0, 1, EOS or NOOP; hit: the action equals the next
    chain bit, used by "cot" only): ``next`` (8 * next state), ``flags`` (bool: done, terminated, truncated,
    correct, is_long, illegal) and ``reward`` (float32). Built from the rules of ``protocol.is_correct``."""
    R, m = max_response_len, chain_length(d, leap)
    n, last, ok, par, status, hit, act = np.meshgrid(
        np.arange(R + 1), np.arange(3), np.arange(2), np.arange(2), np.arange(4), np.arange(2), np.arange(4),
        indexing="ij",
    )
    # raveled in "ij" order, entry i is exactly state_index(...) * 8 + hit * 4 + act
    n, last, ok, par, status, hit, act = (x.ravel() for x in (n, last, ok, par, status, hit, act))
    running, is_bit, is_eos, noop = status == RUNNING, act < EOS, act == EOS, act == NOOP
    # a bit: one more token; the last bit is compared with the parity; the chain stays right only on a hit
    n_bit = np.minimum(n + 1, R)
    last_bit = np.where(act == par, LAST_RIGHT, LAST_WRONG)
    status_bit = np.where(n + 1 >= R, TRUNCATED, RUNNING)
    # EOS: the verdict of the reward mode on the bits emitted so far
    if reward == "answer":
        right = last == LAST_RIGHT
    else:
        right = ((n == 1) & (last == LAST_RIGHT)) | ((n == m) & (ok == 1))
    status_eos = np.where(right, TERM_RIGHT, TERM_WRONG)
    step = running & ~noop & (n < R)
    new_n = np.where(step, np.where(is_bit, n_bit, np.minimum(n + 1, R)), n)
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
    return {"next": nxt.astype(np.int64), "flags": flags, "reward": rewards}


def _wrap64(x: int) -> int:
    """A Python int reduced to the signed int64 it wraps to (torch has no uint64 arithmetic)."""
    return (x + 2**63) % 2**64 - 2**63


def _lsr(x: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of int64 ``x`` read as uint64 (torch's >> on int64 is arithmetic)."""
    return (x >> s) & ((1 << (64 - s)) - 1)


def splitmix64_torch(x: torch.Tensor) -> torch.Tensor:
    """The splitmix64 finaliser on int64 tensors (wrapping arithmetic); bit-identical to protocol.splitmix64."""
    golden, mul1, mul2 = splitmix64_consts()
    x = x + golden
    x = (x ^ _lsr(x, 30)) * mul1
    x = (x ^ _lsr(x, 27)) * mul2
    return x ^ _lsr(x, 31)


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
    words: torch.Tensor, d: int, out: torch.Tensor | None = None, shifts: torch.Tensor | None = None
) -> torch.Tensor:
    """Prompt bits (N, d) from hash words (N, W): bit j is bit j % 32 of word j // 32 (``shifts``: j % 32, cached)."""
    j = torch.arange(d, device=words.device)
    src = words if words.shape[1] == 1 else words.index_select(1, j // 32)  # (N, 1) or (N, d)
    return torch.bitwise_and(src >> (j % 32 if shifts is None else shifts), 1, out=out)  # (N, d)


def stream_prompt_bits_torch(counter: torch.Tensor, d: int) -> torch.Tensor:
    """Prompt bits (N, d) int64 at stream positions ``counter`` (N,) = seed + k W golden (prompt k of a stream)."""
    return unpack_prompt_bits(stream_prompt_words_torch(counter, d), d)


def hashed_prompt_bits_torch(key: torch.Tensor, block: torch.Tensor, episode: torch.Tensor, d: int) -> torch.Tensor:
    """Bit-identical torch version of ``protocol.hashed_prompt_bits`` (for tests; the env keeps stream counters)."""
    n_words = -(-d // 32)
    counter = prompt_streams_torch(key, block) + episode * _wrap64(n_words * splitmix64_consts()[0])
    return stream_prompt_bits_torch(counter, d)


@dataclass
class _Rows:
    """The per-row state (every tensor (B,) unless noted). Tensors are replaced, never written in place, because
    the tensordicts handed out share them."""

    key: torch.Tensor  # () the prompt key drawn at the last full reset
    stream: torch.Tensor  # seed of the row's block's SplitMix64 prompt stream
    episode: torch.Tensor  # the row's episode counter since the full reset
    pool_start: torch.Tensor  # episode of slot 0 of the row's prompt pool
    pool: torch.Tensor  # (B, K, W) hash words of episodes pool_start .. pool_start + K - 1
    tokens: torch.Tensor  # (B, L)
    chain: torch.Tensor  # (B, R) the chain of thought, -1 after its end ("cot" only; else (B, 0))
    parity: torch.Tensor
    prompt_id: torch.Tensor
    resp_len: torch.Tensor  # tokens emitted, EOS included
    code: torch.Tensor  # 8 * state_index(...): the row's state in the transition tables
    flags: torch.Tensor  # (B, 6) bool: done, terminated, truncated, correct, is_long, (illegal)


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
        self.group_size, self.p_long = group_size, p_long
        self.seq_len = d + 1 + max_response_len
        self.chain_len = chain_length(d, leap)
        dev = self.device
        tables = transition_tables(d, leap, max_response_len, reward)
        self._t_next = torch.as_tensor(tables["next"], device=dev)  # (T,)
        self._t_flags = torch.as_tensor(tables["flags"], device=dev)  # (T, 6)
        self._t_reward = torch.as_tensor(tables["reward"], device=dev)  # (T, 1)
        self._init_code = torch.tensor([state_index(0, LAST_NONE, 1, p, RUNNING) * 8 for p in (0, 1)], device=dev)
        self._chain_pos = torch.as_tensor(chain_positions(d, leap), device=dev)  # (m,)
        self._id_weights = torch.as_tensor(prompt_id_weights(d), device=dev)  # (d,)
        self._bit_shifts = torch.arange(d, device=dev) % 32  # (d,) bit j of a prompt is bit j % 32 of its word
        self._row_block = torch.arange(n_rows, device=dev) // group_size  # (B,)
        self._response_start = torch.arange(n_rows, device=dev) * self.seq_len + d + 1  # (B,) flat index of slot 0
        self._prompt_step = _wrap64(-(-d // 32) * splitmix64_consts()[0])  # stream advance per prompt
        self._pool_slots = torch.arange(POOL_SIZE, device=dev)  # (K,)
        self._template = torch.full((self.seq_len,), PAD, dtype=torch.int64, device=dev)  # (L,)
        self._template[d] = SEP
        self._make_specs(n_rows)
        self._rng = torch.Generator(device=dev)
        self._demo_rng = make_rng(seed)
        self._state: _Rows | None = None  # set by the first reset
        self._given_since_full_reset = False  # some row's prompt came from a "bits" entry
        self._set_seed(seed)

    # ------------------------------------------------------------------------------------------------ specs
    def _make_specs(self, n: int) -> None:
        dev, L, R = self.device, self.seq_len, self.max_response_len
        self.observation_spec = Composite(
            tokens=Categorical(VOCAB_SIZE, shape=(n, L), dtype=torch.int64, device=dev),
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
        n = self.batch_size[0]
        mask = None if tensordict is None else tensordict.get("_reset", None)
        given = self._read_bits(tensordict)
        if mask is None or self._state is None:  # full reset: a fresh key, every row back to its stream's start
            key = torch.randint(-(2**63), 2**63 - 1, (), generator=self._rng, device=self.device)
            dev = self.device
            chain_cols = self.max_response_len if self.reward_mode == "cot" else 0
            self._state = _Rows(
                key=key,
                stream=prompt_streams_torch(key, self._row_block),
                episode=torch.full((n,), -1, dtype=torch.int64, device=dev),  # _reset_rows advances it to 0
                pool_start=torch.zeros(n, dtype=torch.int64, device=dev),
                pool=torch.empty(n, 0, -(-self.d // 32), dtype=torch.int64, device=dev),  # empty: filled at once
                tokens=self._template.expand(n, -1).clone(),  # (B, L) SEP stays in place from here on
                chain=torch.empty(n, chain_cols, dtype=torch.int64, device=dev),  # (B, R) for "cot", else (B, 0)
                parity=torch.empty(n, dtype=torch.int64, device=dev),
                prompt_id=torch.empty(n, dtype=torch.int64, device=dev),
                resp_len=torch.empty(n, dtype=torch.int64, device=dev),
                code=torch.empty(n, dtype=torch.int64, device=dev),
                flags=torch.empty(n, 6, dtype=torch.bool, device=dev),
            )
            mask = torch.ones(n, dtype=torch.bool, device=dev)
            self._given_since_full_reset = False
        self._reset_rows(mask.reshape(n), given)
        return self._output(reward=None)

    def _reset_rows(self, mask: torch.Tensor, given: torch.Tensor | None) -> None:
        """Start the next episode of the rows in ``mask`` (B,): their block's next prompt, or ``given`` (B, d).

        Elementwise over all rows (scattering rows with index_put costs ~10x a full pass on CPU). Rows not reset
        keep their prompt: recomputed from their unchanged stream counter unless some prompt was given since the
        last full reset. Every state tensor is replaced, never written in place (handed-out tensordicts share them).
        """
        st, d = self._state, self.d
        words = self._current_words(mask)  # (B, W)
        reset = mask[:, None]  # (B, 1)
        tokens = st.tokens.clone()  # (B, L)
        tokens[:, d + 1 :].masked_fill_(reset, PAD)  # (clone + in-place fill beats torch.where on CPU)
        prompt = tokens[:, :d]  # (B, d) view, rewritten below
        if given is not None or self._given_since_full_reset:
            self._given_since_full_reset = True
            new_bits = unpack_prompt_bits(words, d, shifts=self._bit_shifts) if given is None else given  # (B, d)
            prompt.copy_(torch.where(reset, new_bits, st.tokens[:, :d]))
            st.prompt_id = (prompt * self._id_weights).sum(dim=1)  # (B,) wraps above d = 62, as protocol.prompt_ids
        else:
            unpack_prompt_bits(words, d, out=prompt, shifts=self._bit_shifts)
            st.prompt_id = words[:, 0] & ((1 << d) - 1) if d <= 32 else (prompt * self._id_weights).sum(dim=1)
        st.tokens = tokens
        st.parity = prompt.sum(dim=1) & 1  # (B,)
        st.code = torch.where(mask, self._init_code.index_select(0, st.parity), st.code)
        st.resp_len = st.resp_len.masked_fill(mask, 0)
        st.flags = st.flags.masked_fill(reset, False)
        if self.reward_mode == "cot":
            m = min(self.chain_len, self.max_response_len)
            chain = torch.full_like(st.chain, -1)  # (B, R)
            chain[:, :m] = (torch.cumsum(prompt, dim=1) & 1)[:, self._chain_pos[:m]]  # kept prefix parities
            st.chain = torch.where(reset, chain, st.chain)

    def _current_words(self, mask: torch.Tensor) -> torch.Tensor:
        """Advance the episode counters of the rows in ``mask`` (B,); the hash words (B, W) of every row's prompt.

        Words come from a per-row pool of the next POOL_SIZE prompts, refilled for all rows at once when some row
        runs out, so the 12-op hash runs once every POOL_SIZE resets or more rather than at every step."""
        st = self._state
        st.episode = st.episode + mask  # (B,)
        slot = st.episode - st.pool_start  # (B,)
        if st.pool.shape[1] == 0 or (slot >= POOL_SIZE).any():
            st.pool_start = st.episode
            episodes = st.episode[:, None] + self._pool_slots  # (B, K)
            counter = st.stream[:, None] + episodes * self._prompt_step  # (B, K) stream positions, wrapping
            st.pool = stream_prompt_words_torch(counter.reshape(-1), self.d).reshape(len(slot), POOL_SIZE, -1)
            slot = torch.zeros_like(slot)
        n_words = st.pool.shape[2]
        return st.pool.gather(1, slot.view(-1, 1, 1).expand(-1, 1, n_words)).view(-1, n_words)  # (B, W)

    # ------------------------------------------------------------------------------------------------ step
    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
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
        if step_mask is not None:
            action = torch.where(step_mask, action, NOOP)
        idx = st.code + action  # (B,) index into the transition tables
        if self.reward_mode == "cot":  # hit: the action is the next chain bit
            target = st.chain.gather(1, st.resp_len.clamp(max=self.max_response_len - 1)[:, None]).squeeze(1)
            idx = idx + (target == action) * 4
        flags = self._t_flags.index_select(0, idx)  # (B, 6)
        illegal = flags[:, ILLEGAL]
        if illegal.any():
            rows = illegal.nonzero().squeeze(-1)[:5].tolist()
            raise RuntimeError(f"step called on finished rows {rows}: reset them first (pass a '_reset' mask to reset)")
        tokens = st.tokens.clone()  # (B, L) fresh: the previous one stays with the caller
        if step_mask is None:
            tokens.put_(self._response_start + st.resp_len, action)  # flat positions (B,)
            st.resp_len = st.resp_len + 1
        else:  # rows not stepped write their current token back (positions clamped: finished rows may be full)
            pos = self._response_start + st.resp_len.clamp(max=self.max_response_len - 1)  # (B,)
            tokens.put_(pos, torch.where(step_mask, action, tokens.take(pos)))
            st.resp_len = st.resp_len + step_mask
        st.tokens, st.code, st.flags = tokens, self._t_next.index_select(0, idx), flags
        return self._output(reward=self._t_reward.index_select(0, idx))

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
            or "_step" in tensordict.keys()
            or "next" in tensordict.keys()
            or self._post_step_mdp_hooks is not None
            or self.run_type_checks
        ):
            return super()._step_and_maybe_reset(tensordict)
        next_td = self._step(tensordict)
        root = {key: value.copy() if is_tensor_collection(value) else value for key, value in tensordict.items()}
        tensordict._set_str("next", next_td, validated=True, inplace=False, non_blocking=False)
        done = self._state.flags[:, DONE]  # (B,)
        if done.any():
            self._reset_rows(done, None)
            root.update(self._output(reward=None).items())
        else:
            root.update((key, value) for key, value in next_td.items() if key != "reward")
        return tensordict, TensorDict._new_unsafe(root, batch_size=self.batch_size, device=self.device)

    def _output(self, reward: torch.Tensor | None) -> TensorDictBase:
        """The tensordict of the current state, built without validation (state tensors are never written in place;
        done, terminated, truncated, is_correct and is_long are views of one fresh (B, 6) flags tensor)."""
        st = self._state
        done, terminated, truncated = st.flags[:, : TRUNCATED_FLAG + 1].split(1, dim=1)  # (B, 1) views
        out = {
            "tokens": st.tokens,
            "prompt_id": st.prompt_id,
            "parity": st.parity,
            "response_length": st.resp_len,
            "is_long": st.flags[:, IS_LONG],
            "is_correct": st.flags[:, CORRECT],
            "done": done,
            "terminated": terminated,
            "truncated": truncated,
        }
        if reward is not None:
            out["reward"] = reward
        return TensorDict._new_unsafe(out, batch_size=self.batch_size, device=self.device)

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
