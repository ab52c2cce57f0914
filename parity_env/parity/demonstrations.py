"""The demonstration mixture for next-token pre-training: short answers, and long chains with probability p_long.

Each row is laid out exactly like the environment's observation at the end of a demonstrated episode::

    x_1 ... x_d SEP  y EOS PAD ... PAD            (short, probability 1 - p_long - p_partial)
    x_1 ... x_d SEP  c_k c_2k ... c_d EOS PAD ... (long, probability p_long; leap k, full chain for k = 1)
    x_1 ... x_d SEP  c_j c_2j ... c_d EOS PAD ... (partial, probability p_partial; leap j = partial_leap: our
                                                   construction of "partial chains", in place of short answers)

Vectorised numpy throughout (several million sequences a minute at d = 50 on one CPU core):
``python -m parity_env.parity.demonstrations`` prints a few rows and the sampling rate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..checks import check_int, check_probability, make_rng
from .protocol import EOS, PAD, SEP, chain_length, check_task, long_answer


def sample_demonstrations(
    n: int,
    d: int,
    p_long: float,
    leap: int = 1,
    max_response_len: int | None = None,
    seed: Any = None,
    p_partial: float = 0.0,
    partial_leap: int = 2,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw ``n`` demonstrations of the d-bit parity task: long, a partial chain, or short.

    Each is long with probability ``p_long``, a partial chain (every ``partial_leap``-th prefix parity) with
    probability ``p_partial``, else short.

    Returns ``(tokens, response_mask, is_long)``: int64 tokens (n, d + 1 + max_response_len), a bool mask of the
    response positions (the answer bits and EOS), and the bool long-form flag (n,): long or partial. A uniform draw
    per row decides its kind, so a mixture without partial chains draws exactly what it always drew.
    ``max_response_len`` defaults to d + 1 and must leave room for EOS after the longest demonstration drawn.
    """
    n = check_int("n", n, 0)
    d, leap, max_response_len = check_task(d, leap, max_response_len)
    p_long = check_probability("p_long", p_long)
    p_partial = check_probability("p_partial", p_partial)
    if p_long + p_partial > 1:
        raise ValueError(f"p_long + p_partial must be <= 1; got {p_long} + {p_partial}")
    if p_partial > 0:
        partial_leap = check_int("partial_leap", partial_leap, 1, d - 1)
    m = chain_length(d, leap)
    need = max(m + 1 if p_long > 0 else 2, chain_length(d, partial_leap) + 1 if p_partial > 0 else 2)
    if max_response_len < need:
        raise ValueError(
            f"max_response_len must be >= {need} to hold the {'long' if p_long > 0 else 'short'} answer and its EOS "
            f"(d = {d}, leap = {leap}); got {max_response_len}"
        )
    rng = make_rng(seed)
    bits = rng.integers(0, 2, size=(n, d), dtype=np.int64)  # (n, d)
    kind = rng.random(n)  # (n,) long below p_long, partial below p_long + p_partial, short above
    is_long = kind < p_long  # (n,)

    tokens = np.full((n, d + 1 + max_response_len), PAD, dtype=np.int64)  # (n, L)
    tokens[:, :d] = bits
    tokens[:, d] = SEP
    resp = tokens[:, d + 1 :]  # (n, R) view
    chain = long_answer(bits, leap)  # (n, m); chain[:, -1] is the parity y
    resp[:, 0] = np.where(is_long, chain[:, 0], chain[:, -1])
    resp[:, 1] = EOS
    if is_long.any():
        resp[is_long, : m + 1] = np.concatenate([chain[is_long], np.full((int(is_long.sum()), 1), EOS)], axis=1)
    answer_len = np.where(is_long, m, 1)  # bits before EOS
    if p_partial > 0:
        partial = ~is_long & (kind < p_long + p_partial)  # (n,)
        part = long_answer(bits[partial], partial_leap)  # (n_partial, m_p)
        resp[partial, : part.shape[1] + 1] = np.concatenate([part, np.full((len(part), 1), EOS)], axis=1)
        answer_len = np.where(partial, part.shape[1], answer_len)
        is_long = is_long | partial
    response_mask = np.zeros_like(tokens, dtype=bool)  # (n, L)
    response_mask[:, d + 1 :] = np.arange(max_response_len) <= answer_len[:, None]
    return tokens, response_mask, is_long


if __name__ == "__main__":
    import time

    from .protocol import format_tokens

    toks, mask, long_ = sample_demonstrations(4, d=8, p_long=0.5, seed=0)
    for row, lg in zip(toks, long_):
        print("long " if lg else "short", format_tokens(row))
    t0 = time.perf_counter()
    sample_demonstrations(1_000_000, d=50, p_long=0.25, seed=0)
    dt = time.perf_counter() - t0
    print(f"1M demonstrations at d = 50: {dt:.2f} s ({60 / dt:.1f}M sequences/minute)")
