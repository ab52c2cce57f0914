"""Hashed prompts in torch: the SplitMix64 prompt streams of ``protocol.hashed_prompt_bits``, bit for bit.

Also the bits, parity and id of a prompt computed from its hash words.

The k-th prompt of block b under a 64-bit key is made of W = ceil(d / 32) hash words; bit j of the prompt is bit
j % 32 of word j // 32 (see ``protocol.hashed_prompt_bits``). ``ParityCoTTorchEnv`` hashes prompts with these
functions; the numpy vector env hashes the same streams with ``protocol.hashed_prompt_bits``.

Check it against the numpy reference with ``python -m parity_env.parity.torch_prompts``.
"""

from __future__ import annotations

import torch

from ..hashing import splitmix64_consts
from .protocol import EXACT_ID_MAX_D

GOLDEN = splitmix64_consts()[0]
BYTE_BITS = ((torch.arange(256)[:, None] >> torch.arange(8)) & 1).to(torch.uint8)  # (256, 8): bit k of byte b
BYTE_BITS64 = BYTE_BITS.view(torch.int64).view(256)
"""(256,) the 8 bit-bytes of each byte value packed into one int64, so that a prompt's bits are one 1-D int64 gather
(4x faster than gathering rows of BYTE_BITS); only ever read back as bytes, so the machine's byte order is moot."""
BYTE_PARITY = BYTE_BITS.sum(dim=1).bitwise_and(1).long()  # (256,) parity of each byte value


def wrap64(x: int) -> int:
    """A Python int reduced to the signed int64 it wraps to (torch has no uint64 arithmetic)."""
    return (x + 2**63) % 2**64 - 2**63


