"""ParityTask (also ``parity_env.Task``): the parity task's settings as one frozen, validated value (a task contract).

    from parity_env import Task                      # = ParityTask, or make_task("parity", ...)
    task = Task(d=24, p_long=0.01)                   # leap 1, max_response_len d + 1 = 25, reward "answer"
    task.seq_len, task.n_actions                     # 50, 3
    tokens, response_mask, is_long = task.sample_demonstrations(256, seed=0)
    bits, prompts = task.sample_prompts(8, np.random.default_rng(0))   # the problems are the prompt bits (8, d)
    verdicts = task.judge(bits, responses)           # the checker on a batch (``protocol.judge``)
    env = task.make_env(batch_size=256, seed=0)      # the tuned native TorchRL env (ParityCoTTorchEnv)
    task_from_dict(task.to_dict()) == task           # {"name": "parity", "config": {...}}: checkpoints, command lines

It implements ``parity_env.contract.CoTTask`` with parity's own tuned pieces: the demonstration sampler (with the
partial chains of ``p_partial``), the checker ``protocol.judge``, counter-based prompts ``protocol.hashed_prompt_bits``,
exact prompt ids, its envs, and its extra metrics (greedy accuracy split by the first prompt bit, the first token's
margin, the continuation probability).

Run ``python -m parity_env.parity.task`` to print a task and a few of its demonstrations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..checks import check_int, check_probability
from ..contract import CoTTask, Verdicts
from . import protocol
from .protocol import check_task

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class ParityTask(CoTTask):
    """The d-bit parity task with an optional chain of thought (the token protocol of ``.protocol``)."""

    name = "parity"
    gym_id = "ParityCoT-v0"
    torch_env = "parity_env.parity.torch_env:ParityCoTTorchEnv"  # the tuned one (make_env)

    d: int = 24
    """Prompt bits (>= 2)."""
    p_long: float = 0.01
    """Fraction of long (chain-of-thought) demonstrations in the pre-training mixture; never changes the env."""
    leap: int = 1
    """Keep every leap-th prefix parity in the long answer (1: the full chain; the paper's leap-k variant)."""
    max_response_len: int | None = None  # type: ignore[assignment]  # an int once check_settings ran
    """Tokens a response may have, EOS included; None: d + 1, room for the full chain and its EOS."""
    reward: str = "answer"
    """"answer" (the paper's end-to-end reward: the last bit before EOS is the parity) or "cot" (exactly the short
    answer or exactly the chain)."""
    p_partial: float = 0.0
    """Fraction of demonstrations whose answer is the partial chain, every partial_leap-th prefix parity, in place of
    a short answer (our construction of the paper's partial chains; demonstrations only: the env's "cot" reward
    accepts the leap chain alone)."""
    partial_leap: int = 2
    """The leap of the partial chains (2 .. d - 1)."""

    def __post_init__(self) -> None:
        d, leap, max_response_len = check_task(self.d, self.leap, self.max_response_len)
        object.__setattr__(self, "d", d)  # frozen: the validated values replace the given ones once, here
        object.__setattr__(self, "leap", leap)
        object.__setattr__(self, "max_response_len", max_response_len)
        self.check_settings()
        object.__setattr__(self, "p_partial", check_probability("p_partial", self.p_partial))
        object.__setattr__(self, "partial_leap", check_int("partial_leap", self.partial_leap, 2, max(2, d - 1)))
        if self.p_long + self.p_partial > 1:
            raise ValueError(f"p_long + p_partial must be <= 1; got {self.p_long} + {self.p_partial}")
        if self.p_partial > 0 and protocol.chain_length(d, self.partial_leap) + 1 > max_response_len:
            raise ValueError(f"max_response_len {max_response_len} cannot hold the partial chain of d = {d}, "
                             f"partial_leap = {self.partial_leap} and its EOS")

    # ------------------------------------------------------------------------------------------------ the contract
    @property
    def token_names(self) -> tuple[str, ...]:
        """0, 1, EOS, SEP, PAD."""
        return protocol.TOKEN_NAMES

    @property
    def n_actions(self) -> int:
        """Tokens an agent emits, the ids 0 .. n_actions - 1: 0, 1 and EOS."""
        return protocol.N_ACTIONS

    @property
    def eos(self) -> int:
        """The EOS token id (emitted: it ends a response)."""
        return protocol.EOS

    @property
    def pad(self) -> int:
        """The PAD token id (never emitted: it fills after EOS)."""
        return protocol.PAD

    @property
    def prompt_len(self) -> int:
        """x_1 .. x_d SEP."""
        return self.d + 1

    @property
    def short_length(self) -> int:
        """The short answer is one bit, the parity."""
        return 1

    @property
    def long_length(self) -> int:
        """Bits of the long answer: ceil(d / leap)."""
        return self.chain_length

    @property
    def chance(self) -> float:
        """A short answer that guesses the parity is right half the time."""
        return 0.5

    @property
    def ntp_threshold(self) -> float:
        """1/3: a calibrated model continues the chain more than it stops iff p > 1/3.

        After the first token (x_1, likeliest for any p_long > 0), a calibrated model continues the chain with
        probability 2p/(1+p) (``agents.models.linear`` derives it).
        """
        return 1 / 3

    def sample_problems(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """The prompt bits (n, d), uniform."""
        return rng.integers(0, 2, size=(n, self.d), dtype=np.int64)

    def prompt_tokens(self, problems: np.ndarray) -> np.ndarray:
        """x_1 .. x_d SEP (n, d + 1)."""
        bits = np.asarray(problems, dtype=np.int64)
        return np.concatenate([bits, np.full((len(bits), 1), protocol.SEP, dtype=np.int64)], axis=1)

    def short_responses(self, problems: np.ndarray) -> np.ndarray:
        """The parity (n, 1)."""
        return np.asarray(problems, dtype=np.int64).sum(axis=1, keepdims=True) % 2

    def long_responses(self, problems: np.ndarray) -> np.ndarray:
        """The kept prefix parities (n, chain_length)."""
        return self.long_answers(problems)

    def answer_correct(self, problems: np.ndarray, responses: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Every token before EOS is a bit and the last one is the parity."""
        rows = np.arange(len(responses))
        bits_only = ((responses < protocol.EOS) | (np.arange(responses.shape[1]) >= end[:, None])).all(axis=1)
        last = responses[rows, np.maximum(end - 1, 0)]
        return (end >= 1) & bits_only & (last == np.asarray(problems).sum(axis=1) % 2)

    # ------------------------------------------------------------------------------------------------ parity's own
    @property
    def chain_length(self) -> int:
        """Bits of the long answer: ceil(d / leap)."""
        return protocol.chain_length(self.d, self.leap)

    @property
    def expected_response_tokens(self) -> float:
        """Mean response tokens (EOS included) of a demonstration.

        p_long (m + 1) + p_partial (m_partial + 1) + (1 - p_long - p_partial) 2.
        """
        partial = protocol.chain_length(self.d, self.partial_leap) + 1
        short = 1 - self.p_long - self.p_partial
        return self.p_long * (self.chain_length + 1) + self.p_partial * partial + short * 2

    def long_only(self) -> ParityTask:
        """This task with every demonstration long (p_long 1, no partial chains)."""
        return self.replace(p_long=1.0, p_partial=0.0)

    def long_answers(self, bits: np.ndarray) -> np.ndarray:
        """The long answers (n, chain_length) of prompts ``bits`` (n, d): the kept prefix parities."""
        return protocol.long_answer(np.asarray(bits), self.leap)

    def sample_demonstrations(self, n: int, seed: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n`` demonstrations of the mixture: tokens (n, seq_len) int64, response mask (n, seq_len), is_long (n,).

        Drawn by ``parity_env.parity.demonstrations``, the sampler the envs and pre-training share; long means a full
        or a partial chain.
        """
        from .demonstrations import sample_demonstrations

        return sample_demonstrations(n, self.d, self.p_long, self.leap, self.max_response_len, seed=seed,
                                     p_partial=self.p_partial, partial_leap=self.partial_leap)

    def verdicts(self, problems: np.ndarray, responses: np.ndarray) -> Verdicts:
        """``protocol.judge``, with this task's leap and partial chains.

        The chain of this leap, and the partial chain where the task has them, count as demonstrated; the "cot"
        reward accepts the short answer and the chain.
        """
        partial_leap = self.partial_leap if self.p_partial > 0 else None
        return protocol.judge(np.asarray(problems), np.asarray(responses), self.leap, partial_leap)

    def hashed_problems(self, key: int, blocks: np.ndarray, episodes: np.ndarray) -> np.ndarray:
        """``protocol.hashed_prompt_bits``: the prompts every parity env deals."""
        return protocol.hashed_prompt_bits(key, blocks, episodes, self.d)

    def check_problems(self, problems: np.ndarray) -> None:
        """Prompt bits are 0 and 1 (``protocol.check_bits``)."""
        protocol.check_bits(problems, self.d, "bits")

    def prompt_ids(self, problems: np.ndarray) -> np.ndarray:
        """The prompt ids: sum x_i 2^(i-1) for d <= 62, a 64-bit hash above (``protocol.prompt_ids``)."""
        return protocol.prompt_ids(np.asarray(problems))

    def extra_metrics(self, agent: Any, problems: np.ndarray, prompts: torch.Tensor, greedy: Verdicts) -> dict:
        """Parity's own evaluation numbers: the first-bit split, the first token's margin, the continuation probability.

        Greedy accuracy split by the first prompt bit (``greedy_accuracy_x1_0`` / ``_x1_1``: an agent that writes
        the chain exactly when x_1 = 1 scores 0.5 / 1.0 there); ``first_token_margin`` (mean gap between the two
        likeliest first response tokens' probabilities: a near tie at small p_long) and ``first_token_near_tie``
        (the fraction of prompts where it is below 0.02); ``continuation_probability`` (mean probability that the
        answer goes on after the long answer's first token: 2p/(1+p) for an agent calibrated at p_long = p, so
        greedy decoding continues the chain iff p > 1/3).
        """
        import torch

        device = prompts.device
        x1 = torch.from_numpy(np.asarray(problems)[:, 0]).to(device)
        correct = greedy.answer_correct
        out = {"greedy_accuracy_x1_0": _mean(correct[x1 == 0]), "greedy_accuracy_x1_1": _mean(correct[x1 == 1])}
        first = torch.from_numpy(self.long_answers(problems)[:, :1]).to(device)  # (n, 1) the long answer's first
        with torch.no_grad():
            logits = agent(torch.cat([prompts.long(), first], dim=1))[:, -2:].float()  # (n, 2, A)
        top2 = logits[:, 0].softmax(-1).topk(2, dim=-1).values  # (n, 2) at the first response position
        margin = top2[:, 0] - top2[:, 1]
        out["first_token_margin"] = margin.mean().item()
        out["first_token_near_tie"] = (margin < 0.02).float().mean().item()
        out["continuation_probability"] = (1 - logits[:, 1].softmax(-1)[:, self.eos]).mean().item()
        return out


Task = ParityTask
"""The parity task under its first name (``from parity_env import Task``)."""


def _mean(x: Any) -> float | None:
    return x.float().mean().item() if x.numel() else None


if __name__ == "__main__":
    task = Task(d=8, p_long=0.5)
    print(task, f"seq_len {task.seq_len}, n_actions {task.n_actions}")
    tokens, _, is_long = task.sample_demonstrations(4, seed=0)
    for row, long_ in zip(tokens, is_long):
        print("long " if long_ else "short", task.format_tokens(row))
