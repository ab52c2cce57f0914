"""The RL algorithms by name or import path; an ``Algorithm`` is what the fine-tuning loop runs, whatever made it.

| algo      | loss                                   | advantage (``prepare``)              | per step            |
|-----------|----------------------------------------|--------------------------------------|---------------------|
| reinforce | ``SequenceReinforceLoss`` (ours)       | r - mean(r), batch or group          | 1 gradient step     |
| ppo       | ``ClipPPOLoss(actor, None)`` (TorchRL) | r - mean(r) (group-normalised, G>1)  | 2 epochs x 2 halves |
| grpo      | ``GRPOLoss`` (TorchRL LLM)             | (r - group mean) / group std         | 1 gradient step     |
| star      | ``NTPLoss`` (ours)                     | keep the correct episodes only       | a round of samples  |

Each shipped module owns its ``DEFAULTS`` (the ``FinetuneConfig`` options it sets when they are left as None), an
optional ``validate(cfg)`` (its own constraints, e.g. GRPO's groups) and ``build(agent, task, cfg) -> Algorithm``: the
loss module, the ``prepare`` step that turns collected episodes into its training batch, the epochs and minibatch size
of its update, how many collection batches make one step and how often the greedy probe runs. Departures shared by
all: rewards are per episode (no discounting, no value bootstrap), and the KL to the pretrained agent (``kl_coef``, 0
by default: a small learning rate instead) is computed only when its coefficient is > 0.

Your own: ``register_algorithm(name, factory)`` or ``--algo package.module:factory``, where ``factory(agent, task,
cfg)`` returns an ``Algorithm`` or a TorchRL ``LossModule`` (its ``prepare`` attribute, if any, prepares the batch);
the factory may carry ``DEFAULTS`` and ``validate`` as attributes. A run records the algorithm's import path, so that
``--resume`` rebuilds it in a new process.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tensordict import TensorDict
from torchrl.objectives import LossModule

from parity_env.factories import Factories, import_path

SHIPPED = ("reinforce", "ppo", "grpo", "star")
"""The shipped algorithms, one module each in this package."""
ALGORITHMS = SHIPPED  # the name the rest of the package and its users know
GENERIC_DEFAULTS = {"lr": 3e-4, "kl_coef": 0.0, "group_size": 1, "epochs": 1}
"""The option defaults of an algorithm that gives none of its own (a user's factory without ``DEFAULTS``)."""
_REGISTERED = Factories("algo", ValueError, example="my_ppo", reserved=SHIPPED,
                        register_hint="agents.rl.register_algorithm(name, factory)")


@dataclass
class Algorithm:
    """What one fine-tuning step runs.

    Collect ``rounds`` batches, ``prepare`` them, then ``epochs`` passes of gradient steps on ``loss`` over
    minibatches of ``minibatch_size`` rows (None: the whole prepared batch).
    """

    loss: LossModule
    prepare: Callable[[TensorDict], TensorDict] | None = None
    """Collected episodes (B,) -> the training batch; None: the episodes as they are."""
    epochs: int = 1
    minibatch_size: int | None = None
    rounds: int = 1
    eval_every: int | None = None
    """Steps between greedy probes; None: the config's eval_every."""

    def __post_init__(self) -> None:
        if self.prepare is None:
            self.prepare = lambda episodes: episodes


def register_algorithm(name: str, factory: Callable | str) -> None:
    """Make ``--algo name`` (and ``FinetuneConfig(algo=name)``) build ``factory(agent, task, cfg)``.

    ``factory`` is a callable or a "module:function" path. The shipped names cannot be taken; registering the same
    factory again is allowed.
    """
    _REGISTERED.register(name, factory)


def known_algorithms() -> list[str]:
    """The algorithm names ``--algo`` takes: the shipped ones, then the registered ones, sorted."""
    return [*SHIPPED, *_REGISTERED.names()]


def _source(algo: str) -> Any:
    """The module (shipped) or the factory of ``algo``, else a ValueError saying what is allowed."""
    if algo in SHIPPED:
        return importlib.import_module(f"{__name__}.{algo}")
    return _REGISTERED.get(algo, known=known_algorithms())


def canonical_algo(algo: str) -> str:
    """``algo`` as a run records it; raises for an algorithm that cannot be found.

    A shipped name, or else the factory's import path where it has one (so that a resumed run rebuilds it in a new
    process).
    """
    source = _source(algo)
    if algo in SHIPPED or ":" in algo:
        return algo
    return import_path(source) or algo  # defined in __main__: resumable only where it is registered again


def defaults(algo: str) -> dict:
    """The option defaults of algorithm ``algo`` (the options a config leaves as None)."""
    return {**GENERIC_DEFAULTS, **getattr(_source(algo), "DEFAULTS", {})}


def validate(algo: str, cfg: Any) -> None:
    """The algorithm's own checks of a config (e.g. GRPO's groups of at least 2), if it has any."""
    check = getattr(_source(algo), "validate", None)
    if check is not None:
        check(cfg)


def build_algorithm(algo: str, agent, task, cfg) -> Algorithm:
    """Algorithm ``algo`` for ``agent`` on ``task`` under the fine-tuning config ``cfg``.

    ``algo`` is a shipped or registered name, or a factory's import path.
    """
    source = _source(algo)
    if algo in SHIPPED:
        built = source.build(agent, task, cfg)
    else:
        try:
            built = source(agent, task, cfg)
        except Exception as e:  # a user's factory may fail in any way: name it, not a traceback
            raise ValueError(f"algo {algo!r}: its factory failed ({type(e).__name__}: {e})") from e
    if isinstance(built, Algorithm):
        return built
    if isinstance(built, LossModule):
        return Algorithm(built, getattr(built, "prepare", None), epochs=cfg.epochs, minibatch_size=cfg.minibatch_size)
    raise ValueError(f"algo {algo!r}: the factory returned {type(built).__name__}; expected an "
                     "agents.rl.algorithms.Algorithm or a torchrl LossModule")
