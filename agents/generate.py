"""Batched generation (greedy or sampled, with a KV cache) and one-pass scoring of finished sequences.

    gen = generate(model, prompts, max_new_tokens=d + 1, temperature=1.0, generator=g)
    gen.tokens    # (B, R) emitted tokens, PAD after each row's EOS
    gen.logprobs  # (B, R) log-probability of each emitted token under the sampling distribution, 0 after EOS
    gen.lengths   # (B,) tokens emitted, EOS included (R for a row that never emitted EOS)
    logp = response_logprobs(model, sequences, response_mask)  # (B, L) one causal pass, for losses

Run ``python -m agents.generate`` to compare cached and uncached generation speed on random weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from parity_env.protocol import EOS, PAD

from .model import GPT, KVCache


@dataclass
class Generation:
    tokens: torch.Tensor  # (B, R) int64, PAD after EOS
    logprobs: torch.Tensor  # (B, R) float32, 0 after EOS
    lengths: torch.Tensor  # (B,) int64 tokens emitted, EOS included
    finished: torch.Tensor  # (B,) bool: the row emitted EOS

    @property
    def answer_lengths(self) -> torch.Tensor:
        """Bits before EOS (the paper's response length: 1 for a short answer, d for the full chain)."""
        return self.lengths - self.finished.long()


def check_temperature(temperature: float) -> float:
    """Temperatures are >= 0, where 0 means greedy decoding."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature >= 0:
        raise ValueError(f"temperature must be a number >= 0 (0 = greedy); got {temperature!r}")
    return float(temperature)


def sample_logits(
    logits: torch.Tensor, temperature: float, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pick a token from ``logits`` (B, A): the token (B,), its log-probability (B,) and the log-distribution (B, A).

    Temperature 0 is greedy (log-probabilities under the untempered policy); otherwise they are under the tempered
    distribution that was sampled. Callers that need the entropy reuse the returned log-distribution.
    """
    logits = logits.float()
    if temperature == 0:
        logp = F.log_softmax(logits, -1)  # (B, A)
        tok = logits.argmax(-1)
    else:
        logp = F.log_softmax(logits / temperature, -1)  # (B, A)
        tok = torch.multinomial(logp.exp(), 1, generator=generator).squeeze(-1)  # (B,)
    return tok, logp.gather(-1, tok[:, None]).squeeze(-1), logp


@torch.no_grad()
def generate(
    model: GPT,
    prompts: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    allow_eos: bool = True,
    use_cache: bool = True,
) -> Generation:
    """Continue ``prompts`` (B, P) token by token; each row stops at its EOS, the batch when all rows have.

    ``allow_eos=False`` forbids EOS (every row emits exactly ``max_new_tokens`` tokens: the speed benchmark).
    ``use_cache=False`` recomputes the whole prefix at every step (the baseline the cache is measured against).
    Finished rows are dropped from the computation (and the cache compacted) once at most half the rows still run,
    so a batch of mostly short answers costs little more than its prefill; only running rows draw random numbers.
    """
    temperature = check_temperature(temperature)
    B, P = prompts.shape
    device = prompts.device
    tokens = torch.full((B, max_new_tokens), PAD, dtype=torch.long, device=device)  # (B, R)
    logprobs = torch.zeros(B, max_new_tokens, device=device)  # (B, R)
    finished = torch.zeros(B, dtype=torch.bool, device=device)
    cache = model.new_cache(B, device=device) if use_cache else None
    context = prompts  # (b, P + t): the rows still computed
    rows = torch.arange(B, device=device)  # (b,) which batch rows the computed rows are
    logits = model(prompts, cache, logits_from=-1)[:, -1]  # (b, A)
    for t in range(max_new_tokens):
        if not allow_eos:
            logits = logits.clone()
            logits[:, EOS] = float("-inf")
        running = ~finished[rows]  # (b,)
        live = rows[running]  # batch indices of the rows that emit a token now
        tok, lp, _ = sample_logits(logits[running], temperature, generator)  # (n_live,)
        tokens[live, t] = tok
        logprobs[live, t] = lp
        finished[live] |= tok == EOS
        if t + 1 == max_new_tokens or (allow_eos and bool(finished.all())):
            break
        step = torch.full((rows.numel(),), PAD, dtype=torch.long, device=device)  # (b,) finished rows feed PAD
        step[running] = tok
        keep = ~finished[rows]  # (b,)
        if 2 * int(keep.sum()) <= rows.numel():  # compact: drop the finished rows from the computation
            rows, step, context = rows[keep], step[keep], context[keep]
            if use_cache:
                cache = select_cache_rows(model, cache, keep)
        if use_cache:
            logits = model(step[:, None], cache)[:, -1]
        else:
            context = torch.cat([context, step[:, None]], dim=1)
            logits = model(context, logits_from=-1)[:, -1]
    lengths = (tokens != PAD).sum(-1)
    return Generation(tokens, logprobs, lengths, finished)


def select_cache_rows(model: GPT, cache: KVCache, keep: torch.Tensor) -> KVCache:
    """A new cache holding only the rows ``keep`` (bool (b,)) of ``cache``, at the same position."""
    small = model.new_cache(int(keep.sum()), device=cache.k.device, dtype=cache.k.dtype)
    small.k[:, :, :, : cache.pos] = cache.k[:, keep, :, : cache.pos]  # (layers, b', nh, pos, hs)
    small.v[:, :, :, : cache.pos] = cache.v[:, keep, :, : cache.pos]
    small.pos = cache.pos
    return small


def response_logprobs(model: GPT, sequences: torch.Tensor, response_mask: torch.Tensor, temperature: float = 1.0,
                      prompt_len: int = 1) -> torch.Tensor:
    """Log-probability (B, L) of every response token of ``sequences`` (B, L) in one causal pass; 0 elsewhere.

    ``response_mask`` (B, L) marks the emitted tokens (EOS included). The first ``prompt_len`` tokens are never response
    tokens (position 0 never is), so the model skips their outputs (``logits_from``).
    """
    P = prompt_len
    logits = model(sequences[:, :-1], logits_from=P - 1).float()  # (B, L-P, A): logits[:, j] predicts sequences[:, P+j]
    if temperature != 1.0:
        logits = logits / temperature
    targets = sequences[:, P:].clamp(max=logits.shape[-1] - 1)  # PAD/SEP targets are masked out below
    logp = F.log_softmax(logits, -1).gather(-1, targets[..., None]).squeeze(-1)  # (B, L-P)
    logp = F.pad(logp, (P, 0))  # (B, L) aligned with sequences
    return torch.where(response_mask, logp, torch.zeros_like(logp))


if __name__ == "__main__":
    import time

    from .model import GPTConfig

    d, batch = 50, 1024
    model = GPT(GPTConfig(block_size=2 * d + 2)).eval()
    prompts = torch.randint(0, 2, (batch, d + 1))
    for use_cache in (True, False):
        generate(model, prompts[:8], d + 1, allow_eos=False, use_cache=use_cache)  # warm-up
        t0 = time.perf_counter()
        generate(model, prompts, d + 1, allow_eos=False, use_cache=use_cache)
        dt = time.perf_counter() - t0
        print(f"use_cache={use_cache}: {batch * (d + 1) / dt:,.0f} tokens/s")
