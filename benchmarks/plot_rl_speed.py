"""Figure of benchmarks/results/rl_speed.json: collection through TorchRL vs bare cached generation, tokens/s.

    python benchmarks/plot_rl_speed.py            # writes benchmarks/figures/rl_speed.png
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from common import figure_path, read_result


def main() -> None:
    data = read_result("rl_speed")
    cases = [("pretrained", data["collection_pretrained"]), ("after RL", data["collection_after_rl"])]
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (name, c) in enumerate(cases):
        ax.bar(i - 0.2, c["torchrl_tokens_per_s"], 0.4, color="C0", label="TorchRL env + cached policy" if i == 0 else None)
        ax.bar(i + 0.2, c["generate_tokens_per_s"], 0.4, color="C1", label="bare generate()" if i == 0 else None)
        ax.text(i, max(c["torchrl_tokens_per_s"], c["generate_tokens_per_s"]) * 1.02, f"ratio {c['ratio']:.2f}",
                ha="center", fontsize=8)
    ax.set_xticks(range(len(cases)), [f"{n}\n({c['tokens_per_episode']:.1f} tokens/episode)" for n, c in cases])
    ax.set_ylabel("emitted tokens / s")
    median = data["time_to_99_median_s"]
    ax.set_title(f"d = {data['task']['d']}, batch {cases[0][1]['batch_size']}; {data['algo']} to 99%: median {median:.1f} s\n"
                 f"{data['hardware']['cpu']}, {data['hardware']['torch_threads']} thread(s)", fontsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(figure_path("rl_speed"), dpi=120)
    print(f"wrote {figure_path('rl_speed')}")


if __name__ == "__main__":
    main()
