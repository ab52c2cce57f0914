"""Critic-free advantages, token-normalised means and the KL estimator shared by the shipped losses."""

from __future__ import annotations

import torch


def batch_mean_advantage(reward: torch.Tensor) -> torch.Tensor:
    """REINFORCE with the batch-mean baseline: A_i = r_i - mean_j r_j.  reward (B, 1) -> (B, 1)."""
    return reward - reward.mean()


def group_advantage(reward: torch.Tensor, group_size: int, normalise: bool = True) -> torch.Tensor:
    """A_i = (r_i - mean of its group) [/ std of its group]; rows come in blocks of ``group_size`` sharing a prompt.

    reward (B, 1) -> (B, 1). Groups whose rewards are all equal get advantage 0 (no signal), not NaN.
    """
    B = reward.shape[0]
    if group_size < 1 or B % group_size:
        raise ValueError(f"group_size must be a positive divisor of the batch size {B}; got {group_size}")
    r = reward.reshape(B // group_size, group_size)  # (groups, G)
    adv = r - r.mean(-1, keepdim=True)
    if normalise and group_size > 1:
        adv = adv / r.std(-1, keepdim=True).clamp_min(1e-6)
    return adv.reshape(B, 1)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over the True entries of ``mask`` (same shape): the token-normalised mean over a batch."""
    return (x * mask).sum() / mask.sum().clamp_min(1)


def kl_k3(log_prob: torch.Tensor, ref_log_prob: torch.Tensor) -> torch.Tensor:
    """Per-token estimate of KL(pi || pi_ref) from samples of pi: exp(ref - cur) - (ref - cur) - 1 >= 0 (k3)."""
    diff = ref_log_prob - log_prob
    return diff.expm1() - diff
