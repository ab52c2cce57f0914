"""The batched answer checker: ``protocol.is_correct`` and the chain check on a whole batch of responses, in torch.

    v = judge(bits, responses, leap=1)     # bits (B, d) numpy, responses (B, R) tensor, PAD after EOS
    v.answer_correct, v.chain_correct, v.is_long, v.answer_length, v.finished

Evaluation, pre-training's chain check and fine-tuning's probes judge responses with it (through ``Task.judge``);
the envs judge token by token with the same rules (tested against ``protocol.is_correct`` and an independent oracle).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .protocol import EOS, long_answer


@dataclass
class Verdicts:
    """Per-row judgements of responses (all (B,) tensors)."""

    answer_correct: torch.Tensor  # bool: the end-to-end reward ("answer" mode of protocol.is_correct)
    chain_correct: torch.Tensor  # bool: the bits before EOS are exactly the (leap-k) chain
    is_long: torch.Tensor  # bool: more than one bit before EOS
    answer_length: torch.Tensor  # int64: bits before EOS (tokens emitted for a row without EOS)
    finished: torch.Tensor  # bool: the response has an EOS


def judge(bits: np.ndarray, responses: torch.Tensor, leap: int = 1) -> Verdicts:
    """Verdicts on ``responses`` (B, R) (the emitted tokens, PAD after EOS) to the prompts ``bits`` (B, d)."""
    device = responses.device
    chain = torch.from_numpy(long_answer(np.asarray(bits), leap)).to(device)  # (B, m); chain[:, -1] is the parity
    m, R = chain.shape[1], responses.shape[1]
    finished = (responses == EOS).any(-1)  # (B,)
    length = (responses < EOS).sum(-1)  # (B,) bits emitted; EOS and PAD are > the bits, and bits only precede EOS
    last = responses.gather(1, (length - 1).clamp(min=0)[:, None]).squeeze(1)  # (B,) last bit (garbage if length 0)
    answer_correct = finished & (length >= 1) & (last == chain[:, -1])
    if m <= R:
        chain_correct = finished & (length == m) & (responses[:, :m] == chain).all(-1)
    else:
        chain_correct = torch.zeros_like(finished)
    return Verdicts(answer_correct, chain_correct, length > 1, length, finished)
