"""Does RL started before the chain is learned fail (Sec. 3.1)? ``python benchmarks/too_early.py``

    python benchmarks/too_early.py [--seeds 0 1 2 --fractions 0.1 0.25 0.5 0.75 1.0 --rl-steps 500]   # ~40 min
    python benchmarks/plots.py too_early --results runs/benchmarks      # its figure

For each seed, pre-training with the default recipe at --d, --p-long runs until the chain is learned, in chunks of
--snapshot-every samples (a resumed run is bit-identical to an uninterrupted one), and the checkpoint of every chunk
is kept. The chain was learned after S samples; from the snapshot nearest to f x S for each fraction f (early ones
sample mostly wrong chains), REINFORCE runs for exactly --rl-steps steps (no early stop: the run goes on after it is
solved, to show where it settles). Recorded per start: the evaluation before RL (sampled long fraction, exact chains
among the sampled long answers, greedy accuracy) and after (greedy accuracy and length, greedy exact chains, exact
chains among sampled long answers, greedy accuracy split by the first prompt bit), and the probes along the way. The
paper's failure mode is a run whose answers grow long while its accuracy does not. Writes RESULTS/NAME.json (--name,
default too_early).

    python benchmarks/too_early.py --levels 0.4 0.5 0.6 0.7 0.8 0.9 --settings 24:0.01 24:0.25 50:0.25 \
        --algos reinforce grpo --after-solved 100 --name too_early_window      # the window between 0.36 and 0.79

With --levels the snapshots are chosen by the chain-accuracy probe instead of the sample count: pre-training runs in
chunks of --snapshot-every samples until the probe after a chunk (the exact fraction of --probe-n long-form answers
sampled at temperature 1, ``agents.run.evaluate.chain_check`` without its early stop) crosses a level; that chunk is
redone, like every later one, in chunks of --fine-every; the snapshot for level L is the first chunk whose probe
reaches L.
Pre-training stops once every level is reached. Each snapshot is then measured again with 1000 long answers (the
rate the tables report), and each algorithm of --algos runs from it for --rl-steps steps (with --after-solved N, it
stops N steps after it is solved), for each (d, p_long) of --settings.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import torch
from common import add_agent_arguments, add_results_arguments, agent_options, write_result
from rl_algorithms import probe_curves

from agents.ntp.pretrain import PretrainConfig, pretrain
from agents.rl import ALGORITHMS, FinetuneConfig, finetune
from agents.run.checkpoint import load_checkpoint
from agents.run.evaluate import chain_check, evaluate
from parity_env import Task

KEPT = ("greedy_accuracy", "greedy_mean_length", "greedy_chain_accuracy", "greedy_accuracy_x1_0",
        "greedy_accuracy_x1_1", "sampled_long_fraction", "sampled_long_accuracy", "sampled_long_chain_accuracy",
        "first_token_margin", "continuation_probability")


def snapshots(cfg: PretrainConfig, every: int, keep: Path) -> tuple[int, dict[int, Path]]:
    """Pre-train ``cfg`` in chunks of ``every`` samples until the chain is learned (or its budget ends), copying each
    chunk's checkpoint into ``keep``; returns the samples at which it was learned and {samples: snapshot}."""
    run, taken, budget = keep / "run", {}, 0
    while True:
        budget += every
        r = pretrain(replace(cfg, out=str(run), resume=budget > every, max_samples=budget), progress=False)
        taken[r.samples] = keep / f"s{r.samples}"
        shutil.copytree(run / "checkpoint", taken[r.samples])
        if r.stop_reason == "learned" or r.samples >= cfg.max_samples:
            return r.samples, taken


def chain_probe(agent, task: Task, n_long: int, seed: int) -> dict:
    """The chain-accuracy probe: the exact fraction of ``n_long`` long-form answers sampled at temperature 1 (None when
    the agent sampled none), their number and the long fraction seen."""
    check = chain_check(agent, task, n_long=n_long, max_error=1.0, seed=seed)
    exact = (check["n_long"] - check["n_wrong"]) / check["n_long"] if check["n_long"] else None
    return {"exact": exact, "n_long": check["n_long"], "long_fraction": check["long_fraction"]}


