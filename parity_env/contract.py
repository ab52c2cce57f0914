"""The task contract: what a task with short and long (chain-of-thought) answers provides.

This is all that the envs, the demonstration sampler, evaluation and every stage of the agents may use.

A task is a value (a frozen dataclass of JSON-plain settings, by convention) that subclasses ``CoTTask`` and gives:

- **vocabulary**: ``token_names`` (one name per token id); the agent emits the ids 0 .. ``n_actions`` - 1 and nothing
  else, ``eos`` is among them and ends a response, ``pad`` (not among them) fills after it;
- **lengths**: every prompt is ``prompt_len`` tokens; a response has at most ``max_response_len`` tokens, EOS
  included; ``short_length`` and ``long_length`` are the tokens before EOS of the short and the long form (the
  longest, where they vary by problem);
- **problems and their two forms**: ``sample_problems(n, rng)`` draws problems as an int64 array (n, k);
  ``prompt_tokens``, ``short_responses`` and ``long_responses`` write them as tokens (responses without their EOS,
  PAD-padded where lengths vary);
- **the mixture**: ``p_long``, the fraction of long demonstrations (every task has both forms; ``p_long`` never
  changes an env); ``reward`` is the env's reward mode, ``"answer"`` (the end-to-end reward: the final answer is
  right) or ``"cot"`` (exactly the short form or exactly a long form);
- **the checker**: ``answer_correct(problems, responses, end)``, the "answer" reward's rule; ``verdicts`` (built on it)
  judges a batch once and gives every verdict the stages read (``Verdicts``);
- ``chance``: the greedy accuracy of an agent that answers short without having learned the short answer (parity 0.5),
  and optionally ``ntp_threshold``, the p_long above which next-token prediction alone decodes long greedily;
- ``format_tokens``: tokens as text; ``extra_metrics``: the task's own evaluation numbers (parity: the first-bit
  split, the first token's margin, the continuation probability); ``pretrain_recipe``: the pre-training settings
  that learn the task's chain on the default agent, which ``parity-cot reproduce`` starts from ({}: the defaults).

The base class supplies the rest from these: ``sample_demonstrations``, ``sample_prompts``, ``judge`` (numpy or
torch), ``hashed_problems`` (the batched envs' counter-based prompts), ``prompt_ids``, ``make_env`` (the generic
TorchRL env; parity overrides it with its tuned one), ``expected_response_tokens``, ``replace`` and ``to_dict``.
``check_task(task)`` runs every method once on a few problems and names the method whose output has the wrong type,
shape or dtype. ``parity_env.registry`` holds tasks by name (``make_task``, ``register_task``).

A short worked example of a whole task (a running sum of digits mod 10) is in the README, "Bring your own task".
"""

from __future__ import annotations

import abc
import dataclasses
import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from .checks import check_choice, check_int, check_probability, make_rng
from .factories import import_path

if TYPE_CHECKING:
    import torch

REWARD_MODES = ("answer", "cot")


class TaskError(ValueError):
    """A task that cannot be built or used: names the task, the method or setting, and what was expected."""


@dataclass(frozen=True)
class Verdicts:
    """Per-row judgements of responses, all (B,).

    Numpy arrays from ``CoTTask.verdicts``, tensors from ``judge`` on a tensor.
    """

    answer_correct: Any
    """bool: the "answer" reward (the end-to-end one): the response has an EOS and its final answer is right."""
    cot_correct: Any
    """bool: the "cot" reward: the tokens before EOS are exactly the short form or exactly the long form."""
    is_long: Any
    """bool: more tokens before EOS (or emitted, without EOS) than the short form has: a long-form answer."""
    answer_length: Any
    """int64: tokens before the first EOS (every token emitted, for a response without EOS)."""
    finished: Any
    """bool: the response has an EOS."""
    demonstrated: Any
    """bool: the tokens before EOS are exactly one of the long forms the demonstrations show (an "exact chain")."""

    def correct(self, reward: str) -> Any:
        """The verdict of reward mode ``reward``, as the envs give it."""
        return self.answer_correct if check_choice("reward", reward, REWARD_MODES) == "answer" else self.cot_correct

    def map(self, fn) -> Verdicts:
        """The verdicts with ``fn`` applied to each array (e.g. ``torch.from_numpy``)."""
        return Verdicts(**{f.name: fn(getattr(self, f.name)) for f in dataclasses.fields(self)})


