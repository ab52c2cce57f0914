"""CoTEnv: any task of the contract (``parity_env.contract.CoTTask``) as a Gymnasium environment, one token per step.

    env = CoTEnv(task="multiplication", digits=3)                  # a registered task by name, with its settings
    env = CoTEnv(task=make_task("parity", d=8))                     # or a task (or its dict)
    env = gym.make("MultiplicationCoT-v0", digits=4, p_long=0.1)   # the registered Gymnasium ids serve this class

Also holds what the three generic envs share: reading their task (``resolve_env_task``), checking actions and given
problems. Run ``python -m parity_env.envs.env`` for a scripted episode of each registered task.
"""

from __future__ import annotations

import numbers
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..checks import check_options, check_seed, short_repr
from ..contract import CoTTask, TaskError, check_task
from ..registry import make_task, task_from_dict, task_keys
from .base import DemonstrationStream

INFO_KEYS = ("problem", "response", "response_length", "is_long", "is_correct", "prompt_id")


# --------------------------------------------------------------------------------------------------- shared
def resolve_env_task(task: Any, settings: dict, owner: str) -> CoTTask:
    """The task of a generic env: a registered name with its settings, or a ``CoTTask`` or its dict.

    ``task`` a registered name: ``settings`` are then its config keywords, None meaning the task's default. A
    ``CoTTask`` or its dict takes no settings beside it. A keyword the task does not take raises Python's own
    ``TypeError("... got an unexpected keyword argument 'key'")``: TorchRL's ``GymEnv`` first calls
    ``gym.make(id, frameskip=1)`` and retries without it only on exactly that error.
    """
    given = {k: v for k, v in settings.items() if v is not None}
    if isinstance(task, str):
        keys = task_keys(task)  # an unknown name raises here, listing the known ones
    elif isinstance(task, (CoTTask, dict)):
        task = task_from_dict(task)
        keys = list(task.config())
    else:
        raise TypeError(f"task must be a registered task name, a parity_env.CoTTask or its dict "
                        f"{{'name': ..., 'config': {{...}}}}; got {short_repr(task)} of type {type(task).__name__}")
    for key in settings:
        if keys is not None and key not in keys:
            name = task if isinstance(task, str) else task.name
            raise TypeError(f"{owner}.__init__() got an unexpected keyword argument '{key}' (task {name!r} takes "
                            f"{', '.join(keys) or 'no settings'})")
    if isinstance(task, str):
        return make_task(task, **given)
    if given:
        raise ValueError(f"give the task either as task= (a task or its dict) or as a task name with its settings, "
                         f"not both: got task={short_repr(task)} and "
                         f"{', '.join(f'{k}={v!r}' for k, v in given.items())}")
    return check_task(task)


def problem_width(task: CoTTask) -> int:
    """k, the columns of the task's problems (n, k)."""
    return int(task.sample_problems(1, np.random.default_rng(0)).shape[1])


def check_problems(task: CoTTask, problems: Any, shape: tuple[int, ...], name: str = "problem") -> np.ndarray:
    """``problems`` as an int64 array of ``shape`` (one problem (k,), or a batch (n, k)), else raise naming it.

    Its prompts must be tokens of the vocabulary other than PAD; bools and floats are refused, never rounded. Beyond
    that, a problem the task could never draw but whose prompt is made of valid tokens passes, unless the task's
    ``check_problems`` refuses it.
    """
    arr = np.asarray(problems)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name} must be an integer array of shape {shape}; got dtype {arr.dtype} from "
                        f"{short_repr(problems)}")
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (the task's problems have {shape[-1]} columns); got "
                         f"{arr.shape}")
    arr = arr.astype(np.int64)
    task.check_problems(arr.reshape(-1, shape[-1]))
    try:
        tokens = np.asarray(task.prompt_tokens(arr.reshape(-1, shape[-1])))
    except Exception as e:  # a task's prompt_tokens may fail in any way on a problem it never drew
        raise ValueError(f"{name} {short_repr(arr.tolist())} is not a problem of {task.describe()}: its prompt_tokens "
                         f"failed ({type(e).__name__}: {e})") from e
    if tokens.size and (tokens.min() < 0 or tokens.max() >= task.vocab_size or (tokens == task.pad).any()):
        raise ValueError(f"{name} {short_repr(arr.tolist())} is not a problem of {task.describe()}: its prompt has "
                         f"tokens outside 0 .. {task.vocab_size - 1} or PAD")
    return arr


