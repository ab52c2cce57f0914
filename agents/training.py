"""What every training loop shares: the device and thread count, the divergence check, the run directory.

Pre-training and fine-tuning call these at their start and at every step; the command line turns their errors into
one-line messages (``agents.cli``).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch


class DivergedError(RuntimeError):
    """A run whose loss, gradient or weights stopped being finite; nothing non-finite was saved."""


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
    """torch's CPU thread count for this process (None leaves torch's default)."""
    if threads is not None:
        torch.set_num_threads(threads)


def check_finite(step: int, loss: torch.Tensor, grad_norm: torch.Tensor, lr: float) -> None:
    """Raise ``DivergedError`` naming the step and the likely cause when the loss or the gradient is not finite
    (checked before the optimizer step, so the weights are still those of the last good step)."""
    loss_value, norm = float(loss.detach()), float(grad_norm)
    if math.isfinite(loss_value) and math.isfinite(norm):
        return
    raise DivergedError(f"step {step}: the loss ({loss_value}) or the gradient norm ({norm}) is not finite, so the run "
                        f"stopped before updating the weights; the learning rate {lr:g} is the likely cause: lower "
                        "--lr (no non-finite checkpoint was written; the last good one is kept)")


def prepare_out_dir(out: str | os.PathLike, resume: bool) -> Path:
    """The run directory ``out``: new or empty unless ``resume``; an existing file is refused."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file, not a directory; choose a directory for the run")
    if not resume and out.exists() and any(out.iterdir()):
        raise FileExistsError(f"--out {out} is not empty; pass --resume to continue it, or choose another directory")
    out.mkdir(parents=True, exist_ok=True)
    return out
