"""Does the paper's theory model behave as the theory says? The linear agent: calibration, the 1/3 threshold, RL to
100% and STaR's recursion. ``python benchmarks/linear_model.py``

    python benchmarks/linear_model.py [--seeds 0 1 2 --d 24 --budget 1200000 --lr 0.01 --n 10000]
    python benchmarks/plots.py linear_model --results runs/benchmarks      # its figure

The agent is ``agents/linear.py``: logits linear in frozen degree-2 features of the context (the current token
crossed with every context token), one linear predictor per position. For each seed and p_long in --p-long (default
0.05, 0.25, 0.4): pre-train on --budget demonstrations (a fixed budget; the chain check's first pass is recorded),
then evaluate on --n fresh prompts per mode: the sampled long fraction against p_long, greedy accuracy and length
(theory: chance and one bit below p_long = 1/3, the full chain and 100% above). Then, from the --rl-from model
(default p_long = 0.05): REINFORCE with its defaults until greedy accuracy holds >= 99%, and STaR for --star-rounds
rounds at the agent's NTP learning rate (--star-lr), recording each round's sampled long fraction (4096 samples a
round) against p <- 2p/(1+p) from p_0, the long fraction of the pre-trained model on --n samples. Writes
RESULTS/linear_model.json after every run.
"""

from __future__ import annotations

import argparse

import torch
from common import add_results_arguments, chain_learned_at, write_result
from rl_algorithms import probe_curves

from agents import clone_agent
from agents.ntp.pretrain import PretrainConfig, pretrain
from agents.rl import FinetuneConfig, finetune
from agents.run.evaluate import evaluate
from parity_env import Task


def star_prediction(p0: float, rounds: int) -> list[float]:
    """p_0, then p <- 2p / (1 + p) per round (Theorem 2's recursion for STaR with the end-to-end reward)."""
    p = [p0]
    for _ in range(rounds):
        p.append(2 * p[-1] / (1 + p[-1]))
    return p


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--d", type=int, default=24)
    parser.add_argument("--p-long", type=float, nargs="+", default=[0.05, 0.25, 0.4])
    parser.add_argument("--budget", type=int, default=1_200_000, help="demonstrations per pre-training run")
    parser.add_argument("--lr", type=float, default=0.01, help="pre-training's peak learning rate (default 0.01)")
    parser.add_argument("--n", type=int, default=10_000, help="fresh prompts per mode of each evaluation")
    parser.add_argument("--rl-from", type=float, default=0.05, help="the p_long whose model RL and STaR start from")
    parser.add_argument("--rl-steps", type=int, default=500, help="most REINFORCE steps")
    parser.add_argument("--star-rounds", type=int, default=10)
    parser.add_argument("--star-samples", type=int, default=4096)
    parser.add_argument("--star-lr", type=float, default=0.01,
                        help="STaR's learning rate: the linear agent's NTP rate (its 1e-3 default is the GPT's)")
    add_results_arguments(parser)
    args = parser.parse_args()
    if args.rl_from not in args.p_long:
        parser.error(f"--rl-from {args.rl_from} must be one of --p-long {args.p_long}")
    torch.set_num_threads(1)
    runs, rl, star = [], [], []
    for seed in args.seeds:
        for p in args.p_long:
            task = Task(d=args.d, p_long=p)
            cfg = PretrainConfig(task=task, agent="linear", lr=args.lr, seed=seed, max_samples=args.budget,
                                 stop_when_learned=False, final_eval_n=0)
            pre = pretrain(cfg, progress=False)
            m = evaluate(pre.agent, task, n=args.n, seed=seed + 100)
            runs.append({"seed": seed, "p_long": p, "samples": pre.samples, "pretrain_s": pre.wall_time_s,
                         "chain_learned_at": chain_learned_at(pre.log), **m})
            print(f"seed {seed} p_long {p}: chain learned at {runs[-1]['chain_learned_at']}; sampled long fraction "
                  f"{m['sampled_long_fraction']:.4f}, long answers right {m['sampled_long_accuracy']}, greedy "
                  f"{m['greedy_accuracy']:.3f} (length {m['greedy_mean_length']:.2f})", flush=True)
            if p == args.rl_from:
                rl.append(_reinforce(pre.agent, task, seed, args.rl_steps))
                star.append(_star(pre.agent, task, seed, m["sampled_long_fraction"], args))
            write_result("linear_model", {"d": args.d, "budget": args.budget, "lr": args.lr, "n": args.n,
                                          "star_lr": args.star_lr, "star_samples": args.star_samples,
                                          "rl_from": args.rl_from, "runs": runs, "rl": rl, "star": star},
                         args.results)


def _reinforce(agent, task: Task, seed: int, steps: int) -> dict:
    cfg = FinetuneConfig(algo="reinforce", seed=seed, steps=steps)
    r = finetune(clone_agent(agent, task), cfg, task=task, progress=False)
    print(f"  REINFORCE seed {seed}: solved at step {r.solved_step} ({r.time_to_solved_s} s), greedy "
          f"{r.metrics['greedy_accuracy']:.4f}, length {r.metrics['greedy_mean_length']:.2f}", flush=True)
    return {"seed": seed, "solved_step": r.solved_step, "time_to_solved_s": r.time_to_solved_s,
            "episodes": r.episodes, "final": r.metrics, **probe_curves(r.log)}


def _star(agent, task: Task, seed: int, p0: float, args) -> dict:
    cfg = FinetuneConfig(algo="star", seed=seed, steps=args.star_rounds, star_samples=args.star_samples,
                         lr=args.star_lr, steps_after_solved=None, final_eval_n=0)
    r = finetune(clone_agent(agent, task), cfg, task=task, progress=False)
    measured = [e["long_fraction"] for e in r.log]  # the samples of round k come from the model after k - 1 rounds
    predicted = star_prediction(p0, len(measured) - 1)
    print(f"  STaR seed {seed}: long fraction per round {[round(x, 3) for x in measured]}, predicted "
          f"{[round(x, 3) for x in predicted]}", flush=True)
    return {"seed": seed, "p0": p0, "long_fraction": measured, "predicted": predicted,
            "greedy_accuracy": [e.get("greedy_accuracy") for e in r.log]}


if __name__ == "__main__":
    main()
