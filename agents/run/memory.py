"""Memory a step will ask for, estimated before it is asked: a batch the machine cannot hold is refused up front.

    check_fits(training_bytes(agent, task, rows=256), "a pre-training step of 256 demonstrations", "lower --batch-size")

An agent's activation memory is measured, not guessed: one forward pass with gradients on a single short sequence
records the bytes autograd saves for the backward (``torch.autograd.graph.saved_tensors_hooks``), at three lengths up
to 128 tokens, and a quadratic in the length (attention scores grow with its square) is extrapolated to the task's
sequence length and multiplied by the rows. It is an estimate (the allocator's own overheads are not in it), used to
refuse batches far beyond the machine, not to pack memory tightly: a step is refused when it needs more than
``USABLE_FRACTION`` of the memory available now.
"""

from __future__ import annotations

import os

import numpy as np
import torch

USABLE_FRACTION = 0.8
"""A step may use at most this share of the memory available when it is checked (the rest: the process, the OS)."""
PROBE_LENGTHS = (32, 64, 128)
"""The sequence lengths of the measuring forward passes (fewer when the task's sequences are shorter)."""


def available_bytes() -> int:
    """Memory available to a new allocation now: MemAvailable of /proc/meminfo, else the physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _saved_bytes(agent: torch.nn.Module, tokens: torch.Tensor) -> int:
    """Bytes autograd saves for the backward in one forward of ``agent`` on ``tokens`` (1, T)."""
    total = 0
    seen: set[int] = set()

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        key = t.untyped_storage().data_ptr()
        if key not in seen and not isinstance(t, torch.nn.Parameter):  # weights are saved by reference, once
            seen.add(key)
            total += t.untyped_storage().nbytes()
        return t

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        agent(tokens)
    return total


def per_sequence_bytes(agent: torch.nn.Module, seq_len: int, vocab: int) -> float:
    """Activation bytes of one sequence of ``seq_len`` tokens in a training step of ``agent`` (see the module)."""
    from ..models.agent import agent_device

    device = agent_device(agent)
    lengths = [t for t in PROBE_LENGTHS if t < seq_len] + [min(seq_len, PROBE_LENGTHS[-1])]
    lengths = sorted(set(lengths))[-3:]
    gen = torch.Generator().manual_seed(0)
    was_training = agent.training
    agent.train()
    try:
        with torch.random.fork_rng(devices=[]):  # a model's dropout draws from the global stream: leave it as it was
            measured = [_saved_bytes(agent, torch.randint(0, vocab, (1, t), generator=gen).to(device))
                        for t in lengths]
    finally:
        agent.train(was_training)
    if len(lengths) < 3 or seq_len <= lengths[-1]:
        return float(measured[-1]) * seq_len / lengths[-1]
    coef = np.polyfit(lengths, measured, 2)  # a + b T + c T^2
    return float(max(float(np.polyval(coef, seq_len)), measured[-1] * seq_len / lengths[-1]))


def training_bytes(agent: torch.nn.Module, task, rows: int) -> int:
    """Estimated bytes of a training step on ``rows`` sequences of ``task``.

    The agent's activations and the batch's token arrays (a few int64 copies).
    """
    per_row = per_sequence_bytes(agent, task.seq_len, task.vocab_size) + 4 * 8 * task.seq_len
    return int(per_row * rows)


def check_fits(need: int, what: str, fix: str) -> None:
    """Raise a MemoryError (exit 2 at the command line) when ``need`` bytes exceed what this machine can give now."""
    have = available_bytes()
    if need > USABLE_FRACTION * have:
        raise MemoryError(f"{what} needs about {_gb(need)} of memory, and this machine has {_gb(have)} available; "
                          f"{fix}")


def _gb(n: float) -> str:
    return f"{n / 1e9:,.1f} GB" if n >= 1e8 else f"{n / 1e6:,.0f} MB"
