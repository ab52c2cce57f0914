"""Next-token pre-training on the demonstration mixture until the chain is learned: ``parity-cot pretrain --out DIR``.

    parity-cot pretrain --d 24 --p-long 0.01 --seed 0 --out runs/pre     # writes runs/pre/{checkpoint/,log.jsonl}
    parity-cot pretrain --out runs/pre --resume --max-samples 2000000     # continue a stopped run
    result = pretrain(PretrainConfig(d=24, p_long=0.01, seed=0))          # the same from Python (no files by default)

Every step draws a fresh batch from ``parity_env.demonstrations.sample_demonstrations`` (one seeded numpy stream) and
minimises the cross-entropy of the response tokens only (answer bits and EOS; the prompt is never a target).
Two savings leave the loss unchanged: short rows are cut after their EOS, and the model computes outputs only from
the SEP on (``GPT.forward(..., logits_from=d)``: the prompt positions give the last block keys and values only), which
together cut the work per step ~6x at p_long = 0.01. The learning rate stays high until most sampled chains are
right, then decays (``PretrainConfig.schedule``).

Stopping rule ("the chain is learned", ``agents.evaluate.chain_check``): of the first 200 long-form responses (more
than one bit before EOS) sampled at temperature 1 on fresh prompts, at least 99% are exactly the correct chain.
Teacher-forced chain accuracy is not used: it reaches 1.0 long before sampled chains are right. Otherwise the run
stops at its sample budget, ``max_samples``, and says so.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from parity_env.demonstrations import sample_demonstrations
from parity_env.protocol import chain_length, check_int, check_probability, check_task

from .checkpoint import CheckpointError, RUN_SUBDIR, load_checkpoint, save_checkpoint
from .evaluate import chain_check, evaluate
from .model import GPT, GPTConfig

LOG_FILE = "log.jsonl"


@dataclass
class PretrainConfig:
    """Everything that defines a pre-training run (saved in the checkpoint; ``--resume`` reuses it)."""

    # the task
    d: int = 24
    p_long: float = 0.01
    leap: int = 1
    max_response_len: int | None = None
    """Response slots; None = d + 1 (the full chain and its EOS), the environment's default."""
    # the model
    n_layer: int = 1
    """One block suffices (attend to x_{i+1}, xor it with the current token) and escapes the initial plateau sooner
    than two at d = 24, p_long = 0.01 (measured: 2 blocks still at chance after 1100 steps, 1 block learned by ~500)."""
    n_head: int = 4
    """8 heads learned chain bits 3..d sooner in one run but not the sampled check (bit 2) by 1700 steps; 4 passed."""
    d_model: int = 64
    positional: str = "learned"
    """Learned absolute positions: rotary ones plateaued at half-learned chains in our runs at d = 24."""
    init_std: float = 0.1
    """5x GPT-2's 0.02: the chain is an xor behind an attention pattern, a saddle whose escape time grows as the
    weights shrink; at 0.02 nothing was learned in 2000 steps, at 0.1 the chain loss drops after ~300 steps."""
    # optimisation
    batch_size: int = 256
    lr: float = 3e-3
    """High for AdamW, but the model is tiny and the data fresh; measured at d = 24, p_long = 0.01: 6e-3 stalled at a
    half-learned chain. It finds the chain fast but leaves it noisy (see ``schedule``)."""
    warmup_samples: int = 25_600
    """Linear warm-up over the first 100 steps of 256: avoids early blow-ups at the high learning rate."""
    schedule: str = "chain"
    """After warm-up: "chain" keeps lr until the chain is mostly learned, then decays it (``decay_*`` below);
    "constant"; or "cosine" to lr / 10 at max_samples. Measured at d = 24, p_long = 0.01, seed 2: at a constant
    3e-3 the sampled chains hover at 95-98% exact for 900k samples (the errors sit in the first two chain bits, whose
    logits compete with EOS's and stay noisy) and the check passed at 1.13M samples; with "chain", at 819k (the
    slowest of seeds 0-4: benchmarks/pretrain_speed.py). A schedule fixed in advance decays too early for the seeds
    that find the chain late (a cosine to max_samples froze one chain position unlearned)."""
    decay_trigger: float = 0.85
    """"chain" schedule: the decay starts at the first evaluation point where at least this fraction of the long-form
    responses the chain check judged (at least ``DECAY_MIN_JUDGED``) are exactly the chain."""
    decay_half_life: int = 50_000
    """"chain" schedule: samples over which the learning rate halves once the decay has started."""
    decay_floor: float = 0.01
    """"chain" schedule: the learning rate never falls below decay_floor * lr. It sets how precisely a long run ends
    up calibrated prompt by prompt, which decides greedy decoding near the 1/3 threshold: at p_long = 0.3, 480k
    samples, the probability of continuing after a right first bit (ideally 2p/(1+p) = 0.46) had a spread of 0.043
    across prompts with a floor of 0.1 (a quarter of them above 1/2, so greedy continued on those), 0.007 with 0.01."""
    betas: tuple[float, float] = (0.9, 0.98)
    weight_decay: float = 0.0
    """No decay: fresh data every batch cannot be overfitted, and decay fights the large logits a sure chain needs."""
    grad_clip: float = 1.0
    short_rows: int | None = None
    """Short demonstrations per batch whose loss is computed (a uniform subset, weighted up so that the gradient stays
    an unbiased estimate of the whole batch's); None computes them all. The long rows are always all computed."""
    max_samples: int = 5_000_000
    """Sample budget (demonstrations seen); about 10x what p_long = 0.01 usually needs at d = 24."""
    seed: int = 0
    device: str = "cpu"
    threads: int | None = 1
    """torch CPU threads (process-wide); None leaves torch's default. One by default: these matmuls are too small to
    gain much from a second thread, and on a busy machine OpenMP threads spin (measured on the 2-core machine shared
    with other jobs: 1435 ms per step with 2 threads, 160 ms with 1)."""
    # evaluation and stopping
    eval_every: int = 25_600
    """Samples between evaluation points (the chain check, a small greedy evaluation, a log line, a checkpoint)."""
    stop_when_learned: bool = True
    check_n_long: int = 200
    """Long-form sampled responses the chain check judges (the issue's >= 200)."""
    check_max_error: float = 0.01
    """Largest fraction of them that may be wrong (the issue's >= 99% right)."""
    eval_n: int = 256
    """Prompts of the greedy evaluation at each evaluation point (kept small: it is only logged)."""
    final_eval_n: int = 4096
    """Prompts per mode of the evaluation after the run (0 skips it)."""
    # files
    out: str | None = None
    """Run directory (checkpoint/ and log.jsonl); None writes nothing (the Python API's default)."""
    resume: bool = False

    def __post_init__(self) -> None:
        self.d, self.leap, self.max_response_len = check_task(self.d, self.leap, self.max_response_len)
        self.p_long = check_probability("p_long", self.p_long)
        if self.p_long == 0:
            raise ValueError("p_long must be > 0: with no long demonstration there is no chain to learn")
        if self.max_response_len < chain_length(self.d, self.leap) + 1:
            raise ValueError(
                f"max_response_len {self.max_response_len} cannot hold the chain of d = {self.d}, leap = {self.leap} "
                f"and its EOS; use at least {chain_length(self.d, self.leap) + 1} or leave it unset"
            )
        for name in ("batch_size", "max_samples", "eval_every", "check_n_long"):
            setattr(self, name, check_int(name, getattr(self, name), 1))
        for name in ("warmup_samples", "eval_n", "final_eval_n", "seed"):
            setattr(self, name, check_int(name, getattr(self, name), 0))
        if self.short_rows is not None:
            self.short_rows = check_int("short_rows", self.short_rows, 1)
        if self.threads is not None:
            self.threads = check_int("threads", self.threads, 1)
        for name in ("lr", "grad_clip"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name} must be a number > 0; got {value!r}")
        if isinstance(self.weight_decay, bool) or not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0; got {self.weight_decay!r}")
        self.betas = tuple(float(b) for b in self.betas)
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1); got {self.betas}")
        if self.schedule not in ("chain", "constant", "cosine"):
            raise ValueError(f"schedule must be 'chain', 'constant' or 'cosine'; got {self.schedule!r}")
        self.decay_half_life = check_int("decay_half_life", self.decay_half_life, 1)
        for name in ("decay_trigger", "decay_floor"):
            check_probability(name, getattr(self, name))
        check_probability("check_max_error", self.check_max_error)
        self.model_config()  # validates n_layer, n_head, d_model, positional now rather than at the first step

    @property
    def task(self) -> dict:
        return {"d": self.d, "p_long": self.p_long, "leap": self.leap, "max_response_len": self.max_response_len}

    def model_config(self) -> GPTConfig:
        return GPTConfig(block_size=self.d + 1 + self.max_response_len, n_layer=self.n_layer, n_head=self.n_head,
                         d_model=self.d_model, positional=self.positional, init_std=self.init_std)

    def lr_at(self, samples: int, decay_start: int | None = None) -> float:
        """Learning rate after ``samples`` demonstrations: linear warm-up, then the schedule; ``decay_start`` is the
        sample count at which the "chain" schedule's decay started (None: not yet)."""
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

