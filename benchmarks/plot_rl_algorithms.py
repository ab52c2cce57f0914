"""Figure of benchmarks/results/rl_algorithms.json: greedy accuracy and answer length against RL steps, per algorithm.

    python benchmarks/plot_rl_algorithms.py       # writes benchmarks/figures/rl_algorithms.png
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from common import figure_path, label_rl_axes, read_result


def main() -> None:
    data = read_result("rl_algorithms")
    algos = list(dict.fromkeys(r["algo"] for r in data["runs"]))
    fig, axes = plt.subplots(2, len(algos), figsize=(4 * len(algos), 6), squeeze=False, sharey="row")
    for col, algo in enumerate(algos):
        for r in (r for r in data["runs"] if r["algo"] == algo):
            label = f"seed {r['seed']}"
            axes[0, col].plot(r["probe_steps"], r["greedy_accuracy"], label=label)
            axes[1, col].plot(r["probe_steps"], r["greedy_length"], label=label)
            if r["solved_step"]:
                axes[0, col].axvline(r["solved_step"], color="grey", lw=0.5, ls=":")
    label_rl_axes(axes, algos, algos, legend_size=7)
    task = data['task']
    fig.suptitle(f"RL from a pretrained checkpoint at d = {task['d']}, p_long = {task['p_long']} "
                 f"(dotted: solved; {data['hardware']['cpu']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(figure_path("rl_algorithms"), dpi=120)
    print(f"wrote {figure_path('rl_algorithms')}")


if __name__ == "__main__":
    main()
