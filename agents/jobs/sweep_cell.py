"""One cell of a sweep: what each Ray task runs.

The main job (``agents.jobs.reproduce``) on the cell's task, agent, algorithm and seed with the sweep's budgets, in
DIR/cells/<name>.

A failure of any kind is caught and returned as a "failed" results line, so one bad cell never stops the others;
a cell killed midway resumes its stages from their checkpoints when it runs again.
"""

from __future__ import annotations

import dataclasses
import fcntl
import time
import traceback
from pathlib import Path

from .machine import hardware
from .sweep_store import CELLS_DIR, cell_name, failed_record

LOCK_WAIT_S = 120.0
"""How long a cell waits for its directory's lock: a cell of a sweep killed moments ago may still run until Ray
stops it."""


def cell_task(cell: dict, task_config: dict):
    """The task of a cell: the sweep's shared settings with the cell's grid values over them."""
    from parity_env.registry import make_task

    return make_task(cell["task"], **{**task_config, **cell["settings"]})


def cell_config(cell: dict, options: dict, task_config: dict, cell_dir: Path | None = None):
    """The main job's config of a cell: its task, agent, algorithm and seed, and the sweep's budgets.

    ``cell_dir`` None: for validation only.
    """
    from .reproduce import ReproduceConfig

    return ReproduceConfig(task=cell_task(cell, task_config), agent=cell["agent"],
                           agent_config=dict(options["agent_config"]),
                           algo=cell["algo"], seed=cell["seed"], max_samples=options["max_samples"],
                           steps=options["steps"], eval_n=options["eval_n"], control_lr=options["control_lr"],
                           lr=options["lr"], device=options["device"], out=str(cell_dir or "."))


def _wait_until_free(cell_dir: Path) -> float:
    """Wait (up to ``LOCK_WAIT_S``) until no process holds the cell's run directory; returns the seconds waited."""
    from ..run.training import LOCK_FILE

    t0 = time.monotonic()
    if not (cell_dir / LOCK_FILE).exists():
        return 0.0
    with open(cell_dir / LOCK_FILE, "a+") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(handle, fcntl.LOCK_UN)
                return time.monotonic() - t0
            except BlockingIOError:
                if time.monotonic() - t0 > LOCK_WAIT_S:
                    raise FileExistsError(f"{cell_dir} is in use by another process (another sweep on the same "
                                          f"cells?) for more than {LOCK_WAIT_S:g} s") from None
                time.sleep(0.25)


def run_cell(cell: dict, options: dict, task_config: dict, out: str, threads: int = 1) -> dict:
    """Run (or resume) one cell in DIR/cells/<name>; returns its results line (a "failed" one on any error)."""
    started = time.time()
    t0 = time.perf_counter()
    record = failed_record(cell, options)
    try:
        import torch

        from .reproduce import reproduce

        record["import_s"] = time.perf_counter() - t0
        torch.set_num_threads(threads)
        cell_dir = Path(out) / CELLS_DIR / cell_name(cell)
        record["lock_wait_s"] = _wait_until_free(cell_dir)
        record["resumed"] = cell_dir.exists() and any(cell_dir.iterdir())
        cfg = dataclasses.replace(cell_config(cell, options, task_config, cell_dir), resume=record["resumed"])
        results = reproduce(cfg, progress=False, verbose=False)
        stages = results["stages"]
        record.update(ntp=stages["pretrained"]["metrics"], rl=stages["finetuned"]["metrics"],
                      control=stages["control"]["metrics"], status="ok",
                      rl_steps_to_solve=results["rl_solved_step"])
        record["stages"] = {name: {k: v for k, v in row.items() if k != "metrics"} for name, row in stages.items()}
    except Exception as e:  # noqa: BLE001  (any failure of a cell is recorded; the sweep goes on)
        record.update(error=f"{e}" or type(e).__name__, error_type=type(e).__name__,
                      traceback=traceback.format_exc(limit=-6)[-4000:])
    record["wall_time_s"] = time.perf_counter() - t0
    record["hardware"] = hardware()
    record["ray"] = {"started": started, "ended": time.time()}
    return record
