"""Checkpoints of ParityCoT agents: a directory of safetensors weights plus a JSON config, never a pickle.

    save_checkpoint("runs/pre/checkpoint", agent, task, meta={"samples": 123456}, optimizer=opt,
                    rng={"torch": generator.get_state()})
    ckpt = load_checkpoint("runs/pre")   # a checkpoint directory, or a run directory holding checkpoint/
    ckpt.agent, ckpt.task, ckpt.meta, ckpt.optimizer_state, ckpt.rng

The agent is recorded by its spec (name, JSON config and factory path: ``agents.models.registry.AgentSpec``, which
``make_agent`` set on it) and rebuilt on load through ``make_agent``, so every agent, a user's included, round-trips.

Layout of a checkpoint directory::

    config.json             {"format_version": 3, "agent": {"name", "config", "factory"}, "task": task.to_dict(),
                             "probe": the agent's logits on two fixed sequences, "rng": {...}, plus the
                             caller's meta (training state)}
    model.safetensors       the agent's state_dict
    optimizer.safetensors   optional: the optimizer's per-parameter tensors; its param_groups in the file metadata
    loss.safetensors        optional: the weights of a loss module beyond the agent's own (a value head, say)

A save writes a temporary sibling directory (config.json last) and renames it into place, so an interrupted save
never leaves a half-written checkpoint at ``path`` (the previous one is kept as ``path.previous`` until the new one
is in place). After a kill at any point of a save, ``recover_checkpoint`` (run by a resuming writer) puts the
newest complete checkpoint at ``path`` and removes the leftovers, and ``load_checkpoint`` reads the newest complete
one meanwhile.
Loading validates every file, rejects non-finite weights, and checks that the rebuilt agent gives the recorded
``probe`` logits (a config edited after saving, say ``n_head``, changes them); it raises ``CheckpointError`` naming
the file and the problem.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from parity_env.contract import CoTTask
from parity_env.registry import task_from_dict

from ..models.agent import agent_device, example_tokens
from ..models.errors import AgentError
from ..models.registry import AgentSpec, agent_spec, build_agent

FORMAT_VERSION = 3  # 3: the task as {"name", "config"}; 2: the parity task's fields; 1: GPT-only ("model"); all read
CONFIG_FILE, MODEL_FILE, OPTIMIZER_FILE = "config.json", "model.safetensors", "optimizer.safetensors"
LOSS_FILE = "loss.safetensors"
RUN_SUBDIR = "checkpoint"  # a run directory (pretrain --out) keeps its latest checkpoint here
_TENSOR_TAG = "__uint8_tensor_base64__"  # how a torch RNG state (a uint8 tensor) is written inside JSON
_RESERVED = ("format_version", "agent", "model", "task", "probe", "rng", "save_id")
PROBE_ATOL = 1e-3  # float32 logits of the same weights differ by ~1e-6 across kernels; an edited config by far more


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, truncated or does not match the model it describes."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: the rebuilt agent, its task, the saved config and the states saved with it."""
    agent: torch.nn.Module  # in eval mode, on the requested device
    task: CoTTask
    meta: dict  # the whole config.json
    optimizer_state: dict | None  # an optimizer state_dict, or None when the checkpoint holds none
    path: Path  # the checkpoint directory actually read
    rng: dict  # the RNG states given to save_checkpoint (torch states back as uint8 tensors); {} if none
    loss_state: dict | None = None  # the loss module's own tensors (load with load_loss_state), or None


