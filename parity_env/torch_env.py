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

Prompts and groups: a reset without a ``_reset`` mask draws a fresh 64-bit key from the env's private generator
(seeded by ``seed`` / ``set_seed``); block b's k-th prompt is ``protocol.hashed_prompt_bits(key, b, k, d)`` (a
counter-based SplitMix64 stream per block, the numpy vector env's function), and after a full reset row r starts
with its block's prompt 0, as in the vector env. With ``group_size`` G > 1, row r's k-th episode uses block r // G's
k-th prompt however the rows finish, so each block of G consecutive rows shares one prompt per episode. With G = 1
the later prompts are dealt like cards from a deck in episode-major order (prompt 1 of rows 0 .. B - 1, then
prompt 2, ...), one to each row reset, in row order: the rows still get independent uniform prompts, and the env
prepares thousands at a time instead of a few per step. A ``bits`` entry overrides the prompts of the rows reset (it
takes no card from the deck; with groups it still uses up the block's prompt, so the group stays aligned).

Implementation: the env is stateful (like ``GymEnv``): ``_step`` reads only ``action`` (and TorchRL's ``_step``
partial-step mask) from the input tensordict. A row's state is a row of the step table of ``parity_env.step_table``
(index ``idx``); a step gathers the rows ``code + action`` into a fresh (B, N_COLUMNS) block whose views are the
output entries, copies the tokens and puts the action in. ``step_and_maybe_reset`` (what rollouts and collectors
call) is overridden to fuse step, step_mdp and the reset of the finished rows: the step writes its tokens into the
first B rows of a spare tensor, the finished rows' next starts are copied into the rows after them, and the next
root's tokens are one row gather from it; its block is one gather from the table (a reset row's state is the
initial state of its prompt's parity). Every output tensor is fresh whenever the state changed (root entries the
step leaves unchanged are carried as they are, as step_mdp carries them); the env keeps the latest tensors as its
state, so do not modify outputs in place.

Cost (``benchmarks/env_throughput.py`` prints where a step goes): about 45 tensor calls per fused step with resets,
whatever B. Below B ~ 4096 the time is their per-call overhead (~2 µs each on one core of a 2-core EPYC: 160-310 µs a
step at B = 1024 over five benchmark runs, a third of it in the reset of the finished rows, a fifth in TorchRL and
tensordict); above, it is memory traffic: two fresh (B, L) token tensors and two (B, N_COLUMNS) blocks a step, and
~20 ns of preparation per dealt prompt.

Run ``python -m parity_env.torch_env`` for a short random rollout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Sequence

import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase, is_tensor_collection
from torchrl.data import Bounded, Categorical, Composite, Unbounded
from torchrl.envs import EnvBase

from .demonstrations import make_rng
from .protocol import (EXACT_ID_MAX_D, N_ACTIONS, PAD, SEP, VOCAB_SIZE, chain_positions, check_int, check_seed,
                       prompt_id_weights)
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
from .task import Task, resolve_task
from .torch_prompts import (
    BYTE_BITS64,
    BYTE_PARITY,
    id_from_words,
    parity_from_words,
    prompt_step,
    prompt_streams_torch,
    stream_prompt_words_torch,
    unpack_prompt_bits,
    word_masks,
)

TOKEN_DTYPE = torch.uint8
"""dtype of the ``tokens`` entry: every step hands out a fresh (B, L) token tensor (a rollout keeps each step's), and in
bytes rather than int64 those copies move 8x less memory, the largest saving at large B (the numpy envs keep int64;
the values are equal). ``agents.model.GPT`` reads any integer dtype."""
DECK_ROWS = 32768  # group_size 1: prompts prepared per deck refill (K = max(2, ceil(DECK_ROWS / B)) per row) ...
DECK_BYTES = 2**25  # ... but at most 32 MiB of tokens a refill, so that the deck stays a few times the token buffers
MAX_RESPONSE_LEN = 4096
"""Longest response the env's step table is built for: the table holds 384 rows of 32 bytes per response slot (50 MB
at 4096); the numpy envs, whose memory is their token buffers only, have no such limit."""


def _shallow_copy(value: Any) -> Any:
    """A root entry as step_mdp carries it: tensors as they are, tensordicts as shallow copies."""
    return value if type(value) is torch.Tensor or not is_tensor_collection(value) else value.copy()


