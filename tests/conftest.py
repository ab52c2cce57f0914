"""Shared test helpers: one torch thread per test, scripted responses and a pure-Python reward oracle.

Run the tests with ``pytest`` (slow ones with ``pytest -m slow``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """The models under test are tiny: one thread is fastest, and it keeps timings of a busy machine sane."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

EOS = 2
KINDS = (
    "eos_first",  # EOS as the first token: empty answer
    "short_right",
    "short_wrong",
    "chain",  # the exact (leap) chain, then EOS
    "chain_one_wrong",  # the chain with one bit flipped
    "chain_extra",  # the chain, one more bit, then EOS (over-long answer)
    "full_chain",  # the leap-1 chain regardless of leap (right answer bit, wrong chain when leap > 1)
    "no_eos",  # bits forever: truncated
    "random",  # uniform tokens
)


def oracle_reward(bits: list[int], emitted: list[int], mode: str, leap: int) -> float:
    """The reward of a finished response, computed from scratch: ``bits`` the prompt, ``emitted`` the tokens."""
    if EOS not in emitted:
        return 0.0
    answer = emitted[: emitted.index(EOS)]
    y = 0
    prefix = []
    for b in bits:
        y ^= b
        prefix.append(y)
    if mode == "answer":
        return float(len(answer) > 0 and answer[-1] == y)
    d = len(bits)
    chain = [prefix[i - 1] for i in range(leap, d + 1, leap)]
    if d % leap:
        chain.append(prefix[d - 1])
    return float(answer == [y] or answer == chain)


def plan_response(
    bits: np.ndarray, leap: int, max_len: int, rng: np.random.Generator, kind: str | None = None
) -> list[int]:
    """A scripted response (tokens to emit, at least max_len of them unless it ends with EOS)."""
    kind = kind or KINDS[rng.integers(len(KINDS))]
    bits = [int(b) for b in bits]
    prefix = list(np.bitwise_xor.accumulate(bits))
    d = len(bits)
    pos = list(range(leap - 1, d, leap))
    if pos[-1] != d - 1:
        pos.append(d - 1)
    chain = [int(prefix[i]) for i in pos]
    y = chain[-1]
    if kind == "eos_first":
        plan = [EOS]
    elif kind == "short_right":
        plan = [y, EOS]
    elif kind == "short_wrong":
        plan = [1 - y, EOS]
    elif kind == "chain":
        plan = chain + [EOS]
    elif kind == "chain_one_wrong":
        i = int(rng.integers(len(chain)))
        plan = chain[:i] + [1 - chain[i]] + chain[i + 1 :] + [EOS]
    elif kind == "chain_extra":
        plan = chain + [int(rng.integers(2)), EOS]
    elif kind == "full_chain":
        plan = [int(p) for p in prefix] + [EOS]
    elif kind == "no_eos":
        plan = [int(b) for b in rng.integers(0, 2, max_len)]
    else:
        plan = [int(t) for t in rng.integers(0, 3, max_len)]
    return plan + [int(b) for b in rng.integers(0, 2, max_len)]  # padding: only reached by truncated responses


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """``parity-cot ARGV`` in this process: (exit code, stdout, stderr), whether it returned or raised SystemExit."""
    from agents.cli import main

    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err
