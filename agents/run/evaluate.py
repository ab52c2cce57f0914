"""Evaluation of an agent on fresh prompts of its task: greedy and sampled accuracy, length, and the chain check.

    parity-cot evaluate runs/pre --n 4096 --json        # or: python -m agents evaluate runs/pre
    metrics = evaluate(agent, task, n=4096)              # the same numbers from Python
    check = chain_check(agent, task)                     # "is the long form learned?" (pre-training's stopping rule)

Every number comes from the task's one checker (``task.judge``, ``parity_env.contract.Verdicts``): accuracy is the
"answer" reward (the end-to-end one: the final answer is right); a response is long-form when it has more tokens
before EOS than the short form; an exact chain is a response that is exactly one of the long forms the demonstrations
show (``Verdicts.demonstrated``). The task adds its own numbers (``task.extra_metrics``: parity's first-bit split,
first-token margin and continuation probability).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields

import numpy as np
import torch
from tqdm import tqdm

from parity_env.checks import check_int, check_run_seed, check_seed
from parity_env.contract import CoTTask, Verdicts

from ..models.agent import agent_device
from ..models.generate import check_temperature, generate
from .task_options import TaskExpectation

EVAL_CHUNK = 4096
"""Prompts generated at once: a larger evaluation runs in chunks of this many (memory stays that of one chunk; an
evaluation of at most this many prompts is one chunk, as it always was)."""


def _mean(x: torch.Tensor) -> float | None:
    return x.float().mean().item() if x.numel() else None


@torch.no_grad()
def evaluate(
    agent: torch.nn.Module,
    task: CoTTask,
    n: int = 4096,
    temperature: float = 1.0,
    seed: int = 0,
    device: str | torch.device | None = None,
    show_mistakes: int = 0,
    progress: bool = False,
) -> dict:
    """Greedy and sampled metrics of ``agent`` on ``n`` fresh prompts per mode (one seeded stream of prompts).

    Returns, for each mode (greedy, sampled), ``{mode}_accuracy``, ``{mode}_chain_accuracy`` (exact long forms among all
    responses), ``{mode}_mean_length`` (tokens before EOS: bits, for parity) and ``{mode}_long_fraction``;
    ``sampled_long_accuracy`` and ``sampled_long_chain_accuracy`` (answer and exact-chain accuracy among the sampled
    long-form responses; None without one), ``sampled_n_long``, temperature and n; then the task's own numbers
    (``task.extra_metrics`` on the greedy prompts of the first chunk). With ``show_mistakes`` K > 0 also "mistakes": up
    to K greedy failures as readable token strings. More than ``EVAL_CHUNK`` prompts are generated in chunks. ``device``
    (default: where the agent is) moves the agent there.
    """
    n = check_int("n", n, 1)
    temperature = check_temperature(temperature)
    device = torch.device(device) if device is not None else agent_device(agent)
    agent.to(device)
    was_training = agent.training
    agent.eval()
    rng = np.random.default_rng(check_seed(seed))
    gen = torch.Generator(device=device).manual_seed(int(seed))
    out: dict = {"n": n, "temperature": temperature}
    extra: dict = {}
    chunks = range(0, n, EVAL_CHUNK)
    bar = tqdm(total=2 * n, unit="prompt", unit_scale=True, desc="evaluate", dynamic_ncols=True,
               disable=not progress or n <= EVAL_CHUNK)
    for mode, temp in (("greedy", 0.0), ("sampled", temperature)):
        parts = []
        for start in chunks:
            problems, prompts = task.sample_prompts(min(EVAL_CHUNK, n - start), rng)
            prompts = prompts.to(device)
            g = generate(agent, task, prompts, temperature=temp, generator=gen)
            v = task.judge(problems, g.tokens)
            parts.append(v)
            bar.update(prompts.shape[0])
            if mode == "greedy" and start == 0:  # the task's own numbers and the mistakes: the first chunk's prompts
                extra = task.extra_metrics(agent, problems, prompts, v)
                if show_mistakes > 0:
                    out["mistakes"] = _mistakes(task, problems, prompts, g.tokens, v, show_mistakes)
        v = Verdicts(**{f.name: torch.cat([getattr(part, f.name) for part in parts]) for f in fields(Verdicts)})
        out[f"{mode}_accuracy"] = _mean(v.answer_correct)
        out[f"{mode}_chain_accuracy"] = _mean(v.demonstrated)
        out[f"{mode}_mean_length"] = _mean(v.answer_length)
        out[f"{mode}_long_fraction"] = _mean(v.is_long)
        if mode == "sampled":
            out["sampled_long_accuracy"] = _mean(v.answer_correct[v.is_long])
            out["sampled_long_chain_accuracy"] = _mean(v.demonstrated[v.is_long])
            out["sampled_n_long"] = int(v.is_long.sum())
    bar.close()
    agent.train(was_training)
    return {**out, **extra}


def _mistakes(task: CoTTask, problems, prompts: torch.Tensor, tokens: torch.Tensor, v: Verdicts, k: int) -> list[str]:
    """Up to ``k`` greedy failures as readable token strings, with the short answer that was due."""
    wrong = torch.nonzero(~v.answer_correct).squeeze(1)[:k].tolist()
    right: np.ndarray | list = task.short_responses(problems[wrong]) if wrong else []
    return [f"{task.format_tokens(prompts[i].cpu())} -> {task.format_tokens(tokens[i].cpu())}"
            f"   (short answer {task.format_tokens(r)})" for i, r in zip(wrong, right)]


@torch.no_grad()
def chain_check(
    agent: torch.nn.Module,
    task: CoTTask,
    n_long: int = 200,
    max_error: float = 0.01,
    chunk: int = 4096,
    max_prompts: int | None = None,
    seed: int = 0,
) -> dict:
    """Is the long form learned? Sample fresh prompts at temperature 1 until ``n_long`` long-form responses are drawn.

    Passes when at most ``floor(max_error * n_long)`` of the first ``n_long`` long-form responses are not exactly a
    demonstrated long form. Cheap by construction: prompts go in chunks, the check stops (failing) as soon as the
    allowed number of errors is exceeded, and ``generate`` drops the short answers after their EOS, so a chunk costs
    about its prefill. ``max_prompts`` (default 4 n_long / p_long, at least 8 chunks) bounds the work for an agent that
    rarely answers long. Returns passed, n_long (long-form responses judged), n_wrong, n_prompts, and the long
    fraction seen.
    """
    task.check_long_form_fits()
    if max_prompts is None:  # 4x the prompts a calibrated agent needs, at least 8 chunks
        max_prompts = max(8 * chunk, int(4 * n_long / max(task.p_long, 1e-6)))
    allowed = int(np.floor(max_error * n_long + 1e-9))
    device = agent_device(agent)
    was_training = agent.training
    agent.eval()
    rng = np.random.default_rng(seed)
    gen = torch.Generator(device=device).manual_seed(seed)
    judged = wrong = prompts_used = long_seen = 0
    while judged < n_long and wrong <= allowed and prompts_used < max_prompts:
        size = min(chunk, max(1024, prompts_used), max_prompts - prompts_used)  # 1024, 1024, 2048, ... chunk
        problems, prompts = task.sample_prompts(size, rng)
        g = generate(agent, task, prompts.to(device), temperature=1.0, generator=gen)
        v = task.judge(problems, g.tokens)
        long_seen += int(v.is_long.sum())
        ok = v.demonstrated[v.is_long][: n_long - judged]  # in prompt order, only up to n_long in total
        judged += ok.numel()
        wrong += int((~ok).sum())
        prompts_used += prompts.shape[0]
    agent.train(was_training)
    return {
        "passed": judged >= n_long and wrong <= allowed,
        "n_long": judged,
        "n_wrong": wrong,
        "n_prompts": prompts_used,
        "long_fraction": long_seen / prompts_used,  # every long-form response of the chunks drawn
    }


# --------------------------------------------------------------------------------------------------- command line
@dataclass
class EvaluateConfig:
    """``parity-cot evaluate``'s options."""

    checkpoint: str = field(metadata={"positional": True, "metavar": "CHECKPOINT"})
    """A checkpoint directory, or a run directory holding checkpoint/."""
    n: int = 4096
    """Fresh prompts per mode (greedy, sampled)."""
    temperature: float = 1.0
    """Sampling temperature of the sampled mode (> 0)."""
    seed: int = 0
    """Seed of the prompts and the sampling."""
    device: str = "cpu"
    """torch device, e.g. cpu or cuda."""
    json: bool = False
    """Print one JSON object instead of a table."""
    mistakes: int = 0
    """Also print up to this many greedy mistakes."""
    task: TaskExpectation = field(default_factory=TaskExpectation)
    """The task the checkpoint must be of (a check; its own task is evaluated)."""

    def __post_init__(self) -> None:
        self.n = check_int("n", self.n, 1)
        self.seed = check_run_seed(self.seed)
        self.mistakes = check_int("mistakes", self.mistakes, 0)
        self.temperature = check_temperature(self.temperature)
        if not self.temperature > 0:
            raise ValueError(f"--temperature must be > 0 (got {self.temperature})")