class _Block(NamedTuple):
    """A block (B, N_COLUMNS) of step-table rows and the views of it that the env reads and hands out, made once
    per block (each view costs ~1 µs)."""

    rows: torch.Tensor  # (B, N_COLUMNS) int64
    resp_len: torch.Tensor  # (B,) int64
    parity: torch.Tensor  # (B,) int64
    flags: torch.Tensor  # (B, 8) bool: FLAG_NAMES, then padding


def _block(rows: torch.Tensor) -> _Block:
    cols = rows.unbind(1)
    flags = rows.view(torch.bool).narrow(1, 8 * FLAGS, 8)  # byte k of column FLAGS is flag k
    return _Block(rows, cols[RESP_LEN], cols[PARITY], flags)


@dataclass
class _Deck:
    """group_size 1: the rows' next starts, prepared: records ``next`` .. ``size`` - 1 of persistent buffers of
    (K + 1) B records, in the order they are dealt (episode-major: prompt k of rows 0 .. B - 1, then k + 1, ...)."""

    tokens: torch.Tensor  # ((K + 1) B, L) uint8: prompt, SEP, PAD (SEP and PAD written once)
    start: torch.Tensor  # ((K + 1) B,) int64: the step-table row of the episode's initial state
    prompt_id: torch.Tensor  # ((K + 1) B,) int64
    size: int = 0  # records in the buffers
    next: int = 0  # the next record to deal
    episode: int = 1  # the episode of the rows' prompts that the next refill prepares first (a full reset hashes 0)


@dataclass
class _Rows:
    """The per-row state. ``tokens``, ``block`` and ``prompt_id`` are handed out (the block as views) in the
    tensordicts, so they are replaced, never written in place; the others are the env's own."""

    key: torch.Tensor  # () the prompt key drawn at the last full reset
    stream: torch.Tensor  # (B,) seed of the row's block's SplitMix64 prompt stream
    episode: torch.Tensor  # (B,) the row's next prompt in its block's stream (group_size 1: used at full resets only)
    tokens: torch.Tensor  # (B, L)
    idx: torch.Tensor  # (B,) int64 the row of the step table holding each row's state
    block: _Block  # of (B, N_COLUMNS): the step-table rows idx
    prompt_id: torch.Tensor  # (B,)
    chain: torch.Tensor  # (B, R) the chain of thought, -1 after its end ("cot" only; else (B, 0))
    deck: _Deck | None  # group_size 1, from the first deal on; kept (emptied) across full resets
    some_finished: bool = False  # whether some row's episode may have ended and not been reset yet


