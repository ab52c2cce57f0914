"""Any agent as a TorchRL collection policy that decodes incrementally, right under any collector.

The env's observation ``tokens`` (B, L) is the whole context (the prompt, then the response, PAD-padded). Re-reading
it every step would cost one full forward pass per token, so the policy keeps decoders
(``agents.models.agent.make_decoder``: the agent's incremental interface, or recomputation for an agent without one)
and feeds each only the token the env
appended at the previous step. A decoder holds rows at one position, so the rows are kept in *cohorts*: the rows that
started (or were first seen) together share a decoder. At every call the policy checks each row against its cohort
(the response length and every token the decoder has consumed must match the observation); a row that starts a new
episode (``response_length`` 0), one that the env reset or advanced without the policy, or one it has never seen,
joins a new cohort prefilled with its whole context so far. So the actions are those of a policy that re-reads the
whole context at every step, whatever the collector does: whole-batch episodes (``EpisodeCollector``,
``env.rollout``), TorchRL's ``Collector`` and ``MultiSyncCollector`` with autoreset and rows resetting at different
steps, partial resets (tested against a stateless recomputing policy). Like ``agents.models.generate.generate`` it drops
finished rows from a cohort's computation once at most half of them still run, and only running rows draw random
numbers, so whole-batch collection does the same agent work as bare generation and gives its tokens exactly.

    policy = collection_policy(agent, task, temperature=1.0, generator=g)   # a TensorDictModuleBase
    rollout = env.rollout(max_steps, policy, break_when_any_done=False, break_when_all_done=True)
    collector = Collector(env, policy, frames_per_batch=..., total_frames=...)   # any TorchRL collector

Under TorchRL's deterministic exploration (``set_exploration_type(ExplorationType.DETERMINISTIC)`` or ``MODE``, as
collectors and ``rollout`` set for evaluation) the policy decodes greedily.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase
from torchrl.envs.utils import ExplorationType, exploration_type

from ..models.agent import Decoder, make_decoder
from ..models.generate import check_temperature, sample_logits


@dataclass
class _Cohort:
    """Rows decoded together.

    ``rows`` (b,) are batch indices in the decoder's row order; ``context`` (b, L) holds the tokens the decoder has
    consumed (its first ``decoder.length`` columns), to check each row against the env.
    """

    decoder: Decoder
    rows: torch.Tensor
    context: torch.Tensor


class Sampler(torch.nn.Module):
    """tokens (B, L), response_length (B,), done (B, 1) -> action, token_log_prob, entropy (B,): one policy step.

    ``entropy`` is that of the (tempered) sampling distribution at this step. Finished rows get action 0 and
    log-probability and entropy 0 (the env does not step them, or resets them).
    """

    def __init__(self, agent: torch.nn.Module, prompt_len: int, temperature: float = 1.0,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.agent = agent
        self.prompt_len = prompt_len
        self.temperature = check_temperature(temperature)
        self.generator = generator
        self.cohorts: list[_Cohort] = []
        self.batch_size: int | None = None

    @torch.no_grad()
    def forward(
        self, tokens: torch.Tensor, response_length: torch.Tensor, done: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One policy step: action, token_log_prob and entropy (B,) for the env's rows (see the class docstring)."""
        B, P = tokens.shape[0], self.prompt_len
        response_length, done = response_length.reshape(B), done.reshape(B)
        if B != self.batch_size:  # another env (or the first call): nothing the decoders hold applies
            self.cohorts, self.batch_size = [], B
        fresh = not bool(response_length.any())  # every row starts an episode
        if fresh:
            self.cohorts = []
        seen = torch.zeros(B, dtype=torch.bool, device=tokens.device)  # rows whose cohort matches the env
        n_seen = 0
        rows_out, logits_out, cohorts = [], [], []
        match: torch.Tensor | None  # a cohort's matching rows; None once it holds only those
        for cohort in self.cohorts:
            pos = cohort.decoder.length  # tokens consumed: the matching rows emitted pos - P + 1 tokens
            rows = cohort.rows
            match = (response_length.index_select(0, rows) == pos - P + 1) & ~done.index_select(0, rows)  # (b,)
            consumed = tokens[:, :pos] if rows.numel() == B else tokens[:, :pos].index_select(0, rows)  # (b, pos)
            match &= (consumed == cohort.context[:, :pos]).all(1)
            n_match = int(match.sum())
            if 2 * n_match <= rows.numel():  # compact: drop finished and stale rows from the computation
                cohort.decoder.keep(match)
                cohort.rows, cohort.context = rows[match], cohort.context[match]
                rows, match = cohort.rows, None
            if not n_match:
                continue
            step = tokens[:, pos].index_select(0, rows)  # (b,) the token the env appended last step
            cohort.context[:, pos] = step
            logits = cohort.decoder.step(step)  # (b, A)
            if match is not None and n_match < rows.numel():
                rows, logits = rows[match], logits[match]
            seen[rows] = True
            n_seen += n_match
            rows_out.append(rows)
            logits_out.append(logits)
            cohorts.append(cohort)
        # rows starting an episode, or not decodable from any cohort, join new cohorts prefilled with their context
        if fresh and not bool(done.any()):  # the whole batch: one cohort, as generate's prefill
            starts = [(torch.arange(B, device=tokens.device), tokens.clone(), 0)]
        else:
            new = ~seen & ~done  # (B,)
            lengths = torch.unique(response_length[new]).tolist() if n_seen < B and bool(new.any()) else []
            starts = []
            for length in lengths:
                rows = (new & (response_length == length)).nonzero().squeeze(1)  # (b,)
                starts.append((rows, tokens.index_select(0, rows), length))  # index_select copies: (b, L)
        for rows, context, length in starts:
            decoder = make_decoder(self.agent, context[:, : P + length])
            cohorts.append(_Cohort(decoder, rows, context))
            rows_out.append(rows)
            logits_out.append(decoder.logits)
        self.cohorts = cohorts
        action = torch.zeros(B, dtype=torch.long, device=tokens.device)
        log_prob = torch.zeros(B, device=tokens.device)
        entropy = torch.zeros(B, device=tokens.device)
        if not rows_out:
            return action, log_prob, entropy
        live = torch.cat(rows_out)  # (n,) every running row once
        logits = torch.cat(logits_out)  # (n, A)
        if len(rows_out) > 1:  # one draw per row in batch order, whatever the cohorts
            live, order = live.sort()
            logits = logits[order]
        temperature = self.temperature
        if exploration_type() in (ExplorationType.DETERMINISTIC, ExplorationType.MODE):
            temperature = 0.0
        tok, logp, dist_logp = sample_logits(logits, temperature, self.generator)  # (n,), (n,), (n, A)
        action[live], log_prob[live] = tok, logp
        entropy[live] = -(dist_logp.exp() * dist_logp).sum(-1)
        return action, log_prob, entropy


