"""Tasks by name: ``make_task(name, **config)`` builds one, ``register_task(name, factory)`` adds a name.

    task = make_task("parity", d=24, p_long=0.01)                     # parity_env.parity.task.ParityTask
    task = make_task("multiplication", digits=3, p_long=0.25)         # parity_env.multiplication.task
    task = make_task("mypackage.tasks:RunningSum", n=6)               # any factory, by its import path
    register_task("running_sum", RunningSum); task = make_task("running_sum", n=6)
    task_from_dict(task.to_dict()) == task                            # what checkpoints record: {"name", "config"}

A factory takes keyword arguments and returns a task (``parity_env.contract.CoTTask``); ``make_task`` checks the task
once (``check_task``) and records its name and, when importable, its factory's import path, so that a checkpoint can
rebuild it in another process. A name registered with a ``gym_id`` is also a Gymnasium id served by the generic envs
(``gym.make("MultiplicationCoT-v0", digits=4, p_long=0.1)``).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .contract import CoTTask, TaskError, check_task
from .factories import Factories, import_path

BUILTIN = {
    "parity": "parity_env.parity.task:ParityTask",
    "multiplication": "parity_env.multiplication.task:MultiplicationTask",
}
_TASKS = Factories("task", TaskError, BUILTIN, example="running_sum",
                   register_hint="parity_env.register_task(name, factory)")


@dataclass(frozen=True)
class TaskSpec:
    """How to rebuild a task: ``make_task(name, **config)``.

    ``factory`` is the import path used where the name is not registered (a user's task registered under a name of
    their own).
    """

    name: str
    config: dict
    factory: str | None = None

    def to_dict(self) -> dict:
        """The spec as JSON-plain data, as checkpoints record it (``factory`` only when set)."""
        out = {"name": self.name, "config": self.config}
        if self.factory is not None:
            out["factory"] = self.factory
        return out


def known_tasks() -> list[str]:
    """The registered task names, sorted."""
    return _TASKS.names()


def register_task(name: str, factory: Callable | str, gym_id: str | None = None) -> None:
    """Make ``make_task(name, ...)`` call ``factory(**config)`` (a callable or a "module:function" path).

    With ``gym_id`` (e.g. "RunningSumCoT-v0") also register the generic Gymnasium and vector envs for it.
    Registering the same factory again is allowed; another factory under a taken name raises.
    """
    _TASKS.register(name, factory)
    if gym_id is not None:
        register_gym_id(gym_id, name)


def register_gym_id(gym_id: str, task: str) -> None:
    """Register ``gym_id`` with Gymnasium: the generic single env (and native vector env) serving the task ``task``.

    ``task`` is a registered task; ``gym.make(gym_id, **settings)`` passes the task's settings as keywords.
    """
    from gymnasium.envs.registration import register, registry

    if gym_id not in registry:
        register(id=gym_id, entry_point="parity_env.envs.env:CoTEnv",
                 vector_entry_point="parity_env.envs.vector_env:CoTVectorEnv", kwargs={"task": task})


def _factory(name: str, factory_path: str | None = None) -> Callable:
    return _TASKS.get(name, factory_path)


def task_keys(name: str) -> list[str] | None:
    """The config keys the factory of task ``name`` takes; an unknown name raises.

    None: any, or its signature cannot be read.
    """
    factory = _factory(name)
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def make_task(name: str = "parity", **config: Any) -> CoTTask:
    """Build task ``name`` with the factory's keyword arguments ``config``.

    Raises ``TaskError`` for an unknown name, keys the factory does not take (listing those it does), a rejected
    value, or a task that breaks the contract.
    """
    return build_task(TaskSpec(name, config))


def build_task(spec: TaskSpec) -> CoTTask:
    """``make_task`` from a spec; a name unknown here falls back on the spec's recorded factory path."""
    name, config = spec.name, dict(spec.config)
    factory = _factory(name, spec.factory)
    try:
        json.dumps(config)
    except (TypeError, ValueError) as e:
        raise TaskError(f"task {name!r}: its config must be JSON-plain (checkpoints record it): {e}") from e
    keys = task_keys(name) if name in _TASKS or ":" in name else None
    unknown = sorted(set(config) - set(keys)) if keys is not None else []
    if keys is not None and unknown:
        raise TaskError(f"task {name!r} does not take {unknown}; its config keys are: {', '.join(keys) or 'none'}")
    try:
        task = factory(**config)
    except (TypeError, ValueError):  # a rejected value: the task's own message names it
        raise
    except Exception as e:  # a user's factory may fail in any way
        raise TaskError(f"task {name!r}: its factory failed ({type(e).__name__}: {e})") from e
    check_task(task)
    if not hasattr(task, "__dataclass_fields__"):
        object.__setattr__(task, "_config", config)
    if getattr(task, "name", None) != name and name not in BUILTIN:
        object.__setattr__(task, "_registry_name", name)
    object.__setattr__(task, "_factory_path", import_path(factory) or spec.factory)
    return task


def task_to_dict(task: CoTTask) -> dict:
    """{"name", "config"[, "factory"]}: how checkpoints and results record ``task`` (``CoTTask.to_dict``)."""
    return task.to_dict()


def task_from_dict(data: Any) -> CoTTask:
    """A task from ``task_to_dict``'s output, from an older parity record (its fields, no name), or a task itself."""
    if isinstance(data, CoTTask):
        return data
    if not isinstance(data, dict):
        raise TypeError(f"a task must be a task, or a dict {{'name': ..., 'config': {{...}}}}; got "
                        f"{type(data).__name__}")
    if "name" not in data:  # checkpoints before tasks had names held parity's fields
        return make_task("parity", **data)
    unknown = sorted(set(data) - {"name", "config", "factory"})
    if unknown or not isinstance(data.get("config", {}), dict):
        raise TaskError(f"a task record has the keys name, config (a dict) and factory; got {sorted(data)}")
    return build_task(TaskSpec(data["name"], data.get("config", {}), data.get("factory")))


def resolve_task(task: Any, name: str, **keywords: Any) -> CoTTask:
    """An env's task: ``task=`` (a task, or its dict) or the task's settings as keywords, never both.

    None = not given. The task must be ``name``'s (the parity envs serve parity; the generic envs take any task).
    """
    given = {k: v for k, v in keywords.items() if v is not None}
    if task is None:
        return make_task(name, **given)
    if given:
        raise ValueError(f"give the task either as task= or as keywords, not both: got task={task!r} and "
                         f"{', '.join(f'{k}={v!r}' for k, v in given.items())}")
    task = task_from_dict(task)
    if task.name != name:
        raise TaskError(f"this env serves the {name!r} task; got task {task.name!r}: use the generic envs "
                        "(parity_env.CoTEnv, CoTVectorEnv, CoTTorchEnv, or task.make_env)")
    return task
