"""The phase diagrams of a sweep: ``parity-cot sweep-plot DIR`` draws DIR/results.jsonl (``agents.jobs.sweep``) as PNGs.

    parity-cot sweep-plot runs/sweep          # runs/sweep/phase_<agent>[_<task>]_<algo>.png, one per agent, algorithm
    paths = plot_sweep("runs/sweep")          # the same from Python

One figure per (agent, algorithm) of the sweep, four heatmaps over two grid axes (rows: the first axis that is not
p_long, e.g. parity's d or multiplication's digits; columns: p_long, or the second axis): greedy accuracy after
next-token pre-training, after the NTP-only control (pre-training continued on as many sequences as RL generated),
after NTP then RL, and the RL steps to solve (a sweep with more than two axes gets one figure per value of the
others). Each cell shows the mean over seeds and, with several seeds, their spread (min-max); RL steps are averaged
over the seeds that solved, with how many did. A cell with no result yet is blank, one whose seeds all failed says
so. The colour scale runs from the task's chance level to 1; the dashed line is the task's NTP threshold where it has
one (parity: p_long = 1/3, above which next-token prediction alone generalises). Each cell's latest line in
results.jsonl is its result; sweep.json gives the grid, so cells not run yet show as blank.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

from ..run.task_options import TaskExpectation
from .sweep_cell import cell_task
from .sweep_store import RESULTS_FILE, file_safe, latest_results, read_cell, read_sweep

PANELS = (("ntp", "greedy accuracy after NTP"),
          ("control", "greedy accuracy, NTP-only control\n(as many more sequences as RL)"),
          ("rl", "greedy accuracy after NTP then RL"),
          ("steps", "RL steps to solve (seeds that solved)"))


def figure_path(out: Path, agent: str, task: str, algo: str, extra: dict) -> Path:
    """DIR/phase_<agent>[_<task>]_<algo>[_<setting><value>...].png (parity's figures keep their earlier names)."""
    parts = [agent, *([] if task == "parity" else [task]), algo, *(f"{k}{v!r}" for k, v in extra.items())]
    return Path(out) / f"phase_{'_'.join(file_safe(p) for p in parts)}.png"


def plot_sweep(out: str | Path, expect: TaskExpectation | None = None) -> list[Path]:
    """Draw the phase diagrams of the sweep in ``out``; returns the PNGs written.

    Only the sweep's cells of the ``expect``ed task are drawn, when it is given.
    """
    out = Path(out)
    if not out.is_dir():
        raise FileNotFoundError(f"{out} is not a directory: give the --out DIR of a sweep")
    records = [{**r, "_cell": read_cell(r)} for r in latest_results(out).values()]
    if not records:
        raise FileNotFoundError(f"{out / RESULTS_FILE} holds no finished cell yet: nothing to plot")
    grid = (read_sweep(out) or {}).get("grid", {})
    shared = grid.get("task_config", {})
    if expect:
        records = [r for r in records if _matches(expect, r["_cell"], shared)]
        if not records:
            raise FileNotFoundError(f"{out / RESULTS_FILE} holds no cell of the task asked for (--task / its settings)")
    paths = []
    for agent, task, algo in sorted({(r["_cell"]["agent"], r["_cell"]["task"], r["_cell"]["algo"]) for r in records}):
        mine = [r for r in records if (r["_cell"]["agent"], r["_cell"]["task"], r["_cell"]["algo"]) == (agent, task,
                                                                                                        algo)]
        axes: dict[str, list] = {}
        for k, values in grid.get("axes", {}).items():
            axes[k] = list(values)
        for r in mine:
            for k, v in r["_cell"]["settings"].items():
                if v not in axes.setdefault(k, []):
                    axes[k].append(v)
        names = list(axes)
        cols = "p_long" if "p_long" in axes else names[-1]
        rows = next((k for k in names if k != cols), None)
        others = [k for k in names if k not in (rows, cols)]
        for values in product(*(axes[k] for k in others)):
            extra = dict(zip(others, values))
            part = [r for r in mine if all(r["_cell"]["settings"].get(k) == v for k, v in extra.items())]
            if not part:
                continue
            task_of = cell_task(part[0]["_cell"], shared)
            path = figure_path(out, agent, task, algo, extra)
            _draw(part, rows, sorted(axes[rows]) if rows else [None], cols, sorted(axes[cols]), task_of,
                  (agent, task, algo, extra), path)
            paths.append(path)
    return paths


def _matches(expect: TaskExpectation, cell: dict, shared: dict) -> bool:
    settings = {**shared, **cell["settings"]}
    return (expect.name is None or expect.name == cell["task"]) and all(settings.get(k) == v
                                                                         for k, v in expect.settings.items())


def _summaries(records: list[dict], rows: str | None, row_values: list, cols: str, col_values: list) -> dict:
    """Per panel, per (row value, column value): (value for the colour, text) or None (no result)."""
    table: dict = {key: {} for key, _ in PANELS}
    for rv in row_values:
        for cv in col_values:
            cell = [r for r in records if r["_cell"]["settings"].get(cols) == cv
                    and (rows is None or r["_cell"]["settings"].get(rows) == rv)]
            if not cell:
                continue
            ok = [r for r in cell if r["status"] == "ok"]
            failed = len(cell) - len(ok)
            note = f"\n{failed} failed" if failed else ""
            if not ok:
                for key, _ in PANELS:
                    table[key][rv, cv] = (math.nan, f"{failed} failed")
                continue
            for key in ("ntp", "control", "rl"):
                acc = [r[key]["greedy_accuracy"] for r in ok]
                mean = sum(acc) / len(acc)
                spread = f"\n{min(acc):.2f}-{max(acc):.2f}" if len(acc) > 1 else ""
                table[key][rv, cv] = (mean, f"{mean:.2f}{spread}{note}")
            solved = [r["rl_steps_to_solve"] for r in ok if r.get("rl_steps_to_solve") is not None]
            if solved:
                mean = sum(solved) / len(solved)
                spread = f" ({min(solved)}-{max(solved)})" if len(solved) > 1 else ""
                table["steps"][rv, cv] = (mean, f"{mean:.0f}{spread}\n{len(solved)}/{len(ok)} solved{note}")
            else:
                table["steps"][rv, cv] = (math.nan, f"not solved\n0/{len(ok)}{note}")
    return table


def _line_position(x: float, values: list[float]) -> float:
    """Where ``x`` falls on the heatmaps' column axis (columns at 0 .. n-1, log-interpolated)."""
    import numpy as np

    if x <= values[0]:
        return -0.5
    if x >= values[-1]:
        return len(values) - 0.5
    return float(np.interp(math.log(x), [math.log(v) for v in values], range(len(values))))


def _draw(records: list[dict], rows: str | None, row_values: list, cols: str, col_values: list, task, names: tuple,
          path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    agent, task_name, algo, extra = names
    table = _summaries(records, rows, row_values, cols, col_values)
    seeds = sorted({r["_cell"]["seed"] for r in records})
    width = max(4.0, 1.0 + 0.95 * len(col_values))
    fig, axes = plt.subplots(1, len(PANELS), figsize=(width * len(PANELS), 1.6 + 0.75 * len(row_values)),
                             squeeze=False, constrained_layout=True)
    threshold = task.ntp_threshold if cols == "p_long" else None
    for ax, (key, title) in zip(axes[0], PANELS):
        values = np.full((len(row_values), len(col_values)), np.nan)
        for (rv, cv), (value, _) in table[key].items():
            values[row_values.index(rv), col_values.index(cv)] = value
        cmap = matplotlib.colormaps["viridis_r" if key == "steps" else "viridis"].with_extremes(bad="#dddddd")
        if key == "steps":
            finite = values[np.isfinite(values)]
            vmin, vmax = (0, float(finite.max()) if finite.size else 1.0)
        else:
            vmin, vmax = task.chance, 1.0  # chance to solved
        image = ax.imshow(np.ma.masked_invalid(values), origin="lower", aspect="auto", cmap=cmap, vmin=vmin,
                          vmax=max(vmax, vmin + 1e-9))
        fig.colorbar(image, ax=ax, shrink=0.85, extend="neither" if key == "steps" else "min")
        for (rv, cv), (value, text) in table[key].items():
            t = (value - vmin) / max(vmax - vmin, 1e-9)  # viridis is dark at its low end, viridis_r at its high one
            dark = math.isfinite(value) and (t > 0.4 if key == "steps" else t < 0.6)
            ax.text(col_values.index(cv), row_values.index(rv), text, ha="center", va="center", fontsize=7,
                    color="white" if dark else "black")
        if threshold is not None:
            ax.axvline(_line_position(threshold, col_values), color="red", ls="--", lw=1.2,
                       label=f"p_long = {_fraction(threshold)}")
        ax.set_xticks(range(len(col_values)), [f"{v:g}" if isinstance(v, float) else str(v) for v in col_values])
        ax.set_yticks(range(len(row_values)), [str(v) if v is not None else "" for v in row_values])
        ax.set_xlim(-0.5, len(col_values) - 0.5)
        ax.set_xlabel("p_long (fraction of long demonstrations)" if cols == "p_long" else cols)
        ax.set_ylabel(rows or "")
        ax.set_title(title, fontsize=10)
    if threshold is not None:
        axes[0][0].legend(loc="upper left", fontsize=7, framealpha=0.8)
    seed_text = f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''}"
    label = "Parity" if task_name == "parity" else task_name.capitalize()
    fixed = "".join(f", {k} = {v}" for k, v in extra.items())
    theory = (f"theory: NTP alone generalises only above p_long = {_fraction(threshold)} (dashed); NTP + RL as long "
              "as p_long is not exponentially small" + (" in d" if task_name == "parity" else "")
              if threshold is not None else f"chance level {task.chance:g}")
    fig.suptitle(f"{label} phase diagram{fixed}: {agent} agent, NTP then {algo} ({seed_text}; mean, min-max across "
                 f"seeds)\n{theory}", fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fraction(x: float) -> str:
    return {1 / 3: "1/3", 0.5: "1/2"}.get(x, f"{x:g}")


# --------------------------------------------------------------------------------------------------- command line
@dataclass
class SweepPlotConfig:
    """``parity-cot sweep-plot``'s options."""

    sweep_dir: str = field(metadata={"positional": True, "metavar": "DIR"})
    """A sweep's --out directory (results.jsonl, sweep.json)."""
    task: TaskExpectation = field(default_factory=TaskExpectation)
    """Draw only the cells of this task (and settings)."""


def add_arguments(parser) -> None:
    """The ``parity-cot sweep-plot`` flags on ``parser``: those of ``SweepPlotConfig``."""
    from ..run.config import add_config_arguments

    add_config_arguments(parser, SweepPlotConfig)


def main(args) -> int:
    """Run ``parity-cot sweep-plot`` with the parsed ``args``, printing the figures written; returns the exit code."""
    from ..run.config import config_from_args

    cfg = config_from_args(SweepPlotConfig, vars(args))
    for path in plot_sweep(Path(cfg.sweep_dir), cfg.task):
        print(f"figure: {path}")
    return 0
