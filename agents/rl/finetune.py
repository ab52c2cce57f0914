"""RL fine-tuning of a pre-trained agent through TorchRL: ``parity-cot finetune CHECKPOINT --algo ... --out DIR``.

    parity-cot finetune runs/pre --algo reinforce --out runs/rl            # stops once greedy accuracy holds >= 99%
    parity-cot finetune runs/pre --algo grpo --group-size 8 --out runs/grpo --seed 1
    parity-cot finetune runs/pre --algo reinforce --out runs/rl --resume   # continue from runs/rl/checkpoint
    result = finetune("runs/pre", FinetuneConfig(algo="ppo"))              # the same from Python
    result = finetune(agent, cfg, task=task, loss_module=my_torchrl_loss, prepare=my_prepare)  # any TorchRL loss

One step: collect ``batch_size`` whole episodes from the task's TorchRL env (``parity_env.ParityCoTTorchEnv``, its
``step`` with partial steps) with the agent as a policy (``episodes``), let the algorithm's ``prepare`` turn them into
its batch (an advantage, kept rows), then take its gradient steps on ``loss_module(batch)``, minimising the sum of
every ``loss_*`` entry (TorchRL's convention) over ``epochs`` passes of shuffled minibatches. The algorithm is a
record (``agents.rl.algorithms``): a shipped one by name, or a loss module of your own, which receives the episode
tensordict (after ``prepare``, if given) and gets ``epochs`` and ``minibatch_size`` from the config; the optimiser
trains every parameter of the agent and of the loss module (a value head, for instance).

Every ``eval_every`` steps a greedy probe on ``eval_n`` fresh prompts measures accuracy and answer length; the run
stops once ``target_evals`` consecutive probes reach ``target_accuracy`` (then trains ``steps_after_solved`` more
steps), or after ``steps``. A log line per step goes to DIR/log.jsonl; DIR/checkpoint is a checkpoint that
``parity-cot evaluate`` reads, with the optimiser, the loss module's weights and every random stream (the env's,
the sampler's, the probes', the minibatch shuffles'), so that ``--resume`` continues exactly where the run stopped:
a resumed run is bit-identical on the CPU to one that was never interrupted. Nothing draws from a global RNG.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tensordict import TensorDict
from torchrl.objectives import LossModule
from tqdm import tqdm

from parity_env.checks import check_choice, check_int, check_run_seed
from parity_env.contract import REWARD_MODES, CoTTask
from parity_env.registry import make_task, task_from_dict

from ..models.agent import agent_device, check_agent
from ..models.errors import DivergedError
from ..models.generate import check_temperature, generate
from ..run.checkpoint import (
    RUN_SUBDIR,
    CheckpointError,
    has_checkpoint,
    load_checkpoint,
    load_loss_state,
    read_checkpoint_config,
    recover_checkpoint,
    save_checkpoint,
)
from ..run.config import config_differences, config_to_dict
from ..run.evaluate import EVAL_CHUNK, evaluate
from ..run.logs import LOGGERS, RunLog, check_logger
from ..run.memory import check_fits, training_bytes
from ..run.task_options import TaskExpectation
from ..run.training import check_finite, check_weights, resolve_device, run_directory, set_threads
from .advantages import kl_k3, masked_mean
from .algorithms import Algorithm, build_algorithm, canonical_algo, defaults, validate
from .episodes import EpisodeCollector


@dataclass
class FinetuneConfig:
    """Everything that defines an RL fine-tuning run (saved in its checkpoint; ``--resume`` reuses it)."""

    algo: str = "reinforce"
    """The RL algorithm: reinforce, ppo, grpo, star, a name given to agents.rl.register_algorithm, or a factory's
    import path 'package.module:function' (ignored when a loss_module is given to ``finetune``)."""
    steps: int = 500
    """Most RL steps (STaR: rounds), counting from step 0 of the run being resumed."""
    lr: float | None = None
    """AdamW learning rate (None: the algorithm's default, 3e-4; STaR 1e-3)."""
    batch_size: int = 256
    """Episodes collected per step (STaR: per collection batch of a round)."""
    group_size: int | None = None
    """Rollouts sharing one prompt, blocks of consecutive rows; must divide batch_size (None: 8 for grpo, else 1)."""
    temperature: float = 1.0
    """Sampling temperature of the collected episodes (> 0); the losses score them at the same temperature."""
    reward: Literal["answer", "cot"] | None = None
    """answer (end-to-end: the last bit before EOS is the parity) or cot (exact short answer or exact chain); None:
    the checkpoint task's reward."""
    kl_coef: float | None = None
    """Weight of the KL penalty to the pre-trained agent (None: the algorithm's default, 0); computed only when > 0."""
    clip_epsilon: float = field(default=0.2, metadata={"only": ("algo", ("ppo", "grpo"))})
    """ppo and grpo: the ratio clipping range."""
    epochs: int | None = None
    """Passes over each step's prepared batch (None: the algo's default: ppo 2, else 1)."""
    minibatch_size: int | None = None
    """Rows per gradient step (None: the algorithm's default: ppo half the batch, star batch_size, else the whole
    prepared batch)."""
    star_samples: int = field(default=4096, metadata={"only": ("algo", ("star",))})
    """star: episodes sampled per round (its correct ones are kept and trained on)."""
    max_grad_norm: float = 1.0
    """Gradient-norm clip."""
    eval_every: int = 5
    """Steps between greedy probes (STaR: every round)."""
    eval_n: int = 2000
    """Fresh prompts per greedy probe."""
    target_accuracy: float = 0.99
    """Greedy accuracy that counts as solved."""
    target_evals: int = 2
    """Consecutive greedy probes at or above target_accuracy that count as solved."""
    steps_after_solved: int | None = 0
    """Steps trained after solved before stopping (the benchmarks use 300, to show it stays); None: never stop early."""
    final_eval_n: int = 4096
    """Prompts per mode of the evaluation after the run (0 skips it)."""
    checkpoint_every: int = 50
    """Steps between checkpoints (also at the step it is solved and at the end)."""
    seed: int = 0
    """Seed of the prompts, the sampling, the probes and the minibatch shuffles."""
    device: str = "cpu"
    """torch device: cpu, cuda, cuda:1, ..."""
    threads: int | None = 1
    """torch CPU threads (process-wide; None: torch's default). One: these matmuls are too small to gain from a
    second thread, and OpenMP threads spin on a busy CPU."""
    out: str | None = None
    """Run directory (checkpoint/, log.jsonl, logs/); new or empty unless resume. None writes nothing (Python only)."""
    resume: bool = False
    """Continue the run in out from its last checkpoint (or start it, if it never reached one); options not given
    take the run's saved values."""
    logger: str = field(default="csv", metadata={"choices": LOGGERS})
    """Where log.jsonl is mirrored for plotting tools: a TorchRL logger (csv, tensorboard, wandb) in out/logs, or
    none."""

    def __post_init__(self) -> None:
        check_logger(self.logger)
        self.algo = canonical_algo(self.algo)
        for name, value in defaults(self.algo).items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        for name in ("steps", "batch_size", "group_size", "epochs", "star_samples", "eval_every", "eval_n",
                     "target_evals", "checkpoint_every"):
            setattr(self, name, check_int(name, getattr(self, name), 1))
        self.seed = check_run_seed(self.seed)
        for name in ("final_eval_n",):
            setattr(self, name, check_int(name, getattr(self, name), 0))
        for name in ("threads", "minibatch_size"):
            if getattr(self, name) is not None:
                setattr(self, name, check_int(name, getattr(self, name), 1))
        if self.steps_after_solved is not None:
            self.steps_after_solved = check_int("steps_after_solved", self.steps_after_solved, 0)
        rows = math.ceil(self.star_samples / self.batch_size) * self.batch_size if self.algo == "star" else \
            self.batch_size  # the episodes one step collects
        if self.minibatch_size is not None and self.minibatch_size > rows:
            raise ValueError(f"minibatch_size {self.minibatch_size} is larger than the {rows} episodes a step collects "
                             f"(batch_size{' x rounds of star_samples' if self.algo == 'star' else ''}); give at most "
                             f"{rows}")
        assert self.group_size is not None  # filled from the algorithm's defaults above
        if self.batch_size % self.group_size:
            raise ValueError(f"group_size must divide batch_size {self.batch_size}; got group_size = {self.group_size}")
        self.temperature = check_temperature(self.temperature)
        if self.temperature == 0 or not math.isfinite(self.temperature):
            raise ValueError(f"temperature must be a finite number > 0 for RL sampling; got {self.temperature}")
        if self.reward is not None:
            check_choice("reward", self.reward, REWARD_MODES)  # returns it unchanged
        for name in ("lr", "max_grad_norm", "clip_epsilon"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
        kl = self.kl_coef
        if isinstance(kl, bool) or not isinstance(kl, (int, float)) or not 0 <= kl < math.inf:
            raise ValueError(f"kl_coef must be a finite number >= 0; got {self.kl_coef!r}")
        if not 0 < self.target_accuracy <= 1:
            raise ValueError(f"target_accuracy must be in (0, 1]; got {self.target_accuracy!r}")
        if self.resume and self.out is None:
            raise ValueError("resume needs an out directory to resume from")
        validate(self.algo, self)  # the algorithm's own constraints


# Options a resumed run may change; every other option must match the saved run.
RESUMABLE = ("steps", "steps_after_solved", "final_eval_n", "checkpoint_every", "device", "threads", "out", "resume",
             "logger")


@dataclass
class FinetuneResult:
    """What ``finetune`` returns: the fine-tuned agent, the log, its final evaluation and when it was solved."""
    agent: torch.nn.Module
    log: list[dict]  # one dict per step of the run, resumed processes included (greedy_* only on probe steps)
    metrics: dict  # agents.run.evaluate.evaluate after the run ({} when final_eval_n = 0)
    steps: int  # steps done in total (resumed runs included)
    episodes: int  # episodes collected in total
    solved_step: int | None  # the step at which target_evals consecutive probes reached the target, or None
    time_to_solved_s: float | None  # wall time of the run (resumed runs included) until then, probes included
    wall_time_s: float  # wall time of the run, resumed runs included
    stop_reason: str  # "solved" or "steps"
    config: dict = field(default_factory=dict)
    task: CoTTask = field(default_factory=make_task)


def finetune(
    start: str | os.PathLike | torch.nn.Module,
    cfg: FinetuneConfig,
    loss_module: LossModule | None = None,
    prepare: Callable[[TensorDict], TensorDict] | None = None,
    task: CoTTask | None = None,
    progress: bool = True,
) -> FinetuneResult:
    """RL fine-tuning of ``start`` (a checkpoint path, or an agent, which is trained in place) under ``cfg``.

    ``loss_module``: any TorchRL LossModule over the episode tensordict (``agents.rl.episodes``); the shipped
    algorithm ``cfg.algo`` is used when None. ``prepare`` maps the collected episodes to the loss's batch (add an
    advantage, filter rows); default: the shipped algorithm's, or the identity for a custom loss. ``task`` is read
    from the checkpoint, and must be given with a bare agent.
    """
    t_start = time.perf_counter()
    set_threads(cfg.threads)
    device = resolve_device(cfg.device)
    agent, task = _load_start(start, task, device)
    if cfg.reward is not None:
        task = task.replace(reward=cfg.reward)
    rows = cfg.minibatch_size or cfg.batch_size  # the most rows one update scores (every shipped algorithm)
    check_fits(training_bytes(agent, task, rows), f"an RL update on {rows} episodes of {task.seq_len} tokens",
               "lower --batch-size (or --minibatch-size)")
    # a run killed before its first checkpoint resumes by starting again
    resuming = cfg.resume and cfg.out is not None and has_checkpoint(Path(cfg.out) / RUN_SUBDIR)
    with run_directory(cfg.out, cfg.resume) as out:
        return _train(agent, task, cfg, loss_module, prepare, out, device, progress, t_start, resuming)


def _train(agent, task: CoTTask, cfg: FinetuneConfig, loss_module, prepare, out: Path | None, device: torch.device,
           progress: bool, t_start: float, resuming: bool) -> FinetuneResult:
    """The run of ``finetune`` in its locked run directory ``out`` (None: nothing written)."""
    # FinetuneConfig filled these from the algorithm's defaults
    assert cfg.lr is not None and cfg.kl_coef is not None and cfg.group_size is not None and cfg.epochs is not None
    # the KL's anchor: the agent the run started from, also when it resumes
    reference = copy.deepcopy(agent).eval().requires_grad_(False) if cfg.kl_coef > 0 else None
    state: dict[str, Any] = {"step": 0, "episodes": 0, "streak": 0, "solved_step": None, "time_to_solved_s": None,
                             "elapsed_s": 0.0}
    saved = None
    if resuming:
        assert out is not None  # a run resumes from its run directory
        saved = _restore(out, cfg, task, device)
        agent.load_state_dict(saved.agent.state_dict())
        state = {**state, **saved.meta["finetune_state"]}

    if loss_module is None:
        algorithm = build_algorithm(cfg.algo, agent, task, cfg)
        if prepare is not None:
            algorithm.prepare = prepare
    else:
        algorithm = Algorithm(loss_module, prepare, epochs=cfg.epochs, minibatch_size=cfg.minibatch_size)
    assert algorithm.prepare is not None  # Algorithm makes None the identity
    algorithm.loss.to(device)
    params = list({id(p): p for p in [*agent.parameters(), *algorithm.loss.parameters()] if p.requires_grad}.values())
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.98), weight_decay=0.0)

    # every random stream of the run, seeded from cfg.seed (and restored on resume)
    generator = torch.Generator(device=device).manual_seed(cfg.seed)  # sampling
    shuffle = torch.Generator().manual_seed(cfg.seed + 1)  # minibatch order
    probe_rng = np.random.default_rng([cfg.seed, 1])
    env = task.make_env(cfg.batch_size, device=device, seed=cfg.seed * 1_000_003, group_size=cfg.group_size)
    if saved is not None:
        _restore_streams(saved, agent, algorithm, optimizer, generator, shuffle, probe_rng, env)
    collector = EpisodeCollector(env, agent, task, cfg.temperature, generator, reference)
    eval_every = algorithm.eval_every or cfg.eval_every

    log = RunLog(out, cfg.logger, "step", state["step"] if resuming else None, "finetune",
                 hparams={**config_to_dict(cfg), "task": task.to_dict()})
    elapsed_before = state["elapsed_s"]
    name = cfg.algo if loss_module is None else type(loss_module).__name__

    def save() -> None:
        assert out is not None  # called only with a run directory
        state["elapsed_s"] = elapsed_before + time.perf_counter() - t_start
        _save(out, agent, task, cfg, state, optimizer, algorithm.loss, generator, shuffle, probe_rng, env)

    def solved_long_enough() -> bool:
        after = cfg.steps_after_solved
        return state["solved_step"] is not None and after is not None and state["step"] >= state["solved_step"] + after

    bar = tqdm(total=cfg.steps, initial=state["step"], desc=f"finetune {name}", disable=not progress, unit="step",
               dynamic_ncols=True)
    try:
        while state["step"] < cfg.steps and not solved_long_enough():
            t0 = time.perf_counter()
            try:
                episodes = torch.cat([collector.collect() for _ in range(algorithm.rounds)])  # (B * rounds,)
            except DivergedError as e:
                raise DivergedError(f"step {state['step'] + 1}: {e}; lower --lr (no non-finite checkpoint was "
                                    "written; the last good one is kept)") from None
            t_collect = time.perf_counter() - t0
            losses = _update(algorithm, optimizer, params, algorithm.prepare(episodes), cfg, shuffle, state["step"])
            state["step"] += 1
            state["episodes"] += episodes.shape[0]
            entry = _step_log(state, episodes, losses, t_collect, time.perf_counter() - t0,
                              elapsed_before + time.perf_counter() - t_start)
            if state["step"] % eval_every == 0 or state["step"] == cfg.steps:
                entry.update(greedy_probe(agent, task, cfg.eval_n, probe_rng))
                state["streak"] = state["streak"] + 1 if entry["greedy_accuracy"] >= cfg.target_accuracy else 0
                if state["streak"] >= cfg.target_evals and state["solved_step"] is None:
                    state["solved_step"] = state["step"]
                    state["time_to_solved_s"] = elapsed_before + time.perf_counter() - t_start
            log.append(entry)  # before the checkpoint: after a kill the log holds at least its steps
            bar.update(1)
            bar.set_postfix({k: entry[k] for k in ("reward", "mean_length", "greedy_accuracy") if k in entry})
            if out is not None and (state["step"] % cfg.checkpoint_every == 0 or state["step"] == state["solved_step"]):
                save()
    finally:
        bar.close()
    if out is not None:
        save()
    metrics = evaluate(agent, task, n=cfg.final_eval_n, temperature=1.0, seed=cfg.seed) if cfg.final_eval_n else {}
    return FinetuneResult(
        agent=agent, log=log.entries, metrics=metrics, steps=state["step"], episodes=state["episodes"],
        solved_step=state["solved_step"], time_to_solved_s=state["time_to_solved_s"],
        wall_time_s=elapsed_before + time.perf_counter() - t_start,
        stop_reason="solved" if solved_long_enough() else "steps",
        config=config_to_dict(cfg), task=task,
    )


