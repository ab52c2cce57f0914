"""Figure of benchmarks/results/too_early.json: RL from checkpoints before and after the chain is learned.

    python benchmarks/plot_too_early.py           # writes benchmarks/figures/too_early.png
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from common import figure_path, read_result


def main() -> None:
    data = read_result("too_early")
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for i, r in enumerate(data["rows"]):
        label = f"{r['fraction']:.2f} x learned ({r['samples']:,} samples)"
        ax.plot(r["probe_steps"], r["greedy_accuracy"], "o-", ms=3, color=f"C{i}", label=label)
        ax2.plot(r["probe_steps"], r["greedy_length"], "o-", ms=3, color=f"C{i}", label=label)
    ax.set_xlabel("RL step")
    ax.set_ylabel("greedy accuracy")
    ax2.set_xlabel("RL step")
    ax2.set_ylabel("greedy answer length (bits)")
    ax.legend(fontsize=7)
    fig.suptitle(f"RL started at fractions of the {data['learned_at_samples']:,} samples the chain needed", fontsize=9)
    fig.tight_layout()
    fig.savefig(figure_path("too_early"), dpi=120)
    print(f"wrote {figure_path('too_early')}")


if __name__ == "__main__":
    main()
