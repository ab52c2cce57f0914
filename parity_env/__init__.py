"""parity_env: tasks with short and long (chain-of-thought) answers as Gymnasium, vector and TorchRL environments.

The environments are Gymnasium, native vector and native TorchRL ones; the tasks are parity (the paper's main
setting), multiplication with a chain of partial products, and yours.

    import gymnasium as gym, parity_env
    env = gym.make("ParityCoT-v0", d=24, p_long=0.01)              # parity's tuned envs
    env = gym.make("MultiplicationCoT-v0", digits=4, p_long=0.1)    # any task through the generic envs
    task = parity_env.make_task("multiplication", digits=3)        # tasks by name (parity_env.registry)
    tenv = task.make_env(batch_size=1024, seed=0)                  # the native batched TorchRL env

Importing the package registers ``ParityCoT-v0`` (parity's own env, with its native vector env as the
``vector_entry_point``) and ``MultiplicationCoT-v0`` (the generic envs, ``parity_env.envs``) with Gymnasium;
``register_task(name, factory, gym_id=...)`` registers a task of yours the same way. Rooms: ``contract`` (what a task
provides), ``registry`` (tasks by name), ``checks`` (validators), ``envs`` (the generic envs), ``parity`` and
``multiplication`` (the tasks). The classes are imported lazily on first access, so ``import parity_env`` imports
neither torch nor torchrl. Run ``python -m parity_env.parity.env`` for a scripted parity episode, ``python -m
parity_env.multiplication`` for the multiplication format.
"""

from importlib import import_module
from typing import Any

from gymnasium.envs.registration import register
from gymnasium.envs.registration import registry as gym_registry

from .registry import register_gym_id

ENV_ID = "ParityCoT-v0"
MULTIPLICATION_ENV_ID = "MultiplicationCoT-v0"

if ENV_ID not in gym_registry:
    register(
        id=ENV_ID,
        entry_point="parity_env.parity.env:ParityCoTEnv",
        vector_entry_point="parity_env.parity.vector_env:ParityCoTVectorEnv",
        kwargs={},  # the Task defaults: d = 24, p_long = 0.01
    )
register_gym_id(MULTIPLICATION_ENV_ID, "multiplication")

_LAZY = {
    "CoTTask": "parity_env.contract",
    "Verdicts": "parity_env.contract",
    "TaskError": "parity_env.contract",
    "check_task": "parity_env.contract",
    "make_task": "parity_env.registry",
    "register_task": "parity_env.registry",
    "known_tasks": "parity_env.registry",
    "task_from_dict": "parity_env.registry",
    "Task": "parity_env.parity.task",
    "ParityTask": "parity_env.parity.task",
    "MultiplicationTask": "parity_env.multiplication.task",
    "ParityCoTEnv": "parity_env.parity.env",
    "ParityCoTVectorEnv": "parity_env.parity.vector_env",
    "ParityCoTTorchEnv": "parity_env.parity.torch_env",
    "CoTEnv": "parity_env.envs.env",
    "CoTVectorEnv": "parity_env.envs.vector_env",
    "CoTTorchEnv": "parity_env.envs.torch_env",
    "sample_demonstrations": "parity_env.parity.demonstrations",
}

__all__ = ["ENV_ID", "MULTIPLICATION_ENV_ID", "register_gym_id", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'parity_env' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