# --------------------------------------------------------------------------------------------------- pieces
def _load_start(start, task: CoTTask | None, device: torch.device) -> tuple[torch.nn.Module, CoTTask]:
    """The agent to train and its task: from a checkpoint, or a given agent with a given task."""
    if isinstance(start, torch.nn.Module):
        if task is None:
            raise ValueError("finetune(agent, ...) needs task=... (a parity_env task) with a bare agent")
        agent, task = start.to(device), task_from_dict(task)
    else:
        ckpt = load_checkpoint(start, device)
        if task is not None and task_from_dict(task) != ckpt.task:
            raise CheckpointError(f"checkpoint {ckpt.path} is a run of task {ckpt.task.describe()}; asked for "
                                  f"{task_from_dict(task).describe()}")
        agent, task = ckpt.agent, ckpt.task
    check_agent(agent, task)
    agent.train()
    return agent, task


def _restore(out: Path, cfg: FinetuneConfig, task: CoTTask, device: torch.device):
    """The checkpoint of the run in ``out``, checked against ``cfg`` and ``task``."""
    path = out / RUN_SUBDIR
    recover_checkpoint(path)
    ckpt = load_checkpoint(path, device)
    saved = ckpt.meta.get("finetune")
    saved_state = ckpt.meta.get("finetune_state")
    if not isinstance(saved, dict) or not isinstance(saved_state, dict):
        raise CheckpointError(f"{path}: not a fine-tuning checkpoint (no finetune config / state)")
    lacking = [k for k in ("step", "episodes", "streak", "solved_step") if k not in saved_state]
    if lacking:
        raise CheckpointError(f"{path}: the saved training state lacks {lacking}; it cannot be resumed: start a new "
                              "run")
    diff = config_differences(saved, cfg, ignore=RESUMABLE)
    if diff:
        detail = ", ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in diff.items())
        raise ValueError(f"--resume with options that differ from the saved run ({detail})")
    if ckpt.task != task:
        raise CheckpointError(f"{path} is a run of {ckpt.task}, not of {task}")
    missing = [k for k in ("generator", "shuffle", "probe", "env") if k not in ckpt.rng]
    if missing or ckpt.optimizer_state is None:
        raise CheckpointError(f"{path}: the saved state lacks {missing or ['the optimizer']}; it cannot be resumed "
                              "exactly: start a new run")
    return ckpt


