"""Figure of benchmarks/results/pretrain_speed.json: time to chain learned per seed, and the chain check per eval point.

    python benchmarks/plot_pretrain_speed.py     # writes benchmarks/figures/pretrain_speed.png
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from common import figure_path, read_result  # noqa: E402


def main() -> None:
    res = read_result("pretrain_speed")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for run in res["runs"]:
        log = run["log"]
        ax1.plot([p["elapsed_s"] for p in log], [p["chain_loss"] for p in log], label=f"seed {run['seed']}")
        ok = [(p["check_n_long"] - p["check_n_wrong"]) / max(p["check_n_long"], 1) for p in log]
        ax2.plot([p["samples"] for p in log], ok, marker=".", label=f"seed {run['seed']}")
    ax1.set(xlabel="wall time (s)", ylabel="teacher-forced chain loss (nats)", yscale="log",
            title="chain loss (bits 3..d)")
    s = res["summary"]
    ax2.axhline(0.99, color="k", ls=":", lw=1)
    ax2.set(xlabel="demonstrations seen", ylabel="exact chains among sampled long answers",
            title=f"d=24, p_long=0.01: median {s['median_s']:.0f} s, max {s['max_s']:.0f} s to learned"
            if s["median_s"] else "d=24, p_long=0.01")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(figure_path("pretrain_speed"), dpi=120)


if __name__ == "__main__":
    main()
