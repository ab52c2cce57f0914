"""SplitMix64, the 64-bit mixing function behind the envs' counter-based prompts and the prompt ids.

In numpy, with wrapping uint64 arithmetic; ``parity_env.parity.torch_prompts`` has the bit-identical torch version.
"""

from __future__ import annotations

import numpy as np

GOLDEN, MUL1, MUL2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def splitmix64_consts() -> tuple[int, int, int]:
    """The three splitmix64 constants as signed int64 Python ints (for torch, which has no uint64 arithmetic)."""
    golden, mul1, mul2 = (c - 2**64 if c >= 2**63 else c for c in (GOLDEN, MUL1, MUL2))
    return golden, mul1, mul2


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(GOLDEN)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(MUL1)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(MUL2)
        return x ^ (x >> np.uint64(31))
