"""Next-token pre-training on the demonstration mixture until the chain is learned: ``parity-cot pretrain --out DIR``.

    parity-cot pretrain --d 24 --p-long 0.01 --seed 0 --out runs/pre     # writes runs/pre/{checkpoint/,log.jsonl}
    parity-cot pretrain --agent linear --lr 0.05 --out runs/linear       # any agent (agents.models.registry)
    parity-cot pretrain --out runs/pre --resume --max-samples 2000000     # continue a stopped run
    result = pretrain(PretrainConfig(task=Task(d=24, p_long=0.01), seed=0))   # the same from Python (no files)
    parity-cot pretrain --task multiplication --digits 3 --p-long 0.25 --out runs/mul   # any task (parity_env.registry)
    result = pretrain(cfg, model=make_agent("mypkg.agents:make_lstm", cfg.task))   # a model built beforehand
    parity-cot pretrain --data data/d4 --max-samples 2000000 --out runs/fixed  # a fixed dataset (finite samples)

Every step draws a fresh batch from the task's ``sample_demonstrations`` (one seeded numpy stream), or with ``--data
DIR`` takes the next rows of a fixed dataset (``parity-cot dataset demonstrations``; ``agents.ntp.data``: the rows in
order, then again reshuffled by the seed), and minimises the
cross-entropy of the response tokens only (answer bits and EOS; the prompt is never a target). Two savings leave the
loss unchanged: short rows are cut after their EOS, and agents that take ``logits_from`` compute outputs only from
the last prompt position on. The learning rate stays high until most sampled chains are right, then decays
(``PretrainConfig.schedule``).

Stopping rule ("the chain is learned", ``agents.run.evaluate.chain_check``): of the first 200 long-form responses (more
than one bit before EOS) sampled at temperature 1 on fresh prompts, at least 99% are exactly the correct chain.
Teacher-forced chain accuracy is not used: it reaches 1.0 long before sampled chains are right. Otherwise the run
stops at its sample budget, ``max_samples``, and says so. A run is reproducible from its seed and resumes
bit-identically on the CPU (the data stream's state is in the checkpoint).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from parity_env.checks import check_int, check_probability, check_run_seed
from parity_env.contract import CoTTask
from parity_env.registry import make_task

from ..models.agent import agent_device, agent_logits, check_agent
from ..models.registry import AgentSpec, agent_spec, build_agent
from ..run.checkpoint import (
    RUN_SUBDIR,
    CheckpointError,
    has_checkpoint,
    load_checkpoint,
    read_checkpoint_config,
    recover_checkpoint,
    save_checkpoint,
)
from ..run.config import config_differences, config_to_dict
from ..run.evaluate import chain_check, evaluate
from ..run.logs import LOGGERS, RunLog, check_logger
from ..run.memory import check_fits, training_bytes
from ..run.task_options import as_task
from ..run.training import check_finite, check_weights, resolve_device, run_directory, set_threads
from .data import DataSource, read_record

GPT_SIZE_FLAGS = ("n_layer", "n_head", "d_model", "positional", "init_std")


@dataclass
class PretrainConfig:
    """Everything that defines a pre-training run (saved in the checkpoint; ``--resume`` reuses it)."""

    task: CoTTask = field(default_factory=make_task)
    """The task and its settings (parity by default: d = 24, p_long = 0.01)."""
    agent: str = "gpt"
    """The agent to pre-train: gpt, linear, hf, a name given to agents.register_agent, or a factory's import path
    'package.module:function'."""
    agent_config: dict = field(default_factory=dict)
    """The agent factory's keyword arguments, a JSON object such as '{"n_layer": 2, "d_model": 128}'."""
    n_layer: int | None = field(default=None, metadata={"only": ("agent", ("gpt",))})
    """gpt only: transformer blocks (None: the gpt agent's default, 1)."""
    n_head: int | None = field(default=None, metadata={"only": ("agent", ("gpt",))})
    """gpt only: attention heads (None: 4)."""
    d_model: int | None = field(default=None, metadata={"only": ("agent", ("gpt",))})
    """gpt only: model width (None: 64)."""
    positional: Literal["learned", "rotary"] | None = field(default=None, metadata={"only": ("agent", ("gpt",))})
    """gpt only: position encoding, learned or rotary (None: learned)."""
    init_std: float | None = field(default=None, metadata={"only": ("agent", ("gpt",))})
    """gpt only: standard deviation of the initial weights (None: 0.1)."""
    batch_size: int = 256
    """Demonstrations per step."""
    data: str | None = None
    """A dataset directory written by parity-cot dataset demonstrations, to train on instead of fresh samples
    (finite-sample studies; None: a fresh batch every step). Batch k is its rows kB .. (k+1)B - 1; once they are
    used up they come again, in an order shuffled by the run's seed, and the log's points say which pass
    (``data_pass``). Its task must be the run's (on the command line the task is the dataset's, but for the task
    options typed). A dataset
    of the online stream (same seed and batch size) gives the online run bit for bit (``agents.ntp.data``)."""
    lr: float = 3e-3
    """Peak AdamW learning rate. High for AdamW, but the model is tiny and the data fresh; twice this stalled at a
    half-learned chain. It finds the chain fast but leaves it noisy, hence the decay (``schedule``)."""
    warmup_samples: int = 25_600
    """Samples of linear learning-rate warm-up (100 steps of 256): avoids early blow-ups at the high rate."""
    schedule: Literal["chain", "constant", "cosine"] = "chain"
    """After warm-up: chain (keep lr until the chain is mostly learned, then decay), constant, or cosine (to lr / 10
    at max_samples). A schedule fixed in advance decays too early for the seeds that find the chain late, and at a
    constant rate the first chain bits stay noisy (benchmarks/README.md, the pre-training recipe)."""
    decay_trigger: float = 0.85
    """chain schedule: the decay starts at the first evaluation point where at least this fraction of the judged
    long-form responses (at least ``DECAY_MIN_JUDGED`` of them) are exactly the chain."""
    decay_half_life: int = 50_000
    """chain schedule: samples per halving of the learning rate once the decay has started."""
    decay_floor: float = 0.01
    """chain schedule: the learning rate never falls below decay_floor * lr. It sets how precisely the model ends up
    calibrated prompt by prompt, which decides greedy decoding near the 1/3 threshold."""
    betas: tuple[float, float] = (0.9, 0.98)
    """AdamW betas."""
    weight_decay: float = 0.0
    """AdamW weight decay. None by default: fresh data cannot be overfitted, and decay fights the large logits a sure
    chain needs."""
    grad_clip: float = 1.0
    """Gradient-norm clip."""
    short_rows: int | None = None
    """Short demonstrations per batch whose loss is computed, a uniform subset weighted up so that the gradient stays
    an unbiased estimate of the whole batch's (None: all). The long rows are always all computed."""
    max_samples: int = 5_000_000
    """Sample budget (demonstrations seen); about 10x what p_long = 0.01 usually needs at d = 24."""
    seed: int = 0
    """Seed of the initialisation, the data stream and the evaluations."""
    device: str = "cpu"
    """torch device: cpu, cuda, cuda:1, ...; bf16 autocast on CUDA."""
    threads: int | None = 1
    """torch CPU threads (process-wide; None: torch's default). One: these matmuls are too small to gain from a
    second thread, and OpenMP threads spin on a busy CPU."""
    eval_every: int = 25_600
    """Samples between evaluation points (the chain check, a small greedy evaluation, a log line, a checkpoint)."""
    stop_when_learned: bool = True
    """Stop at the first evaluation point where the chain is learned."""
    check_n_long: int = 200
    """Long-form sampled responses the chain check judges."""
    check_max_error: float = 0.01
    """Largest fraction of them that may be wrong for the chain to count as learned."""
    eval_n: int = 256
    """Prompts of the greedy evaluation at each evaluation point (small: it is only logged)."""
    final_eval_n: int = 4096
    """Prompts per mode of the evaluation after the run (0 skips it)."""
    out: str | None = None
    """Run directory (checkpoint/, log.jsonl, logs/); new or empty unless resume. None writes nothing (Python only)."""
    resume: bool = False
    """Continue the run in out from its checkpoint (or start it, if it never reached one); options not given take the
    run's saved values."""
    logger: str = field(default="csv", metadata={"choices": LOGGERS})
    """Where log.jsonl is mirrored for plotting tools: a TorchRL logger (csv, tensorboard, wandb) in out/logs, or
    none."""

    def __post_init__(self) -> None:
        self.task = as_task(self.task)
        check_logger(self.logger)
        if self.task.p_long == 0:
            raise ValueError("p_long must be > 0: with no long demonstration there is no chain to learn")
        self.task.check_long_form_fits()
        for name in ("batch_size", "max_samples", "eval_every", "check_n_long"):
            setattr(self, name, check_int(name, getattr(self, name), 1))
        self.seed = check_run_seed(self.seed)
        for name in ("warmup_samples", "eval_n", "final_eval_n"):
            setattr(self, name, check_int(name, getattr(self, name), 0))
        if self.short_rows is not None:
            self.short_rows = check_int("short_rows", self.short_rows, 1)
        if self.data is not None:
            self.data = str(self.data)  # a path given as a Path: the config stays JSON-plain
        if self.threads is not None:
            self.threads = check_int("threads", self.threads, 1)
        for name in ("lr", "grad_clip"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
        if isinstance(self.weight_decay, bool) or not 0 <= self.weight_decay < math.inf:
            raise ValueError(f"weight_decay must be a finite number >= 0; got {self.weight_decay!r}")
        betas = tuple(float(b) for b in self.betas)
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"betas must be two numbers in [0, 1); got {betas}")
        self.betas = (betas[0], betas[1])
        if self.schedule not in ("chain", "constant", "cosine"):
            raise ValueError(f"schedule must be 'chain', 'constant' or 'cosine'; got {self.schedule!r}")
        self.decay_half_life = check_int("decay_half_life", self.decay_half_life, 1)
        for name in ("decay_trigger", "decay_floor", "check_max_error"):
            check_probability(name, getattr(self, name))
        if not isinstance(self.agent_config, dict):
            raise ValueError(f"agent_config must be a JSON object (a dict); got {self.agent_config!r}")
        self.agent_kwargs()  # the size flags apply to the gpt agent only: say so now, not at the first step

    def agent_kwargs(self) -> dict:
        """The factory's keyword arguments: ``agent_config`` with the GPT size flags that were given."""
        sizes = {k: getattr(self, k) for k in GPT_SIZE_FLAGS if getattr(self, k) is not None}
        if sizes and self.agent != "gpt":
            flags = ", ".join("--" + k.replace("_", "-") for k in sizes)
            raise ValueError(f"{flags} apply to the gpt agent only; give agent {self.agent!r} its settings with "
                             "--agent-config JSON")
        clash = sorted(k for k in sizes if k in self.agent_config and self.agent_config[k] != sizes[k])
        if clash:
            raise ValueError(f"{clash} given both as flags and in --agent-config, with different values")
        return {**self.agent_config, **sizes}

    def lr_at(self, samples: int, decay_start: int | None = None) -> float:
        """Learning rate after ``samples`` demonstrations: linear warm-up, then the schedule.

        ``decay_start`` is the sample count at which the "chain" schedule's decay started (None: not yet).
        """
        if samples < self.warmup_samples:
            return self.lr * (samples + self.batch_size) / (self.warmup_samples + self.batch_size)
        if self.schedule == "chain":
            if decay_start is None:
                return self.lr
            return self.lr * max(self.decay_floor, 0.5 ** ((samples - decay_start) / self.decay_half_life))
        if self.schedule == "constant":
            return self.lr
        frac = min(1.0, (samples - self.warmup_samples) / max(1, self.max_samples - self.warmup_samples))
        return self.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


