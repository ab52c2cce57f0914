"""The phase diagram at scale: ``parity-cot sweep``, a grid of (agent, d, p_long, algorithm, seed) cells on Ray.

    pip install 'parity-cot[sweep]'                                   # Ray: the optional extra; nothing else needs it
    parity-cot sweep --d 8 16 24 32 --p-long 0.003 0.01 0.03 0.1 0.25 0.4 --seeds 0 1 --out runs/sweep
    parity-cot sweep --out runs/sweep ...the same grid...             # resume: finished cells are skipped
    parity-cot sweep --out runs/sweep ... --retry-failed               # run the failed cells again
    parity-cot sweep-plot runs/sweep                                  # redraw the phase diagrams
    parity-cot sweep --address HEAD_IP:6379 --cpus-per-cell 1 ...     # on an existing Ray cluster
    summary = sweep(SweepConfig(d=[8, 16], p_long=[0.01, 0.4], out="runs/sweep"))   # the same from Python

Each cell is one Ray task (``num_cpus=--cpus-per-cell``, ``num_gpus=--gpus-per-cell``; one torch thread per CPU
it holds) running the main job's stages (``agents.jobs.reproduce``) with the sweep's budgets: next-token pre-training
until the chain is learned or ``--max-samples``, then RL fine-tuning with the cell's algorithm until solved or
``--steps``, then the NTP-only control (the pre-trained agent trained further by next-token prediction, as
``reproduce`` does it, on as many sequences as RL generated). Each stage ends with an evaluation (``--eval-n``
prompts per mode, greedy and sampled).

Where things go, under ``--out DIR``:

- ``DIR/sweep.json``: the grid and the per-cell options, written by the first run.
- ``DIR/cells/<agent>-d<d>-p<p_long>-<algo>-s<seed>/{pretrain,finetune,control}``: each cell's run directories
  (checkpoints and logs, readable by ``parity-cot evaluate`` and ``parity-cot plot``).
- ``DIR/results.jsonl``: one JSON line per finished cell, appended as cells finish (in any order): the cell
  (``agent, d, p_long, algo, seed``), ``status`` ("ok", or "failed" with ``error``, ``error_type`` and the
  traceback's tail), the evaluations ``ntp`` (after pre-training), ``rl`` (after fine-tuning) and ``control``
  (``agents.run.evaluate.evaluate``'s dicts), ``rl_steps_to_solve`` (None: not solved within ``--steps``), each stage's
  samples or episodes, steps, stop reason and wall time (``stages``), the cell's wall time, the hardware of the
  node that ran it, and Ray's timings (``ray``: see below).
- ``DIR/runs.jsonl``: one line per invocation that ran cells: its wall time (from the first submission to the
  last result), the time Ray took to start or join, the slots (cells Ray runs at once), the cluster's resources,
  the cells run, ok and failed, and Ray's mean overhead.
- ``DIR/phase_<agent>_<algo>.png``: the phase diagrams, drawn at the end of every sweep (``agents.jobs.sweep_plot``).

Resume: rerunning the same command skips every cell with an "ok" line in results.jsonl, and runs the others; a cell
killed midway resumes its stages from their checkpoints (a finished stage only repeats its final evaluation). Failed
cells are skipped too, unless ``--retry-failed``; a retried cell resumes its stages (delete its directory to start
it afresh) and appends a new line (the latest line of a cell is its result; no line is ever rewritten). A rerun must
name the same per-cell options (budgets, agent config, evaluation sizes, device) and a grid that holds every value
of the recorded one: values may be added (only the new cells run, and sweep.json records the larger grid), none
removed or changed; anything else is an error naming the difference, before any cell runs. Ray's flags
(``--address``, ``--num-cpus``, resources per cell) and ``--retry-failed`` may change between runs. One sweep at a
time per DIR (a lock, as for every run directory). Every cell's options are checked before Ray starts, so a bad
value runs no cell; a cell that fails at run time (diverged, out of memory, ...) is recorded and the others go on.
The exit code is 0 when every cell of this run finished "ok", 1 when one failed, 2 for bad input.

Ray's timings per cell (wall clock, seconds): ``submit_to_start_s`` (includes waiting for a free slot when there
are more cells than slots), ``dispatch_s`` (from the moment a slot was freed, or the submission if one was free,
to the cell starting: Ray's scheduling and worker start), ``end_to_result_s`` (from the cell's return to the
driver holding its result), ``import_s`` (the cell's imports: paid once per fresh worker process), and
``overhead_fraction`` = (dispatch_s + end_to_result_s) / the cell's wall time. On a cluster the timestamps come
from several machines' clocks.

The paper-scale grid on a cluster: start Ray on every node (``ray start --head`` on one, ``ray start
--address=HEAD_IP:6379`` on the others) with this package installed in the same environment everywhere, and run
on the head node (or any node of the cluster)::

    parity-cot sweep --address auto --agent gpt --algo reinforce grpo ppo star \\
        --d 8 16 24 32 40 50 --p-long 0.001 0.003 0.01 0.03 0.1 0.25 0.4 --seeds 0 1 2 3 4 \\
        --max-samples 20000000 --steps 2000 --cpus-per-cell 1 --out /mnt/nfs/sweep

``python benchmarks/sweep_cost.py DIR --d ... --p-long ... --seeds 5 --algos 4 --slots N`` (in the repository)
estimates what such a grid costs from the per-cell times of a finished, smaller sweep in DIR. ``--out`` must be a
directory every node can write (a shared file system): cells write their run directories there and the driver
appends results.jsonl. One CPU per cell is the right size for the shipped GPT (its matmuls are too small to use a
second thread); for bigger agents on GPUs, ``--gpus-per-cell 0.25`` packs four cells per GPU (the cells then run on
``cuda``). From outside the cluster, ``--address ray://HEAD_IP:10001`` needs ``pip install 'ray[client]'``; a
cluster with token authentication needs ``RAY_AUTH_MODE=token`` and its token (``RAY_AUTH_TOKEN`` or
``~/.ray/auth_token``) in the driver's environment. The cost of a grid is the sum of its cells' wall times
(results.jsonl) divided by the number of slots (cluster CPUs / ``--cpus-per-cell``), plus Ray's overhead; cells at
large d and small p_long dominate, and the submission order puts them first.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import math
import os
import re
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from parity_env.parity.protocol import check_int

from .machine import hardware

SWEEP_FILE, RESULTS_FILE, RUNS_FILE, CELLS_DIR = "sweep.json", "results.jsonl", "runs.jsonl", "cells"
GRID = ("agent", "d", "p_long", "algo", "seeds")
"""The grid's fields: the cells are their product."""
CELL_OPTIONS = ("agent_config", "max_samples", "steps", "lr", "control_lr", "eval_n", "device")
"""The per-cell options: every cell runs with them, and a rerun on the same --out must give the same ones."""
KEY = ("agent", "d", "p_long", "algo", "seed")
INSTALL_HINT = "the sweep runs on Ray: pip install 'parity-cot[sweep]' (or pip install 'ray>=2.40,<3')"