def probe_snapshots(cfg: PretrainConfig, coarse: int, fine: int, levels: list[float], probe_n: int, keep: Path
                    ) -> tuple[list[dict], dict[float, Path]]:
    """Pre-train ``cfg`` in chunks until the probe has reached every level, copying the first chunk that reaches each
    level into ``keep``; returns every chunk's probe and {level: snapshot}. Chunks are ``coarse`` samples until one
    crosses a level; that one is undone (its run directory restored) and redone, like every later one, in chunks of
    ``fine``."""
    run, before, probes, taken, finely = keep / "run", keep / "before", [], {}, False
    samples = 0
    while len(taken) < len(levels) and samples < cfg.max_samples:
        if run.exists():
            shutil.rmtree(before, ignore_errors=True)
            shutil.copytree(run, before)
        r = pretrain(replace(cfg, out=str(run), resume=run.exists(),
                             max_samples=samples + (fine if finely else coarse)), progress=False)
        probe = {"samples": r.samples, **chain_probe(r.agent, cfg.task, probe_n, seed=cfg.seed * 7919 + r.steps)}
        exact = probe["exact"] or 0.0
        crossed = [level for level in levels if level not in taken and exact >= level]
        if crossed and not finely and before.exists():  # redo this chunk in fine steps
            shutil.rmtree(run)
            shutil.copytree(before, run)
            finely = True
            continue
        samples = r.samples
        probes.append(probe)
        print(f"  seed {cfg.seed}, {samples:,} samples: sampled long answers exact {probe['exact']} "
              f"(of {probe['n_long']})", flush=True)
        for level in crossed:
            taken[level] = keep / f"s{samples}"
            if not taken[level].exists():
                shutil.copytree(run / "checkpoint", taken[level])
    return probes, taken


def rl_from(snapshot: Path, seed: int, rl_steps: int, algo: str = "reinforce", after_solved: int | None = None,
            probe_n: int = 0, **labels) -> dict:
    """``algo`` for ``rl_steps`` steps (or until ``after_solved`` steps after solved) from the pre-training checkpoint
    ``snapshot``; with ``probe_n`` the start's chain probe on that many long answers too. ``labels`` go in the row."""
    ckpt = load_checkpoint(snapshot)
    start = {k: v for k, v in evaluate(ckpt.agent, ckpt.task, n=4096, seed=seed).items() if k in KEPT}
    if probe_n:
        start["probe"] = chain_probe(ckpt.agent, ckpt.task, probe_n, seed=10_000 + seed)
    cfg = FinetuneConfig(algo=algo, steps=rl_steps, seed=seed, steps_after_solved=after_solved, logger="none")
    result = finetune(snapshot, cfg, progress=False)
    row = {"seed": seed, **labels, "algo": algo, "start": start, "after": {k: result.metrics[k] for k in KEPT},
           "solved_step": result.solved_step, "steps": result.steps, **probe_curves(result.log),
           "sampled_length": [e["mean_length"] for e in result.log], "reward": [e["reward"] for e in result.log]}
    print(json.dumps({k: row[k] for k in ("seed", *labels, "algo", "solved_step")}),
          f"start: long chains exact {start['sampled_long_chain_accuracy']}; after: greedy "
          f"{result.metrics['greedy_accuracy']:.3f}, length {result.metrics['greedy_mean_length']:.1f}, greedy exact "
          f"chains {result.metrics['greedy_chain_accuracy']:.3f}", flush=True)
    return row