def _restore_streams(ckpt, agent, algorithm, optimizer, generator, shuffle, probe_rng, env) -> None:
    """The optimiser, the loss module's weights and every random stream of a saved run."""
    try:
        if ckpt.loss_state is not None:
            load_loss_state(algorithm.loss, agent, ckpt.loss_state)
        optimizer.load_state_dict(ckpt.optimizer_state)
        generator.set_state(ckpt.rng["generator"])
        shuffle.set_state(ckpt.rng["shuffle"])
        probe_rng.bit_generator.state = ckpt.rng["probe"]
        env.set_rng_state(ckpt.rng["env"])
    except (RuntimeError, ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"{ckpt.path}: the saved training state does not fit this run ({e}); start a new "
                              "run, or resume with the loss module it was saved with") from e


def _update(algorithm: Algorithm, optimizer, params, batch: TensorDict, cfg: FinetuneConfig,
            shuffle: torch.Generator, step: int) -> dict:
    """The algorithm's gradient steps on ``batch``; returns the mean of every logged scalar over them."""
    n_rows = batch.shape[0]
    size = min(algorithm.minibatch_size or n_rows, max(n_rows, 1))
    sums: dict[str, float] = {}
    n = 0
    for _ in range(algorithm.epochs):
        order = None
        if algorithm.epochs > 1 or size < n_rows:
            order = torch.randperm(n_rows, generator=shuffle).to(batch.device)  # (n_rows,)
        for start in range(0, n_rows, size):
            mb = batch[order[start : start + size]] if order is not None else batch[start : start + size]
            out = algorithm.loss(mb)
            loss = sum(v for k, v in out.items() if k.startswith("loss_"))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            loss_value = check_finite(step + 1, loss, grad_norm, optimizer.param_groups[0]["lr"])
            optimizer.step()
            check_weights(step + 1, params, optimizer.param_groups[0]["lr"])
            n += 1
            sums["loss"] = sums.get("loss", 0.0) + loss_value
            for k, v in out.items():
                if isinstance(v, torch.Tensor) and v.numel() == 1:
                    sums[k] = sums.get(k, 0.0) + float(v.detach())
    return {k: v / n for k, v in sums.items()} if n else {}


