"""The phase diagrams of a sweep: ``parity-cot sweep-plot DIR`` draws DIR/results.jsonl (``agents.jobs.sweep``) as PNGs.

    parity-cot sweep-plot runs/sweep          # runs/sweep/phase_<agent>_<algo>.png, one per agent and algorithm
    paths = plot_sweep("runs/sweep")          # the same from Python

One figure per (agent, algorithm) of the sweep, four heatmaps over d (rows) x p_long (columns): greedy accuracy
after next-token pre-training, after the NTP-only control (pre-training continued on as many sequences as RL
generated), after NTP then RL, and the RL steps to solve. Each cell shows the mean over seeds and, with several
seeds, their spread (min-max); RL steps are averaged over the seeds that solved, with how many did. A cell with no
result yet is blank, one whose seeds all failed says so. The dashed line is the theory's p_long = 1/3: next-token
prediction alone generalises (greedy decoding writes the chain) only above it. Each cell's latest line in
results.jsonl is its result; sweep.json gives the grid, so cells not run yet show as blank.
"""

from __future__ import annotations

import math
from pathlib import Path

PANELS = (("ntp", "greedy accuracy after NTP"),
          ("control", "greedy accuracy, NTP-only control\n(as many more sequences as RL)"),
          ("rl", "greedy accuracy after NTP then RL"),
          ("steps", "RL steps to solve (seeds that solved)"))


def figure_path(out: Path, agent: str, algo: str) -> Path:
    from .sweep import file_safe

    return Path(out) / f"phase_{file_safe(agent)}_{file_safe(algo)}.png"


def plot_sweep(out: str | Path) -> list[Path]:
    """Draw the phase diagrams of the sweep in ``out``; returns the PNGs written."""
    from .sweep import RESULTS_FILE, latest_results, read_sweep

    out = Path(out)
    if not out.is_dir():
        raise FileNotFoundError(f"{out} is not a directory: give the --out DIR of a sweep")
    results = list(latest_results(out).values())
    if not results:
        raise FileNotFoundError(f"{out / RESULTS_FILE} holds no finished cell yet: nothing to plot")
    grid = (read_sweep(out) or {}).get("grid", {})
    paths = []
    combos = sorted({(r["agent"], r["algo"]) for r in results})
    for agent, algo in combos:
        mine = [r for r in results if r["agent"] == agent and r["algo"] == algo]
        ds = sorted(set(grid.get("d", [])) | {r["d"] for r in mine})
        ps = sorted(set(grid.get("p_long", [])) | {r["p_long"] for r in mine})
        path = figure_path(out, agent, algo)
        _draw(mine, ds, ps, agent, algo, path)
        paths.append(path)
    return paths


def _summaries(records: list[dict], ds: list[int], ps: list[float]) -> dict:
    """Per panel, per (d, p_long): (value for the colour, text) or None (no result)."""
    table: dict = {key: {} for key, _ in PANELS}
    for d in ds:
        for p in ps:
            cell = [r for r in records if r["d"] == d and r["p_long"] == p]
            if not cell:
                continue
            ok = [r for r in cell if r["status"] == "ok"]
            failed = len(cell) - len(ok)
            note = f"\n{failed} failed" if failed else ""
            if not ok:
                for key, _ in PANELS:
                    table[key][d, p] = (math.nan, f"{failed} failed")
                continue
            for key in ("ntp", "control", "rl"):
                acc = [r[key]["greedy_accuracy"] for r in ok]
                mean = sum(acc) / len(acc)
                spread = f"\n{min(acc):.2f}-{max(acc):.2f}" if len(acc) > 1 else ""
                table[key][d, p] = (mean, f"{mean:.2f}{spread}{note}")
            solved = [r["rl_steps_to_solve"] for r in ok if r.get("rl_steps_to_solve") is not None]
            if solved:
                mean = sum(solved) / len(solved)
                spread = f" ({min(solved)}-{max(solved)})" if len(solved) > 1 else ""
                table["steps"][d, p] = (mean, f"{mean:.0f}{spread}\n{len(solved)}/{len(ok)} solved{note}")
            else:
                table["steps"][d, p] = (math.nan, f"not solved\n0/{len(ok)}{note}")
    return table


def _third_position(ps: list[float]) -> float:
    """Where p_long = 1/3 falls on the heatmaps' column axis (columns at 0 .. n-1, log-interpolated)."""
    import numpy as np

    third = 1 / 3
    if third <= ps[0]:
        return -0.5
    if third >= ps[-1]:
        return len(ps) - 0.5
    return float(np.interp(math.log(third), [math.log(p) for p in ps], range(len(ps))))


def _draw(records: list[dict], ds: list[int], ps: list[float], agent: str, algo: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    table = _summaries(records, ds, ps)
    seeds = sorted({r["seed"] for r in records})
    width = max(4.0, 1.0 + 0.95 * len(ps))
    fig, axes = plt.subplots(1, len(PANELS), figsize=(width * len(PANELS), 1.6 + 0.75 * len(ds)), squeeze=False,
                             constrained_layout=True)
    x_third = _third_position(ps)
    for ax, (key, title) in zip(axes[0], PANELS):
        values = np.full((len(ds), len(ps)), np.nan)
        for (d, p), (value, _) in table[key].items():
            values[ds.index(d), ps.index(p)] = value
        cmap = matplotlib.colormaps["viridis_r" if key == "steps" else "viridis"].with_extremes(bad="#dddddd")
        if key == "steps":
            finite = values[np.isfinite(values)]
            vmin, vmax = (0, float(finite.max()) if finite.size else 1.0)
        else:
            vmin, vmax = 0.5, 1.0  # chance to solved
        image = ax.imshow(np.ma.masked_invalid(values), origin="lower", aspect="auto", cmap=cmap, vmin=vmin,
                          vmax=max(vmax, vmin + 1e-9))
        fig.colorbar(image, ax=ax, shrink=0.85, extend="neither" if key == "steps" else "min")
        for (d, p), (value, text) in table[key].items():
            t = (value - vmin) / max(vmax - vmin, 1e-9)  # viridis is dark at its low end, viridis_r at its high one
            dark = math.isfinite(value) and (t > 0.4 if key == "steps" else t < 0.6)
            ax.text(ps.index(p), ds.index(d), text, ha="center", va="center", fontsize=7,
                    color="white" if dark else "black")
        ax.axvline(x_third, color="red", ls="--", lw=1.2, label="p_long = 1/3")
        ax.set_xticks(range(len(ps)), [f"{p:g}" for p in ps])
        ax.set_yticks(range(len(ds)), [str(d) for d in ds])
        ax.set_xlim(-0.5, len(ps) - 0.5)
        ax.set_xlabel("p_long (fraction of long demonstrations)")
        ax.set_ylabel("d (prompt bits)")
        ax.set_title(title, fontsize=10)
    axes[0][0].legend(loc="upper left", fontsize=7, framealpha=0.8)
    seed_text = f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''}"
    fig.suptitle(f"Parity phase diagram: {agent} agent, NTP then {algo} ({seed_text}; mean, min-max across seeds)\n"
                 "theory: NTP alone generalises only above p_long = 1/3 (dashed); NTP + RL as long as p_long is not "
                 "exponentially small in d", fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------------------- command line
def add_arguments(parser) -> None:
    parser.add_argument("sweep_dir", metavar="DIR", help="a sweep's --out directory (results.jsonl, sweep.json)")


def main(args) -> int:
    for path in plot_sweep(Path(args.sweep_dir)):
        print(f"figure: {path}")
    return 0
