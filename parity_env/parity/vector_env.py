"""ParityCoTVectorEnv: N ParityCoT episodes stepped together in numpy, a native ``gymnasium.vector.VectorEnv``.

Behaves exactly like N copies of ``ParityCoTEnv`` given the same prompts and actions (tested step by step), with no
per-row Python loop. ``gym.make_vec("ParityCoT-v0", num_envs=N)`` builds it (the registered vector_entry_point).

Autoreset modes (``autoreset_mode=``): NEXT_STEP (default; the step after a row finishes resets it and ignores its
action), SAME_STEP (a finishing row is reset within the step; its last observation and info are in
``infos["final_obs"]`` and ``infos["final_info"]``, with masks ``"_final_obs"`` / ``"_final_info"``) and DISABLED
(stepping a finished row raises; reset rows with ``reset(options={"reset_mask": mask})``).

Prompts and groups: a full reset draws a 64-bit key from ``np_random`` and sets every row's episode counter to 0;
any later reset of a row (autoreset or ``reset_mask``) advances its counter. Row r's k-th episode uses
``protocol.hashed_prompt_bits(key, r // group_size, k, d)``, so each block of ``group_size`` rows shares one prompt
per episode however the rows finish (``ParityCoTTorchEnv`` hashes the same prompts; with ``group_size`` 1 it deals
the prompts after the first from a prepared deck instead, in reset order). ``reset(options={"bits": array (N, d)})``
fixes the prompts of the rows reset (rows of one block must be equal).

Run ``python -m parity_env.parity.vector_env`` for a short random rollout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from ..envs.base import RowsVectorEnv, check_actions
from ..registry import resolve_task
from .protocol import (
    EOS,
    N_ACTIONS,
    PAD,
    SEP,
    VOCAB_SIZE,
    check_bits,
    hashed_prompt_bits,
    long_answer,
    prompt_ids,
)

if TYPE_CHECKING:
    from .task import ParityTask


class ParityCoTVectorEnv(RowsVectorEnv):
    """N ParityCoT episodes in numpy (see the module docstring; the task is documented on ``ParityCoTEnv``)."""

    given_key = "bits"

    def __init__(
        self,
        num_envs: int = 1,
        d: int | None = None,
        p_long: float | None = None,
        leap: int | None = None,
        max_response_len: int | None = None,
        reward: str | None = None,
        group_size: int = 1,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        task: ParityTask | dict | None = None,
        render_mode: None = None,
    ):
        self.task: ParityTask = cast("ParityTask", resolve_task(task, "parity", d=d, p_long=p_long, leap=leap,
                                                                max_response_len=max_response_len, reward=reward))
        self._set_up(num_envs, group_size, autoreset_mode, render_mode,
                     "gym.make('ParityCoT-v0', render_mode='ansi' or 'rgb_array')")
        max_response_len = self.task.max_response_len
        assert max_response_len is not None  # ParityTask's check_settings made it an int
        self.d, self.leap, self.max_response_len = self.task.d, self.task.leap, max_response_len
        self.p_long, self.reward_mode = self.task.p_long, self.task.reward
        self.seq_len = self.d + 1 + self.max_response_len
        self.chain_len = self.task.chain_length
        self.single_observation_space = spaces.MultiDiscrete(np.full(self.seq_len, VOCAB_SIZE), dtype=np.int64)
        self.single_action_space = spaces.Discrete(N_ACTIONS)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

    # ------------------------------------------------------------------------------------------------ reset
    def _check_given(self, given: Any) -> np.ndarray:
        bits = check_bits(given, self.d)
        if bits.shape != (self.num_envs, self.d):
            raise ValueError(f"bits must have shape (num_envs, d) = ({self.num_envs}, {self.d}); got {bits.shape}")
        return bits

    def _check_actions(self, actions: Any) -> np.ndarray:
        return check_actions(actions, self.num_envs, N_ACTIONS, tokens="{0, 1, 2}", which="0, 1 or EOS")

    def _allocate(self) -> None:
        n = self.num_envs
        self._tokens = np.full((n, self.seq_len), PAD, dtype=np.int64)
        self._chain = np.zeros((n, self.chain_len), dtype=np.int64)
        self._parity = np.zeros(n, dtype=np.int64)
        self._prompt_id = np.zeros(n, dtype=np.int64)
        self._n = np.zeros(n, dtype=np.int64)  # tokens emitted, EOS included
        self._last_bit = np.full(n, -1, dtype=np.int64)  # last bit emitted, -1 before any
        self._chain_ok = np.ones(n, dtype=bool)  # bits emitted so far are a prefix of the chain
        self._term = np.zeros(n, dtype=bool)
        self._trunc = np.zeros(n, dtype=bool)
        self._correct = np.zeros(n, dtype=bool)

    def _reset_rows(self, mask: np.ndarray, given: np.ndarray | None) -> None:
        """Start the next episode of the rows in ``mask`` (N,): their block's next prompt, or ``given`` (N, d)."""
        assert self._tokens is not None  # allocated by the first full reset
        rows = np.flatnonzero(mask)
        self._episode[rows] += 1
        if given is None:
            bits = hashed_prompt_bits(self._key, self._row_block[rows], self._episode[rows], self.d)  # (R, d)
        else:
            bits = given[rows]
        self._tokens[rows, : self.d] = bits
        self._tokens[rows, self.d] = SEP
        self._tokens[rows, self.d + 1 :] = PAD
        self._chain[rows] = long_answer(bits, self.leap)
        self._parity[rows] = bits.sum(axis=1) % 2
        self._prompt_id[rows] = prompt_ids(bits)
        self._n[rows] = 0
        self._last_bit[rows] = -1
        self._chain_ok[rows] = True
        self._term[rows] = self._trunc[rows] = self._correct[rows] = False

    # ------------------------------------------------------------------------------------------------ step
    def _advance(self, active: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Emit ``actions`` (N,) on the ``active`` rows (N,); returns the rewards (N,) float64."""
        assert self._tokens is not None  # allocated by the first full reset
        rows = np.flatnonzero(active)
        a, n = actions[rows], self._n[rows]  # (A,)
        self._tokens[rows, self.d + 1 + n] = a
        term = a == EOS
        last = self._last_bit[rows]
        if self.reward_mode == "answer":
            correct = term & (last == self._parity[rows])
        else:
            m = self.chain_len
            short_ok = (n == 1) & (last == self._parity[rows])
            chain_ok = self._chain_ok[rows]
            correct = term & (short_ok | ((n == m) & chain_ok))
            target = self._chain[rows, np.minimum(n, m - 1)]  # (A,) the chain bit expected next
            self._chain_ok[rows] = chain_ok & (term | ((n < m) & (a == target)))
        self._last_bit[rows] = np.where(term, last, a)
        self._n[rows] = n + 1
        self._term[rows] = term
        self._trunc[rows] = (n + 1 == self.max_response_len) & ~term
        self._correct[rows] = correct
        reward = np.zeros(self.num_envs, dtype=np.float64)
        reward[rows] = correct
        return reward

    def _infos(self) -> dict:
        """Fresh per-row arrays under the single env's info keys."""
        assert self._tokens is not None  # allocated by the first full reset
        return {
            "parity": self._parity.copy(),
            "response": self._tokens[:, self.d + 1 :].copy(),  # (N, max_response_len)
            "response_length": self._n.copy(),
            "is_long": self._n - self._term > 1,  # more than one bit emitted (EOS is not a bit)
            "is_correct": self._correct.copy(),
            "prompt_id": self._prompt_id.copy(),
        }


if __name__ == "__main__":
    from .protocol import format_tokens

    envs = ParityCoTVectorEnv(num_envs=4, d=6, group_size=2)
    obs, infos = envs.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(8):
        obs, reward, term, trunc, infos = envs.step(rng.integers(0, 3, size=4))
    for row in obs:
        print(format_tokens(row))
