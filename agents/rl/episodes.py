"""Collect whole-batch episodes through the TorchRL env and pack them as one (B,)-shaped episode tensordict.

    collector = EpisodeCollector(env, agent, task, temperature=1.0, generator=g)
    episodes = collector.collect()      # TensorDict, batch_size [B]; what every loss module receives

``collect`` runs the loop of ``env.rollout(max_steps, policy, break_when_all_done=True)`` itself: reset, then policy
and ``env.step`` with TorchRL's partial-step mask ``"_step"`` (finished rows are not stepped) until every row is done.
It keeps only the policy's per-step log-probabilities and entropies, the rewards summed over the steps and the last
step's data, rather than stacking and merging every step's tensordict (``benchmarks/README.md`` measures the
difference). The episodes are those ``env.rollout`` gives (tested).

The episode tensordict (the interface for any TorchRL ``LossModule``; P = task.prompt_len prompt tokens,
R = task.max_response_len response slots, L = P + R)::

    tokens            (B, L) int64   the prompt, the response, PAD after EOS (the env's last observation)
    prompt            (B, P) int64   the prompt: the state a value head may read (never the response)
    action            (B, R) int64   the response tokens (PAD after EOS); score it with ``actor.sequence_actor``
    response_mask     (B, R) bool    True on emitted tokens, EOS included
    action_log_prob   (B,)   float   behaviour log-probability of the whole response (TorchRL's default key)
    token_log_prob    (B, R) float   behaviour log-probability of each emitted token (0 where masked)
    entropy           (B, R) float   entropy of the sampling distribution at each emitted token (0 where masked)
    prompt_id         (B,)   int64   equal for equal prompts (the GRPO group id)
    is_correct, is_long, finished (B,) bool;  answer_length (B,) int64 tokens before EOS
    reward            (B, 1)         the episode's return: the env's rewards summed over its steps
    done, terminated  (B, 1)         False: each episode is a one-step bandit, its action the whole response
    next: reward, done, terminated (B, 1), prompt (B, P), tokens (B, L)   for TorchRL value estimators (done: True)
    ref_log_prob      (B, R) float   only when a reference agent is given: its log-probability of each token
    advantage                        written by the shipped algorithms' ``prepare`` step (``agents.rl.algorithms``)

The classic TorchRL losses (``ClipPPOLoss``, ``A2CLoss``, ``ReinforceLoss``) built on ``sequence_actor(agent, task)``
read ``action``, ``action_log_prob``, ``advantage`` or the critic's ``state_value`` and the ``next`` entries with
their default keys.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from tensordict import TensorDict
from torchrl.envs import EnvBase

from ..models.generate import response_logprobs
from .policy import collection_policy


class EpisodeCollector:
    """Runs the env with the policy until every row is done and packs the episodes (see the module docstring)."""

    def __init__(
        self,
        env: EnvBase,
        agent: torch.nn.Module,
        task,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        reference: torch.nn.Module | None = None,
    ):
        self.env, self.agent, self.task, self.reference = env, agent, task, reference
        self.temperature = temperature
        self.policy = collection_policy(agent, task, temperature, generator)

    @torch.no_grad()
    def collect(self) -> TensorDict:
        """Run one batch of episodes to their ends and return their episode tensordict (module docstring)."""
        was_training = self.agent.training
        self.agent.eval()
        td = self.env.reset()
        prompt_id = td["prompt_id"]
        log_probs, entropies = [], []
        reward: torch.Tensor | float = 0.0
        for _ in range(self.task.max_response_len):
            td = self.policy(td)  # writes action, token_log_prob, entropy (0 for finished rows)
            log_probs.append(td["token_log_prob"])
            entropies.append(td["entropy"])
            last = self.env.step(td)["next"]
            reward = reward + last["reward"]  # (B, 1); rows not stepped report 0
            done = last["done"].reshape(-1)  # (B,)
            if bool(done.all()):
                break
            td = last.exclude("reward")  # the next root, as step_mdp builds it
            td.set("_step", ~done)  # TorchRL's partial step: finished rows keep their state
        self.agent.train(was_training)
        assert isinstance(reward, torch.Tensor)  # every row took at least one step
        return pack_episodes(last, prompt_id, reward, torch.stack(log_probs, 1), torch.stack(entropies, 1), self.task,
                             self.reference, self.temperature)


def pack_episodes(last: TensorDict, prompt_id: torch.Tensor, reward: torch.Tensor, token_log_prob: torch.Tensor,
                  entropy: torch.Tensor, task, reference: torch.nn.Module | None = None,
                  temperature: float = 1.0) -> TensorDict:
    """The (B,) episode tensordict (module docstring) of whole-batch episodes.

    Built from the env's data after their last step ``last`` (B,) (finished rows were not stepped, so it holds every
    row's final state), the prompt ids (B,), the returns (B, 1) and the policy's per-step log-probabilities and
    entropies (B, T), 0 after each row's end.
    """
    tokens = last["tokens"].long()  # (B, L) (the env's tokens are bytes)
    B, P = tokens.shape[0], task.prompt_len
    R = tokens.shape[1] - P
    response_length = last["response_length"].reshape(B)
    response_mask = torch.arange(R, device=tokens.device) < response_length[:, None]  # (B, R)
    token_log_prob = _per_response_slot(token_log_prob, response_mask)  # (B, R)
    finished = last["terminated"].reshape(B)
    answer_length = response_length - finished.long()
    reward = reward.reshape(B, 1).float()
    ones = torch.ones(B, 1, dtype=torch.bool, device=tokens.device)
    episodes = TensorDict(
        {
            "tokens": tokens,
            "prompt": tokens[:, :P],
            "action": tokens[:, P:],
            "response_mask": response_mask,
            "action_log_prob": token_log_prob.sum(-1),
            "token_log_prob": token_log_prob,
            "entropy": _per_response_slot(entropy, response_mask),
            "prompt_id": prompt_id.reshape(B),
            "is_correct": last["is_correct"].reshape(B).bool(),
            "is_long": answer_length > task.short_length,
            "finished": finished,
            "answer_length": answer_length,
            "reward": reward,
            "done": ~ones,
            "terminated": ~ones,
            "next": {"reward": reward, "done": ones, "terminated": ones, "prompt": tokens[:, :P], "tokens": tokens},
        },
        batch_size=[B],
        device=tokens.device,
    )
    if reference is not None:
        full_mask = F.pad(response_mask, (P, 0))  # (B, L)
        episodes["ref_log_prob"] = response_logprobs(reference, tokens, full_mask, temperature, prompt_len=P)[:, P:]
    return episodes


def _per_response_slot(per_step: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
    """A (B, T) per-step rollout entry as (B, R) per response slot, 0 after each row's end (T <= R)."""
    B, R = response_mask.shape
    per_step = F.pad(per_step.reshape(B, -1), (0, R - per_step.reshape(B, -1).shape[1]))  # (B, R)
    return torch.where(response_mask, per_step, 0.0)
