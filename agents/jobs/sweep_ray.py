"""The sweep's Ray: start or join a cluster, check that a cell fits it, run the cells as tasks and time Ray's share.

Only the sweep imports this module, and Ray only when a sweep runs (the ``[sweep]`` extra).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

INSTALL_HINT = "the sweep runs on Ray: pip install 'parity-cot[sweep]' (or pip install 'ray>=2.40,<3')"


def one_line(e: BaseException | str) -> str:
    """An error (or text) as one line of at most 300 characters, for a results line or a one-line message."""
    text = " ".join(str(e).split())
    return text[:300] + ("..." if len(text) > 300 else "")


def import_ray():
    """The ``ray`` module, or an ImportError saying how to install the ``[sweep]`` extra."""
    try:
        import ray
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return ray


def probe(address: str, timeout: float) -> None:
    """A TCP connection to a 'HOST:PORT' or 'ray://HOST:PORT' address within ``timeout`` seconds.

    Else a ConnectionError ('auto' is left to Ray, which fails at once when no cluster runs here).
    """
    target = address[len("ray://"):] if address.startswith("ray://") else address
    if address == "auto" or ":" not in target:
        return
    host, _, port = target.rpartition(":")
    try:
        port_number = int(port)
    except ValueError:
        raise ValueError(f"--address {address!r}: expected 'auto', 'HOST:PORT' or 'ray://HOST:PORT'") from None
    try:
        with socket.create_connection((host.strip("[]"), port_number), timeout=timeout):
            pass
    except OSError as e:
        raise ConnectionError(f"--address {address}: no Ray cluster answers there within {timeout:g} s ({e}); start "
                              "one (ray start --head) or fix the address") from None


def start_ray(address: str | None, num_cpus: int | None, num_gpus: int | None, connect_timeout: float):
    """Ray, ready for the cells; returns (ray, whether this call started it).

    The one already initialised in this process (a given address is still checked to answer), the ``address``
    cluster, or a new local one.
    """
    ray = import_ray()
    if address is not None:
        probe(address, connect_timeout)
    if ray.is_initialized():
        return ray, False
    common = {"log_to_driver": False, "logging_level": logging.WARNING}
    if address is not None:
        try:
            ray.init(address=address, **common)
        except (ConnectionError, RuntimeError) as e:  # no cluster, refused token, another Ray version, ...
            hint = ("" if os.environ.get("RAY_AUTH_MODE") else "; a cluster with token authentication (the default of "
                    "clusters started by ray.init) also needs RAY_AUTH_MODE=token here, its token in RAY_AUTH_TOKEN "
                    "or ~/.ray/auth_token")
            raise ConnectionError(f"--address {address}: cannot join the Ray cluster ({one_line(e)}){hint}") from None
    else:
        try:
            ray.init(num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False, **common)
        except (ConnectionError, RuntimeError) as e:
            raise ConnectionError(f"could not start a local Ray ({one_line(e)})") from None
    return ray, True


def slots(ray, cpus_per_cell: float, gpus_per_cell: float) -> int:
    """How many cells the cluster runs at once (its CPUs and GPUs over a cell's)."""
    res = ray.cluster_resources()
    n = int(res.get("CPU", 0) // cpus_per_cell)
    if gpus_per_cell > 0:
        n = min(n, int(res.get("GPU", 0) // gpus_per_cell))
    return max(n, 0)


def check_room(ray, cpus_per_cell: float, gpus_per_cell: float) -> None:
    """Raise (a ValueError: exit 2) when no cell fits the cluster: the cells would wait forever."""
    if slots(ray, cpus_per_cell, gpus_per_cell) == 0:
        res = ray.cluster_resources()
        raise ValueError(f"no cell fits this Ray cluster: a cell holds {cpus_per_cell:g} CPU and {gpus_per_cell:g} "
                         "GPU, "
                         f"the cluster has {res.get('CPU', 0):g} CPU and {res.get('GPU', 0):g} GPU; lower "
                         "--cpus-per-cell / --gpus-per-cell, or give the cluster more (--num-cpus, --num-gpus, "
                         "--address)")


def run_cells(ray, run_cell: Callable, todo: list[dict], args: tuple, resources: dict, on_result: Callable,
              failed_record: Callable[[dict, str, str], dict]) -> list[tuple[float, float]]:
    """Submit every cell of ``todo`` as a Ray task ``run_cell(cell, *args)``, calling ``on_result`` as each finishes.

    ``on_result(record)`` is called with Ray's timings added to the record (``ray``: submitted, started, ended,
    received, dispatch_s, end_to_result_s, ...). Returns (overhead_s, cell wall_s) per cell that reported its times.
    """
    remote = ray.remote(run_cell)
    pending: dict[Any, tuple[dict, float]] = {}
    for cell in todo:
        ref = remote.options(**resources).remote(cell, *args)
        pending[ref] = (cell, time.time())
    ends: list[float] = []  # the cells' end times: when slots were freed
    overheads = []
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        ref = ready[0]
        cell, submitted = pending.pop(ref)
        try:
            record = ray.get(ref)
        except Exception as e:  # noqa: BLE001  (the worker died, the task was cancelled, ...)
            record = failed_record(cell, one_line(e), type(e).__name__)
        received = time.time()
        timing = record["ray"]
        timing.update(submitted=submitted, received=received)
        if "started" in timing:
            freed = max([t for t in ends if t <= timing["started"]], default=submitted)
            timing.update(submit_to_start_s=timing["started"] - submitted,
                          dispatch_s=max(0.0, timing["started"] - max(submitted, freed)),
                          end_to_result_s=received - timing["ended"])
            ends.append(timing["ended"])
            wall = record.get("wall_time_s") or 0.0
            if wall > 0:
                timing["overhead_fraction"] = (timing["dispatch_s"] + timing["end_to_result_s"]) / wall
                overheads.append((timing["dispatch_s"] + timing["end_to_result_s"], wall))
        on_result(record)
    return overheads