DECAY_MIN_JUDGED = 20
"""Long-form responses the chain check must have judged before its exact fraction can start the "chain" decay (the
check stops early once it has seen too many errors, so it often judges fewer than 200)."""

STATE_KEYS = ("samples", "steps", "elapsed_s", "train_s", "tokens", "flops", "decay_start", "time_to_learned_s",
              "stop_reason")  # the training state a checkpoint carries

# Options a resumed run may change; every other option must match the checkpoint (else the run would be another run).
RESUMABLE = ("max_samples", "device", "threads", "eval_every", "stop_when_learned", "eval_n", "final_eval_n", "out",
             "resume", "logger", "schedule")  # schedule: a continuation may go on at another one (the NTP control)


@dataclass
class PretrainResult:
    """What ``pretrain`` returns: the trained agent, its final evaluation, the log and the run's costs."""
    agent: torch.nn.Module
    metrics: dict  # the final evaluation (empty when final_eval_n = 0)
    samples: int  # demonstrations trained on
    steps: int
    wall_time_s: float  # this process's time, final evaluation included
    time_to_learned_s: float | None  # wall time when the chain check passed (evaluations included), None if never
    stop_reason: str  # "learned" or "max_samples"
    log: list[dict] = field(default_factory=list)  # one dict per evaluation point
    tokens_per_s: float = 0.0  # training tokens (input positions) per second of training steps
    flop_per_s: float | None = None  # training matmul FLOPs per second (agents with forward_flops, e.g. the GPT)
    config: dict = field(default_factory=dict)  # the PretrainConfig as JSON-plain data
    task: CoTTask = field(default_factory=make_task)


