"""The pretrained transformer as a TorchRL collection policy that keeps a KV cache across the steps of an episode.

The env's observation ``tokens`` (B, L) is the whole context (prompt x_1..x_d SEP, then the response, PAD-padded).
Re-reading it every step would cost one full forward pass per token (the cost trap in ``shared/REFERENCE.md``), so
the policy prefills the prompt once when it sees a fresh episode (every row's ``response_length`` is 0) and then
feeds only the token the env appended at the previous step. Like ``agents.generate.generate`` it drops finished rows
from the computation (compacting the cache) once at most half the rows still run, and only running rows draw random
numbers, so collection does the same model work as bare cached generation.

    policy = collection_policy(model, d=24, temperature=1.0, generator=g)   # a TensorDictModuleBase
    rollout = env.rollout(max_steps, policy, break_when_any_done=False, break_when_all_done=True)

Episodes are whole-batch and synchronous: every row starts at the same reset and the batch ends when all rows are
done (the env's partial ``_step`` ignores the action written for a finished row). Equal prompts and an equally
seeded generator give the tokens and log-probabilities of ``generate`` exactly (tested).
"""

from __future__ import annotations

import torch
from tensordict import TensorDictBase
from tensordict.nn import TensorDictModuleBase

from ..generate import check_temperature, sample_logits, select_cache_rows
from ..model import GPT, KVCache


class CachedSampler(torch.nn.Module):
    """tokens (B, L), response_length (B,), done (B, 1) -> action, sample_log_prob, entropy (B,): one cached step.

    ``entropy`` is that of the (tempered) sampling distribution at this step. Finished rows get action 0 and
    log-probability and entropy 0 (the env does not step them).
    """

    def __init__(self, model: GPT, prompt_len: int, temperature: float = 1.0, generator: torch.Generator | None = None):
        super().__init__()
        self.model = model
        self.prompt_len = prompt_len
        self.temperature = check_temperature(temperature)
        self.generator = generator
        self.cache: KVCache | None = None
        self.rows: torch.Tensor | None = None  # (b,) batch rows the cache holds, b <= B

    @torch.no_grad()
    def forward(
        self, tokens: torch.Tensor, response_length: torch.Tensor, done: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        B = tokens.shape[0]
        emitted = int(response_length.max())
        if emitted == 0:  # a fresh episode for every row: restart the cache with the prompts
            self.cache = self.model.new_cache(B, device=tokens.device)
            self.rows = torch.arange(B, device=tokens.device)
            logits = self.model(tokens[:, : self.prompt_len], self.cache, logits_from=-1)[:, -1]  # (B, A)
        else:
            pos = None if self.cache is None else self.cache.pos
            if pos != self.prompt_len + emitted - 1:
                raise RuntimeError(
                    f"the policy's KV cache (position {pos}) is out of step with the env (longest response "
                    f"{emitted} tokens after a {self.prompt_len}-token prompt): episodes must be whole-batch, started "
                    "by env.reset() and stepped once per policy call"
                )
            keep = ~done.reshape(B)[self.rows]  # (b,)
            if 2 * int(keep.sum()) <= self.rows.numel():  # compact: drop finished rows from the computation
                self.rows, self.cache = self.rows[keep], select_cache_rows(self.model, self.cache, keep)
            step = tokens[self.rows, pos : pos + 1]  # (b, 1) the token the env appended last step
            logits = self.model(step, self.cache)[:, -1]  # (b, A)
        running = ~done.reshape(B)[self.rows]  # (b,)
        logits = logits[running]  # (n_live, A)
        tok, logp, dist_logp = sample_logits(logits, self.temperature, self.generator)  # (n_live,), (n_live, A)
        live = self.rows[running]
        action = torch.zeros(B, dtype=torch.long, device=tokens.device)
        log_prob = torch.zeros(B, device=tokens.device)
        entropy = torch.zeros(B, device=tokens.device)
        action[live], log_prob[live] = tok, logp
        entropy[live] = -(dist_logp.exp() * dist_logp).sum(-1)
        return action, log_prob, entropy


class CollectionPolicy(TensorDictModuleBase):
    """The ``CachedSampler`` as a TorchRL policy: reads ``tokens``, ``response_length``, ``done``; writes ``action``,
    ``sample_log_prob``, ``entropy`` (B,) into the tensordict it is given.

    What ``TensorDictModule(sampler, in_keys, out_keys)`` does, minus its per-call output conversion (measured: a
    tenth of collection time on mostly short episodes, in tensordict 0.14's ``from_any``)."""

    in_keys = ["tokens", "response_length", "done"]
    out_keys = ["action", "sample_log_prob", "entropy"]

    def __init__(self, sampler: CachedSampler):
        super().__init__()
        self.module = sampler

    def forward(self, tensordict: TensorDictBase) -> TensorDictBase:
        outputs = self.module(*(tensordict.get(key) for key in self.in_keys))
        for key, value in zip(self.out_keys, outputs):
            tensordict.set(key, value)
        return tensordict


def collection_policy(
    model: GPT, d: int, temperature: float = 1.0, generator: torch.Generator | None = None
) -> CollectionPolicy:
    """A TorchRL policy: reads ``tokens``, ``response_length``, ``done``; writes ``action``, ``sample_log_prob``,
    ``entropy`` (B,)."""
    return CollectionPolicy(CachedSampler(model, prompt_len=d + 1, temperature=temperature, generator=generator))
