"""Whole-sequence TorchRL actors: every response position of a finished episode scored in ONE causal pass.

TorchRL's losses get their log-probabilities from ``actor.get_dist(td).log_prob(td["action"])``. Here ``action`` is
the whole response (B, R) and the distribution covers all R response positions at once, so a loss costs one
causal pass over the finished sequences (two: short and long responses, each cut after its end) instead of one
per emitted token.

    actor = sequence_actor(agent, task)                  # the response as ONE action: log-prob (B,), for the classic
                                                         # losses (ClipPPOLoss, A2CLoss, ReinforceLoss)
    actor = sequence_actor(agent, task, per_token=True)  # per-token log-probs (B, R), for token-level losses
    dist = actor.get_dist(episodes)                      # reads "tokens" (B, L), "response_mask" (B, R)
    logp = dist.log_prob(episodes["action"])             # (B,) or (B, R), 0 on masked positions

By default each episode is one action (the response) in a one-step episode, which is the shape every classic TorchRL
loss expects for a (B,) batch with (B, 1) rewards; its behaviour log-probability is the episode entry
``action_log_prob``, TorchRL's default key, so those losses need no ``set_keys``. Departure: the entropy of the
per-sequence distribution is the sum of the per-position entropies along the sampled response (the exact entropy
over all responses is intractable); it is what the entropy bonus of those losses sees.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from tensordict import TensorDictBase
from tensordict.nn import ProbabilisticTensorDictModule, ProbabilisticTensorDictSequential, TensorDictModule
from torchrl.modules.distributions import LLMMaskedCategorical

from ..models.agent import agent_logits
from ..models.generate import check_temperature


class ResponseScorer(torch.nn.Module):
    """tokens (B, L), response_mask (B, R) -> logits (B, R, A) of the R = L - P response positions, tempered.

    Causal passes over the finished sequences cut after their responses: one for the short responses (at most
    ``short_tokens`` tokens: the short form and its EOS) and one for the others (each cut at its longest), so that a
    batch of mostly short answers does not pay for R positions a row. The logits of positions after a row's response
    are 0 (they are masked).
    """

    def __init__(self, agent: torch.nn.Module, prompt_len: int, temperature: float = 1.0, short_tokens: int = 2):
        super().__init__()
        self.agent = agent
        self.prompt_len = prompt_len
        self.short_tokens = short_tokens
        self.temperature = check_temperature(temperature)
        if self.temperature == 0:
            raise ValueError("a scoring temperature must be > 0 (log-probabilities of greedy decoding are undefined)")

    def forward(self, tokens: torch.Tensor, response_mask: torch.Tensor) -> torch.Tensor:
        """Tempered logits (B, R, A) of the response positions; 0 after each row's response."""
        P, (B, R) = self.prompt_len, response_mask.shape
        lengths = response_mask.sum(1)  # (B,)
        short = lengths <= self.short_tokens  # (B,)
        logits: torch.Tensor | None = None
        for rows in (short.nonzero().squeeze(1), (~short).nonzero().squeeze(1)):
            if not rows.numel():
                continue
            n = max(int(lengths.index_select(0, rows).max()), 1)  # response positions this group needs
            part = agent_logits(self.agent, tokens.index_select(0, rows)[:, : P + n - 1], P - 1)  # (b, n, A)
            part = F.pad(part.float(), (0, 0, 0, R - n))  # (b, R, A): j predicts token P + j
            logits = part.new_zeros(B, R, part.shape[-1]) if logits is None else logits
            logits = logits.index_copy(0, rows, part)  # out of place: autograd reaches both groups
        assert logits is not None  # B > 0: one of the two groups has rows
        return logits / self.temperature


class SequenceCategorical(LLMMaskedCategorical):
    """The response as one action: log_prob and entropy summed over the unmasked positions, shape (B,)."""

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """The log-probability (B,) of the whole response ``value``: the unmasked positions' sum."""
        return super().log_prob(value).sum(-1)

    def entropy(self) -> torch.Tensor:
        """The entropy (B,) of the whole response: the unmasked positions' sum."""
        return torch.where(self.mask, super().entropy(), 0.0).sum(-1)


class SequenceActor(ProbabilisticTensorDictSequential):
    """A ProbabilisticActor over whole responses whose ``get_dist`` also accepts the LLM losses' keyword arguments.

    ``torchrl.objectives.llm.GRPOLoss`` calls ``get_dist(td, logits_key="logits")``; a plain ProbabilisticActor would
    forward that argument to its modules and fail. The masked categorical it returns has the ``.mask`` GRPOLoss reads.
    """

    def get_dist(self, tensordict: TensorDictBase, tensordict_out=None, logits_key: str = "logits", **kwargs):
        """The response distribution of ``tensordict``; ``logits_key`` is accepted and ignored (always "logits")."""
        del logits_key  # our logits always live under "logits"
        return super().get_dist(tensordict, tensordict_out, **kwargs)


def sequence_actor(agent: torch.nn.Module, task, temperature: float = 1.0, per_token: bool = False) -> SequenceActor:
    """An actor over the responses of finished episodes of ``task``.

    It reads ``tokens`` and ``response_mask`` and scores ``action``: one action per episode, or with ``per_token``
    one per response token.
    """
    scorer = TensorDictModule(ResponseScorer(agent, task.prompt_len, temperature, task.short_length + 1),
                              in_keys=["tokens", "response_mask"], out_keys=["logits"])
    head = ProbabilisticTensorDictModule(
        in_keys={"logits": "logits", "mask": "response_mask"},
        out_keys=["action"],
        distribution_class=LLMMaskedCategorical if per_token else SequenceCategorical,
        return_log_prob=True,
    )
    return SequenceActor(scorer, head)
