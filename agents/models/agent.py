"""The agent contract: what any policy network must provide, the optional incremental-decoding interface, the checks.

An agent is any ``torch.nn.Module`` whose ``forward(tokens)`` maps int64 tokens (B, T) to logits
(B, T, task.n_actions): at every position, the scores of the token that comes next, from the tokens up to that
position (causal, as an autoregressive model's are: scoring cuts sequences after their responses). That is all an
agent must have; pre-training, evaluation, generation and every RL algorithm work with it, recomputing the whole
context at every generated token.

Two optional additions make it faster, and are used whenever present:

- ``forward(tokens, logits_from=k)``: compute the logits of positions k .. T - 1 only (negative k counts from the
  end), e.g. to skip the prompt positions, which never carry a loss. Detected from ``forward``'s signature.
- incremental decoding, three methods that let generation and collection reuse past work::

      state = agent.new_state(batch_size)                 # an empty state for batch_size rows (any object)
      logits, state = agent.decode(tokens, state)         # tokens (b, t) continue the rows; logits (b, A) of the
                                                          # last of them: the next token's scores
      state = agent.select_state(state, rows)             # keep rows (b',) int64 of the state, in that order

  ``decode`` may update ``state`` in place and return it. Every row of a state is at the same position (prompts have
  one length and rows advance together). The GPT keeps a key/value cache, the linear agent the tokens so far, the
  Hugging Face agent the library's own ``DynamicCache``, an RNN its hidden state.

    decoder = make_decoder(agent, prompts)    # (B, P): prefills; decoder.logits (B, A)
    decoder.step(tokens)                      # (b,) one token per kept row; returns logits (b, A)
    decoder.keep(mask)                        # (b,) bool: drop the finished rows from the computation

``check_agent(agent, task)`` runs one small forward pass and raises ``AgentError`` naming the agent and what was
expected when the output has the wrong type, shape or dtype.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from .errors import AgentError

INCREMENTAL = ("new_state", "decode", "select_state")


def agent_name(agent: torch.nn.Module) -> str:
    """How errors name an agent: its registry name when ``make_agent`` built it, else its class."""
    spec = getattr(agent, "agent_spec", None)
    return f"agent {spec.name!r}" if spec is not None else f"agent {type(agent).__name__}"


def agent_device(agent: torch.nn.Module) -> torch.device:
    """Where the agent's parameters live."""
    for p in agent.parameters():
        return p.device
    raise AgentError(f"{agent_name(agent)} has no parameters: an agent must be a torch.nn.Module with weights to train")


def is_incremental(agent: torch.nn.Module) -> bool:
    """Whether the agent has the whole incremental-decoding interface (``check_agent`` rejects half of it)."""
    return all(callable(getattr(agent, m, None)) for m in INCREMENTAL)


def takes_logits_from(agent: torch.nn.Module) -> bool:
    """Whether ``agent.forward`` accepts the optional ``logits_from`` keyword."""
    try:
        return "logits_from" in inspect.signature(agent.forward).parameters
    except (TypeError, ValueError):
        return False


def as_long_tokens(tokens: Any) -> torch.Tensor:
    """``tokens`` (B, T) as int64, for an agent's forward or decode.

    Any integer dtype is accepted (e.g. the uint8 tokens of ParityCoTTorchEnv), anything else is a TypeError /
    ValueError naming what was given.
    """
    if not isinstance(tokens, torch.Tensor):
        raise TypeError(f"tokens must be an integer torch.Tensor (B, T); got {type(tokens).__name__}")
    if tokens.dtype == torch.int64 and tokens.dim() == 2:  # the common case, checked first: it is on every step
        return tokens
    if tokens.is_floating_point() or tokens.is_complex() or tokens.dtype == torch.bool:
        raise TypeError(f"tokens must be an integer tensor; got dtype {tokens.dtype}")
    if tokens.dim() != 2:
        raise ValueError(f"tokens must have shape (B, T); got {tuple(tokens.shape)}")
    return tokens.long()


def check_logits_from(logits_from: Any, T: int) -> int:
    """``logits_from`` of an agent's forward as a start position in [0, T) (negative counts from the end)."""
    if isinstance(logits_from, bool) or not isinstance(logits_from, int) or not -T <= logits_from < T:
        raise ValueError(f"logits_from must be an int in [-{T}, {T}) for {T} input tokens; got {logits_from!r}")
    return logits_from % T


def agent_logits(agent: torch.nn.Module, tokens: torch.Tensor, logits_from: int = 0) -> torch.Tensor:
    """Logits (B, T - logits_from, A) of positions ``logits_from`` .. T - 1 of ``tokens`` (B, T).

    ``tokens`` may have any integer dtype; a negative ``logits_from`` counts from the end. One pass, skipping the
    earlier outputs if the agent can.
    """
    tokens = tokens.long()
    if logits_from and takes_logits_from(agent):
        return agent(tokens, logits_from=logits_from)
    logits = agent(tokens)  # (B, T, A)
    return logits[:, logits_from:] if logits_from else logits


def example_tokens(task, batch_size: int = 2) -> torch.Tensor:
    """Fixed int64 sequences (batch_size, seq_len) of the task: what the contract check and checkpoint probe feed.

    An agent is fed these: fresh prompts (seed 0), then emitted tokens drawn uniformly (seed 0).
    """
    import numpy as np

    rng = np.random.default_rng(0)
    _, prompts = task.sample_prompts(batch_size, rng)  # (B, P)
    responses = rng.integers(0, task.n_actions, size=(batch_size, task.max_response_len))  # (B, R)
    return torch.cat([prompts, torch.from_numpy(responses)], dim=1)


