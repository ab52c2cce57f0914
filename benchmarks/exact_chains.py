"""Are the chains right after RL, or only their last bit? ``python benchmarks/exact_chains.py --checkpoint CKPT``

    python benchmarks/exact_chains.py --checkpoint runs/pre24-s0 [--algos reinforce grpo star --seeds 0 1 2]
    python benchmarks/plots.py exact_chains --results runs/benchmarks      # its figure

For each algorithm, reward (the end-to-end "answer" reward, which checks the last bit only, and the "cot" reward,
which wants the whole chain) and seed: RL from the checkpoint until greedy accuracy holds >= 99%, then --after more
steps (rounds for STaR). Measured after RL on --n fresh prompts: greedy accuracy, the exact-chain rate of the greedy
answers and of the sampled long answers, the probability of the right first chain bit (x_1), and a probe of how the
agent computes the second bit: fed the wrong first bit, does it go on with c_2 = x_1 xor x_2 (computed from the
prompt: the first bit no longer matters) or with (its first bit) xor x_2 (the chain as demonstrated), or stop?
Writes RESULTS/exact_chains.json.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from common import add_results_arguments, write_result

from agents.models.agent import agent_logits
from agents.rl import FinetuneConfig, finetune
from agents.run.checkpoint import load_checkpoint
from agents.run.evaluate import evaluate


@torch.no_grad()
def second_bit_probe(agent, task, n: int = 4096, seed: int = 7) -> dict:
    """P(first chain bit = x_1), and what greedy decoding does after a wrong first bit: the fractions that go on with
    c_2 (from the prompt), with (wrong bit) xor x_2 (from the token), or stop."""
    bits, prompts = task.sample_prompts(n, np.random.default_rng(seed))
    chain = torch.from_numpy(task.long_answers(bits))  # (n, m)
    first = agent_logits(agent, prompts, -1)[:, -1].float().softmax(-1)  # (n, A)
    wrong = 1 - chain[:, :1]  # (n, 1)
    nxt = agent_logits(agent, torch.cat([prompts, wrong], dim=1), -1)[:, -1].argmax(-1)  # (n,)
    x2 = torch.from_numpy(bits[:, 1])
    return {"p_first_right": first.gather(1, chain[:, :1]).mean().item(),
            "after_wrong_first_prompt": (nxt == chain[:, 1]).float().mean().item(),
            "after_wrong_first_token": (nxt == (wrong[:, 0] ^ x2)).float().mean().item(),
            "after_wrong_first_eos": (nxt == task.eos).float().mean().item()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--algos", nargs="+", default=["reinforce", "grpo", "star"])
    parser.add_argument("--rewards", nargs="+", default=["answer", "cot"], choices=("answer", "cot"))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--after", type=int, default=100, help="steps trained after solved (STaR: a tenth of it)")
    parser.add_argument("--steps", type=int, default=600, help="most steps (STaR: rounds) per run")
    parser.add_argument("--n", type=int, default=4096)
    add_results_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)
    ckpt = load_checkpoint(args.checkpoint)
    runs = [{"algo": "pre-trained", "reward": None, "seed": None, "final": evaluate(ckpt.agent, ckpt.task, n=args.n),
             **second_bit_probe(ckpt.agent, ckpt.task)}]
    for algo in args.algos:
        for reward in args.rewards:
            for seed in args.seeds:
                after = max(1, args.after // 10) if algo == "star" else args.after
                cfg = FinetuneConfig(algo=algo, reward=reward, seed=seed, steps=args.steps, steps_after_solved=after,
                                     final_eval_n=args.n, logger="none")
                r = finetune(args.checkpoint, cfg, progress=False)
                runs.append({"algo": algo, "reward": reward, "seed": seed, "solved_step": r.solved_step,
                             "final": r.metrics, **second_bit_probe(r.agent, r.task)})
                m, f = runs[-1], runs[-1]["final"]
                print(f"{algo} {reward} seed {seed}: solved at {r.solved_step}; greedy {f['greedy_accuracy']:.3f}, "
                      f"greedy exact chains {f['greedy_chain_accuracy']:.3f}, sampled long exact "
                      f"{f['sampled_long_chain_accuracy']}, P(first bit right) {m['p_first_right']:.3f}, after a "
                      f"wrong first bit: prompt {m['after_wrong_first_prompt']:.2f} / token "
                      f"{m['after_wrong_first_token']:.2f} / EOS {m['after_wrong_first_eos']:.2f}", flush=True)
                write_result("exact_chains", {"checkpoint": str(args.checkpoint), "task": ckpt.task.to_dict(),
                                              "after": args.after, "runs": runs}, args.results)


if __name__ == "__main__":
    main()
