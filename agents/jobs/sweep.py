r"""The phase diagram at scale: ``parity-cot sweep``, a grid of (agent, task settings, algorithm, seed) cells on Ray.

    pip install 'parity-cot[sweep]'                                   # Ray: the optional extra; nothing else needs it
    parity-cot sweep --d 8 16 24 32 --p-long 0.003 0.01 0.03 0.1 0.25 0.4 --seeds 0 1 --out runs/sweep
    parity-cot sweep --task multiplication --task-grid '{"digits": [2, 3]}' --p-long 0.1 0.25 0.5 --out runs/mul
    parity-cot sweep --out runs/sweep ...the same grid...             # resume: finished cells are skipped
    parity-cot sweep --out runs/sweep ... --retry-failed               # run the failed cells again
    parity-cot sweep-plot runs/sweep                                  # redraw the phase diagrams
    parity-cot sweep --address HEAD_IP:6379 --cpus-per-cell 1 ...     # on an existing Ray cluster
    summary = sweep(SweepConfig(d=[8, 16], p_long=[0.01, 0.4], out="runs/sweep"))   # the same from Python

The grid: agents x the task's grid axes x algorithms x seeds. The axes are any of the task's settings:
``--task-grid JSON`` maps settings to lists of values, and ``--d`` (parity) and ``--p-long`` (every task) are
shorthands for two of them; ``--task-config`` gives the settings every cell shares. A parity sweep that names no axis
ranges over d in {8, 16, 24, 32} and p_long in {0.003, 0.01, 0.03, 0.1, 0.25, 0.4}; another task's over p_long alone.

Each cell is one Ray task (``num_cpus=--cpus-per-cell``, ``num_gpus=--gpus-per-cell``; one torch thread per CPU it
holds) running the main job's stages (``agents.jobs.reproduce``) with the sweep's budgets: next-token pre-training
until the long form is learned or ``--max-samples``, then RL fine-tuning with the cell's algorithm until solved or
``--steps``, then the NTP-only control (the pre-trained agent trained further by next-token prediction, as
``reproduce`` does it, on as many sequences as RL generated). Each stage ends with an evaluation (``--eval-n``
prompts per mode, greedy and sampled).

Where things go, under ``--out DIR`` (``agents.jobs.sweep_store``): ``DIR/sweep.json`` (the grid and the per-cell
options, written by the first run), ``DIR/cells/<name>/{pretrain,finetune,control}`` (each cell's run directories,
readable by ``parity-cot evaluate`` and ``parity-cot plot``), ``DIR/results.jsonl`` (one JSON line per finished
cell, appended as cells finish: the cell (``agent, task, settings, algo, seed``, the settings also flat), ``status``
("ok", or "failed" with ``error``, ``error_type`` and the traceback's tail), the evaluations ``ntp`` (after
pre-training), ``rl`` (after fine-tuning) and ``control`` (``agents.run.evaluate.evaluate``'s dicts),
``rl_steps_to_solve`` (None: not solved within ``--steps``), each stage's samples or episodes, steps, stop reason and
wall time (``stages``), the cell's wall time, the hardware of the node that ran it, and Ray's timings (``ray``)),
``DIR/runs.jsonl`` (one line per invocation that ran cells: its wall time, the time Ray took to start or join, the
slots, the cluster's resources, the cells run, ok and failed, Ray's mean overhead) and ``DIR/phase_*.png`` (the phase
diagrams, drawn at the end of every sweep: ``agents.jobs.sweep_plot``).

Resume: rerunning the same command skips every cell with an "ok" line in results.jsonl, and runs the others; a cell
killed midway resumes its stages from their checkpoints (a finished stage only repeats its final evaluation). Failed
cells are skipped too, unless ``--retry-failed``; a retried cell resumes its stages (delete its directory to start it
afresh) and appends a new line (the latest line of a cell is its result; no line is ever rewritten). A rerun must
name the same task, task settings and per-cell options (budgets, agent config, evaluation sizes, device) and a grid
that holds every value of the recorded one: values may be added (only the new cells run, and sweep.json records the
larger grid), none removed; anything else is an error naming the difference, before any cell runs. Ray's flags
(``--address``, ``--num-cpus``, resources per cell) and ``--retry-failed`` may change between runs. One sweep at a
time per DIR (a lock, as for every run directory). Every cell's options are checked before Ray starts, so a bad value
runs no cell; a cell too large for the cluster (more CPUs or GPUs than it has) is an error at once; a cell that fails
at run time (diverged, out of memory, ...) is recorded and the others go on. The exit code is 0 when every cell of
this run finished "ok", 1 when one failed, 2 for bad input.

Ray's timings per cell (wall clock, seconds): ``submit_to_start_s`` (includes waiting for a free slot when there are
more cells than slots), ``dispatch_s`` (from the moment a slot was freed, or the submission if one was free, to the
cell starting: Ray's scheduling and worker start), ``end_to_result_s`` (from the cell's return to the driver holding
its result), ``import_s`` (the cell's imports: paid once per fresh worker process), and ``overhead_fraction`` =
(dispatch_s + end_to_result_s) / the cell's wall time. On a cluster the timestamps come from several machines' clocks.

The paper-scale grid on a cluster: start Ray on every node (``ray start --head`` on one, ``ray start
--address=HEAD_IP:6379`` on the others) with this package installed in the same environment everywhere, and run on
the head node (or any node of the cluster)::

    parity-cot sweep --address auto --agent gpt --algo reinforce grpo ppo star \
        --d 8 16 24 32 40 50 --p-long 0.001 0.003 0.01 0.03 0.1 0.25 0.4 --seeds 0 1 2 3 4 \
        --max-samples 20000000 --steps 2000 --cpus-per-cell 1 --out /mnt/nfs/sweep

``python benchmarks/sweep_cost.py DIR --d ... --p-long ... --seeds 5 --algos 4 --slots N`` (in the repository)
estimates what such a grid costs from the per-cell times of a finished, smaller sweep in DIR. ``--out`` must be a
directory every node can write (a shared file system): cells write their run directories there and the driver
appends results.jsonl. One CPU per cell is the right size for the shipped GPT (its matmuls are too small to use a
second thread); for bigger agents on GPUs, ``--gpus-per-cell 0.25`` packs four cells per GPU (the cells then run on
``cuda``). From outside the cluster, ``--address ray://HEAD_IP:10001`` needs ``pip install 'ray[client]'``; a cluster
with token authentication needs ``RAY_AUTH_MODE=token`` and its token (``RAY_AUTH_TOKEN`` or ``~/.ray/auth_token``)
in the driver's environment. The cost of a grid is the sum of its cells' wall times (results.jsonl) divided by the
number of slots (cluster CPUs / ``--cpus-per-cell``), plus Ray's overhead; the costliest cells (large settings, small
p_long) are submitted first.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parity_env.checks import check_int, check_number, check_run_seed

from .sweep_store import (
    RESULTS_FILE,
    RUNS_FILE,
    append_line,
    cell_key,
    cell_name,
    failed_record,
    grid_cells,
    latest_results,
    read_results,
    read_sweep,
    write_sweep,
)

CELL_OPTIONS = ("agent_config", "max_samples", "steps", "lr", "control_lr", "eval_n", "device")
"""The per-cell options: every cell runs with them, and a rerun on the same --out must give the same ones."""
PARITY_D = [8, 16, 24, 32]
P_LONG = [0.003, 0.01, 0.03, 0.1, 0.25, 0.4]
"""The default axes: parity's d, and every task's p_long (the CPU phase diagram's grid)."""


@dataclass
class SweepConfig:
    """A sweep: the grid (its product is the cells), the per-cell budgets, where results go and the Ray resources."""

    agent: list[str] = field(default_factory=lambda: ["gpt"])
    """Agents: gpt, linear, hf, a registered name or a factory's import path 'package.module:function'."""
    task: str = "parity"
    """The task of every cell: parity, multiplication, a registered name or a factory's import path."""
    task_config: dict = field(default_factory=dict)
    """Task settings every cell shares, a JSON object such as '{"digits": 3}'."""
    task_grid: dict = field(default_factory=dict)
    """Grid axes over the task's settings, a JSON object of lists such as '{"digits": [2, 3, 4]}'."""
    d: list[int] | None = None
    """parity's prompt bits, a grid axis (default for parity: 8 16 24 32)."""
    p_long: list[float] | None = None
    """Fractions of long demonstrations, a grid axis (each in (0, 1]; default: 0.003 0.01 0.03 0.1 0.25 0.4)."""
    algo: list[str] = field(default_factory=lambda: ["reinforce"])
    """RL algorithms: reinforce, ppo, grpo, star, a registered name or a factory's import path."""
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    """Seeds (each >= 0); every stage of a cell uses its seed."""
    agent_config: dict = field(default_factory=dict)
    """The agent factory's keyword arguments, a JSON object, the same for every cell."""
    max_samples: int = 5_000_000
    """Pre-training's sample budget per cell (it stops earlier once the long form is learned)."""
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
    """Draw the phase diagrams at the end (DIR/phase_<agent>_<algo>.png)."""

    def __post_init__(self) -> None:
        self.agent = _grid_values("agent", self.agent, _check_name)
        self.algo = _grid_values("algo", self.algo, _check_name)
        self.seeds = _grid_values("seeds", self.seeds, check_run_seed)
        if not isinstance(self.task, str) or not self.task:
            raise ValueError(f"task must be a task's name or import path; got {self.task!r}")
        for name in ("task_config", "task_grid", "agent_config"):
            if not isinstance(getattr(self, name), dict):
                raise ValueError(f"{name} must be a JSON object (a dict); got {getattr(self, name)!r}")
        self.task_grid = {k: _grid_values(f"task_grid[{k!r}]", v, lambda x: x) for k, v in self.task_grid.items()}
        if self.d is not None:
            self.d = _grid_values("d", self.d, lambda v: check_int("d", v, 2))
        if self.p_long is not None:
            self.p_long = _grid_values("p_long", self.p_long, _check_p_long)
        self.max_samples = check_int("max_samples", self.max_samples, 1)
        self.steps = check_int("steps", self.steps, 1)
        self.eval_n = check_int("eval_n", self.eval_n, 1)
        if self.lr is not None:
            self.lr = check_number("lr", self.lr)
        if self.control_lr not in ("peak", "decayed"):
            raise ValueError(f"control_lr must be 'peak' or 'decayed'; got {self.control_lr!r}")
        if self.out is None or str(self.out) == "":
            raise ValueError("--out DIR is required (the sweep's directory: sweep.json, results.jsonl, cells/)")
        self.out = str(self.out)
        self.cpus_per_cell = check_number("cpus_per_cell", self.cpus_per_cell)
        self.gpus_per_cell = check_number("gpus_per_cell", self.gpus_per_cell, low_inclusive=True)
        self.connect_timeout = check_number("connect_timeout", self.connect_timeout)
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
        self.axes()  # a setting on two axes is an error now

    def axes(self) -> dict[str, list]:
        """The grid axes over the task's settings, in order: --task-grid's, then --d, then --p-long.

        Defaults: parity's d, every task's p_long.
        """
        axes = dict(self.task_grid)
        for name, given, default in (("d", self.d, PARITY_D if self.task == "parity" else None),
                                     ("p_long", self.p_long, P_LONG)):
            if given is not None and name in axes:
                raise ValueError(f"--{name.replace('_', '-')} and --task-grid both give the {name} axis; give it once")
            values = given if given is not None else default
            if values is not None and (given is not None or (name not in axes and name not in self.task_config)):
                axes[name] = list(values)
        if not axes:
            raise ValueError("the grid has no axis: give --task-grid, --p-long or (parity) --d")
        return axes

    def grid(self) -> dict:
        """The sweep's grid as DIR records it: agents, task, task config, axes, algorithms and seeds."""
        return {"agent": list(self.agent), "task": self.task, "task_config": dict(self.task_config),
                "axes": self.axes(), "algo": list(self.algo), "seeds": list(self.seeds)}

    def cell_options(self) -> dict:
        """The per-cell options (``CELL_OPTIONS``) as JSON-plain data, as DIR records them."""
        return json.loads(json.dumps({k: getattr(self, k) for k in CELL_OPTIONS}))

    def cells(self) -> list[dict]:
        """The grid's cells, the costliest first (largest settings, then smallest p_long): the slowest start first."""
        cells = grid_cells(self.grid())

        def cost(cell: dict) -> tuple:
            settings = cell["settings"]
            return (*(-v for k, v in settings.items() if k != "p_long" and isinstance(v, (int, float))),
                    settings.get("p_long", 0))

        return sorted(cells, key=cost)  # stable: agent, algo, seed order kept within


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


def _check_name(v) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError(f"a name must be a non-empty string; got {v!r}")
    return v


def _check_p_long(v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
        raise ValueError(f"p_long must be in (0, 1]: with no long demonstration there is no chain to learn; got {v!r}")
    return float(v)


# --------------------------------------------------------------------------------------------------- checks
def check_cells(cfg: SweepConfig) -> list[dict]:
    """Every cell's stage configs built, and every agent built once per task shape.

    A bad value fails here, before Ray starts or anything is written. Returns the cells.
    """
    from ..ntp.pretrain import initial_agent
    from .sweep_cell import cell_config

    cells, options = cfg.cells(), cfg.cell_options()
    names: dict[str, dict] = {}
    built = set()
    for cell in cells:
        name = cell_name(cell)
        if name in names:
            raise ValueError(f"agents {names[name]['agent']!r} and {cell['agent']!r} make the same cell directory "
                             f"name {name!r}; register one under another name (agents.register_agent)")
        names[name] = cell
        reproduce = cell_config(cell, options, cfg.task_config)
        task = reproduce.task
        shape = (cell["agent"], task.vocab_size, task.n_actions, task.seq_len)
        if shape not in built:  # the agent depends on the task's shape only, not on p_long or the seed
            initial_agent(reproduce.pretrain_config())
            built.add(shape)
    return cells


def _differences(saved: dict, cfg: SweepConfig) -> list[str]:
    """What makes ``cfg`` another sweep than the one recorded in sweep.json (values added to the grid do not)."""
    diffs = []
    old, new = saved["grid"], cfg.grid()
    for k in ("task", "task_config"):
        if old.get(k) != new[k]:
            diffs.append(f"--{k.replace('_', '-')} {new[k]!r} (recorded: {old.get(k)!r})")
    for k in ("agent", "algo", "seeds"):
        missing = [v for v in old[k] if v not in new[k]]
        if missing:
            diffs.append(f"--{k} lacks {missing} (recorded: {old[k]}; values may be added, not removed)")
    for k, values in old["axes"].items():
        missing = [v for v in values if v not in new["axes"].get(k, [])]
        if missing:
            diffs.append(f"the {k} axis lacks {missing} (recorded: {values}; values may be added, not removed)")
    for k in new["axes"]:
        if k not in old["axes"]:
            diffs.append(f"the {k} axis is new (recorded axes: {list(old['axes'])})")
    mine = cfg.cell_options()
    for k, v in mine.items():
        if saved["cell"].get(k) != v:
            diffs.append(f"--{k.replace('_', '-')} {v!r} (recorded: {saved['cell'].get(k)!r})")
    return diffs


def check_out(cfg: SweepConfig) -> dict | None:
    """The sweep recorded in --out (None: a new sweep); an error if --out holds something else or another grid."""
    assert cfg.out is not None  # SweepConfig requires it
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file, not a directory; choose a directory for the sweep")
    saved = read_sweep(out) if out.exists() else None
    if saved is None:
        if out.exists() and any(p.name != ".lock" for p in out.iterdir()):
            raise FileExistsError(f"--out {out} is not empty and holds no sweep (sweep.json); choose another "
                                  "directory")
        return None
    diffs = _differences(saved, cfg)
    if diffs:
        raise ValueError(f"--out {out} holds a sweep of another grid: {'; '.join(diffs)}; rerun with its grid "
                         "(sweep.json), or choose another --out")
    return saved


# --------------------------------------------------------------------------------------------------- the sweep
def sweep(cfg: SweepConfig, progress: bool = True) -> dict:
    """Run (or resume) the sweep ``cfg``.

    Returns a summary of this run (cells run, ok, failed, skipped, Ray's overhead) and appends each finished cell to
    DIR/results.jsonl.
    """
    from ..run.training import run_directory
    from .sweep_ray import check_room, slots, start_ray

    cells = check_cells(cfg)  # bad values fail here: nothing written, no Ray started
    check_out(cfg)
    assert cfg.out is not None  # SweepConfig requires it
    out = Path(cfg.out)
    t_ray = time.perf_counter()
    ray, started_ray = start_ray(cfg.address, cfg.num_cpus, cfg.num_gpus, cfg.connect_timeout)
    ray_start_s = time.perf_counter() - t_ray
    try:
        check_room(ray, cfg.cpus_per_cell, cfg.gpus_per_cell)  # cells that cannot fit would wait forever
        with run_directory(out, resume=True):
            saved = check_out(cfg)  # again, under the lock
            write_sweep(out, cfg.grid(), cfg.cell_options(), saved)
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
            summary = _run(ray, cfg, todo, out, progress)
            summary.update(cells=len(cells), skipped_ok=skipped_ok, skipped_failed=skipped_failed,
                           wall_time_s=time.perf_counter() - t0, slots=slots(ray, cfg.cpus_per_cell,
                                                                             cfg.gpus_per_cell),
                           ray_start_s=ray_start_s)
            if todo:  # what each invocation ran, and how fast: for speed-ups across Ray sizes
                append_line(out / RUNS_FILE, {"started_at": started_at, **summary,
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


def _run(ray, cfg: SweepConfig, todo: list[dict], out: Path, progress: bool) -> dict:
    from tqdm import tqdm

    from .sweep_cell import run_cell
    from .sweep_ray import one_line, run_cells

    summary: dict[str, Any] = {"run": len(todo), "ok": 0, "failed": 0, "failed_cells": [], "ray_overhead": None}
    if not todo:
        return summary
    options = cfg.cell_options()
    resources = {"num_cpus": cfg.cpus_per_cell, "num_gpus": cfg.gpus_per_cell,
                 "max_retries": 1}  # a cell whose worker was lost runs once more (it resumes its stages)
    bar = tqdm(total=len(todo), desc="sweep", unit="cell", disable=not progress, dynamic_ncols=True)

    def on_result(record: dict) -> None:
        record["finished_at"] = time.strftime("%Y-%m-%d %H:%M:%S")
        append_line(out / RESULTS_FILE, record)
        if record["status"] == "ok":
            summary["ok"] += 1
        else:
            summary["failed"] += 1
            summary["failed_cells"].append(f"{record['cell']}: {record.get('error_type')}: "
                                           f"{one_line(record.get('error', ''))}")
        bar.update(1)
        bar.set_postfix(ok=summary["ok"], failed=summary["failed"])

    def lost(cell: dict, error: str, error_type: str) -> dict:
        return {**failed_record(cell, options), "error": error, "error_type": error_type, "wall_time_s": None,
                "hardware": None, "ray": {}}

    try:
        args = (options, cfg.task_config, str(out.resolve()), max(1, int(cfg.cpus_per_cell)))
        overheads = run_cells(ray, run_cell, todo, args, resources, on_result, lost)
    finally:
        bar.close()
    if overheads:
        total_overhead, total_wall = sum(o for o, _ in overheads), sum(w for _, w in overheads)
        summary["ray_overhead"] = {"mean_s": total_overhead / len(overheads),
                                   "fraction_of_cell_time": total_overhead / total_wall,
                                   "mean_cell_wall_s": total_wall / len(overheads)}
    return summary


# --------------------------------------------------------------------------------------------------- command line
EPILOG = (f"The cells are the product of the grid flags (--agent, --task-grid, --d, --p-long, --algo, --seeds: each "
          f"takes several values). Results are appended to OUT/{RESULTS_FILE}; rerunning the command resumes the "
          "sweep (see the module docstring of agents.jobs.sweep).")


def add_arguments(parser) -> None:
    """The ``parity-cot sweep`` flags on ``parser``: those of ``SweepConfig``."""
    from ..run.config import add_config_arguments

    parser.epilog = EPILOG
    add_config_arguments(parser, SweepConfig)


def main(args) -> int:
    """Run ``parity-cot sweep`` with the parsed ``args``; returns the exit code (2: Ray missing or unreachable)."""
    from ..run.config import config_from_args
    from .sweep_ray import one_line

    cfg = config_from_args(SweepConfig, {k: v for k, v in vars(args).items() if k != "progress"})
    try:
        summary = sweep(cfg, progress=args.progress)
    except (ImportError, ConnectionError) as e:
        print(f"parity-cot sweep: error: {one_line(e)}", file=sys.stderr)
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

