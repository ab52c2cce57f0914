"""The generic envs: any task of the contract (``parity_env.contract.CoTTask``) served through its methods alone.

- ``CoTEnv`` (``parity_env.envs.env``): the Gymnasium env, one episode, one token per step; the entry point of
  ``gym.make("MultiplicationCoT-v0", ...)`` and of every id registered with ``register_task(..., gym_id=...)``.
- ``CoTVectorEnv`` (``parity_env.envs.vector_env``): N episodes stepped together in numpy, a native
  ``gymnasium.vector.VectorEnv`` (those ids' vector entry point, ``gym.make_vec``).
- ``CoTTorchEnv`` (``parity_env.envs.torch_env``): B episodes as a native batched TorchRL ``EnvBase`` on any device
  (``task.make_env``).

They behave exactly alike given the same problems and actions, and for parity exactly like parity's tuned envs
(``parity_env.parity``), which deal the same prompts. The classes are imported lazily (``import parity_env.envs``
imports neither torch nor torchrl).
"""

from importlib import import_module
from typing import Any

_LAZY = {
    "CoTEnv": "parity_env.envs.env",
    "CoTVectorEnv": "parity_env.envs.vector_env",
    "CoTTorchEnv": "parity_env.envs.torch_env",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'parity_env.envs' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
