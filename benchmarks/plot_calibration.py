"""Figure of benchmarks/results/calibration.json: sampled long fraction against p_long, and greedy accuracy.

    python benchmarks/plot_calibration.py        # writes benchmarks/figures/calibration.png
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from common import figure_path, read_result  # noqa: E402


def main() -> None:
    rows = read_result("calibration")["rows"]
    p = [r["p_long"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.errorbar(p, [r["sampled_long_fraction"] for r in rows], yerr=[r["band"] for r in rows], fmt="o", capsize=3,
                 label="sampled long fraction (bar: pass band)")
    ax1.plot([0.008, 0.3], [0.008, 0.3], "k:", label="p_long")
    ax1.set(xscale="log", yscale="log", xlabel="p_long", ylabel="long fraction at temperature 1",
            title="length calibration after NTP (d=24)")
    ax1.legend(fontsize=8)
    ax2.plot(p, [r["greedy_accuracy"] for r in rows], "o-", label="greedy accuracy")
    ax2.plot(p, [r["sampled_long_accuracy"] or 0 for r in rows], "s-", label="accuracy of sampled long answers")
    ax2.axhspan(0.45, 0.55, color="gray", alpha=0.2, label="chance band")
    ax2.set(xscale="log", xlabel="p_long", ylabel="accuracy", ylim=(0, 1.05))
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(figure_path("calibration"), dpi=120)


if __name__ == "__main__":
    main()