def _step_log(state: dict, episodes: TensorDict, losses: dict, t_collect: float, t_step: float, wall: float) -> dict:
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
        "loss": losses.get("loss"),
        "collect_tokens_per_s": tokens / max(t_collect, 1e-9),
        "step_time_s": t_step,
        "wall_s": wall,
    }
    if "ref_log_prob" in episodes.keys():  # computed only when the KL is in the loss
        kl = kl_k3(episodes["token_log_prob"], episodes["ref_log_prob"])
        entry["kl"] = masked_mean(kl, episodes["response_mask"]).item()
    return entry


@torch.no_grad()
def greedy_probe(agent: torch.nn.Module, task: CoTTask, n: int, rng: np.random.Generator) -> dict:
    """Greedy accuracy and mean answer length (tokens before EOS) on ``n`` fresh prompts: the stopping rule's probe.

    Evaluated in chunks of ``EVAL_CHUNK``.
    """
    was_training = agent.training
    agent.eval()
    correct, length = [], []
    for start in range(0, n, EVAL_CHUNK):
        problems, prompts = task.sample_prompts(min(EVAL_CHUNK, n - start), rng)
        gen = generate(agent, task, prompts.to(agent_device(agent)), temperature=0.0)
        verdict = task.judge(problems, gen.tokens)
        correct.append(verdict.answer_correct)
        length.append(verdict.answer_length)
    agent.train(was_training)
    return {"greedy_accuracy": torch.cat(correct).float().mean().item(),
            "greedy_mean_length": torch.cat(length).float().mean().item()}