# --------------------------------------------------------------------------------------------------- saving
def save_checkpoint(
    path: str | os.PathLike,
    agent: torch.nn.Module,
    task: CoTTask,
    meta: dict | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    rng: dict | None = None,
    loss_module: torch.nn.Module | None = None,
) -> None:
    """Write ``agent`` with ``task``, ``meta`` and ``rng`` to the directory ``path``, atomically.

    Also ``optimizer``, and the tensors of ``loss_module`` that are not the agent's. ``agent`` must have been built
    by ``make_agent`` (its spec is what rebuilds it) and have finite weights: a non-finite checkpoint is never
    written. ``meta`` must be JSON-serialisable and may not use the keys format_version, agent, model, task, probe
    or rng. ``rng`` values are JSON-plain data or uint8 tensors (``torch.get_rng_state()``,
    ``generator.get_state()``).
    """
    path = Path(path)
    spec = agent_spec(agent)
    if not isinstance(task, CoTTask):
        raise TypeError(f"task must be a parity_env.CoTTask (a task); got {type(task).__name__}")
    meta = dict(meta or {})
    clash = [k for k in _RESERVED if k in meta]
    if clash:
        raise ValueError(f"meta may not use the reserved keys {clash}; rename them")
    state, aliases = _unique_tensors(agent.state_dict())
    bad = non_finite(state)
    if bad:
        raise ValueError(f"refusing to save a checkpoint with non-finite weights ({', '.join(bad[:3])}); "
                         f"the last good checkpoint at {path} is kept")
    probe = probe_logits(agent, task)
    if not bool(probe.isfinite().all()):
        raise ValueError(f"refusing to save a checkpoint whose agent gives non-finite logits; the last good checkpoint "
                         f"at {path} is kept")
    save_id = uuid.uuid4().hex  # in every file of this save: a reader checks that it read one save
    config = {"format_version": FORMAT_VERSION, "agent": spec.to_dict(), "task": task.to_dict(),
              "probe": probe.tolist(), "save_id": save_id, **meta}
    config["rng"] = {k: _encode_rng(v) for k, v in (rng or {}).items()}
    text = json.dumps(config, indent=1)  # fails here, before anything is written, if meta is not JSON-plain

    path.parent.mkdir(parents=True, exist_ok=True)
    recover_checkpoint(path)  # an earlier save killed midway: finish or undo it first
    tmp = path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        save_file(state, str(tmp / MODEL_FILE), metadata={"aliases": json.dumps(aliases), "save_id": save_id})
        if optimizer is not None:
            tensors, groups = _flatten_optimizer(optimizer.state_dict())
            save_file(tensors, str(tmp / OPTIMIZER_FILE), metadata={"param_groups": json.dumps(groups),
                                                                     "save_id": save_id})
        if loss_module is not None:
            save_file(_own_state(loss_module, agent), str(tmp / LOSS_FILE), metadata={"save_id": save_id})
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


def _unique_tensors(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """A state_dict without the entries that share another's memory, and the aliases that restore them on load.

    The entries dropped are tied weights (safetensors refuses them); the aliases are {dropped name: kept name}.
    """
    unique: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple, str] = {}  # (data_ptr, shape, dtype) -> the first name holding it
    for name, tensor in state.items():
        key = (tensor.data_ptr(), tensor.shape, tensor.dtype)
        if tensor.numel() and key in seen:
            aliases[name] = seen[key]
        else:
            seen[key] = name
            unique[name] = tensor.detach().cpu().contiguous()
    return unique, aliases


