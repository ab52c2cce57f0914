"""Does STaR's long fraction follow p <- 2p/(1+p) (Thm. 2), at every sampling temperature? ``python
benchmarks/star_recursion.py --checkpoint CKPT``

    python benchmarks/star_recursion.py --checkpoint CKPT [--seeds 0 1 2 --rounds 15 --temperatures 0.75 1.0 1.5]
    python benchmarks/plots.py star_recursion --results runs/benchmarks      # its figure (log odds)

p_0, the pre-trained model's long fraction at temperature 1, is estimated on --n fresh prompts (>= 10^4). Then for
each temperature T and seed, STaR rounds (``star_samples`` = 4096 samples a round at T, the correct ones kept and
trained on by NTP) from the checkpoint, with the end-to-end ("answer") reward; with --cot-temperatures also with the
chain-of-thought ("cot") reward, which keeps a long answer only when the whole chain is right. Recorded per round:
the long fraction of the round's samples (before its update) and the greedy probe.

The prediction at temperature T. A length-calibrated model at p (what NTP on a mixture with long fraction p gives)
answers first x_1 with probability a = (1 + p)/2 and then continues with q = 2p/(1 + p) (the other first token, and
stopping, otherwise; the chain itself is sure). Sampling at T raises each of these two choices to the power 1/T and
renormalises, so the sampled long fraction is L_T(p) = a_T q_T with a_T = a^(1/T) / (a^(1/T) + (1 - a)^(1/T)) and
likewise q_T (L_1(p) = p). Every long answer is right and half the short ones are (the first token of a short
answer is y or not, independently of x_1), so the kept samples are long with fraction 2 L_T / (1 + L_T); a round
that fits them exactly leaves a model calibrated at that fraction: p_{n+1} = 2 L_T(p_n) / (1 + L_T(p_n)), and the
samples of round n are long with L_T(p_n). At T = 1 this is p <- 2p/(1+p): the odds double each round, a straight
line of slope log 2 in log odds. The long fraction among the kept samples is 2 L / (1 + L) by construction, so it is
not evidence for the recursion and is not plotted. Writes RESULTS/star_recursion.json.
"""

from __future__ import annotations

import argparse

import torch
from common import add_results_arguments, write_result

from agents.rl import FinetuneConfig, finetune
from agents.run.checkpoint import load_checkpoint
from agents.run.evaluate import evaluate


def tempered(x: float, T: float) -> float:
    """A two-way choice of probability ``x`` sampled at temperature T: x^(1/T) / (x^(1/T) + (1 - x)^(1/T))."""
    a, b = x ** (1 / T), (1 - x) ** (1 / T)
    return a / (a + b)


def sampled_long_fraction(p: float, T: float) -> float:
    """L_T(p): the long fraction sampled at temperature T from a model calibrated at p (module docstring)."""
    return tempered((1 + p) / 2, T) * tempered(2 * p / (1 + p), T)


def prediction(p0: float, T: float, rounds: int) -> list[float]:
    """The sampled long fraction of rounds 0 .. rounds - 1: L_T(p_n), with p_{n+1} = 2 L / (1 + L)."""
    p, out = p0, []
    for _ in range(rounds):
        long_ = sampled_long_fraction(p, T)
        out.append(long_)
        p = 2 * long_ / (1 + long_)
    return out


def star_rounds(checkpoint: str, seed: int, rounds: int, temperature: float, reward: str) -> dict:
    """``rounds`` STaR rounds from ``checkpoint`` at ``temperature`` with ``reward``: the long fraction of each round's
    samples and the greedy probes."""
    cfg = FinetuneConfig(algo="star", seed=seed, steps=rounds, steps_after_solved=None, temperature=temperature,
                         reward=reward, final_eval_n=0, logger="none")
    log = finetune(checkpoint, cfg, progress=False).log
    return {"seed": seed, "temperature": temperature, "reward": reward,
            "long_fraction": [e["long_fraction"] for e in log],
            "greedy_accuracy": [e["greedy_accuracy"] for e in log],
            "greedy_length": [e["greedy_mean_length"] for e in log]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--temperatures", nargs="+", type=float, default=[0.75, 1.0, 1.5])
    parser.add_argument("--cot-temperatures", nargs="*", type=float, default=[1.5],
                        help="temperatures also run with the chain-of-thought reward (default 1.5)")
    parser.add_argument("--n", type=int, default=20_000, help="prompts that estimate p_0 (default 20000)")
    add_results_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)
    ckpt = load_checkpoint(args.checkpoint)
    p0 = evaluate(ckpt.agent, ckpt.task, n=args.n, seed=12345)["sampled_long_fraction"]
    predictions = {str(T): prediction(p0, T, args.rounds) for T in sorted({*args.temperatures, *args.cot_temperatures})}
    print(f"p_0 = {p0:.4f} on {args.n:,} prompts")
    runs = []
    cases = [(T, "answer") for T in args.temperatures] + [(T, "cot") for T in args.cot_temperatures]
    for T, reward in cases:
        for seed in args.seeds:
            runs.append(star_rounds(args.checkpoint, seed, args.rounds, T, reward))
            measured, predicted = ([round(x, 3) for x in xs] for xs in (runs[-1]["long_fraction"], predictions[str(T)]))
            print(f"T = {T} ({reward}) seed {seed}: long fraction {measured}; greedy "
                  f"{runs[-1]['greedy_accuracy'][-1]:.3f}\n  predicted {predicted}", flush=True)
            write_result("star_recursion", {"checkpoint": str(args.checkpoint), "task": ckpt.task.to_dict(),
                                            "p0": p0, "p0_n": args.n, "star_samples": FinetuneConfig.star_samples,
                                            "predictions": predictions, "runs": runs}, args.results)


if __name__ == "__main__":
    main()
