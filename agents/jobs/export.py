"""``parity-cot export RUN --hf DIR``: a checkpoint as a Hugging Face model directory (the ``[hf]`` extra).

    parity-cot export runs/pre --hf runs/pre-hf              # gpt (as OPT / GPT-NeoX) or hf agents
    parity-cot export runs/rl --hf runs/rl-hf --overwrite    # replace an earlier export
    model = AutoModelForCausalLM.from_pretrained("runs/pre-hf")  # then, in Python: any transformers model
    tokenizer = AutoTokenizer.from_pretrained("runs/pre-hf")      # ids = the task's token ids

DIR receives the model (config.json, generation_config.json, model.safetensors), a tokenizer for the task's
vocabulary and parity_cot.json (the task, the source, the checks), as ``agents.models.hf_export`` describes: the
export is checked against the agent (logits on --n sequences, greedy answers to --n fresh prompts) before anything
is written, and refused when it is not exact. A checkpoint whose agent has no Hugging Face form (linear, a user's
agent), an existing non-empty DIR without --overwrite, or a DIR holding the checkpoint: one line, exit 2, nothing
written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from parity_env.checks import check_int

from ..run.task_options import TaskExpectation


@dataclass
class ExportConfig:
    """``parity-cot export``'s options."""

    checkpoint: str = field(metadata={"positional": True, "metavar": "RUN"})
    """A checkpoint directory, or a run directory holding checkpoint/."""
    hf: str | None = None
    """The Hugging Face model directory to write (new or empty unless --overwrite)."""
    overwrite: bool = False
    """Replace an existing non-empty --hf directory (once the new export is complete and checked)."""
    n: int = 256
    """Sequences whose logits, and fresh prompts whose greedy answers, are compared with the agent's."""
    seed: int = 0
    """Seed of the checks' sequences and prompts."""
    json: bool = False
    """Print parity_cot.json's contents as one JSON object instead of a summary."""
    task: TaskExpectation = field(default_factory=TaskExpectation)
    """The task the checkpoint must be of (a check)."""

    def __post_init__(self) -> None:
        if not self.hf:
            raise ValueError("--hf DIR is required: the Hugging Face model directory to write")
        self.n = check_int("n", self.n, 1)
        self.seed = check_int("seed", self.seed, 0)


def export_checkpoint(checkpoint: str | Path, out: str | Path, overwrite: bool = False, n: int = 256,
                      seed: int = 0, device: str = "cpu") -> dict:
    """Export the checkpoint (a checkpoint or run directory) to the Hugging Face directory ``out``.

    Check the target, load, map, check (``check_export``), then write (``write_export``). Returns parity_cot.json's
    contents. Nothing is written unless every step passed.
    """
    from ..models.hf_export import EXPORT_FORMAT, check_export, check_target, task_tokenizer, to_hf, write_export
    from ..models.registry import agent_spec
    from ..run.checkpoint import load_checkpoint, resolve_checkpoint_dir

    source = resolve_checkpoint_dir(checkpoint)
    check_target(out, overwrite, source)
    ckpt = load_checkpoint(source, device=device)
    model = to_hf(ckpt.agent, ckpt.task)
    checks = check_export(ckpt.agent, model, ckpt.task, n=n, seed=seed)
    info = {"format_version": EXPORT_FORMAT, "task": ckpt.task.to_dict(), "source": str(source),
            "agent": agent_spec(ckpt.agent).to_dict(), "architecture": type(model).__name__, "checks": checks}
    write_export(out, model, task_tokenizer(ckpt.task), info, overwrite)
    return info


def add_arguments(parser) -> None:
    """The ``parity-cot export`` flags on ``parser``: those of ``ExportConfig``."""
    from ..run.config import add_config_arguments

    add_config_arguments(parser, ExportConfig)


def main(args) -> int:
    """Run ``parity-cot export`` with the parsed ``args``; returns the exit code."""
    from ..run.checkpoint import read_checkpoint_config
    from ..run.config import config_from_args

    cfg = config_from_args(ExportConfig, vars(args))
    saved = read_checkpoint_config(cfg.checkpoint)  # the agent's name first: no transformers import for a refusal
    name = (saved.get("agent") or {}).get("name", "gpt" if saved.get("format_version") == 1 else None)
    if name not in ("gpt", "hf"):
        raise ValueError(f"checkpoint {cfg.checkpoint}: agent {name!r} has no Hugging Face form (only the gpt and hf "
                         "agents can be exported); nothing written")
    from ..models import hf as hf_agent
    from ..models.hf_export import check_target, describe
    from ..run.checkpoint import resolve_checkpoint_dir

    check_target(cfg.hf, cfg.overwrite, resolve_checkpoint_dir(cfg.checkpoint))  # before loading anything
    hf_agent.set_progress(bool(getattr(args, "progress", False)))
    if cfg.task:
        from parity_env.registry import task_from_dict

        cfg.task.check(task_from_dict(saved["task"]), f"checkpoint {cfg.checkpoint}")
    info = export_checkpoint(cfg.checkpoint, cfg.hf, overwrite=cfg.overwrite, n=cfg.n, seed=cfg.seed)
    if cfg.json:
        print(json.dumps(info))
        return 0
    summary = describe(info)
    print(f"exported {info['source']} (agent {info['agent']['name']}) to {cfg.hf} as {summary['architecture']}: "
          f"max |logit diff| {summary['max_logit_diff']:.1e}, greedy answers equal on {summary['greedy']} fresh "
          "prompts")
    return 0
