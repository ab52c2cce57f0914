"""GRPO with TorchRL's ``GRPOLoss``: ``parity-cot finetune --algo grpo --group-size 8``.

One step: collect B episodes in groups of G consecutive rows sharing a prompt (the env's ``group_size``), take the
advantage (r - group mean) / group std (0 for a group whose rewards are all equal), broadcast it over the response
tokens, and take one gradient step of ``GRPOLoss`` (clipped per-token ratio, token mean; with ``kl_coef`` > 0 its
KL to the pretrained agent). The advantage is computed on the consecutive groups directly: TorchRL's
``MCAdvantage`` gives the same numbers (tested) but regroups the batch by prompt id at several hundred times the cost.
"""

from __future__ import annotations

from tensordict import TensorDict
from torchrl.objectives.llm import GRPOLoss

from ..actor import sequence_actor
from ..advantages import group_advantage

DEFAULTS = {"lr": 3e-4, "kl_coef": 0.0, "group_size": 8, "epochs": 1}


def validate(cfg) -> None:
    """GRPO's advantage compares the rollouts of one prompt: it needs groups of at least two."""
    if cfg.group_size < 2:
        raise ValueError(f"grpo needs group_size >= 2 rollouts per prompt; got {cfg.group_size}")


def build(agent, task, cfg):
    """GRPO for ``agent`` on ``task`` under the fine-tuning config ``cfg``: TorchRL's ``GRPOLoss``, group advantages."""
    from . import Algorithm

    loss = GRPOLoss(sequence_actor(agent, task, cfg.temperature, per_token=True), clip_epsilon=cfg.clip_epsilon,
                    kl_to_ref_coeff=cfg.kl_coef if cfg.kl_coef > 0 else None, entropy_bonus=False,
                    aggregation="token_mean")
    loss.set_keys(action="action", sample_log_prob="token_log_prob", ref_log_probs="ref_log_prob")

    def prepare(episodes: TensorDict) -> TensorDict:
        adv = group_advantage(episodes["reward"], cfg.group_size)  # (B, 1)
        episodes["advantage"] = adv[:, None, :].expand(-1, episodes["action"].shape[1], -1)  # (B, R, 1)
        return episodes

    return Algorithm(loss, prepare, epochs=cfg.epochs, minibatch_size=cfg.minibatch_size)
