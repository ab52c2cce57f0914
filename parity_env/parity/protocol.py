"""The ParityCoT token protocol: vocabulary, sequence layout, the chain, the verifier, prompt ids, validation.

Every implementation (the Gymnasium env, the native vector env, the TorchRL env, the demonstration sampler and the
agents) takes its constants and rules from here, so there is exactly one definition of the task.

Worked example, d = 4, leap = 1, max_response_len = d + 1 = 5, so the sequence length is L = d + 1 + 5 = 10::

    bits x          1 0 1 1            parity y = 1
    prefix parity c 1 1 0 1            (c_1 = x_1, c_i = c_{i-1} xor x_i, c_d = y)

    short answer    1 0 1 1 SEP 1 EOS PAD PAD PAD   -> tokens 1 0 1 1 3 1 2 4 4 4
    long answer     1 0 1 1 SEP 1 1 0 1 EOS         -> tokens 1 0 1 1 3 1 1 0 1 2

Vocabulary: 0 = bit 0, 1 = bit 1, 2 = EOS, 3 = SEP, 4 = PAD; the agent emits only 0, 1 or EOS.
"answer length" means bits before EOS (short 1, full chain d); the env's ``response_length`` counts tokens, EOS
included (short 2, full chain d + 1).

Run ``python -m parity_env.parity.protocol`` to print this example computed by the code below.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..checks import check_int, short_repr
from ..contract import Verdicts
from ..hashing import GOLDEN, splitmix64

BIT0, BIT1, EOS, SEP, PAD = 0, 1, 2, 3, 4
VOCAB_SIZE = 5
N_ACTIONS = 3  # the emitted token: 0, 1 or EOS
TOKEN_NAMES = ("0", "1", "EOS", "SEP", "PAD")
EXACT_ID_MAX_D = 62  # below this the prompt id is the binary number sum x_i 2^(i-1); above, a 64-bit hash


# --------------------------------------------------------------------------------------------------- validation
def check_task(d: Any, leap: Any = 1, max_response_len: Any = None) -> tuple[int, int, int]:
    """Validate the task parameters shared by every implementation; returns (d, leap, max_response_len)."""
    d = check_int("d", d, 2)
    leap = check_int("leap", leap, 1, d - 1)
    max_response_len = d + 1 if max_response_len is None else check_int("max_response_len", max_response_len, 1)
    return d, leap, max_response_len


def check_bits(bits: Any, d: int, name: str = "bits") -> np.ndarray:
    """Validate a prompt (or a batch of prompts): a list/array whose last axis has length d and values in {0, 1}.

    Returns an int64 array of the same shape. Bools, floats and strings are rejected rather than coerced.
    """
    arr = np.asarray(bits)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must hold the integers 0 and 1; got dtype {arr.dtype} from {short_repr(bits)}")
    if arr.ndim == 0 or arr.shape[-1] != d:
        raise ValueError(f"{name} must have length d = {d} on its last axis; got shape {arr.shape}")
    if arr.size and not np.isin(arr, (0, 1)).all():
        bad = arr[~np.isin(arr, (0, 1))].ravel()[:5]
        raise ValueError(f"{name} must hold only 0 and 1; got values {bad.tolist()}")
    return arr.astype(np.int64)


# --------------------------------------------------------------------------------------------------- the chain
def chain_length(d: int, leap: int = 1) -> int:
    """Bits of the long answer: ceil(d / leap), the kept prefix parities c_leap, c_2leap, ..., ending with c_d."""
    return -(-d // leap)


def chain_positions(d: int, leap: int = 1) -> np.ndarray:
    """0-based indices i of the prefix parities c_{i+1} kept in the long answer, shape (chain_length(d, leap),)."""
    pos = np.arange(leap - 1, d, leap)
    if pos[-1] != d - 1:
        pos = np.append(pos, d - 1)
    return pos.astype(np.int64)


def prefix_parities(bits: np.ndarray) -> np.ndarray:
    """c_i = x_1 xor ... xor x_i along the last axis (same shape and dtype as ``bits``)."""
    return np.bitwise_xor.accumulate(bits, axis=-1)


def long_answer(bits: np.ndarray, leap: int = 1) -> np.ndarray:
    """The chain of thought (..., chain_length) for prompts ``bits`` (..., d)."""
    return prefix_parities(bits)[..., chain_positions(bits.shape[-1], leap)]


def max_length(d: int, max_response_len: int) -> int:
    """Fixed sequence length L = d + 1 + max_response_len (prompt, SEP, response slots)."""
    return d + 1 + max_response_len


# --------------------------------------------------------------------------------------------------- prompt ids
def hashed_prompt_bits(key: int, block: np.ndarray, episode: np.ndarray, d: int) -> np.ndarray:
    """Prompt bits (N, d) int64 of blocks ``block`` (N,) at episode counters ``episode`` (N,) under a 64-bit ``key``.

    The batched envs' group rule: row r's k-th episode uses ``hashed_prompt_bits(key, r // group_size, k, d)``, so
    every row of a block sees the same sequence of prompts however the rows finish. Each block has its own
    SplitMix64 stream seeded by s_b = splitmix64(key + b); prompt k takes W = ceil(d / 32) consecutive outputs
    word_w = splitmix64(s_b + (k W + w) * 0x9E3779B97F4A7C15) (uint64, wrapping), and bit j of the prompt is bit
    j % 32 of word j // 32. Counter-based: no state beyond the key and the per-row episode counters.
    """
    n_words = -(-d // 32)
    with np.errstate(over="ignore"):
        key64 = np.asarray(key).astype(np.int64).view(np.uint64)
        block = np.asarray(block, dtype=np.int64).view(np.uint64)
        episode = np.asarray(episode, dtype=np.int64).view(np.uint64)
        stream = splitmix64(key64 + block)  # (N,)
        counter = episode * np.uint64(n_words) + np.arange(n_words, dtype=np.uint64)[:, None]  # (W, N)
        words = splitmix64(stream + counter * np.uint64(GOLDEN)).T  # (N, W)
    bits = (words[:, :, None] >> np.arange(32, dtype=np.uint64)) & np.uint64(1)  # (N, W, 32)
    return bits.reshape(len(stream), n_words * 32)[:, :d].astype(np.int64)


def prompt_id_weights(d: int) -> np.ndarray:
    """Weights w (d,) int64 such that prompt_id = sum_i x_i w_i (mod 2^64, read as int64).

    For d <= 62, w_i = 2^(i-1), so the id is exactly the binary number sum x_i 2^(i-1) (0 <= id < 2^62). For d > 62
    the id is a 64-bit hash: w_i = splitmix64(i) for i = 1..d, and the sum wraps modulo 2^64; distinct prompts collide
    with probability about 2^-64 per pair.
    """
    if d <= EXACT_ID_MAX_D:
        return (np.int64(1) << np.arange(d, dtype=np.int64)).astype(np.int64)
    return splitmix64(np.arange(1, d + 1, dtype=np.uint64)).view(np.int64)


def prompt_ids(bits: np.ndarray) -> np.ndarray:
    """int64 ids (...,) of prompts ``bits`` (..., d); equal prompts give equal ids (see ``prompt_id_weights``)."""
    w = prompt_id_weights(bits.shape[-1]).view(np.uint64)
    with np.errstate(over="ignore"):
        return (bits.astype(np.uint64) * w).sum(axis=-1, dtype=np.uint64).view(np.int64)


# --------------------------------------------------------------------------------------------------- the verifier
def judge(bits: np.ndarray, responses: np.ndarray, leap: int = 1, partial_leap: int | None = None) -> Verdicts:
    """The checker: verdicts on ``responses`` (B, R) to the prompts ``bits`` (B, d).

    ``responses`` are the emitted tokens (anything after the first EOS is ignored). The one definition of a right
    answer; the envs' token-by-token bookkeeping and the TorchRL env's step table are tested against it. With
    ``partial_leap`` (a task whose demonstrations include partial chains), ``demonstrated`` also counts the responses
    that are exactly the partial chain of that leap.
    """
    bits, responses = np.asarray(bits), np.asarray(responses)
    B, R = responses.shape
    is_eos = responses == EOS  # (B, R)
    finished = is_eos.any(axis=1)  # (B,)
    end = np.where(finished, is_eos.argmax(axis=1), R)  # (B,) the first EOS, or R
    before = np.arange(R) < end[:, None]  # (B, R)
    length = ((responses < EOS) & before).sum(axis=1)  # (B,) bits before the first EOS
    last = responses[np.arange(B), np.maximum(end - 1, 0)]  # (B,) the token before EOS (garbage if end == 0)
    chain = long_answer(bits, leap)  # (B, m); chain[:, -1] is the parity
    answer_correct = finished & (end >= 1) & (length == end) & (last == chain[:, -1])

    def exactly(kept: np.ndarray) -> np.ndarray:  # (B,): the bits before EOS are exactly ``kept`` (B, m)
        m = kept.shape[1]
        if m > R:
            return np.zeros(B, dtype=bool)
        return finished & (end == m) & (length == m) & (responses[:, :m] == kept).all(axis=1)

    chain_exact = exactly(chain)
    demonstrated = chain_exact | exactly(long_answer(bits, partial_leap)) if partial_leap else chain_exact
    cot_correct = (answer_correct & (length == 1)) | chain_exact  # a partial chain is not rewarded
    return Verdicts(answer_correct=answer_correct, cot_correct=cot_correct, is_long=length > 1,
                    answer_length=length.astype(np.int64), finished=finished, demonstrated=demonstrated)


def is_correct(bits: np.ndarray, response: np.ndarray, reward: str = "answer", leap: int = 1) -> bool:
    """The verdict of reward mode ``reward`` on one finished response: ``judge``'s rule for one row.

    Written out for the single env's step (five times faster than a batch of one) and tested against ``judge``.

    ``bits`` (d,) is the prompt; ``response`` is the emitted tokens (EOS included, anything after it ignored). A
    response without EOS (truncated) is never correct. "answer": every token before EOS is a bit and the last one
    equals the parity. "cot": the bits before EOS are exactly the short answer (y) or exactly the long answer (the
    leap-k chain).
    """
    response = np.asarray(response)
    eos = np.flatnonzero(response == EOS)
    if eos.size == 0:
        return False
    answer = response[: eos[0]]
    y = int(np.asarray(bits).sum() % 2)
    if reward == "answer":
        return answer.size > 0 and bool((answer < EOS).all()) and int(answer[-1]) == y
    chain = long_answer(bits, leap)
    return (answer.size == 1 and int(answer[0]) == y) or (answer.size == chain.size and bool((answer == chain).all()))


def format_tokens(tokens: np.ndarray) -> str:
    """Human-readable tokens, e.g. '1 0 1 1 SEP 1 EOS' (PAD dropped)."""
    return " ".join(TOKEN_NAMES[int(t)] for t in np.asarray(tokens).ravel() if int(t) != PAD)


if __name__ == "__main__":
    example = np.array([1, 0, 1, 1])
    print("bits            ", format_tokens(example), " parity", int(example.sum() % 2))
    print("prefix parities ", format_tokens(prefix_parities(example)))
    print("leap-2 chain    ", format_tokens(long_answer(example, 2)))
    print("prompt id       ", int(prompt_ids(example)))
