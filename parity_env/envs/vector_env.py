"""CoTVectorEnv: N episodes of any task stepped together in numpy, a native ``gymnasium.vector.VectorEnv``.

Behaves exactly like N copies of ``CoTEnv`` given the same problems and actions (tested step by step), with no
per-row Python loop in the step: the emitted tokens are written with one fancy index, and the rows that finish in a
step are judged with one ``task.verdicts`` call on their responses. ``gym.make_vec("MultiplicationCoT-v0",
num_envs=N)`` builds it (the registered vector_entry_point), as for every id registered with ``register_task``.

Autoreset modes (``autoreset_mode=``): NEXT_STEP (default; the step after a row finishes resets it and ignores its
action), SAME_STEP (a finishing row is reset within the step; its last observation and info are in
``infos["final_obs"]`` and ``infos["final_info"]``, with masks ``"_final_obs"`` / ``"_final_info"``) and DISABLED
(stepping a finished row raises; reset rows with ``reset(options={"reset_mask": mask})``).

Prompts and groups: a full reset draws a 64-bit key from ``np_random`` and sets every row's episode counter to 0;
any later reset of a row (autoreset or ``reset_mask``) advances its counter. Row r's k-th episode uses
``task.hashed_problems(key, r // group_size, k)``, so each block of ``group_size`` rows shares one problem per episode
however the rows finish; for parity these are exactly the prompts ``ParityCoTVectorEnv`` deals (and
``CoTTorchEnv`` deals the same). ``reset(options={"problems": array (N, k)})`` fixes the problems of the rows reset
(rows of one block must be equal; the rows' counters still advance, so the blocks stay aligned).

Run ``python -m parity_env.envs.vector_env`` for a short random rollout.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from ..contract import CoTTask
from .base import RowsVectorEnv, check_actions
from .env import check_problems, problem_width, resolve_env_task


class CoTVectorEnv(RowsVectorEnv):
    """N episodes of any task in numpy (see the module docstring; the task's env is documented on ``CoTEnv``).

    Args:
        num_envs: N, the rows stepped together.
        task: a registered task name (``settings`` are its config keywords), or a task or its dict (no settings).
        group_size: rows per block sharing a problem; must divide num_envs.
        autoreset_mode: NEXT_STEP, SAME_STEP or DISABLED (an ``AutoresetMode`` or its value).
        render_mode: None (the vector env does not render; render single episodes with ``CoTEnv``).
    """

    def __init__(
        self,
        num_envs: int = 1,
        task: str | CoTTask | dict = "parity",
        group_size: int = 1,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: None = None,
        **settings: Any,
    ):
        self.task = resolve_env_task(task, settings, type(self).__name__)
        self._set_up(num_envs, group_size, autoreset_mode, render_mode,
                     "CoTEnv(..., render_mode='ansi' or 'rgb_array')")
        t = self.task
        self.prompt_len, self.max_response_len, self.seq_len = t.prompt_len, t.max_response_len, t.seq_len
        self.n_actions, self.eos, self.pad, self.short_length = t.n_actions, t.eos, t.pad, t.short_length
        self.reward_mode, self.p_long = t.reward, t.p_long
        self.problem_width = problem_width(t)
        self.single_observation_space = spaces.MultiDiscrete(np.full(self.seq_len, t.vocab_size), dtype=np.int64)
        self.single_action_space = spaces.Discrete(self.n_actions)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

    # ------------------------------------------------------------------------------------------------ reset
    def _check_given(self, given: Any) -> np.ndarray:
        return check_problems(self.task, given, (self.num_envs, self.problem_width), "problems")

    def _check_actions(self, actions: Any) -> np.ndarray:
        return check_actions(actions, self.num_envs, self.n_actions)

    def _allocate(self) -> None:
        n, k = self.num_envs, self.problem_width
        self._tokens = np.full((n, self.seq_len), self.pad, dtype=np.int64)
        self._problems = np.zeros((n, k), dtype=np.int64)
        self._prompt_id = np.zeros(n, dtype=np.int64)
        self._n = np.zeros(n, dtype=np.int64)  # tokens emitted, EOS included
        self._term = np.zeros(n, dtype=bool)
        self._trunc = np.zeros(n, dtype=bool)
        self._correct = np.zeros(n, dtype=bool)

    def _reset_rows(self, mask: np.ndarray, given: np.ndarray | None) -> None:
        """Start the next episode of the rows in ``mask`` (N,): their block's next problem, or ``given`` (N, k)."""
        rows = np.flatnonzero(mask)
        if not len(rows):
            return
        self._episode[rows] += 1
        if given is None:
            problems = self.task.hashed_problems(self._key, self._row_block[rows], self._episode[rows])  # (R, k)
        else:
            problems = given[rows]
        problems = np.asarray(problems, dtype=np.int64)
        self._problems[rows] = problems
        assert self._tokens is not None  # allocated by the first full reset
        self._tokens[rows, : self.prompt_len] = self.task.prompt_tokens(problems)
        self._tokens[rows, self.prompt_len :] = self.pad
        self._prompt_id[rows] = self.task.prompt_ids(problems)
        self._n[rows] = 0
        self._term[rows] = self._trunc[rows] = self._correct[rows] = False

    # ------------------------------------------------------------------------------------------------ step
    def _advance(self, active: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Emit ``actions`` (N,) on the ``active`` rows (N,); returns the rewards (N,) float64.

        The rows that emitted EOS are judged with one ``task.verdicts`` call.
        """
        assert self._tokens is not None  # allocated by the first full reset
        rows = np.flatnonzero(active)
        a, n = actions[rows], self._n[rows]  # (A,)
        self._tokens[rows, self.prompt_len + n] = a
        term = a == self.eos
        self._n[rows] = n + 1
        self._term[rows] = term
        self._trunc[rows] = (n + 1 == self.max_response_len) & ~term
        ended = rows[term]  # rows that emitted EOS: judged together
        reward = np.zeros(self.num_envs, dtype=np.float64)
        if len(ended):
            verdicts = self.task.verdicts(self._problems[ended], self._tokens[ended, self.prompt_len :])
            correct = np.asarray(verdicts.correct(self.reward_mode), dtype=bool)
            self._correct[ended] = correct
            reward[ended] = correct
        return reward

    def _infos(self) -> dict:
        """Fresh per-row arrays under the single env's info keys."""
        assert self._tokens is not None  # allocated by the first full reset
        return {
            "problem": self._problems.copy(),  # (N, k)
            "response": self._tokens[:, self.prompt_len :].copy(),  # (N, max_response_len)
            "response_length": self._n.copy(),
            "is_long": self._n - self._term > self.short_length,  # tokens before EOS so far
            "is_correct": self._correct.copy(),
            "prompt_id": self._prompt_id.copy(),
        }


if __name__ == "__main__":
    envs = CoTVectorEnv(num_envs=4, task="parity", d=6, group_size=2)
    obs, infos = envs.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(8):
        obs, reward, term, trunc, infos = envs.step(rng.integers(0, envs.n_actions, size=4))
    for row in obs:
        print(envs.task.format_tokens(row))