def check_agent(agent: Any, task, batch_size: int = 2) -> None:
    """Raise ``AgentError`` unless ``agent`` keeps the contract on ``task``.

    The contract: a Module with parameters whose forward on (B, seq_len) int64 tokens returns float logits
    (B, seq_len, n_actions), and all or none of the incremental methods. One forward pass in eval mode, without
    gradients, on ``example_tokens``.
    """
    if not isinstance(agent, torch.nn.Module):
        raise AgentError(f"an agent must be a torch.nn.Module; got {type(agent).__name__}")
    name = agent_name(agent)
    device = agent_device(agent)
    present = [m for m in INCREMENTAL if callable(getattr(agent, m, None))]
    if present and len(present) < len(INCREMENTAL):
        missing = [m for m in INCREMENTAL if m not in present]
        raise AgentError(f"{name} has {present} but not {missing}: the incremental-decoding interface needs all of "
                         f"{list(INCREMENTAL)} (or none: then the context is recomputed)")
    tokens = example_tokens(task, batch_size).to(device)  # (B, L)
    expected = (batch_size, task.seq_len, task.n_actions)
    was_training = agent.training
    agent.eval()
    try:
        with torch.no_grad():
            out = agent(tokens)
    except Exception as e:  # a user's module may fail in any way: report it as the agent's failure
        raise AgentError(f"{name} failed on tokens of shape {tuple(tokens.shape)} int64 ({type(e).__name__}: {e}); "
                         f"forward(tokens) must map (B, T) int64 tokens to logits (B, T, {task.n_actions})") from e
    finally:
        agent.train(was_training)
    if not isinstance(out, torch.Tensor):
        raise AgentError(f"{name}.forward returned {type(out).__name__}; expected a tensor of logits {expected}")
    if tuple(out.shape) != expected:
        raise AgentError(f"{name}.forward returned shape {tuple(out.shape)} for tokens {tuple(tokens.shape)}; "
                         f"expected logits {expected} (batch, positions, task.n_actions)")
    if not out.is_floating_point():
        raise AgentError(f"{name}.forward returned dtype {out.dtype}; expected floating-point logits")


# --------------------------------------------------------------------------------------------------- decoding
class Decoder:
    """Incremental decoding of a batch of rows: prefill, then one token per kept row per step."""

    logits: torch.Tensor  # (b, A) the next-token scores of the kept rows
    length: int  # tokens consumed per row so far

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed one token (b,) per kept row; returns the logits (b, A) of the next token."""
        raise NotImplementedError

    def keep(self, mask: torch.Tensor) -> None:
        """Keep only the rows where ``mask`` (b,) is True, in order (finished rows are dropped)."""
        raise NotImplementedError


class StateDecoder(Decoder):
    """Through the agent's own incremental-decoding interface."""

    def __init__(self, agent: Any, prompts: torch.Tensor):
        self.agent = agent  # an nn.Module with the contract's decode, new_state and select_state (unknown to mypy)
        self.logits, self.state = agent.decode(prompts.long(), agent.new_state(prompts.shape[0]))  # (B, A)
        self.length = prompts.shape[1]

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed one token (b,) per kept row to the agent's state; returns the logits (b, A) of the next token."""
        self.logits, self.state = self.agent.decode(tokens.long()[:, None], self.state)  # (b, A)
        self.length += 1
        return self.logits

    def keep(self, mask: torch.Tensor) -> None:
        """Keep only the rows where ``mask`` (b,) is True: the agent's ``select_state`` of them."""
        self.state = self.agent.select_state(self.state, mask.nonzero().squeeze(1))
        self.logits = self.logits[mask]


class RecomputeDecoder(Decoder):
    """For agents with only ``forward``: the whole context is read again at every step (O(T^2) work per row)."""

    def __init__(self, agent: torch.nn.Module, prompts: torch.Tensor):
        self.agent = agent
        self.context = prompts.long()  # (b, t)
        self.logits = agent_logits(agent, self.context, -1)[:, -1]  # (B, A)
        self.length = prompts.shape[1]

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Append one token (b,) per kept row and read the whole context again; returns the next logits (b, A)."""
        self.context = torch.cat([self.context, tokens.long()[:, None]], dim=1)  # (b, t + 1)
        self.logits = agent_logits(self.agent, self.context, -1)[:, -1]  # (b, A)
        self.length += 1
        return self.logits

    def keep(self, mask: torch.Tensor) -> None:
        """Keep only the rows where ``mask`` (b,) is True."""
        self.context, self.logits = self.context[mask], self.logits[mask]


def make_decoder(agent: torch.nn.Module, prompts: torch.Tensor, incremental: bool | None = None) -> Decoder:
    """A decoder prefilled with ``prompts`` (B, P).

    The agent's incremental interface when it has one (or when ``incremental`` is True), else recomputation
    (``incremental=False`` forces it: the baseline benchmarks compare).
    """
    if incremental is None:
        incremental = is_incremental(agent)
    if incremental and not is_incremental(agent):
        raise AgentError(f"{agent_name(agent)} has no incremental-decoding interface {list(INCREMENTAL)}")
    return (StateDecoder if incremental else RecomputeDecoder)(agent, prompts)
