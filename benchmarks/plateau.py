"""What does the policy do on the 0.75 plateau, and what ends it? ``python benchmarks/plateau.py``

    python benchmarks/plateau.py [--seeds 0 1 2 --rl-seeds 0 1 2 --run-dir runs/plateau]   # pre-trains d = 24 itself
    python benchmarks/plateau.py --checkpoint runs/pre24-s0 [--rl-seeds 0 1 2]
    python benchmarks/plots.py plateau --results runs/benchmarks                            # its figure

The committed result is ``python benchmarks/plateau.py --results benchmarks/results`` (~8 min of RL and probes on two
cores, after ~1-2 min of pre-training per seed).

On its way from chance to 1.0, REINFORCE from a d = 24, p_long = 0.01 checkpoint can pause at greedy accuracy ~0.75
with answers ~12 bits long. This script watches that happen. From each start (``--checkpoint``, or one pre-training
per ``--seeds``, written to RUN_DIR/pretrain-sSEED with the default recipe and reused when it is already there),
REINFORCE runs with ``FinetuneConfig``'s defaults (batches of 256, probes every 5 steps, stop once two probes in a row
are >= 0.99) for every ``--rl-seeds`` seed.

How it looks inside a run: ``finetune`` has no callback, so each run is made in chunks of ``--probe-every`` steps,
each chunk resuming the run's checkpoint (a scratch directory) with a larger ``steps``. Resume restores the weights,
the optimiser and every random stream, so the chunked run is the uninterrupted one, bit for bit; ``--probe-every`` is
a multiple of the run's own probe interval, so the chunk ends add no probe of finetune's that could move its stopping
rule. After every chunk (and before the first) the agent is probed on one fixed set of ``--n`` fresh prompts (seed
``--probe-seed``, the prompts of ``exact_chains.second_bit_probe``):

- greedy accuracy, mean greedy answer length (bits before EOS) and the fraction of greedy answers that are exactly
  the chain, overall and split by the first prompt bit x_1;
- P(first response token = 0 / 1 / EOS), averaged over the prompts with x_1 = 0 and those with x_1 = 1, and the
  fractions of those prompts on which each is the likeliest (the token greedy decoding writes first), and the
  fraction of all prompts on which that is x_1;
- fed the right first chain bit (x_1): P(EOS) next and P(c_2 = x_1 xor x_2) next;
- fed the wrong first bit (1 - x_1, which only a short answer starts with; on a plateau it is the one first token
  the policy writes everywhere, on the half of the prompts whose x_1 differs from it): P(EOS) next, P(go on), P(go
  on with c_2 = x_1 xor x_2, computed from the prompt) and P(go on with (wrong bit) xor x_2, computed from the
  token), split by x_1;
- ``exact_chains.second_bit_probe`` itself: P(first chain bit = x_1) and what greedy decoding does after the wrong
  first bit (the fractions that go on with c_2 from the prompt, from the token, or stop).

Per run it records its start (``seed``: the pre-training seed, None from a --checkpoint; ``rl_seed``), every probe,
finetune's own log (reward and sampled answer length per step), the step it was solved at, and the plateau: it starts
at the first probe with greedy accuracy in [--low, --high] (0.70-0.80) and ends at the first probe >= 0.99 after it
(None when a run never enters the band or never leaves it); the probes at its start, at its midpoint (the probe
nearest the middle of [start, end)), at its last probe before the end, and at the end are copied out. Writes
RESULTS/plateau.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from common import add_agent_arguments, add_results_arguments, agent_options, write_result
from exact_chains import second_bit_probe

from agents.models.agent import agent_logits
from agents.models.generate import generate
from agents.ntp.pretrain import PretrainConfig, pretrain
from agents.rl import FinetuneConfig, finetune
from agents.run.checkpoint import load_checkpoint
from parity_env import Task

GROUPS = ("x1_0", "x1_1")


# --------------------------------------------------------------------------------------------------- the probe
def _mean(x: torch.Tensor) -> float | None:
    return x.float().mean().item() if x.numel() else None


@torch.no_grad()
def _next(agent, prompts: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
    """The next-token distribution (n, A) after the prompts (n, P) and the fed first response tokens (n,)."""
    return agent_logits(agent, torch.cat([prompts, first[:, None]], dim=1), -1)[:, -1].float().softmax(-1)


@torch.no_grad()
def plateau_probe(agent, task, n: int, seed: int) -> dict:
    """The probes of the module docstring on the ``n`` prompts of ``task.sample_prompts(n, default_rng(seed))``."""
    was_training = agent.training
    agent.eval()
    bits, prompts = task.sample_prompts(n, np.random.default_rng(seed))
    chain = torch.from_numpy(task.long_answers(bits))  # (n, d): c_k = x_1 xor ... xor x_k
    x1, x2 = torch.from_numpy(bits[:, 0]), torch.from_numpy(bits[:, 1])
    split = {"all": torch.ones(n, dtype=torch.bool), "x1_0": x1 == 0, "x1_1": x1 == 1}
    verdict = task.judge(bits, generate(agent, task, prompts, temperature=0.0).tokens)
    correct, length, exact = verdict.answer_correct, verdict.answer_length.float(), verdict.demonstrated

    first = agent_logits(agent, prompts, -1)[:, -1].float().softmax(-1)  # (n, A)
    after_right = _next(agent, prompts, chain[:, 0])  # after x_1 = c_1
    wrong = 1 - chain[:, 0]
    after_wrong = _next(agent, prompts, wrong)
    c2, from_token = chain[:, 1], wrong ^ x2

    def at(p: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
        return p.gather(1, token[:, None])[:, 0]

    out: dict = {}
    for g, rows in split.items():
        out[f"greedy_accuracy{'' if g == 'all' else '_' + g}"] = _mean(correct[rows])
        out[f"greedy_length{'' if g == 'all' else '_' + g}"] = _mean(length[rows])
        out[f"greedy_chain_accuracy{'' if g == 'all' else '_' + g}"] = _mean(exact[rows])
    out["p_first"] = {g: {"0": _mean(first[rows, 0]), "1": _mean(first[rows, 1]), "eos": _mean(first[rows, task.eos])}
                      for g, rows in split.items()}
    greedy_first = first.argmax(-1)  # (n,) the token greedy decoding writes first
    out["greedy_first"] = {g: {"0": _mean(greedy_first[rows] == 0), "1": _mean(greedy_first[rows] == 1),
                               "eos": _mean(greedy_first[rows] == task.eos)} for g, rows in split.items()}
    out["greedy_first_is_x1"] = _mean(greedy_first == chain[:, 0])
    out["after_right_first"] = {g: {"eos": _mean(after_right[rows, task.eos]),
                                    "continue": _mean(1 - after_right[rows, task.eos]),
                                    "c2": _mean(at(after_right, c2)[rows])} for g, rows in split.items()}
    out["after_wrong_first"] = {g: {"eos": _mean(after_wrong[rows, task.eos]),
                                    "continue": _mean(1 - after_wrong[rows, task.eos]),
                                    "c2_from_prompt": _mean(at(after_wrong, c2)[rows]),
                                    "from_token": _mean(at(after_wrong, from_token)[rows])}
                                for g, rows in split.items()}
    out["greedy_second_bit"] = second_bit_probe(agent, task, n=n, seed=seed)  # the same prompts
    agent.train(was_training)
    return out


# --------------------------------------------------------------------------------------------------- the plateau
def plateau(probes: list[dict], low: float, high: float, solved: float) -> dict:
    """Where the plateau of a run's probes starts (first greedy accuracy in [low, high]) and ends (first >= solved
    after it), its midpoint (the probe nearest the middle of [start, end)) and the last probe before the end; the
    probes there copied out (None where a run has no such probe)."""
    steps = [p["step"] for p in probes]
    acc = [p["greedy_accuracy"] for p in probes]
    start = next((i for i, a in enumerate(acc) if low <= a <= high), None)
    end = None if start is None else next((i for i in range(start + 1, len(acc)) if acc[i] >= solved), None)
    mid = last = None
    if start is not None and end is not None:
        middle = (steps[start] + steps[end]) / 2
        mid = min(range(start, end), key=lambda i: (abs(steps[i] - middle), i))
        last = end - 1
    at = {"start": start, "mid": mid, "last": last, "end": end}
    return {**{f"{k}_step": None if i is None else steps[i] for k, i in at.items()},
            "length_steps": None if start is None or end is None else steps[end] - steps[start],
            "probes": {k: None if i is None else probes[i] for k, i in at.items()}}


# --------------------------------------------------------------------------------------------------- the runs
def pretrained(seed: int, args: argparse.Namespace) -> tuple[str, dict]:
    """The pre-training of ``seed`` in RUN_DIR/pretrain-sSEED (the default recipe; resumed, so a finished one is
    reused as it is): its checkpoint and how it went."""
    out = args.run_dir / f"pretrain-s{seed}"
    cfg = PretrainConfig(task=Task(d=args.d, p_long=args.p_long), **agent_options(args), seed=seed,
                         max_samples=args.max_samples, final_eval_n=0, out=str(out), resume=True, logger="none")
    r = pretrain(cfg, progress=False)
    info = {"seed": seed, "checkpoint": str(out), "samples": r.samples, "stop_reason": r.stop_reason,
            "time_to_learned_s": r.time_to_learned_s}
    print(f"pre-training seed {seed}: {r.samples:,} samples, {r.stop_reason}", flush=True)
    return str(out), info


def rl_run(checkpoint: str, rl_seed: int, args: argparse.Namespace, scratch: Path) -> dict:
    """REINFORCE (FinetuneConfig's defaults) from ``checkpoint`` in chunks of --probe-every steps, probed after each."""
    start = load_checkpoint(checkpoint)
    task = start.task
    out = scratch / f"rl-{len(list(scratch.iterdir()))}"
    cfg = FinetuneConfig(seed=rl_seed, steps=args.probe_every, final_eval_n=0, out=str(out), logger="none")
    if args.probe_every % cfg.eval_every:
        raise SystemExit(f"--probe-every must be a multiple of the run's probe interval {cfg.eval_every}")
    t0, probe_s = time.perf_counter(), 0.0
    t = time.perf_counter()
    probes = [{"step": 0, **plateau_probe(start.agent, task, args.n, args.probe_seed)}]
    probe_s += time.perf_counter() - t
    result = None
    for steps in range(args.probe_every, args.steps + args.probe_every, args.probe_every):
        result = finetune(checkpoint, replace(cfg, steps=min(steps, args.steps), resume=result is not None),
                          progress=False)
        t = time.perf_counter()
        probes.append({"step": result.steps, **plateau_probe(result.agent, task, args.n, args.probe_seed)})
        probe_s += time.perf_counter() - t
        if result.stop_reason == "solved" or result.steps >= args.steps:
            break
    assert result is not None
    span = plateau(probes, args.low, args.high, args.solved)
    log = result.log
    row = {"checkpoint": checkpoint, "rl_seed": rl_seed, "solved_step": result.solved_step, "steps": result.steps,
           "episodes": result.episodes, "config": result.config, "rl_wall_time_s": result.wall_time_s,
           "probe_wall_time_s": probe_s,
           "wall_time_s": time.perf_counter() - t0, "plateau": span, "probes": probes,
           "log": {"step": [e["step"] for e in log], "reward": [e["reward"] for e in log],
                   "sampled_length": [e["mean_length"] for e in log],
                   "probe_steps": [e["step"] for e in log if "greedy_accuracy" in e],
                   "greedy_accuracy": [e["greedy_accuracy"] for e in log if "greedy_accuracy" in e]}}
    mid = span["probes"]["mid"]
    where = (f"plateau steps {span['start_step']}-{span['end_step']}" if span["end_step"] is not None
             else f"plateau start {span['start_step']}, no end")
    print(f"{checkpoint} RL seed {rl_seed}: solved at {result.solved_step}; {where}"
          + (f"; at its midpoint (step {mid['step']}) greedy {mid['greedy_accuracy']:.3f} (x_1 = 0: "
             f"{mid['greedy_accuracy_x1_0']:.3f}, x_1 = 1: {mid['greedy_accuracy_x1_1']:.3f}), length "
             f"{mid['greedy_length']:.2f}, greedy first token 1 on {mid['greedy_first']['all']['1']:.3f}, P(first = "
             f"1 | x_1 = 0 / 1) {mid['p_first']['x1_0']['1']:.2f} / {mid['p_first']['x1_1']['1']:.2f}, P(EOS) after "
             f"a wrong first bit {mid['after_wrong_first']['x1_0']['eos']:.2f} / "
             f"{mid['after_wrong_first']['x1_1']['eos']:.2f}" if mid else "")
          + f" ({result.wall_time_s:.0f} s RL, {probe_s:.0f} s probes)", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None,
                        help="the pre-trained checkpoint to start from (default: pre-train one per --seeds)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2],
                        help="pre-training seeds, without --checkpoint (default 0 1 2: three starts)")
    parser.add_argument("--rl-seeds", nargs="+", type=int, default=[0, 1, 2],
                        help="RL seeds per start (default 0 1 2: whether a run pauses may depend on its start, so "
                             "each start is seen three times)")
    parser.add_argument("--run-dir", type=Path, default=Path("runs/plateau"),
                        help="where the pre-training runs go (RUN_DIR/pretrain-sSEED; reused when there)")
    parser.add_argument("--d", type=int, default=24, help="prompt bits of the pre-training (default 24: the "
                                                          "README's setting)")
    parser.add_argument("--p-long", type=float, default=0.01,
                        help="long fraction of the pre-training (default 0.01: greedy answers short after NTP)")
    parser.add_argument("--max-samples", type=int, default=5_000_000,
                        help="pre-training's budget per seed (default 5,000,000: PretrainConfig's)")
    add_agent_arguments(parser)
    parser.add_argument("--steps", type=int, default=600,
                        help="most RL steps per run (default 600: the slowest runs seen solve in ~250)")
    parser.add_argument("--probe-every", type=int, default=5,
                        help="RL steps between probes, a multiple of finetune's eval_every (default 5: finetune's "
                             "own probe interval, the finest that adds no probe to its stopping rule)")
    parser.add_argument("--n", type=int, default=2048,
                        help="prompts per probe (default 2048: a standard error of ~0.011 on a fraction near 0.5, "
                             "~0.016 on each half of the x_1 split)")
    parser.add_argument("--probe-seed", type=int, default=7, help="seed of the probe's prompts (default 7: those of "
                                                                  "exact_chains.second_bit_probe)")
    parser.add_argument("--low", type=float, default=0.70, help="the plateau band's bottom (default 0.70)")
    parser.add_argument("--high", type=float, default=0.80, help="the plateau band's top (default 0.80)")
    parser.add_argument("--solved", type=float, default=0.99,
                        help="greedy accuracy that ends the plateau (default 0.99: finetune's target)")
    add_results_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)
    starts = [(args.checkpoint, None)] if args.checkpoint is not None else [(None, seed) for seed in args.seeds]
    pretraining, runs = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for checkpoint, seed in starts:
            if checkpoint is None:
                checkpoint, info = pretrained(seed, args)
                pretraining.append(info)
            ckpt = load_checkpoint(checkpoint)
            task, agent = ckpt.task, ckpt.meta.get("agent", {})
            for rl_seed in args.rl_seeds:
                runs.append({"seed": seed, **rl_run(checkpoint, rl_seed, args, Path(scratch))})
                write_result("plateau", {
                    "task": task.to_dict(), "agent": agent.get("name"), "agent_config": agent.get("config"),
                    "settings": {k: getattr(args, k) for k in ("steps", "probe_every", "n", "probe_seed", "low",
                                                               "high", "solved")},
                    "finetune": {k: v for k, v in runs[-1]["config"].items() if k not in ("seed", "steps", "out",
                                                                                        "resume")},
                    "pretraining": pretraining, "runs": runs}, args.results)


if __name__ == "__main__":
    main()
