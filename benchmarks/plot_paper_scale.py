"""Draw the paper-scale run (paper Fig. 1): greedy accuracy against samples seen, NTP alone and NTP followed by RL.

    python benchmarks/plot_paper_scale.py benchmarks/results/gpu/paper_scale/paper_scale.json --out fig.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def draw(result: dict, path: Path) -> None:
    """One thin line per seed (the spread), NTP alone in blue and NTP followed by RL in red."""
    fig, ax = plt.subplots(figsize=(7, 4.2), constrained_layout=True)
    for i, run in enumerate(result["runs"]):
        pre, ft, control = run["pretrain"], run["finetune"], run["control"]
        ntp = [p for p in pre["log"] + control["log"] if p.get("greedy_accuracy") is not None]
        ax.plot([p["samples"] for p in ntp], [p["greedy_accuracy"] for p in ntp], "o-", ms=2.5, lw=1, color="C0",
                alpha=0.8, label="next-token prediction only" if i == 0 else None)
        rl = [p for p in ft["log"] if p.get("greedy_accuracy") is not None]
        last = [p for p in pre["log"] if p.get("greedy_accuracy") is not None][-1:]  # RL starts where NTP stopped
        rl = [{"episodes": 0, "greedy_accuracy": p["greedy_accuracy"]} for p in last] + rl
        ax.plot([pre["samples"] + p["episodes"] for p in rl], [p["greedy_accuracy"] for p in rl], "o-", ms=2.5, lw=1,
                color="C3", alpha=0.8, label="next-token prediction, then RL (reinforce)" if i == 0 else None)
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_ylim(0.4, 1.03)
    ax.set_xlabel("samples seen (demonstrations + RL episodes)")
    ax.set_ylabel("greedy accuracy")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="center left")
    s = result["scale"]
    hw = result["hardware"]
    where = hw.get("gpu") if result.get("device", "cpu").startswith("cuda") else hw["cpu"]
    ax.set_title(f"d = {s['d']}, p_long = {s['p_long']}, {len(result['runs'])} seed(s)  ({where})", fontsize=9)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="PNG path (default: beside the JSON)")
    args = parser.parse_args()
    out = args.out or args.result.with_suffix(".png")
    draw(json.loads(args.result.read_text()), out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