class ParityCoTTorchEnv(EnvBase):
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
        task: Task | dict | None = None,
    ):
        self.task = resolve_task(task, d=d, p_long=p_long, leap=leap, max_response_len=max_response_len, reward=reward)
        seed = check_seed(seed)
        d, leap, max_response_len = self.task.d, self.task.leap, self.task.max_response_len
        if max_response_len > MAX_RESPONSE_LEN:
            raise ValueError(f"max_response_len must be <= {MAX_RESPONSE_LEN} in ParityCoTTorchEnv, whose step table "
                             f"grows with it (got {max_response_len}; its default is d + 1): give a smaller one, or use "
                             "ParityCoTVectorEnv, which has no such limit")
        reward, p_long = self.task.reward, self.task.p_long
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
        self.chain_len = self.task.chain_length
        dev = self.device
        self._table = torch.as_tensor(step_table(d, leap, max_response_len, reward), device=dev)  # (T, N_COLUMNS)
        self._start_rows = torch.tensor([initial_code(p) + NOOP for p in (0, 1)], device=dev)  # (2,) by parity
        self._chain_pos = torch.as_tensor(chain_positions(d, leap), device=dev)  # (m,)
        self._id_weights = torch.as_tensor(prompt_id_weights(d), device=dev)  # (d,)
        self._word_masks = word_masks(d, dev)  # (W,)
        self._byte_bits64, self._byte_parity = BYTE_BITS64.to(dev), BYTE_PARITY.to(dev)  # (256,) lookup tables
        self._prompt_step = prompt_step(d)  # stream counter advance per prompt
        self._row_block = torch.arange(n_rows, device=dev) // group_size  # (B,)
        self._row_ids = torch.arange(n_rows, device=dev)  # (B,) for _reset_rows' gather
        self._action_shape = torch.Size([n_rows])
        self._spare_ids = torch.arange(n_rows, 2 * n_rows, device=dev)  # (B,) the spare token rows, idem
        self._response_start = torch.arange(n_rows, device=dev) * self.seq_len + d + 1  # (B,) flat index of slot 0
        deck_rows = min(DECK_ROWS, DECK_BYTES // self.seq_len)
        self._deck_episodes = torch.arange(max(2, -(-deck_rows // n_rows)), device=dev)  # (K,) per deck refill
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
            self._rng.manual_seed(check_seed(seed))

    def get_rng_state(self) -> torch.Tensor:
        """The state (uint8) of the env's private episode generator: saved with a run, so that a resumed run draws the
        prompt keys of its next full resets exactly as the uninterrupted run would."""
        return self._rng.get_state()

    def set_rng_state(self, state: torch.Tensor) -> None:
        """Restore a state from ``get_rng_state``."""
        self._rng.set_state(state)

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
        n, dev = self._n_rows, self.device
        mask = None if tensordict is None else tensordict.get("_reset", None)
        given = self._read_bits(tensordict)
        full_reset = mask is None or self._state is None
        if full_reset:  # a fresh key, every row back to its stream's start
            key = torch.randint(-(2**63), 2**63 - 1, (), generator=self._rng, device=dev)
            chain_cols = self.max_response_len if self.reward_mode == "cot" else 0
            deck = None if self._state is None else self._state.deck
            if deck is not None:  # its buffers are reused; its records were prompts of the old key
                deck.size, deck.next, deck.episode = 0, 0, 1
            idx = self._start_rows[:1].expand(n).clone()  # (B,) every row rewritten below
            self._state = _Rows(
                key=key,
                stream=prompt_streams_torch(key, self._row_block),
                episode=torch.zeros(n, dtype=torch.int64, device=dev),
                tokens=self._template.expand(n, -1).clone(),  # (B, L)
                idx=idx,
                block=_block(self._table.index_select(0, idx)),
                prompt_id=torch.zeros(n, dtype=torch.int64, device=dev),
                chain=torch.full((n, chain_cols), -1, dtype=torch.int64, device=dev),  # (B, R) "cot", else (B, 0)
                deck=deck,
            )
            mask = torch.ones(n, dtype=torch.bool, device=dev)
        rows = mask.reshape(n).nonzero().squeeze(1)  # (N,)
        if rows.shape[0]:
            spare = torch.empty(n + rows.shape[0], self.seq_len, dtype=TOKEN_DTYPE, device=dev)
            spare[:n].copy_(self._state.tokens)
            self._reset_rows(rows, given, spare, deal=not full_reset)
        return self._output(with_reward=False)

    def _reset_rows(
        self, rows: torch.Tensor, given: torch.Tensor | None, spare: torch.Tensor, deal: bool = True
    ) -> None:
        """Start the next episode of rows ``rows`` (N,), not empty: their next prompt, or ``given`` (B, d). With
        group_size 1 the next prompt is dealt from the deck, except after a full reset (``deal`` False): then each
        row's prompt 0 is hashed directly, so that a batch of single episodes (RL collection) never fills a deck.

        ``spare`` (B + N, L) holds the current tokens in its first B rows; the N new starts are written in the
        others and the new tokens are one row gather from it (writing rows into a copy with index_copy_ costs ~5x
        a gather on CPU). The new block is one gather from the step table."""
        st, n, N = self._state, self._n_rows, rows.shape[0]
        fresh = spare[n:]  # (N, L)
        if given is not None:
            if self.group_size > 1:
                self._next_episodes(rows)  # a given prompt still uses up the block's prompt
            start, prompt_id = self._write_prompts(fresh, bits=given.index_select(0, rows))
        elif self.group_size == 1 and deal:
            start, prompt_id = self._deal(fresh)
        else:
            start, prompt_id = self._write_prompts(fresh, words=self._block_words(rows))
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

    def _write_prompts(
        self, tokens: torch.Tensor, words: torch.Tensor | None = None, bits: torch.Tensor | None = None,
        template: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write the starts of N episodes into ``tokens`` (N, L): their prompts from hash ``words`` (N, W) or from
        ``bits`` (N, d) int64, then SEP and PAD (unless ``template`` is False: already there). Returns the
        step-table rows of their initial states (N,) and their prompt ids (N,)."""
        d, N = self.d, tokens.shape[0]
        if template:
            tokens.copy_(self._template.expand(N, -1))
        prompt = tokens[:, :d]  # (N, d) view
        if words is not None:
            prompt.copy_(unpack_prompt_bits(words, d, self._byte_bits64))
            masked = words & self._word_masks  # (N, W) the bits each word gives the prompt
            parity = parity_from_words(masked, self._byte_parity)  # (N,)
        else:
            prompt.copy_(bits)
            parity = bits.sum(dim=1) & 1
        if words is not None and d <= EXACT_ID_MAX_D:
            ids = id_from_words(masked, d)
        else:  # (N,) wraps above d = 62, as protocol.prompt_ids
            ids = (prompt * self._id_weights).sum(dim=1)
        return self._start_rows.index_select(0, parity), ids

    def _next_episodes(self, rows: torch.Tensor) -> torch.Tensor:
        """The episode counters (N,) of rows ``rows`` (N,), which then advance by one."""
        episode = self._state.episode.index_select(0, rows)
        self._state.episode.index_add_(0, rows, torch.ones_like(rows))
        return episode

    def _block_words(self, rows: torch.Tensor) -> torch.Tensor:
        """The hash words (N, W) of the next prompts of rows ``rows`` (N,): their block's prompt at the row's
        episode counter (``_next_episodes``)."""
        counter = self._state.stream.index_select(0, rows) + self._next_episodes(rows) * self._prompt_step  # (N,)
        return stream_prompt_words_torch(counter, self.d)

    def _deal(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """group_size 1: copy the next N records of the deck into ``tokens`` (N, L); their start rows and prompt
        ids (N,) (views of the deck: read before the next deal)."""
        N, deck = tokens.shape[0], self._state.deck
        if deck is None or deck.next + N > deck.size:
            deck = self._refill_deck()
        take = slice(deck.next, deck.next + N)
        tokens.copy_(deck.tokens[take])
        deck.next += N
        return deck.start[take], deck.prompt_id[take]

    def _refill_deck(self) -> _Deck:
        """Move the records not dealt yet (fewer than B) to the front of the deck and prepare the rows' next K
        prompts after them (K B records, so one refill always covers a reset). The buffers are the env's own and
        reused: fresh multi-MB tensors would cost a page fault per 4 kB on every refill."""
        st, n, dev = self._state, self._n_rows, self.device
        K = len(self._deck_episodes)
        if st.deck is None:
            records = (K + 1) * n  # K refilled episodes and the records left over (< B)
            st.deck = _Deck(
                tokens=self._template.expand(records, -1).clone(),  # (records, L) prompts written below
                start=torch.empty(records, dtype=torch.int64, device=dev),
                prompt_id=torch.empty(records, dtype=torch.int64, device=dev),
            )
        deck = st.deck
        left = deck.size - deck.next  # < B <= next, as K >= 2: the two ranges do not overlap
        for buffer in (deck.tokens, deck.start, deck.prompt_id):
            buffer[:left].copy_(buffer[deck.next : deck.size])
        episodes = deck.episode + self._deck_episodes  # (K,)
        counter = st.stream[None, :] + episodes[:, None] * self._prompt_step  # (K, B) stream positions, wrapping
        words = stream_prompt_words_torch(counter.reshape(-1), self.d)  # (K B, W)
        end = left + len(words)
        start, prompt_id = self._write_prompts(deck.tokens[left:end], words=words, template=False)
        deck.start[left:end], deck.prompt_id[left:end] = start, prompt_id
        deck.size, deck.next, deck.episode = end, 0, deck.episode + K
        return deck

    # ------------------------------------------------------------------------------------------------ step
    def _advance(
        self, action: torch.Tensor, step_mask: torch.Tensor | None = None, reset_room: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of every row with ``action`` (B,) (only of the rows in ``step_mask`` (B,) or (B, 1), TorchRL's
        partial-step mask, when given): replaces ``tokens``, ``idx`` and ``block``.

        Returns the finished rows (N,) (empty when none) and the tensor (B + N', L) whose first B rows are the new
        tokens: N' = N with ``reset_room`` (room for ``_reset_rows`` to write their next starts in), else 0."""
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
        finished, spare = self._advance(tensordict._tensordict["action"], reset_room=True)
        entries = self._entries(with_reward=True)
        next_td = TensorDict._new_unsafe(entries, batch_size=self.batch_size, device=self.device)
        root = tensordict._tensordict.copy()  # step_mdp's root: the entries as they are, ...
        if not all(type(v) is torch.Tensor for v in root.values()):  # ... nested tensordicts as shallow copies
            root = {key: _shallow_copy(v) for key, v in root.items()}
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
        """The env's entries for the current state: the tokens, the prompt ids and views of the block (the state
        is replaced, never written in place, so every entry is fresh whenever the state changed)."""
        st = self._state
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
        arrays = self.task.sample_demonstrations(n, seed=self._demo_rng if seed is None else make_rng(seed))
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
