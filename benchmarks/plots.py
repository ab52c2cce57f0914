"""What does a saved result look like? python benchmarks/plots.py NAME [NAME ...] [--results DIR --figures DIR]

    python benchmarks/plots.py calibration               # benchmarks/figures/calibration.png from the committed JSON
    python benchmarks/plots.py --all                     # every committed result that has a drawing
    python benchmarks/plots.py fig1 --results runs/benchmarks --figures /tmp/figures

Draws FIGURES/NAME.png from RESULTS/NAME.json without rerunning anything. A sweep a script may split across processes
(temperature, threshold: ``--name temperature_star``) is drawn from NAME.json and every NAME_*.json together. The
drawing is chosen by the result's "benchmark" entry (results older than that entry: by their name; fig1 and d50_cpu
are paper_scale runs). One drawing function per benchmark, registered in ``DRAWINGS``.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from common import COMMITTED_FIGURES, COMMITTED_RESULTS, read_result, result_kind, task_settings  # noqa: E402

SPLIT_SWEEPS = ("temperature", "threshold")
"""Benchmarks whose runs may be spread over NAME.json and NAME_*.json (merged before drawing)."""
UNSHARED = ("runs", "hardware", "wall_time_s")
"""Entries the parts of a split sweep may differ in; every other entry must agree."""


# --------------------------------------------------------------------------------------------------- shared axes
def label_rl_axes(axes, algos: list[str], titles: list[str], legend_size: int = 8) -> None:
    """Titles, the 99% line, axis labels and legends of a (2, n) grid: greedy accuracy (top) and greedy answer length
    (bottom) against RL steps, one column per algorithm (STaR's steps are rounds)."""
    for col, (algo, title) in enumerate(zip(algos, titles)):
        axes[0, col].set_title(title)
        axes[0, col].axhline(0.99, color="k", lw=0.5, ls="--")
        axes[1, col].set_xlabel("RL step" + (" (round)" if algo == "star" else ""))
        axes[0, col].legend(fontsize=legend_size)
    axes[0, 0].set_ylabel("greedy accuracy")
    axes[1, 0].set_ylabel("greedy answer length (bits)")


def rl_grid(runs: list[dict], width: float):
    """A (2, n) grid, one column per algorithm of ``runs`` (in order of appearance), rows sharing their y axis."""
    algos = list(dict.fromkeys(r["algo"] for r in runs))
    fig, axes = plt.subplots(2, len(algos), figsize=(width * len(algos), 6), squeeze=False, sharey="row")
    return fig, axes, algos


def plot_probes(axes_pair, run: dict, **style) -> None:
    """A run's greedy accuracy (top axis) and greedy answer length (bottom axis) against its probe steps."""
    top, bottom = axes_pair
    top.plot(run["probe_steps"], run["greedy_accuracy"], **style)
    bottom.plot(run["probe_steps"], run["greedy_length"], **style)


def task_title(data: dict) -> str:
    task = task_settings(data["task"])
    return f"d = {task['d']}, p_long = {task['p_long']}"


def model_label(data: dict) -> str:
    """The agent of a result: its name, and its preset or config when it has one ("gpt", "gpt mistral-2x128")."""
    config = data.get("agent_config") or {}
    extra = config.get("preset") if set(config) == {"preset"} else (json.dumps(config) if config else "")
    return f"{data.get('agent', 'gpt')} {extra}".strip()


# --------------------------------------------------------------------------------------------------- drawings
def calibration_setting(data: dict) -> str:
    """The task of a calibration result: d = 24 for parity (older results recorded only d), else its settings."""
    if "task" not in data:
        return f"d={data['d']}"
    task = data["task"]
    settings = task_settings(task)
    return f"d={settings['d']}" if task.get("name") == "parity" else ", ".join(f"{k}={v}" for k, v in settings.items()
                                                                             if k != "p_long")


def draw_calibration(data: dict, results: Path):
    rows = data["rows"]
    p = [r["p_long"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.errorbar(p, [r["sampled_long_fraction"] for r in rows], yerr=[r["band"] for r in rows], fmt="o", capsize=3,
                 label="sampled long fraction (bar: pass band)")
    ax1.plot([0.008, 0.3], [0.008, 0.3], "k:", label="p_long")
    ax1.set(xscale="log", yscale="log", xlabel="p_long", ylabel="long fraction at temperature 1",
            title=f"length calibration after NTP ({calibration_setting(data)})")
    ax1.legend(fontsize=8)
    ax2.plot(p, [r["greedy_accuracy"] for r in rows], "o-", label="greedy accuracy")
    ax2.plot(p, [r["sampled_long_accuracy"] or 0 for r in rows], "s-", label="accuracy of sampled long answers")
    ax2.axhspan(0.45, 0.55, color="gray", alpha=0.2, label="chance band")
    ax2.set(xscale="log", xlabel="p_long", ylabel="accuracy", ylim=(0, 1.05))
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def draw_generation_speed(data: dict, results: Path):
    fig, ax = plt.subplots(figsize=(5, 4))
    keys = ["uncached", "cached"]
    ax.bar(keys, [data[k]["tokens_per_s"] for k in keys], color=["tab:gray", "tab:blue"])
    ax.set(ylabel="new tokens / s", title=f"d={data['d']}, batch {data['batch']}, {data['new_tokens_per_row']} "
           f"tokens/row: {data['speedup']:.1f}x")
    fig.tight_layout()
    return fig


def draw_leap(data: dict, results: Path):
    """Per construction: the greedy accuracy of each seed after NTP alone against the ideal NTP model's (left), and
    the greedy accuracy along pre-training (right)."""
    names = list(dict.fromkeys(r["setting"] for r in data["runs"]))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": (2, 3)})
    for k, name in enumerate(names):
        runs = [r for r in data["runs"] if r["setting"] == name]
        ax1.plot([k] * len(runs), [r["final"]["greedy_accuracy"] for r in runs], "o", color=f"C{k}", alpha=0.8,
                 label="measured (a seed each)" if k == 0 else None)
        ax1.hlines(runs[0]["predicted"]["greedy_accuracy"], k - 0.3, k + 0.3, color="k",
                   label="predicted: greedy of the ideal NTP model" if k == 0 else None)
        for r in runs:
            curve = [p for p in r["curve"] if p["greedy_accuracy"] is not None]
            ax2.plot([p["samples"] for p in curve], [p["greedy_accuracy"] for p in curve], color=f"C{k}", alpha=0.7,
                     label=name if r is runs[0] else None)
    masses = [task_settings(next(r["task"] for r in data["runs"] if r["setting"] == n)) for n in names]
    masses = [t["p_long"] + t.get("p_partial", 0.0) for t in masses]  # every long answer: full and partial chains
    ax1.set_xticks(range(len(names)), [n.replace(", ", ",\n") + f"\nlong mass {m:.2f}" + (" > 1/3" if m > 1 / 3
                                                                                         else " < 1/3")
                                       for n, m in zip(names, masses)], fontsize=8)
    ax1.set(ylabel="greedy accuracy after NTP alone", ylim=(0.4, 1.05),
            title=f"d = {data['d']}, full chains at p_long = {data['p_long']}")
    ax1.axhline(0.5, color="grey", ls=":", lw=1)
    ax1.legend(fontsize=7)
    ax2.axhline(0.5, color="grey", ls=":", lw=1)
    ax2.set(xlabel="demonstrations seen", ylabel="greedy accuracy", ylim=(0.4, 1.05))
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return fig


def draw_paper_scale(data: dict, results: Path):
    """One thin line per seed (the spread), NTP alone in blue and NTP followed by RL in red."""
    fig, ax = plt.subplots(figsize=(7, 4.2), constrained_layout=True)
    for i, run in enumerate(data["runs"]):
        pre, ft = run["pretrain"], run["finetune"]
        controls = [("control", "-", "next-token prediction only" + (" (peak lr)" if "control_decayed" in run
                                                                     else ""))]
        if "control_decayed" in run:  # results before both controls ran have the decayed one only
            controls.append(("control_decayed", ":", "next-token prediction only (decayed lr)"))
        for key, style, label in controls:
            ntp = [p for p in pre["log"] + run[key]["log"] if p.get("greedy_accuracy") is not None]
            ax.plot([p["samples"] for p in ntp], [p["greedy_accuracy"] for p in ntp], style, marker="o", ms=2.5,
                    lw=1, color="C0", alpha=0.8, label=label if i == 0 else None)
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
    hw = data["hardware"]
    where = hw.get("gpu") if data.get("device", "cpu").startswith("cuda") else hw["cpu"]
    ax.set_title(f"d = {data['scale']['d']}, p_long = {data['scale']['p_long']}, {model_label(data)}, "
                 f"{len(data['runs'])} seed(s)  ({where})", fontsize=9)
    return fig


def draw_pretrain_speed(data: dict, results: Path):
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for run in data["runs"]:
        log = run["log"]
        ax1.plot([p["elapsed_s"] for p in log], [p["chain_loss"] for p in log], label=f"seed {run['seed']}")
        ok = [(p["check_n_long"] - p["check_n_wrong"]) / max(p["check_n_long"], 1) for p in log]
        ax2.plot([p["samples"] for p in log], ok, marker=".", label=f"seed {run['seed']}")
    ax1.set(xlabel="wall time (s)", ylabel="teacher-forced chain loss (nats)", yscale="log",
            title="chain loss (bits 3..d)")
    task = task_settings(data["config"].get("task", data["config"]))  # older: d, p_long at the config's top
    setting = f"d={task['d']}, p_long={task['p_long']}"
    s = data["summary"]
    ax2.axhline(0.99, color="k", ls=":", lw=1)
    ax2.set(xlabel="demonstrations seen", ylabel="exact chains among sampled long answers",
            title=f"{setting}: median {s['median_s']:.0f} s, max {s['max_s']:.0f} s to learned"
            if s["median_s"] else setting)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def draw_rl_algorithms(data: dict, results: Path):
    """Greedy accuracy and answer length along RL, a column per algorithm; with several checkpoints (pre-training
    seeds) a colour per checkpoint."""
    fig, axes, algos = rl_grid(data["runs"], width=4)
    many = "checkpoints" in data
    rl_seeds = sorted({r["seed"] for r in data["runs"]})
    for col, algo in enumerate(algos):
        for r in (r for r in data["runs"] if r["algo"] == algo):
            if many:
                k = data["checkpoints"].index(r["checkpoint"])
                label = f"pre-training seed {r.get('pretrain_seed', k)}" + (f", RL seed {r['seed']}"
                                                                              if len(rl_seeds) > 1 else "")
                style = {"color": f"C{k}", "ls": ("-", "--", ":", "-.")[rl_seeds.index(r["seed"]) % 4]}
            else:
                label, style = f"seed {r['seed']}", {}
            plot_probes(axes[:, col], r, label=label, **style)
            if r["solved_step"]:
                axes[0, col].axvline(r["solved_step"], color="grey", lw=0.5, ls=":")
    label_rl_axes(axes, algos, algos, legend_size=7)
    start = f"{len(data['checkpoints'])} pretrained checkpoints" if many else "a pretrained checkpoint"
    fig.suptitle(f"RL from {start} at {task_title(data)} (dotted: solved; {data['hardware']['cpu']})", fontsize=9)
    fig.tight_layout()
    return fig


def rl_controls_bars(data: dict, results: Path) -> tuple[list[str], list[float]]:
    """The bars: each REINFORCE seed of RESULTS/rl_algorithms.json (when present), then each control."""
    names, values = [], []
    if (results / "rl_algorithms.json").exists():
        for r in read_result("rl_algorithms", results)["runs"]:
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
    return names, values


def draw_rl_controls(data: dict, results: Path):
    names, values = rl_controls_bars(data, results)
    fig, ax = plt.subplots(figsize=(1.6 * len(names) + 2, 4))
    ax.bar(range(len(names)), values, color=["C2" if n.startswith("REINFORCE") else "C7" for n in names])
    ax.set_xticks(range(len(names)), names, fontsize=7)
    ax.axhline(0.5, color="k", lw=0.5, ls="--")
    ax.set_ylabel("greedy accuracy")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"RL vs controls from {data['checkpoint']}", fontsize=8)
    fig.tight_layout()
    return fig


def draw_rl_speed(data: dict, results: Path):
    cases = [("pretrained", data["collection_pretrained"]), ("after RL", data["collection_after_rl"])]
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (_, c) in enumerate(cases):
        ax.bar(i - 0.2, c["torchrl_tokens_per_s"], 0.4, color="C0",
               label="TorchRL env + cached policy" if i == 0 else None)
        ax.bar(i + 0.2, c["generate_tokens_per_s"], 0.4, color="C1", label="bare generate()" if i == 0 else None)
        ax.text(i, max(c["torchrl_tokens_per_s"], c["generate_tokens_per_s"]) * 1.02, f"ratio {c['ratio']:.2f}",
                ha="center", fontsize=8)
    ax.set_xticks(range(len(cases)), [f"{n}\n({c['tokens_per_episode']:.1f} tokens/episode)" for n, c in cases])
    ax.set_ylabel("emitted tokens / s")
    median = data["time_to_99_median_s"]
    solved = f"median {median:.1f} s" if median is not None else "not reached"
    d = task_settings(data["task"])["d"]
    ax.set_title(f"d = {d}, batch {cases[0][1]['batch_size']}; {data['algo']} to 99%: {solved}\n"
                 f"{data['hardware']['cpu']}, {data['hardware']['torch_threads']} thread(s)", fontsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def log_odds(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def draw_star_recursion(data: dict, results: Path):
    """Per temperature: the log odds of each round's sampled long fraction (seeds: thin lines; the chain-of-thought
    reward: dotted) against the tempered recursion from p_0 (dashed), and the greedy accuracy."""
    temperatures = sorted({r["temperature"] for r in data["runs"]})
    fig, axes = plt.subplots(2, len(temperatures), figsize=(4.2 * len(temperatures), 6.5), squeeze=False,
                             sharey="row")
    for col, T in enumerate(temperatures):
        top, bottom = axes[0, col], axes[1, col]
        predicted = data["predictions"][str(T)]
        top.plot(log_odds(predicted), "k--", lw=1.2, label="prediction from p_0")
        for r in (r for r in data["runs"] if r["temperature"] == T):
            style = "-" if r["reward"] == "answer" else ":"
            color = f"C{r['seed']}"
            label = f"seed {r['seed']}" + (" (cot reward)" if r["reward"] == "cot" else "")
            top.plot(log_odds(r["long_fraction"]), style, color=color, marker="o", ms=2.5, label=label)
            bottom.plot(range(1, len(r["greedy_accuracy"]) + 1), r["greedy_accuracy"], style, color=color)
        top.set_title(f"T = {T}")
        top.set_xlabel("STaR round n")
        bottom.set_xlabel("STaR rounds done")
        bottom.axhline(0.99, color="k", lw=0.5, ls="--")
        top.legend(fontsize=7)
    axes[0, 0].set_ylabel("log odds of the sampled long fraction")
    axes[1, 0].set_ylabel("greedy accuracy")
    fig.suptitle(f"STaR at {task_title(data)}, {data['star_samples']} samples a round; p_0 = {data['p0']:.4f} "
                 f"({data['p0_n']:,} prompts); slope log 2 at T = 1: the odds double", fontsize=10)
    fig.tight_layout()
    return fig


def draw_temperature(data: dict, results: Path):
    fig, axes, algos = rl_grid(data["runs"], width=5)
    temps = sorted({r["temperature"] for r in data["runs"]})
    for col, algo in enumerate(algos):
        for i, temp in enumerate(temps):
            runs = [r for r in data["runs"] if r["algo"] == algo and r["temperature"] == temp]
            for j, r in enumerate(runs):  # one line per seed: the spread
                plot_probes(axes[:, col], r, color=f"C{i}", lw=1, label=f"T = {temp}" if j == 0 else None)
    label_rl_axes(axes, algos, [f"{algo}, end-to-end reward" for algo in algos])
    fig.suptitle(f"Sampling temperature, {task_title(data)}, one line per seed ({data['hardware']['cpu']})",
                 fontsize=9)
    fig.tight_layout()
    return fig


def draw_threshold(data: dict, results: Path):
    """Greedy accuracy after NTP against p_long, with the prediction: after the first chain bit the greedy model
    continues iff 2p/(1+p) > 1/2, i.e. p > 1/3; then greedy accuracy is 1, else the short answer at chance (1/2)."""
    runs = data["runs"]
    ps = sorted({r["p_long"] for r in runs})
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in runs:
        ax.plot(r["p_long"], r["greedy_accuracy"], "o", color="tab:blue", alpha=0.5)
    means = [np.mean([r["greedy_accuracy"] for r in runs if r["p_long"] == p]) for p in ps]
    ax.plot(ps, means, "-", color="tab:blue", label="greedy accuracy after NTP (dots: seeds)")
    grid = np.linspace(min(ps) - 0.02, max(ps) + 0.02, 200)
    ax.plot(grid, 2 * grid / (1 + grid), "--", color="tab:orange", label="continuation probability 2p/(1+p)")
    measured = [r for r in runs if r.get("continuation_probability") is not None]  # recorded since the presets
    if measured:
        ax.plot([r["p_long"] for r in measured], [r["continuation_probability"] for r in measured], "x",
                color="tab:orange", label="continuation probability, measured")
    ax.axhline(0.5, color="k", ls=":", lw=1)
    ax.step(grid, np.where(grid > 1 / 3, 1.0, 0.5), where="post", color="gray", lw=1, label="prediction")
    ax.axvline(1 / 3, color="gray", ls=":", lw=1)
    ax.set(xlabel="p_long", ylabel="accuracy / probability", ylim=(0.0, 1.05),
           title=f"d = {data['d']}, {model_label(data)}, {data['budget']:,} demonstrations per run")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def draw_star_p0(data: dict, results: Path):
    """STaR and REINFORCE from checkpoints calibrated at several p_0, against x = log2((1 - p_0)/p_0) (p_0 measured):
    rounds until the sampled long fraction reaches 1/2 (Theorem 2 with exact refits: ceil(x)), rounds and REINFORCE
    steps until solved; the log odds per round against the recursion; how exact each round's refit was; and STaR at
    the cold temperature from both sides of its unstable fixed point."""
    runs, cals = data["runs"], data["checkpoints"]
    x_of = {c["p0_nominal"]: math.log2((1 - c["p0"]) / c["p0"]) for c in cals}
    epochs = data["epochs"]
    markers, lines = dict(zip(epochs, "os^D")), dict(zip(epochs, (":", "--", "-", "-.")))
    fig, axes = plt.subplots(2, 3, figsize=(16, 8.5))
    grid = np.linspace(min(x_of.values()) - 0.3, max(x_of.values()) + 0.3, 100)
    warm = [r for r in runs if r["algo"] == "star" and r["temperature"] == 1.0]
    for k, (key, ax, title) in enumerate((("rounds_to_half", axes[0, 0], "rounds until the sampled long fraction "
                                           ">= 1/2"), ("solved_step", axes[0, 1], "STaR rounds until solved"))):
        for r in warm:
            y = r[key]
            jitter = 0.08 * (r["seed"] - 1)
            ax.plot(x_of[r["p0_nominal"]] + jitter, y if y is not None else data["rounds"] + 1, markers[r["epochs"]],
                    color=f"C{epochs.index(r['epochs'])}", mfc="none" if y is None else None, alpha=0.8)
        ax.plot(grid, np.ceil(grid) + (0 if k == 0 else 2), "k--", lw=1,
                label="exact refits: ceil(x)" + ("" if k == 0 else " + 2 (two probes >= 99% after p > 1/3)"))
        ax.set(xlabel="x = log2((1 - p_0) / p_0)", ylabel="rounds", title=title)
    handles = [plt.Line2D([], [], ls="none", marker=markers[e], color=f"C{i}", label=f"{e} epoch(s) a round")
               for i, e in enumerate(epochs)]
    axes[0, 0].legend(handles=handles + [plt.Line2D([], [], ls="--", color="k", label="exact refits: ceil(x)")],
                      fontsize=7)
    axes[0, 1].legend(fontsize=7)
    rl = [r for r in runs if r["algo"] == "reinforce"]
    for r in rl:
        y = r["solved_step"]
        axes[0, 2].plot(x_of[r["p0_nominal"]] + 0.08 * (r["seed"] - 1), y if y is not None else data["reinforce_steps"],
                        "o", color="C3", mfc="none" if y is None else None)
    axes[0, 2].set(xlabel="x = log2((1 - p_0) / p_0)", ylabel="REINFORCE steps (256 episodes)",
                   title="REINFORCE steps until solved (hollow: not within the cap)")
    cmap = plt.get_cmap("viridis")
    order = sorted(x_of, key=x_of.get)
    for r in warm:
        color = cmap(order.index(r["p0_nominal"]) / max(len(order) - 1, 1))
        axes[1, 0].plot(log_odds(r["long_fraction"]), lines[r["epochs"]], color=color, lw=1, alpha=0.8)
    for c in cals:
        color = cmap(order.index(c["p0_nominal"]) / max(len(order) - 1, 1))
        axes[1, 0].plot(log_odds(c["prediction"][:data["rounds"]]), "-", color=color, lw=4, alpha=0.25,
                        label=f"p_0 = {c['p0']:.4f} (nominal {c['p0_nominal']}): p <- 2p/(1+p)")
    styles = ", ".join(f"{lines[e]} {e}" for e in epochs)
    axes[1, 0].set(xlabel="STaR round n", ylabel="log odds of the sampled long fraction", xlim=(-0.5, 16),
                   title=f"epochs a round: {styles}; wide: the recursion")
    axes[1, 0].legend(fontsize=7)
    for i, e in enumerate(epochs):
        ratios = [np.mean(r["refit_ratio"][:6]) for r in warm if r["epochs"] == e and r["refit_ratio"]]
        axes[1, 1].plot([i] * len(ratios), ratios, "o", color=f"C{i}", alpha=0.7)
    axes[1, 1].axhline(1, color="k", lw=0.8, ls="--", label="exact refit")
    axes[1, 1].set_xticks(range(len(epochs)), [f"{e} epoch(s)" for e in epochs])
    axes[1, 1].set(ylabel="long fraction sampled next round / kept this round",
                   title="how exact a round's refit is (mean of the first 6 rounds, a run each)")
    axes[1, 1].legend(fontsize=7)
    cold = [r for r in runs if r["algo"] == "star" and r["temperature"] != 1.0]
    for r in cold:
        color = "C2" if r["p0"] > 0.052 else "C1"  # above the unstable fixed point: grows
        axes[1, 2].plot(r["long_fraction"], lines[r["epochs"]], color=color, lw=1, alpha=0.8)
    for c in cals:
        if any(r["p0_nominal"] == c["p0_nominal"] for r in cold):
            color = "C2" if c["p0"] > 0.052 else "C1"
            axes[1, 2].plot(c["cold_prediction"], "-", color=color, lw=4, alpha=0.25,
                            label=f"p_0 = {c['p0']:.4f}: recursion at T = {data['cold_temperature']}")
    axes[1, 2].axhline(0.052, color="grey", lw=0.8, ls=":", label="unstable fixed point 0.052")
    axes[1, 2].set(yscale="log", ylim=(1e-4, 1.2), xlabel="STaR round n", ylabel="sampled long fraction",
                   title=f"T = {data['cold_temperature']} (epochs a round: {styles}; wide: the recursion)")
    axes[1, 2].legend(fontsize=7)
    t = task_settings(data["task"])
    fig.suptitle(f"STaR from checkpoints calibrated at p_0 (d = {t['d']}, derived from {data['checkpoint']} by NTP at "
                 f"p_long = p_0, {data['recal_samples']:,} demonstrations); {data['star_samples']} samples a round, "
                 f"{len(data['seeds'])} seeds", fontsize=10)
    fig.tight_layout()
    return fig


def draw_too_early_levels(data: dict, results: Path):
    """too_early --levels: one row per (d, p_long); against the start's exact-chain rate (sampled long answers, the
    1000-answer probe), where each run ended: greedy accuracy, greedy answer length / d and greedy exact chains (a
    marker per run: colour the seed, shape the algorithm); right: greedy accuracy and answer length along RL, coloured
    by that rate."""
    settings = list(dict.fromkeys((r["d"], r["p_long"]) for r in data["rows"]))
    algos = list(dict.fromkeys(r["algo"] for r in data["rows"]))
    markers, styles = dict(zip(algos, "osD^")), dict(zip(algos, ("-", ":", "--", "-.")))
    fig, axes = plt.subplots(len(settings), 5, figsize=(22, 3.6 * len(settings)), squeeze=False)
    cmap = plt.get_cmap("viridis")
    for row, (d, p_long) in enumerate(settings):
        runs = [r for r in data["rows"] if (r["d"], r["p_long"]) == (d, p_long)]
        for r in runs:
            x = r["start"]["probe"]["exact"] if r["start"].get("probe") else r["start"]["sampled_long_chain_accuracy"]
            after = r["after"]
            for col, y in enumerate((after["greedy_accuracy"], after["greedy_mean_length"] / d,
                                     after["greedy_chain_accuracy"])):
                axes[row, col].plot(x, y, markers[r["algo"]], color=f"C{r['seed']}", alpha=0.75, mfc="none", ms=7)
            axes[row, 3].plot(r["probe_steps"], r["greedy_accuracy"], styles[r["algo"]], color=cmap(x or 0), lw=0.9,
                              alpha=0.8)
            axes[row, 4].plot(r["probe_steps"], np.array(r["greedy_length"]) / d, styles[r["algo"]],
                              color=cmap(x or 0), lw=0.9, alpha=0.8)
        titles = (f"d = {d}, p_long = {p_long}: greedy accuracy after RL", "greedy answer length / d after RL",
                  "greedy answers exactly the chain after RL")
        for col, title in enumerate(titles):
            axes[row, col].set(title=title, xlim=(-0.03, 1.03), ylim=(-0.03, 1.05))
            axes[row, col].axvspan(0.5, 0.8, color="grey", alpha=0.12)
        axes[row, 0].axhline(0.5, color="grey", lw=0.8, ls="--")
        axes[row, 3].set(title="greedy accuracy along RL\n(colour: exact-chain rate at the start)", ylim=(0.4, 1.03),
                         xlabel="RL step")
        axes[row, 4].set(title="greedy answer length / d along RL", ylim=(-0.03, 1.05), xlabel="RL step")
        axes[row, 0].set_ylabel("after RL")
    for col in range(3):
        axes[-1, col].set_xlabel("sampled long answers exactly the chain, at the start")
    handles = [plt.Line2D([], [], ls="none", marker=markers[a], color="k", mfc="none", label=a) for a in algos]
    handles += [plt.Line2D([], [], ls="none", marker="o", color=f"C{s}", label=f"seed {s}")
                for s in sorted({r["seed"] for r in data["rows"]})]
    axes[0, 0].legend(handles=handles, fontsize=7, loc="center right")
    axes[0, 3].legend(handles=[plt.Line2D([], [], ls=styles[a], color="k", label=a) for a in algos], fontsize=7)
    stop = f", stopping {data['after_solved']} steps after solved" if data.get("after_solved") is not None else ""
    fig.suptitle(f"RL for at most {data['rl_steps']} steps{stop}, from pre-training snapshots taken by the "
                 f"chain probe (levels {', '.join(map(str, data['levels']))}; shaded: 0.5-0.8), {model_label(data)}",
                 fontsize=10)
    fig.tight_layout()
    return fig


def draw_too_early(data: dict, results: Path):
    """Greedy accuracy and answer length against RL steps, one colour per starting point (a fraction of the samples
    the chain needed), one line per seed; the right panel: where each run ended. Results of --levels:
    ``draw_too_early_levels``."""
    if "levels" in data:
        return draw_too_early_levels(data, results)
    fractions = sorted({r["fraction"] for r in data["rows"]})
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for r in data["rows"]:
        k = fractions.index(r["fraction"])
        label = f"{r['fraction']:.2f} x learned" if r["seed"] == data["rows"][0]["seed"] else None
        plot_probes(axes[:2], r, lw=1, color=f"C{k}", alpha=0.8, label=label)
        axes[2].plot(r["after"]["greedy_mean_length"], r["after"]["greedy_accuracy"], "o", color=f"C{k}")
    for ax, ylabel in zip(axes[:2], ("greedy accuracy", "greedy answer length (bits)")):
        ax.set_xlabel("RL step")
        ax.set_ylabel(ylabel)
    axes[0].legend(fontsize=7)
    axes[2].set(xlabel="greedy answer length after RL (bits)", ylabel="greedy accuracy after RL", ylim=(0.4, 1.03),
                title="where each run ended (colour: start)")
    axes[2].axhline(0.5, color="grey", lw=0.8, ls="--")
    learned = ", ".join(f"{v:,}" for v in data["learned_at_samples"].values())
    fig.suptitle(f"RL (REINFORCE, {data['rl_steps']} steps) from snapshots of pre-training at d = {data['d']}, "
                 f"p_long = {data['p_long']}; the chains were learned at {learned} samples", fontsize=10)
    fig.tight_layout()
    return fig


def draw_linear_model(data: dict, results: Path):
    """The linear agent: calibration, the threshold, REINFORCE to 100% and STaR on an odds axis."""
    runs, seeds = data["runs"], sorted({r["seed"] for r in data["runs"]})
    p_longs = sorted({r["p_long"] for r in runs})
    fig, axes = plt.subplots(1, 4, figsize=(17, 4))
    for seed in seeds:
        mine = sorted((r for r in runs if r["seed"] == seed), key=lambda r: r["p_long"])
        axes[0].plot([r["p_long"] for r in mine], [r["sampled_long_fraction"] for r in mine], "o", alpha=0.7,
                     label=f"seed {seed}")
        axes[1].plot([r["p_long"] for r in mine], [r["greedy_accuracy"] for r in mine], "o-", alpha=0.7)
    axes[0].plot([0, max(p_longs)], [0, max(p_longs)], "k:", label="p_long (calibrated)")
    axes[0].set(xlabel="p_long", ylabel="sampled long fraction", title="calibration after NTP")
    axes[0].legend(fontsize=8)
    axes[1].axvline(1 / 3, color="k", ls=":", lw=0.8, label="1/3")
    axes[1].axhline(0.5, color="grey", ls="--", lw=0.8)
    axes[1].set(xlabel="p_long", ylabel="greedy accuracy", ylim=(0.4, 1.03), title="NTP alone: the 1/3 threshold")
    axes[1].legend(fontsize=8)
    for run in data["rl"]:
        axes[2].plot(run["probe_steps"], run["greedy_accuracy"], "-", label=f"seed {run['seed']}: accuracy")
        axes[2].plot(run["probe_steps"], np.array(run["greedy_length"]) / data["d"], ":", color="grey")
    axes[2].axhline(0.99, color="k", lw=0.5, ls="--")
    axes[2].set(xlabel="REINFORCE step", ylabel="greedy accuracy; answer length / d (dotted)", ylim=(0, 1.03),
                title=f"RL from p_long = {data['rl_from']}")
    axes[2].legend(fontsize=8)
    for k, run in enumerate(data["star"]):
        axes[3].plot(log_odds(run["long_fraction"]), "o-", color=f"C{k}", label=f"seed {run['seed']} measured")
        axes[3].plot(log_odds(run["predicted"]), "--", color=f"C{k}", alpha=0.6, label="2p/(1+p) from p_0")
    axes[3].set(xlabel="STaR round", ylabel="log odds of the sampled long fraction",
                title="STaR: log odds against p <- 2p/(1+p)")
    axes[3].legend(fontsize=7)
    fig.suptitle(f"linear agent (frozen degree-2 features), d = {data['d']}, {len(seeds)} seeds, "
                 f"{data['budget']:,} demonstrations each", fontsize=11)
    fig.tight_layout()
    return fig


def draw_hf_llama(data: dict, results: Path):
    """Each seed's main job with the hf agent: greedy accuracy (top) and answer length (bottom) during NTP (left),
    then RL against the NTP-only control on as many sequences (right)."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 6), sharey="row", gridspec_kw={"width_ratios": (3, 2)})
    for k, run in enumerate(data["runs"]):
        curves, offset = run["curves"], run["stages"]["pretrained"]["samples"]
        start = curves["pretrain"][-1:]
        series = ((0, "pretrain", "C0", 0, "NTP"), (1, "finetune", "C3", offset, "RL (REINFORCE)"),
                  (1, "control", "C7", offset, "NTP-only control"))
        for col, key, color, x0, name in series:
            pts = (start if col else []) + [p for p in curves[key] if p["greedy_accuracy"] is not None]
            label = name if k == 0 else None
            x = [p["samples"] - x0 for p in pts]
            axes[0, col].plot(x, [p["greedy_accuracy"] for p in pts], "-", color=color, alpha=0.7, label=label)
            axes[1, col].plot(x, [p["greedy_mean_length"] for p in pts], "-", color=color, alpha=0.7)
    for col in (0, 1):
        axes[0, col].axhline(0.5, color="grey", lw=0.8, ls="--")
        axes[1, col].axhline(data["d"], color="grey", lw=0.8, ls="--")
        axes[0, col].legend(fontsize=8)
    axes[0, 0].set(ylabel="greedy accuracy", ylim=(0.4, 1.03))
    axes[1, 0].set(ylabel="greedy answer length (bits)", xlabel="demonstrations seen (NTP)")
    axes[1, 1].set(xlabel="sequences after NTP")
    params = data["runs"][0].get("parameters")
    fig.suptitle(f"tiny Llama ({params:,} parameters; the hf agent), d = {data['d']}, p_long = {data['p_long']}, "
                 f"{len(data['runs'])} seeds", fontsize=11)
    fig.tight_layout()
    return fig


def draw_peer_speed(data: dict, results: Path):
    """Our rate over Hugging Face's / TRL's on the same task, per job: bars at the median per-pair ratio, whiskers
    at the smallest and largest pair."""
    jobs = [("generation", "generation\n(tokens/s)"), ("ntp_step", "NTP step\n(demonstrations/s)"),
            ("grpo", "GRPO\n(completions/s)")]
    fig, ax = plt.subplots(figsize=(7.5, 4))
    for offset, key, label in ((-0.2, "ratios", "ours, the same HF Llama"), (0.2, "ratios_gpt", "ours, our gpt agent")):
        ratios = [data["comparisons"][job][key] for job, _ in jobs]
        mid = [float(np.median(r)) for r in ratios]
        err = [[m - min(r) for m, r in zip(mid, ratios)], [max(r) - m for m, r in zip(mid, ratios)]]
        ax.bar(np.arange(len(jobs)) + offset, mid, 0.4, yerr=err, capsize=3, label=label)
    ax.axhline(1, color="k", lw=0.8, label="Hugging Face / TRL")
    ax.axhline(2, color="grey", lw=0.8, ls="--", label="GRPO target (2x)")
    ax.set_xticks(range(len(jobs)), [name for _, name in jobs])
    ax.set(ylabel="our rate / theirs (median of pairs)", title="the same task and model size, one CPU thread")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def draw_exact_chains(data: dict, results: Path):
    """Per algorithm and reward (seeds as dots): greedy accuracy, the exact-chain rate of the greedy answers, and the
    probability of the right first chain bit, after RL; the pre-trained agent as a line."""
    runs = [r for r in data["runs"] if r["algo"] != "pre-trained"]
    before = next(r for r in data["runs"] if r["algo"] == "pre-trained")
    cases = list(dict.fromkeys((r["algo"], r["reward"]) for r in runs))
    metrics = (("greedy accuracy", lambda r: r["final"]["greedy_accuracy"]),
               ("greedy answers exactly the chain", lambda r: r["final"]["greedy_chain_accuracy"]),
               ("P(first chain bit right)", lambda r: r["p_first_right"]))
    fig, axes = plt.subplots(1, len(metrics), figsize=(14, 4), sharey=True)
    for ax, (title, value) in zip(axes, metrics):
        for k, case in enumerate(cases):
            mine = [r for r in runs if (r["algo"], r["reward"]) == case]
            ax.plot([k] * len(mine), [value(r) for r in mine], "o", color="C3" if case[1] == "cot" else "C0",
                    alpha=0.8)
        ax.axhline(value(before), color="grey", ls=":", lw=1, label="pre-trained")
        ax.set_xticks(range(len(cases)), [f"{a}\n{rw}" for a, rw in cases], fontsize=8)
        ax.set(title=title, ylim=(-0.03, 1.03))
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"after RL to >= 99% and {data['after']} more steps, {task_title(data)} (blue: answer reward, red: "
                 "chain-of-thought reward)", fontsize=10)
    fig.tight_layout()
    return fig


DRAWINGS: dict[str, Callable] = {
    "exact_chains": draw_exact_chains,
    "peer_speed": draw_peer_speed,
    "hf_llama": draw_hf_llama,
    "linear_model": draw_linear_model,
    "calibration": draw_calibration,
    "generation_speed": draw_generation_speed,
    "leap": draw_leap,
    "paper_scale": draw_paper_scale,
    "pretrain_speed": draw_pretrain_speed,
    "rl_algorithms": draw_rl_algorithms,
    "rl_controls": draw_rl_controls,
    "rl_speed": draw_rl_speed,
    "star_recursion": draw_star_recursion,
    "star_p0": draw_star_p0,
    "temperature": draw_temperature,
    "threshold": draw_threshold,
    "too_early": draw_too_early,
}
"""Benchmark -> drawing(result, results directory) -> matplotlib Figure."""


# --------------------------------------------------------------------------------------------------- loading
def result_files(name: str, results: Path) -> list[Path]:
    """RESULTS/NAME.json, and for a split sweep every RESULTS/NAME_*.json too."""
    paths = [results / f"{name}.json"] if (results / f"{name}.json").exists() else []
    if name in SPLIT_SWEEPS:
        paths += sorted(results.glob(f"{name}_*.json"))
    if not paths:
        raise SystemExit(f"no result {name!r} in {results}: {results / f'{name}.json'} does not exist")
    return paths


def load(name: str, results: Path) -> tuple[str, dict]:
    """The benchmark and the data of the figure ``name``; the parts of a split sweep merged (their runs
    concatenated), which must be results of one benchmark that agree on everything but ``UNSHARED``."""
    parts = {path: json.loads(path.read_text()) for path in result_files(name, results)}
    kinds = {result_kind(path.stem, data) for path, data in parts.items()}
    if len(kinds) > 1:
        raise SystemExit(f"{name}: the files {[p.name for p in parts]} are results of different benchmarks {kinds}")
    (first, data), *rest = parts.items()
    for path, other in rest:
        differ = sorted(k for k in {*data, *other} - set(UNSHARED) if data.get(k) != other.get(k))
        if differ:
            raise SystemExit(f"{path} and {first} differ in {differ}: they are not parts of one sweep; move the stale "
                             "one away")
    if rest:
        data = {**data, "runs": [r for part in parts.values() for r in part["runs"]]}
    return kinds.pop(), data


def figure_names(results: Path) -> list[str]:
    """Every figure the results directory can draw: one per result, the parts of a split sweep together."""
    names = []
    for path in sorted(results.glob("*.json")):
        kind = result_kind(path.stem, json.loads(path.read_text()))
        if kind in DRAWINGS:
            names.append(kind if kind in SPLIT_SWEEPS and path.stem.startswith(kind + "_") else path.stem)
    return list(dict.fromkeys(names))


def draw(name: str, results: Path, figures: Path) -> Path:
    kind, data = load(name, results)
    if kind not in DRAWINGS:
        raise SystemExit(f"{name}: no drawing for benchmark {kind!r}; drawings: {', '.join(DRAWINGS)}")
    fig = DRAWINGS[kind](data, results)
    figures.mkdir(parents=True, exist_ok=True)
    path = figures / f"{name}.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {path}")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help="results to draw (RESULTS/NAME.json)")
    parser.add_argument("--all", action="store_true", help="draw every result in RESULTS that has a drawing")
    parser.add_argument("--results", type=Path, default=COMMITTED_RESULTS, metavar="DIR",
                        help="directory of the result JSON files (default: the committed benchmarks/results)")
    parser.add_argument("--figures", type=Path, default=COMMITTED_FIGURES, metavar="DIR",
                        help="directory of the PNG files (default: the committed benchmarks/figures)")
    args = parser.parse_args()
    if bool(args.names) == args.all:
        parser.error("give result NAMEs or --all (not both)")
    for name in figure_names(args.results) if args.all else args.names:
        draw(name, args.results, args.figures)



# --------------------------------------------------------------------------------------------------- multiplication
MUL_STAGES = (("NTP alone", "C0"), ("NTP then reinforce", "C3"), ("NTP then grpo", "C1"), ("NTP-only control", "C7"))


def _mul_cell_label(digits: int, p_long: float) -> str:
    return f"{digits}x{digits}\np={p_long:g}"


def _mul_groups(cells: list[dict]) -> dict[tuple[int, float], list[dict]]:
    """The cells of a multiplication result grouped by (digits, p_long), in order."""
    groups: dict[tuple[int, float], list[dict]] = {}
    for c in sorted(cells, key=lambda c: (c["digits"], c["p_long"], c["seed"])):
        groups.setdefault((c["digits"], c["p_long"]), []).append(c)
    return groups


def _mul_main_group(groups: dict) -> tuple[int, float]:
    """The cell drawn in detail: 3 x 3 at p_long 0.25 when present, else the one with the most seeds."""
    return (3, 0.25) if (3, 0.25) in groups else max(groups, key=lambda k: len(groups[k]))


def draw_multiplication(data: dict, results: Path):
    """Top: length calibration after NTP (sampled long fraction, and P(first token != ####), against p_long) and
    greedy accuracy per cell (bars: seed means, dots: seeds) after NTP alone, NTP then each RL algorithm, and the
    NTP-only control on as many sequences. Bottom, for the main cell: greedy answer length and greedy accuracy during
    RL (the control's curve against its sequences); and the exact-chain rates per cell."""
    cells = [c for c in data["cells"] if "pretrain" in c]
    algos = data.get("algos", ["reinforce", "grpo"])
    groups = _mul_groups(cells)
    fig = plt.figure(figsize=(16, 9.5), constrained_layout=True)
    grid = fig.add_gridspec(2, 3)
    ax_cal, ax_acc = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1:])
    ax_len, ax_rl, ax_chain = (fig.add_subplot(grid[1, k]) for k in range(3))

    digits = sorted({d for d, _ in groups})
    for i, d in enumerate(digits):
        cs = [c for c in cells if c["digits"] == d]
        ax_cal.plot([c["p_long"] for c in cs], [c["pretrain"]["metrics"]["sampled_long_fraction"] for c in cs], "o",
                    color=f"C{i}", alpha=0.8, label=f"{d} x {d}: sampled long fraction")
        ax_cal.plot([c["p_long"] for c in cs],
                    [c["pretrain"]["metrics"].get("first_token_long_probability") for c in cs], "x", color=f"C{i}",
                    alpha=0.8, label=f"{d} x {d}: P(first token != ####)")
    ax_cal.plot([0, 0.55], [0, 0.55], "k:", lw=1, label="y = p_long")
    ax_cal.axhline(0.5, color="grey", lw=0.6, ls="--")
    ax_cal.set(xlabel="p_long (long demonstrations in the mixture)", ylabel="after NTP, temperature 1",
               title="length calibration after NTP", xlim=(0, 0.55), ylim=(0, 0.6))
    ax_cal.legend(fontsize=7)

    stage_values = [("NTP alone", lambda c: c["pretrain"]["metrics"]["greedy_accuracy"])]
    for algo in algos:
        stage_values.append((f"NTP then {algo}", lambda c, a=algo: c.get("rl", {}).get(a, {}).get("metrics", {})
                             .get("greedy_accuracy")))
    stage_values.append(("NTP-only control", lambda c: c.get("control", {}).get("metrics", {}).get("greedy_accuracy")))
    if any("control_long" in c for c in cells):
        stage_values.append(("NTP-only control, long", lambda c: c.get("control_long", {}).get("metrics", {})
                             .get("greedy_accuracy")))
    colors = {**dict(MUL_STAGES), "NTP-only control, long": "k"}
    width = 0.8 / len(stage_values)
    for s, (name, value) in enumerate(stage_values):
        for g, cs in enumerate(groups.values()):
            vals = [v for v in map(value, cs) if v is not None]
            if not vals:
                continue
            x = g - 0.4 + width * (s + 0.5)
            ax_acc.bar(x, np.mean(vals), width * 0.9, color=colors.get(name, "C4"), alpha=0.55,
                       label=name if g == 0 else None)
            ax_acc.plot([x] * len(vals), vals, "k.", ms=3)
    ax_acc.set_xticks(range(len(groups)), [_mul_cell_label(*k) for k in groups], fontsize=8)
    ax_acc.set(ylabel="greedy accuracy (product right)", ylim=(0, 1.03),
               title="greedy accuracy after NTP alone, NTP then RL, and NTP alone on as many more sequences "
                     "(bars: mean, dots: seeds)")
    ax_acc.legend(fontsize=8, loc="upper left", ncol=2)

    main = _mul_main_group(groups)
    long_length = groups[main][0]["long_length"]
    for c in groups[main]:
        start = c["pretrain"]["metrics"]
        for algo in algos:
            run = c.get("rl", {}).get(algo)
            if run is None:
                continue
            probes = [e for e in run["log"] if e.get("greedy_accuracy") is not None]
            steps = [0] + [e["step"] for e in probes]
            style = dict(color=colors.get(f"NTP then {algo}", "C4"), marker="o", ms=3, lw=1, alpha=0.8,
                         label=algo if c is groups[main][0] else None)
            ax_len.plot(steps, [start["greedy_mean_length"]] + [e["greedy_mean_length"] for e in probes], **style)
            ax_len.plot([e["step"] for e in run["log"]], [e["mean_length"] for e in run["log"]], lw=0.6, alpha=0.5,
                        color=style["color"])
            ax_rl.plot([0] + [e["episodes"] for e in probes],
                       [start["greedy_accuracy"]] + [e["greedy_accuracy"] for e in probes], **style)
        control = c.get("control")
        if control:
            pts = [p for p in control["log"] if p.get("greedy_accuracy") is not None]
            ax_rl.plot([0] + [p["samples"] - c["pretrain"]["samples"] for p in pts],
                       [start["greedy_accuracy"]] + [p["greedy_accuracy"] for p in pts], "s-", ms=3, lw=1,
                       color="C7", label="NTP-only control" if c is groups[main][0] else None)
    ax_len.axhline(long_length, color="grey", lw=0.8, ls="--", label=f"the chain ({long_length} tokens)")
    ax_len.axhline(groups[main][0]["short_length"], color="grey", lw=0.8, ls=":", label="the short answer")
    ax_len.set(xlabel="RL step", ylabel="answer length (tokens before EOS)", ylim=(0, long_length + 2),
               title=f"{main[0]} x {main[0]}, p_long = {main[1]}: answer length during RL\n(dots: greedy probes; thin: "
                     "the sampled episodes' mean)")
    ax_len.legend(fontsize=7, loc="lower right")
    ax_rl.axhline(0.95, color="k", lw=0.5, ls="--")
    ax_rl.set(xlabel="sequences after pre-training (RL episodes / demonstrations)", ylabel="greedy accuracy",
              ylim=(0, 1.03), title=f"{main[0]} x {main[0]}, p_long = {main[1]}: RL against the NTP-only control\n"
                                    "(greedy probes on fresh prompts)")
    ax_rl.legend(fontsize=7, loc="center right")

    chain_values = [("sampled long answers exact after NTP", "C0",
                     lambda c: c["pretrain"]["metrics"].get("sampled_long_chain_accuracy"))]
    for algo in algos:
        chain_values.append((f"greedy answers exact chains after {algo}", colors.get(f"NTP then {algo}", "C4"),
                             lambda c, a=algo: c.get("rl", {}).get(a, {}).get("metrics", {})
                             .get("greedy_chain_accuracy")))
    width = 0.8 / len(chain_values)
    for s, (name, color, value) in enumerate(chain_values):
        for g, cs in enumerate(groups.values()):
            vals = [v for v in map(value, cs) if v is not None]
            if vals:
                x = g - 0.4 + width * (s + 0.5)
                ax_chain.bar(x, np.mean(vals), width * 0.9, color=color, alpha=0.55, label=name if g == 0 else None)
                ax_chain.plot([x] * len(vals), vals, "k.", ms=3)
    ax_chain.set_xticks(range(len(groups)), [_mul_cell_label(*k) for k in groups], fontsize=7)
    ax_chain.set(ylabel="exactly the chain", ylim=(0, 1.03),
                 title="exact chains (the answer reward leaves them free)\n(bars: mean, dots: seeds)")
    ax_chain.legend(fontsize=7, loc="lower left")
    for ax in (ax_cal, ax_acc, ax_len, ax_rl, ax_chain):
        ax.grid(alpha=0.3)
    recipe = data["settings"]["recipe"]
    where = data["hardware"].get("gpu") if data["settings"]["device"].startswith("cuda") else data["hardware"]["cpu"]
    fig.suptitle(f"multiplication with a chain of partial products: {model_label(recipe)}, lr {recipe.get('lr')}, "
                 f"{data['settings']['rl_steps']} RL steps of {data['settings']['rl_batch']} episodes "
                 f"({where})", fontsize=10)
    return fig


def draw_multiplication_recipe(data: dict, results: Path):
    """Per recipe and seed: the exact fraction of the chain check's sampled long answers against wall time (left)
    and against demonstrations seen (right); the check passes at 0.99."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), constrained_layout=True)
    recipes = list(dict.fromkeys(r["recipe"] for r in data["runs"]))
    for run in data["runs"]:
        log = run["log"]
        ok = [(p["check_n_long"] - p["check_n_wrong"]) / max(p["check_n_long"], 1) for p in log]
        style = dict(color=f"C{recipes.index(run['recipe'])}", lw=1, alpha=0.85, marker=".", ms=3)
        first = run is next(r for r in data["runs"] if r["recipe"] == run["recipe"])
        axes[0].plot([p["elapsed_s"] / 60 for p in log], ok, label=run["recipe"] if first else None, **style)
        axes[1].plot([p["samples"] for p in log], ok, **style)
    for ax in axes:
        ax.axhline(0.99, color="k", ls=":", lw=1)
        ax.grid(alpha=0.3)
        ax.set_ylim(-0.02, 1.02)
    axes[0].axvline(10, color="grey", lw=0.8, ls="--")
    axes[0].set(xlabel="wall time (minutes, one CPU thread)", ylabel="exact chains among sampled long answers")
    axes[1].set(xlabel="demonstrations seen")
    axes[0].legend(fontsize=8)
    t = task_settings(data["task"])
    fig.suptitle(f"pre-training recipes, multiplication {t['digits']} x {t.get('digits_b') or t['digits']}, "
                 f"p_long = {t['p_long']} ({data['hardware']['cpu']}, load "
                 f"{data['hardware']['load_average_1min']:.1f})",
                 fontsize=10)
    return fig


DRAWINGS["multiplication"] = draw_multiplication
DRAWINGS["multiplication_recipe"] = draw_multiplication_recipe



# --------------------------------------------------------------------------------------------------- the 0.75 plateau
def draw_plateau(data: dict, results: Path):
    """Per run against RL steps (one colour family per start, a shade per RL seed): greedy accuracy (the plateau band
    shaded, its start and end marked); P(first token = 1) on prompts with x_1 = 0 (solid) and x_1 = 1 (dashed); after
    a wrong first bit (1 - x_1), the probability of going on (solid: x_1 = 0, dashed: x_1 = 1); the fraction of
    prompts on which greedy decoding writes x_1 first."""
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5), sharex=True)
    (acc, first), (goes_on, follows) = axes
    settings, runs = data["settings"], data["runs"]
    starts = list(dict.fromkeys(r.get("seed") for r in runs))
    families = ("Blues", "Oranges", "Greens", "Purples", "Reds", "Greys")
    acc.axhspan(settings["low"], settings["high"], color="grey", alpha=0.15, lw=0)
    for run in runs:
        k = starts.index(run.get("seed"))
        mine = [r for r in runs if r.get("seed") == run.get("seed")]
        color = plt.get_cmap(families[k % len(families)])(0.45 + 0.45 * mine.index(run) / max(len(mine) - 1, 1))
        probes = run["probes"]
        steps = [p["step"] for p in probes]
        start = f"pre-training seed {run['seed']}, " if run.get("seed") is not None else ""
        acc.plot(steps, [p["greedy_accuracy"] for p in probes], color=color, lw=1.3)
        span = run["plateau"]
        for key, marker in (("start", "o"), ("end", "s")):
            if span["probes"][key] is not None:
                acc.plot(span[f"{key}_step"], span["probes"][key]["greedy_accuracy"], marker, color=color, ms=5)
        for g, ls in (("x1_0", "-"), ("x1_1", "--")):
            first.plot(steps, [p["p_first"][g]["1"] for p in probes], ls, color=color, lw=1.2)
            goes_on.plot(steps, [p["after_wrong_first"][g]["continue"] for p in probes], ls, color=color, lw=1.2)
        follows.plot(steps, [p["greedy_first_is_x1"] for p in probes], color=color, lw=1.3)
        goes_on.plot([], [], color=color, lw=1.3, label=f"{start}RL seed {run['rl_seed']}")
    acc.axhline(settings["solved"], color="k", lw=0.5, ls="--")
    acc.set(ylabel="greedy accuracy", ylim=(0.4, 1.02),
            title=f"greedy accuracy (band {settings['low']}-{settings['high']} shaded; o: plateau starts, s: ends)")
    first.set(ylabel="P(first response token = 1)", ylim=(-0.02, 1.02),
              title="P(first token = 1): prompts with x_1 = 0 solid, x_1 = 1 dashed")
    goes_on.set(ylabel="P(next token is not EOS)", ylim=(-0.02, 1.02),
                title="after a wrong first bit (1 - x_1): P(go on), x_1 = 0 solid, x_1 = 1 dashed")
    follows.set(ylabel="fraction of prompts", ylim=(0.4, 1.02),
                title="greedy decoding writes x_1 first (an exact chain's first bit)")
    goes_on.legend(fontsize=7, loc="center right")
    for ax in (first, goes_on):
        ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    for ax in (goes_on, follows):
        ax.set_xlabel("RL step (REINFORCE)")
    fig.suptitle(f"the 0.75 plateau: {task_title(data)}, {model_label(data)}, probes every {settings['probe_every']} "
                 f"steps on {settings['n']:,} fixed prompts", fontsize=11)
    fig.tight_layout()
    return fig


DRAWINGS["plateau"] = draw_plateau


if __name__ == "__main__":
    main()
