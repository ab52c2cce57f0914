"""RL fine-tuning of a pretrained checkpoint through TorchRL: ``parity-cot finetune CHECKPOINT --algo ... --out DIR``.

    parity-cot finetune runs/pre --algo reinforce --out runs/rl            # stops once greedy accuracy holds >= 99%
    parity-cot finetune runs/pre --algo grpo --group-size 8 --out runs/grpo --seed 1
    parity-cot finetune runs/pre --algo reinforce --out runs/rl --resume   # continue from runs/rl/checkpoint
    result = finetune("runs/pre", FinetuneConfig(algo="ppo"))              # the same from Python
    result = finetune(model_or_ckpt, cfg, loss_module=my_torchrl_loss, prepare=my_prepare)  # any TorchRL loss

One step: collect ``batch_size`` whole episodes from ``parity_env.ParityCoTTorchEnv`` (its TorchRL ``step`` with
partial steps, as ``env.rollout(..., break_when_all_done=True)`` runs it; ``episodes``) and the KV-cached policy
(``policy``), pack them as the (B,) episode tensordict (keys listed in ``episodes``), let the
algorithm's ``prepare`` add its advantage (``algorithms``), then take its gradient steps on ``loss_module(batch)``:
the sum of every ``loss_*`` entry is minimised (TorchRL's convention). A loss module of your own receives the episode
tensordict (after ``prepare``, if you give one); the optimiser trains every parameter of the model and of the loss
module (a value head, for instance). A STaR step is one round of ``star_samples`` episodes.

Every ``eval_every`` steps a greedy probe on ``eval_n`` fresh prompts measures accuracy and answer length; the run
stops once ``target_evals`` consecutive probes reach ``target_accuracy`` (then trains ``steps_after_solved`` more
steps), or after ``steps``. A log line per step goes to DIR/log.jsonl; DIR/checkpoint is a checkpoint that
``parity-cot evaluate`` reads, with the optimiser and RNG states ``--resume`` continues from.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tensordict import TensorDict
from torchrl.objectives import LossModule
from tqdm import tqdm

from parity_env.protocol import N_ACTIONS, VOCAB_SIZE, check_int, check_reward_mode
from parity_env.torch_env import ParityCoTTorchEnv

from ..checkpoint import RUN_SUBDIR, CheckpointError, load_checkpoint, save_checkpoint
from ..evaluate import evaluate, judge, make_prompts
from ..generate import check_temperature, generate
from ..model import GPT
from .advantages import kl_k3, masked_mean
from .algorithms import ALGORITHMS, make_algorithm
from .episodes import EpisodeCollector

LOG_FILE = "log.jsonl"

# Per-algorithm defaults for the options left as None (see FinetuneConfig). The policy-gradient methods use a small
# learning rate instead of a KL penalty: at 1e-3 REINFORCE collapsed its entropy onto a slightly wrong chain (greedy
# accuracy stuck near 0.97 for 130 steps at d = 8), at 3e-4 it reached 99% in 25 steps and stayed. STaR's update is
# supervised on correct samples only, so it takes the larger rate.
DEFAULTS = {
    "reinforce": {"lr": 3e-4, "kl_coef": 0.0, "group_size": 1},
    "ppo": {"lr": 3e-4, "kl_coef": 0.0, "group_size": 1},
    "grpo": {"lr": 3e-4, "kl_coef": 0.0, "group_size": 8},
    "star": {"lr": 1e-3, "kl_coef": 0.0, "group_size": 1},
}


@dataclass
class FinetuneConfig:
    """Everything that defines an RL fine-tuning run (saved in its checkpoint)."""

    algo: str = "reinforce"
    """One of reinforce, ppo, grpo, star. Ignored when a loss_module is given to ``finetune``."""
    steps: int = 500
    """Most RL steps (STaR: rounds) of this run, counting from step 0 of the run being resumed."""
    lr: float | None = None
    """AdamW learning rate; None: the algorithm's default (DEFAULTS)."""
    batch_size: int = 256
    """Episodes collected per step (STaR: per collection batch of a round)."""
    group_size: int | None = None
    """Rollouts sharing one prompt (blocks of consecutive rows); None: 8 for grpo, else 1. Must divide batch_size."""
    temperature: float = 1.0
    """Sampling temperature of the collected episodes (> 0); the losses score them at the same temperature."""
    reward: str = "answer"
    """"answer" (end-to-end: the last bit before EOS is the parity) or "cot" (exact short answer or exact chain)."""
    kl_coef: float | None = None
    """Weight of the KL penalty to the pretrained model; None: the algorithm's default. The KL is logged even at 0."""
    clip_epsilon: float = 0.2
    ppo_epochs: int = 2
    star_samples: int = 4096
    """Episodes sampled per STaR round (its correct ones are kept and trained on)."""
    star_epochs: int = 1
    max_grad_norm: float = 1.0
    eval_every: int = 5
    """Steps between greedy probes (STaR: every round)."""
    eval_n: int = 2000
    """Fresh prompts per greedy probe (the stopping rule's "on >= 2000 prompts")."""
    target_accuracy: float = 0.99
    target_evals: int = 2
    """Consecutive greedy probes at or above target_accuracy that count as solved."""
    steps_after_solved: int | None = 0
    """Steps trained after solved before stopping (benchmarks: 300, to show it stays); None: never stop early."""
    final_eval_n: int = 4096
    """Prompts per mode of ``agents.evaluate.evaluate`` after the run (0 skips it)."""
    checkpoint_every: int = 50
    seed: int = 0
    device: str = "cpu"
    threads: int | None = 1
    """torch CPU threads (process-wide); None leaves torch's default. One by default, as in pre-training: these
    matmuls are too small to gain from a second thread, and OpenMP threads spin on a busy CPU."""
    out: str | None = None
    """Run directory (checkpoint/ and log.jsonl); None writes nothing."""
    resume: bool = False

    def __post_init__(self) -> None:
        if self.algo not in ALGORITHMS:
            raise ValueError(f"algo must be one of {ALGORITHMS}; got {self.algo!r}")
        defaults = DEFAULTS[self.algo]
        for name in ("lr", "kl_coef", "group_size"):
            if getattr(self, name) is None:
                setattr(self, name, defaults[name])
        for name in ("steps", "batch_size", "group_size", "ppo_epochs", "star_samples", "star_epochs", "eval_every",
                     "eval_n", "target_evals", "checkpoint_every"):
            setattr(self, name, check_int(name, getattr(self, name), 1))
        for name in ("seed", "final_eval_n"):
            setattr(self, name, check_int(name, getattr(self, name), 0))
        if self.threads is not None:
            self.threads = check_int("threads", self.threads, 1)
        if self.steps_after_solved is not None:
            self.steps_after_solved = check_int("steps_after_solved", self.steps_after_solved, 0)
        if self.batch_size % self.group_size:
            raise ValueError(f"group_size must divide batch_size {self.batch_size}; got group_size = {self.group_size}")
        if self.algo == "grpo" and self.group_size < 2:
            raise ValueError(f"grpo needs group_size >= 2 rollouts per prompt; got {self.group_size}")
        self.temperature = check_temperature(self.temperature)
        if self.temperature == 0:
            raise ValueError("temperature must be > 0 for RL sampling; got 0 (greedy decoding cannot explore)")
        self.reward = check_reward_mode(self.reward)
        for name in ("lr", "max_grad_norm", "clip_epsilon"):
            _check_positive(name, getattr(self, name))
        if isinstance(self.kl_coef, bool) or not isinstance(self.kl_coef, (int, float)) or not self.kl_coef >= 0:
            raise ValueError(f"kl_coef must be a number >= 0; got {self.kl_coef!r}")
        if not 0 < self.target_accuracy <= 1:
            raise ValueError(f"target_accuracy must be in (0, 1]; got {self.target_accuracy!r}")
        if self.resume and self.out is None:
            raise ValueError("resume needs an out directory to resume from")


