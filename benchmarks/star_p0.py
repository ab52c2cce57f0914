"""Does STaR need O(log((1 - p_0)/p_0)) rounds from a model calibrated at p_0 (Thm. 2)? ``python
benchmarks/star_p0.py --checkpoint CKPT``

    python benchmarks/star_p0.py --checkpoint runs/pre24-s0 [--p0 0.003 0.01 0.03 0.1 --seeds 0 1 2 --epochs 1 8 16]
    python benchmarks/plots.py star_p0 --results runs/benchmarks      # its figure

Checkpoints calibrated at p_0. Pre-training from scratch at p_long = 0.003 rarely learns the chain within a CPU
budget, so every one is derived the same way: from --checkpoint (a model that has learned the chain), next-token
prediction continues on the mixture at p_long = p_0 (a fresh AdamW at --recal-lr, constant after a warm-up of 100
steps, for --recal-samples demonstrations; its checkpoints in RUN_DIR/p0_P), until the sampled long fraction has
moved from the base's to near p_0. The fraction reached is measured on --n fresh prompts at temperature 1, with
the exact-chain rate of those long answers, and it, not the nominal p_0, is what the prediction starts from.

From each, for every seed: STaR (``agents.rl.algorithms.star``: 4096 samples a round at temperature 1, the correct
ones kept and trained on by NTP) until greedy accuracy holds >= 99% (at most --rounds rounds), once with each
--epochs (1: one pass over each round's kept samples, as in star_recursion.py; E > 1: E passes, the exact refit the
theorem assumes); REINFORCE until solved (at most --reinforce-steps); and STaR at --cold-temperature from each p_0 of
--cold-p0 for --cold-rounds rounds (below the tempered recursion's unstable fixed point, 0.052 at T = 0.75, the long
fraction should die out; above it, grow).

The prediction at T = 1: a round that refits its kept samples exactly leaves a model calibrated at 2p/(1 + p), so
the odds p/(1 - p) double each round: the long fraction reaches 1/3 (where greedy decoding starts to continue the
chain) after log2((1 - p_0)/p_0) - 1 rounds and 1/2 after log2((1 - p_0)/p_0). How exact a round's refit was is
measured directly: the long fraction sampled in round n + 1 against the long fraction of the samples kept in round n
(their ratio is 1 for an exact refit). Writes RESULTS/NAME.json (--name, default star_p0).
"""

from __future__ import annotations

import argparse
import math
import shutil
from dataclasses import replace
from pathlib import Path

import torch
from common import add_results_arguments, write_result
from star_recursion import prediction

from agents.ntp.pretrain import PretrainConfig, pretrain
from agents.rl import FinetuneConfig, finetune
from agents.run.checkpoint import load_checkpoint
from agents.run.evaluate import chain_check, evaluate


