"""What every training loop shares: the device and thread count, the divergence check, the run directory.

Pre-training and fine-tuning call these at their start and at every step; the command line turns their errors into
one-line messages (``agents.cli``).
"""

from __future__ import annotations

import fcntl
import math
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from ..models.errors import DivergedError


def resolve_device(name: str) -> torch.device:
    """``name`` as a torch device that exists here, else a ValueError naming the option and the fix."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"--device {name!r} is not a torch device (cpu, cuda, cuda:1, ...): {e}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine; use --device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {name}: only cpu and cuda devices are supported")
    return device


def set_threads(threads: int | None) -> None:
    """Set torch's CPU thread count for this process (None leaves torch's default)."""
    if threads is not None:
        torch.set_num_threads(threads)


def check_finite(step: int, loss: torch.Tensor, grad_norm: torch.Tensor, lr: float) -> float:
    """The loss as a float; raise ``DivergedError`` naming the step and the likely cause when it is not finite.

    Raised when the loss or the gradient is not finite, checked before the optimizer step, so the weights are still
    those of the last good step.
    """
    loss_value, norm = float(loss.detach()), float(grad_norm)
    if math.isfinite(loss_value) and math.isfinite(norm):
        return loss_value
    raise DivergedError(f"step {step}: the loss ({loss_value}) or the gradient norm ({norm}) is not finite, so the run "
                        f"stopped before updating the weights; the learning rate {lr:g} is the likely cause: lower "
                        "--lr (no non-finite checkpoint was written; the last good one is kept)")


def check_weights(step: int, parameters: list[torch.Tensor], lr: float) -> None:
    """Raise ``DivergedError`` when an optimizer step left a non-finite weight (one reduction and one sync)."""
    if bool(torch.stack([p.detach().isfinite().all() for p in parameters]).all()):
        return
    raise DivergedError(f"step {step}: the update left non-finite weights; the learning rate {lr:g} is the likely "
                        "cause: lower --lr (no non-finite checkpoint was written; the last good one is kept)")


def prepare_out_dir(out: str | os.PathLike, resume: bool) -> Path:
    """The run directory ``out``: new or empty unless ``resume``; an existing file is refused."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file, not a directory; choose a directory for the run")
    if not resume and out.exists() and any(p.name != LOCK_FILE for p in out.iterdir()):
        raise FileExistsError(f"--out {out} is not empty; pass --resume to continue it, or choose another directory")
    out.mkdir(parents=True, exist_ok=True)
    return out


LOCK_FILE = ".lock"


@contextmanager
def run_directory(out: str | os.PathLike | None, resume: bool) -> Iterator[Path | None]:
    """The run directory ``out`` (``prepare_out_dir``), locked for the life of the ``with`` block.

    A second run on it fails at once, naming the holder. ``None`` (a run that writes nothing) passes through. The
    lock is the operating system's (``flock``), so a killed run leaves no stale lock behind.
    """
    if out is None:
        yield None
        return
    out = prepare_out_dir(out, resume)
    with open(out / LOCK_FILE, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise FileExistsError(f"--out {out} is in use by another run ({holder}); wait for it to end, or choose "
                                  "another directory") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}: {' '.join(sys.argv)} (since {time.strftime('%Y-%m-%d %H:%M:%S')})\n")
        handle.flush()
        try:
            yield out
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