def check_action(action: Any, n_actions: int) -> int:
    """``action`` as an int if it is an integer token in [0, n_actions), else raise naming it.

    Python ints, numpy integer scalars and 0-d integer arrays are accepted; bools, floats and arrays of other shapes
    are refused.
    """
    if isinstance(action, np.ndarray) and action.shape == () and np.issubdtype(action.dtype, np.integer):
        action = action.item()
    allowed = f"an integer token in [0, {n_actions}) (0 .. {n_actions - 1}, EOS among them)"
    if isinstance(action, (bool, np.bool_)) or not isinstance(action, numbers.Integral):
        raise TypeError(f"action must be {allowed}; got {short_repr(action)} of type {type(action).__name__}")
    value = int(action)
    if not 0 <= value < n_actions:
        raise ValueError(f"action must be {allowed}; got {value}")
    return value


def token_colours(task: CoTTask) -> np.ndarray:
    """(vocab_size, 3) uint8 colours of the rgb_array render: EOS red, PAD grey, the others spread over hues."""
    V = task.vocab_size
    hue = (np.arange(V) * 0.618034) % 1.0  # golden-ratio hues: neighbouring ids far apart
    rgb = np.clip(np.abs((hue[:, None] * 6 + np.array([0, 4, 2])) % 6 - 3) - 1, 0, 1)  # (V, 3) HSV at full S, V
    colours = (rgb * 200 + 40).astype(np.uint8)
    colours[task.eos] = (220, 40, 40)
    colours[task.pad] = (128, 128, 128)
    return colours