# Options a resumed run may change; every other option must match the saved run.
RESUMABLE = ("steps", "steps_after_solved", "final_eval_n", "checkpoint_every", "device", "threads", "out", "resume")


@dataclass
class FinetuneResult:
    model: GPT
    log: list[dict]  # one dict per step (greedy_* only on probe steps)
    metrics: dict  # agents.evaluate.evaluate after the run ({} when final_eval_n = 0)
    steps: int  # steps done in total (resumed runs included)
    episodes: int  # episodes collected in total
    solved_step: int | None  # the step at which target_evals consecutive probes reached the target, or None
    time_to_solved_s: float | None  # wall time of this process until then (probes included)
    wall_time_s: float
    stop_reason: str  # "solved", "steps"
    config: dict = field(default_factory=dict)


def finetune(
    start: str | os.PathLike | GPT,
    cfg: FinetuneConfig,
    loss_module: LossModule | None = None,
    prepare: Callable[[TensorDict], TensorDict] | None = None,
    task: dict | None = None,
    progress: bool = True,
) -> FinetuneResult:
    """RL fine-tuning of ``start`` (a checkpoint path or a GPT, which is trained in place) under ``cfg``.

    ``loss_module``: any TorchRL LossModule over the episode tensordict (``agents.rl.episodes``); the shipped
    algorithm ``cfg.algo`` is used when None. ``prepare`` maps the collected episodes to the loss's batch (add an
    advantage, filter rows); default: the shipped algorithm's, or the identity for a custom loss. ``task`` (d, p_long,
    leap, max_response_len) is read from the checkpoint, and must be given with a bare model.
    """
    t_start = time.perf_counter()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    device = torch.device(cfg.device)
    model, task = _load_start(start, task, device)
    reference = copy.deepcopy(model).eval().requires_grad_(False)  # the KL penalty's anchor, and the logged KL
    d, R = task["d"], task["max_response_len"]
    out = Path(cfg.out) if cfg.out is not None else None
    optimizer_state, state, rng_state = None, {"step": 0, "episodes": 0, "streak": 0, "solved_step": None}, {}
    if out is not None:
        saved = out / RUN_SUBDIR
        if cfg.resume:
            if not saved.exists():
                raise FileNotFoundError(f"--resume: no checkpoint to resume from at {saved}")
            ckpt = load_checkpoint(saved, device)
            _check_resumable(ckpt.meta.get("finetune", {}), cfg)
            if ckpt.task["d"] != d:
                raise CheckpointError(f"{saved} is a run at d = {ckpt.task['d']}, not d = {d}")
            model.load_state_dict(ckpt.model.state_dict())
            optimizer_state, rng_state = ckpt.optimizer_state, ckpt.rng
            state = ckpt.meta["finetune_state"]
            _truncate_log(out / LOG_FILE, state["step"])
        elif out.exists() and any(out.iterdir()):
            raise FileExistsError(f"out directory {out} is not empty: pass --resume to continue it, or another --out")
        out.mkdir(parents=True, exist_ok=True)

    algorithm = None
    if loss_module is None:
        algorithm = make_algorithm(
            cfg.algo, model, d, temperature=cfg.temperature, group_size=cfg.group_size, kl_coef=cfg.kl_coef,
            clip_epsilon=cfg.clip_epsilon, ppo_epochs=cfg.ppo_epochs, ppo_minibatch=max(1, cfg.batch_size // 2),
            star_epochs=cfg.star_epochs, star_minibatch=cfg.batch_size,
        )
        loss_module, prepare = algorithm.loss, prepare or algorithm.prepare
    loss_module.to(device)
    params = list({id(p): p for p in [*model.parameters(), *loss_module.parameters()] if p.requires_grad}.values())
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.98), weight_decay=0.0)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)

    generator = torch.Generator(device=device).manual_seed(cfg.seed)
    if "generator" in rng_state:
        generator.set_state(rng_state["generator"])
    probe_rng = np.random.default_rng([cfg.seed, 1, state["step"]])
    env = ParityCoTTorchEnv(
        d=d, batch_size=[cfg.batch_size], device=device, leap=task.get("leap", 1), max_response_len=R,
        reward=cfg.reward, group_size=cfg.group_size, seed=cfg.seed * 1_000_003 + state["step"],
    )
    collector = EpisodeCollector(env, model, d, R, cfg.temperature, generator, reference)
    rounds = math.ceil(cfg.star_samples / cfg.batch_size) if cfg.algo == "star" and algorithm is not None else 1
    eval_every = 1 if rounds > 1 else cfg.eval_every

    log: list[dict] = []
    log_file = open(out / LOG_FILE, "a") if out is not None else None
    time_to_solved, stop_reason = None, "steps"
    bar = tqdm(total=cfg.steps, initial=state["step"], desc=f"finetune {cfg.algo if algorithm else 'custom'}",
               disable=not progress, unit="step", dynamic_ncols=True)
    try:
        while state["step"] < cfg.steps:
            t0 = time.perf_counter()
            episodes = torch.cat([collector.collect() for _ in range(rounds)])  # (B * rounds,)
            t_collect = time.perf_counter() - t0
            batch = prepare(episodes) if prepare is not None else episodes
            losses = _update(loss_module, optimizer, params, batch, algorithm, cfg.max_grad_norm)
            state["step"] += 1
            state["episodes"] += episodes.shape[0]
            entry = _step_log(state, episodes, losses, t_collect, time.perf_counter() - t0, t_start)
            if state["step"] % eval_every == 0 or state["step"] == cfg.steps:
                entry.update(greedy_probe(model, task, cfg.eval_n, probe_rng))
                state["streak"] = state["streak"] + 1 if entry["greedy_accuracy"] >= cfg.target_accuracy else 0
                if state["streak"] >= cfg.target_evals and state["solved_step"] is None:
                    state["solved_step"] = state["step"]
                    time_to_solved = time.perf_counter() - t_start
            log.append(entry)
            if log_file is not None:
                log_file.write(json.dumps(entry) + "\n")
                log_file.flush()
            bar.update(1)
            bar.set_postfix({k: entry[k] for k in ("reward", "mean_length", "greedy_accuracy") if k in entry})
            solved = state["solved_step"] is not None
            if out is not None and (state["step"] % cfg.checkpoint_every == 0 or state["step"] == state["solved_step"]):
                _save(out, model, task, cfg, state, optimizer, generator)
            if (solved and cfg.steps_after_solved is not None
                    and state["step"] >= state["solved_step"] + cfg.steps_after_solved):
                stop_reason = "solved"
                break
    finally:
        bar.close()
        if log_file is not None:
            log_file.close()
    if out is not None:
        _save(out, model, task, cfg, state, optimizer, generator)
    metrics = evaluate(model, task, n=cfg.final_eval_n, temperature=1.0, seed=cfg.seed) if cfg.final_eval_n else {}
    return FinetuneResult(
        model=model, log=log, metrics=metrics, steps=state["step"], episodes=state["episodes"],
        solved_step=state["solved_step"], time_to_solved_s=time_to_solved,
        wall_time_s=time.perf_counter() - t_start, stop_reason=stop_reason, config=asdict(cfg),
    )


