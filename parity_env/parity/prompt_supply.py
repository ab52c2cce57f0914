"""The prompt supply of ``ParityCoTTorchEnv``: which prompt each row gets whenever it is reset.

``PromptSupply`` owns the prompt key, the per-block SplitMix64 hash streams (those of ``protocol.hashed_prompt_bits``,
as in the numpy vector env), the rows' episode counters and, for group_size 1, a deck of prompts prepared thousands at
a time; it hands them out in the order the env's docstring describes. It is apart from the env so that the env reads
as specs, reset and step, and so that the prompt order can be checked on its own.

Run ``python -m parity_env.parity.prompt_supply`` to check the prompts it hands out against the numpy reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .protocol import EXACT_ID_MAX_D, PAD, SEP, prompt_id_weights
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

DECK_ROWS = 32768  # group_size 1: prompts prepared per deck refill (K = max(2, ceil(DECK_ROWS / B)) per row) ...
DECK_BYTES = 2**25  # ... but at most 32 MiB of tokens a refill, so that the deck stays a few times the token buffers


@dataclass
class Deck:
    """group_size 1: the rows' next starts, prepared.

    Records ``next`` .. ``size`` - 1 of persistent buffers of (K + 1) B records, in the order they are dealt
    (episode-major: prompt k of rows 0 .. B - 1, then k + 1, ...).
    """

    tokens: torch.Tensor  # ((K + 1) B, L): prompt, SEP, PAD (SEP and PAD written once)
    start: torch.Tensor  # ((K + 1) B,) int64: the step-table row of the episode's initial state
    prompt_id: torch.Tensor  # ((K + 1) B,) int64
    size: int = 0  # records in the buffers
    next: int = 0  # the next record to deal
    episode: int = 1  # the episode of the rows' prompts that the next refill prepares first (a full reset hashes 0)


class PromptSupply:
    """The next starts of a batch of B rows: prompt, SEP, PAD tokens, the step-table row of the initial state.

    And the prompt id (see the module docstring for the order).

    Args:
        d: prompt bits.
        n_rows: B.
        group_size: rows per block sharing a prompt (divides B).
        seq_len: L, the length of a row's tokens (d + 1 + max_response_len).
        start_rows: (2,) int64, the step-table row of the initial state of a prompt of parity 0 and of parity 1.
        token_dtype: dtype of the token buffers.
        device: where every tensor lives.
    """

    def __init__(self, d: int, n_rows: int, group_size: int, seq_len: int, start_rows: torch.Tensor,
                 token_dtype: torch.dtype, device: torch.device):
        self.d, self.n_rows, self.group_size, self.device = d, n_rows, group_size, device
        self.start_rows = start_rows  # (2,) by parity
        self.template = torch.full((seq_len,), PAD, dtype=token_dtype, device=device)  # (L,)
        self.template[d] = SEP
        self._id_weights = torch.as_tensor(prompt_id_weights(d), device=device)  # (d,)
        self._word_masks = word_masks(d, device)  # (W,)
        self._byte_bits64, self._byte_parity = BYTE_BITS64.to(device), BYTE_PARITY.to(device)  # (256,) lookup tables
        self._prompt_step = prompt_step(d)  # stream counter advance per prompt
        self._row_block = torch.arange(n_rows, device=device) // group_size  # (B,)
        deck_rows = min(DECK_ROWS, DECK_BYTES // seq_len)
        self.deck_episodes = torch.arange(max(2, -(-deck_rows // n_rows)), device=device)  # (K,) per deck refill
        self.key: torch.Tensor | None = None  # () the prompt key of the last full reset
        self.stream: torch.Tensor | None = None  # (B,) seed of the row's block's SplitMix64 prompt stream
        self.episode: torch.Tensor | None = None  # (B,) the row's next prompt in its block's stream (G = 1: first only)
        self.deck: Deck | None = None  # group_size 1, from the first deal on; kept (emptied) across full resets
        self._dealing = False  # group_size 1: deal from the deck (False until the first starts after a full reset)

    def full_reset(self, key: torch.Tensor) -> None:
        """Start over under the 64-bit ``key`` (): the next ``next_starts`` gives each row its block's prompt 0.

        That prompt is hashed directly (the env asks for every row at once, so a batch of single episodes never fills
        a deck).
        """
        self.key = key
        self.stream = prompt_streams_torch(key, self._row_block)
        self.episode = torch.zeros(self.n_rows, dtype=torch.int64, device=self.device)
        if self.deck is not None:  # its buffers are reused; its records were prompts of the old key
            self.deck.size, self.deck.next, self.deck.episode = 0, 0, 1
        self._dealing = False

    def next_starts(
        self, rows: torch.Tensor, tokens: torch.Tensor, bits: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write the next starts of rows ``rows`` (N,), not empty, into ``tokens`` (N, L).

        Their next prompts, or ``bits`` (N, d) int64 when given, then SEP and PAD. Returns the step-table rows of
        their initial states (N,) and their prompt ids (N,) (with group_size 1 possibly views of the deck: read them
        before the next call).
        """
        if bits is not None:
            if self.group_size > 1:
                self._next_episodes(rows)  # a given prompt still uses up the block's prompt
            out = self._write_prompts(tokens, bits=bits)
        elif self.group_size == 1 and self._dealing:
            out = self._deal(tokens)
        else:
            out = self._write_prompts(tokens, words=self._block_words(rows))
        self._dealing = True
        return out

    def _write_prompts(
        self, tokens: torch.Tensor, words: torch.Tensor | None = None, bits: torch.Tensor | None = None,
        template: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write the starts of N episodes into ``tokens`` (N, L).

        Their prompts from hash ``words`` (N, W) or from ``bits`` (N, d) int64, then SEP and PAD (unless ``template``
        is False: already there). Returns the step-table rows of their initial states (N,) and their prompt ids (N,).
        """
        d, N = self.d, tokens.shape[0]
        if template:
            tokens.copy_(self.template.expand(N, -1))
        prompt = tokens[:, :d]  # (N, d) view
        if words is not None:
            prompt.copy_(unpack_prompt_bits(words, d, self._byte_bits64))
            masked = words & self._word_masks  # (N, W) the bits each word gives the prompt
            parity = parity_from_words(masked, self._byte_parity)  # (N,)
        else:
            assert bits is not None  # words or bits is given
            prompt.copy_(bits)
            parity = bits.sum(dim=1) & 1
        if words is not None and d <= EXACT_ID_MAX_D:
            ids = id_from_words(masked, d)
        else:  # (N,) wraps above d = 62, as protocol.prompt_ids
            ids = (prompt * self._id_weights).sum(dim=1)
        return self.start_rows.index_select(0, parity), ids

    def _next_episodes(self, rows: torch.Tensor) -> torch.Tensor:
        """The episode counters (N,) of rows ``rows`` (N,), which then advance by one."""
        assert self.episode is not None  # set by full_reset
        episode = self.episode.index_select(0, rows)
        self.episode.index_add_(0, rows, torch.ones_like(rows))
        return episode

    def _block_words(self, rows: torch.Tensor) -> torch.Tensor:
        """The hash words (N, W) of the next prompts of rows ``rows`` (N,).

        Their block's prompt at the row's episode counter (``_next_episodes``).
        """
        assert self.stream is not None  # set by full_reset
        counter = self.stream.index_select(0, rows) + self._next_episodes(rows) * self._prompt_step  # (N,)
        return stream_prompt_words_torch(counter, self.d)

    def _deal(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """group_size 1: copy the next N records of the deck into ``tokens`` (N, L).

        Returns their start rows and prompt ids (N,) (views of the deck: read before the next deal).
        """
        N, deck = tokens.shape[0], self.deck
        if deck is None or deck.next + N > deck.size:
            deck = self._refill_deck()
        take = slice(deck.next, deck.next + N)
        tokens.copy_(deck.tokens[take])
        deck.next += N
        return deck.start[take], deck.prompt_id[take]

    def _refill_deck(self) -> Deck:
        """Move the records not dealt yet (fewer than B) to the front of the deck, and prepare the next ones.

        The rows' next K prompts are prepared after them (K B records, so one refill always covers a reset). The
        buffers are allocated once and reused: fresh multi-MB tensors would cost a page fault per 4 kB on every
        refill.
        """
        n, K = self.n_rows, len(self.deck_episodes)
        if self.deck is None:
            records = (K + 1) * n  # K refilled episodes and the records left over (< B)
            self.deck = Deck(
                tokens=self.template.expand(records, -1).clone(),  # (records, L) prompts written below
                start=torch.empty(records, dtype=torch.int64, device=self.device),
                prompt_id=torch.empty(records, dtype=torch.int64, device=self.device),
            )
        deck = self.deck
        left = deck.size - deck.next  # < B <= next, as K >= 2: the two ranges do not overlap
        for buffer in (deck.tokens, deck.start, deck.prompt_id):
            buffer[:left].copy_(buffer[deck.next : deck.size])
        episodes = deck.episode + self.deck_episodes  # (K,)
        assert self.stream is not None  # set by full_reset
        counter = self.stream[None, :] + episodes[:, None] * self._prompt_step  # (K, B) stream positions, wrapping
        words = stream_prompt_words_torch(counter.reshape(-1), self.d)  # (K B, W)
        end = left + len(words)
        start, prompt_id = self._write_prompts(deck.tokens[left:end], words=words, template=False)
        deck.start[left:end], deck.prompt_id[left:end] = start, prompt_id
        deck.size, deck.next, deck.episode = end, 0, deck.episode + K
        return deck


if __name__ == "__main__":
    import numpy as np

    from .protocol import hashed_prompt_bits

    key, d, n = 12345, 33, 6
    for group_size in (1, 2):
        supply = PromptSupply(d, n, group_size, d + 3, torch.tensor([0, 1]), torch.uint8, torch.device("cpu"))
        supply.full_reset(torch.tensor(key))
        rows, taken = torch.arange(n), np.zeros(n, dtype=np.int64)  # the prompts each row has had
        dealt, gen = 0, torch.Generator().manual_seed(0)
        for step in range(50):
            tokens = torch.empty(len(rows), d + 3, dtype=torch.uint8)
            parity, prompt_id = supply.next_starts(rows, tokens)
            if group_size == 1 and step:  # record j of the deck: prompt j // B of row j % B
                j = dealt + np.arange(len(rows))
                ref = hashed_prompt_bits(key, j % n, j // n, d)
            else:  # row r's k-th episode: prompt k of block r // G
                ref = hashed_prompt_bits(key, rows.numpy() // group_size, taken[rows.numpy()], d)
            assert np.array_equal(tokens[:, :d].numpy(), ref), (group_size, step)
            assert np.array_equal(parity.numpy(), ref.sum(1) % 2)  # start_rows (0, 1): the start row is the parity
            dealt, taken[rows.numpy()] = dealt + len(rows), taken[rows.numpy()] + 1
            rows = torch.randperm(n, generator=gen)[: int(torch.randint(1, n + 1, (), generator=gen))].sort().values
        print(f"group_size {group_size}: 50 resets of random rows, prompts equal the numpy reference")