def add_arguments(parser) -> None:
    """The ``parity-cot evaluate`` flags on ``parser``: those of ``EvaluateConfig``."""
    from .config import add_config_arguments

    add_config_arguments(parser, EvaluateConfig)


def main(args) -> int:
    """Run ``parity-cot evaluate`` with the parsed ``args``; returns the exit code."""
    from .checkpoint import load_checkpoint
    from .config import config_from_args
    from .training import resolve_device

    cfg = config_from_args(EvaluateConfig, vars(args))
    device = resolve_device(cfg.device)
    ckpt = load_checkpoint(cfg.checkpoint, device=device)
    cfg.task.check(ckpt.task, f"checkpoint {ckpt.path}")
    metrics = evaluate(ckpt.agent, ckpt.task, n=cfg.n, temperature=cfg.temperature, seed=cfg.seed, device=device,
                       show_mistakes=cfg.mistakes, progress=args.progress)
    if cfg.json:
        print(json.dumps(metrics))
        return 0
    name = ckpt.agent.agent_spec.name  # type: ignore[union-attr]  # Module.__getattr__ is typed Tensor | Module
    print(f"checkpoint {ckpt.path}  (agent {name}; task {ckpt.task.describe()})")
    for key, value in metrics.items():
        if key != "mistakes":
            print(f"  {key:<32} {value if value is None or isinstance(value, int) else f'{value:.4f}'}")
    for line in metrics.get("mistakes", []):
        print("  mistake:", line)
    return 0
