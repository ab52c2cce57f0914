"""The main job, ``parity-cot reproduce``: the paper's central result end to end on a laptop CPU in minutes.

    parity-cot reproduce                                   # d = 24, p_long = 0.01, REINFORCE, seed 0
    parity-cot reproduce --algo grpo --seed 1 --out runs/grpo-1
    python -m agents.reproduce --redraw runs/reproduce-...  # redraw the figure from the run's results.json

1. Next-token pre-training on the demonstration mixture until the chain is learned, then an evaluation: greedy
   decoding answers short and sits at chance; sampling is length-calibrated (long with probability ~ p_long).
2. RL fine-tuning through TorchRL (REINFORCE by default, the fastest shipped algorithm), then an evaluation:
   greedy accuracy >= 99% with answers d bits long.
3. The control: the pre-trained model trained further by next-token prediction alone, on as many sequences as the
   RL stage generated; it stays at chance.
4. A table (before / after / control), ``results.json`` and ``figure.png`` in the run directory it names.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from parity_env.protocol import check_int, check_probability

from .pretrain import PretrainConfig, pretrain
from .rl.algorithms import ALGORITHMS
from .rl.finetune import FinetuneConfig, finetune

ROWS = (("pretrained", "after NTP"), ("finetuned", "after RL"), ("control", "NTP-only control"))


@dataclass
class ReproduceConfig:
    d: int = 24
    p_long: float = 0.01
    algo: str = "reinforce"
    """The fastest shipped algorithm on the CPU (see benchmarks/README.md); any of reinforce, ppo, grpo, star."""
    seed: int = 0
    device: str = "cpu"
    out: str | None = None
    """Run directory; None: runs/reproduce-<date>-<time>. It must not exist yet, or be empty."""
    eval_n: int = 4096
    """Prompts per mode (greedy, sampled) of each of the three evaluations."""
    progress: bool = True

    def __post_init__(self) -> None:
        self.d = check_int("d", self.d, 2)
        self.p_long = check_probability("p_long", self.p_long)
        self.seed = check_int("seed", self.seed, 0)
        self.eval_n = check_int("eval_n", self.eval_n, 1)
        if self.algo not in ALGORITHMS:
            raise ValueError(f"algo must be one of {ALGORITHMS}; got {self.algo!r}")
        if self.out is None:
            self.out = f"runs/reproduce-{datetime.now():%Y%m%d-%H%M%S}"


def reproduce(cfg: ReproduceConfig) -> dict:
    """Run the three stages; returns (and writes to OUT/results.json) everything the table and figure show."""
    t0 = time.perf_counter()
    out = Path(cfg.out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"--out {out} is not empty; choose a new run directory")
    out.mkdir(parents=True, exist_ok=True)
    pre_cfg = dict(d=cfg.d, p_long=cfg.p_long, seed=cfg.seed, device=cfg.device, final_eval_n=cfg.eval_n)

    print(f"[1/3] next-token pre-training, d = {cfg.d}, p_long = {cfg.p_long}")
    pre = pretrain(PretrainConfig(**pre_cfg, out=str(out / "pretrain")), progress=cfg.progress)
    if pre.stop_reason != "learned":
        print(f"      warning: the chain was not learned within {pre.samples:,} samples; RL may not generalise")

    print(f"[2/3] RL fine-tuning through TorchRL ({cfg.algo})")
    ft = finetune(out / "pretrain", FinetuneConfig(algo=cfg.algo, seed=cfg.seed, device=cfg.device,
                                                   out=str(out / "finetune"), final_eval_n=cfg.eval_n),
                  progress=cfg.progress)

    print(f"[3/3] NTP-only control: {ft.episodes:,} more demonstrations, as many sequences as RL generated")
    shutil.copytree(out / "pretrain", out / "control")
    batch = PretrainConfig.batch_size
    every = max(batch, ft.episodes // 6 // batch * batch)  # about six evaluation points along the control's curve
    control = pretrain(PretrainConfig(**pre_cfg, out=str(out / "control"), resume=True, stop_when_learned=False,
                                      max_samples=pre.samples + ft.episodes, eval_every=every), progress=cfg.progress)

    results = {
        "config": asdict(cfg),
        "stages": {
            "pretrained": _row(pre.metrics, pre.wall_time_s, pre.samples, pre.stop_reason),
            "finetuned": _row(ft.metrics, ft.wall_time_s, ft.episodes, ft.stop_reason),
            "control": _row(control.metrics, control.wall_time_s - pre.wall_time_s, control.samples - pre.samples,
                            control.stop_reason),
        },
        "curves": {
            "pretrain": [_point(p, "samples") for p in pre.log],
            "finetune": [{**_point(p, "episodes"), "samples": pre.samples + p["episodes"],
                          "sampled_mean_length": p["mean_length"]} for p in ft.log if "greedy_accuracy" in p],
            "control": [_point(p, "samples") for p in control.log if p["samples"] > pre.samples],
        },
        "rl_solved_step": ft.solved_step,
        "wall_time_s": time.perf_counter() - t0,
    }
    (out / "results.json").write_text(json.dumps(results, indent=2))
    draw_figure(results, out / "figure.png")
    results["wall_time_s"] = time.perf_counter() - t0
    (out / "results.json").write_text(json.dumps(results, indent=2))
    return results


def _row(metrics: dict, wall: float, samples: int, stop: str) -> dict:
    keys = ("greedy_accuracy", "greedy_mean_length", "sampled_accuracy", "sampled_long_fraction",
            "sampled_long_accuracy")
    return {**{k: metrics.get(k) for k in keys}, "wall_time_s": wall, "samples": samples, "stop_reason": stop}


def _point(p: dict, x: str) -> dict:
    return {"samples": p[x], "greedy_accuracy": p.get("greedy_accuracy"), "greedy_mean_length": p.get("greedy_mean_length")}


def format_table(results: dict) -> str:
    """The before / after / control table as fixed-width text."""
    head = f"{'':18}{'greedy acc':>11}{'greedy len':>11}{'long frac':>10}{'wall (s)':>9}{'samples':>10}"
    lines = [head, "-" * len(head)]
    for key, label in ROWS:
        r = results["stages"][key]
        lines.append(f"{label:18}{r['greedy_accuracy']:>11.3f}{r['greedy_mean_length']:>11.2f}"
                     f"{r['sampled_long_fraction']:>10.3f}{r['wall_time_s']:>9.1f}{r['samples']:>10,}")
    return "\n".join(lines)


def draw_figure(results: dict, path: Path) -> None:
    """Greedy accuracy (top) and answer length (bottom): during pre-training (left), then RL against the NTP-only
    control on the same number of further sequences (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg, curves = results["config"], results["curves"]
    fig, axes = plt.subplots(2, 2, figsize=(11, 6.5), sharey="row", constrained_layout=True,
                             gridspec_kw={"width_ratios": (3, 2)})
    start = curves["pretrain"][-1] if curves["pretrain"] else None
    offset = results["stages"]["pretrained"]["samples"]
    panels = (
        (0, [("pretrain", "next-token prediction", "C0")], 0),
        (1, [("finetune", f"RL ({cfg['algo']})", "C3"), ("control", "NTP-only control", "C7")], offset),
    )
    for col, series, x0 in panels:
        for key, label, color in series:
            pts = [p for p in curves[key] if p["greedy_accuracy"] is not None]
            if col == 1 and start is not None:
                pts = [start, *pts]  # both continue from the pre-trained model
            x = [p["samples"] - x0 for p in pts]
            axes[0, col].plot(x, [p["greedy_accuracy"] for p in pts], "o-", ms=3, color=color, label=label)
            axes[1, col].plot(x, [p["greedy_mean_length"] for p in pts], "o-", ms=3, color=color, label=label)
        axes[0, col].legend(loc="lower right")
    for ax in axes.ravel():
        ax.grid(alpha=0.3)
    for col in (0, 1):
        axes[0, col].axhline(0.5, color="grey", lw=0.8, ls="--")
        axes[1, col].axhline(cfg["d"], color="grey", lw=0.8, ls="--")
    axes[1, 0].set_xlabel("demonstrations seen (pre-training)")
    axes[1, 1].set_xlabel("sequences after pre-training")
    axes[0, 0].set_ylabel("greedy accuracy")
    axes[0, 0].set_ylim(0.4, 1.03)
    axes[1, 0].set_ylabel("greedy answer length (bits before EOS)")
    axes[1, 0].set_ylim(0, cfg["d"] + 1)
    fig.suptitle(f"Parity, d = {cfg['d']}, p_long = {cfg['p_long']}, seed {cfg['seed']}: "
                 "greedy decoding after next-token prediction, then RL", fontsize=11)
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --------------------------------------------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--d", type=int, default=24, help="number of input bits (default 24)")
    parser.add_argument("--p-long", type=float, default=0.01,
                        help="fraction of long (chain-of-thought) demonstrations (default 0.01)")
    parser.add_argument("--algo", choices=ALGORITHMS, default="reinforce", help="RL algorithm (default reinforce)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every stage (default 0)")
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda, ... (default cpu)")
    parser.add_argument("--out", default=None,
                        help="run directory, new or empty (default runs/reproduce-<date>-<time>)")
    parser.add_argument("--eval-n", type=int, default=4096, help="prompts per mode of each evaluation (default 4096)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def main(args: argparse.Namespace) -> int:
    try:
        cfg = ReproduceConfig(d=args.d, p_long=args.p_long, algo=args.algo, seed=args.seed, device=args.device,
                              out=args.out, eval_n=args.eval_n, progress=not args.no_progress)
        results = reproduce(cfg)
    except (ValueError, TypeError, FileExistsError) as e:
        raise SystemExit(f"parity-cot reproduce: error: {e}") from None
    print()
    print(format_table(results))
    print()
    out = Path(cfg.out)
    print(f"results: {out / 'results.json'}\nfigure:  {out / 'figure.png'}")
    print(f"wall time: {results['wall_time_s']:.1f} s")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--redraw":
        run = Path(sys.argv[2])
        draw_figure(json.loads((run / "results.json").read_text()), run / "figure.png")
        print(f"redrew {run / 'figure.png'}")
    else:
        from .cli import main as cli_main

        sys.exit(cli_main(["reproduce", *sys.argv[1:]]))
