"""Checkpoints of ParityCoT policies: a directory of safetensors weights plus a JSON config, never a pickle.

    save_checkpoint("runs/pre/checkpoint", model, task={"d": 24, "p_long": 0.01, "leap": 1, "max_response_len": 25},
                    meta={"samples": 123456}, optimizer=opt, rng={"torch": torch.get_rng_state()})
    ckpt = load_checkpoint("runs/pre")   # a checkpoint directory, or a run directory holding checkpoint/
    ckpt.model, ckpt.task, ckpt.meta, ckpt.optimizer_state, ckpt.rng

Layout of a checkpoint directory::

    config.json             {"format_version": 1, "model": GPTConfig fields, "task": {d, p_long, leap,
                             max_response_len}, "rng": {...}, plus the caller's meta (training state)}
    model.safetensors       the model's state_dict
    optimizer.safetensors   optional: the optimizer's per-parameter tensors; its param_groups in the file metadata

A save writes a temporary sibling directory and renames it into place, so an interrupted save never leaves a
half-written checkpoint at ``path`` (the previous one is kept as ``path.previous`` until the new one is in place).
Loading validates every file and raises ``CheckpointError`` naming the file and the problem.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from parity_env.protocol import check_probability, check_task

from .model import GPT, GPTConfig

FORMAT_VERSION = 1
CONFIG_FILE, MODEL_FILE, OPTIMIZER_FILE = "config.json", "model.safetensors", "optimizer.safetensors"
RUN_SUBDIR = "checkpoint"  # a run directory (pretrain --out) keeps its latest checkpoint here
_TENSOR_TAG = "__uint8_tensor_base64__"  # how a torch RNG state (a uint8 tensor) is written inside JSON
_RESERVED = ("format_version", "model", "task", "rng")


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, truncated or does not match the model it describes."""


@dataclass
class Checkpoint:
    model: GPT  # in eval mode, on the requested device
    task: dict  # {"d", "p_long", "leap", "max_response_len"}
    meta: dict  # the whole config.json
    optimizer_state: dict | None  # an optimizer state_dict, or None when the checkpoint holds none
    path: Path  # the checkpoint directory actually read
    rng: dict  # the RNG states given to save_checkpoint (torch states back as uint8 tensors); {} if none


# --------------------------------------------------------------------------------------------------- saving
def save_checkpoint(
    path: str | os.PathLike,
    model: GPT,
    task: dict,
    meta: dict | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    rng: dict | None = None,
) -> None:
    """Write ``model`` (and ``optimizer``) with ``task``, ``meta`` and ``rng`` to the directory ``path``, atomically.

    ``meta`` must be JSON-serialisable and may not use the keys format_version, model, task or rng. ``rng`` values are
    JSON-plain data or uint8 tensors (``torch.get_rng_state()``, ``generator.get_state()``).
    """
    path = Path(path)
    task = normalize_task(task)
    meta = dict(meta or {})
    clash = [k for k in _RESERVED if k in meta]
    if clash:
        raise ValueError(f"meta may not use the reserved keys {clash}; rename them")
    config = {"format_version": FORMAT_VERSION, "model": model.cfg.to_dict(), "task": task, **meta}
    config["rng"] = {k: _encode_rng(v) for k, v in (rng or {}).items()}
    text = json.dumps(config, indent=1)  # fails here, before anything is written, if meta is not JSON-plain

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / MODEL_FILE))
        if optimizer is not None:
            tensors, groups = _flatten_optimizer(optimizer.state_dict())
            save_file(tensors, str(tmp / OPTIMIZER_FILE), metadata={"param_groups": json.dumps(groups)})
        (tmp / CONFIG_FILE).write_text(text)
        for f in tmp.iterdir():  # data on disk before the rename makes it visible
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        previous = path.with_name(path.name + ".previous")
        if path.exists():
            if previous.exists():
                shutil.rmtree(previous)
            os.rename(path, previous)
        os.rename(tmp, path)
        if previous.exists():
            shutil.rmtree(previous)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def normalize_task(task: dict) -> dict:
    """Validate a task dict and return it with exactly the keys d, p_long, leap, max_response_len."""
    if not isinstance(task, dict) or "d" not in task or "p_long" not in task:
        raise ValueError(f"task must be a dict with at least 'd' and 'p_long'; got {task!r}")
    unknown = set(task) - {"d", "p_long", "leap", "max_response_len"}
    if unknown:
        raise ValueError(f"task has unknown keys {sorted(unknown)}; allowed: d, p_long, leap, max_response_len")
    d, leap, max_response_len = check_task(task["d"], task.get("leap", 1), task.get("max_response_len"))
    return {"d": d, "p_long": check_probability("p_long", task["p_long"]), "leap": leap,
            "max_response_len": max_response_len}