@dataclass
class SweepConfig:
    """A sweep: the grid (its product is the cells), the per-cell budgets, where results go and the Ray resources."""

    agent: list[str] = field(default_factory=lambda: ["gpt"])
    """Agents: gpt, linear, hf, a registered name or a factory's import path 'package.module:function'."""
    d: list[int] = field(default_factory=lambda: [8, 16, 24, 32])
    """Prompt bits (each >= 2)."""
    p_long: list[float] = field(default_factory=lambda: [0.003, 0.01, 0.03, 0.1, 0.25, 0.4])
    """Fractions of long demonstrations in the pre-training mixture (each in (0, 1])."""
    algo: list[str] = field(default_factory=lambda: ["reinforce"])
    """RL algorithms: reinforce, ppo, grpo, star."""
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    """Seeds (each >= 0); every stage of a cell uses its seed."""
    agent_config: dict = field(default_factory=dict)
    """The agent factory's keyword arguments, a JSON object, the same for every cell."""
    max_samples: int = 5_000_000
    """Pre-training's sample budget per cell (it stops earlier once the chain is learned)."""
    steps: int = 500
    """RL steps per cell (it stops earlier once solved)."""
    lr: float | None = None
    """Pre-training's peak learning rate (None: its default, 3e-3, the gpt recipe's)."""
    control_lr: str = field(default="peak", metadata={"choices": ("peak", "decayed")})
    """The NTP-only control's learning rate: pre-training's peak, or where its schedule ended (as in reproduce)."""
    eval_n: int = 4096
    """Prompts per mode (greedy, sampled) of each of a cell's three evaluations."""
    device: str | None = None
    """torch device of the cells (None: cuda when --gpus-per-cell > 0, else cpu)."""
    out: str | None = None
    """The sweep's directory (required): sweep.json, results.jsonl, cells/, the figures."""
    address: str | None = None
    """An existing Ray cluster: 'auto', 'HOST:PORT' (its GCS) or 'ray://HOST:PORT' (None: start a local Ray)."""
    num_cpus: int | None = None
    """CPUs of the local Ray (None: every core here); ignored with --address."""
    num_gpus: int | None = None
    """GPUs of the local Ray (None: every GPU here); ignored with --address."""
    cpus_per_cell: float = 1.0
    """CPUs each cell holds (its torch threads: this, rounded down, at least 1)."""
    gpus_per_cell: float = 0.0
    """GPUs each cell holds, fractions allowed (0.25: four cells per GPU)."""
    connect_timeout: float = 10.0
    """Seconds to wait for the --address cluster to answer."""
    retry_failed: bool = False
    """Run again the cells whose latest line in results.jsonl is "failed"."""
    plot: bool = True
    """The phase diagrams are drawn at the end (DIR/phase_<agent>_<algo>.png); --no-plot skips them."""

    def __post_init__(self) -> None:
        self.agent = _grid_values("agent", self.agent, _check_agent_name)
        self.d = _grid_values("d", self.d, lambda v: check_int("d", v, 2))
        self.p_long = _grid_values("p_long", self.p_long, _check_p_long)
        self.algo = _grid_values("algo", self.algo, _check_algo)
        self.seeds = _grid_values("seeds", self.seeds, lambda v: check_int("seed", v, 0))
        if not isinstance(self.agent_config, dict):
            raise ValueError(f"agent_config must be a JSON object (a dict); got {self.agent_config!r}")
        self.max_samples = check_int("max_samples", self.max_samples, 1)
        self.steps = check_int("steps", self.steps, 1)
        self.eval_n = check_int("eval_n", self.eval_n, 1)
        if self.lr is not None:
            self.lr = _positive("lr", self.lr)
        if self.control_lr not in ("peak", "decayed"):
            raise ValueError(f"control_lr must be 'peak' or 'decayed'; got {self.control_lr!r}")
        if self.out is None or str(self.out) == "":
            raise ValueError("--out DIR is required (the sweep's directory: sweep.json, results.jsonl, cells/)")
        self.out = str(self.out)
        self.cpus_per_cell = _positive("cpus_per_cell", self.cpus_per_cell)
        self.gpus_per_cell = _positive("gpus_per_cell", self.gpus_per_cell, zero=True)
        self.connect_timeout = _positive("connect_timeout", self.connect_timeout)
        if self.num_cpus is not None:
            self.num_cpus = check_int("num_cpus", self.num_cpus, 1)
        if self.num_gpus is not None:
            self.num_gpus = check_int("num_gpus", self.num_gpus, 0)
        if self.device is None:
            self.device = "cuda" if self.gpus_per_cell > 0 else "cpu"
        kind = self.device.split(":")[0]
        if kind not in ("cpu", "cuda"):
            raise ValueError(f"--device {self.device!r}: only cpu and cuda devices are supported")
        if kind == "cuda" and self.gpus_per_cell == 0:
            raise ValueError(f"--device {self.device} needs --gpus-per-cell > 0: Ray hides the GPUs from a task that "
                             "holds none")
        if kind == "cpu" and self.gpus_per_cell > 0:
            raise ValueError(f"--gpus-per-cell {self.gpus_per_cell:g} with --device cpu would hold GPUs no cell uses; "
                             "drop --device (cuda is then the default) or --gpus-per-cell")
        if self.address is not None and not str(self.address).strip():
            raise ValueError("--address is empty; give 'auto', 'HOST:PORT' or 'ray://HOST:PORT', or leave it out")

    def grid(self) -> dict:
        return {k: list(getattr(self, k)) for k in GRID}

    def cell_options(self) -> dict:
        return json.loads(json.dumps({k: getattr(self, k) for k in CELL_OPTIONS}))

    def cells(self) -> list[dict]:
        """The grid's cells, the costliest first (largest d, then smallest p_long): the slowest start earliest."""
        cells = [{"agent": a, "d": d, "p_long": p, "algo": algo, "seed": s}
                 for a in self.agent for algo in self.algo for d in self.d for p in self.p_long for s in self.seeds]
        cells.sort(key=lambda c: (-c["d"], c["p_long"]))  # stable: agent, algo, seed order kept within
        return cells