# --------------------------------------------------------------------------------------------------- the env
class CoTEnv(DemonstrationStream, gym.Env):
    """Any task with short and long (chain-of-thought) answers, answered one token per step.

    ## Description
    A task (``parity_env.contract.CoTTask``) poses problems as prompts of ``prompt_len`` tokens; the agent writes a
    response one token per step, either the short form of the answer or the long one (a chain of thought), then EOS.
    The env knows the task only through its contract: it draws problems with ``task.sample_problems``, writes them
    with ``task.prompt_tokens`` and judges a finished response with ``task.verdicts`` (``task.judge``). For parity it
    behaves exactly like ``ParityCoTEnv`` (tested step by step), less parity's own info key "parity".

    Worked example, parity d = 4 (tokens 0, 1, EOS = 2, SEP = 3, PAD = 4; max_response_len 5, L = 10)::

        reset: problem 1 0 1 1               obs 1 0 1 1 3 4 4 4 4 4
        step(1) -> reward 0, not done         obs 1 0 1 1 3 1 4 4 4 4
        step(2) -> reward 1, terminated       obs 1 0 1 1 3 1 2 4 4 4   (the short answer, the parity, then EOS)

    ## Action Space
    ``Discrete(task.n_actions)``: the token emitted, EOS among them. Python ints, numpy integer scalars and 0-d
    integer arrays are accepted; bools, floats, other shapes and tokens outside [0, n_actions) raise.

    ## Observation Space
    ``MultiDiscrete([task.vocab_size] * L)`` int64 with L = task.seq_len = prompt_len + max_response_len: the prompt,
    the response so far, then PAD up to L.

    ## Rewards
    0 on every step but the last. On the step that emits EOS, 1.0 if the task's checker calls the response correct in
    the task's reward mode (``task.verdicts(...).correct(task.reward)``: "answer", the end-to-end reward, or "cot",
    exactly a short or a long form), else 0.0. A truncated response earns 0.

    ## Starting State
    A problem drawn with ``task.sample_problems(1, np_random)`` (``reset(seed=...)``: an int in [0, 2^64), the same
    seeds as every env), or given with ``reset(options={"problem": ...})`` (an int array (k,), a row of the task's
    problems: for parity, the d bits).

    ## Episode End
    Terminated when the agent emits EOS (an EOS as the last allowed token is judged normally); truncated after
    ``max_response_len`` tokens without EOS. Stepping before a reset or after the end raises.

    ## Info
    The same keys in reset and step: ``problem`` (int64 array (k,)), ``response`` (int64 array (max_response_len,),
    the tokens emitted so far, PAD after them), ``response_length`` (tokens emitted, EOS included), ``is_long`` (more
    tokens before EOS so far than the short form has, ``task.short_length``), ``is_correct`` (the reward mode's
    verdict, False until the episode ends) and ``prompt_id`` (int, ``task.prompt_ids``: equal prompts, equal ids).

    ## Arguments
    ``CoTEnv(task="parity", render_mode=None, **settings)``: ``task`` is a registered task name (``parity_env.
    known_tasks()``), and ``settings`` its config keywords (None: the task's default); or ``task`` is a task (or its
    dict, ``task.to_dict()``) and no settings are given. ``gym.make("MultiplicationCoT-v0", digits=4, p_long=0.1)``
    (and the id of any task registered with ``register_task(name, factory, gym_id=...)``) builds this env for the
    task. ``render_mode`` None, "ansi" (``task.format_tokens``) or "rgb_array" (an 8 x 8 cell per token). The task's
    ``p_long`` is the fraction of long demonstrations from ``sample_demonstrations`` and never changes the dynamics.

    ## Version History
    * v0: initial version.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(self, task: str | CoTTask | dict = "parity", render_mode: str | None = None, **settings: Any):
        self.task = resolve_env_task(task, settings, type(self).__name__)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}; got {render_mode!r}")
        self.render_mode = render_mode
        t = self.task
        self.prompt_len, self.max_response_len, self.seq_len = t.prompt_len, t.max_response_len, t.seq_len
        self.n_actions, self.eos, self.pad, self.short_length = t.n_actions, t.eos, t.pad, t.short_length
        self.reward_mode, self.p_long = t.reward, t.p_long
        self.problem_width = problem_width(t)
        self.observation_space = spaces.MultiDiscrete(np.full(self.seq_len, t.vocab_size), dtype=np.int64)
        self.action_space = spaces.Discrete(self.n_actions)
        self._seed_demonstrations(None)
        self._tokens: np.ndarray | None = None  # (L,) the context so far; None before the first reset
        self._done = False

    # ------------------------------------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        """Start an episode: the problem ``options={"problem": ...}`` gives, else one drawn; returns (tokens, info)."""
        seed = check_seed(seed)
        super().reset(seed=seed)
        if seed is not None:  # the demonstration stream gets its own generator, derived from the same seed
            self._seed_demonstrations(seed)
        options = check_options(options, ("problem",))
        if "problem" in options:
            problem = check_problems(self.task, options["problem"], (self.problem_width,))
        else:
            problem = np.asarray(self.task.sample_problems(1, self.np_random), dtype=np.int64)[0]
        self._problem = problem
        self._prompt_id = int(self.task.prompt_ids(problem[None])[0])
        self._tokens = np.full(self.seq_len, self.pad, dtype=np.int64)
        self._tokens[: self.prompt_len] = self.task.prompt_tokens(problem[None])[0]
        self._n = 0  # tokens emitted, EOS included
        self._correct = False
        self._terminated = False
        self._done = False
        return self._tokens.copy(), self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Emit the token ``action``; returns (tokens, reward, terminated, truncated, info) (Gymnasium's step)."""
        action = check_action(action, self.n_actions)
        if self._tokens is None:
            raise RuntimeError("step called before reset: call env.reset() first")
        if self._done:
            raise RuntimeError("step called after the episode ended: call env.reset() to start a new one")
        self._tokens[self.prompt_len + self._n] = action
        self._n += 1
        terminated = action == self.eos
        truncated = not terminated and self._n == self.max_response_len
        if terminated:
            verdicts = self.task.verdicts(self._problem[None], self._response()[None])
            self._correct = bool(np.asarray(verdicts.correct(self.reward_mode))[0])
        self._terminated = terminated
        self._done = terminated or truncated
        return self._tokens.copy(), float(self._correct), bool(terminated), bool(truncated), self._info()

    def render(self) -> str | np.ndarray | None:
        """The episode so far as text ("ansi") or an RGB image ("rgb_array"); None before reset or if not rendering."""
        if self._tokens is None or self.render_mode is None:
            return None
        if self.render_mode == "ansi":
            return self.task.format_tokens(self._tokens)
        if not hasattr(self, "_colours"):
            self._colours = token_colours(self.task)
        cells = self._colours[self._tokens]  # (L, 3)
        return np.repeat(np.repeat(cells[None], 8, axis=0), 8, axis=1)  # (8, 8 L, 3) uint8

    # ------------------------------------------------------------------------------------------------ data
    # ------------------------------------------------------------------------------------------------ helpers
    def _response(self) -> np.ndarray:
        assert self._tokens is not None  # called after reset
        return self._tokens[self.prompt_len :].copy()  # (max_response_len,) PAD after the emitted tokens

    def _info(self) -> dict:
        return {
            "problem": self._problem.copy(),
            "response": self._response(),
            "response_length": self._n,
            "is_long": self._n - self._terminated > self.short_length,  # tokens before EOS so far
            "is_correct": self._correct,
            "prompt_id": self._prompt_id,
        }


if __name__ == "__main__":
    from ..registry import known_tasks

    for name in known_tasks():
        try:
            env = CoTEnv(task=name, render_mode="ansi")
        except TaskError as e:
            print(f"{name}: {e}")
            continue
        obs, info = env.reset(seed=0)
        answer = env.task.long_responses(info["problem"][None])[0]
        for token in [*answer[answer != env.pad].tolist(), env.eos]:
            obs, reward, terminated, truncated, info = env.step(token)
        print(f"{name}: {env.render()}   reward {reward}")