def response_ends(responses: np.ndarray, eos: int) -> tuple[np.ndarray, np.ndarray]:
    """(finished (B,), end (B,)): whether each response (B, R) has an EOS, and the index of its first EOS (else R)."""
    is_eos = responses == eos  # (B, R)
    finished = is_eos.any(axis=1)
    end = np.where(finished, is_eos.argmax(axis=1), responses.shape[1])
    return finished, end


def exactly(responses: np.ndarray, end: np.ndarray, finished: np.ndarray, form: np.ndarray, pad: int) -> np.ndarray:
    """(B,) bool: the tokens before EOS of ``responses`` (B, R) are exactly ``form`` (B, m).

    ``form`` is padded with ``pad`` after its end where lengths vary.
    """
    B, R = responses.shape
    m = form.shape[1]
    length = (form != pad).sum(axis=1)  # (B,) the form's tokens
    if m > R:  # a form longer than the response slots: only rows whose form fits can match
        form = form[:, :R]
        m = R
    same = (responses[:, :m] == form) | (np.arange(m) >= length[:, None])  # (B, m)
    return finished & (end == length) & same.all(axis=1)


_Task = TypeVar("_Task", bound="CoTTask")  # ``replace`` returns a task of its own class


class CoTTask(abc.ABC):
    """The contract of a task with short and long answers (see the module docstring for what each member means).

    Subclasses set ``name`` and implement the abstract members; ``__post_init__`` of a dataclass subclass should call
    ``self.check_settings()`` once its own fields are checked (it validates p_long, reward and max_response_len).
    """

    name: ClassVar[str] = "task"
    """The task's registry name (``parity_env.make_task(name, ...)``); a user task registers its own."""
    gym_id: ClassVar[str | None] = None
    """Its Gymnasium id, registered with the generic envs when the task is registered (None: no id)."""
    torch_env: ClassVar[str] = "parity_env.envs.torch_env:CoTTorchEnv"
    """The import path of its native batched TorchRL env class (``make_env``), named as Gymnasium names entry points."""

    p_long: float
    reward: str
    max_response_len: int

    # ---------------------------------------------------------------------------------------------- the contract
    @property
    @abc.abstractmethod
    def token_names(self) -> tuple[str, ...]:
        """One name per token id; ids 0 .. n_actions - 1 are the emitted ones."""

    @property
    @abc.abstractmethod
    def n_actions(self) -> int:
        """Tokens an agent emits: the ids 0 .. n_actions - 1, EOS among them."""

    @property
    @abc.abstractmethod
    def eos(self) -> int:
        """The token that ends a response (< n_actions)."""

    @property
    @abc.abstractmethod
    def pad(self) -> int:
        """The token after a response's end (>= n_actions: never emitted)."""

    @property
    @abc.abstractmethod
    def prompt_len(self) -> int:
        """Tokens of every prompt."""

    @property
    @abc.abstractmethod
    def short_length(self) -> int:
        """Tokens before EOS of the short form (the longest, if it varies by problem)."""

    @property
    @abc.abstractmethod
    def long_length(self) -> int:
        """Tokens before EOS of the long form (the longest, if it varies by problem): the length axis of plots."""

    @property
    @abc.abstractmethod
    def chance(self) -> float:
        """Greedy accuracy of an agent that answers short without having learned to (the chance line of plots)."""

    @abc.abstractmethod
    def sample_problems(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` problems drawn from ``rng``: an int64 array (n, k), one row per problem."""

    @abc.abstractmethod
    def prompt_tokens(self, problems: np.ndarray) -> np.ndarray:
        """The prompts (n, prompt_len) int64 of ``problems`` (n, k)."""

    @abc.abstractmethod
    def short_responses(self, problems: np.ndarray) -> np.ndarray:
        """The short forms (n, s) int64 of ``problems``, without EOS (PAD after a row's end if lengths vary)."""

    @abc.abstractmethod
    def long_responses(self, problems: np.ndarray) -> np.ndarray:
        """The long forms (n, m) int64 of ``problems``, without EOS (PAD after a row's end if lengths vary)."""

    @abc.abstractmethod
    def answer_correct(self, problems: np.ndarray, responses: np.ndarray, end: np.ndarray) -> np.ndarray:
        """The "answer" reward's rule (B,) bool for ``responses`` (B, R) whose first EOS is at ``end`` (B,).

        Only finished responses, end < R, are asked; the answer is in ``responses[i, :end[i]]``.
        """

    # ---------------------------------------------------------------------------------------------- derived
    @property
    def ntp_threshold(self) -> float | None:
        """The p_long above which a model that learned the mixture exactly decodes the long form greedily.

        Such a model is calibrated on every prompt. Given where the task's structure gives one (parity 1/3;
        multiplication 1/2); None: not derived.
        """
        return None

    @property
    def vocab_size(self) -> int:
        """Input tokens: len(token_names)."""
        return len(self.token_names)

    @property
    def seq_len(self) -> int:
        """The prompt and every response slot: prompt_len + max_response_len."""
        return self.prompt_len + self.max_response_len

    @property
    def expected_response_tokens(self) -> float:
        """Mean response tokens (EOS included) of a demonstration: the pre-training loss's normaliser."""
        return self.p_long * (self.long_length + 1) + (1 - self.p_long) * (self.short_length + 1)

    def check_settings(self) -> None:
        """Validate the settings every task has, replacing them with their canonical values.

        The settings are p_long, reward and max_response_len (None: room for the long form and its EOS); frozen
        dataclasses included.
        """
        set_ = object.__setattr__  # frozen dataclasses: the validated values replace the given ones once, here
        set_(self, "p_long", check_probability("p_long", self.p_long))
        set_(self, "reward", check_choice("reward", self.reward, REWARD_MODES))
        if self.max_response_len is None:
            set_(self, "max_response_len", self.long_length + 1)
        set_(self, "max_response_len", check_int("max_response_len", self.max_response_len, 1))

    def check_long_form_fits(self) -> None:
        """Raise unless a long answer and its EOS fit in max_response_len (what pre-training and its check need)."""
        if self.max_response_len < self.long_length + 1:
            raise TaskError(f"max_response_len {self.max_response_len} cannot hold the long form of {self.describe()} "
                            f"({self.long_length} tokens) and its EOS; use at least {self.long_length + 1} or leave it "
                            "unset")

    def describe(self) -> str:
        """The task in a few words, for messages and titles: its name and settings."""
        return f"{self.name} ({', '.join(f'{k} = {v}' for k, v in self.config().items())})"

    # ---------------------------------------------------------------------------------------------- values
    def config(self) -> dict:
        """The settings that rebuild the task with its factory (a dataclass task: its fields), JSON-plain."""
        if dataclasses.is_dataclass(self):
            return dataclasses.asdict(self)
        return dict(getattr(self, "_config", {}))

    def to_dict(self) -> dict:
        """{"name", "config"[, "factory"]}: what checkpoints and results record.

        ``registry.task_from_dict`` reads it back; a task from outside this package also records its factory's import
        path, to be rebuilt where its name is not registered.
        """
        name = getattr(self, "_registry_name", None) or self.name
        out = {"name": name, "config": self.config()}
        factory = getattr(self, "_factory_path", None) or import_path(type(self))
        if factory is not None and not factory.startswith("parity_env."):
            out["factory"] = factory
        return out

    def replace(self: _Task, **changes: Any) -> _Task:
        """A copy with some settings changed (validated again)."""
        if not dataclasses.is_dataclass(self):
            raise TaskError(f"task {self.name!r} is not a dataclass: build another one with make_task instead")
        return dataclasses.replace(self, **changes)

    def long_only(self) -> CoTTask:
        """The same task with only long demonstrations (teacher-forced measurements of the long form)."""
        return self.replace(p_long=1.0)

    # ---------------------------------------------------------------------------------------------- data
    def sample_prompts(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, torch.Tensor]:
        """``n`` fresh prompts: the problems (n, k) int64 and their tokens (n, prompt_len) as an int64 tensor."""
        import torch

        problems = self.sample_problems(n, rng)
        return problems, torch.from_numpy(np.ascontiguousarray(self.prompt_tokens(problems), dtype=np.int64))

    def sample_demonstrations(self, n: int, seed: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n`` demonstrations of the mixture, laid out as an env's observation at the end of the episode.

        Tokens (n, seq_len) int64 (prompt, answer, EOS, PAD), the response mask (n, seq_len) bool (answer and EOS)
        and is_long (n,) bool. The problems are drawn first, then one uniform per row decides its form.
        """
        n = check_int("n", n, 0)
        rng = make_rng(seed)
        problems = self.sample_problems(n, rng)
        is_long = rng.random(n) < self.p_long  # (n,)
        P = self.prompt_len
        tokens = np.full((n, self.seq_len), self.pad, dtype=np.int64)  # (n, L)
        tokens[:, :P] = self.prompt_tokens(problems)
        lengths = np.zeros(n, dtype=np.int64)
        for rows, forms in ((~is_long, self.short_responses), (is_long, self.long_responses)):
            if rows.any():
                answer = forms(problems[rows])  # (b, m)
                length = (answer != self.pad).sum(axis=1)  # (b,)
                if int(length.max()) + 1 > self.max_response_len:
                    raise TaskError(f"max_response_len {self.max_response_len} cannot hold a demonstration of "
                                    f"{self.describe()} ({int(length.max())} tokens) and its EOS")
                block = tokens[rows, P:]
                block[:, : answer.shape[1]] = answer
                block[np.arange(len(length)), length] = self.eos
                tokens[rows, P:] = block
                lengths[rows] = length
        mask = np.zeros(tokens.shape, dtype=bool)
        mask[:, P:] = np.arange(self.max_response_len) <= lengths[:, None]
        return tokens, mask, is_long

    def hashed_problems(self, key: int, blocks: np.ndarray, episodes: np.ndarray) -> np.ndarray:
        """Problems (N, k) for blocks ``blocks`` (N,) at episode counters ``episodes`` (N,) under a 64-bit ``key``.

        The batched envs' rule: row r's k-th episode uses block r // group_size's k-th problem. Counter-based: each
        (block, episode) has its own generator seeded by (key, block, episode), so equal pairs give equal problems.
        """
        blocks, episodes = np.asarray(blocks, dtype=np.int64), np.asarray(episodes, dtype=np.int64)
        key = int(key) % 2**64
        pairs, inverse = np.unique(np.stack([blocks, episodes], axis=1), axis=0, return_inverse=True)
        drawn = np.concatenate([self.sample_problems(1, np.random.default_rng([key, int(b), int(e)]))
                                for b, e in pairs]) if len(pairs) else np.zeros((0, 0), dtype=np.int64)
        return drawn[inverse.reshape(-1)]

    def check_problems(self, problems: np.ndarray) -> None:
        """Raise a ValueError naming the first of ``problems`` (n, k) the task could never draw (a given prompt, say).

        By default every problem whose prompt is made of the vocabulary's tokens is accepted.
        """
        del problems  # no rule of its own: a task that has one overrides this

    def prompt_ids(self, problems: np.ndarray) -> np.ndarray:
        """int64 ids (n,) of the prompts of ``problems``: equal prompts give equal ids.

        A 64-bit hash of the tokens: weights splitmix64(position + 1) times (token + 1), summed modulo 2^64.
        """
        from .hashing import splitmix64

        tokens = np.asarray(self.prompt_tokens(problems), dtype=np.uint64) + np.uint64(1)  # (n, P)
        weights = splitmix64(np.arange(1, tokens.shape[1] + 1, dtype=np.uint64))
        with np.errstate(over="ignore"):
            return (tokens * weights).sum(axis=1, dtype=np.uint64).view(np.int64)

    # ---------------------------------------------------------------------------------------------- the checker
    def verdicts(self, problems: np.ndarray, responses: np.ndarray) -> Verdicts:
        """Every verdict on ``responses`` (B, R) to ``problems`` (B, k), as numpy arrays.

        ``responses`` are the emitted tokens; anything after the first EOS is ignored. Built on ``answer_correct``
        and the two forms; a task may override it with a faster rule giving the same verdicts.
        """
        problems, responses = np.asarray(problems), np.asarray(responses)
        finished, end = response_ends(responses, self.eos)
        answer = np.zeros(len(responses), dtype=bool)
        if finished.any():
            answer[finished] = self.answer_correct(problems[finished], responses[finished], end[finished])
        short = exactly(responses, end, finished, self.short_responses(problems), self.pad)
        long_ = exactly(responses, end, finished, self.long_responses(problems), self.pad)
        length = end.astype(np.int64)
        return Verdicts(answer_correct=answer, cot_correct=short | long_, is_long=length > self.short_length,
                        answer_length=length, finished=finished, demonstrated=long_)

    def judge(self, problems: Any, responses: Any) -> Verdicts:
        """``verdicts`` on responses (B, R) given as a numpy array or a tensor; tensors give tensors on its device."""
        import torch

        if isinstance(responses, torch.Tensor):
            v = self.verdicts(np.asarray(problems), responses.cpu().numpy())
            return v.map(lambda a: torch.from_numpy(np.asarray(a)).to(responses.device))
        return self.verdicts(np.asarray(problems), np.asarray(responses))

    # ---------------------------------------------------------------------------------------------- envs, text
    def make_env(self, batch_size: int, device: Any = "cpu", seed: int | None = None, group_size: int = 1) -> Any:
        """The native batched TorchRL env of this task, ``batch_size`` rows.

        The class ``torch_env`` names: the generic ``parity_env.envs.torch_env.CoTTorchEnv``; parity names its tuned
        one.
        """
        module, _, cls = self.torch_env.partition(":")
        env_class = getattr(importlib.import_module(module), cls)
        return env_class(task=self, batch_size=[batch_size], device=device, seed=seed, group_size=group_size)

    def format_tokens(self, tokens: Any) -> str:
        """Tokens as text, PAD dropped: e.g. '1 0 1 1 SEP 1 EOS'."""
        names = self.token_names
        return " ".join(names[int(t)] for t in np.asarray(tokens).ravel() if int(t) != self.pad)

    @property
    def pretrain_recipe(self) -> dict:
        """Pre-training settings that learn this task's chain on the default gpt agent: {} (PretrainConfig's own).

        ``agents.ntp.pretrain.PretrainConfig`` fields, JSON-plain; the main job (``parity-cot reproduce``) takes them
        under the options given.
        """
        return {}

    def extra_metrics(self, agent: Any, problems: np.ndarray, prompts: torch.Tensor, greedy: Verdicts) -> dict:
        """The task's own evaluation numbers: {} by default.

        From ``agent`` on the evaluation's greedy prompts (n, prompt_len) (on the agent's device), their problems
        (n, k) and the greedy verdicts (tensors).
        """
        return {}


def check_task(task: Any) -> CoTTask:
    """Return ``task`` if it keeps the contract, else raise ``TaskError`` naming the method and what was expected.

    Checked: the vocabulary, the lengths, and every method run once on four problems (each form judged right by the
    checker).
    """
    if not isinstance(task, CoTTask):
        raise TaskError(f"a task must be a parity_env.CoTTask; got {type(task).__name__}")
    name = f"task {task.name!r}"
    try:
        names, A, eos, pad = task.token_names, task.n_actions, task.eos, task.pad
        P, S, M = task.prompt_len, task.short_length, task.long_length
    except Exception as e:  # a user's property may fail in any way
        raise TaskError(f"{name}: reading its vocabulary and lengths failed ({type(e).__name__}: {e})") from e
    for attr, value in (("n_actions", A), ("eos", eos), ("pad", pad), ("prompt_len", P), ("short_length", S),
                        ("long_length", M), ("max_response_len", task.max_response_len)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TaskError(f"{name}: {attr} must be an int; got {value!r}")
    if not isinstance(names, tuple) or not all(isinstance(n, str) for n in names) or len(names) < 2:
        raise TaskError(f"{name}: token_names must be a tuple of strings, one per token id; got {names!r}")
    if not (1 < A <= len(names) and 0 <= eos < A and A <= pad < len(names)):
        raise TaskError(f"{name}: expected 0 <= eos < n_actions <= pad < vocab_size; got eos {eos}, n_actions {A}, pad "
                        f"{pad}, vocab_size {len(names)} (the agent emits ids 0 .. n_actions - 1, EOS among them)")
    if P < 1 or S < 0 or M < 1:
        raise TaskError(f"{name}: expected prompt_len >= 1, short_length >= 0, long_length >= 1; got {P}, {S}, {M}")
    rng = np.random.default_rng(0)
    problems = _call(task, "sample_problems", (4, rng), 2, lambda a: a.shape[0] == 4, "(4, k)")
    prompts = _call(task, "prompt_tokens", (problems,), 2, lambda a: a.shape == (4, P), f"(4, {P})")
    if prompts.min() < 0 or prompts.max() >= len(names):
        raise TaskError(f"{name}.prompt_tokens returned tokens outside [0, {len(names)})")
    forms = {}
    for method, most in (("short_responses", S), ("long_responses", M)):
        form = _call(task, method, (problems,), 2, lambda a, m=most: a.shape[0] == 4 and a.shape[1] <= m,
                     f"(4, m) with m <= {most}")
        if ((form >= A) & (form != pad)).any() or (form == eos).any() or (form < 0).any():
            raise TaskError(f"{name}.{method} returned tokens an agent cannot emit before EOS (expected ids in "
                            f"0 .. {A - 1} other than EOS {eos}, PAD {pad} after a row's end)")
        forms[method] = form
    for method, form in forms.items():
        response = np.full((4, task.max_response_len), pad, dtype=np.int64)
        length = (form != pad).sum(axis=1)
        if length.max() + 1 > task.max_response_len:
            continue  # max_response_len too small for this form: check_long_form_fits says so where it matters
        response[:, : form.shape[1]] = form
        response[np.arange(4), length] = eos
        try:
            v = task.verdicts(problems, response)
        except Exception as e:
            raise TaskError(f"{name}.verdicts failed on its own {method} ({type(e).__name__}: {e})") from e
        for field in dataclasses.fields(Verdicts):
            a = np.asarray(getattr(v, field.name))
            if a.shape != (4,):
                raise TaskError(f"{name}.verdicts: {field.name} has shape {a.shape}; expected (4,) for 4 responses")
        answer, cot = np.asarray(v.answer_correct), np.asarray(v.cot_correct)
        if not (answer.all() and cot.all()):
            raise TaskError(f"{name}: its checker does not call its own {method} correct (answer_correct "
                            f"{answer.tolist()}, cot_correct {cot.tolist()})")
    return task


def _call(task: CoTTask, method: str, args: tuple, ndim: int, shape_ok, expected: str) -> np.ndarray:
    """``task.method(*args)`` as an int64 array of ``ndim`` dims whose shape passes ``shape_ok``, else a TaskError."""
    name = f"task {task.name!r}"
    try:
        out = getattr(task, method)(*args)
    except Exception as e:
        raise TaskError(f"{name}.{method} failed ({type(e).__name__}: {e})") from e
    if not isinstance(out, np.ndarray):
        raise TaskError(f"{name}.{method} returned {type(out).__name__}; expected an int64 numpy array {expected}")
    if out.dtype == np.bool_ or not np.issubdtype(out.dtype, np.integer):
        raise TaskError(f"{name}.{method} returned dtype {out.dtype}; expected int64 {expected}")
    if out.ndim != ndim or not shape_ok(out):
        raise TaskError(f"{name}.{method} returned shape {out.shape}; expected {expected}")
    return out.astype(np.int64, copy=False)
