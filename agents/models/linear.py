"""The ``linear`` agent: the paper's theory model, an autoregressive model linear in frozen degree-2 features.

Tsilivis et al. (2025) prove their results for autoregressive linear models (the linear autoregressive learners of
Malach 2024, "Auto-regressive next-token predictors are universal learners"): the next token's logits are a linear
function of fixed features of the context, with one linear predictor per output position. This module is one such
model for the ParityCoT protocol (``parity_env.parity.protocol``).

    agent = make_linear(task)                        # or agents.make_agent("linear", task); zero weights: uniform
    logits = agent(tokens)                           # (B, T, A)
    logits = agent(tokens, logits_from=d)            # (B, T - d, A): only positions d .. T - 1
    state = agent.new_state(B)                       # the agent contract's incremental decoding (agents.models.agent)
    logits, state = agent.decode(prompt, state)      # prefill: (B, A) for the next token
    logits, state = agent.decode(token[:, None], state)   # one step: O(t) work, the last position's row only

Run ``python -m agents.models.linear`` to check decoding against the full pass and print the parameter count.

The feature map
---------------
At position t (whose logits score token t + 1) the features are the one-hot of the pair (tok_t, tok_s) for every
s <= t: the current token crossed with every context token, a degree-2 feature map. One weight table per output
position t gives

    logits[b, t, a] = bias[t, a] + sum_{s <= t} W[t, tok[b, t], s, tok[b, s], a].

Why this map: with the prompt x_1..x_d at positions 0..d-1, SEP at d and the chain c_1..c_d at d+1..2d,

- the first chain bit c_1 = x_1 is a lookup of the pair (SEP, x_1) at s = 0 (position t = d);
- each step c_{j+1} = c_j xor x_{j+1} is a lookup of the pair (current token c_j, prompt token x_{j+1} at s = j)
  (position t = d + j), and EOS after c_d is the bias of position 2d: the chain is linearly representable;
- the short answer y = x_1 xor ... xor x_d is a degree-d parity; at the SEP position the features are the single
  bits (SEP, x_s), and no linear function of degree-2 features computes a parity of d >= 3 bits. So the model can
  learn the chain but not the short answer: the paper's setting. (The leap-k chain, k >= 2, needs a (k+1)-bit
  xor per step, which this map cannot represent either.)

What next-token prediction on the mixture learns (p = p_long, d >= 3). The cross-entropy of a log-linear model is
convex, and its minimum (over the closure of the family: some logits go to -inf) is the model whose expected
features match the data's on every feature's event. Two facts about uniform bits make the following predictions
match: y is independent of any one bit, and for d >= 3 of any pair of bits (y, x_1, x_s are mutually independent).

- First response token (position d; features: single bits x_s). Data: x_1 with probability p (long), y with
  probability 1 - p (short). Given x_1 alone, y = x_1 half the time, so P(first = x_1 | x_1) = p + (1 - p)/2 =
  (1 + p)/2, and given any other single bit the data are 1/2-1/2. The model "x_1 with probability (1 + p)/2, the
  other bit otherwise, never EOS" matches all of these, so it is the NTP solution.
- Second token, after a first token t_1 (features: the pairs (t_1, x_s), i.e. whether t_1 = x_1 and t_1 crossed
  with every other bit). If t_1 != x_1 the demonstration was short: EOS. If t_1 = x_1 it was long with probability
  P(long) / P(t_1 = x_1) = p / ((1 + p)/2) = 2p / (1 + p) (then the next bit is c_2 = t_1 xor x_2, a pair lookup),
  else short (EOS, probability (1 - p)/(1 + p)); whether a given short demonstration has y = x_1 is a parity of
  x_2..x_d, independent of (x_1, x_s) for every s when d >= 3, so no feature can tell more, and the moments match.
- From the third token on only long demonstrations remain, so the chain, once continued, is completed exactly.

Hence sampling from the NTP solution gives the long answer with probability (1 + p)/2 * 2p/(1 + p) = p, and greedy
decoding takes x_1 (for p > 0) and then stops unless 2p/(1 + p) > (1 - p)/(1 + p), i.e. p > 1/3: below p = 1/3
greedy answers short, with x_1, which equals y half the time: chance accuracy.

Parameters: W is one table of (T_max V)^2 rows of A logits (T_max = block_size, default task.seq_len; V =
task.vocab_size; A = task.n_actions) and the bias T_max x A; for d = 24 (T_max = 50, V = 5, A = 3) that is
50*5*50*5*3 + 50*3 = 187,650. Most rows are never read (s > t, or tokens that cannot occur at a position); a flat
table keeps the forward pass one embedding lookup.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .agent import as_long_tokens, check_logits_from


@dataclass
class LinearConfig:
    """The linear agent's shape and initialisation."""

    block_size: int
    """Longest context the model reads (T_max): the task's seq_len = d + 1 + max_response_len."""
    vocab_size: int
    """Input tokens (V): the task's vocab_size."""
    n_actions: int
    """Output logits (A): the task's n_actions."""
    init_std: float = 0.0
    """Standard deviation of the initial weights W (the bias starts at zero). 0: all logits zero, the uniform policy,
    the natural start of a convex problem; > 0 draws from torch's default generator (seed it first)."""

    def __post_init__(self) -> None:
        for name in ("block_size", "vocab_size", "n_actions"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"LinearConfig.{name} must be a positive integer; got {value!r}")
            if value < 1:
                raise ValueError(f"LinearConfig.{name} must be a positive integer; got {value!r}")
            setattr(self, name, int(value))
        if isinstance(self.init_std, bool) or not isinstance(self.init_std, numbers.Real):
            raise TypeError(f"init_std must be a real number >= 0; got {self.init_std!r}")
        if not 0.0 <= float(self.init_std) < math.inf:  # also False for NaN
            raise ValueError(f"init_std must be a finite number >= 0; got {self.init_std!r}")
        self.init_std = float(self.init_std)

    def to_dict(self) -> dict:
        """The config as a plain dict (``dataclasses.asdict``)."""
        return asdict(self)


