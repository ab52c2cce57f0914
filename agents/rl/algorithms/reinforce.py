"""REINFORCE with a mean baseline over whole responses, top to bottom: ``parity-cot finetune --algo reinforce``.

One step: collect B episodes (one terminal reward each), take the advantage A_i = r_i - mean(r) (over the batch, or
over each group of G rollouts of a prompt when ``group_size`` G > 1), and take one gradient step on

    loss = -(1/B) sum_i A_i log pi(response_i | prompt_i)  [+ kl_coef * token_mean(KL(pi || pi_ref))]

where log pi(response) is the sum of the response tokens' log-probabilities, scored in one causal pass over the
finished sequences (``actor.sequence_actor``). Departures from textbook REINFORCE: a critic-free baseline (the
advantage is precomputed by ``prepare``), an optional KL penalty to the pretrained agent (k3 estimator, token
mean), and no discounting. TorchRL's own ``ReinforceLoss`` needs a critic; it works too, as a custom loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import TensorDictModuleBase
from torchrl.objectives import LossModule

from ..actor import sequence_actor
from ..advantages import batch_mean_advantage, group_advantage, kl_k3, masked_mean

DEFAULTS = {"lr": 3e-4, "kl_coef": 0.0, "group_size": 1, "epochs": 1}
"""A small learning rate instead of a KL penalty: at 1e-3 REINFORCE collapsed its entropy onto a slightly wrong chain
at d = 8, at 3e-4 it reached 99% and stayed (benchmarks/README.md)."""


class SequenceReinforceLoss(LossModule):
    """loss = -(1/B) sum_i A_i sum_t log pi(a_it) + kl_coef * token_mean(KL(pi || pi_ref)).

    Reads ``tokens``, ``response_mask``, ``action``, ``advantage`` (B, 1) and, when ``kl_coef > 0``, ``ref_log_prob``.
    Writes ``loss_objective``, ``loss_kl`` (when used), and the logs ``entropy`` and ``kl``.
    """

    @dataclass
    class _AcceptedKeys:
        advantage: str = "advantage"
        action: str = "action"
        mask: str = "response_mask"
        ref_log_prob: str = "ref_log_prob"

    default_keys = _AcceptedKeys

    def __init__(self, actor: TensorDictModuleBase, kl_coef: float = 0.0):
        super().__init__()
        self.actor = actor
        self.kl_coef = float(kl_coef)

    def _forward_value_estimator_keys(self, **kwargs) -> None:
        pass

    def forward(self, tensordict: TensorDictBase) -> TensorDict:
        """The losses of the episodes in ``tensordict`` (see the class docstring)."""
        keys = self.tensor_keys
        mask = tensordict[keys.mask]  # (B, R)
        dist = self.actor.get_dist(tensordict)
        log_prob = dist.log_prob(tensordict[keys.action])  # (B, R), 0 where masked
        advantage = tensordict[keys.advantage].reshape(-1, 1)  # (B, 1)
        out = {"loss_objective": -(advantage * log_prob).sum(-1).mean()}
        with torch.no_grad():
            out["entropy"] = masked_mean(dist.entropy(), mask)
        if keys.ref_log_prob in tensordict.keys():
            kl = masked_mean(kl_k3(log_prob, tensordict[keys.ref_log_prob]), mask)
            out["kl"] = kl.detach()
            if self.kl_coef > 0:
                out["loss_kl"] = self.kl_coef * kl
        return TensorDict(out, batch_size=[])


def baseline_advantage(reward: torch.Tensor, group_size: int) -> torch.Tensor:
    """The advantage r - mean(r): over each group of ``group_size`` rollouts of a prompt when > 1, else over the batch.

    reward (B, 1) -> (B, 1).
    """
    return group_advantage(reward, group_size, normalise=False) if group_size > 1 else batch_mean_advantage(reward)


def build(agent, task, cfg):
    """REINFORCE for ``agent`` on ``task`` under the fine-tuning config ``cfg``: ``SequenceReinforceLoss``."""
    from . import Algorithm

    loss = SequenceReinforceLoss(sequence_actor(agent, task, cfg.temperature, per_token=True), kl_coef=cfg.kl_coef)

    def prepare(episodes: TensorDict) -> TensorDict:
        episodes["advantage"] = baseline_advantage(episodes["reward"], cfg.group_size)  # (B, 1)
        return episodes

    return Algorithm(loss, prepare, epochs=cfg.epochs, minibatch_size=cfg.minibatch_size)
