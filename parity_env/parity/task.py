"""Task: the ParityCoT task's settings as one frozen, validated value that every stage passes around.

    from parity_env import Task
    task = Task(d=24, p_long=0.01)                   # leap 1, max_response_len d + 1 = 25, reward "answer"
    task.seq_len, task.n_actions                     # 50, 3
    tokens, response_mask, is_long = task.sample_demonstrations(256, seed=0)
    bits, prompts = task.sample_prompts(8, np.random.default_rng(0))
    verdicts = task.judge(bits, responses)           # the answer checker on a batch (``protocol.judge``)
    env = task.make_env(batch_size=256, seed=0)      # the native TorchRL env
    Task.from_dict(task.to_dict()) == task           # JSON-plain, for checkpoints and command lines

What the agents package relies on, and nothing more (so that a task with another vocabulary, such as the paper's
multiplication with a chain of thought, can implement the same methods): ``vocab_size`` input tokens, of which the
agent emits ``n_actions`` (the token ids 0 .. n_actions - 1); ``eos`` ends a response and ``pad`` fills after it;
a prompt is ``prompt_len`` tokens and a response at most ``max_response_len``; ``sample_demonstrations``,
``sample_prompts``, ``long_answers``, ``judge``, ``make_env`` and ``format_tokens``.

Run ``python -m parity_env.parity.task`` to print a task and a few of its demonstrations.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from . import protocol
from .protocol import check_int, check_probability, check_reward_mode, check_task

if TYPE_CHECKING:  # torch is imported only by the methods that need it: ``import parity_env`` stays numpy-only
    import torch

    from .protocol import Verdicts
    from .torch_env import ParityCoTTorchEnv


@dataclass(frozen=True)
class Task:
    """The d-bit parity task with an optional chain of thought (the token protocol of ``.protocol``)."""

    d: int = 24
    """Prompt bits (>= 2)."""
    p_long: float = 0.01
    """Fraction of long (chain-of-thought) demonstrations in the pre-training mixture; never changes the env."""
    leap: int = 1
    """Keep every leap-th prefix parity in the long answer (1: the full chain; the paper's leap-k variant)."""
    max_response_len: int | None = None
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
        object.__setattr__(self, "p_long", check_probability("p_long", self.p_long))
        object.__setattr__(self, "reward", check_reward_mode(self.reward))
        object.__setattr__(self, "p_partial", check_probability("p_partial", self.p_partial))
        object.__setattr__(self, "partial_leap", check_int("partial_leap", self.partial_leap, 2, max(2, d - 1)))
        if self.p_long + self.p_partial > 1:
            raise ValueError(f"p_long + p_partial must be <= 1; got {self.p_long} + {self.p_partial}")
        if self.p_partial > 0 and protocol.chain_length(d, self.partial_leap) + 1 > max_response_len:
            raise ValueError(f"max_response_len {max_response_len} cannot hold the partial chain of d = {d}, "
                             f"partial_leap = {self.partial_leap} and its EOS")

    # ------------------------------------------------------------------------------------------------ vocabulary
    @property
    def vocab_size(self) -> int:
        """Input tokens: 0, 1, EOS, SEP, PAD."""
        return protocol.VOCAB_SIZE

    @property
    def n_actions(self) -> int:
        """Tokens an agent emits, the ids 0 .. n_actions - 1: 0, 1 and EOS."""
        return protocol.N_ACTIONS

    @property
    def eos(self) -> int:
        return protocol.EOS

    @property
    def pad(self) -> int:
        return protocol.PAD

    # ------------------------------------------------------------------------------------------------ lengths
    @property
    def prompt_len(self) -> int:
        """x_1 .. x_d SEP."""
        return self.d + 1

    @property
    def seq_len(self) -> int:
        """The prompt and every response slot: d + 1 + max_response_len."""
        return self.d + 1 + self.max_response_len

    @property
    def chain_length(self) -> int:
        """Bits of the long answer: ceil(d / leap)."""
        return protocol.chain_length(self.d, self.leap)

    @property
    def expected_response_tokens(self) -> float:
        """Mean response tokens (EOS included) of a demonstration: p_long (m + 1) + p_partial (m_partial + 1) +
        (1 - p_long - p_partial) 2."""
        partial = protocol.chain_length(self.d, self.partial_leap) + 1
        short = 1 - self.p_long - self.p_partial
        return self.p_long * (self.chain_length + 1) + self.p_partial * partial + short * 2

    # ------------------------------------------------------------------------------------------------ values
    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Task:
        """A Task from ``to_dict``'s output; raises naming unknown keys (missing ones take their defaults)."""
        if isinstance(data, Task):
            return data
        if not isinstance(data, dict):
            raise TypeError(f"a task must be a dict of {[f.name for f in fields(cls)]}; got {type(data).__name__}")
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"task has unknown keys {unknown}; allowed: {[f.name for f in fields(cls)]}")
        return cls(**data)

    # ------------------------------------------------------------------------------------------------ data
    def sample_demonstrations(self, n: int, seed: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n`` demonstrations of the mixture: tokens (n, seq_len) int64, response mask (n, seq_len), is_long (n,)
        (``parity_env.parity.demonstrations``, the sampler the envs and pre-training share)."""
        from .demonstrations import sample_demonstrations

        return sample_demonstrations(n, self.d, self.p_long, self.leap, self.max_response_len, seed=seed,
                                     p_partial=self.p_partial, partial_leap=self.partial_leap)

    def sample_prompts(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, torch.Tensor]:
        """``n`` fresh prompts: the problems (here the bits, (n, d) int64) and the tokens x_1..x_d SEP (n, prompt_len)
        as an int64 tensor."""
        import torch

        bits = rng.integers(0, 2, size=(n, self.d), dtype=np.int64)  # (n, d)
        prompts = np.concatenate([bits, np.full((n, 1), protocol.SEP, dtype=np.int64)], axis=1)  # (n, d + 1)
        return bits, torch.from_numpy(prompts)

    def long_answers(self, bits: np.ndarray) -> np.ndarray:
        """The long answers (n, chain_length) of prompts ``bits`` (n, d): the kept prefix parities."""
        return protocol.long_answer(np.asarray(bits), self.leap)

    def judge(self, bits: np.ndarray, responses: torch.Tensor) -> Verdicts:
        """Verdicts on responses (n, R) to prompts ``bits`` (n, d), as tensors on the responses' device
        (``protocol.judge``, the one checker)."""
        import torch

        partial_leap = self.partial_leap if self.p_partial > 0 else None
        verdicts = protocol.judge(bits, responses.cpu().numpy(), self.leap, partial_leap)
        return protocol.Verdicts(*(torch.from_numpy(v).to(responses.device) for v in verdicts))

    def make_env(self, batch_size: int, device: Any = "cpu", seed: int | None = None,
                 group_size: int = 1) -> ParityCoTTorchEnv:
        """The native batched TorchRL env of this task, ``batch_size`` rows."""
        from .torch_env import ParityCoTTorchEnv

        return ParityCoTTorchEnv(task=self, batch_size=[batch_size], device=device, seed=seed, group_size=group_size)

    def format_tokens(self, tokens: Any) -> str:
        return protocol.format_tokens(np.asarray(tokens))


def resolve_task(task: Task | dict | None, **given: Any) -> Task:
    """The envs' ``task=`` argument or their task keywords (``None`` = not given), never both."""
    keywords = {k: v for k, v in given.items() if v is not None}
    if task is None:
        return Task(**keywords)
    if keywords:
        raise ValueError(f"give the task either as task= or as keywords, not both: got task={task!r} and "
                         f"{', '.join(f'{k}={v!r}' for k, v in keywords.items())}")
    return Task.from_dict(task)


if __name__ == "__main__":
    task = Task(d=8, p_long=0.5)
    print(task, f"seq_len {task.seq_len}, n_actions {task.n_actions}")
    tokens, _, is_long = task.sample_demonstrations(4, seed=0)
    for row, long_ in zip(tokens, is_long):
        print("long " if long_ else "short", task.format_tokens(row))