# --------------------------------------------------------------------------------------------------- pieces
def _check_positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a number > 0; got {value!r}")


def check_model_for_task(model: GPT, task: dict, where: str = "the model") -> None:
    """Raise naming the values when ``model`` cannot play ``task`` (vocabulary, action head, context length)."""
    c = model.cfg
    if c.vocab_size != VOCAB_SIZE or c.n_actions != N_ACTIONS:
        raise CheckpointError(
            f"{where} has vocabulary {c.vocab_size} and {c.n_actions} actions; the ParityCoT task needs "
            f"vocabulary {VOCAB_SIZE} and {N_ACTIONS} actions"
        )
    need = task["d"] + 1 + task["max_response_len"]
    if c.block_size < need:
        raise CheckpointError(
            f"{where} reads at most {c.block_size} tokens; d = {task['d']} with max_response_len = "
            f"{task['max_response_len']} needs {need}"
        )


def _load_start(start, task: dict | None, device: torch.device) -> tuple[GPT, dict]:
    if isinstance(start, GPT):
        if task is None:
            raise ValueError("finetune(model, ...) needs task={'d': ..., 'max_response_len': ...} with a bare model")
        model = start.to(device)
        task = {"leap": 1, "max_response_len": task["d"] + 1, **task}
    else:
        ckpt = load_checkpoint(start, device)
        model = ckpt.model
        if task is not None and task["d"] != ckpt.task["d"]:
            raise CheckpointError(f"checkpoint {ckpt.path} is for d = {ckpt.task['d']}; asked for d = {task['d']}")
        task = dict(ckpt.task)
    check_model_for_task(model, task, where=f"checkpoint {start}" if not isinstance(start, GPT) else "the model")
    model.train()
    return model, task