def calibrate(base: str, p0: float, samples: int, lr: float, out: Path, n: int, seed: int = 0) -> dict:
    """NTP from the checkpoint ``base`` on the mixture at p_long = ``p0`` for ``samples`` demonstrations, into
    ``out``; the long fraction and exact chains it reached, and its trajectory (the chain check's long fraction)."""
    start = load_checkpoint(base)
    task = replace(start.task, p_long=p0)
    cfg = PretrainConfig(task=task, lr=lr, schedule="constant", warmup_samples=25_600, max_samples=samples,
                         stop_when_learned=False, eval_every=max(samples // 8, 256), eval_n=0, final_eval_n=0,
                         seed=seed, out=str(out), logger="none")
    shutil.rmtree(out, ignore_errors=True)
    r = pretrain(cfg, model=start.agent, progress=False)
    m = evaluate(r.agent, task, n=n, seed=4242)
    check = chain_check(r.agent, task, n_long=1000, max_error=1.0, seed=4243)
    return {"p0_nominal": p0, "checkpoint": str(out), "samples": r.samples, "lr": lr,
            "p0": m["sampled_long_fraction"], "n": n, "sampled_long_accuracy": m["sampled_long_accuracy"],
            "exact_chains": (check["n_long"] - check["n_wrong"]) / max(check["n_long"], 1),
            "exact_chains_n": check["n_long"], "greedy_accuracy": m["greedy_accuracy"],
            "greedy_mean_length": m["greedy_mean_length"],
            "trajectory": [{"samples": p["samples"], "long_fraction": p["check_long_fraction"]} for p in r.log]}


def rounds_to(long_fraction: list[float], level: float) -> int | None:
    """The first round (0-based) whose sampled long fraction reaches ``level`` (None: never)."""
    return next((n for n, x in enumerate(long_fraction) if x >= level), None)


def odds_slope(long_fraction: list[float]) -> float | None:
    """Least-squares slope of the log odds of the sampled long fraction per round, over the rounds strictly between
    0 and 0.95 (log 2 = 0.69 is Theorem 2's doubling)."""
    pts = [(n, math.log(x / (1 - x))) for n, x in enumerate(long_fraction) if 0 < x < 0.95]
    if len(pts) < 2:
        return None
    mx, my = sum(n for n, _ in pts) / len(pts), sum(y for _, y in pts) / len(pts)
    sxx = sum((n - mx) ** 2 for n, _ in pts)
    return sum((n - mx) * (y - my) for n, y in pts) / sxx if sxx else None


def star(checkpoint: str, seed: int, rounds: int, epochs: int, temperature: float, stop: bool) -> dict:
    """STaR from ``checkpoint`` (``epochs`` passes a round), until solved when ``stop`` (else every round)."""
    cfg = FinetuneConfig(algo="star", seed=seed, steps=rounds, epochs=epochs, temperature=temperature,
                         steps_after_solved=0 if stop else None, final_eval_n=0, logger="none")
    r = finetune(checkpoint, cfg, progress=False)
    long_fraction = [e["long_fraction"] for e in r.log]
    kept = [e["correct_long_fraction"] for e in r.log]
    refit = [nxt / k for k, nxt in zip(kept, long_fraction[1:]) if k > 0]  # 1: the next round samples what was kept
    return {"algo": "star", "seed": seed, "epochs": epochs, "temperature": temperature, "solved_step": r.solved_step,
            "rounds": r.steps, "wall_s": r.wall_time_s, "long_fraction": long_fraction, "kept_long_fraction": kept,
            "greedy_accuracy": [e["greedy_accuracy"] for e in r.log], "loss": [e["loss"] for e in r.log],
            "refit_ratio": refit, "rounds_to_third": rounds_to(long_fraction, 1 / 3),
            "rounds_to_half": rounds_to(long_fraction, 1 / 2), "odds_slope": odds_slope(long_fraction)}


def reinforce(checkpoint: str, seed: int, steps: int) -> dict:
    """REINFORCE from ``checkpoint`` until solved (at most ``steps``)."""
    cfg = FinetuneConfig(algo="reinforce", seed=seed, steps=steps, steps_after_solved=0, final_eval_n=0,
                         logger="none")
    r = finetune(checkpoint, cfg, progress=False)
    long_fraction = [e["long_fraction"] for e in r.log]
    return {"algo": "reinforce", "seed": seed, "solved_step": r.solved_step, "steps": r.steps,
            "episodes": r.episodes, "wall_s": r.wall_time_s, "long_fraction": long_fraction,
            "steps_to_third": rounds_to(long_fraction, 1 / 3), "steps_to_half": rounds_to(long_fraction, 1 / 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="a checkpoint that has learned the chain")
    parser.add_argument("--p0", nargs="+", type=float, default=[0.003, 0.01, 0.03, 0.1])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--epochs", nargs="+", type=int, default=[1, 8, 16],
                        help="STaR passes over each round's kept samples (default 1, and 8 and 16: the refit)")
    parser.add_argument("--rounds", type=int, default=30, help="most STaR rounds per run (default 30)")
    parser.add_argument("--reinforce-steps", type=int, default=600, help="most REINFORCE steps (0: none)")
    parser.add_argument("--cold-temperature", type=float, default=0.75)
    parser.add_argument("--cold-p0", nargs="*", type=float, default=[0.03, 0.1],
                        help="nominal p_0 of the checkpoints STaR also runs from at --cold-temperature")
    parser.add_argument("--cold-rounds", type=int, default=15)
    parser.add_argument("--recal-samples", type=int, default=409_600,
                        help="NTP demonstrations at p_long = p_0 per derived checkpoint (default 409600)")
    parser.add_argument("--recal-lr", type=float, default=3e-4)
    parser.add_argument("--n", type=int, default=40_000, help="prompts that measure each p_0 (default 40000)")
    parser.add_argument("--run-dir", type=Path, default=Path("runs/star_p0"),
                        help="where the derived checkpoints go (default runs/star_p0)")
    parser.add_argument("--name", default="star_p0", help="RESULTS/NAME.json (default star_p0)")
    add_results_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)
    base = load_checkpoint(args.checkpoint)
    result = {"checkpoint": str(args.checkpoint), "task": base.task.to_dict(), "seeds": args.seeds,
              "epochs": args.epochs, "rounds": args.rounds, "reinforce_steps": args.reinforce_steps,
              "cold_temperature": args.cold_temperature, "cold_rounds": args.cold_rounds,
              "recal_samples": args.recal_samples, "recal_lr": args.recal_lr,
              "star_samples": FinetuneConfig.star_samples, "checkpoints": [], "runs": []}

    def save() -> None:
        write_result("star_p0", result, args.results, name=args.name)

    for p0 in args.p0:
        cal = calibrate(args.checkpoint, p0, args.recal_samples, args.recal_lr, args.run_dir / f"p0_{p0}", args.n)
        cal["prediction"] = prediction(cal["p0"], 1.0, args.rounds)
        cal["cold_prediction"] = prediction(cal["p0"], args.cold_temperature, args.cold_rounds)
        result["checkpoints"].append(cal)
        print(f"p_0 {p0}: sampled long fraction {cal['p0']:.4f} on {args.n:,} prompts after {cal['samples']:,} "
              f"demonstrations; exact chains {cal['exact_chains']:.3f}; greedy {cal['greedy_accuracy']:.3f}",
              flush=True)
        save()
    for cal in result["checkpoints"]:
        ckpt = cal["checkpoint"]
        jobs = [("star", e, 1.0) for e in args.epochs] + [("reinforce", None, 1.0)] * (args.reinforce_steps > 0)
        if cal["p0_nominal"] in args.cold_p0:
            jobs += [("star", e, args.cold_temperature) for e in args.epochs]
        for algo, epochs, temperature in jobs:
            for seed in args.seeds:
                if algo == "reinforce":
                    run = reinforce(ckpt, seed, args.reinforce_steps)
                else:
                    cold = temperature != 1.0
                    run = star(ckpt, seed, args.cold_rounds if cold else args.rounds, epochs, temperature,
                               stop=not cold)
                run.update(p0_nominal=cal["p0_nominal"], p0=cal["p0"])
                result["runs"].append(run)
                done = run["solved_step"]
                print(f"p_0 {cal['p0']:.4f} {algo} epochs {epochs} T {temperature} seed {seed}: solved at {done}; "
                      f"long fraction {[round(x, 3) for x in run['long_fraction']]}", flush=True)
                save()


if __name__ == "__main__":
    main()