# --------------------------------------------------------------------------------------------------- one step
def _split_batch(tokens: np.ndarray, mask: np.ndarray, is_long: np.ndarray, prompt_len: int,
                 short_rows: int | None, rng: np.random.Generator):
    """(inputs, targets, weight) for the short rows and the long rows, each cut after the longest response of its kind.

    Inputs are whole rows; targets (row t predicts token t + 1) start at the last prompt position, the first that
    predicts a response token: agents that can compute logits from there on only (``logits_from``).
    With ``short_rows`` = k, only a uniform random subset of k short rows is computed, with weight n_short / k, so the
    gradient is still an unbiased estimate of the whole batch's (stratified sampling: the mixture stays p_long).
    Targets outside the response are -100 (ignored).
    """
    parts = []
    short = np.flatnonzero(~is_long)
    weight = 1.0
    if short_rows is not None and short.size > short_rows:
        weight = short.size / short_rows
        short = np.sort(rng.choice(short, size=short_rows, replace=False))
    ends = mask.shape[1] - np.argmax(mask[:, ::-1], axis=1)  # (n,) one past each row's last response token
    for rows, w in ((short, weight), (np.flatnonzero(is_long), 1.0)):
        if rows.size:  # tokens kept: prompt, answer, EOS
            end = int(ends[rows].max())
            tok, msk = tokens[rows, :end], mask[rows, :end]  # (b, end)
            targets = np.where(msk[:, prompt_len:], tok[:, prompt_len:], -100)  # (b, end - P): positions P-1 .. end-2
            parts.append((tok[:, :-1], targets, w))
    return parts


