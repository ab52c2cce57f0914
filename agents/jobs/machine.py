"""What a run was measured on: the machine's CPU, cores, load, torch's threads and the versions that matter.

    hardware()                                  # {"cpu": ..., "cores": 2, "torch_threads": 1, "torch": ..., ...}
    hardware(packages=("transformers", "trl"))   # the versions of these packages too (those installed)

Every benchmark result and every sweep cell records it, so that a number can be traced to what made it.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path

PACKAGES = ("numpy", "gymnasium", "tensordict", "torchrl")


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(packages: tuple[str, ...] = PACKAGES) -> dict:
    """The machine this process runs on, and how busy it is.

    The node, CPU model, cores (and those usable under taskset), torch's threads and version, the 1-minute load
    average (above the cores: other work shared the CPU, so timings are inflated), the GPU when there is one, and the
    versions of ``packages``.
    """
    import torch

    info = {"node": platform.node(), "cpu": cpu_model(), "cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "load_average_1min": os.getloadavg()[0], "python": platform.python_version()}
    if hasattr(os, "sched_getaffinity"):
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    for package in packages:
        try:
            info[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info
