"""STaR (self-taught reasoner): sample, keep the correct responses, train on them by NTP: ``--algo star``.

One step is one round: sample ``star_samples`` episodes from the current agent (in batches of ``batch_size``), keep
those the reward calls correct, and take ``epochs`` passes (default 1) of next-token cross-entropy on the kept
responses (token mean, at temperature 1), in minibatches of ``batch_size`` rows. The greedy probe runs every round.
Departure from the original STaR: each round continues from the current agent (the original restarts from the base
model), and there is no KL term (it clones its own correct samples). TorchRL has no STaR and its ``SFTLoss`` needs a
Hugging Face chat template, hence ``NTPLoss``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import TensorDictModuleBase
from torchrl.objectives import LossModule

from ..actor import sequence_actor
from ..advantages import masked_mean

DEFAULTS = {"lr": 1e-3, "kl_coef": 0.0, "group_size": 1, "epochs": 1}
"""A supervised update on correct samples only, so a larger learning rate than the policy-gradient methods."""


class NTPLoss(LossModule):
    """STaR's update: next-token cross-entropy on the responses it is given (token mean); writes ``loss_objective``."""

    @dataclass
    class _AcceptedKeys:
        action: str = "action"
        mask: str = "response_mask"

    default_keys = _AcceptedKeys

    def __init__(self, actor: TensorDictModuleBase):
        super().__init__()
        self.actor = actor

    def _forward_value_estimator_keys(self, **kwargs) -> None:
        pass

    def forward(self, tensordict: TensorDictBase) -> TensorDict:
        """The loss ``loss_objective`` and the log ``entropy`` of the responses in ``tensordict``."""
        mask = tensordict[self.tensor_keys.mask]  # (B, R)
        dist = self.actor.get_dist(tensordict)
        log_prob = dist.log_prob(tensordict[self.tensor_keys.action])  # (B, R)
        with torch.no_grad():
            entropy = masked_mean(dist.entropy(), mask)
        return TensorDict({"loss_objective": -masked_mean(log_prob, mask), "entropy": entropy}, batch_size=[])


def keep_correct(episodes: TensorDict) -> TensorDict:
    """The episodes the reward called correct (rows dropped, not weighted)."""
    return episodes[episodes["is_correct"]]


def build(agent, task, cfg):
    """STaR for ``agent`` on ``task`` under the fine-tuning config ``cfg``: next-token loss on the correct samples."""
    from . import Algorithm

    loss = NTPLoss(sequence_actor(agent, task, temperature=1.0, per_token=True))
    return Algorithm(loss, keep_correct, epochs=cfg.epochs, minibatch_size=cfg.minibatch_size or cfg.batch_size,
                     rounds=math.ceil(cfg.star_samples / cfg.batch_size), eval_every=1)
