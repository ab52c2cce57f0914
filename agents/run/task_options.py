"""The task on the command line: ``--task NAME --task-config JSON`` and the shipped tasks' settings as flags.

    parity-cot pretrain --task multiplication --task-config '{"digits": 3, "p_long": 0.25}'
    parity-cot pretrain --task multiplication --digits 3 --p-long 0.25        # the same, through the shorthands
    parity-cot pretrain --d 24 --p-long 0.01                                 # parity, the default task

Every setting of a shipped task (parity's ``d``, ``leap``, ...; multiplication's ``digits``, ...; everyone's
``p_long``, ``reward``, ``max_response_len``) is also a flag of its own, generated from the task classes' fields (their
attribute docstrings are the help); a flag wins over the same key in ``--task-config``, and a flag that is not a
setting of the chosen task is an error naming the tasks it belongs to. A config field typed ``CoTTask`` takes these
flags and becomes the task they build; a field typed ``TaskExpectation`` (commands that read a run: evaluate,
finetune, plot, sweep-plot) becomes what the run's task must be, checked by ``TaskExpectation.check``.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from parity_env.checks import import_object
from parity_env.contract import REWARD_MODES, CoTTask, TaskError
from parity_env.registry import BUILTIN, make_task, task_from_dict, task_keys

from .fields import field_docs, first_sentence, unwrap_optional

TASK, TASK_CONFIG = "task", "task_config"
DEFAULT_TASK = "parity"


@dataclass(frozen=True)
class TaskFlag:
    """One shorthand flag: a setting ``name`` of the shipped ``tasks``, its type (without None) and help."""

    name: str
    type: Any
    help: str
    tasks: tuple[str, ...]
    choices: tuple[str, ...] | None = None


SHARED_HELP = {
    "p_long": "Fraction of long (chain-of-thought) demonstrations in the pre-training mixture; never changes an env.",
    "reward": "The env's reward: answer (the end-to-end one: the final answer is right) or cot (exactly the short or "
              "exactly the long form).",
    "max_response_len": "Tokens a response may have, EOS included (default: the long form's and its EOS).",
}
"""The help of the settings every task has (the task classes' own docstrings speak of their task)."""


@cache
def task_flags() -> tuple[TaskFlag, ...]:
    """The shorthand flags: every field of the shipped task classes, once (settings several tasks share merged)."""
    found: dict[str, TaskFlag] = {}
    for task_name, path in BUILTIN.items():
        cls = import_object(path, f"task {task_name!r}")
        hints, docs = typing.get_type_hints(cls), field_docs(cls)
        for f in dataclasses.fields(cls):
            if f.name in found:
                found[f.name] = dataclasses.replace(found[f.name], tasks=(*found[f.name].tasks, task_name))
                continue
            tp, _ = unwrap_optional(hints[f.name])
            choices = REWARD_MODES if f.name == "reward" else None
            doc = SHARED_HELP.get(f.name) or first_sentence(docs.get(f.name, ""))
            found[f.name] = TaskFlag(f.name, tp, doc, (task_name,), choices)
    return tuple(found.values())


def task_flag_help(flag: TaskFlag) -> str:
    """The help of a task flag: which tasks have the setting, then what it is."""
    owners = "every shipped task" if len(flag.tasks) == len(BUILTIN) else ", ".join(flag.tasks) + " only"
    return f"{owners}: {flag.help}"


def given_task(given: dict) -> tuple[str | None, dict]:
    """The task name (None: not given) and the settings typed on the command line.

    The settings are --task-config's keys with the shorthand flags over them.
    """
    settings = dict(given.get(TASK_CONFIG) or {})
    for flag in task_flags():
        if given.get(flag.name) is not None:
            settings[flag.name] = given[flag.name]
    return given.get(TASK), settings


def _check_keys(name: str, settings: dict) -> None:
    """Refuse shorthand flags that are not settings of task ``name``, naming the tasks they belong to."""
    keys = task_keys(name)
    if keys is None:
        return
    owners = {flag.name: flag.tasks for flag in task_flags()}
    for key in settings:
        if key not in keys:
            where = f" (a setting of {', '.join(owners[key])})" if key in owners else ""
            raise TaskError(f"task {name!r} has no setting {key!r}{where}; its settings: {', '.join(keys)}")


def build_task(given: dict, saved: Any = None) -> CoTTask:
    """The task of a new run: the flags ``given`` over ``saved``.

    ``saved`` is a resumed run's recorded task: a task record, an older parity dict, or None.
    """
    name, settings = given_task(given)
    base_name, base = DEFAULT_TASK, {}
    if saved is not None:
        saved_task = task_from_dict(saved)
        base_name, base = saved_task.to_dict()["name"], saved_task.config()
    if name is not None and name != base_name:
        base_name, base = name, {}  # another task: the saved settings do not apply
    _check_keys(base_name, settings)
    return make_task(base_name, **{**base, **settings})


def as_task(value: Any) -> CoTTask:
    """A config's task field as a task: a task, its record (or an older parity dict), or None for the default."""
    return make_task(DEFAULT_TASK) if value is None else task_from_dict(value)


@dataclass(frozen=True)
class TaskExpectation:
    """What a command that reads a run expects its task to be: a name and settings (each None / absent: anything)."""

    name: str | None = None
    settings: dict = field(default_factory=dict)

    @classmethod
    def from_given(cls, given: dict, saved: Any = None) -> TaskExpectation:
        """The expectation of the flags ``given``, else the ``saved`` one if none is typed.

        ``saved`` is a TaskExpectation or its dict.
        """
        name, settings = given_task(given)
        if saved is not None and name is None and not settings:
            return saved if isinstance(saved, TaskExpectation) else cls(**saved)
        return cls(name, settings)

    def __bool__(self) -> bool:
        return self.name is not None or bool(self.settings)

    def check(self, task: CoTTask, what: str) -> None:
        """Raise naming ``what`` (a checkpoint, a run) when ``task`` is not the expected one."""
        record = task.to_dict()
        if self.name is not None and record["name"] != self.name:
            raise TaskError(f"{what} is a run of task {task.describe()}; --task {self.name} was given")
        config = task.config()
        differ = {k: v for k, v in self.settings.items() if config.get(k, object()) != v}
        if differ:
            listing = ", ".join(f"{k} = {config.get(k, '(not a setting)')!r} there, {v!r} given"
                                for k, v in differ.items())
            raise TaskError(f"{what} is a run of task {task.describe()}, not the one asked for: {listing}")