def _save(out: Path, agent, task: CoTTask, cfg: FinetuneConfig, state: dict, optimizer, loss_module, generator, shuffle,
          probe_rng, env) -> None:
    meta = {"finetune": config_to_dict(cfg), "finetune_state": dict(state)}
    rng = {"generator": generator.get_state(), "shuffle": shuffle.get_state(), "probe": probe_rng.bit_generator.state,
           "env": env.get_rng_state()}
    save_checkpoint(out / RUN_SUBDIR, agent, task, meta=meta, optimizer=optimizer, rng=rng, loss_module=loss_module)


# --------------------------------------------------------------------------------------------------- CLI
@dataclass
class FinetuneCommand:
    """``parity-cot finetune``'s arguments beside the run's config: where it starts, and what its task must be."""

    checkpoint: str = field(metadata={"positional": True, "metavar": "CHECKPOINT"})
    """The pre-trained checkpoint (a checkpoint, or a pretrain --out directory)."""
    task: TaskExpectation = field(default_factory=TaskExpectation)
    """The task the checkpoint must be of (a check: its own task is fine-tuned)."""


OWN_TASK_FLAGS = ("reward",)
"""Task settings that are flags of FinetuneConfig itself (--reward changes the run's reward), not expectations."""


def add_arguments(parser) -> None:
    """The ``parity-cot finetune`` flags on ``parser``: the command's own, then those of ``FinetuneConfig``."""
    from ..run.config import add_config_arguments

    add_config_arguments(parser, FinetuneCommand, skip=OWN_TASK_FLAGS)
    add_config_arguments(parser, FinetuneConfig)


