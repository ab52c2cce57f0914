"""Any agent as a TorchRL collection policy that decodes incrementally across the steps of an episode.

The env's observation ``tokens`` (B, L) is the whole context (the prompt, then the response, PAD-padded). Re-reading
it every step would cost one full forward pass per token, so the policy prefills the prompt once when it sees a
fresh episode (every row's ``response_length`` is 0) and then feeds only the token the env appended at the previous
step, through ``agents.agent.make_decoder`` (the agent's incremental interface, or recomputation for an agent without
one). Like ``agents.generate.generate`` it drops finished rows from the computation once at most half the rows still
run, and only running rows draw random numbers, so collection does the same agent work as bare generation.

    policy = collection_policy(agent, task, temperature=1.0, generator=g)   # a TensorDictModuleBase
    rollout = env.rollout(max_steps, policy, break_when_any_done=False, break_when_all_done=True)

Episodes are whole-batch and synchronous: every row starts at the same reset and the batch ends when all rows are
done (the env's partial ``_step`` ignores the action written for a finished row). Equal prompts and an equally
seeded generator give the tokens and log-probabilities of ``generate`` exactly (tested).
"""

from __future__ import annotations

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase

from ..agent import Decoder, make_decoder
from ..generate import check_temperature, sample_logits


class Sampler(torch.nn.Module):
    """tokens (B, L), response_length (B,), done (B, 1) -> action, token_log_prob, entropy (B,): one policy step.

    ``entropy`` is that of the (tempered) sampling distribution at this step. Finished rows get action 0 and
    log-probability and entropy 0 (the env does not step them).
    """

    def __init__(self, agent: torch.nn.Module, prompt_len: int, temperature: float = 1.0,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.agent = agent
        self.prompt_len = prompt_len
        self.temperature = check_temperature(temperature)
        self.generator = generator
        self.decoder: Decoder | None = None
        self.rows: torch.Tensor | None = None  # (b,) batch rows the decoder holds, b <= B

    @torch.no_grad()
    def forward(
        self, tokens: torch.Tensor, response_length: torch.Tensor, done: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        B = tokens.shape[0]
        emitted = int(response_length.max())
        if emitted == 0:  # a fresh episode for every row: prefill the prompts
            self.decoder = make_decoder(self.agent, tokens[:, : self.prompt_len])
            self.rows = torch.arange(B, device=tokens.device)
            logits = self.decoder.logits  # (B, A)
        else:
            pos = None if self.decoder is None else self.decoder.length
            if pos != self.prompt_len + emitted - 1:
                raise RuntimeError(
                    f"the policy's decoder (position {pos}) is out of step with the env (longest response "
                    f"{emitted} tokens after a {self.prompt_len}-token prompt): episodes must be whole-batch, started "
                    "by env.reset() and stepped once per policy call"
                )
            keep = ~done.reshape(B)[self.rows]  # (b,)
            if 2 * int(keep.sum()) <= self.rows.numel():  # compact: drop finished rows from the computation
                self.rows = self.rows[keep]
                self.decoder.keep(keep)
            logits = self.decoder.step(tokens[self.rows, pos])  # (b, A): the token the env appended last step
        running = ~done.reshape(B)[self.rows]  # (b,)
        tok, logp, dist_logp = sample_logits(logits[running], self.temperature, self.generator)  # (n,), (n,), (n, A)
        live = self.rows[running]
        action = torch.zeros(B, dtype=torch.long, device=tokens.device)
        log_prob = torch.zeros(B, device=tokens.device)
        entropy = torch.zeros(B, device=tokens.device)
        action[live], log_prob[live] = tok, logp
        entropy[live] = -(dist_logp.exp() * dist_logp).sum(-1)
        return action, log_prob, entropy


class CollectionPolicy(TensorDictModuleBase):
    """The ``Sampler`` as a TorchRL policy: reads ``tokens``, ``response_length``, ``done``; writes ``action``,
    ``token_log_prob``, ``entropy`` (B,) into the tensordict it is given.

    What ``TensorDictModule(sampler, in_keys, out_keys)`` does, minus its per-call output conversion (a tenth of
    collection time on mostly short episodes, in tensordict 0.14's ``from_any``)."""

    in_keys = ["tokens", "response_length", "done"]
    out_keys = ["action", "token_log_prob", "entropy"]

    def __init__(self, sampler: Sampler):
        super().__init__()
        self.module = sampler

    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        outputs = self.module(*(tensordict.get(key) for key in self.in_keys))
        for key, value in zip(self.out_keys, outputs):
            tensordict.set(key, value)
        return tensordict


def collection_policy(agent: torch.nn.Module, task, temperature: float = 1.0,
                      generator: torch.Generator | None = None) -> CollectionPolicy:
    """A TorchRL policy for ``task``'s env: reads ``tokens``, ``response_length``, ``done``; writes ``action``,
    ``token_log_prob``, ``entropy`` (B,)."""
    return CollectionPolicy(Sampler(agent, prompt_len=task.prompt_len, temperature=temperature, generator=generator))