def _grid_values(name: str, values, check) -> list:
    flag = "--" + name.replace("_", "-")
    if isinstance(values, (str, bytes, int, float)) or values is None:
        values = [values]
    values = list(values)
    if not values:
        raise ValueError(f"{flag} is empty: give at least one value")
    out = []
    for v in values:
        v = check(v)
        if v not in out:  # a repeated value names the same cells: once is enough
            out.append(v)
    return out


def _check_agent_name(v) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError(f"--agent: an agent name must be a non-empty string; got {v!r}")
    return v


def _check_p_long(v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
        raise ValueError(f"p_long must be in (0, 1]: with no long demonstration there is no chain to learn; got {v!r}")
    return float(v)


def _check_algo(v) -> str:
    from ..rl.algorithms import ALGORITHMS

    if v not in ALGORITHMS:
        raise ValueError(f"algo must be one of {list(ALGORITHMS)}; got {v!r}")
    return v


def _positive(name: str, value, zero: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not zero):
        raise ValueError(f"{name} must be a finite number {'>=' if zero else '>'} 0; got {value!r}")
    return float(value)


def file_safe(text: str) -> str:
    """``text`` with every run of characters outside [A-Za-z0-9_.] replaced by one underscore."""
    return re.sub(r"[^A-Za-z0-9_.]+", "_", text)


def cell_name(cell: dict) -> str:
    """The cell's directory name under DIR/cells: <agent>-d<d>-p<p_long>-<algo>-s<seed> (agent made file-safe)."""
    return f"{file_safe(cell['agent'])}-d{cell['d']}-p{cell['p_long']!r}-{cell['algo']}-s{cell['seed']}"


def failed_record(cell: dict, options: dict) -> dict:
    """A cell's results line before (or without) a result: "failed" until the cell says otherwise."""
    return {**{k: cell[k] for k in KEY}, "cell": cell_name(cell), "status": "failed", "options": options,
            "ntp": None, "rl": None, "control": None, "rl_steps_to_solve": None, "stages": {}}


def cell_key(record: dict) -> tuple:
    return tuple(record[k] for k in KEY)


# --------------------------------------------------------------------------------------------------- one cell
def cell_config(cell: dict, options: dict, cell_dir: Path | None = None):
    """The main job's config of a cell (``agents.jobs.reproduce``): the cell's task, agent, algorithm and seed, the
    sweep's budgets (``cell_dir`` None: for validation only)."""
    from parity_env.parity.task import Task

    from .reproduce import ReproduceConfig

    return ReproduceConfig(task=Task(d=cell["d"], p_long=cell["p_long"]), agent=cell["agent"],
                           agent_config=dict(options["agent_config"]), algo=cell["algo"], seed=cell["seed"],
                           max_samples=options["max_samples"], steps=options["steps"], eval_n=options["eval_n"],
                           control_lr=options["control_lr"], lr=options["lr"], device=options["device"],
                           out=str(cell_dir or "."))


LOCK_WAIT_S = 120.0


def _wait_until_free(cell_dir: Path) -> float:
    """Wait (up to ``LOCK_WAIT_S``) until no process holds the cell's run directory: a cell of a sweep killed moments
    ago may still be running until Ray stops it. Returns the seconds waited."""
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


def run_cell(cell: dict, options: dict, out: str, threads: int = 1) -> dict:
    """Run (or resume) one cell in DIR/cells/<name>: the main job (``agents.jobs.reproduce``) with the sweep's budgets.

    Returns its results line; an exception is caught and returned as a "failed" line, so one bad cell never stops
    the others. This is the function each Ray task runs."""
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
        cfg = dataclasses.replace(cell_config(cell, options, cell_dir), resume=record["resumed"])
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


# --------------------------------------------------------------------------------------------------- checks
def check_cells(cfg: SweepConfig) -> list[dict]:
    """Every cell's stage configs built, and every (agent, d) agent built once: a bad value fails here, before Ray
    starts or anything is written. Returns the cells."""
    from ..ntp.pretrain import initial_agent

    cells, options = cfg.cells(), cfg.cell_options()
    names: dict[str, dict] = {}
    built = set()
    for cell in cells:
        name = cell_name(cell)
        if name in names:
            raise ValueError(f"agents {names[name]['agent']!r} and {cell['agent']!r} make the same cell directory "
                             f"name {name!r}; register one under another name (agents.register_agent)")
        names[name] = cell
        pre = cell_config(cell, options).pretrain_config()
        if (cell["agent"], cell["d"]) not in built:  # the agent depends on d only, not on p_long or the seed
            initial_agent(pre)
            built.add((cell["agent"], cell["d"]))
    return cells


def _differences(saved: dict, cfg: SweepConfig) -> list[str]:
    """What makes ``cfg`` another sweep than the one recorded in sweep.json (values added to the grid do not)."""
    diffs = []
    for k in GRID:
        old, new = saved["grid"].get(k, []), getattr(cfg, k)
        missing = [v for v in old if v not in new]
        if missing:
            diffs.append(f"--{k.replace('_', '-')} lacks {missing} (recorded: {old}; values may be added, not "
                         "removed)")
    mine = cfg.cell_options()
    for k, v in mine.items():
        if saved["cell"].get(k) != v:
            diffs.append(f"--{k.replace('_', '-')} {v!r} (recorded: {saved['cell'].get(k)!r})")
    return diffs


def read_sweep(out: Path) -> dict | None:
    path = out / SWEEP_FILE
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text())
        if not isinstance(saved.get("grid"), dict) or not isinstance(saved.get("cell"), dict):
            raise ValueError("no grid or cell options")
    except (ValueError, OSError, AttributeError) as e:
        raise ValueError(f"{path} is not a sweep record ({e}); choose another --out") from None
    return saved


