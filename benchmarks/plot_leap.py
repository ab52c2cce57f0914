"""Figure of benchmarks/results/leap.json: greedy accuracy and length during pre-training on leap-k chains.

    python benchmarks/plot_leap.py               # writes benchmarks/figures/leap.png
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from common import figure_path, read_result  # noqa: E402


def main() -> None:
    res = read_result("leap")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for run in res["runs"]:
        c = run["curve"]
        x = [p["samples"] for p in c]
        ax1.plot(x, [p["greedy_accuracy"] for p in c], label=f"seed {run['seed']}")
        ax2.plot(x, [p["greedy_mean_length"] for p in c], label=f"seed {run['seed']}")
    ax1.axhline(0.5, color="k", ls=":", lw=1)
    ax1.set(xlabel="demonstrations seen", ylabel="greedy accuracy", ylim=(0, 1.05),
            title=f"leap {res['leap']}, p_long {res['p_long']}, d={res['d']}")
    ax2.set(xlabel="demonstrations seen", ylabel="greedy answer length (bits)")
    ax1.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(figure_path("leap"), dpi=120)


if __name__ == "__main__":
    main()
