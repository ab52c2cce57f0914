"""PPO over response tokens with TorchRL's ``ClipPPOLoss`` and no critic: ``parity-cot finetune --algo ppo``.

One step: collect B episodes, compute each episode's advantage r - mean(r) (group-normalised when ``group_size`` G > 1;
with ``kl_coef`` > 0 the reward is first reduced by kl_coef times the sampled response's KL to the pretrained agent,
the InstructGPT form), broadcast it over the response tokens, then ``epochs`` passes (default 2) over minibatches
(default: half the batch) of ``ClipPPOLoss(actor, None)``: the ratio pi / pi_behaviour and its clipping are per
token, the mean is over response tokens (``loss_mask_key="response_mask"``), and the behaviour log-probabilities
are the collection's ``token_log_prob``.
"""

from __future__ import annotations

from tensordict import TensorDict
from torchrl.objectives import ClipPPOLoss

from ..actor import sequence_actor
from ..advantages import batch_mean_advantage, group_advantage, kl_k3

DEFAULTS = {"lr": 3e-4, "kl_coef": 0.0, "group_size": 1, "epochs": 2}


def build(agent, task, cfg):
    """PPO for ``agent`` on ``task`` under the fine-tuning config ``cfg``: TorchRL's ``ClipPPOLoss``, no critic."""
    from . import Algorithm

    loss = ClipPPOLoss(sequence_actor(agent, task, cfg.temperature, per_token=True), None,
                       clip_epsilon=cfg.clip_epsilon, entropy_bonus=False, functional=False)
    loss.set_keys(action="action", sample_log_prob="token_log_prob", advantage="advantage")
    loss.loss_mask_key = "response_mask"

    def prepare(episodes: TensorDict) -> TensorDict:
        reward = episodes["reward"]  # (B, 1)
        if cfg.kl_coef > 0:
            kl = (kl_k3(episodes["token_log_prob"], episodes["ref_log_prob"]) * episodes["response_mask"])
            reward = reward - cfg.kl_coef * kl.sum(-1, keepdim=True)
        adv = group_advantage(reward, cfg.group_size) if cfg.group_size > 1 else batch_mean_advantage(reward)
        episodes["advantage"] = adv[:, None, :].expand(-1, episodes["action"].shape[1], -1)  # (B, R, 1)
        return episodes

    return Algorithm(loss, prepare, epochs=cfg.epochs, minibatch_size=cfg.minibatch_size or max(1, cfg.batch_size // 2))
