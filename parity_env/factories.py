"""Named factories of one kind (tasks, agents, algorithms): registered by name, found by name or by import path.

    tasks = Factories("task", TaskError, {"parity": "parity_env.parity.task:ParityTask"}, example="running_sum",
                      register_hint="parity_env.register_task(name, factory)")
    tasks.register("running_sum", RunningSum)
    tasks.get("running_sum"); tasks.get("mypackage.tasks:RunningSum")   # the factory, imported on first use

One registry per kind, so that every kind names, checks and imports its factories the same way (and says so in the
same words).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .checks import import_object


def import_path(obj: Any) -> str | None:
    """The "module:qualname" of a class or function another process can import.

    None when it cannot be imported (defined in __main__ or inside a function).
    """
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname:
        return None
    return f"{module}:{qualname}"


class Factories:
    """The factories of one kind: the built-in ones (import paths, imported on first use) and those registered."""

    def __init__(self, kind: str, error: type[Exception], builtin: Mapping[str, Callable | str] | None = None, *,
                 example: str, register_hint: str, reserved: Iterable[str] = ()):
        self.kind, self.error, self.example, self.register_hint = kind, error, example, register_hint
        self.reserved = tuple(reserved)  # names served elsewhere (the shipped algorithms): never registered here
        self._factories: dict[str, Callable | str] = dict(builtin or {})  # name -> factory, or its import path

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._factories)

    def register(self, name: str, factory: Callable | str) -> None:
        """Make ``name`` stand for ``factory`` (a callable or a "module:function" path).

        Registering the same factory again is allowed; another factory under a taken name raises.
        """
        if not isinstance(name, str) or not name.isidentifier():
            raise self.error(f"a{'n' if self.kind[0] in 'aeiou' else ''} {self.kind} name must be an identifier such "
                             f"as {self.example!r}; got {name!r}")
        if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
            raise self.error(f"{self.kind} {name!r}: the factory must be a callable or a 'module:function' path; "
                             f"got {factory!r}")
        taken = self._factories.get(name)
        if name in self.reserved or (taken is not None and taken is not factory and taken != factory):
            by = "" if name in self.reserved else f" (by {taken!r})"
            raise self.error(f"{self.kind} name {name!r} is taken{by}; choose another name")
        self._factories[name] = factory

    def get(self, name: str, fallback: str | None = None, known: Iterable[str] | None = None) -> Callable:
        """The factory of ``name``: a registered name, a "module:function" path, or else the import path ``fallback``.

        ``known`` lists the names the unknown-name error offers (default: the registered ones).
        """
        if not isinstance(name, str) or not name:
            raise self.error(f"a{'n' if self.kind[0] in 'aeiou' else ''} {self.kind} name must be a non-empty "
                             f"string; got {name!r}")
        factory = self._factories.get(name, name if ":" in name else fallback)
        if factory is None:
            offered = ", ".join(self.names() if known is None else known)
            raise self.error(f"unknown {self.kind} {name!r}; known {self.kind}s: {offered}, or a factory's import "
                             f"path 'package.module:function' (register your own with {self.register_hint})")
        if isinstance(factory, str):
            try:
                factory = import_object(factory, f"{self.kind} {name!r}")
            except ValueError as e:
                raise self.error(str(e)) from None
        if not callable(factory):
            raise self.error(f"{self.kind} {name!r}: {factory!r} is not callable")
        return factory
