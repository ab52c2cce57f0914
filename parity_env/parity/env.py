"""ParityCoTEnv: the reference Gymnasium environment of d-bit parity with an optional chain of thought.

Run ``python -m parity_env.parity.env`` to play one scripted episode (the full chain) and print it.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any, cast

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..checks import check_options, check_seed
from ..envs.base import DemonstrationStream
from ..registry import resolve_task
from .protocol import (
    EOS,
    N_ACTIONS,
    PAD,
    SEP,
    VOCAB_SIZE,
    check_bits,
    format_tokens,
    is_correct,
    prompt_ids,
)

if TYPE_CHECKING:
    from .task import ParityTask

INFO_KEYS = ("parity", "response", "response_length", "is_long", "is_correct", "prompt_id")


def check_action(action: Any) -> int:
    """Return ``action`` as an int if it is an integer token 0, 1 or 2 (EOS), else raise naming it.

    Python ints, numpy integer scalars and 0-d integer arrays are accepted; bools and floats are rejected, never
    rounded.
    """
    if isinstance(action, np.ndarray) and action.shape == () and np.issubdtype(action.dtype, np.integer):
        action = action.item()
    if isinstance(action, (bool, np.bool_)) or not isinstance(action, numbers.Integral):
        raise TypeError(
            f"action must be an integer token in {{0, 1, 2}} (0, 1 or EOS); got {action!r} of type "
            f"{type(action).__name__}"
        )
    value = int(action)
    if not 0 <= value < N_ACTIONS:
        raise ValueError(f"action must be an integer token in {{0, 1, 2}} (0, 1 or EOS); got {value}")
    return value


class ParityCoTEnv(DemonstrationStream, gym.Env):
    """Parity of d bits, answered directly or through a chain of prefix parities, one token per step.

    ## Description
    The prompt is d uniform random bits x_1 ... x_d followed by SEP. The agent then writes a response one token
    per step. The target is the parity y = x_1 xor ... xor x_d. The short answer is ``y EOS``; the long answer is the
    chain of prefix parities ``c_1 c_2 ... c_d EOS`` with c_1 = x_1 and c_i = c_{i-1} xor x_i (so c_d = y), or, with
    ``leap=k``, every k-th prefix parity ``c_k c_2k ... c_d EOS`` (always ending with c_d). This is the task of
    Tsilivis et al., "How Reinforcement Learning After Next-Token Prediction Facilitates Learning" (ICLR 2026).

    Worked example, d = 4, max_response_len = 5 (L = 10); tokens 0 = bit 0, 1 = bit 1, 2 = EOS, 3 = SEP, 4 = PAD::

        reset: bits 1 0 1 1 (parity 1)       obs 1 0 1 1 3 4 4 4 4 4
        step(1) -> reward 0, not done         obs 1 0 1 1 3 1 4 4 4 4
        step(1) -> reward 0                   obs 1 0 1 1 3 1 1 4 4 4
        step(0) -> reward 0                   obs 1 0 1 1 3 1 1 0 4 4
        step(1) -> reward 0                   obs 1 0 1 1 3 1 1 0 1 4
        step(2) -> reward 1, terminated       obs 1 0 1 1 3 1 1 0 1 2   (the full chain; "1 EOS" would also earn 1)

    ## Action Space
    ``Discrete(3)``: the token emitted, 0, 1 or EOS (2). Python ints and numpy integer scalars are accepted; bools,
    floats and anything outside {0, 1, 2} raise.

    ## Observation Space
    ``MultiDiscrete([5] * L)`` int64 with L = d + 1 + max_response_len: the prompt, SEP, the response so far, then
    PAD up to L.

    ## Rewards
    0 on every step but the last. ``reward="answer"`` (default, the paper's end-to-end reward): 1 if the response
    ends with EOS and its last bit before EOS equals the parity. ``reward="cot"``: 1 only if the bits before EOS are
    exactly the short answer or exactly the chain. A truncated response earns 0.

    ## Starting State
    d bits drawn uniformly from ``np_random`` (``reset(seed=...)``: an int in [0, 2^64), the same seeds as every
    env), or given with ``reset(options={"bits": [...]})`` (d ints 0/1).

    ## Episode End
    Terminated when the agent emits EOS (an EOS as the last allowed token is rewarded normally); truncated after
    ``max_response_len`` tokens without EOS. Stepping a finished episode raises.

    ## Info
    The same keys in reset and step: ``parity`` (int), ``response`` (int64 array (max_response_len,), the tokens
    emitted so far padded with PAD), ``response_length`` (tokens emitted, EOS included), ``is_long`` (more than one
    bit emitted so far), ``is_correct`` (the reward mode's verdict, False until the episode ends), ``prompt_id``
    (int, sum x_i 2^(i-1) for d <= 62, a 64-bit hash above; see ``protocol.prompt_id_weights``).

    ## Arguments
    ``gym.make("ParityCoT-v0", d=24, p_long=0.01, leap=1, max_response_len=None, reward="answer")``, or
    ``gym.make("ParityCoT-v0", task=Task(...))`` (a ``parity_env.Task`` or its dict; not both). ``d`` >= 2;
    ``leap`` in 1..d-1; ``max_response_len`` >= 1 (default d + 1, room for the full chain and EOS); ``p_long`` in
    [0, 1] is the fraction of long demonstrations returned by ``env.unwrapped.sample_demonstrations(n, seed=None)``
    and never changes the dynamics or the rewards. A keyword left out (None) takes the ``Task`` default.

    ## Version History
    * v0: initial version.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}
    # rgb_array: one 8x8 cell per token: bit 0 black, bit 1 white, EOS red, SEP blue, PAD grey
    TOKEN_COLOURS = np.array([[0, 0, 0], [255, 255, 255], [220, 40, 40], [40, 80, 220], [128, 128, 128]], np.uint8)

    def __init__(
        self,
        d: int | None = None,
        p_long: float | None = None,
        leap: int | None = None,
        max_response_len: int | None = None,
        reward: str | None = None,
        render_mode: str | None = None,
        task: ParityTask | dict | None = None,
    ):
        self.task: ParityTask = cast("ParityTask", resolve_task(task, "parity", d=d, p_long=p_long, leap=leap,
                                                                max_response_len=max_response_len, reward=reward))
        max_response_len = self.task.max_response_len
        assert max_response_len is not None  # ParityTask's check_settings made it an int
        self.d, self.leap, self.max_response_len = self.task.d, self.task.leap, max_response_len
        self.p_long, self.reward_mode = self.task.p_long, self.task.reward
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}; got {render_mode!r}")
        self.render_mode = render_mode
        self.seq_len = self.d + 1 + self.max_response_len
        self.observation_space = spaces.MultiDiscrete(np.full(self.seq_len, VOCAB_SIZE), dtype=np.int64)
        self.action_space = spaces.Discrete(N_ACTIONS)
        self._seed_demonstrations(None)
        self._tokens: np.ndarray | None = None  # (L,) the context so far; None before the first reset
        self._done = False

    # ------------------------------------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        """Start an episode: the prompt ``options={"bits": ...}`` gives, else one drawn; returns (tokens, info)."""
        seed = check_seed(seed)
        super().reset(seed=seed)
        if seed is not None:  # the demonstration stream gets its own generator, derived from the same seed
            self._seed_demonstrations(seed)
        options = check_options(options, ("bits",))
        if "bits" in options:
            bits = check_bits(options["bits"], self.d)
            if bits.ndim != 1:
                raise ValueError(f"bits must be one prompt of d = {self.d} ints 0/1; got shape {bits.shape}")
        else:
            bits = self.np_random.integers(0, 2, size=self.d, dtype=np.int64)
        self._bits = bits
        self._parity = int(bits.sum() % 2)
        self._prompt_id = int(prompt_ids(bits))
        self._tokens = np.full(self.seq_len, PAD, dtype=np.int64)
        self._tokens[: self.d] = bits
        self._tokens[self.d] = SEP
        self._n = 0  # tokens emitted, EOS included
        self._correct = False
        self._done = False
        return self._tokens.copy(), self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Emit the token ``action``; returns (tokens, reward, terminated, truncated, info) (Gymnasium's step)."""
        action = check_action(action)
        if self._tokens is None:
            raise RuntimeError("step called before reset: call env.reset() first")
        if self._done:
            raise RuntimeError("step called after the episode ended: call env.reset() to start a new one")
        self._tokens[self.d + 1 + self._n] = action
        self._n += 1
        terminated = action == EOS
        truncated = not terminated and self._n == self.max_response_len
        if terminated:
            self._correct = is_correct(self._bits, self._response(), self.reward_mode, self.leap)
        self._done = terminated or truncated
        return self._tokens.copy(), float(self._correct), bool(terminated), bool(truncated), self._info()

    def render(self) -> str | np.ndarray | None:
        """The episode so far as text ("ansi") or an RGB image ("rgb_array"); None before reset or if not rendering."""
        if self._tokens is None or self.render_mode is None:
            return None
        if self.render_mode == "ansi":
            return format_tokens(self._tokens)
        cells = self.TOKEN_COLOURS[self._tokens]  # (L, 3)
        return np.repeat(np.repeat(cells[None], 8, axis=0), 8, axis=1)  # (8, 8 L, 3) uint8

    # ------------------------------------------------------------------------------------------------ data
    # ------------------------------------------------------------------------------------------------ helpers
    def _response(self) -> np.ndarray:
        assert self._tokens is not None  # called after reset
        return self._tokens[self.d + 1 :].copy()  # (max_response_len,) PAD after the emitted tokens

    def _info(self) -> dict:
        assert self._tokens is not None  # called after reset
        emitted = self._tokens[self.d + 1 : self.d + 1 + self._n]
        n_bits = int((emitted != EOS).sum())
        return {
            "parity": self._parity,
            "response": self._response(),
            "response_length": self._n,
            "is_long": n_bits > 1,
            "is_correct": self._correct,
            "prompt_id": self._prompt_id,
        }


if __name__ == "__main__":
    env = ParityCoTEnv(d=8, render_mode="ansi")
    obs, info = env.reset(seed=0)
    chain = np.bitwise_xor.accumulate(obs[: env.d])
    print("prompt ", env.render(), "  parity", info["parity"])
    for token in [*chain.tolist(), EOS]:
        obs, reward, terminated, truncated, info = env.step(token)
    print("episode", env.render(), "  reward", reward, " terminated", terminated, " info", info)