def n_words(d: int) -> int:
    """Hash words per prompt of d bits: W = ceil(d / 32)."""
    return -(-d // 32)


def prompt_step(d: int) -> int:
    """How far a block's stream counter advances per prompt (W words of GOLDEN each), as a wrapped int64."""
    return wrap64(n_words(d) * GOLDEN)


def _lsr(x: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of int64 ``x`` read as uint64 (torch's >> on int64 is arithmetic)."""
    return (x >> s).bitwise_and_((1 << (64 - s)) - 1)


def splitmix64_torch(x: torch.Tensor) -> torch.Tensor:
    """The splitmix64 finaliser on int64 tensors (wrapping arithmetic); bit-identical to protocol.splitmix64.

    In place after the first add (the env hashes thousands of prompts at a time).
    """
    golden, mul1, mul2 = splitmix64_consts()
    x = x + golden
    x.bitwise_xor_(_lsr(x, 30)).mul_(mul1)
    x.bitwise_xor_(_lsr(x, 27)).mul_(mul2)
    return x.bitwise_xor_(_lsr(x, 31))


def prompt_streams_torch(key: torch.Tensor, block: torch.Tensor) -> torch.Tensor:
    """The stream seeds (N,) of blocks ``block`` (N,) under ``key`` ().

    Prompt k of block b is hashed from seed_b + k * prompt_step(d).
    """
    return splitmix64_torch(key + block)


def stream_prompt_words_torch(counter: torch.Tensor, d: int) -> torch.Tensor:
    """The hash words (N, W) of the prompts at stream counters ``counter`` (N,) = seed + k * prompt_step(d)."""
    w = n_words(d)
    if w > 1:
        counter = counter[:, None] + torch.arange(w, device=counter.device) * GOLDEN  # (N, W)
    return splitmix64_torch(counter).reshape(len(counter), w)


def unpack_prompt_bits(words: torch.Tensor, d: int, byte_bits64: torch.Tensor | None = None) -> torch.Tensor:
    """Prompt bits (N, d) uint8 from hash words (N, W): bit j is bit j % 32 of word j // 32.

    Byte k of the prompt (bits 8k .. 8k + 7) is byte k % 4 of word k // 4; its 8 bits are one lookup in
    ``byte_bits64`` (``BYTE_BITS64`` on the words' device, cached by the env). Returns a view (N, d) of the looked-up
    (N, 8 ceil(d / 8)) bytes.
    """
    dev = words.device
    if byte_bits64 is None:
        byte_bits64 = BYTE_BITS64.to(dev)
    k = torch.arange(-(-d // 8), device=dev)  # (n_bytes,)
    source = words if words.shape[1] == 1 else words.index_select(1, k // 4)  # (N, 1) or (N, n_bytes)
    byte = (source >> (8 * (k % 4))).bitwise_and_(255)  # (N, n_bytes) int64
    bits = byte_bits64.index_select(0, byte.view(-1)).view(torch.uint8)  # (N * 8 n_bytes,)
    return bits.view(len(words), -1)[:, :d]  # (N, d)


def word_masks(d: int, device=None) -> torch.Tensor:
    """(W,) int64: the bits of each hash word that a prompt of d bits uses (32 per word, fewer in the last)."""
    used = [min(32, d - 32 * w) for w in range(n_words(d))]
    return torch.tensor([(1 << u) - 1 for u in used], dtype=torch.int64, device=device)


def parity_from_words(masked: torch.Tensor, byte_parity: torch.Tensor | None = None) -> torch.Tensor:
    """Prompt parities (N,) int64 from hash words (N, W) already masked to their used bits (``word_masks``).

    The words' XOR folded to one byte, then its parity looked up in ``byte_parity`` (``BYTE_PARITY``).
    """
    if byte_parity is None:
        byte_parity = BYTE_PARITY.to(masked.device)
    x = masked[:, 0]
    for w in range(1, masked.shape[1]):
        x = x ^ masked[:, w]
    x = x ^ (x >> 16)  # (N,) < 2^32: fold the 4 bytes into the lowest
    x ^= x >> 8
    return byte_parity.index_select(0, x.bitwise_and_(255))


def id_from_words(masked: torch.Tensor, d: int) -> torch.Tensor:
    """Prompt ids (N,) int64 (protocol.prompt_ids) from masked hash words (N, W), for d <= EXACT_ID_MAX_D = 62.

    The id sum x_i 2^(i-1) is the used bits of word 0, plus those of word 1 shifted by 32.
    """
    if d > EXACT_ID_MAX_D:
        raise ValueError(f"id_from_words gives exact ids for d <= {EXACT_ID_MAX_D}; got d = {d} (use the weights)")
    return masked[:, 0] if masked.shape[1] == 1 else masked[:, 0] | (masked[:, 1] << 32)


def hashed_prompt_bits_torch(key: torch.Tensor, block: torch.Tensor, episode: torch.Tensor, d: int) -> torch.Tensor:
    """Bit-identical torch version of ``protocol.hashed_prompt_bits``.

    Prompt ``episode`` (N,) of blocks ``block`` (N,) under ``key`` (), as (N, d) uint8.
    """
    counter = prompt_streams_torch(key, block) + episode * prompt_step(d)  # (N,) wrapping
    return unpack_prompt_bits(stream_prompt_words_torch(counter, d), d)


if __name__ == "__main__":
    import numpy as np

    from .protocol import hashed_prompt_bits, prompt_ids

    rng = np.random.default_rng(0)
    for d in (2, 24, 33, 62, 100):
        block, episode = rng.integers(0, 1000, 256), rng.integers(0, 1000, 256)
        ref = hashed_prompt_bits(12345, block, episode, d)
        got = hashed_prompt_bits_torch(torch.tensor(12345), torch.from_numpy(block), torch.from_numpy(episode), d)
        assert np.array_equal(ref, got.numpy()), d
        masked = stream_prompt_words_torch(torch.arange(256), d) & word_masks(d)
        bits = unpack_prompt_bits(stream_prompt_words_torch(torch.arange(256), d), d).long()
        assert torch.equal(parity_from_words(masked), bits.sum(1) % 2)
        if d <= EXACT_ID_MAX_D:
            assert np.array_equal(id_from_words(masked, d).numpy(), prompt_ids(bits.numpy()))
        print(f"d = {d:3d}: bits, parities and ids equal the numpy reference")
