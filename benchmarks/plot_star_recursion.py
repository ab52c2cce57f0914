"""Figure of benchmarks/results/star_recursion.json: measured long fraction per STaR round and the recursion.

    python benchmarks/plot_star_recursion.py      # writes benchmarks/figures/star_recursion.png
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from common import figure_path, read_result


def main() -> None:
    data = read_result("star_recursion")
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for i, r in enumerate(data["runs"]):
        rounds = range(len(r["long_fraction"]))
        c = f"C{i}"
        ax.semilogy(rounds, r["long_fraction"], "o-", color=c, label=f"measured p_n, seed {r['seed']}")
        ax.semilogy(rounds, r["kept_long_fraction"], "x:", color=c, label=f"long among kept, seed {r['seed']}")
        ax.semilogy(rounds, r["recursion"], "--", color=c, alpha=0.6, label=f"2p/(1+p) from p_0, seed {r['seed']}")
        ax2.plot([n + 1 for n in rounds], r["greedy_accuracy"], "o-", color=c, label=f"seed {r['seed']}")
    ax.set_xlabel("STaR round n (samples drawn before its update)")
    ax.set_ylabel("long fraction")
    ax.legend(fontsize=6)
    ax2.set_xlabel("STaR rounds done")
    ax2.set_ylabel("greedy accuracy")
    ax2.axhline(0.99, color="k", lw=0.5, ls="--")
    fig.suptitle(f"STaR at d = {data['task']['d']}, p_long = {data['task']['p_long']}, {data['star_samples']} samples a round", fontsize=9)
    fig.tight_layout()
    fig.savefig(figure_path("star_recursion"), dpi=120)
    print(f"wrote {figure_path('star_recursion')}")


if __name__ == "__main__":
    main()
