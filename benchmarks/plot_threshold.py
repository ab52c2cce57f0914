"""Figure of benchmarks/results/threshold*.json: greedy accuracy after NTP against p_long, with the 1/3 prediction.

    python benchmarks/plot_threshold.py          # writes benchmarks/figures/threshold.png

The prediction: after the first chain bit the greedy model continues iff 2p/(1+p) > 1/2, i.e. p > 1/3; then greedy
accuracy is 1, else the short answer at chance (1/2).
"""

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from common import RESULTS, figure_path, read_result  # noqa: E402


def main() -> None:
    parts = [read_result(path.stem) for path in sorted(RESULTS.glob("threshold*.json"))]  # sweeps split by p_long
    res = parts[0]
    if any((p["d"], p["budget"]) != (res["d"], res["budget"]) for p in parts):
        raise SystemExit("threshold*.json files with different d or budget: move the stale ones away")
    runs = [r for p in parts for r in p["runs"]]
    ps = sorted({r["p_long"] for r in runs})
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in runs:
        ax.plot(r["p_long"], r["greedy_accuracy"], "o", color="tab:blue", alpha=0.5)
    means = [np.mean([r["greedy_accuracy"] for r in runs if r["p_long"] == p]) for p in ps]
    ax.plot(ps, means, "-", color="tab:blue", label="greedy accuracy after NTP (dots: seeds)")
    grid = np.linspace(min(ps) - 0.02, max(ps) + 0.02, 200)
    ax.plot(grid, 2 * grid / (1 + grid), "--", color="tab:orange", label="continuation probability 2p/(1+p)")
    ax.axhline(0.5, color="k", ls=":", lw=1)
    ax.step(grid, np.where(grid > 1 / 3, 1.0, 0.5), where="post", color="gray", lw=1, label="prediction")
    ax.axvline(1 / 3, color="gray", ls=":", lw=1)
    ax.set(xlabel="p_long", ylabel="accuracy / probability", ylim=(0.3, 1.05),
           title=f"d={res['d']}, {res['budget']:,} demonstrations per run")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(figure_path("threshold"), dpi=120)


if __name__ == "__main__":
    main()
