"""Figure of benchmarks/results/rl_d50.json: d = 50, p_long = 0.25, NTP then RL (paper Fig. 1 setting).

    python benchmarks/plot_rl_d50.py              # writes benchmarks/figures/rl_d50.png
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from rl_common import figure_path, read_result


def main() -> None:
    data = read_result("rl_d50")
    pre, rl = data["pretrain"], data["rl"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax.plot([p["samples"] for p in pre["log"]], [p["greedy_accuracy"] for p in pre["log"]], "o-", ms=3, label="NTP")
    per_step = rl["episodes"] / max(rl["probe_steps"][-1], 1)
    ax.plot([pre["samples"] + s * per_step for s in rl["probe_steps"]], rl["greedy_accuracy"], "o-", ms=3,
            label=f"then RL ({data['algo']})")
    ax.set_xlabel("samples (demonstrations, then RL episodes)")
    ax.set_ylabel("greedy accuracy")
    ax.legend()
    ax2.plot(rl["probe_steps"], rl["greedy_length"], "o-", ms=3)
    ax2.set_xlabel("RL step")
    ax2.set_ylabel("greedy answer length (bits)")
    fig.suptitle("d = 50, p_long = 0.25", fontsize=9)
    fig.tight_layout()
    fig.savefig(figure_path("rl_d50"), dpi=120)
    print(f"wrote {figure_path('rl_d50')}")


if __name__ == "__main__":
    main()