@dataclass
class LinearState:
    """Incremental-decoding state: the tokens read so far; all rows share one write position ``pos``."""

    tokens: torch.Tensor  # (B, T_max) int64, valid in [:, :pos]
    pos: int = 0


def _check_range(tokens: torch.Tensor, vocab_size: int) -> None:
    """An out-of-range token would silently read another token's row of the flat table W: refuse it."""
    if tokens.numel() and bool(((tokens < 0) | (tokens >= vocab_size)).any()):
        bad = tokens[(tokens < 0) | (tokens >= vocab_size)][:5].tolist()
        raise ValueError(f"tokens must be in [0, {vocab_size}); got {bad}")


class LinearAgent(nn.Module):
    """logits[b, t, a] = bias[t, a] + sum_{s <= t} W[t, tok[b, t], s, tok[b, s], a] (see the module docstring)."""

    def __init__(self, cfg: LinearConfig):
        super().__init__()
        self.cfg = cfg
        T, V, A = cfg.block_size, cfg.vocab_size, cfg.n_actions
        self.W = nn.Parameter(torch.zeros(T * V * T * V, A))  # (T_max V T_max V, A): row ((t V + u) T_max + s) V + v
        self.bias = nn.Parameter(torch.zeros(T, A))  # (T_max, A)
        if cfg.init_std > 0:
            nn.init.normal_(self.W, mean=0.0, std=cfg.init_std)

    def num_parameters(self) -> int:
        """The number of parameters (the weight table and the bias)."""
        return sum(p.numel() for p in self.parameters())

    def _logits(self, tokens: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Logits (B, Tq, A) of the positions ``t`` (Tq,) int64 of ``tokens`` (B, T) int64 (every t < T)."""
        T_max, V = self.cfg.block_size, self.cfg.vocab_size
        B, T = tokens.shape
        s = torch.arange(T, device=tokens.device)  # (T,)
        row = (t * V + tokens[:, t]) * T_max  # (B, Tq): the (t, tok_t) block of W
        index = (row[:, :, None] + s) * V + tokens[:, None, :]  # (B, Tq, T)
        gathered = F.embedding(index, self.W)  # (B, Tq, T, A)
        causal = (s[None, :] <= t[:, None]).to(gathered.dtype)  # (Tq, T): 1 where s <= t
        return (gathered * causal[None, :, :, None]).sum(dim=2) + self.bias[t]  # (B, Tq, A)

    def forward(self, tokens: torch.Tensor, logits_from: int = 0) -> torch.Tensor:
        """Action logits (B, T - logits_from, A) for tokens (B, T) of any integer dtype, T <= block_size.

        ``logits_from`` (0 <= logits_from < T, or negative from the end: -1 = the last position) computes only the
        positions logits_from .. T - 1; the result equals ``forward(tokens)[:, logits_from:]``.
        """
        tokens = as_long_tokens(tokens)  # (B, T)
        B, T = tokens.shape
        if T > self.cfg.block_size:
            raise ValueError(f"context of {T} tokens exceeds block_size {self.cfg.block_size}")
        start = check_logits_from(logits_from, T)
        _check_range(tokens, self.cfg.vocab_size)
        t = torch.arange(start, T, device=tokens.device)  # (Tq,)
        return self._logits(tokens, t)  # (B, Tq, A)

    # the agent contract's incremental decoding (agents.models.agent): the state is the tokens so far
    def new_state(self, batch_size: int) -> LinearState:
        """The incremental-decoding state for ``batch_size`` rows: no tokens read yet."""
        return LinearState(torch.zeros(batch_size, self.cfg.block_size, dtype=torch.long, device=self.W.device))

    def decode(self, tokens: torch.Tensor, state: LinearState) -> tuple[torch.Tensor, LinearState]:
        """Logits (b, A) of the token after ``tokens`` (b, t), which continue the rows of ``state``.

        ``state`` is updated in place: only the last position's row is computed, O(pos + t) lookups per row.
        """
        tokens = as_long_tokens(tokens)  # (b, t)
        b, t = tokens.shape
        if b != state.tokens.shape[0]:
            raise ValueError(f"decode got {b} rows for a state of {state.tokens.shape[0]} rows")
        if t < 1:
            raise ValueError("decode needs at least one token per row")
        end = state.pos + t
        if end > self.cfg.block_size:
            raise ValueError(f"context of {end} tokens exceeds block_size {self.cfg.block_size}")
        _check_range(tokens, self.cfg.vocab_size)
        state.tokens[:, state.pos : end] = tokens
        state.pos = end
        last = torch.tensor([end - 1], device=tokens.device)  # (1,)
        return self._logits(state.tokens[:, :end], last)[:, 0], state  # (b, A)

    def select_state(self, state: LinearState, rows: torch.Tensor) -> LinearState:
        """A new state holding rows ``rows`` (b',) of ``state``, at the same position."""
        return LinearState(state.tokens[rows], state.pos)  # (b', T_max)


def make_linear(task, block_size: int | None = None, init_std: float = 0.0) -> LinearAgent:
    """The ``linear`` agent for ``task``: ``block_size`` defaults to (and must be at least) the task's seq_len.

    ``init_std`` 0 starts from the uniform policy, > 0 from normal weights (torch's default generator).
    """
    if block_size is None:
        block_size = task.seq_len
    elif isinstance(block_size, bool) or not isinstance(block_size, numbers.Integral):
        raise TypeError(f"block_size must be an integer >= the task's seq_len {task.seq_len}; got {block_size!r}")
    elif block_size < task.seq_len:
        raise ValueError(f"block_size must be >= the task's seq_len {task.seq_len} (d + 1 + max_response_len); "
                         f"got {block_size}")
    return LinearAgent(LinearConfig(int(block_size), task.vocab_size, task.n_actions, init_std))


if __name__ == "__main__":
    from parity_env import Task

    torch.manual_seed(0)
    torch.set_num_threads(1)
    task = Task(d=24)
    model = make_linear(task, init_std=0.1).eval()
    T = task.seq_len
    tokens = torch.randint(0, task.vocab_size, (3, T))  # (3, T)
    with torch.no_grad():
        full = model(tokens)  # (3, T, A)
        state = model.new_state(3)
        steps = [model.decode(tokens[:, :12], state)[0]]
        steps += [model.decode(tokens[:, t : t + 1], state)[0] for t in range(12, T)]
        err = (torch.stack(steps, 1) - full[:, 11:]).abs().max().item()  # (3, T - 11, A)
        tail = (model(tokens, logits_from=12) - full[:, 12:]).abs().max().item()
    print(f"linear agent, d = {task.d} (T = {T}): {model.num_parameters():,} parameters; max |diff| vs the full "
          f"pass: decode {err:.2e}, logits_from {tail:.2e}")