def _encode_rng(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        if value.dtype != torch.uint8:
            raise ValueError(f"rng tensors must be uint8 RNG states; got dtype {value.dtype}")
        return {_TENSOR_TAG: base64.b64encode(value.cpu().numpy().tobytes()).decode("ascii")}
    return value


def _decode_rng(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {_TENSOR_TAG}:
        return torch.frombuffer(bytearray(base64.b64decode(value[_TENSOR_TAG])), dtype=torch.uint8).clone()
    return value


def _flatten_optimizer(state_dict: dict) -> tuple[dict[str, torch.Tensor], list]:
    """An optimizer state_dict as flat tensors "state.<param>.<key>" plus JSON param_groups (non-tensor state kept)."""
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, dict] = {}
    for idx, entry in state_dict["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                plain.setdefault(str(idx), {})[key] = value
    groups = [dict(g) for g in state_dict["param_groups"]]
    return tensors, {"groups": groups, "plain_state": plain}


# --------------------------------------------------------------------------------------------------- loading
def resolve_checkpoint_dir(path: str | os.PathLike) -> Path:
    """The checkpoint directory for ``path``: ``path`` itself, or ``path/checkpoint`` for a run directory."""
    path = Path(path)
    if (path / CONFIG_FILE).is_file():
        return path
    if (path / RUN_SUBDIR / CONFIG_FILE).is_file():
        return path / RUN_SUBDIR
    if not path.exists():
        previous = path.with_name(path.name + ".previous")
        hint = f"; an interrupted save left {previous}: rename it to {path.name}" if previous.exists() else ""
        raise CheckpointError(f"checkpoint {path} does not exist{hint}")
    raise CheckpointError(
        f"{path} is not a checkpoint: neither {path / CONFIG_FILE} nor {path / RUN_SUBDIR / CONFIG_FILE} exists"
    )


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint``; raises ``CheckpointError`` on anything wrong with it."""
    ckpt_dir = resolve_checkpoint_dir(path)
    config_path = ckpt_dir / CONFIG_FILE
    try:
        config = json.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{config_path}: not readable JSON ({e}); the file is corrupt or truncated") from e
    if not isinstance(config, dict):
        raise CheckpointError(f"{config_path}: expected a JSON object, got {type(config).__name__}")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{config_path}: format_version {version!r} is not supported (expected {FORMAT_VERSION})")
    for key in ("model", "task"):
        if not isinstance(config.get(key), dict):
            raise CheckpointError(f"{config_path}: missing or malformed '{key}' section")
    try:
        cfg = GPTConfig(**config["model"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{config_path}: invalid model config {config['model']}: {e}") from e
    try:
        task = normalize_task(config["task"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{config_path}: invalid task {config['task']}: {e}") from e
    expected_block = task["d"] + 1 + task["max_response_len"]
    if cfg.block_size < expected_block:
        raise CheckpointError(
            f"{config_path}: model block_size {cfg.block_size} is shorter than the task's sequence length "
            f"{expected_block} (d = {task['d']}, max_response_len = {task['max_response_len']})"
        )

    model = GPT(cfg)
    state = _load_tensors(ckpt_dir / MODEL_FILE)
    _check_state(ckpt_dir / MODEL_FILE, model.state_dict(), state)
    model.load_state_dict(state)
    model.to(device).eval()

    optimizer_state = None
    if (ckpt_dir / OPTIMIZER_FILE).exists():
        optimizer_state = _load_optimizer(ckpt_dir / OPTIMIZER_FILE, model)
    rng = {k: _decode_rng(v) for k, v in (config.get("rng") or {}).items()}
    return Checkpoint(model=model, task=task, meta=config, optimizer_state=optimizer_state, path=ckpt_dir, rng=rng)


def _load_tensors(file: Path) -> dict[str, torch.Tensor]:
    if not file.is_file():
        raise CheckpointError(f"{file} is missing")
    try:
        return load_file(str(file))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{file}: not a readable safetensors file ({e}); it is corrupt or truncated") from e


def _check_state(file: Path, expected: dict[str, torch.Tensor], got: dict[str, torch.Tensor]) -> None:
    missing, unexpected = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{file}: tensors do not match the model in config.json: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    for name, ref in expected.items():
        if got[name].shape != ref.shape or got[name].dtype != ref.dtype:
            raise CheckpointError(
                f"{file}: tensor {name} has shape {tuple(got[name].shape)} {got[name].dtype}, but the model in "
                f"config.json needs {tuple(ref.shape)} {ref.dtype}"
            )


def _load_optimizer(file: Path, model: GPT) -> dict:
    tensors = _load_tensors(file)
    try:
        from safetensors import safe_open

        with safe_open(str(file), framework="pt") as fh:
            meta = json.loads((fh.metadata() or {})["param_groups"])
        groups, plain = meta["groups"], meta["plain_state"]
    except (KeyError, TypeError, json.JSONDecodeError, SafetensorError) as e:
        raise CheckpointError(f"{file}: missing or malformed param_groups metadata ({e})") from e
    n_params = len(list(model.parameters()))
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        parts = key.split(".")
        if len(parts) != 3 or parts[0] != "state" or not parts[1].isdigit():
            raise CheckpointError(f"{file}: unexpected tensor name {key!r}")
        state.setdefault(int(parts[1]), {})[parts[2]] = value
    for idx, entry in plain.items():
        state.setdefault(int(idx), {}).update(entry)
    ids = [i for g in groups for i in g.get("params", [])]
    if sorted(ids) != list(range(n_params)) or any(i not in range(n_params) for i in state):
        raise CheckpointError(f"{file}: optimizer state covers parameters {sorted(ids)[:5]}..., the model has {n_params}")
    for g in groups:
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
    return {"state": dict(sorted(state.items())), "param_groups": groups}  # parameter order, not "1" < "10" < "2"

