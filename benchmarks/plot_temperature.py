"""Figure of benchmarks/results/temperature*.json: greedy accuracy against RL steps per algorithm and temperature.

    python benchmarks/plot_temperature.py       # writes benchmarks/figures/temperature.png
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from common import RESULTS, figure_path, label_rl_axes, read_result


def main() -> None:
    parts = [read_result(path.stem) for path in sorted(RESULTS.glob("temperature*.json"))]  # split by algorithm
    data = {**parts[0], "runs": [r for p in parts for r in p["runs"]]}
    algos = list(dict.fromkeys(r["algo"] for r in data["runs"]))
    temps = sorted({r["temperature"] for r in data["runs"]})
    fig, axes = plt.subplots(2, len(algos), figsize=(5 * len(algos), 6), squeeze=False, sharey="row")
    for col, algo in enumerate(algos):
        for i, temp in enumerate(temps):
            runs = [r for r in data["runs"] if r["algo"] == algo and r["temperature"] == temp]
            for j, r in enumerate(runs):  # one line per seed: the spread
                label = f"T = {temp}" if j == 0 else None
                axes[0, col].plot(r["probe_steps"], r["greedy_accuracy"], color=f"C{i}", lw=1, label=label)
                axes[1, col].plot(r["probe_steps"], r["greedy_length"], color=f"C{i}", lw=1, label=label)
    label_rl_axes(axes, algos, [f"{algo}, end-to-end reward" for algo in algos])
    task = data["task"]
    fig.suptitle(f"Sampling temperature, d = {task['d']}, p_long = {task['p_long']}, one line per seed "
                 f"({data['hardware']['cpu']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(figure_path("temperature"), dpi=120)
    print(f"wrote {figure_path('temperature')}")


if __name__ == "__main__":
    main()
