"""The shipped algorithms: each a TorchRL loss module plus the ``prepare`` step that turns collected episodes into
its training batch, and its update schedule.

| algo      | loss module                               | prepare (advantage)                         | updates per step     |
|-----------|-------------------------------------------|---------------------------------------------|----------------------|
| reinforce | ``SequenceReinforceLoss`` (ours)          | r - mean(r) over the batch (G = 1) or group | 1                    |
| ppo       | ``ClipPPOLoss(actor, None)`` (TorchRL)    | r - mean(r) (group-normalised when G > 1)   | ``ppo_epochs`` x 2   |
| grpo      | ``GRPOLoss`` (TorchRL LLM)                | ``MCAdvantage`` over G rollouts of a prompt | 1                    |
| star      | ``NTPLoss`` (ours)                        | keep the correct episodes, drop the rest    | ``star_epochs`` pass |

Departures shared by all: rewards are per episode (no discounting, no value bootstrap); the KL to the pretrained
model (``kl_coef``) is in the loss for reinforce and grpo, and folded into the reward for ppo (r - kl_coef * KL of
the sampled response, the InstructGPT form), and absent from STaR (which clones its own correct samples).
STaR here continues from the current model each round (the original STaR restarts from the base model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from tensordict import TensorDict
from torchrl.objectives import LossModule
from torchrl.objectives.llm import MCAdvantage

from ..model import GPT
from .actor import sequence_actor
from .advantages import batch_mean_advantage, group_advantage, kl_k3
from .losses import NTPLoss, SequenceReinforceLoss, grpo_loss, ppo_loss

ALGORITHMS = ("reinforce", "ppo", "grpo", "star")


@dataclass
class Algorithm:
    name: str
    loss: LossModule
    prepare: Callable[[TensorDict], TensorDict]  # episodes (B,) -> training batch (advantage added, rows filtered)
    epochs: int = 1  # passes over the prepared batch per step
    minibatch_size: int | None = None  # rows per gradient step; None: the whole prepared batch


def make_algorithm(
    name: str,
    model: GPT,
    d: int,
    *,
    temperature: float = 1.0,
    group_size: int = 1,
    kl_coef: float = 0.0,
    clip_epsilon: float = 0.2,
    ppo_epochs: int = 2,
    ppo_minibatch: int = 128,
    star_epochs: int = 1,
    star_minibatch: int = 256,
) -> Algorithm:
    """The loss module, prepare step and schedule of algorithm ``name`` (one of ``ALGORITHMS``)."""
    if name not in ALGORITHMS:
        raise ValueError(f"algo must be one of {ALGORITHMS}; got {name!r}")
    if name == "reinforce":
        loss = SequenceReinforceLoss(sequence_actor(model, d, temperature), kl_coef=kl_coef)
        return Algorithm(name, loss, lambda ep: _with_advantage(ep, _baseline(ep["reward"], group_size)))
    if name == "ppo":
        loss = ppo_loss(sequence_actor(model, d, temperature), clip_epsilon=clip_epsilon)

        def prepare(ep: TensorDict) -> TensorDict:
            reward = ep["reward"]
            if kl_coef > 0:
                kl = (kl_k3(ep["sample_log_prob"], ep["ref_log_prob"]) * ep["response_mask"]).sum(-1, keepdim=True)
                reward = reward - kl_coef * kl
            adv = group_advantage(reward, group_size) if group_size > 1 else batch_mean_advantage(reward)
            return _with_advantage(ep, adv, per_token=True)

        return Algorithm(name, loss, prepare, epochs=ppo_epochs, minibatch_size=ppo_minibatch)
    if name == "grpo":
        if group_size < 2:
            raise ValueError(f"grpo needs group_size >= 2 rollouts per prompt; got {group_size}")
        loss = grpo_loss(sequence_actor(model, d, temperature), clip_epsilon=clip_epsilon, kl_coef=kl_coef)
        return Algorithm(name, loss, lambda ep: _mc_advantage(ep, group_size))
    loss = NTPLoss(sequence_actor(model, d, temperature=1.0))
    return Algorithm(name, loss, lambda ep: ep[ep["is_correct"]], epochs=star_epochs, minibatch_size=star_minibatch)


def _baseline(reward: torch.Tensor, group_size: int) -> torch.Tensor:
    """Group-mean baseline (unnormalised) when rows come in groups, else the batch mean."""
    return group_advantage(reward, group_size, normalise=False) if group_size > 1 else batch_mean_advantage(reward)


def _with_advantage(episodes: TensorDict, advantage: torch.Tensor, per_token: bool = False) -> TensorDict:
    """Write ``advantage``: (B, 1), or broadcast over the response as (B, R, 1) for per-token ratio losses."""
    if per_token:
        advantage = advantage[:, None, :].expand(-1, episodes["action"].shape[1], -1)  # (B, R, 1)
    episodes["advantage"] = advantage
    return episodes


def _mc_advantage(episodes: TensorDict, group_size: int) -> TensorDict:
    """TorchRL's ``MCAdvantage``: each episode a one-step trajectory grouped by ``prompt_id``; (r - mean) / std."""
    transform = MCAdvantage(grpo_size=group_size, prompt_key="prompt_id", trajectory_return="sum")
    steps = episodes.select("prompt_id", ("next", "reward"), ("next", "done"))[:, None]  # (B, 1): B trajectories
    out = transform.inv(steps)
    if out is None or out.shape[0] != episodes.shape[0]:
        raise RuntimeError(
            f"MCAdvantage completed {0 if out is None else out.shape[0]} of {episodes.shape[0]} episodes: each block of "
            f"group_size = {group_size} rows must share one prompt id"
        )
    order = _match_rows(out["prompt_id"].reshape(-1), episodes["prompt_id"])
    return _with_advantage(episodes, out["advantage"].reshape(-1, 1)[order], per_token=True)


def _match_rows(grouped_ids: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Indices into ``grouped_ids`` that put MCAdvantage's (grouped) output back in the batch's row order.

    MCAdvantage emits each group's trajectories together, in arrival order within the group; rows of one prompt
    appear in the batch in the same order, so a stable sort of both by prompt id aligns them.
    """
    src = torch.sort(grouped_ids, stable=True).indices  # grouped position of the k-th smallest id
    dst = torch.sort(ids, stable=True).indices  # batch row of the k-th smallest id
    order = torch.empty_like(src)
    order[dst] = src
    return order
