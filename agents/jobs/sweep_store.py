"""A sweep's files: the grid it records, one results line per finished cell, each cell's directory name.

    DIR/sweep.json           the grid (agents, task, grid axes, algorithms, seeds) and the per-cell options
    DIR/results.jsonl        one JSON line per finished cell, appended as cells finish (the latest line of a cell wins)
    DIR/runs.jsonl           one line per invocation that ran cells (its wall time, slots, Ray's overhead)
    DIR/cells/<name>/        each cell's run directories (pretrain/, finetune/, control/)

A cell is ``{"agent", "task", "settings", "algo", "seed"}``: ``settings`` holds the grid axes' values of the cell
(parity's ``d`` and ``p_long``, multiplication's ``digits`` and ``p_long``, ...). Results written before sweeps
ranged over any task (parity only, with ``d`` and ``p_long`` at the top of each line) are read as parity cells.
Lines are appended in one write and synced, so a killed sweep leaves whole lines only.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

SWEEP_FILE, RESULTS_FILE, RUNS_FILE, CELLS_DIR = "sweep.json", "results.jsonl", "runs.jsonl", "cells"
KEY = ("agent", "task", "settings", "algo", "seed")
"""What identifies a cell (and its results line)."""
SHORT_KEYS = {"p_long": "p"}
"""How a setting is abbreviated in cell directory names (parity's cells keep their earlier names, d8-p0.1)."""


def file_safe(text: str) -> str:
    """``text`` with every run of characters outside [A-Za-z0-9_.] replaced by one underscore."""
    return re.sub(r"[^A-Za-z0-9_.]+", "_", text)


def cell_name(cell: dict) -> str:
    """The cell's directory name under DIR/cells: <agent>[-<task>]-<setting><value>...-<algo>-s<seed>.

    Parity's cells leave the task out, as they always did: gpt-d8-p0.1-reinforce-s0.
    """
    task = "" if cell["task"] == "parity" else f"-{file_safe(cell['task'])}"
    settings = "-".join(file_safe(f"{SHORT_KEYS.get(k, k)}{v!r}") for k, v in cell["settings"].items())
    return f"{file_safe(cell['agent'])}{task}-{settings}-{file_safe(cell['algo'])}-s{cell['seed']}"


def read_cell(record: dict) -> dict:
    """The cell of a results line; an older line (parity, no task) has d and p_long at its top."""
    if "task" not in record:
        return {"agent": record["agent"], "task": "parity", "settings": {"d": record["d"], "p_long": record["p_long"]},
                "algo": record["algo"], "seed": record["seed"]}
    return {k: record[k] for k in KEY}


def cell_key(record: dict) -> tuple:
    """A hashable key of a cell or results line."""
    cell = read_cell(record)
    return (cell["agent"], cell["task"], json.dumps(cell["settings"], sort_keys=True), cell["algo"], cell["seed"])


def failed_record(cell: dict, options: dict) -> dict:
    """A cell's results line before (or without) a result: "failed" until the cell says otherwise.

    The settings are also at the top of the line, for tools that read it flat.
    """
    record = {"cell": cell_name(cell), "status": "failed", "options": options, "ntp": None, "rl": None,
              "control": None, "rl_steps_to_solve": None, "stages": {}}
    flat = {k: v for k, v in cell["settings"].items() if k not in record and k not in KEY}
    return {**cell, **flat, **record}


def read_results(out: str | os.PathLike) -> list[dict]:
    """The lines of DIR/results.jsonl, in order (a line cut short by a kill is skipped)."""
    path = Path(out) / RESULTS_FILE
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and "status" in record:
            try:
                cell_key(record)
            except (KeyError, TypeError):
                continue
            records.append(record)
    return records


def latest_results(out: str | os.PathLike) -> dict[tuple, dict]:
    """The latest line of each cell: its result."""
    return {cell_key(r): r for r in read_results(out)}


def append_line(path: Path, record: dict) -> None:
    """One line, in one write to a file opened for appending, then synced: a kill leaves whole lines only."""
    data = (json.dumps(record) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_sweep(out: Path) -> dict | None:
    """The recorded sweep of DIR (its grid in today's form), or None when there is none."""
    path = out / SWEEP_FILE
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text())
        if not isinstance(saved.get("grid"), dict) or not isinstance(saved.get("cell"), dict):
            raise ValueError("no grid or cell options")
    except (ValueError, OSError, AttributeError) as e:
        raise ValueError(f"{path} is not a sweep record ({e}); choose another --out") from None
    grid = saved["grid"]
    if "axes" not in grid:  # written before sweeps ranged over any task: parity's d x p_long
        saved["grid"] = {"agent": grid["agent"], "task": "parity", "task_config": {},
                         "axes": {"d": grid["d"], "p_long": grid["p_long"]}, "algo": grid["algo"],
                         "seeds": grid["seeds"]}
    return saved


def write_sweep(out: Path, grid: dict, options: dict, saved: dict | None) -> dict:
    """Record the sweep's grid and per-cell options; returns the grid recorded.

    The grid recorded is grown by the values this run adds to a recorded one.
    """
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    if saved is not None:  # the grid grows: recorded values first, in their order
        old = saved["grid"]
        grid = {**grid, **{k: old[k] + [v for v in grid[k] if v not in old[k]] for k in ("agent", "algo", "seeds")},
                "axes": {k: old["axes"].get(k, []) + [v for v in values if v not in old["axes"].get(k, [])]
                         for k, values in grid["axes"].items()}}
    record = {"grid": grid, "cell": options, "created": saved["created"] if saved else now, "updated": now,
              "command": " ".join(sys.argv)}
    tmp = out / (SWEEP_FILE + ".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, out / SWEEP_FILE)
    return grid


def grid_cells(grid: dict[str, Any]) -> list[dict]:
    """Every cell of a recorded grid (the product of its agents, axes, algorithms and seeds)."""
    from itertools import product

    axes = grid["axes"]
    return [{"agent": a, "task": grid["task"], "settings": dict(zip(axes, values)), "algo": algo, "seed": s}
            for a in grid["agent"] for algo in grid["algo"] for values in product(*axes.values())
            for s in grid["seeds"]]