def by_levels(args) -> None:
    """The --levels mode: snapshots by the chain probe, for each setting, seed and algorithm."""
    settings = [(int(d), float(p)) for d, p in (x.split(":") for x in args.settings)] if args.settings else \
        [(args.d, args.p_long)]
    levels = sorted(args.levels)
    rows, pretraining = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for d, p_long in settings:
            for seed in args.seeds:
                cfg = PretrainConfig(task=Task(d=d, p_long=p_long), **agent_options(args), seed=seed,
                                     max_samples=args.max_samples, final_eval_n=0, logger="none")
                probes, taken = probe_snapshots(cfg, args.snapshot_every, args.fine_every, levels, args.probe_n,
                                                Path(tmp) / f"d{d}-p{p_long}-seed{seed}")
                pretraining.append({"d": d, "p_long": p_long, "seed": seed, "probes": probes,
                                    "snapshots": {str(level): int(path.name[1:]) for level, path in taken.items()}})
                for level, path in sorted(taken.items()):
                    for algo in args.algos:
                        rows.append(rl_from(path, seed, args.rl_steps, algo, args.after_solved, args.start_probe_n,
                                            d=d, p_long=p_long, level=level, samples=int(path.name[1:])))
                        write_result("too_early", {
                            "levels": levels, "settings": [{"d": d, "p_long": p} for d, p in settings],
                            "algos": args.algos, "rl_steps": args.rl_steps, "after_solved": args.after_solved,
                            "probe_n": args.probe_n, "start_probe_n": args.start_probe_n, **agent_options(args),
                            "pretraining": pretraining, "rows": rows}, args.results, name=args.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--d", type=int, default=24)
    parser.add_argument("--p-long", type=float, default=0.01)
    parser.add_argument("--fractions", nargs="+", type=float, default=[0.1, 0.25, 0.5, 0.75, 1.0])
    parser.add_argument("--rl-steps", type=int, default=500)
    parser.add_argument("--snapshot-every", type=int, default=25_600)
    parser.add_argument("--max-samples", type=int, default=3_000_000, help="pre-training's budget per seed")
    parser.add_argument("--levels", nargs="+", type=float, default=None,
                        help="choose the snapshots by the chain probe, one per level, instead of --fractions")
    parser.add_argument("--settings", nargs="+", default=None, metavar="D:P_LONG",
                        help="--levels: (d, p_long) pairs to run, e.g. 24:0.01 50:0.25 (default --d:--p-long)")
    parser.add_argument("--algos", nargs="+", default=["reinforce"], choices=ALGORITHMS,
                        help="--levels: the RL algorithms run from each snapshot (default reinforce)")
    parser.add_argument("--after-solved", type=int, default=None, metavar="N",
                        help="--levels: stop N steps after solved (default: every one of --rl-steps)")
    parser.add_argument("--fine-every", type=int, default=2_560,
                        help="--levels: the chunk from the first that crosses a level on (default 2560 samples)")
    parser.add_argument("--probe-n", type=int, default=200, help="--levels: long answers per probe (default 200)")
    parser.add_argument("--start-probe-n", type=int, default=1000,
                        help="--levels: long answers of each snapshot's probe before RL (default 1000)")
    parser.add_argument("--name", default="too_early", help="RESULTS/NAME.json (default too_early)")
    add_agent_arguments(parser)
    add_results_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.levels:
        return by_levels(args)
    rows, learned = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            cfg = PretrainConfig(task=Task(d=args.d, p_long=args.p_long), **agent_options(args), seed=seed,
                                 max_samples=args.max_samples, final_eval_n=0, logger="none")
            learned[seed], taken = snapshots(cfg, args.snapshot_every, Path(tmp) / f"seed{seed}")
            for f in sorted(args.fractions):
                samples = min(taken, key=lambda s: abs(s - f * learned[seed]))
                rows.append(rl_from(taken[samples], seed, args.rl_steps, fraction=f, samples=samples))
                write_result("too_early", {"d": args.d, "p_long": args.p_long, "rl_steps": args.rl_steps,
                                           "learned_at_samples": learned, "rows": rows}, args.results, name=args.name)


if __name__ == "__main__":
    main()
