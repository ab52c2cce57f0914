"""The shipped RL losses as TorchRL ``LossModule``s over the (B,) episode tensordict (``episodes`` module).

- ``SequenceReinforceLoss`` (ours; TorchRL's ``ReinforceLoss`` needs a critic). Departures from textbook REINFORCE:
  a critic-free baseline (the advantage is precomputed: batch or group mean, see ``advantages``), an optional KL
  penalty to the pretrained model (k3 estimator, token mean), and no discounting (one terminal reward per episode).
- ``NTPLoss`` for STaR: next-token cross-entropy on the kept (correct) responses, token mean, at temperature 1.
- ``ppo_loss``: ``torchrl.objectives.ClipPPOLoss`` without a critic, fed a precomputed per-sequence advantage and a
  per-token actor (``actor.sequence_actor``); the ratio and clipping are per token, the mean is over response tokens
  (``loss_mask_key="response_mask"``).
- ``grpo_loss``: ``torchrl.objectives.llm.GRPOLoss`` on the same per-token actor, advantage from ``MCAdvantage``.

Every loss scores the finished sequences in one causal pass (the actor), never one forward pass per token.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import TensorDictModuleBase
from torchrl.objectives import ClipPPOLoss, LossModule
from torchrl.objectives.llm import GRPOLoss

from .advantages import kl_k3, masked_mean


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
        mask = tensordict[self.tensor_keys.mask]  # (B, R)
        dist = self.actor.get_dist(tensordict)
        log_prob = dist.log_prob(tensordict[self.tensor_keys.action])  # (B, R)
        with torch.no_grad():
            entropy = masked_mean(dist.entropy(), mask)
        return TensorDict({"loss_objective": -masked_mean(log_prob, mask), "entropy": entropy}, batch_size=[])


def ppo_loss(actor: TensorDictModuleBase, clip_epsilon: float = 0.2, entropy_coef: float = 0.0) -> ClipPPOLoss:
    """Critic-free ``ClipPPOLoss`` over per-token log-probs (B, R), token mean over ``response_mask``.

    Expects ``advantage`` (B, R, 1) (the sequence advantage broadcast over the response) and ``sample_log_prob``.
    """
    loss = ClipPPOLoss(
        actor,
        None,
        clip_epsilon=clip_epsilon,
        entropy_bonus=entropy_coef > 0,
        entropy_coeff=entropy_coef,
        functional=False,
    )
    loss.set_keys(action="action", sample_log_prob="sample_log_prob", advantage="advantage")
    loss.loss_mask_key = "response_mask"
    return loss


def grpo_loss(
    actor: TensorDictModuleBase, clip_epsilon: float = 0.2, kl_coef: float = 0.0, entropy_coef: float = 0.0
) -> GRPOLoss:
    """``GRPOLoss`` reading ``action``/``sample_log_prob``/``ref_log_prob`` (B, R) and ``advantage`` (B, R, 1)."""
    loss = GRPOLoss(
        actor,
        clip_epsilon=clip_epsilon,
        kl_to_ref_coeff=kl_coef if kl_coef > 0 else None,
        entropy_bonus=entropy_coef > 0,
        entropy_coeff=entropy_coef,
        aggregation="token_mean",
    )
    loss.set_keys(action="action", sample_log_prob="sample_log_prob", ref_log_probs="ref_log_prob")
    return loss
