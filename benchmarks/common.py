"""Shared plumbing of the benchmark scripts: where results and figures go, and the hardware line every result carries."""

from __future__ import annotations

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
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


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
