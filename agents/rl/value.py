"""A small value head for TorchRL losses that need a critic (A2CLoss, ClipPPOLoss with a critic, ReinforceLoss).

It reads only the prompt, the state in which each episode's one action (the response) is taken, so its estimate is a
baseline that never sees the response. Embedding, mean over positions, a 2-layer MLP.

    critic = prompt_value_operator(task)        # a torchrl ValueOperator: "prompt" (B, P) -> "state_value" (B, 1)
"""

from __future__ import annotations

import torch
from torchrl.modules import ValueOperator


class PromptValue(torch.nn.Module):
    """prompt (B, P) int64 -> value (B, 1)."""

    def __init__(self, vocab_size: int, prompt_len: int, hidden: int = 64):
        super().__init__()
        self.tok = torch.nn.Embedding(vocab_size, hidden)
        self.pos = torch.nn.Parameter(torch.zeros(prompt_len, hidden))
        self.mlp = torch.nn.Sequential(torch.nn.Linear(hidden, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, 1))

    def forward(self, prompt: torch.Tensor) -> torch.Tensor:
        """The value (B, 1) of prompts (B, P): an MLP on the mean of their token and position embeddings."""
        x = (self.tok(prompt.long()) + self.pos).mean(1)  # (B, hidden)
        return self.mlp(x)  # (B, 1)


def prompt_value_operator(task, hidden: int = 64) -> ValueOperator:
    """A TorchRL critic for ``task`` reading ``prompt`` and writing ``state_value`` (B, 1)."""
    return ValueOperator(PromptValue(task.vocab_size, task.prompt_len, hidden), in_keys=["prompt"],
                         out_keys=["state_value"])
