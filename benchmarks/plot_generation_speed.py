"""Figure of benchmarks/results/generation_speed.json: new tokens per second with and without the KV cache.

    python benchmarks/plot_generation_speed.py   # writes benchmarks/figures/generation_speed.png
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from common import figure_path, read_result  # noqa: E402


def main() -> None:
    res = read_result("generation_speed")
    fig, ax = plt.subplots(figsize=(5, 4))
    keys = ["uncached", "cached"]
    ax.bar(keys, [res[k]["tokens_per_s"] for k in keys], color=["tab:gray", "tab:blue"])
    ax.set(ylabel="new tokens / s", title=f"d={res['d']}, batch {res['batch']}, {res['new_tokens_per_row']} tokens/row: "
           f"{res['speedup']:.1f}x")
    fig.tight_layout()
    fig.savefig(figure_path("generation_speed"), dpi=120)


if __name__ == "__main__":
    main()