def check_out(cfg: SweepConfig) -> dict | None:
    """The sweep recorded in --out (None: a new sweep); an error if --out holds something else or another grid."""
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file, not a directory; choose a directory for the sweep")
    saved = read_sweep(out) if out.exists() else None
    if saved is None:
        if out.exists() and any(p.name != ".lock" for p in out.iterdir()):
            raise FileExistsError(f"--out {out} is not empty and holds no sweep ({SWEEP_FILE}); choose another "
                                  "directory")
        return None
    diffs = _differences(saved, cfg)
    if diffs:
        raise ValueError(f"--out {out} holds a sweep of another grid: {'; '.join(diffs)}; rerun with its grid "
                         "(sweep.json), or choose another --out")
    return saved


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
        if isinstance(record, dict) and all(k in record for k in (*KEY, "status")):
            records.append(record)
    return records


def latest_results(out: str | os.PathLike) -> dict[tuple, dict]:
    """The latest line of each cell: its result."""
    return {cell_key(r): r for r in read_results(out)}


def _append(path: Path, record: dict) -> None:
    """One line, in one write to a file opened for appending, then synced: a kill leaves whole lines only."""
    data = (json.dumps(record) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_sweep(out: Path, cfg: SweepConfig, saved: dict | None) -> None:
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    record = {"grid": cfg.grid(), "cell": cfg.cell_options(), "created": saved["created"] if saved else now,
              "updated": now, "command": " ".join(sys.argv)}
    if saved is not None:  # the grid grows: recorded values first, in their order
        record["grid"] = {k: saved["grid"][k] + [v for v in getattr(cfg, k) if v not in saved["grid"][k]]
                          for k in GRID}
    tmp = out / (SWEEP_FILE + ".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, out / SWEEP_FILE)


# --------------------------------------------------------------------------------------------------- Ray
def _import_ray():
    try:
        import ray
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return ray


def _probe(address: str, timeout: float) -> None:
    """A TCP connection to a 'HOST:PORT' or 'ray://HOST:PORT' address within ``timeout`` seconds, else a
    ConnectionError ('auto' is left to Ray, which fails at once when no cluster runs here)."""
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


def start_ray(cfg: SweepConfig):
    """Ray, ready for the cells: the one already initialised in this process (a given --address is still checked
    to answer), the --address cluster, or a new local one. Returns (ray, whether this call started it)."""
    ray = _import_ray()
    if cfg.address is not None:
        _probe(cfg.address, cfg.connect_timeout)
    if ray.is_initialized():
        return ray, False
    import logging

    common = {"log_to_driver": False, "logging_level": logging.WARNING}
    if cfg.address is not None:
        try:
            ray.init(address=cfg.address, **common)
        except (ConnectionError, RuntimeError) as e:  # no cluster, refused token, another Ray version, ...
            hint = ("" if os.environ.get("RAY_AUTH_MODE") else "; a cluster with token authentication (the default of "
                    "clusters started by ray.init) also needs RAY_AUTH_MODE=token here, its token in RAY_AUTH_TOKEN "
                    "or ~/.ray/auth_token")
            raise ConnectionError(f"--address {cfg.address}: cannot join the Ray cluster ({_one_line(e)}){hint}") \
                from None
    else:
        try:
            ray.init(num_cpus=cfg.num_cpus, num_gpus=cfg.num_gpus, include_dashboard=False, **common)
        except (ConnectionError, RuntimeError) as e:
            raise ConnectionError(f"could not start a local Ray ({_one_line(e)})") from None
    return ray, True


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text[:300] + ("..." if len(text) > 300 else "")


def _slots(ray, cfg: SweepConfig) -> int:
    """How many cells the cluster runs at once (its CPUs and GPUs over a cell's)."""
    res = ray.cluster_resources()
    slots = int(res.get("CPU", 0) // cfg.cpus_per_cell)
    if cfg.gpus_per_cell > 0:
        slots = min(slots, int(res.get("GPU", 0) // cfg.gpus_per_cell))
    return max(slots, 0)


# --------------------------------------------------------------------------------------------------- the sweep
def sweep(cfg: SweepConfig, progress: bool = True) -> dict:
    """Run (or resume) the sweep ``cfg``; returns a summary of this run (cells run, ok, failed, skipped, Ray's
    overhead) and appends each finished cell to DIR/results.jsonl."""
    from tqdm import tqdm

    from ..run.training import run_directory

    cells = check_cells(cfg)  # bad values fail here: nothing written, no Ray started
    check_out(cfg)
    out = Path(cfg.out)
    t_ray = time.perf_counter()
    ray, started_ray = start_ray(cfg)
    ray_start_s = time.perf_counter() - t_ray
    try:
        with run_directory(out, resume=True):
            saved = check_out(cfg)  # again, under the lock
            _write_sweep(out, cfg, saved)
            done = latest_results(out)
            todo, skipped_ok, skipped_failed = [], 0, 0
            for cell in cells:
                prev = done.get(cell_key(cell))
                if prev is not None and prev["status"] == "ok":
                    skipped_ok += 1
                elif prev is not None and not cfg.retry_failed:
                    skipped_failed += 1
                else:
                    todo.append(cell)
            retry = "; --retry-failed runs them again" if skipped_failed else ""
            where = f"; results: {out / RESULTS_FILE}" if todo else ""
            print(f"sweep: {len(cells)} cell{'s' if len(cells) != 1 else ''}: {skipped_ok} done already, "
                  f"{skipped_failed} failed before (skipped{retry}), {len(todo)} to run{where}", flush=True)
            t0, started_at = time.perf_counter(), time.strftime("%Y-%m-%d %H:%M:%S")
            summary = _run(ray, cfg, todo, out, progress, tqdm)
            summary.update(cells=len(cells), skipped_ok=skipped_ok, skipped_failed=skipped_failed,
                           wall_time_s=time.perf_counter() - t0, slots=_slots(ray, cfg),
                           ray_start_s=ray_start_s)
            if todo:  # what each invocation ran, and how fast: for speed-ups across Ray sizes
                _append(out / RUNS_FILE, {"started_at": started_at, **summary,
                                          "cluster_resources": ray.cluster_resources(), "address": cfg.address,
                                          "num_cpus": cfg.num_cpus, "cpus_per_cell": cfg.cpus_per_cell,
                                          "gpus_per_cell": cfg.gpus_per_cell, "command": " ".join(sys.argv)})
    finally:
        if started_ray:
            ray.shutdown()
    if cfg.plot and any(r["status"] == "ok" for r in read_results(out)):
        from .sweep_plot import plot_sweep

        summary["figures"] = [str(p) for p in plot_sweep(out)]
    return summary


def _run(ray, cfg: SweepConfig, todo: list[dict], out: Path, progress: bool, tqdm) -> dict:
    summary = {"run": len(todo), "ok": 0, "failed": 0, "failed_cells": [], "ray_overhead": None}
    if not todo:
        return summary
    threads = max(1, int(cfg.cpus_per_cell))
    remote = ray.remote(run_cell)
    resources = {"num_cpus": cfg.cpus_per_cell, "num_gpus": cfg.gpus_per_cell,
                 "max_retries": 1}  # a cell whose worker was lost runs once more (it resumes its stages)
    slots = _slots(ray, cfg)
    if slots == 0:
        print(f"sweep: warning: the cluster has no room for a cell ({cfg.cpus_per_cell:g} CPU, "
              f"{cfg.gpus_per_cell:g} GPU) yet; the cells wait for one (an autoscaler may add nodes)", flush=True)
    options = cfg.cell_options()
    pending = {}
    where = str(out.resolve())
    for cell in todo:
        ref = remote.options(name=f"cell {cell_name(cell)}", **resources).remote(cell, options, where, threads)
        pending[ref] = (cell, time.time())
    ends: list[float] = []  # this run's cells' end times: when slots were freed
    overheads = []
    bar = tqdm(total=len(todo), desc="sweep", unit="cell", disable=not progress, dynamic_ncols=True)
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            ref = ready[0]
            cell, submitted = pending.pop(ref)
            try:
                record = ray.get(ref)
            except Exception as e:  # noqa: BLE001  (the worker died, the task was cancelled, ...)
                record = {**failed_record(cell, options), "error": _one_line(e), "error_type": type(e).__name__,
                          "wall_time_s": None, "hardware": None, "ray": {}}
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
            record["finished_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
            _append(out / RESULTS_FILE, record)
            if record["status"] == "ok":
                summary["ok"] += 1
            else:
                summary["failed"] += 1
                summary["failed_cells"].append(f"{record['cell']}: {record.get('error_type')}: "
                                               f"{_one_line(record.get('error', ''))}")
            bar.update(1)
            bar.set_postfix(ok=summary["ok"], failed=summary["failed"])
    finally:
        bar.close()
    if overheads:
        total_overhead, total_wall = sum(o for o, _ in overheads), sum(w for _, w in overheads)
        summary["ray_overhead"] = {"mean_s": total_overhead / len(overheads),
                                   "fraction_of_cell_time": total_overhead / total_wall,
                                   "mean_cell_wall_s": total_wall / len(overheads)}
    return summary


# --------------------------------------------------------------------------------------------------- command line
def add_arguments(parser) -> None:
    import argparse

    from ..rl.algorithms import ALGORITHMS
    from ..run.config import add_config_arguments, field_docs, parse_float, parse_int

    parser.epilog = ("The cells are the product of the grid flags (each takes several values). Results are appended "
                     f"to OUT/{RESULTS_FILE}; rerunning the command resumes the sweep (see the module docstring of "
                     "agents.jobs.sweep).")
    docs = field_docs(SweepConfig)
    defaults = SweepConfig.__dataclass_fields__
    kinds = {"agent": (str, None), "d": (parse_int, None), "p_long": (parse_float, None),
             "algo": (str, list(ALGORITHMS)), "seeds": (parse_int, None)}
    for name in GRID:
        parse, choices = kinds[name]
        default = defaults[name].default_factory()
        parser.add_argument("--" + name.replace("_", "-"), dest=name, nargs="+", type=parse, choices=choices,
                            metavar=name.upper().rstrip("S") if choices is None else None,
                            default=argparse.SUPPRESS,
                            help=f"{docs.get(name, '')} (default: {' '.join(map(str, default))})")
    add_config_arguments(parser, SweepConfig, skip=GRID)


def main(args) -> int:
    from ..run.config import config_from_args

    given = {k: v for k, v in vars(args).items() if k != "progress"}
    try:
        cfg = config_from_args(SweepConfig, given)
        summary = sweep(cfg, progress=args.progress)
    except (ImportError, ConnectionError) as e:
        print(f"parity-cot sweep: error: {_one_line(e)}", file=sys.stderr)
        return 2
    n = summary["run"]
    print(f"sweep: {n} cell{'s' if n != 1 else ''} run in {summary['wall_time_s']:.1f} s on {summary['slots']} "
          f"slot{'s' if summary['slots'] != 1 else ''}: {summary['ok']} ok, {summary['failed']} failed; "
          f"results: {Path(cfg.out) / RESULTS_FILE}")
    for line in summary["failed_cells"]:
        print(f"  failed: {line}")
    if summary["ray_overhead"]:
        o = summary["ray_overhead"]
        print(f"Ray's overhead: {o['mean_s']:.2f} s per cell, {100 * o['fraction_of_cell_time']:.1f}% of a cell's "
              f"{o['mean_cell_wall_s']:.1f} s")
    for path in summary.get("figures", []):
        print(f"figure: {path}")
    return 1 if summary["failed"] else 0