def _loss(agent: torch.nn.Module, parts, normaliser: float, prompt_len: int, device: torch.device, amp: bool
          ) -> tuple[torch.Tensor, int]:
    """Weighted sum of the response tokens' cross-entropy over ``normaliser``, and the forward FLOPs it took.

    ``normaliser`` is the batch's expected target count; the FLOPs are 0 for agents without ``forward_flops``.
    """
    total: torch.Tensor | float = 0.0
    flops = 0
    flops_of = getattr(agent, "forward_flops", None)
    for inputs, targets, weight in parts:
        x = torch.from_numpy(inputs).to(device, non_blocking=True)  # (b, T)
        y = torch.from_numpy(targets).to(device, non_blocking=True)  # (b, T - P + 1)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            logits = agent_logits(agent, x, prompt_len - 1)  # (b, T - P + 1, A)
        ce = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), ignore_index=-100, reduction="sum")
        total = total + weight * ce
        if flops_of is not None:
            flops += inputs.shape[0] * flops_of(inputs.shape[1], logits_from=prompt_len - 1)
    assert isinstance(total, torch.Tensor)  # a batch has rows: at least one part
    return total / normaliser, flops


# --------------------------------------------------------------------------------------------------- the run
def pretrain(cfg: PretrainConfig, model: torch.nn.Module | None = None, progress: bool = True) -> PretrainResult:
    """Train ``model``, or resume ``cfg.out`` when ``cfg.resume``, until the chain is learned or the budget ends.

    The default ``model`` is a fresh ``make_agent(cfg.agent, cfg.task, **cfg.agent_kwargs())`` seeded by
    ``cfg.seed``. A given ``model`` is trained in place; its ``agent_spec`` (set by ``make_agent``) replaces
    ``cfg.agent`` and ``cfg.agent_config`` in what the run records, and is needed to write a checkpoint.
    """
    t_start = time.perf_counter()
    set_threads(cfg.threads)
    device = resolve_device(cfg.device)
    task = cfg.task
    if model is not None:
        if cfg.resume:
            raise ValueError("pretrain(cfg, model=...) starts a new run: resume rebuilds the model from cfg.out")
        check_agent(model, task)
        if cfg.out is not None or getattr(model, "agent_spec", None) is not None:
            spec = agent_spec(model)
            sizes: dict[str, Any] = dict.fromkeys(GPT_SIZE_FLAGS)  # cleared: the spec's config is the agent's
            cfg = replace(cfg, agent=spec.name, agent_config=spec.config, **sizes)
    # a run killed before its first checkpoint resumes by starting again
    resuming = cfg.resume and cfg.out is not None and has_checkpoint(Path(cfg.out) / RUN_SUBDIR)
    # the dataset is read and its task checked before anything is written: a wrong one writes nothing
    source = DataSource.open(cfg.data, task, cfg.seed) if cfg.data is not None else None
    if model is None and not resuming:  # built before anything is written: a bad agent config writes nothing
        model = initial_agent(cfg, check=False)
        check_fits(training_bytes(model, task, cfg.batch_size),  # a batch the machine cannot hold: refused now
                   f"a pre-training step of {cfg.batch_size} demonstrations of {task.seq_len} tokens",
                   "lower --batch-size (or compute fewer short rows with --short-rows)")
        check_agent(model, task)
    with run_directory(cfg.out, cfg.resume) as out:
        return _train(cfg, model, out, device, progress, t_start, resuming, source)


