"""parity_env: the parity-with-chain-of-thought task as Gymnasium, native vector and native TorchRL environments.

Importing the package registers ``ParityCoT-v0`` (the ``Task`` defaults: d = 24, p_long = 0.01) with Gymnasium,
with the native
vector env as its ``vector_entry_point``; ``gym.make("parity_env:ParityCoT-v0")`` imports it on demand. The env
classes are imported lazily on first access, so ``import parity_env`` does not import torch or torchrl.
Run ``python -m parity_env.parity.env`` for a scripted episode.
"""

from importlib import import_module
from typing import Any

from gymnasium.envs.registration import register, registry

ENV_ID = "ParityCoT-v0"

if ENV_ID not in registry:
    register(
        id=ENV_ID,
        entry_point="parity_env.parity.env:ParityCoTEnv",
        vector_entry_point="parity_env.parity.vector_env:ParityCoTVectorEnv",
        kwargs={},  # the Task defaults: d = 24, p_long = 0.01
    )

_LAZY = {
    "Task": "parity_env.parity.task",
    "ParityCoTEnv": "parity_env.parity.env",
    "ParityCoTVectorEnv": "parity_env.parity.vector_env",
    "ParityCoTTorchEnv": "parity_env.parity.torch_env",
    "sample_demonstrations": "parity_env.parity.demonstrations",
}

__all__ = ["ENV_ID", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'parity_env' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
