"""The three registries (tasks, agents, algorithms) name, check and import their factories the same way."""

import pytest

from agents import AgentError, register_agent
from agents.models.registry import resolve_factory
from agents.rl.algorithms import _source, canonical_algo, known_algorithms, register_algorithm
from parity_env.contract import TaskError
from parity_env.factories import Factories, import_path
from parity_env.registry import _factory, register_task

KINDS = [  # (register, find, error, kind)
    (register_task, _factory, TaskError, "task"),
    (register_agent, resolve_factory, AgentError, "agent"),
    (register_algorithm, _source, ValueError, "algo"),
]


def _made(*args, **kwargs):
    return None


def _other(*args, **kwargs):
    return None


@pytest.mark.parametrize(("register", "find", "error", "kind"), KINDS, ids=[k[-1] for k in KINDS])
def test_each_registry_checks_names_and_factories(register, find, error, kind):
    name = f"test_factories_{kind}"
    register(name, _made)
    register(name, _made)  # the same factory again is allowed
    assert find(name) is _made
    with pytest.raises(error, match=f"{kind} name '{name}' is taken"):
        register(name, _other)
    with pytest.raises(error, match="must be an identifier"):
        register("not a name", _made)
    with pytest.raises(error, match="must be a callable or a 'module:function' path"):
        register(f"{name}_2", 3)
    with pytest.raises(error, match=f"unknown {kind} 'nope_{kind}'; known {kind}s: .*{name}"):
        find(f"nope_{kind}")
    assert find("parity_env.factories:import_path") is import_path  # an import path needs no registration
    with pytest.raises(error, match="has no 'missing'"):
        find("parity_env.factories:missing")


def test_shipped_algorithms_are_reserved_and_listed_first():
    with pytest.raises(ValueError, match="algo name 'ppo' is taken"):
        register_algorithm("ppo", _made)
    register_algorithm("test_factories_listed", import_path)
    assert known_algorithms()[:4] == ["reinforce", "ppo", "grpo", "star"]
    assert "test_factories_listed" in known_algorithms()
    assert canonical_algo("test_factories_listed") == "parity_env.factories:import_path"  # what a resumed run rebuilds


def test_import_path_only_for_importable_objects():
    def local():
        return None

    assert import_path(Factories) == "parity_env.factories:Factories"
    assert import_path(local) is None  # defined inside a function: another process cannot import it