class CollectionPolicy(TensorDictModuleBase):
    """The ``Sampler`` as a TorchRL policy.

    Reads ``tokens``, ``response_length``, ``done``; writes ``action``, ``token_log_prob``, ``entropy`` (B,) into
    the tensordict it is given.

    What ``TensorDictModule(sampler, in_keys, out_keys)`` does, minus its per-call output conversion (a tenth of
    collection time on mostly short episodes, in tensordict 0.14's ``from_any``).
    """

    in_keys = ["tokens", "response_length", "done"]
    out_keys = ["action", "token_log_prob", "entropy"]

    def __init__(self, sampler: Sampler):
        super().__init__()
        self.module = sampler

    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        """Run the sampler on the ``in_keys`` of ``tensordict`` and write its outputs under the ``out_keys``."""
        outputs = self.module(*(tensordict.get(key) for key in self.in_keys))
        for key, value in zip(self.out_keys, outputs):
            tensordict.set(key, value)
        return tensordict


def collection_policy(agent: torch.nn.Module, task, temperature: float = 1.0,
                      generator: torch.Generator | None = None) -> CollectionPolicy:
    """A TorchRL policy for ``task``'s env.

    It reads ``tokens``, ``response_length``, ``done``; writes ``action``, ``token_log_prob``, ``entropy`` (B,).
    """
    return CollectionPolicy(Sampler(agent, prompt_len=task.prompt_len, temperature=temperature, generator=generator))
