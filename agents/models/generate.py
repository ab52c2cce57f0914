"""Batched generation (greedy or sampled) with any agent, and one-pass scoring of finished sequences.

    gen = generate(agent, task, prompts, temperature=1.0, generator=g)   # prompts (B, task.prompt_len)
    gen.tokens    # (B, R) emitted tokens, PAD after each row's EOS
    gen.logprobs  # (B, R) log-probability of each emitted token under the sampling distribution, 0 after EOS
    gen.lengths   # (B,) tokens emitted, EOS included (R for a row that never emitted EOS)
    logp = response_logprobs(agent, sequences, response_mask)  # (B, L) one causal pass, for losses

Generation decodes through ``agents.models.agent.make_decoder``: the agent's incremental interface (the GPT's KV cache)
when it has one, else recomputation of the whole context each step.

Run ``python -m agents.models.generate`` to compare incremental and recomputing generation speed on random weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .agent import agent_logits, make_decoder
from .errors import DivergedError


@dataclass
class Generation:
    """A batch of generated responses, as ``generate`` returns them."""
    tokens: torch.Tensor  # (B, R) int64, PAD after EOS
    logprobs: torch.Tensor  # (B, R) float32, 0 after EOS
    lengths: torch.Tensor  # (B,) int64 tokens emitted, EOS included
    finished: torch.Tensor  # (B,) bool: the row emitted EOS

    @property
    def answer_lengths(self) -> torch.Tensor:
        """Tokens before EOS (the paper's response length: for parity 1 for a short answer, d for the full chain)."""
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
        logp = F.log_softmax(logits / temperature if temperature != 1.0 else logits, -1)  # (B, A); x / 1 is x
        try:
            tok = torch.multinomial(logp.exp(), 1, generator=generator).squeeze(-1)  # (B,)
        except RuntimeError as e:  # the only cause here: non-finite logits
            raise DivergedError("the agent's logits are not finite, so no token can be sampled: its weights have "
                                "diverged (a learning rate too high?)") from e
    return tok, logp.gather(-1, tok[:, None]).squeeze(-1), logp


@torch.no_grad()
def generate(
    agent: torch.nn.Module,
    task,
    prompts: torch.Tensor,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    allow_eos: bool = True,
    incremental: bool | None = None,
) -> Generation:
    """Continue ``prompts`` (B, P) for up to ``task.max_response_len`` tokens.

    Each row stops at its EOS, the batch when all rows have.

    ``allow_eos=False`` forbids EOS (every row emits exactly ``task.max_response_len`` tokens: the speed benchmark).
    ``incremental=False`` recomputes the whole context at every step even for an agent with the incremental
    interface (the baseline it is measured against). Finished rows are dropped from the computation once at most half
    the rows still run, so a batch of mostly short answers costs little more than its prefill; only running rows
    draw random numbers.
    """
    temperature = check_temperature(temperature)
    max_new_tokens, eos, pad = task.max_response_len, task.eos, task.pad
    B, P = prompts.shape
    device = prompts.device
    tokens = torch.full((B, max_new_tokens), pad, dtype=torch.long, device=device)  # (B, R)
    logprobs = torch.zeros(B, max_new_tokens, device=device)  # (B, R)
    finished = torch.zeros(B, dtype=torch.bool, device=device)
    decoder = make_decoder(agent, prompts, incremental)
    rows = torch.arange(B, device=device)  # (b,) which batch rows the decoder's rows are
    running: torch.Tensor | None = None  # (b,) the decoder's rows that still emit; None: all of them
    n_running = B
    logits = decoder.logits  # (b, A)
    for t in range(max_new_tokens):
        if not allow_eos:
            logits = logits.clone()
            logits[:, eos] = float("-inf")
        live = rows if running is None else rows[running]  # batch indices of the rows that emit a token now
        tok, lp, _ = sample_logits(logits if running is None else logits[running], temperature, generator)
        tokens[live, t] = tok  # (n_running,)
        logprobs[live, t] = lp
        ended = tok == eos  # (n_running,)
        finished[live] = ended  # the live rows had not finished
        n_running -= int(ended.sum())
        if t + 1 == max_new_tokens or (allow_eos and n_running == 0):
            break
        if running is None:  # every decoder row emitted (those that just ended feed their EOS)
            step, keep = tok, ~ended  # (b,)
        else:
            step = torch.full((rows.numel(),), pad, dtype=torch.long, device=device)  # (b,) finished rows feed PAD
            step[running] = tok
            keep = ~finished[rows]  # (b,)
        if 2 * n_running <= rows.numel():  # compact: drop the finished rows from the computation
            rows, step = rows[keep], step[keep]
            decoder.keep(keep)
            running = None
        else:
            running = keep if n_running < rows.numel() else None
        logits = decoder.step(step)
    lengths = (tokens != pad).sum(-1)
    return Generation(tokens, logprobs, lengths, finished)


def response_logprobs(agent: torch.nn.Module, sequences: torch.Tensor, response_mask: torch.Tensor,
                      temperature: float = 1.0, prompt_len: int = 1) -> torch.Tensor:
    """Log-probability (B, L) of every response token of ``sequences`` (B, L) in one causal pass; 0 elsewhere.

    ``response_mask`` (B, L) marks the emitted tokens (EOS included). The first ``prompt_len`` tokens are never
    response tokens (position 0 never is), so the agent may skip their outputs (``logits_from``).
    """
    P = prompt_len
    logits = agent_logits(agent, sequences[:, :-1], P - 1).float()  # (B, L-P, A): [:, j] predicts sequences[:, P+j]
    if temperature != 1.0:
        logits = logits / temperature
    targets = sequences[:, P:].long().clamp(max=logits.shape[-1] - 1)  # PAD/SEP targets are masked out below
    logp = F.log_softmax(logits, -1).gather(-1, targets[..., None]).squeeze(-1)  # (B, L-P)
    logp = F.pad(logp, (P, 0))  # (B, L) aligned with sequences
    return torch.where(response_mask, logp, torch.zeros_like(logp))


if __name__ == "__main__":
    import time

    from parity_env import Task

    from .gpt import make_gpt

    task, batch = Task(d=50), 1024
    agent = make_gpt(task, n_layer=2, d_model=128).eval()
    prompts = torch.randint(0, 2, (batch, task.prompt_len))
    for incremental in (True, False):
        generate(agent, task, prompts[:8], allow_eos=False, incremental=incremental)  # warm-up
        t0 = time.perf_counter()
        generate(agent, task, prompts, allow_eos=False, incremental=incremental)
        dt = time.perf_counter() - t0
        print(f"incremental={incremental}: {batch * task.max_response_len / dt:,.0f} tokens/s")
