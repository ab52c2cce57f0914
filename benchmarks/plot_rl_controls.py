"""Figure of benchmarks/results/rl_controls.json (and rl_algorithms.json when present): RL against its controls.

    python benchmarks/plot_rl_controls.py         # writes benchmarks/figures/rl_controls.png
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from common import RESULTS, figure_path, read_result


def main() -> None:
    data = read_result("rl_controls")
    names, values = [], []
    if (RESULTS / "rl_algorithms.json").exists():
        for r in read_result("rl_algorithms")["runs"]:
            if r["algo"] == "reinforce" and r["final"]:
                names.append(f"REINFORCE seed {r['seed']}")
                values.append(r["final"]["greedy_accuracy"])
    if "ntp" in data:
        names.append(f"NTP only\n+{data['ntp']['sequences']:,} seqs")
        values.append(data["ntp"]["metrics"]["greedy_accuracy"])
    if "ppo_scratch" in data:
        names.append(f"our PPO from scratch\n{data['ppo_scratch']['steps']} steps")
        values.append(data["ppo_scratch"]["metrics"]["greedy_accuracy"])
    if "sb3" in data:
        names.append(f"SB3 PPO from scratch\n{data['sb3']['timesteps']:,} env steps")
        values.append(data["sb3"]["greedy_accuracy"])
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 2, 4))
    ax.bar(range(len(names)), values, color=["C2" if n.startswith("REINFORCE") else "C7" for n in names])
    ax.set_xticks(range(len(names)), names, fontsize=7)
    ax.axhline(0.5, color="k", lw=0.5, ls="--")
    ax.set_ylabel("greedy accuracy")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"RL vs controls from {data['checkpoint']}", fontsize=8)
    fig.tight_layout()
    fig.savefig(figure_path("rl_controls"), dpi=120)
    print(f"wrote {figure_path('rl_controls')}")


if __name__ == "__main__":
    main()
