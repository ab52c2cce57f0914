"""The generic envs (``parity_env.envs``: CoTEnv, CoTVectorEnv, CoTTorchEnv) on every registered task.

- the library checkers (Gymnasium, SB3, TorchRL's check_env_specs and GymEnv) on every task of ``known_tasks()``,
  a small task of this file (a running sum of digits mod ``base``) registered with its own Gymnasium id among them;
- step by step against parity's tuned envs (same seeds, same prompts, same rewards, every autoreset mode, groups,
  partial steps and resets, leap and both reward modes);
- the three generic envs against each other (N single envs shadowing a batched one, given the same problems and
  scripted actions) and their rewards against ``task.judge`` on the final responses;
- the prompt rule (row r's k-th episode uses ``task.hashed_problems(key, r // group_size, k)``), seeds, streams;
- bad input.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode
from tensordict import TensorDict
from torchrl.envs import EnvBase

import parity_env  # noqa: F401  (registers the ids)
from parity_env import CoTEnv, CoTTorchEnv, CoTVectorEnv, ParityCoTEnv, ParityCoTTorchEnv, ParityCoTVectorEnv, Task
from parity_env.checks import check_int
from parity_env.contract import CoTTask
from parity_env.registry import known_tasks, make_task, register_task

MODES = [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED]


# --------------------------------------------------------------------------------------------------- a task of ours
@dataclass(frozen=True)
class RunningSum(CoTTask):
    """n digits in [0, base); short answer: their sum mod base; long answer: the running sums mod base."""

    name = "running_sum_test"
    gym_id = "RunningSumTestCoT-v0"

    n: int = 4
    base: int = 10
    p_long: float = 0.25
    max_response_len: int | None = None
    reward: str = "answer"

    def __post_init__(self):
        object.__setattr__(self, "n", check_int("n", self.n, 1))
        object.__setattr__(self, "base", check_int("base", self.base, 2))
        self.check_settings()

    @property
    def token_names(self):
        return (*(str(i) for i in range(self.base)), "EOS", "SEP", "PAD")

    n_actions = property(lambda self: self.base + 1)
    eos = property(lambda self: self.base)
    pad = property(lambda self: self.base + 2)
    prompt_len = property(lambda self: self.n + 1)
    short_length = property(lambda self: 1)
    long_length = property(lambda self: self.n)
    chance = property(lambda self: 1 / self.base)

    def sample_problems(self, n, rng):
        return rng.integers(0, self.base, size=(n, self.n), dtype=np.int64)

    def prompt_tokens(self, problems):
        problems = np.asarray(problems, dtype=np.int64)
        if problems.size and (problems.min() < 0 or problems.max() >= self.base):
            raise ValueError(f"digits must be in [0, {self.base})")
        return np.concatenate([problems, np.full((len(problems), 1), self.base + 1, dtype=np.int64)], axis=1)

    def short_responses(self, problems):
        return np.asarray(problems).sum(axis=1, keepdims=True) % self.base

    def long_responses(self, problems):
        return np.cumsum(problems, axis=1) % self.base

    def answer_correct(self, problems, responses, end):
        digits_only = ((responses < self.base) | (np.arange(responses.shape[1]) >= end[:, None])).all(axis=1)
        last = responses[np.arange(len(responses)), np.maximum(end - 1, 0)]
        return (end >= 1) & digits_only & (last == np.asarray(problems).sum(axis=1) % self.base)


register_task(RunningSum.name, RunningSum, gym_id=RunningSum.gym_id)

SMALL = {"parity": {"d": 6}, "multiplication": {"digits": 2}, RunningSum.name: {"n": 3}}
"""Small settings of the tasks we know (any other registered task is built with its defaults)."""


def build_task(name: str, **changes) -> CoTTask:
    """make_task(name) with small settings."""
    return make_task(name, **{**SMALL.get(name, {}), **changes})


def generic_ids(name: str) -> list[str]:
    """The Gymnasium ids served by the generic envs for the registered task ``name``."""
    return sorted(i for i, s in gym.registry.items()
                  if s.entry_point == "parity_env.envs.env:CoTEnv" and s.kwargs.get("task") == name)


TASKS = known_tasks()
GYM_IDS = sorted({i for name in TASKS for i in generic_ids(name)})


def settings_for_id(env_id: str) -> dict:
    """Small settings of the task behind ``env_id``."""
    name = gym.spec(env_id).kwargs["task"]
    build_task(name)
    return SMALL.get(name, {})


def _raises(exc, words):
    return pytest.raises(exc, match="(?s)" + "".join(f"(?=.*{re.escape(w)})" for w in words))


# --------------------------------------------------------------------------------------------------- checkers
def test_registered_ids():
    assert {"parity", "multiplication", RunningSum.name} <= set(TASKS)
    assert {"MultiplicationCoT-v0", RunningSum.gym_id} <= set(GYM_IDS)
    for env_id in GYM_IDS:
        spec = gym.spec(env_id)
        assert spec.vector_entry_point == "parity_env.envs.vector_env:CoTVectorEnv"
        assert gym.envs.registration.EnvSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize("name", TASKS)
def test_gymnasium_and_sb3_check_env(name):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    task = build_task(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for env in (CoTEnv(task=task), CoTEnv(task=name, render_mode="ansi", **SMALL.get(name, {}))):
            check_env(env, skip_render_check=True)  # (every render mode: through gym.make below, with a spec)
        sb3_check_env(CoTEnv(task=task))
    env = CoTEnv(task=task, render_mode="ansi")
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.int64 and obs.shape == (task.seq_len,) and set(info) == {
        "problem", "response", "response_length", "is_long", "is_correct", "prompt_id"}
    assert env.render() == task.format_tokens(obs)
    env = CoTEnv(task=task, render_mode="rgb_array")
    env.reset(seed=0)
    image = env.render()
    assert image.dtype == np.uint8 and image.shape == (8, 8 * task.seq_len, 3)


@pytest.mark.parametrize("env_id", GYM_IDS)
def test_gym_make_and_make_vec(env_id):
    settings = settings_for_id(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for render_mode in (None, "ansi", "rgb_array"):
            check_env(gym.make(env_id, disable_env_checker=True, render_mode=render_mode, **settings).unwrapped)
        env = gym.make(env_id, **settings)  # the passive checker runs on the first reset and step
        env.reset(seed=0)
        env.action_space.seed(0)
        for _ in range(5):
            if any(env.step(env.action_space.sample())[2:4]):
                env.reset()
    assert isinstance(env.unwrapped, CoTEnv)
    envs = gym.make_vec(env_id, num_envs=4, **settings)
    assert isinstance(envs, CoTVectorEnv) and envs.autoreset_mode == AutoresetMode.NEXT_STEP
    obs, infos = envs.reset(seed=0)
    assert obs.shape == (4, envs.seq_len) and infos["problem"].shape == (4, envs.problem_width)


@pytest.mark.parametrize("env_id", GYM_IDS)
def test_torchrl_gym_env(env_id):
    from torchrl.envs import GymEnv
    from torchrl.envs.utils import check_env_specs

    env = GymEnv(env_id, categorical_action_encoding=True, **settings_for_id(env_id))
    check_env_specs(env)
    data = env.rollout(20)
    assert data["action"].dtype == torch.int64 and data["action"].ndim == 1
    assert data["observation"].shape[-1] == env._env.unwrapped.seq_len


@pytest.mark.parametrize("name", TASKS)
def test_torchrl_check_env_specs(name):
    from torchrl.envs.utils import check_env_specs

    task = build_task(name)
    for group in (1, 4):
        env = CoTTorchEnv(task=task, batch_size=[8], seed=0, group_size=group)
        check_env_specs(env)
    data = env.rollout(30, break_when_any_done=False)
    B, L = 8, task.seq_len
    expected = {
        "tokens": ((B, 30, L), torch.uint8),
        "prompt_id": ((B, 30), torch.int64),
        "response_length": ((B, 30), torch.int64),
        "is_long": ((B, 30), torch.bool),
        "is_correct": ((B, 30), torch.bool),
        "done": ((B, 30, 1), torch.bool),
        "terminated": ((B, 30, 1), torch.bool),
        "truncated": ((B, 30, 1), torch.bool),
        "action": ((B, 30), torch.int64),
    }
    for key, (shape, dtype) in expected.items():
        assert data[key].shape == shape and data[key].dtype == dtype, key
    assert data["next", "reward"].shape == (B, 30, 1) and data["next", "reward"].dtype == torch.float32
    assert CoTTorchEnv(task=name, batch_size=[2], **SMALL.get(name, {})).task == task


def test_large_vocabulary_tokens_are_int64():
    from torchrl.envs.utils import check_env_specs

    task = RunningSum(n=3, base=300)
    env = CoTTorchEnv(task=task, batch_size=[4], seed=0)
    check_env_specs(env)
    assert env.reset()["tokens"].dtype == torch.int64
    assert env.rollout(10, break_when_any_done=False)["tokens"].max() >= 256
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(CoTEnv(task=task), skip_render_check=True)


def test_make_env_of_a_task():
    env = RunningSum().make_env(batch_size=6, seed=0, group_size=3)
    assert isinstance(env, CoTTorchEnv) and env.group_size == 3 and env.batch_size == (6,)
    assert isinstance(Task(d=4).make_env(4), ParityCoTTorchEnv)  # parity keeps its tuned env


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_torch_env_on_cuda():
    from torchrl.envs.utils import check_env_specs

    for task in (RunningSum(reward="cot"), Task(d=8, reward="cot")):
        env = CoTTorchEnv(task=task, batch_size=[64], device="cuda", group_size=4, seed=0)
        check_env_specs(env)
        data = env.rollout(30, break_when_any_done=False)
        assert data["tokens"].device.type == "cuda" and data["next", "reward"].sum() > 0


# --------------------------------------------------------------------------------------------------- scripted plans
def generic_plan(task: CoTTask, problem: np.ndarray, rng: np.random.Generator) -> list[int]:
    """A scripted response to ``problem``: the short form, the long form, the long form with one token wrong, an EOS
    first, uniform tokens, or tokens without EOS; then tokens without EOS (reached only by truncated rows)."""
    short, long_ = (f(problem[None])[0] for f in (task.short_responses, task.long_responses))
    short, long_ = short[short != task.pad].tolist(), long_[long_ != task.pad].tolist()
    R, A, eos = task.max_response_len, task.n_actions, task.eos
    other = [t for t in range(A) if t != eos]
    kind = int(rng.integers(7))
    if kind == 0:
        plan = short + [eos]
    elif kind in (1, 2):
        plan = long_ + [eos]
        if kind == 2:
            i = int(rng.integers(len(long_)))
            plan[i] = int(rng.choice([t for t in other if t != long_[i]]))
    elif kind == 3:
        plan = [eos]
    elif kind == 4:
        plan = rng.integers(0, A, R).tolist()
    elif kind == 5:
        plan = long_[:-1] + [eos]  # a long answer cut short
    else:
        plan = rng.choice(other, R).tolist()
    return plan + rng.choice(other, R).tolist()


class Plans:
    """One scripted plan per row, renewed whenever a row starts an episode (response_length 0)."""

    def __init__(self, task, n, seed):
        self.task, self.rng, self.plans = task, np.random.default_rng(seed), [None] * n

    def actions(self, problems: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        out = []
        for i, (problem, k) in enumerate(zip(problems, lengths)):
            if k == 0 or self.plans[i] is None:
                self.plans[i] = generic_plan(self.task, np.asarray(problem), self.rng)
            out.append(self.plans[i][min(int(k), len(self.plans[i]) - 1)])
        return np.array(out, dtype=np.int64)


def judged(task: CoTTask, problem: np.ndarray, response: np.ndarray) -> float:
    """The reward of a finished response according to ``task.judge``."""
    return float(task.judge(np.asarray(problem)[None], np.asarray(response)[None]).correct(task.reward)[0])


# --------------------------------------------------------------------------------------------------- vs parity
PARITY = [  # d, leap, max_response_len, reward
    (2, 1, None, "answer"),
    (6, 1, None, "cot"),
    (9, 4, None, "cot"),
    (10, 3, 6, "answer"),  # too short for the full chain
    (64, 5, 20, "cot"),  # d above 62: hashed prompt ids
]
COMMON_INFO = ("response", "response_length", "is_long", "is_correct", "prompt_id")


def _parity(d, leap, max_len, reward):
    return Task(d=d, leap=leap, max_response_len=max_len, reward=reward)


def assert_infos(a: dict, b: dict, keys=COMMON_INFO, where=""):
    for key in keys:
        assert np.array_equal(np.asarray(a[key]), np.asarray(b[key])), (where, key, a[key], b[key])


@pytest.mark.parametrize("config", PARITY)
def test_single_env_matches_parity(config):
    task = _parity(*config)
    mine, ref = CoTEnv(task=task), ParityCoTEnv(task=task)
    rng = np.random.default_rng(config[0])
    for episode in range(120):
        seed = episode if episode % 3 == 0 else None  # reset(seed) and the continued np_random stream
        (o1, i1), (o2, i2) = mine.reset(seed=seed), ref.reset(seed=seed)
        assert np.array_equal(o1, o2) and np.array_equal(i1["problem"], o2[: task.d])
        assert_infos(i1, i2, where=episode)
        plan, done = generic_plan(task, i1["problem"], rng), False
        for action in plan:
            s1, s2 = mine.step(action), ref.step(action)
            assert np.array_equal(s1[0], s2[0]) and s1[1:4] == s2[1:4], (episode, s1, s2)
            assert all(type(x) is type(y) for x, y in zip(s1[1:4], s2[1:4]))
            assert_infos(s1[4], s2[4], where=episode)
            if s1[2] or s1[3]:
                assert s1[1] == (judged(task, i1["problem"], s1[4]["response"]) if s1[2] else 0.0)
                done = True
                break
        assert done
    assert np.array_equal(mine.sample_demonstrations(20)[0], ref.sample_demonstrations(20)[0])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("group", [1, 4])
@pytest.mark.parametrize("config", PARITY[1:])
def test_vector_env_matches_parity(mode, group, config):
    n, task = 8, _parity(*config)
    mine = CoTVectorEnv(n, task=task, group_size=group, autoreset_mode=mode)
    ref = ParityCoTVectorEnv(n, task=task, group_size=group, autoreset_mode=mode)
    plans, rng = Plans(task, n, 0), np.random.default_rng(1)
    (o1, i1), (o2, i2) = mine.reset(seed=config[0]), ref.reset(seed=config[0])
    assert np.array_equal(o1, o2)
    assert_infos(i1, i2)
    finished = rewarded = 0
    for t in range(400):
        if t % 37 == 36 or (mode == AutoresetMode.DISABLED and (i1["response_length"] > 0).any()):
            done = mine._term | mine._trunc
            mask = done | (rng.random(n) < 0.1) if t % 37 == 36 or mode != AutoresetMode.DISABLED else done
            if mask.any():
                (o1, i1), (o2, i2) = (e.reset(options={"reset_mask": mask}) for e in (mine, ref))
                assert np.array_equal(o1, o2)
                assert_infos(i1, i2, where=t)
        actions = plans.actions(i1["problem"], i1["response_length"])
        o1, r1, te1, tr1, i1 = mine.step(actions)
        o2, r2, te2, tr2, i2 = ref.step(actions)
        for a, b in ((o1, o2), (r1, r2), (te1, te2), (tr1, tr2)):
            assert np.array_equal(a, b) and a.dtype == b.dtype, t
        assert_infos(i1, i2, where=t)
        assert np.array_equal(i1["problem"], o1[:, : task.d])
        if mode == AutoresetMode.SAME_STEP:
            assert set(i1) - set(COMMON_INFO) - {"problem"} == set(i2) - set(COMMON_INFO) - {"parity"}
            if "final_obs" in i1:
                assert np.array_equal(i1["final_obs"], i2["final_obs"])
                assert np.array_equal(i1["_final_obs"], i2["_final_obs"])
                assert_infos(i1["final_info"], i2["final_info"], where=t)
        finished += (te1 | tr1).sum()
        rewarded += r1.sum()
    assert finished > 10 * n and rewarded > n


def _torch_entries(td):
    return {k: td[k] for k in ("tokens", "prompt_id", "response_length", "is_long", "is_correct", "done",
                               "terminated", "truncated")}


def assert_same_td(a, b, where, reward=False):
    keys = list(_torch_entries(a)) + (["reward"] if reward else [])
    for key in keys:
        assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), (where, key, a[key], b[key])


@pytest.mark.parametrize("group", [1, 4])
@pytest.mark.parametrize("config", PARITY[1:])
def test_torch_env_matches_parity(group, config):
    """group_size 4: the same seed deals the same prompts (fused and generic paths, partial steps and resets);
    group_size 1: parity's env deals later prompts from its deck, so both are given the same prompts."""
    n, task = 8, _parity(*config)
    mine = CoTTorchEnv(task=task, batch_size=[n], seed=config[0], group_size=group)
    ref = ParityCoTTorchEnv(task=task, batch_size=[n], seed=config[0], group_size=group)
    plans, rng, gen = Plans(task, n, 0), np.random.default_rng(1), torch.Generator().manual_seed(0)
    t1, t2 = mine.reset(), ref.reset()
    assert_same_td(t1, t2, "reset")
    rewarded = 0
    for t in range(300):
        action = torch.from_numpy(plans.actions(t1["tokens"][:, : task.d].long().numpy(),
                                                t1["response_length"].numpy()))
        t1["action"], t2["action"] = action, action.clone()
        if group > 1 and t % 2:
            (d1, t1), (d2, t2) = mine.step_and_maybe_reset(t1), ref.step_and_maybe_reset(t2)
            assert_same_td(d1["next"], d2["next"], t, reward=True)
            assert_same_td(t1, t2, t)
            rewarded += d1["next", "reward"].sum().item()
            continue
        if t % 5 == 4:  # TorchRL's partial step: rows outside "_step" keep their state, reward 0
            step = torch.rand(n, generator=gen) < 0.7
            t1["_step"], t2["_step"] = step, step.clone()
        d1, d2 = mine.step(t1), ref.step(t2)
        assert_same_td(d1["next"], d2["next"], t, reward=True)
        rewarded += d1["next", "reward"].sum().item()
        t1, t2 = d1["next"].clone(False), d2["next"].clone(False)
        reset = t1["done"].squeeze(-1) | torch.from_numpy(rng.random(n) < 0.1)
        if reset.any():
            t1["_reset"], t2["_reset"] = reset.unsqueeze(-1), reset.unsqueeze(-1).clone()
            if group == 1 or t % 3 == 0:  # given prompts (the torch envs' "problems" and "bits" entries)
                bits = torch.from_numpy(np.repeat(rng.integers(0, 2, (n // group, task.d)), group, axis=0))
                t1["problems"], t2["bits"] = bits, bits.clone()
            t1, t2 = mine.reset(t1), ref.reset(t2)
            assert_same_td(t1, t2, t)
    assert rewarded > n


def test_hashed_prompts_are_parity_s():
    """The generic envs deal block b's k-th problem task.hashed_problems(key, b, k): for parity, parity's prompts."""
    task = Task(d=7)
    key, blocks, episodes = -12345, np.arange(40) % 5, np.arange(40) // 5
    from parity_env.parity.protocol import hashed_prompt_bits

    assert np.array_equal(task.hashed_problems(key, blocks, episodes), hashed_prompt_bits(key, blocks, episodes, 7))
    mine, ref = CoTTorchEnv(task=task, batch_size=[6], seed=5), ParityCoTTorchEnv(task=task, batch_size=[6], seed=5)
    mine.reset(), ref.reset()
    assert mine._state.key == int(ref._prompts.key)
    assert torch.equal(mine.get_rng_state(), ref.get_rng_state())
    assert all(torch.equal(a, b) for a, b in zip(mine.sample_demonstrations(9), ref.sample_demonstrations(9)))


# --------------------------------------------------------------------------------------------------- generic
GENERIC = [(RunningSum.name, {"reward": "answer"}), (RunningSum.name, {"reward": "cot", "max_response_len": 3}),
           ("multiplication", {"reward": "answer"}), ("multiplication", {"reward": "cot"})]


class Shadow:
    """N single CoTEnvs with scripted plans: the expected behaviour of an N-row batched env."""

    def __init__(self, task, n, seed):
        self.task, self.envs = task, [CoTEnv(task=task) for _ in range(n)]
        self.rng, self.plans, self.episodes = np.random.default_rng(seed), [None] * n, 0

    def reset(self, i, problem):
        obs, info = self.envs[i].reset(options={"problem": problem})
        self.plans[i] = generic_plan(self.task, info["problem"], self.rng)
        self.episodes += 1
        return obs, info

    def action(self, i):
        return self.plans[i][self.envs[i]._n]

    def step(self, i, action):
        env = self.envs[i]
        obs, r, term, trunc, info = env.step(action)
        if term or trunc:  # the reward is the checker's verdict on the final response
            assert r == (judged(self.task, env._problem, info["response"]) if term else 0.0)
        return obs, r, term, trunc, info

    def state(self, i):
        env = self.envs[i]
        return env._tokens.copy(), 0.0, env._terminated, env._done and not env._terminated, env._info()


def assert_row(infos, i, info):
    for key, value in info.items():
        assert np.array_equal(np.asarray(infos[key][i]), np.asarray(value)), (key, i, infos[key][i], value)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name,changes", GENERIC)
def test_vector_env_matches_single(name, changes, mode):
    n, task = 6, build_task(name, **changes)
    venv = CoTVectorEnv(n, task=task, group_size=2, autoreset_mode=mode)
    shadow, rng = Shadow(task, n, 0), np.random.default_rng(1)
    obs, infos = venv.reset(seed=3)
    for i in range(n):
        s_obs, s_info = shadow.reset(i, infos["problem"][i])
        assert np.array_equal(obs[i], s_obs)
        assert_row(infos, i, s_info)
    pending = np.zeros(n, dtype=bool)  # NEXT_STEP: rows whose next step is a reset
    for t in range(150):
        if t % 37 == 36:  # partial reset of random rows, finished or not
            mask = rng.random(n) < 0.3
            obs, infos = venv.reset(options={"reset_mask": mask})
            for i in np.flatnonzero(mask):
                assert np.array_equal(obs[i], shadow.reset(i, infos["problem"][i])[0])
            pending &= ~mask
        if mode == AutoresetMode.DISABLED:
            done = np.array([e._done for e in shadow.envs])
            if done.any():
                obs, infos = venv.reset(options={"reset_mask": done})
                for i in np.flatnonzero(done):
                    s_obs, s_info = shadow.reset(i, infos["problem"][i])
                    assert np.array_equal(obs[i], s_obs)
                    assert_row(infos, i, s_info)
        actions = np.array([0 if pending[i] else shadow.action(i) for i in range(n)])
        obs, reward, term, trunc, infos = venv.step(actions)
        for i in range(n):
            if pending[i]:
                s_obs, s_info = shadow.reset(i, infos["problem"][i])
                s_r, s_term, s_trunc = 0.0, False, False
                pending[i] = False
            else:
                s_obs, s_r, s_term, s_trunc, s_info = shadow.step(i, int(actions[i]))
                if mode == AutoresetMode.NEXT_STEP:
                    pending[i] = s_term or s_trunc
                elif mode == AutoresetMode.SAME_STEP and (s_term or s_trunc):
                    assert infos["_final_obs"][i] and infos["_final_info"][i]
                    assert np.array_equal(infos["final_obs"][i], s_obs)
                    assert_row(infos["final_info"], i, s_info)
                    s_obs, s_info = shadow.reset(i, infos["problem"][i])
            assert np.array_equal(obs[i], s_obs), (t, i, obs[i], s_obs)
            assert (reward[i], term[i], trunc[i]) == (s_r, s_term, s_trunc), (t, i)
            assert_row(infos, i, s_info)
    assert shadow.episodes > 4 * n


def _check_torch_rows(td, expected, task):
    for i, (s_obs, s_r, s_term, s_trunc, s_info) in expected.items():
        assert np.array_equal(td["tokens"][i].numpy(), s_obs), (i, td["tokens"][i], s_obs)
        if s_r is not None:
            assert td["reward"][i].item() == s_r, i
        assert (td["terminated"][i].item(), td["truncated"][i].item()) == (s_term, s_trunc), i
        assert td["done"][i].item() == (s_term or s_trunc)
        for key in ("response_length", "is_long", "is_correct", "prompt_id"):
            assert td[key][i].item() == s_info[key], (key, i)


@pytest.mark.parametrize("fused", [True, False], ids=["step_and_maybe_reset", "step_then_reset"])
@pytest.mark.parametrize("name,changes", GENERIC)
def test_torch_env_matches_single(name, changes, fused):
    """The torch env draws its own (hashed) problems, the shadows are reset with them; partial steps and resets,
    and given problems, on the generic path."""
    n, task = 6, build_task(name, **changes)
    env = CoTTorchEnv(task=task, batch_size=[n], seed=2, group_size=2 if fused else 1)
    shadow, rng = Shadow(task, n, 0), np.random.default_rng(2)
    td = env.reset()
    for i in range(n):
        shadow.reset(i, env._state.problems[i])
    _check_torch_rows(td, {i: shadow.state(i)[:1] + (None,) + shadow.state(i)[2:] for i in range(n)}, task)
    for t in range(150):
        actions = torch.tensor([shadow.action(i) if not shadow.envs[i]._done else 0 for i in range(n)])
        td["action"] = actions
        stepped = [i for i in range(n) if not shadow.envs[i]._done]
        if not fused and t % 5 == 4:  # TorchRL's partial step: rows outside _step keep their state
            step_mask = torch.from_numpy(rng.random(n) < 0.7)
            td["_step"] = step_mask
            stepped = [i for i in stepped if step_mask[i]]
        expected = {i: shadow.state(i) for i in range(n)}
        for i in stepped:
            expected[i] = shadow.step(i, int(actions[i]))
        if fused:
            data, td = env.step_and_maybe_reset(td)
        else:
            data = env.step(td)
            td = data["next"].clone(False)
        _check_torch_rows(data["next"], expected, task)
        done, given = data["next", "done"].squeeze(-1), None
        if not fused:
            done = done | torch.from_numpy(rng.random(n) < 0.1)
            if done.any():
                td["_reset"] = done.unsqueeze(-1)
                if t % 2:  # given problems
                    given = task.sample_problems(n, rng)
                    td["problems"] = torch.from_numpy(given)
                td = env.reset(td)
        for i in np.flatnonzero(done.numpy()):
            problem = env._state.problems[i]
            if given is not None:
                assert np.array_equal(problem, given[i])
            shadow.reset(i, problem)
        _check_torch_rows(td, {i: shadow.state(i)[:1] + (None,) + shadow.state(i)[2:] for i in range(n)}, task)
    assert shadow.episodes > 4 * n


@pytest.mark.parametrize("name", [RunningSum.name, "multiplication"])
def test_groups_follow_the_hash(name):
    """Row r's k-th episode uses task.hashed_problems(key, r // G, k) in both batched envs, however rows finish."""
    task, n, G = build_task(name), 12, 3
    eos_rate = np.linspace(0.1, 1.0, n)
    venv = CoTVectorEnv(n, task=task, group_size=G, autoreset_mode=AutoresetMode.SAME_STEP)
    tenv = CoTTorchEnv(task=task, batch_size=[n], group_size=G, seed=1)
    _, infos = venv.reset(seed=1)
    td = tenv.reset()
    rng = np.random.default_rng(0)
    episodes = {"vector": np.zeros(n, dtype=np.int64), "torch": np.zeros(n, dtype=np.int64)}
    blocks = np.arange(n) // G
    for _ in range(60):
        for kind, key, problems in (("vector", venv._key, infos["problem"]), ("torch", tenv._state.key,
                                                                           tenv._state.problems)):
            assert np.array_equal(problems, task.hashed_problems(key, blocks, episodes[kind])), kind
        actions = np.where(rng.random(n) < eos_rate, task.eos, 0)
        _, _, term, trunc, infos = venv.step(actions)
        episodes["vector"] += term | trunc
        td["action"] = torch.from_numpy(actions)
        data, td = tenv.step_and_maybe_reset(td)
        episodes["torch"] += data["next", "done"].squeeze(-1).numpy()
    for counts in episodes.values():
        assert counts.min() > 4 and counts.max() > 40


def test_fused_step_and_maybe_reset_equals_generic_path():
    """The fused step_and_maybe_reset gives EnvBase's step + step_mdp + maybe_reset: the same keys, the same step
    data and the same env entries in the next root (the generic path zeroes the carried action and policy outputs on
    reset rows, the fused one carries them)."""
    make = lambda: CoTTorchEnv(task=RunningSum(reward="cot"), batch_size=[12], group_size=3, seed=3)
    fast, slow = make(), make()
    td_f, td_s = fast.reset(), slow.reset()
    gen = torch.Generator().manual_seed(0)
    for _ in range(150):
        action = torch.where(torch.rand(12, generator=gen) < 0.3, 10, torch.randint(0, 10, (12,), generator=gen))
        extra = torch.randn(12, 2, generator=gen)
        td_f["action"], td_s["action"] = action, action.clone()
        td_f["policy_out"], td_s["policy_out"] = extra, extra.clone()
        out_f, td_f = fast.step_and_maybe_reset(td_f)
        out_s, td_s = EnvBase._step_and_maybe_reset(slow, td_s)
        for a, b, skip in ((out_f, out_s, ()), (td_f, td_s, ("action", "policy_out"))):
            assert set(a.keys(True, True)) == set(b.keys(True, True))
            for key in a.keys(True, True):
                assert key in skip or torch.equal(a[key], b[key]), key


def test_torch_rollout_keeps_every_step():
    """Rollout data are not overwritten by later steps or resets (every output tensor is fresh)."""
    env = CoTTorchEnv(task=RunningSum(n=3), batch_size=[8], seed=0)
    data = env.rollout(60, break_when_any_done=False)
    tokens, nxt, act, n = data["tokens"], data["next", "tokens"], data["action"], data["response_length"]
    for t in range(60):
        for b in range(8):
            k = int(n[b, t])
            assert nxt[b, t, 4 + k] == act[b, t]
            assert torch.equal(nxt[b, t, : 4 + k], tokens[b, t, : 4 + k])
            if t < 59 and not data["next", "done"][b, t]:
                assert torch.equal(tokens[b, t + 1], nxt[b, t])


def test_partial_steps_as_the_episode_collector_runs_them():
    """agents.rl.episodes' loop: env.step with "_step" = ~done until every row is done; the rows' returns are the
    checker's verdicts on their final responses."""
    task = RunningSum(n=5, reward="cot")
    env = CoTTorchEnv(task=task, batch_size=[16], seed=0, group_size=4)
    td, ret = env.reset(), torch.zeros(16, 1)
    plans = Plans(task, 16, 0)
    for _ in range(task.max_response_len):
        td["action"] = torch.from_numpy(plans.actions(env._state.problems, td["response_length"].numpy()))
        last = env.step(td)["next"]
        ret += last["reward"]
        done = last["done"].reshape(-1)
        if done.all():
            break
        td = last.exclude("reward")
        td.set("_step", ~done)
    assert done.all()
    responses = last["tokens"][:, task.prompt_len :].long().numpy()
    verdict = task.judge(env._state.problems, responses).correct("cot")
    assert np.array_equal(ret.squeeze(-1).numpy(), verdict.astype(np.float32)) and 0 < verdict.sum() < 16
    assert np.array_equal(last["is_correct"].numpy(), verdict)
    td = last.exclude("reward")
    td.set("_step", torch.zeros(16, dtype=torch.bool))  # nothing stepped: TorchRL skips the env, state unchanged
    after = env.step(td)["next"]
    assert torch.equal(after["tokens"], last["tokens"]) and not after["reward"].any() and after["done"].all()
    td = last.exclude("reward")
    td["action"] = torch.zeros(16, dtype=torch.int64)
    td.set("_step", torch.tensor([True] + [False] * 15))  # a finished row stepped
    with _raises(RuntimeError, ["finished rows [0]", "_reset"]):
        env.step(td)


def test_torchrl_gym_wrapper_on_the_vector_env():
    """TorchRL's GymWrapper takes the native vector env in SAME_STEP mode (it refuses NEXT_STEP)."""
    from torchrl.envs import GymWrapper
    from torchrl.envs.utils import check_env_specs

    env = GymWrapper(CoTVectorEnv(4, task=RunningSum(n=3), autoreset_mode=AutoresetMode.SAME_STEP),
                     categorical_action_encoding=True)
    check_env_specs(env)
    data = env.rollout(12, break_when_any_done=False)
    assert data.shape == (4, 12) and data["next", "done"].any()


# --------------------------------------------------------------------------------------------------- seeds, streams
def test_seeds_and_streams():
    task = RunningSum(n=5, p_long=0.5)
    single = CoTEnv(task=task)
    first = single.reset(seed=7)[0]
    state = single.np_random.bit_generator.state
    demo = single.sample_demonstrations(30)[0]
    assert single.np_random.bit_generator.state == state  # demonstrations never touch np_random
    assert np.array_equal(single.reset(seed=7)[0], first) and np.array_equal(single.sample_demonstrations(30)[0], demo)
    assert np.array_equal(single.sample_demonstrations(5, seed=4)[0], task.sample_demonstrations(5, seed=4)[0])
    venv = CoTVectorEnv(4, task=task)
    a = venv.reset(seed=7)[0]
    assert np.array_equal(venv.reset(seed=7)[0], a) and not np.array_equal(venv.reset(seed=8)[0], a)
    env = CoTTorchEnv(task=task, batch_size=[4], seed=3)
    state = env.get_rng_state()
    tokens = env.reset()["tokens"]
    env.reset()
    env.set_rng_state(state)
    assert torch.equal(env.reset()["tokens"], tokens)
    env.set_seed(3)
    assert torch.equal(env.reset()["tokens"], tokens)
    demo_tokens, mask, is_long = env.sample_demonstrations(6, seed=0)
    assert demo_tokens.shape == (6, task.seq_len) and mask.dtype == torch.bool and is_long.shape == (6,)
    assert torch.equal(demo_tokens, torch.from_numpy(task.sample_demonstrations(6, seed=0)[0]))


def test_given_problems():
    task = RunningSum(n=3)
    problems = np.array([[1, 2, 3]] * 2 + [[9, 9, 0]] * 2)
    obs, infos = CoTVectorEnv(4, task=task, group_size=2).reset(seed=0, options={"problems": problems})
    assert np.array_equal(obs[:, :3], problems) and np.array_equal(infos["problem"], problems)
    assert infos["prompt_id"][0] == infos["prompt_id"][1] != infos["prompt_id"][2]
    env = CoTTorchEnv(task=task, batch_size=[4], group_size=2, seed=0)
    td = env.reset(TensorDict({"problems": torch.from_numpy(problems)}, batch_size=[4]))
    assert torch.equal(td["tokens"][:, :3].long(), torch.from_numpy(problems))
    assert np.array_equal(td["prompt_id"].numpy(), infos["prompt_id"])
    single = CoTEnv(task=task)
    obs, info = single.reset(options={"problem": np.array([9, 9, 0])})
    assert info["prompt_id"] == infos["prompt_id"][2] and obs[:4].tolist() == [9, 9, 0, 11]
    for action, reward in ((8, 0.0), (10, 1.0)):  # 9 + 9 + 0 = 18: the answer 8, then EOS
        obs, r, term, trunc, info = single.step(np.int64(action))
        assert r == reward
    assert (r, term, trunc, info["response_length"], info["is_long"], info["is_correct"]) == (1.0, True, False, 2,
                                                                                                False, True)


# --------------------------------------------------------------------------------------------------- bad input
def test_bad_task_arguments():
    for make in (lambda **k: CoTEnv(**k), lambda **k: CoTVectorEnv(4, **k), lambda **k: CoTTorchEnv(**k)):
        with _raises(ValueError, ["unknown task 'nope'", "parity", "multiplication"]):
            make(task="nope")
        with _raises(TypeError, ["unexpected keyword argument 'frameskip'"]):
            make(task="parity", frameskip=1)
        with _raises(TypeError, ["unexpected keyword argument 'frameskip'"]):
            make(task=Task(d=4), frameskip=1)
        with _raises(ValueError, ["task=", "d=8", "not both"]):
            make(task=Task(d=8), d=8)
        with _raises(ValueError, ["not both"]):
            make(task=Task(d=8).to_dict(), leap=2)
        with _raises(TypeError, ["task", "list"]):
            make(task=[8])
        with _raises(ValueError, ["d", "1", ">= 2"]):
            make(task="parity", d=1)
        with _raises(ValueError, ["n", "0"]):
            make(task=RunningSum.name, n=0)
    for env_id in ("MultiplicationCoT-v0", RunningSum.gym_id):
        with _raises(TypeError, ["unexpected keyword argument 'frameskip'"]):
            gym.make(env_id, frameskip=1)
    assert CoTEnv(task=Task(d=8).to_dict()).task == Task(d=8)
    assert CoTEnv(task="parity", d=5, leap=None).task == Task(d=5)  # None: the task's default


@pytest.mark.parametrize(
    "action,exc,words",
    [
        (11, ValueError, ["action", "11", "[0, 11)"]),
        (-1, ValueError, ["action", "-1"]),
        (1.0, TypeError, ["action", "1.0", "float"]),
        (np.float32(1), TypeError, ["action", "float32"]),
        (True, TypeError, ["action", "True", "bool"]),
        (np.bool_(True), TypeError, ["action", "True"]),
        ("1", TypeError, ["action", "'1'", "str"]),
        (None, TypeError, ["action", "None"]),
        ([1], TypeError, ["action", "[1]"]),
        (np.array([1]), TypeError, ["action", "[1]"]),
    ],
)
def test_bad_actions_single(action, exc, words):
    env = CoTEnv(task=RunningSum())
    env.reset(seed=0)
    with _raises(exc, words):
        env.step(action)


def test_bad_input_single():
    env = CoTEnv(task=RunningSum(n=3))
    with _raises(RuntimeError, ["before reset", "reset()"]):
        env.step(0)
    for seed, exc in ((-1, ValueError), (2**64, ValueError), (True, TypeError), (1.5, TypeError)):
        with _raises(exc, ["seed", str(seed)]):
            env.reset(seed=seed)
    for problem, exc, words in [
        ([1, 2], ValueError, ["problem", "(3,)", "(2,)"]),
        ([[1, 2, 3]], ValueError, ["problem", "(1, 3)"]),
        ([1.0, 2.0, 3.0], TypeError, ["problem", "float64"]),
        ([True, False, True], TypeError, ["problem", "bool"]),
        ("123", TypeError, ["problem", "'123'"]),
        ([1, 2, 10], ValueError, ["problem", "[1, 2, 10]", "prompt_tokens failed"]),
    ]:
        with _raises(exc, words):
            env.reset(options={"problem": problem})
    for bits, bad in (([0, 1, 7, 0], "[7]"), ([0, 2, 1, 0], "[2]")):  # 2 would be EOS inside the prompt
        with _raises(ValueError, ["bits", "only 0 and 1", bad]):
            CoTEnv(task=Task(d=4)).reset(options={"problem": bits})
    with _raises(ValueError, ["options", "'bits'", "problem"]):
        env.reset(options={"bits": [1, 0, 1]})
    with _raises(ValueError, ["render_mode", "'human'"]):
        CoTEnv(task=RunningSum(), render_mode="human")
    for action in (np.int64(1), np.int8(0), np.uint8(1), np.array(10)):
        env.reset(seed=0)
        env.step(action)
    assert env._done
    with _raises(RuntimeError, ["after the episode ended", "reset"]):
        env.step(0)


def test_bad_input_vector():
    task = RunningSum(n=3)
    with _raises(ValueError, ["group_size", "3", "num_envs = 4"]):
        CoTVectorEnv(4, task=task, group_size=3)
    with _raises(ValueError, ["group_size", "0"]):
        CoTVectorEnv(4, task=task, group_size=0)
    with _raises(ValueError, ["num_envs", "0"]):
        CoTVectorEnv(0, task=task)
    with _raises(ValueError, ["render_mode", "'ansi'", "does not render"]):
        CoTVectorEnv(4, task=task, render_mode="ansi")
    with _raises(ValueError, ["autoreset_mode", "'sometimes'"]):
        CoTVectorEnv(4, task=task, autoreset_mode="sometimes")
    envs = CoTVectorEnv(4, task=task, group_size=2, autoreset_mode=AutoresetMode.DISABLED)
    with _raises(RuntimeError, ["before reset"]):
        envs.step(np.zeros(4, dtype=np.int64))
    with _raises(RuntimeError, ["reset_mask", "full reset"]):
        envs.reset(options={"reset_mask": np.ones(4, dtype=bool)})
    for seed, exc in ((-1, ValueError), (2**64, ValueError), (True, TypeError)):
        with _raises(exc, ["seed"]):
            envs.reset(seed=seed)
    envs.reset(seed=0)
    for actions, exc, words in [
        (np.array([0, 1, 11, 0]), ValueError, ["actions", "[11]", "[0, 11)"]),
        (np.array([0.0, 1.0, 1.0, 0.0]), TypeError, ["actions", "float64"]),
        (np.array([True, False, True, False]), TypeError, ["actions", "bool"]),
        (np.array([0, 1, 1]), ValueError, ["actions", "(4,)", "(3,)"]),
        (np.zeros((4, 1), dtype=np.int64), ValueError, ["actions", "(4,)", "(4, 1)"]),
    ]:
        with _raises(exc, words):
            envs.step(actions)
    for problems, exc, words in [
        (np.array([[1, 2, 3], [1, 2, 4]] * 2), ValueError, ["problems", "equal within each block", "group_size = 2"]),
        ([1, 2, 3], ValueError, ["problems", "(4, 3)", "(3,)"]),
        (np.ones((4, 3)), TypeError, ["problems", "float64"]),
        (np.full((4, 3), 12), ValueError, ["problems", "prompt_tokens failed"]),
    ]:
        with _raises(exc, words):
            envs.reset(options={"problems": problems})
    with _raises(ValueError, ["reset_mask", "bool", "(4,)"]):
        envs.reset(options={"reset_mask": np.array([1, 0, 0, 1])})
    with _raises(ValueError, ["seed", "reset_mask"]):
        envs.reset(seed=1, options={"reset_mask": np.ones(4, dtype=bool)})
    envs.step(np.array([10, 0, 0, 0]))
    with _raises(RuntimeError, ["finished rows [0]", "DISABLED", "reset_mask"]):
        envs.step(np.array([0, 0, 0, 0]))


def test_bad_input_torch():
    task = RunningSum(n=3)
    with _raises(ValueError, ["group_size", "3", "batch size 4"]):
        CoTTorchEnv(task=task, batch_size=[4], group_size=3)
    with _raises(ValueError, ["batch_size", "[2, 2]"]):
        CoTTorchEnv(task=task, batch_size=[2, 2])
    for seed, exc in ((-1, ValueError), (2**64, ValueError), (True, TypeError)):
        with _raises(exc, ["seed"]):
            CoTTorchEnv(task=task, seed=seed)
    env = CoTTorchEnv(task=task, batch_size=[4], group_size=2, seed=0)
    with _raises(ValueError, ["seed", "-1"]):
        env.set_seed(-1)
    with _raises(RuntimeError, ["before reset"]):
        env.step(TensorDict({"action": torch.zeros(4, dtype=torch.int64)}, batch_size=[4]))
    td = env.reset()
    for action, exc, words in [
        (torch.tensor([0, 1, 11, 0]), ValueError, ["action", "[11]", "[0, 11)"]),
        (torch.tensor([0, -1, 1, 0]), ValueError, ["action", "[-1]"]),
        (torch.tensor([0.0, 1.0, 1.0, 0.0]), TypeError, ["action", "torch.float32"]),
        (torch.tensor([True, False, True, False]), TypeError, ["action", "torch.bool"]),
        (torch.zeros(4, 2, dtype=torch.int64), ValueError, ["action", "(4,)", "(4, 2)"]),
    ]:
        td["action"] = action
        with _raises(exc, words):
            env.step(td)
    assert torch.equal(env.reset()["response_length"], torch.zeros(4, dtype=torch.int64))  # nothing was stepped
    for problems, exc, words in [
        (torch.tensor([[1, 2, 3], [1, 2, 4]] * 2), ValueError, ["problems", "within each block"]),
        (torch.ones(4, 3, dtype=torch.bool), TypeError, ["problems", "torch.bool"]),
        (torch.ones(4, 3), TypeError, ["problems", "torch.float32"]),
        (torch.ones(4, 2, dtype=torch.int64), ValueError, ["problems", "(4, 3)", "(4, 2)"]),
        (torch.full((4, 3), -1), ValueError, ["problems", "prompt_tokens failed"]),
    ]:
        with _raises(exc, words):
            env.reset(TensorDict({"problems": problems}, batch_size=[4]))
    td = env.reset()
    td["action"] = torch.tensor([10, 0, 0, 0])
    td = env.step(td)["next"]
    td["action"] = torch.tensor([0, 0, 0, 0])
    with _raises(RuntimeError, ["finished rows [0]", "_reset"]):
        env.step(td)
    td["_reset"] = torch.tensor([[True], [False], [False], [False]])
    td = env.reset(td)
    td["action"] = torch.tensor([0, 0, 0, 0]).unsqueeze(-1)  # (B, 1) is accepted
    assert env.step(td)["next", "response_length"].tolist() == [1, 2, 2, 2]