def _train(cfg: PretrainConfig, model: torch.nn.Module | None, out: Path | None, device: torch.device,
           progress: bool, t_start: float, resuming: bool, source: DataSource | None = None) -> PretrainResult:
    """The run of ``pretrain`` in its locked run directory ``out`` (None: nothing written).

    On fresh samples or on the fixed dataset ``source`` (then ``data_rng`` only draws the short_rows subsets).
    """
    task = cfg.task
    amp = device.type == "cuda"  # bf16 autocast helps on GPUs; on CPUs it is slower for models this small
    saved_metrics = None  # a finished run's final evaluation, reused when a resume trains no further
    state: dict[str, Any]  # the training state a checkpoint saves (STATE_KEYS and the run's markers)
    if resuming:
        agent, optimizer, data_rng, state, saved_metrics = _restore(cfg, device, source)
    else:
        assert model is not None  # pretrain builds it when the run does not resume
        agent = model.to(device)
        optimizer = torch.optim.AdamW(agent.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
        data_rng = np.random.default_rng(cfg.seed)
        state = dict.fromkeys(STATE_KEYS, 0) | {"decay_start": None, "time_to_learned_s": None, "stop_reason": None}

    log = RunLog(out, cfg.logger, "steps", state["steps"] if resuming else None, "pretrain",
                 hparams=config_to_dict(cfg))
    steps_before = state["steps"]
    normaliser = cfg.batch_size * task.expected_response_tokens  # expected response tokens per batch
    params = list(agent.parameters())
    elapsed_before = state["elapsed_s"]
    bar = tqdm(total=cfg.max_samples, initial=min(state["samples"], cfg.max_samples), unit="seq", unit_scale=True,
               disable=not progress, desc=f"pretrain {cfg.agent} {task.name} p_long={task.p_long}", dynamic_ncols=True)
    loss_sum: torch.Tensor | float = 0.0
    loss_n = 0.0
    data_pass = source.pass_of(max(state["samples"] - 1, 0)) if source is not None else 0
    agent.train()
    while state["stop_reason"] is None:
        if state["samples"] >= cfg.max_samples:
            state["stop_reason"] = "max_samples"
            break
        t0 = time.perf_counter()
        lr = cfg.lr_at(state["samples"], state["decay_start"])
        for group in optimizer.param_groups:
            group["lr"] = lr
        if source is None:
            tokens, mask, is_long = task.sample_demonstrations(cfg.batch_size, seed=data_rng)
        else:  # the next rows of the fixed dataset: the stream position is the sample count
            tokens, mask, is_long = source.batch(state["samples"], cfg.batch_size)
            if source.pass_of(state["samples"] + cfg.batch_size - 1) > data_pass:
                data_pass = source.pass_of(state["samples"] + cfg.batch_size - 1)
                if progress:
                    tqdm.write(f"pretrain: the dataset's {source.rows:,} rows are used up after {state['samples']:,} "
                               f"samples; pass {data_pass} takes them again, shuffled by the seed")
        parts = _split_batch(tokens, mask, is_long, task.prompt_len, cfg.short_rows, data_rng)
        loss, forward_flops = _loss(agent, parts, normaliser, task.prompt_len, device, amp)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        check_finite(state["steps"] + 1, loss, grad_norm, lr)
        optimizer.step()
        check_weights(state["steps"] + 1, params, lr)
        state["samples"] += cfg.batch_size
        state["steps"] += 1
        state["tokens"] += sum(inputs.size for inputs, _, _ in parts)
        state["flops"] += 3 * forward_flops  # backward ~ 2x forward
        loss_sum, loss_n = loss_sum + loss.detach(), loss_n + 1
        state["train_s"] += time.perf_counter() - t0
        bar.update(cfg.batch_size)
        if state["steps"] % 10 == 0:
            bar.set_postfix(loss=f"{float(loss_sum) / loss_n:.4f}", tok_s=f"{state['tokens'] / state['train_s']:,.0f}")

        if state["samples"] % cfg.eval_every < cfg.batch_size or state["samples"] >= cfg.max_samples:
            point = _evaluation_point(agent, cfg, state, float(loss_sum) / max(loss_n, 1))
            if source is not None and source.pass_of(state["samples"] - 1) > 0:  # the rows are being reused
                point["data_pass"] = source.pass_of(state["samples"] - 1)
            loss_sum = loss_n = 0.0
            point["elapsed_s"] = elapsed_before + time.perf_counter() - t_start
            log.append(point)
            bar.set_postfix(loss=f"{point['loss']:.4f}", long_ok=f"{point['check_n_long'] - point['check_n_wrong']}"
                            f"/{point['check_n_long']}", greedy=f"{point.get('greedy_accuracy', float('nan')):.2f}")
            judged = point["check_n_long"]
            if (state["decay_start"] is None and judged >= DECAY_MIN_JUDGED
                    and judged - point["check_n_wrong"] >= cfg.decay_trigger * judged):
                state["decay_start"] = state["samples"]
            if point["chain_learned"] and state["time_to_learned_s"] is None:
                state["time_to_learned_s"] = point["elapsed_s"]
            if point["chain_learned"] and cfg.stop_when_learned:
                state["stop_reason"] = "learned"
            elif state["samples"] >= cfg.max_samples:
                state["stop_reason"] = "max_samples"
            state["elapsed_s"] = point["elapsed_s"]
            if out is not None:
                _save(out, cfg, agent, optimizer, data_rng, state, source=source)
    bar.close()

    metrics = {}
    if saved_metrics and state["steps"] == steps_before and saved_metrics.get("n") == cfg.final_eval_n:
        metrics = saved_metrics
    elif cfg.final_eval_n:
        metrics = evaluate(agent, task, n=cfg.final_eval_n, seed=cfg.seed + 1)
    wall = elapsed_before + time.perf_counter() - t_start
    if out is not None:
        _save(out, cfg, agent, optimizer, data_rng, {**state, "elapsed_s": wall}, final_metrics=metrics,
              source=source)
    agent.eval()
    train_s = max(state["train_s"], 1e-9)
    assert state["stop_reason"] is not None  # the loop ran until it was set
    return PretrainResult(
        agent=agent, metrics=metrics, samples=state["samples"], steps=state["steps"], wall_time_s=wall,
        time_to_learned_s=state["time_to_learned_s"], stop_reason=state["stop_reason"], log=log.entries,
        tokens_per_s=state["tokens"] / train_s,
        flop_per_s=state["flops"] / train_s if hasattr(agent, "forward_flops") else None,
        config=config_to_dict(cfg), task=task,
    )


def initial_agent(cfg: PretrainConfig, check: bool = True) -> torch.nn.Module:
    """The fresh agent a run of ``cfg`` starts from: its initialisation drawn from ``cfg.seed`` alone.

    The global RNG is left as it was. ``check=False`` leaves the contract check to the caller (after the memory
    estimate: the check runs the agent on the task's full sequence length).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return build_agent(AgentSpec(cfg.agent, cfg.agent_kwargs()), cfg.task, check=check)


def _evaluation_point(agent: torch.nn.Module, cfg: PretrainConfig, state: dict, loss: float) -> dict:
    """The chain check and a small greedy evaluation, seeded by the step so that a resumed run repeats them."""
    seed = cfg.seed * 1_000_003 + state["steps"]
    check = chain_check(agent, cfg.task, n_long=cfg.check_n_long, max_error=cfg.check_max_error, seed=seed)
    point = {"samples": state["samples"], "steps": state["steps"], "loss": loss,
             "lr": cfg.lr_at(state["samples"], state["decay_start"]),
             "chain_learned": check["passed"]}
    point.update({f"check_{k}": v for k, v in check.items() if k != "passed"})
    point["chain_loss"] = _chain_loss(agent, cfg.task, seed)
    if cfg.eval_n:
        ev = evaluate(agent, cfg.task, n=cfg.eval_n, seed=seed)
        point.update({k: ev[k] for k in ("greedy_accuracy", "greedy_mean_length", "sampled_long_fraction")})
    agent.train()
    return point


@torch.no_grad()
def _chain_loss(agent: torch.nn.Module, task: CoTTask, seed: int, n: int = 256) -> float:
    """Teacher-forced cross-entropy of the long answer's tokens after its first two, EOS excluded.

    On ``n`` long demonstrations (progress only; the second token is left out, as its position is also where the
    agent chooses to continue or stop).

    It falls long before sampled chains are right (see the module docstring), so it is logged, never a stopping rule.
    """
    tokens, mask, _ = task.long_only().sample_demonstrations(n, seed=seed)
    P = task.prompt_len
    end = int((mask.shape[1] - np.argmax(mask[:, ::-1], axis=1)).max())  # one past the longest response
    scored = mask[:, 1:end] & (tokens[:, 1:end] != task.eos)  # (n, end - 1): targets of positions 0 .. end - 2
    scored[:, : P + 1] = False  # position j predicts token j + 1: the answer's tokens 3.. are targets from P + 2 on
    if not scored.any():
        return float("nan")
    agent.eval()
    x = torch.from_numpy(tokens[:, : end - 1]).to(agent_device(agent))  # (n, end - 1)
    logits = agent_logits(agent, x)  # (n, end - 1, A)
    sel = torch.from_numpy(scored).to(logits.device)
    targets = torch.from_numpy(tokens[:, 1:end]).to(logits.device)[sel]
    return F.cross_entropy(logits[sel].float(), targets).item()


def _save(out: Path, cfg, agent, optimizer, data_rng, state, final_metrics=None, source=None) -> None:
    """The checkpoint: weights, optimizer, training state and the data stream's RNG (the log is already written).

    With a fixed dataset, also which one (its sha256) and the position in it.
    """
    meta = {"pretrain_config": config_to_dict(cfg), "training_state": state, "final_metrics": final_metrics}
    if source is not None:
        meta["data"] = source.record(state["samples"])
    save_checkpoint(out / RUN_SUBDIR, agent, cfg.task, meta=meta, optimizer=optimizer,
                    rng={"data": data_rng.bit_generator.state})


def _restore(cfg: PretrainConfig, device: torch.device, source: DataSource | None = None):
    """Agent, optimizer, data stream, training state and final evaluation of the run in ``cfg.out``.

    The final evaluation is None before the run ended. Checked against ``cfg`` (and its fixed dataset against
    ``source``).
    """
    if cfg.out is None:
        raise ValueError("resume needs out: the run directory to continue")
    recover_checkpoint(Path(cfg.out) / RUN_SUBDIR)
    ckpt = load_checkpoint(Path(cfg.out), device=device)
    saved = ckpt.meta.get("pretrain_config")
    if not isinstance(saved, dict) or "training_state" not in ckpt.meta or "data" not in ckpt.rng:
        raise CheckpointError(f"{ckpt.path}: not a pre-training checkpoint (no pretrain_config / training state)")
    differ = config_differences(saved, cfg, ignore=RESUMABLE)
    if differ:
        listing = ", ".join(f"{k} = {v[1]!r} (checkpoint: {v[0]!r})" for k, v in differ.items())
        raise ValueError(f"--resume with options that differ from the run in {cfg.out}: {listing}; drop them")
    agent = ckpt.agent.train()
    optimizer = torch.optim.AdamW(agent.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    data_rng = np.random.default_rng()
    try:
        if ckpt.optimizer_state is None:
            raise KeyError("the optimizer's state")
        optimizer.load_state_dict(ckpt.optimizer_state)
        data_rng.bit_generator.state = ckpt.rng["data"]
        state = dict(ckpt.meta["training_state"])
        missing = [k for k in STATE_KEYS if k not in state]
        if missing:
            raise KeyError(f"training state keys {missing}")
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{ckpt.path}: the saved training state is incomplete or garbled ({e}); it cannot be "
                              "resumed: start a new run") from e
    if source is not None:
        saved_data = ckpt.meta.get("data") or {}
        if saved_data.get("sha256") != source.record(0)["sha256"]:
            raise ValueError(f"--data {cfg.data} is not the dataset the run in {cfg.out} was trained on (its sha256 "
                             "differs); resume it with that dataset")
        if saved_data.get("position") != state["samples"]:
            raise CheckpointError(f"{ckpt.path}: its position in the dataset ({saved_data.get('position')}) is not "
                                  f"its sample count ({state['samples']}); it cannot be resumed: start a new run")
    if state["stop_reason"] == "max_samples" and state["samples"] < cfg.max_samples:
        state["stop_reason"] = None  # a larger budget continues the run
    if state["stop_reason"] == "learned" and not cfg.stop_when_learned:
        state["stop_reason"] = None
    return agent, optimizer, data_rng, state, ckpt.meta.get("final_metrics")


# --------------------------------------------------------------------------------------------------- command line
EPILOG = ("Stops when the chain is learned (>= 99% of 200 long-form responses sampled at temperature 1 are exactly "
          "the chain) or at --max-samples, and says which. Options left out take the defaults shown, or with "
          "--resume the values of the run being continued.")


def add_arguments(parser) -> None:
    """The ``parity-cot pretrain`` flags on ``parser``: those of ``PretrainConfig``."""
    from ..run.config import add_config_arguments

    parser.epilog = EPILOG
    add_config_arguments(parser, PretrainConfig)


GPT_SETTINGS = ("agent_config", "n_layer", "n_head", "d_model", "positional", "init_std")
"""The options that set the agent's shape: given any of them, a task's recipe keeps its hands off the agent."""


def task_recipe(task: CoTTask, agent: str, shaped: bool) -> dict:
    """The task's pre-training recipe (``task.pretrain_recipe``) for a run of ``agent``.

    Its agent_config counts only for the gpt agent, and only where the run gives no agent settings (``shaped``).
    """
    recipe = dict(task.pretrain_recipe)
    agent_config = recipe.pop("agent_config", None)
    if agent_config is not None and agent == "gpt" and not shaped:
        recipe["agent_config"] = agent_config
    return recipe


def main(args) -> int:
    """Run ``parity-cot pretrain`` with the parsed ``args``; returns the exit code.

    A new run starts from its task's recipe (``task_recipe``) under the options typed.
    """
    from ..run.config import config_from_args
    from ..run.task_options import build_task

    given = dict(vars(args))
    if "out" not in given:
        raise ValueError("--out DIR is required (the run directory)")
    base = _saved_config(Path(given["out"])) if given.get("resume") else None
    if given.get("data") is not None and not base:  # a new run on a dataset: its task, but for the flags typed
        base = {"task": read_record(given["data"], f"--data {given['data']}")["task"]}
    if not given.get("resume"):  # a new run: its task's recipe under the options typed
        task = build_task(given, (base or {}).get("task"))
        recipe = task_recipe(task, given.get("agent", PretrainConfig.agent), any(k in given for k in GPT_SETTINGS))
        base = {**recipe, **(base or {})}
    cfg = config_from_args(PretrainConfig, given, base)
    result = pretrain(cfg, progress=args.progress)
    how = {"learned": "the chain is learned", "max_samples": "the sample budget (--max-samples) is spent"}
    print(f"stopped after {result.samples:,} samples ({result.steps} steps, {result.wall_time_s:.1f} s): "
          f"{how[result.stop_reason]}"
          + (f" (at {result.time_to_learned_s:.1f} s)" if result.time_to_learned_s else ""))
    if cfg.data is not None:
        rows = read_record(cfg.data)["rows"]
        print(f"data: {cfg.data}, {rows:,} rows, {result.samples / rows:.2f} passes over them")
    if result.metrics:
        print(json.dumps({k: v for k, v in result.metrics.items() if k != "mistakes"}))
    print(f"checkpoint: {Path(cfg.out) / RUN_SUBDIR}")
    return 0


def _saved_config(out: Path) -> dict:
    """The PretrainConfig dict stored in the run's checkpoint (options not given on a resumed command line).

    {} when there is none yet (the run itself then says why it cannot resume).
    """
    try:
        saved = read_checkpoint_config(out).get("pretrain_config")
    except CheckpointError:
        return {}
    if not isinstance(saved, dict):
        raise CheckpointError(f"{out}: not a pre-training checkpoint (no pretrain_config)")
    return dict(saved)
