"""Agents by name: ``make_agent(name, task, **config)`` builds one, ``register_agent(name, factory)`` adds a name.

    agent = make_agent("gpt", task)                                  # agents.models.gpt.GPT, the recipe's size
    agent = make_agent("gpt", task, n_layer=2, d_model=128)
    agent = make_agent("linear", task)                               # the paper's theory model (agents.models.linear)
    agent = make_agent("hf", task, model_type="llama", hidden_size=64, num_hidden_layers=2,
                       num_attention_heads=4, intermediate_size=128)  # any Hugging Face causal LM (the [hf] extra)
    agent = make_agent("mypackage.agents:make_lstm", task, hidden=64)  # any factory, by its import path
    register_agent("lstm", make_lstm); agent = make_agent("lstm", task, hidden=64)

A factory takes the task as its first argument and keyword arguments after it, and returns an agent
(``agents.models.agent``: any ``torch.nn.Module`` whose ``forward(tokens)`` gives logits (B, T, task.n_actions)).
``make_agent`` checks the agent once and records its name, its JSON config and, when importable, its factory's
import path on the module (``agent.agent_spec``), which is what a checkpoint stores and ``load_checkpoint`` rebuilds
it from.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from parity_env.factories import Factories, import_path

from .agent import agent_device, check_agent
from .errors import AgentError

BUILTIN = {
    "gpt": "agents.models.gpt:make_gpt",
    "linear": "agents.models.linear:make_linear",
    "hf": "agents.models.hf:make_hf",
}
_AGENTS = Factories("agent", AgentError, BUILTIN, example="lstm",
                    register_hint="agents.register_agent(name, factory)")


@dataclass(frozen=True)
class AgentSpec:
    """How to rebuild an agent: ``make_agent(name, task, **config)``.

    ``factory`` is the import path used when the name is not registered in the loading process (a user's agent
    registered under a name of their own).
    """

    name: str
    config: dict = field(default_factory=dict)
    factory: str | None = None

    def to_dict(self) -> dict:
        """The spec as JSON-plain data, as a checkpoint records it."""
        return {"name": self.name, "config": self.config, "factory": self.factory}


def known_agents() -> list[str]:
    """The registered agent names, sorted."""
    return _AGENTS.names()


def register_agent(name: str, factory: Callable | str) -> None:
    """Make ``make_agent(name, ...)`` call ``factory(task, **config)`` (a callable or a "module:function" path).

    Registering the same factory again is allowed; another factory under a taken name raises.
    """
    _AGENTS.register(name, factory)


def resolve_factory(name: str, factory_path: str | None = None) -> Callable:
    """The factory of ``name``: a registered name, a "module:function" path, or else ``factory_path``."""
    return _AGENTS.get(name, factory_path)


def make_agent(name: str = "gpt", task=None, **config: Any) -> torch.nn.Module:
    """Build agent ``name`` for ``task`` (a ``parity_env.Task``) with the factory's keyword arguments ``config``.

    Raises ``AgentError`` for an unknown name, a factory that cannot be imported, keys the factory rejects, a
    config that is not JSON-plain (a checkpoint must record it), or an agent that breaks the contract.
    """
    return build_agent(AgentSpec(name, config), task)


def build_agent(spec: AgentSpec, task, check: bool = True) -> torch.nn.Module:
    """``make_agent`` from a spec; a name unknown here falls back on the spec's recorded factory path.

    ``check=False`` leaves the contract check (a forward pass on the task's full sequence length) to the caller.
    """
    name, config = spec.name, dict(spec.config)
    if task is None:
        raise AgentError(f"make_agent({name!r}, task): the task is required (a parity_env.Task)")
    factory = resolve_factory(name, spec.factory)
    try:
        json.dumps(config)
    except (TypeError, ValueError) as e:
        raise AgentError(f"agent {name!r}: its config must be JSON-plain (it is saved in checkpoints): {e}") from e
    _check_keywords(factory, name, config)
    try:
        agent = factory(task, **config)
    except (TypeError, ValueError) as e:
        raise AgentError(f"agent {name!r} rejected its config {config}: {e}") from e
    except Exception as e:  # a user's factory may fail in any way: name it, not a traceback
        raise AgentError(f"agent {name!r}: its factory failed ({type(e).__name__}: {e})") from e
    if not isinstance(agent, torch.nn.Module):
        raise AgentError(f"agent {name!r}: the factory returned {type(agent).__name__}; expected a torch.nn.Module")
    made = AgentSpec(name, config, import_path(factory) or spec.factory)
    agent.agent_spec = made  # type: ignore[assignment]  # Module.__setattr__ takes any value
    if check:
        check_agent(agent, task)
    return agent


def clone_agent(agent: torch.nn.Module, task) -> torch.nn.Module:
    """A fresh agent built from ``agent``'s spec for ``task``, with a copy of its weights.

    For starting several runs from one pre-trained agent.
    """
    copy = build_agent(agent_spec(agent), task)
    copy.load_state_dict(agent.state_dict())
    return copy.to(agent_device(agent))


def _check_keywords(factory: Callable, name: str, config: dict) -> None:
    """Reject keys the factory cannot take, listing those it can (when its signature says)."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    accepted = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)][1:]  # after the task
    unknown = sorted(set(config) - set(accepted))
    if unknown:
        raise AgentError(f"agent {name!r} does not take {unknown}; its config keys are: "
                         f"{', '.join(accepted) or 'none'}")


def agent_spec(agent: torch.nn.Module) -> AgentSpec:
    """The spec that rebuilds ``agent`` (what a checkpoint records).

    The one ``make_agent`` recorded on it, with the agent's own ``checkpoint_config`` as its config when the factory
    set one (a JSON config that needs no outside file: the hf agent read from a directory gives its model's whole
    config); raises if it was built some other way (it could not be rebuilt from a checkpoint).
    """
    spec = getattr(agent, "agent_spec", None)
    if not isinstance(spec, AgentSpec):
        raise AgentError(f"agent {type(agent).__name__} was not built by agents.make_agent, so a checkpoint could "
                         "not rebuild it: build it with make_agent(name, task, **config) (register your factory "
                         "with agents.register_agent, or name it by its import path 'module:function')")
    own = getattr(agent, "checkpoint_config", None)
    return spec if own is None else AgentSpec(spec.name, dict(own), spec.factory)
