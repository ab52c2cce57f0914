"""Can partial chains let NTP alone generalise below p_long = 1/3 (Fig. 15)? ``python benchmarks/leap.py``

    python benchmarks/leap.py [--seeds 0 1 2 --d 12 --p-long 0.25 --budget 400000]     # ~20 min on one core
    python benchmarks/plots.py leap --results runs/benchmarks                          # its figure
    python benchmarks/leap.py --d 24 --p-long 0.1 --p-partial 0.2 --no-leap-long --name leap_below   # p_long + q < 1/3

Two constructions of "partial chains" (both ours: the paper's exact mixture is not known to us), each pre-trained on
--budget demonstrations (no early stop) at --p-long (default 0.25, below 1/3), then evaluated on --n fresh prompts:

- leap-k long answers (``Task(leap=k)``): the long answer keeps every k-th prefix parity, c_k c_2k ... c_d;
- partial chains in place of short answers (``Task(p_partial=q, partial_leap=k)``): full chains with probability
  p_long, leap-k chains with q, short answers with the rest.

The prediction for each is what greedy decoding of the ideal NTP model gives: the model that has learned every
demonstrated answer but cannot compute the parity (``ideal_greedy``: at each step, the demonstrated answers still
consistent with what was emitted, weighted by their mixture probabilities, the short answers split evenly between
y = 0 and y = 1, vote for the next token; greedy takes the heaviest). For leap-k long answers the vote after the
first token is 2p/(1+p) to continue, as for the full chain: the threshold stays at 1/3. With partial chains the
continuation gets their weight too; but when the total long mass p_long + q is below 1/3, the chain-like answers
that agree with any first token weigh at most p_long + q < (1 - p_long - q)/2, the weight of the short answer that
stops there, so the ideal model stops after one bit (chance) whatever the mixture. Measured: greedy accuracy and
length, the continuation probability after the long answer's first token (``agents.run.evaluate``), the exact-chain rate
of the sampled long answers. Writes RESULTS/NAME.json (--name, default leap).
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
from common import add_agent_arguments, add_results_arguments, agent_options, write_result

from agents.ntp.pretrain import PretrainConfig, pretrain
from agents.run.evaluate import evaluate
from parity_env import Task
from parity_env.parity.protocol import EOS, long_answer

CURVE_KEYS = ("samples", "greedy_accuracy", "greedy_mean_length", "chain_learned", "chain_loss")


def ideal_greedy(task: Task, n: int = 4096, seed: int = 0) -> dict:
    """Greedy accuracy and mean answer length of the ideal NTP model of ``task`` (module docstring) on ``n`` prompts.
    Ties go to continuing (the first-listed answer)."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, size=(n, task.d))
    short = 1 - task.p_long - task.p_partial
    right = lengths = 0
    for x in bits:
        answers = [(list(long_answer(x[None], task.leap)[0]), task.p_long)]
        if task.p_partial:
            answers.append((list(long_answer(x[None], task.partial_leap)[0]), task.p_partial))
        answers += [([0], short / 2), ([1], short / 2)]  # y unknown to the model: both short answers, half each
        emitted = []
        while True:
            votes: dict[int, float] = {}
            for answer, weight in answers:
                if weight > 0 and answer[: len(emitted)] == emitted:
                    token = answer[len(emitted)] if len(emitted) < len(answer) else EOS
                    votes[token] = votes.get(token, 0.0) + weight
            token = max(votes, key=votes.get)  # the first-inserted on a tie: the long answers come first
            if token == EOS:
                break
            emitted.append(token)
        right += bool(emitted) and emitted[-1] == int(x.sum() % 2)
        lengths += len(emitted)
    return {"greedy_accuracy": float(right / n), "greedy_mean_length": float(lengths / n)}


def settings(args) -> list[dict]:
    """The constructions run: leap-k long answers (unless --no-leap-long), and each --p-partial of full chains plus
    leap-k partial chains."""
    base = Task(d=args.d, p_long=args.p_long)
    out = [{"name": f"leap-{args.leap} long answers", "task": replace(base, leap=args.leap)}] if args.leap_long else []
    out += [{"name": f"partial leap-{args.leap} chains, p_partial {q}", "task": replace(base, p_partial=q,
                                                                                      partial_leap=args.leap)}
            for q in args.p_partial]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leap", type=int, default=2)
    parser.add_argument("--p-long", type=float, default=0.25)
    parser.add_argument("--p-partial", type=float, nargs="*", default=[0.15, 0.3],
                        help="fractions of partial chains in place of short answers (default 0.15 0.3)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget", type=int, default=400_000)
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--d", type=int, default=12)
    parser.add_argument("--leap-long", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the leap-k long answers (default; --no-leap-long: the partial chains only)")
    parser.add_argument("--name", default="leap", help="RESULTS/NAME.json (default leap)")
    add_agent_arguments(parser)
    parser.set_defaults(agent_config={"preset": "gpt2-2x128"})  # the default 1-block GPT does not learn leap-2 chains
    add_results_arguments(parser)
    args = parser.parse_args()
    runs = []
    for setting in settings(args):
        task = setting["task"]
        predicted = ideal_greedy(task)
        for seed in args.seeds:
            cfg = PretrainConfig(task=task, **agent_options(args), seed=seed, max_samples=args.budget,
                                 stop_when_learned=False, eval_every=51_200, eval_n=1024, final_eval_n=0)
            r = pretrain(cfg, progress=False)
            m = evaluate(r.agent, task, n=args.n, seed=1000 + seed)
            runs.append({"setting": setting["name"], "task": task.to_dict(), "seed": seed, "predicted": predicted,
                         "final": m, "curve": [{k: pt.get(k) for k in CURVE_KEYS} for pt in r.log]})
            print(f"{setting['name']}, seed {seed}: greedy {m['greedy_accuracy']:.3f} (predicted "
                  f"{predicted['greedy_accuracy']:.3f}) length {m['greedy_mean_length']:.1f}, continuation "
                  f"{m['continuation_probability']:.3f}, sampled long fraction {m['sampled_long_fraction']:.3f}, "
                  f"exact chains among them {m['sampled_long_chain_accuracy']}", flush=True)
            write_result("leap", {"d": args.d, "leap": args.leap, "p_long": args.p_long, "budget": args.budget,
                                  **agent_options(args), "runs": runs},
                         args.results, name=args.name)


if __name__ == "__main__":
    main()