def main(args) -> int:
    """Run ``parity-cot finetune`` with the parsed ``args``; returns the exit code."""
    from ..run.config import config_from_args

    given = dict(vars(args))
    if "out" not in given:
        raise ValueError("--out DIR is required (the run directory)")
    base = None
    if given.get("resume") and has_checkpoint(Path(given["out"]) / RUN_SUBDIR):
        base = read_checkpoint_config(Path(given["out"]) / RUN_SUBDIR).get("finetune")
    cfg = config_from_args(FinetuneConfig, given, base)
    command = config_from_args(FinetuneCommand, given, skip=OWN_TASK_FLAGS)
    if command.task:
        command.task.check(task_from_dict(read_checkpoint_config(command.checkpoint).get("task")),
                           f"checkpoint {command.checkpoint}")
    result = finetune(command.checkpoint, cfg, progress=args.progress)
    m = result.metrics
    solved = (f"solved at step {result.solved_step} ({result.time_to_solved_s:.1f} s)" if result.solved_step is not None
              else f"not solved (greedy accuracy >= {cfg.target_accuracy} in {cfg.target_evals} probes in a row)")
    why = "the step budget (--steps) is spent" if result.stop_reason == "steps" else "solved"
    print(f"stopped after {result.steps} steps, {result.episodes:,} episodes, {result.wall_time_s:.1f} s ({why}); "
          + solved)
    if m:
        print(f"greedy accuracy {m['greedy_accuracy']:.4f}, greedy length {m['greedy_mean_length']:.2f}, "
              f"sampled long fraction {m['sampled_long_fraction']:.3f}")
    print(f"checkpoint: {Path(cfg.out) / RUN_SUBDIR}")
    return 0