def _check_resumable(saved: dict, cfg: FinetuneConfig) -> None:
    now = asdict(cfg)
    diff = {k: (saved[k], now[k]) for k in saved if k not in RESUMABLE and saved[k] != now.get(k)}
    if diff:
        detail = ", ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in diff.items())
        raise ValueError(f"--resume with options that differ from the saved run ({detail})")


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint a run resumes from."""
    if path.exists():
        lines = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= step]
        path.write_text("".join(line + "\n" for line in lines))


def _update(loss_module, optimizer, params, batch: TensorDict, algorithm, max_grad_norm: float) -> dict:
    """The algorithm's gradient steps on ``batch``; returns the mean of every logged scalar over them."""
    epochs = algorithm.epochs if algorithm is not None else 1
    size = (algorithm.minibatch_size if algorithm is not None else None) or max(1, batch.shape[0])
    sums: dict[str, float] = {}
    n = 0
    for _ in range(epochs):
        order = torch.randperm(batch.shape[0], device=batch.device) if epochs > 1 or size < batch.shape[0] else None
        for start in range(0, batch.shape[0], size):
            mb = batch[order[start : start + size]] if order is not None else batch[start : start + size]
            out = loss_module(mb)
            loss = sum(v for k, v in out.items() if k.startswith("loss_"))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
            optimizer.step()
            n += 1
            sums["loss"] = sums.get("loss", 0.0) + float(loss.detach())
            for k, v in out.items():
                if isinstance(v, torch.Tensor) and v.numel() == 1:
                    sums[k] = sums.get(k, 0.0) + float(v.detach())
    return {k: v / n for k, v in sums.items()} if n else {}


