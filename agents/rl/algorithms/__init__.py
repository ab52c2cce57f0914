"""The shipped RL algorithms, one module each; an ``Algorithm`` is what the fine-tuning loop runs, whatever made it.

| algo      | loss                                   | advantage (``prepare``)              | per step            |
|-----------|----------------------------------------|--------------------------------------|---------------------|
| reinforce | ``SequenceReinforceLoss`` (ours)       | r - mean(r), batch or group          | 1 gradient step     |
| ppo       | ``ClipPPOLoss(actor, None)`` (TorchRL) | r - mean(r) (group-normalised, G>1)  | 2 epochs x 2 halves |
| grpo      | ``GRPOLoss`` (TorchRL LLM)             | (r - group mean) / group std         | 1 gradient step     |
| star      | ``NTPLoss`` (ours)                     | keep the correct episodes only       | a round of samples  |

Each module owns its ``DEFAULTS`` (the ``FinetuneConfig`` options it sets when they are left as None) and
``build(agent, task, cfg) -> Algorithm``: the loss module, the ``prepare`` step that turns collected episodes into
its training batch, the epochs and minibatch size of its update, how many collection batches make one step and how
often the greedy probe runs. Departures shared by all: rewards are per episode (no discounting, no value
bootstrap), and the KL to the pretrained agent (``kl_coef``, 0 by default: a small learning rate instead) is computed
only when its coefficient is > 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from tensordict import TensorDict
from torchrl.objectives import LossModule

from . import grpo, ppo, reinforce, star

ALGORITHMS = {"reinforce": reinforce, "ppo": ppo, "grpo": grpo, "star": star}


@dataclass
class Algorithm:
    """What one fine-tuning step runs: collect ``rounds`` batches, ``prepare`` them, then ``epochs`` passes of
    gradient steps on ``loss`` over minibatches of ``minibatch_size`` rows (None: the whole prepared batch)."""

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


def defaults(algo: str) -> dict:
    """The option defaults of algorithm ``algo`` (the options a config leaves as None)."""
    return dict(ALGORITHMS[algo].DEFAULTS)


def build_algorithm(algo: str, agent, task, cfg) -> Algorithm:
    """The shipped algorithm ``algo`` for ``agent`` on ``task`` under the fine-tuning config ``cfg``."""
    if algo not in ALGORITHMS:
        raise ValueError(f"algo must be one of {list(ALGORITHMS)}; got {algo!r}")
    return ALGORITHMS[algo].build(agent, task, cfg)
