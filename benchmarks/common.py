"""Shared plumbing of the benchmark scripts: where results and figures go, and the hardware line every result carries."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import time
from pathlib import Path

import torch

STARTED = time.perf_counter()  # results record the wall time since the script imported this module
HERE = Path(__file__).resolve().parent
RESULTS, FIGURES = HERE / "results", HERE / "figures"


def hardware() -> dict:
    """What the numbers were measured on (CPU model, cores, torch threads, GPU when used)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "load_average_1min": os.getloadavg()[0]}  # > cores means other work shared the CPU: timings inflated
    if hasattr(os, "sched_getaffinity"):
        info["cpus_usable"] = len(os.sched_getaffinity(0))  # fewer than cores under taskset
    info["python"] = platform.python_version()
    for package in ("numpy", "gymnasium", "tensordict", "torchrl"):
        try:
            info[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def device_sync(device: str | torch.device):
    """A function that waits for ``device``'s queued work (CUDA kernels run asynchronously): for timing."""
    return torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)


def write_result(name: str, data: dict, out: str | Path | None = None) -> Path:
    """Write ``data`` with the hardware and the wall time to ``out`` (default benchmarks/results/NAME.json)."""
    path = Path(out) if out is not None else RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"hardware": hardware(), "wall_time_s": time.perf_counter() - STARTED, **data}, indent=1))
    print(f"wrote {path}")
    return path


def read_result(name: str) -> dict:
    return json.loads((RESULTS / f"{name}.json").read_text())


def figure_path(name: str) -> Path:
    FIGURES.mkdir(parents=True, exist_ok=True)
    return FIGURES / f"{name}.png"


def label_rl_axes(axes, algos: list[str], titles: list[str], legend_size: int = 8) -> None:
    """Titles, the 99% line, axis labels and legends of a (2, n) grid: greedy accuracy (top) and greedy answer length
    (bottom) against RL steps, one column per algorithm (STaR's steps are rounds)."""
    for col, (algo, title) in enumerate(zip(algos, titles)):
        axes[0, col].set_title(title)
        axes[0, col].axhline(0.99, color="k", lw=0.5, ls="--")
        axes[1, col].set_xlabel("RL step" + (" (round)" if algo == "star" else ""))
        axes[0, col].legend(fontsize=legend_size)
    axes[0, 0].set_ylabel("greedy accuracy")
    axes[1, 0].set_ylabel("greedy answer length (bits)")
