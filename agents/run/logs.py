"""A run's log: one JSON line per point in ``log.jsonl``, mirrored to a TorchRL logger.

``log.jsonl`` is what ``--resume`` and ``parity-cot plot`` read; the TorchRL logger (CSV by default; TensorBoard
(the ``[log]`` extra) or W&B) is for the tools people plot with.

    log = RunLog(out, logger="csv", step_key="step", hparams=config)    # out/log.jsonl and out/logs/...
    log.append({"step": 1, "reward": 0.5, ...})                          # one line, flushed; every number mirrored
    log.entries                                                          # every entry of the run so far
    RunLog(None, ...)                                                    # a run that writes nothing: entries only

``log.jsonl`` keeps the plain keys (``loss``, ``greedy_accuracy``, ...: older runs' logs read the same); the TorchRL
logger gets them namespaced by what they measure: ``eval/...`` (the greedy probes, the chain check), ``collect/...``
(the episodes a fine-tuning step collected), ``time/...`` (wall and step times), ``train/...`` (the loss and the
rest), and the run's configuration once, as hyperparameters (``log_hparams``; the checkpoint stores it too).

Every entry is flushed before the run writes the checkpoint it belongs to, so after a kill the log holds at least
the checkpoint's points; a resumed run cuts it back to the checkpoint (``resume_step``) and replays it into a fresh
CSV or TensorBoard log, so the two always agree (a W&B run is continued, not replayed).
"""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
from pathlib import Path
from typing import Any

LOG_FILE = "log.jsonl"
NAMESPACES = (
    ("eval", ("greedy_", "check_", "chain_", "sampled_long_fraction", "first_token_", "continuation_")),
    ("collect", ("reward", "sampled_accuracy", "mean_length", "long_fraction", "correct_long_fraction", "entropy",
                 "episodes", "collect_")),
    ("time", ("elapsed_s", "step_time_s", "wall_s", "train_s")),
)
"""The TorchRL logger's namespace of a log key, by the key's prefix (the first match; else train/)."""
LOGGERS = ("csv", "tensorboard", "wandb", "none")
LOGGER_DIR = "logs"  # out/logs/<experiment>/...: the TorchRL logger's files
_NEEDS = {"tensorboard": "tensorboard", "wandb": "wandb"}


def read_log(path: Path) -> list[dict]:
    """The JSON lines of a run's log; a last line cut short by a kill is dropped (its step is redone on resume)."""
    if not path.exists():
        return []
    entries = []
    for line in path.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return entries


def check_logger(logger: str) -> str:
    """``logger`` if it is one of ``LOGGERS`` and its package is installed, else a ValueError saying what to do."""
    if logger not in LOGGERS:
        raise ValueError(f"logger must be one of {list(LOGGERS)}; got {logger!r}")
    package = _NEEDS.get(logger)
    if package is not None and importlib.util.find_spec(package) is None:
        raise ValueError(f"--logger {logger} needs the {package} package: pip install {package} (or --logger csv)")
    return logger


class RunLog:
    """The log of the run in ``out`` (see the module docstring); ``step_key`` names each entry's x-axis."""

    def __init__(self, out: Path | None, logger: str, step_key: str, resume_step: int | None = None,
                 name: str = "run", hparams: dict | None = None):
        self.step_key, self.logger, self.path = step_key, None, None
        self.entries: list[dict] = []  # every entry of the run so far, resumed processes included
        if out is None:
            return
        self.path = out / LOG_FILE
        if resume_step is not None:
            self.entries = [e for e in read_log(self.path) if e[step_key] <= resume_step]
        self.path.write_text("".join(json.dumps(e) + "\n" for e in self.entries))
        if check_logger(logger) != "none":
            from torchrl.record.loggers import get_logger

            if logger != "wandb":
                shutil.rmtree(out / LOGGER_DIR, ignore_errors=True)  # rebuilt from log.jsonl, so that the two agree
            self.logger = get_logger(logger, str(out / LOGGER_DIR), name)
            if hparams is not None and (logger != "wandb" or resume_step is None):
                self.logger.log_hparams(flat_hparams(hparams))
            for entry in self.entries if logger != "wandb" else ():
                self._mirror(entry)
            self._flush()

    def append(self, entry: dict) -> None:
        """Record one entry: a line of log.jsonl, on disk when this returns, and its numbers in the TorchRL log."""
        self.entries.append(entry)
        if self.path is None:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(entry) + "\n")
        self._mirror(entry)
        self._flush()

    def _mirror(self, entry: dict) -> None:
        if self.logger is None:
            return
        for key, value in entry.items():
            if _is_number(value) and key != self.step_key:
                self.logger.log_scalar(namespaced(key), float(value), step=int(entry[self.step_key]))

    def _flush(self) -> None:
        experiment = getattr(self.logger, "experiment", None)
        if experiment is not None and hasattr(experiment, "flush"):  # TensorBoard's SummaryWriter
            experiment.flush()


def namespaced(key: str) -> str:
    """``key`` under its namespace: eval/greedy_accuracy, collect/reward, time/wall_s, train/loss."""
    for space, prefixes in NAMESPACES:
        if key.startswith(prefixes):
            return f"{space}/{key}"
    return f"train/{key}"


def flat_hparams(config: dict, prefix: str = "") -> dict:
    """A nested config as one level of "a.b" keys with numbers, strings and bools (what loggers take)."""
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(flat_hparams(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value if isinstance(value, (int, float, str, bool)) else json.dumps(value)
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