def _step_log(state: dict, episodes: TensorDict, losses: dict, t_collect: float, t_step: float, t_start) -> dict:
    tokens = int(episodes["response_mask"].sum())
    entry = {
        "step": state["step"],
        "episodes": state["episodes"],
        "reward": episodes["reward"].mean().item(),
        "sampled_accuracy": episodes["is_correct"].float().mean().item(),
        "mean_length": episodes["answer_length"].float().mean().item(),
        "long_fraction": episodes["is_long"].float().mean().item(),
        "correct_long_fraction": (episodes["is_long"] & episodes["is_correct"]).sum().item()
        / max(int(episodes["is_correct"].sum()), 1),  # what STaR keeps: long among the correct
        "entropy": masked_mean(episodes["entropy"], episodes["response_mask"]).item(),
        "kl": masked_mean(kl_k3(episodes["sample_log_prob"], episodes["ref_log_prob"]), episodes["response_mask"]).item(),
        "loss": losses.get("loss"),
        "collect_tokens_per_s": tokens / max(t_collect, 1e-9),
        "step_time_s": t_step,
        "wall_s": time.perf_counter() - t_start,
    }
    return entry


@torch.no_grad()
def greedy_probe(model: GPT, task: dict, n: int, rng: np.random.Generator) -> dict:
    """Greedy accuracy and mean answer length (bits before EOS) on ``n`` fresh prompts: the stopping rule's probe."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    bits, prompts = make_prompts(n, task["d"], rng)
    gen = generate(model, prompts.to(device), task["max_response_len"], temperature=0.0)
    verdict = judge(bits, gen.tokens, gen.finished, task.get("leap", 1))
    model.train(was_training)
    return {
        "greedy_accuracy": verdict.answer_correct.float().mean().item(),
        "greedy_mean_length": verdict.answer_length.float().mean().item(),
    }


def _save(out: Path, model: GPT, task: dict, cfg: FinetuneConfig, state: dict, optimizer, generator) -> None:
    meta = {"finetune": asdict(cfg), "finetune_state": dict(state)}
    save_checkpoint(out / RUN_SUBDIR, model, task, meta=meta, optimizer=optimizer,
                    rng={"generator": generator.get_state()})


# --------------------------------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="pretrained checkpoint (a checkpoint directory or a pretrain --out directory)")
    parser.add_argument("--algo", choices=ALGORITHMS, default="reinforce", help="RL algorithm (default: reinforce)")
    parser.add_argument("--out", required=True, help="run directory: checkpoint/ and log.jsonl")
    parser.add_argument("--seed", type=int, default=0, help="seed of prompts, sampling and probes (default 0)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--steps", type=int, default=500, help="most RL steps, STaR rounds (default 500)")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: 3e-4, STaR 1e-3)")
    parser.add_argument("--batch-size", type=int, default=256, help="episodes per step (default 256)")
    parser.add_argument("--group-size", type=int, default=None,
                        help="rollouts per prompt, must divide --batch-size (default: 8 for grpo, else 1)")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature > 0 (default 1)")
    parser.add_argument("--reward", choices=("answer", "cot"), default="answer",
                        help="answer: last bit before EOS is the parity; cot: exact short answer or exact chain")
    parser.add_argument("--kl-coef", type=float, default=None, help="KL to the pretrained model (default: 0)")
    parser.add_argument("--eval-every", type=int, default=5, help="steps between greedy probes (default 5)")
    parser.add_argument("--eval-n", type=int, default=2000, help="prompts per greedy probe (default 2000)")
    parser.add_argument("--steps-after-solved", type=int, default=0,
                        help="keep training this many steps after greedy accuracy holds >= 99%% (default 0)")
    parser.add_argument("--star-samples", type=int, default=4096, help="episodes sampled per STaR round")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--d", type=int, default=None, help="expected d; an error if the checkpoint has another")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    try:
        cfg = FinetuneConfig(
            algo=args.algo, steps=args.steps, lr=args.lr, batch_size=args.batch_size, group_size=args.group_size,
            temperature=args.temperature, reward=args.reward, kl_coef=args.kl_coef, eval_every=args.eval_every,
            eval_n=args.eval_n, steps_after_solved=args.steps_after_solved, star_samples=args.star_samples,
            seed=args.seed, device=args.device, threads=args.threads, out=args.out, resume=args.resume,
        )
        if args.d is not None:
            ckpt_task = load_checkpoint(args.checkpoint).task
            if ckpt_task["d"] != args.d:
                raise CheckpointError(f"checkpoint {args.checkpoint} is for d = {ckpt_task['d']}; --d {args.d} given")
        result = finetune(args.checkpoint, cfg, progress=not args.no_progress)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as err:
        print(f"parity-cot finetune: error: {err}", file=sys.stderr)
        return 2
    m = result.metrics
    print(f"{result.stop_reason} after {result.steps} steps, {result.episodes} episodes, {result.wall_time_s:.1f} s"
          + (f"; solved at step {result.solved_step} ({result.time_to_solved_s:.1f} s)" if result.solved_step else ""))
    if m:
        print(f"greedy accuracy {m['greedy_accuracy']:.4f}, greedy length {m['greedy_mean_length']:.2f}, "
              f"sampled long fraction {m['sampled_long_fraction']:.3f}")
    print(f"checkpoint: {Path(args.out) / RUN_SUBDIR}")
    return 0