def _own_state(module: torch.nn.Module, agent: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state_dict entries of ``module`` that are not tensors of ``agent`` (which the checkpoint holds anyway)."""
    shared = {t.data_ptr() for t in agent.state_dict().values()}
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items() if v.data_ptr() not in shared}


def load_loss_state(loss_module: torch.nn.Module, agent: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load a checkpoint's ``loss_state`` into ``loss_module`` (whose actor holds ``agent``).

    Raises ValueError when one of the module's own tensors is missing from it or has another shape. Saved entries
    the module does not have yet are skipped (TorchRL losses create their value estimator at the first call, with the
    same defaults).
    """
    own = _own_state(loss_module, agent)
    bad = sorted(k for k in own if k not in state or own[k].shape != state[k].shape)
    if bad:
        raise ValueError(f"the saved loss-module tensors do not match this loss module's: {bad[:4]} missing or of "
                         "another shape")
    loss_module.load_state_dict({k: state[k] for k in own}, strict=False)


def non_finite(state: dict[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors of ``state`` holding a NaN or an infinity."""
    return [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]


@torch.no_grad()
def probe_logits(agent: torch.nn.Module, task: CoTTask) -> torch.Tensor:
    """The agent's float32 logits (2, seq_len, n_actions) on ``agents.models.agent.example_tokens``, in eval mode.

    A fingerprint of the function that the weights and the config compute together.
    """
    tokens = example_tokens(task, 2).to(agent_device(agent))
    was_training = agent.training
    agent.eval()
    try:
        return agent(tokens).float().cpu()
    finally:
        agent.train(was_training)


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


def _flatten_optimizer(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
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
def _newest_complete(path: Path) -> Path | None:
    """The newest complete checkpoint among ``path`` and the leftovers of an interrupted save of it; None if none.

    A complete temporary directory is newer than ``path``, which is newer than ``path.previous``.
    """
    temps = [t for t in path.parent.glob(f".{path.name}.tmp-*") if (t / CONFIG_FILE).is_file()]
    if temps:
        return max(temps, key=lambda t: (t / CONFIG_FILE).stat().st_mtime)
    for candidate in (path, path.with_name(path.name + ".previous")):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    return None


def recover_checkpoint(path: str | os.PathLike) -> None:
    """Finish or undo a save of the checkpoint directory ``path`` that was killed midway.

    The newest complete checkpoint ends up at ``path``; incomplete temporary directories and a stale
    ``path.previous`` are removed. For the run's own writer (it holds the run directory's lock).
    """
    path = Path(path)
    newest = _newest_complete(path)
    if newest is not None and newest != path:
        if path.exists():  # older than newest; a kill right after this still leaves newest to recover
            shutil.rmtree(path)
        os.rename(newest, path)
    for leftover in [*path.parent.glob(f".{path.name}.tmp-*"), path.with_name(path.name + ".previous")]:
        if leftover.exists():
            shutil.rmtree(leftover)


def resolve_checkpoint_dir(path: str | os.PathLike) -> Path:
    """The checkpoint directory for ``path``: ``path`` itself, or ``path/checkpoint`` for a run directory.

    While a save of it is interrupted, the newest complete one it left.
    """
    path = Path(path)
    for candidate in (path, path / RUN_SUBDIR):
        if (candidate / CONFIG_FILE).is_file():  # a save in progress leaves it in place until its last rename
            return candidate
        newest = _newest_complete(candidate) if candidate.parent.exists() else None
        if newest is not None:
            return newest
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    raise CheckpointError(
        f"{path} is not a checkpoint: neither {path / CONFIG_FILE} nor {path / RUN_SUBDIR / CONFIG_FILE} exists"
    )


def has_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` (a checkpoint or run directory) holds a complete checkpoint (``resolve_checkpoint_dir``)."""
    try:
        resolve_checkpoint_dir(path)
    except CheckpointError:
        return False
    return True


def read_checkpoint_config(path: str | os.PathLike) -> dict:
    """The config.json of the checkpoint at ``path`` (a checkpoint or run directory), without rebuilding its agent.

    What a resumed command line reads its saved options from.
    """
    config_path = resolve_checkpoint_dir(path) / CONFIG_FILE
    try:
        config = json.loads(config_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{config_path}: not readable JSON ({e}); the file is corrupt or truncated") from e
    if not isinstance(config, dict):
        raise CheckpointError(f"{config_path}: expected a JSON object, got {type(config).__name__}")
    return config


LOAD_ATTEMPTS = 50
"""How often a load reads a checkpoint again when a writer replaced it while it was being read."""


class _Torn(CheckpointError):
    """The files read belong to different saves.

    A writer replaced the checkpoint meanwhile (its config.json then changed too, and the load reads again), or files
    were copied from another checkpoint.
    """


def _identity(ckpt_dir: Path) -> tuple | None:
    """What changes when a save replaces the checkpoint at ``ckpt_dir``: its config.json's inode and mtime."""
    try:
        st = (ckpt_dir / CONFIG_FILE).stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def _read_files(ckpt_dir: Path) -> tuple[dict, dict]:
    """The config and the tensors (with their file metadata) of every file of the checkpoint at ``ckpt_dir``.

    All of one save (``_Torn`` otherwise).
    """
    config = read_checkpoint_config(ckpt_dir)
    files = {MODEL_FILE: _load_tensors(ckpt_dir / MODEL_FILE)}
    for name in (OPTIMIZER_FILE, LOSS_FILE):
        if (ckpt_dir / name).exists():
            files[name] = _load_tensors(ckpt_dir / name)
    save_id = config.get("save_id")
    if save_id is not None:  # checkpoints written before save ids (or files rewritten by other tools): no check
        torn = [name for name, (_, meta) in files.items() if meta.get("save_id", save_id) != save_id]
        if torn:
            raise _Torn(f"{ckpt_dir}: {', '.join(torn)} belong to another save than {CONFIG_FILE}")
    return config, files


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint``; raises ``CheckpointError`` on anything wrong with it.

    Every file read belongs to one save: when a writer replaces the checkpoint while it is being read (a run saving
    while ``parity-cot evaluate`` reads it), the load reads the newest complete one again.
    """
    last: Exception | None = None
    for attempt in range(LOAD_ATTEMPTS):
        ckpt_dir = resolve_checkpoint_dir(path)
        before = _identity(ckpt_dir)
        try:
            config, files = _read_files(ckpt_dir)
        except (CheckpointError, OSError) as e:
            if _identity(ckpt_dir) != before:  # replaced meanwhile: read it again
                last = e
                time.sleep(0.002 * (attempt + 1))
                continue
            raise
        return _build(ckpt_dir, config, files, device)
    raise CheckpointError(f"{path}: it kept being replaced while it was read ({LOAD_ATTEMPTS} attempts; the last: "
                          f"{last}); wait for the run that writes it to pause, or load a copy")


def _build(ckpt_dir: Path, config: dict, files: dict, device: str | torch.device) -> Checkpoint:
    """The checkpoint from its files, read (``_read_files``): the task, the agent rebuilt and checked, the rest."""
    config_path = ckpt_dir / CONFIG_FILE
    version = config.get("format_version")
    if version not in (1, 2, FORMAT_VERSION):
        raise CheckpointError(f"{config_path}: format_version {version!r} is not supported (expected {FORMAT_VERSION})")
    if not isinstance(config.get("task"), dict):
        raise CheckpointError(f"{config_path}: missing or malformed 'task' section")
    try:
        task = task_from_dict(config["task"])  # an older checkpoint's task (its fields, no name) is parity
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{config_path}: invalid task {config['task']}: {e}") from e
    spec = _read_spec(config, config_path)
    try:
        with torch.random.fork_rng(devices=[]):  # its weights are overwritten below: leave the global RNG alone
            agent = build_agent(spec, task)
    except AgentError as e:
        raise CheckpointError(f"{config_path}: cannot rebuild its agent: {e}") from e

    state, file_meta = files[MODEL_FILE]
    aliases = file_meta.get("aliases")
    for name, kept in (json.loads(aliases) if aliases else {}).items():
        if kept in state:
            state[name] = state[kept]
    _check_state(ckpt_dir / MODEL_FILE, agent.state_dict(), state)
    bad = non_finite(state)
    if bad:
        raise CheckpointError(f"{ckpt_dir / MODEL_FILE}: non-finite weights in {', '.join(bad[:3])}; the run "
                              "diverged before this was saved: use an earlier checkpoint")
    agent.load_state_dict(state)
    agent.to(device).eval()
    if "probe" in config:
        recorded = torch.tensor(config["probe"], dtype=torch.float32)
        got = probe_logits(agent, task)
        if recorded.shape != got.shape or not torch.allclose(got, recorded, atol=PROBE_ATOL, rtol=PROBE_ATOL):
            raise CheckpointError(
                f"{config_path}: the agent rebuilt from this config does not compute what was saved (its logits on "
                "the probe differ): the agent or task config was edited after saving, or the agent's code changed")

    optimizer_state = _read_optimizer(ckpt_dir / OPTIMIZER_FILE, *files[OPTIMIZER_FILE]) \
        if OPTIMIZER_FILE in files else None
    loss_state = files[LOSS_FILE][0] if LOSS_FILE in files else None
    rng = {k: _decode_rng(v) for k, v in (config.get("rng") or {}).items()}
    return Checkpoint(agent=agent, task=task, meta=config, optimizer_state=optimizer_state, path=ckpt_dir, rng=rng,
                      loss_state=loss_state)


def _read_spec(config: dict, config_path: Path) -> AgentSpec:
    """The agent spec of a checkpoint; format 1 (GPT only) stored the GPTConfig fields under "model"."""
    if config.get("format_version") == 1:
        model = config.get("model")
        if not isinstance(model, dict):
            raise CheckpointError(f"{config_path}: missing or malformed 'model' section")
        return AgentSpec("gpt", {k: v for k, v in model.items() if k not in ("vocab_size", "n_actions")})
    agent = config.get("agent")
    if not (isinstance(agent, dict) and isinstance(agent.get("name"), str) and isinstance(agent.get("config"), dict)):
        raise CheckpointError(f"{config_path}: missing or malformed 'agent' section (name, config)")
    factory = agent.get("factory")
    return AgentSpec(agent["name"], agent["config"], factory if isinstance(factory, str) else None)


def _load_tensors(file: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """The tensors of a safetensors file and its string metadata, read in one open."""
    if not file.is_file():
        raise CheckpointError(f"{file} is missing")
    try:
        with safe_open(str(file), framework="pt") as fh:
            return {k: fh.get_tensor(k) for k in fh.keys()}, fh.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{file}: not a readable safetensors file ({e}); it is corrupt or truncated") from e


def _check_state(file: Path, expected: dict[str, torch.Tensor], got: dict[str, torch.Tensor]) -> None:
    missing, unexpected = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{file}: tensors do not match the agent in config.json: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    for name, ref in expected.items():
        if got[name].shape != ref.shape or got[name].dtype != ref.dtype:
            raise CheckpointError(
                f"{file}: tensor {name} has shape {tuple(got[name].shape)} {got[name].dtype}, but the agent in "
                f"config.json needs {tuple(ref.shape)} {ref.dtype}"
            )


def _read_optimizer(file: Path, tensors: dict[str, torch.Tensor], file_meta: dict) -> dict:
    """An optimizer state_dict from the tensors and metadata of its file (``_flatten_optimizer``'s inverse)."""
    try:
        meta = json.loads(file_meta["param_groups"])
        groups, plain = meta["groups"], meta["plain_state"]
    except (KeyError, TypeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{file}: missing or malformed param_groups metadata ({e})") from e
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        parts = key.split(".")
        if len(parts) != 3 or parts[0] != "state" or not parts[1].isdigit():
            raise CheckpointError(f"{file}: unexpected tensor name {key!r}")
        state.setdefault(int(parts[1]), {})[parts[2]] = value
    for idx, entry in plain.items():
        state.setdefault(int(idx), {}).update(entry)
    ids = sorted(i for g in groups for i in g.get("params", []))  # the optimizer's parameters: the agent's and a
    if ids != list(range(len(ids))) or any(i not in range(len(ids)) for i in state):  # loss module's, if any
        raise CheckpointError(f"{file}: optimizer state for parameters {sorted(state)[:5]}... does not match its "
                              f"param_groups {ids[:5]}...")
    for g in groups:
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
    return {"state": dict(sorted(state.items())), "param_groups": groups}  # parameter order, not "1" < "10" < "2"

