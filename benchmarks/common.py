"""Shared plumbing of the benchmark scripts: their common options, where results go, the hardware every result records.

Every script writes its JSON to ``--results DIR`` (default runs/benchmarks); ``--results benchmarks/results``
overwrites the committed result that benchmarks/README.md quotes and ``benchmarks/plots.py`` draws by default.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

STARTED = time.perf_counter()  # results record the wall time since the script imported this module
HERE = Path(__file__).resolve().parent
COMMITTED_RESULTS, COMMITTED_FIGURES = HERE / "results", HERE / "figures"
DEFAULT_RESULTS = Path("runs/benchmarks")

OLD_KINDS = {"fig1": "paper_scale", "d50_cpu": "paper_scale", "temperature_reinforce": "temperature",
             "temperature_star": "temperature"}
"""The benchmark of each committed result whose JSON predates its "benchmark" entry and is not named after it."""


# --------------------------------------------------------------------------------------------------- options
def add_results_arguments(parser: argparse.ArgumentParser, out: bool = False) -> None:
    """``--results DIR``, and with ``out`` also ``--out FILE`` (an explicit JSON path, which wins over --results)."""
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, metavar="DIR",
                        help=f"directory of the result JSON (default {DEFAULT_RESULTS}; benchmarks/results replaces "
                             "the committed result)")
    if out:
        parser.add_argument("--out", type=Path, default=None, metavar="FILE",
                            help="the result's JSON path, instead of --results DIR/NAME.json")


def add_agent_arguments(parser: argparse.ArgumentParser) -> None:
    """``--agent NAME`` and ``--agent-config JSON``, the agent a script pre-trains or builds."""
    from agents.run.config import parse_json_object

    parser.add_argument("--agent", default="gpt",
                        help="agent to pre-train: gpt, linear, hf, a registered name or 'module:factory' (default gpt)")
    parser.add_argument("--agent-config", type=parse_json_object, default={}, metavar="JSON",
                        help="the agent factory's keyword arguments, e.g. '{\"n_layer\": 2}' (default {})")


def add_task_arguments(parser: argparse.ArgumentParser, d: int = 24) -> None:
    """``--task NAME``, ``--task-config JSON`` and parity's ``--d`` (its default ``d``), the task a script runs."""
    from agents.run.config import parse_json_object

    parser.add_argument("--task", default="parity",
                        help="the task: parity, multiplication, a registered name or 'module:factory' (default parity)")
    parser.add_argument("--task-config", type=parse_json_object, default={}, metavar="JSON",
                        help="the task's settings, e.g. '{\"digits\": 3}' (default {})")
    parser.add_argument("--d", type=int, default=None, help=f"parity's prompt bits (default {d})")
    parser.set_defaults(default_d=d)


def task_of(args: argparse.Namespace, **settings):
    """The task of ``add_task_arguments``' options with the script's own ``settings`` (p_long, ...) over them."""
    from parity_env import make_task

    config = dict(args.task_config)
    if args.d is not None or args.task == "parity":
        config["d"] = args.d if args.d is not None else config.get("d", args.default_d)
    return make_task(args.task, **{**config, **settings})


def agent_options(args: argparse.Namespace) -> dict:
    """The ``PretrainConfig`` fields given by ``add_agent_arguments``' options."""
    return {"agent": args.agent, "agent_config": args.agent_config}


# --------------------------------------------------------------------------------------------------- results
def hardware() -> dict:
    """What the numbers were measured on (``agents.jobs.machine.hardware``)."""
    from agents.jobs.machine import hardware as machine

    return machine()


def device_sync(device):
    """A function that waits for ``device``'s queued work (CUDA kernels run asynchronously): for timing."""
    import torch

    return torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)


def write_result(benchmark: str, data: dict, results: str | Path = DEFAULT_RESULTS, out: str | Path | None = None,
                 name: str | None = None) -> Path:
    """Write ``data`` with the benchmark's name, the hardware and the wall time to ``out``, or else to
    RESULTS/NAME.json (NAME: ``name``, default the benchmark's)."""
    path = Path(out) if out is not None else Path(results) / f"{name or benchmark}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"benchmark": benchmark, "hardware": hardware(), "wall_time_s": time.perf_counter() - STARTED, **data}
    path.write_text(json.dumps(record, indent=1))
    print(f"wrote {path}")
    return path


def read_result(name: str, results: str | Path = COMMITTED_RESULTS) -> dict:
    path = Path(results) / f"{name}.json"
    if not path.is_file():
        raise SystemExit(f"no result {name!r}: {path} does not exist")
    return json.loads(path.read_text())


def result_kind(name: str, data: dict) -> str:
    """The benchmark that wrote the result ``name``: its "benchmark" entry, else (older results) its name."""
    return data.get("benchmark") or OLD_KINDS.get(name, name)


def task_settings(record: dict) -> dict:
    """A result's task as its settings: a task record {"name", "config"} (``task.to_dict()``) or, in results written
    before tasks had names, parity's fields themselves."""
    return record["config"] if isinstance(record.get("config"), dict) and "name" in record else record


def chain_learned_at(log: list[dict]) -> int | None:
    """The samples at the first evaluation point of a pre-training log whose chain check passed (None: never)."""
    return next((point["samples"] for point in log if point["chain_learned"]), None)