# Options a resumed run may change; every other option must match the checkpoint (else the run would be another run).
RESUMABLE = ("max_samples", "device", "threads", "eval_every", "stop_when_learned", "eval_n", "final_eval_n", "out",
             "resume")


@dataclass
class PretrainResult:
    model: GPT
    metrics: dict  # the final evaluation (empty when final_eval_n = 0)
    samples: int  # demonstrations trained on
    steps: int
    wall_time_s: float  # this process's time, final evaluation included
    time_to_learned_s: float | None  # wall time when the chain check passed (evaluations included), None if never
    stop_reason: str  # "learned" or "max_samples"
    log: list[dict] = field(default_factory=list)  # one dict per evaluation point
    tokens_per_s: float = 0.0  # training tokens (input positions) per second of training steps
    flop_per_s: float = 0.0  # training matmul FLOPs (3x GPT.forward_flops) per second of training steps
    config: dict = field(default_factory=dict)  # the PretrainConfig as a dict
    task: dict = field(default_factory=dict)  # {"d", "p_long", "leap", "max_response_len"}


# --------------------------------------------------------------------------------------------------- one step
def _split_batch(tokens: np.ndarray, mask: np.ndarray, is_long: np.ndarray, d: int, m: int,
                 short_rows: int | None, rng: np.random.Generator):
    """(inputs, targets, weight) for the short rows, cut after their EOS, and the long rows, cut after the chain's EOS.

    Inputs are whole rows; targets (row t predicts token t + 1) start at the SEP, position d, the first position that
    predicts a response token: the model computes logits from there on only (``logits_from=d``).
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
    for rows, end, w in ((short, d + 3, weight), (np.flatnonzero(is_long), d + 2 + m, 1.0)):
        if rows.size:  # tokens kept: prompt, SEP, answer, EOS
            tok, msk = tokens[rows, :end], mask[rows, :end]  # (b, end)
            targets = np.where(msk[:, d + 1 :], tok[:, d + 1 :], -100)  # (b, end - 1 - d): positions d .. end - 2
            parts.append((tok[:, :-1], targets, w))
    return parts


def _loss(model: GPT, parts, normaliser: float, d: int, device: torch.device, amp: bool) -> tuple[torch.Tensor, int]:
    """Weighted sum of the response tokens' cross-entropy over ``normaliser`` (the batch's expected target count),
    and the forward FLOPs it took."""
    total, flops = 0.0, 0
    for inputs, targets, weight in parts:
        x = torch.from_numpy(inputs).to(device, non_blocking=True)  # (b, T)
        y = torch.from_numpy(targets).to(device, non_blocking=True)  # (b, T - d)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(x, logits_from=d)  # (b, T - d, 3)
        ce = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), ignore_index=-100, reduction="sum")
        total = total + weight * ce
        flops += inputs.shape[0] * model.forward_flops(inputs.shape[1], logits_from=d)
    return total / normaliser, flops


# --------------------------------------------------------------------------------------------------- the run
def pretrain(cfg: PretrainConfig, progress: bool = True) -> PretrainResult:
    """Train a fresh model (or resume ``cfg.out`` when ``cfg.resume``) until the chain is learned or the budget ends."""
    t_start = time.perf_counter()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    device = torch.device(cfg.device)
    amp = device.type == "cuda"  # bf16 autocast helps on GPUs; on CPUs it is slower for models this small
    out = Path(cfg.out) if cfg.out is not None else None
    if out is not None and not cfg.resume and out.exists() and any(out.iterdir()):
        raise FileExistsError(f"--out {out} is not empty; pass --resume to continue it, or choose another directory")

    torch.manual_seed(cfg.seed)
    model = GPT(cfg.model_config()).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    data_rng = np.random.default_rng(cfg.seed)
    state = {"samples": 0, "steps": 0, "elapsed_s": 0.0, "train_s": 0.0, "tokens": 0, "flops": 0,
             "decay_start": None, "time_to_learned_s": None, "stop_reason": None}
    log: list[dict] = []
    if cfg.resume:
        model, optimizer, data_rng, state, log = _restore(cfg, device)

    m = chain_length(cfg.d, cfg.leap)
    normaliser = cfg.batch_size * (cfg.p_long * (m + 1) + (1 - cfg.p_long) * 2)  # expected response tokens per batch
    elapsed_before = state["elapsed_s"]
    bar = tqdm(total=cfg.max_samples, initial=min(state["samples"], cfg.max_samples), unit="seq", unit_scale=True,
               disable=not progress, desc=f"pretrain d={cfg.d} p={cfg.p_long}", dynamic_ncols=True)
    loss_sum = loss_n = 0.0
    model.train()
    while state["stop_reason"] is None:
        if state["samples"] >= cfg.max_samples:
            state["stop_reason"] = "max_samples"
            break
        t0 = time.perf_counter()
        lr = cfg.lr_at(state["samples"], state["decay_start"])
        for group in optimizer.param_groups:
            group["lr"] = lr
        tokens, mask, is_long = sample_demonstrations(cfg.batch_size, cfg.d, cfg.p_long, cfg.leap,
                                                      cfg.max_response_len, seed=data_rng)
        parts = _split_batch(tokens, mask, is_long, cfg.d, m, cfg.short_rows, data_rng)
        loss, forward_flops = _loss(model, parts, normaliser, cfg.d, device, amp)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        state["samples"] += cfg.batch_size
        state["steps"] += 1
        state["tokens"] += sum(inputs.size for inputs, _, _ in parts)
        state["flops"] += 3 * forward_flops  # backward ~ 2x forward
        loss_sum, loss_n = loss_sum + loss.detach(), loss_n + 1  # a tensor: no device sync per step
        state["train_s"] += time.perf_counter() - t0
        bar.update(cfg.batch_size)
        if state["steps"] % 10 == 0:
            bar.set_postfix(loss=f"{float(loss_sum) / loss_n:.4f}", tok_s=f"{state['tokens'] / state['train_s']:,.0f}")

        if state["samples"] % cfg.eval_every < cfg.batch_size or state["samples"] >= cfg.max_samples:
            point = _evaluation_point(model, cfg, state, float(loss_sum) / max(loss_n, 1))
            loss_sum = loss_n = 0.0
            point["elapsed_s"] = elapsed_before + time.perf_counter() - t_start
            log.append(point)
            bar.set_postfix(loss=f"{point['loss']:.4f}", long_ok=f"{point['check_n_long'] - point['check_n_wrong']}"
                            f"/{point['check_n_long']}", greedy=f"{point['greedy_accuracy']:.2f}")
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
                _save(out, cfg, model, optimizer, data_rng, state, log)
    bar.close()

    metrics = {}
    if cfg.final_eval_n:
        metrics = evaluate(model, cfg.task, n=cfg.final_eval_n, seed=cfg.seed + 1)
    wall = elapsed_before + time.perf_counter() - t_start
    if out is not None:
        _save(out, cfg, model, optimizer, data_rng, {**state, "elapsed_s": wall}, log, final_metrics=metrics)
    model.eval()
    return PretrainResult(
        model=model, metrics=metrics, samples=state["samples"], steps=state["steps"], wall_time_s=wall,
        time_to_learned_s=state["time_to_learned_s"], stop_reason=state["stop_reason"], log=log,
        tokens_per_s=state["tokens"] / max(state["train_s"], 1e-9),
        flop_per_s=state["flops"] / max(state["train_s"], 1e-9), config=_config_dict(cfg), task=cfg.task,
    )


def _evaluation_point(model: GPT, cfg: PretrainConfig, state: dict, loss: float) -> dict:
    """The chain check and a small greedy evaluation, seeded by the step so that a resumed run repeats them."""
    seed = cfg.seed * 1_000_003 + state["steps"]
    check = chain_check(model, cfg.task, n_long=cfg.check_n_long, max_error=cfg.check_max_error, seed=seed)
    point = {"samples": state["samples"], "steps": state["steps"], "loss": loss,
             "lr": cfg.lr_at(state["samples"], state["decay_start"]),
             "chain_learned": check["passed"]}
    point.update({f"check_{k}": v for k, v in check.items() if k != "passed"})
    point["chain_loss"] = _chain_loss(model, cfg, seed)
    if cfg.eval_n:
        ev = evaluate(model, cfg.task, n=cfg.eval_n, seed=seed)
        point.update({k: ev[k] for k in ("greedy_accuracy", "greedy_mean_length", "sampled_long_fraction")})
    model.train()
    return point


@torch.no_grad()
def _chain_loss(model: GPT, cfg: PretrainConfig, seed: int, n: int = 256) -> float:
    """Teacher-forced cross-entropy of chain bits 3..m on ``n`` long demonstrations (progress only; bit 2 is left out,
    as its position is also where the model chooses to continue or stop).

    It falls long before sampled chains are right (see the module docstring), so it is logged, never a stopping rule.
    """
    tokens, mask, _ = sample_demonstrations(n, cfg.d, 1.0, cfg.leap, cfg.max_response_len, seed=seed)
    m = chain_length(cfg.d, cfg.leap)
    model.eval()
    logits = model(torch.from_numpy(tokens[:, : cfg.d + 1 + m]).to(next(model.parameters()).device))  # (n, T, 3)
    targets = torch.from_numpy(tokens[:, cfg.d + 3 : cfg.d + 1 + m]).to(logits.device)  # (n, m - 2) chain bits 3..m
    return F.cross_entropy(logits[:, cfg.d + 2 : cfg.d + m].float().flatten(0, 1), targets.flatten()).item()


def _config_dict(cfg: PretrainConfig) -> dict:
    d = asdict(cfg)
    d["betas"] = list(d["betas"])
    return d


def _save(out: Path, cfg, model, optimizer, data_rng, state, log, final_metrics=None) -> None:
    """The checkpoint (weights, optimizer, training state, the data stream's RNG) and the JSONL log, both complete."""
    meta = {"pretrain_config": _config_dict(cfg), "training_state": state, "final_metrics": final_metrics}
    save_checkpoint(out / RUN_SUBDIR, model, cfg.task, meta=meta, optimizer=optimizer,
                    rng={"data": data_rng.bit_generator.state})
    tmp = out / (LOG_FILE + ".tmp")
    tmp.write_text("".join(json.dumps(p) + "\n" for p in log))
    os.replace(tmp, out / LOG_FILE)


def _restore(cfg: PretrainConfig, device: torch.device):
    """Model, optimizer, data stream, training state and log of the run in ``cfg.out``, checked against ``cfg``."""
    if cfg.out is None:
        raise ValueError("resume needs out: the run directory to continue")
    ckpt = load_checkpoint(Path(cfg.out), device=device)
    saved = ckpt.meta.get("pretrain_config")
    if not isinstance(saved, dict) or "training_state" not in ckpt.meta or "data" not in ckpt.rng:
        raise CheckpointError(f"{ckpt.path}: not a pre-training checkpoint (no pretrain_config / training state)")
    mine = _config_dict(cfg)
    differ = {k: (saved.get(k), v) for k, v in mine.items() if k not in RESUMABLE and saved.get(k) != v}
    if differ:
        listing = ", ".join(f"{k} = {v[1]!r} (checkpoint: {v[0]!r})" for k, v in differ.items())
        raise ValueError(f"--resume with options that differ from the run in {cfg.out}: {listing}; drop them")
    model = ckpt.model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    optimizer.load_state_dict(ckpt.optimizer_state)
    data_rng = np.random.default_rng()
    data_rng.bit_generator.state = ckpt.rng["data"]
    state = {"flops": 0, "decay_start": None, **ckpt.meta["training_state"]}  # (keys older runs lack)
    if state["stop_reason"] == "max_samples" and state["samples"] < cfg.max_samples:
        state["stop_reason"] = None  # a larger budget continues the run
    if state["stop_reason"] == "learned" and not cfg.stop_when_learned:
        state["stop_reason"] = None
    log_path = Path(cfg.out) / LOG_FILE
    log = [json.loads(line) for line in log_path.read_text().splitlines()] if log_path.exists() else []
    log = [p for p in log if p["steps"] <= state["steps"]]  # drop points written after the last checkpoint
    return model, optimizer, data_rng, state, log


# --------------------------------------------------------------------------------------------------- command line
_HELP = {
    "d": "number of input bits (default 24)",
    "p_long": "probability that a demonstration is the long chain (default 0.01)",
    "leap": "keep every leap-th prefix parity in the chain (default 1: the full chain)",
    "max_response_len": "response slots, EOS included (default d + 1)",
    "n_layer": "transformer blocks (default 1)",
    "n_head": "attention heads (default 4)",
    "d_model": "model width (default 64)",
    "positional": "position encoding: learned or rotary (default learned)",
    "init_std": "standard deviation of the initial weights (default 0.1)",
    "batch_size": "demonstrations per step (default 256)",
    "lr": "peak AdamW learning rate (default 3e-3)",
    "warmup_samples": "samples of linear learning-rate warm-up (default 25600)",
    "schedule": "after warm-up: chain (decay once the chain is mostly learned), constant, or cosine (to lr/10 at "
                "--max-samples) (default chain)",
    "decay_trigger": "chain schedule: exact fraction of the judged long responses that starts the decay (default 0.85)",
    "decay_half_life": "chain schedule: samples per halving of the learning rate (default 50000)",
    "decay_floor": "chain schedule: lowest learning rate, as a fraction of --lr (default 0.01)",
    "short_rows": "short demonstrations per batch whose loss is computed, weighted up (default: all)",
    "weight_decay": "AdamW weight decay (default 0)",
    "grad_clip": "gradient-norm clip (default 1.0)",
    "max_samples": "sample budget: stop after this many demonstrations (default 5000000)",
    "seed": "seed of the initialisation, the data stream and the evaluations (default 0)",
    "device": "torch device: cpu, cuda, cuda:1 ... (default cpu); bf16 autocast on CUDA",
    "threads": "torch CPU threads (default 1; see PretrainConfig.threads)",
    "eval_every": "samples between evaluation points: chain check, greedy evaluation, log, checkpoint (default 25600)",
    "check_n_long": "long-form sampled responses judged by the chain check (default 200)",
    "eval_n": "prompts of the greedy evaluation at each evaluation point (default 256)",
    "final_eval_n": "prompts per mode of the final evaluation (default 4096; 0 skips it)",
    "out": "run directory for checkpoint/ and log.jsonl; must be new or empty unless --resume (required)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Stops when the chain is learned (>= 99% of 200 long-form responses sampled at temperature 1 are "
                     "exactly the chain) or at --max-samples, and says which. Options left out take the defaults "
                     "shown, or with --resume the values of the run being continued.")
    types = {f.name: f.type for f in fields(PretrainConfig)}
    for name, help_text in _HELP.items():
        flag = "--" + name.replace("_", "-")
        kind = types[name]
        if name == "positional":
            parser.add_argument(flag, choices=("learned", "rotary"), default=argparse.SUPPRESS, help=help_text)
        elif name == "schedule":
            parser.add_argument(flag, choices=("chain", "constant", "cosine"), default=argparse.SUPPRESS, help=help_text)
        elif name in ("device", "out"):
            parser.add_argument(flag, default=argparse.SUPPRESS, help=help_text, metavar=name.upper())
        else:
            conv = _float if "float" in str(kind) else _int
            parser.add_argument(flag, type=conv, default=argparse.SUPPRESS, help=help_text)
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    parser.add_argument("--no-stop-when-learned", dest="stop_when_learned", action="store_false",
                        default=argparse.SUPPRESS, help="keep training after the chain is learned, up to --max-samples")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _int(text: str) -> int:
    try:
        return int(text.replace("_", ""))
    except ValueError:
        try:  # 1e6 and 2.5e5 are integers too
            value = float(text)
        except ValueError:
            value = math.nan
        if value.is_integer():
            return int(value)
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def main(args: argparse.Namespace) -> int:
    given = {k: v for k, v in vars(args).items() if k not in ("command", "no_progress")}
    if "out" not in given:
        raise SystemExit("parity-cot pretrain: error: --out DIR is required (the run directory)")
    try:
        if given.get("resume"):
            saved = _saved_config(Path(given["out"]))
            saved.update(given)
            given = saved
        cfg = PretrainConfig(**given)
        result = pretrain(cfg, progress=not args.no_progress)
    except (ValueError, TypeError, FileExistsError) as e:  # CheckpointError is a ValueError
        raise SystemExit(f"parity-cot pretrain: error: {e}") from None
    how = {"learned": "the chain is learned", "max_samples": "the sample budget (--max-samples) is spent"}
    print(f"stopped after {result.samples:,} samples ({result.steps} steps, {result.wall_time_s:.1f} s): "
          f"{how[result.stop_reason]}" + (f" (at {result.time_to_learned_s:.1f} s)" if result.time_to_learned_s else ""))
    if result.metrics:
        print(json.dumps({k: v for k, v in result.metrics.items() if k != "mistakes"}))
    print(f"checkpoint: {Path(cfg.out) / RUN_SUBDIR}")
    return 0


def _saved_config(out: Path) -> dict:
    """The PretrainConfig dict stored in the run's checkpoint (options not given on a resumed command line)."""
    ckpt = load_checkpoint(out)
    saved = ckpt.meta.get("pretrain_config")
    if not isinstance(saved, dict):
        raise CheckpointError(f"{ckpt.path}: not a pre-training checkpoint (no pretrain_config)")
    return dict(saved)


if __name__ == "__main__":
    from .cli import main as cli_main

    sys.exit(cli_main(["pretrain", *sys.argv[1:]]))
