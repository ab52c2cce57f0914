"""Every bad input named in the issue raises a clear exception naming the parameter, the value and what is allowed."""

import math
import re

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode
from tensordict import TensorDict

from parity_env import ParityCoTEnv, ParityCoTTorchEnv, ParityCoTVectorEnv, Task, sample_demonstrations

BAD_TASK = [  # kwargs, exception, words the message must contain
    ({"d": 1}, ValueError, ["d", "1", ">= 2"]),
    ({"d": 0}, ValueError, ["d", "0"]),
    ({"d": 24.0}, TypeError, ["d", "24.0", "integer"]),
    ({"d": "24"}, TypeError, ["d", "'24'"]),
    ({"d": True}, TypeError, ["d", "True"]),
    ({"p_long": -0.1}, ValueError, ["p_long", "-0.1", "[0, 1]"]),
    ({"p_long": 1.5}, ValueError, ["p_long", "1.5"]),
    ({"p_long": math.nan}, ValueError, ["p_long", "nan"]),
    ({"p_long": "0.5"}, TypeError, ["p_long", "'0.5'"]),
    ({"p_long": True}, TypeError, ["p_long", "True"]),
    ({"d": 6, "leap": 0}, ValueError, ["leap", "0", "[1, 5]"]),
    ({"d": 6, "leap": 6}, ValueError, ["leap", "6", "[1, 5]"]),
    ({"d": 6, "leap": 2.0}, TypeError, ["leap", "2.0"]),
    ({"reward": "Answer"}, ValueError, ["reward", "'Answer'", "'cot'"]),
    ({"reward": 1}, ValueError, ["reward", "1"]),
    ({"task": Task(d=8), "d": 8}, ValueError, ["task=", "d=8", "not both"]),
    ({"task": {"d": 8, "bits": 3}}, ValueError, ["does not take", "bits", "partial_leap"]),
    ({"task": [8]}, TypeError, ["task", "list"]),
    ({"max_response_len": 0}, ValueError, ["max_response_len", "0", ">= 1"]),
    ({"max_response_len": -3}, ValueError, ["max_response_len", "-3"]),
    ({"max_response_len": 2.5}, TypeError, ["max_response_len", "2.5"]),
]


def _raises(exc, words):
    return pytest.raises(exc, match="(?s)" + "".join(f"(?=.*{re.escape(w)})" for w in words))


@pytest.mark.parametrize("kwargs,exc,words", BAD_TASK)
def test_bad_task_parameters(kwargs, exc, words):
    with _raises(exc, words):
        ParityCoTEnv(**kwargs)
    with _raises(exc, words):
        gym.make("ParityCoT-v0", **kwargs)
    with _raises(exc, words):
        ParityCoTVectorEnv(4, **kwargs)
    with _raises(exc, words):
        ParityCoTTorchEnv(batch_size=[4], **kwargs)


def test_unknown_keyword_raises_pythons_own_type_error():
    """TorchRL's GymEnv retries gym.make without frameskip only on this exact TypeError."""
    with pytest.raises(TypeError, match="unexpected keyword argument 'frameskip'"):
        gym.make("ParityCoT-v0", frameskip=1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'dd'"):
        ParityCoTTorchEnv(dd=3)


@pytest.mark.parametrize(
    "action,exc,words",
    [
        (3, ValueError, ["action", "3", "{0, 1, 2}"]),
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
    env = ParityCoTEnv(d=4)
    env.reset(seed=0)
    with _raises(exc, words):
        env.step(action)


def test_numpy_integer_actions_are_fine():
    env = ParityCoTEnv(d=4)
    env.reset(seed=0)
    for action in (np.int64(1), np.int8(0), np.uint8(1), np.array(2)):
        env.step(action)
    assert env._done


@pytest.mark.parametrize(
    "bits,exc,words",
    [
        ([1, 0, 1], ValueError, ["bits", "d = 4", "(3,)"]),
        ([1, 0, 1, 1, 0], ValueError, ["bits", "(5,)"]),
        ([0, 1, 2, 0], ValueError, ["bits", "0 and 1", "[2]"]),
        ([0, -1, 1, 0], ValueError, ["bits", "[-1]"]),
        ([True, False, True, True], TypeError, ["bits", "bool"]),
        ([0.0, 1.0, 1.0, 0.0], TypeError, ["bits", "float64"]),
        ("0101", TypeError, ["bits", "'0101'"]),
        ([[1, 0, 1, 1]], ValueError, ["bits", "(1, 4)"]),
    ],
)
def test_bad_prompts_single(bits, exc, words):
    env = ParityCoTEnv(d=4)
    with _raises(exc, words):
        env.reset(options={"bits": bits})


def test_bad_options_and_episode_order_single():
    env = ParityCoTEnv(d=4)
    with _raises(RuntimeError, ["before reset"]):
        env.step(0)
    with _raises(ValueError, ["options", "'prompt'", "bits"]):
        env.reset(options={"prompt": [1, 0, 1, 1]})
    env.reset(seed=0)
    env.step(2)
    with _raises(RuntimeError, ["after the episode ended", "reset"]):
        env.step(0)


def test_bad_input_vector():
    with _raises(ValueError, ["group_size", "3", "num_envs = 4"]):
        ParityCoTVectorEnv(4, group_size=3)
    with _raises(ValueError, ["group_size", "0"]):
        ParityCoTVectorEnv(4, group_size=0)
    with _raises(ValueError, ["num_envs", "0"]):
        ParityCoTVectorEnv(0)
    with _raises(ValueError, ["autoreset_mode", "'sometimes'"]):
        ParityCoTVectorEnv(4, autoreset_mode="sometimes")
    envs = ParityCoTVectorEnv(4, d=4, group_size=2, autoreset_mode=AutoresetMode.DISABLED)
    with _raises(RuntimeError, ["before reset"]):
        envs.step(np.zeros(4, dtype=np.int64))
    envs.reset(seed=0)
    with _raises(ValueError, ["actions", "[3]"]):
        envs.step(np.array([0, 1, 3, 0]))
    with _raises(TypeError, ["actions", "float64"]):
        envs.step(np.array([0.0, 1.0, 1.0, 0.0]))
    with _raises(TypeError, ["actions", "bool"]):
        envs.step(np.array([True, False, True, False]))
    with _raises(ValueError, ["actions", "(4,)", "(3,)"]):
        envs.step(np.array([0, 1, 1]))
    with _raises(ValueError, ["bits", "equal within each block", "group_size = 2"]):
        envs.reset(options={"bits": np.array([[1, 0, 1, 1], [0, 0, 0, 0]] * 2)})
    with _raises(ValueError, ["bits", "(4, 4)", "(4,)"]):
        envs.reset(options={"bits": [1, 0, 1, 1]})
    with _raises(ValueError, ["reset_mask", "bool", "(4,)"]):
        envs.reset(options={"reset_mask": np.array([1, 0, 0, 1])})
    envs.step(np.array([2, 0, 0, 0]))
    with _raises(RuntimeError, ["finished rows [0]", "DISABLED", "reset_mask"]):
        envs.step(np.array([0, 0, 0, 0]))


def test_bad_input_torch():
    with _raises(ValueError, ["group_size", "3", "batch size 4"]):
        ParityCoTTorchEnv(batch_size=[4], group_size=3)
    with _raises(ValueError, ["batch_size", "[2, 2]"]):
        ParityCoTTorchEnv(batch_size=[2, 2])
    env = ParityCoTTorchEnv(d=4, batch_size=[4], group_size=2, seed=0)
    td = TensorDict({"action": torch.zeros(4, dtype=torch.int64)}, batch_size=[4])
    with _raises(RuntimeError, ["before reset"]):
        env.step(td)
    td = env.reset()
    for action, exc, words in [
        (torch.tensor([0, 1, 3, 0]), ValueError, ["action", "[3]", "0, 1 or 2"]),
        (torch.tensor([0, -1, 1, 0]), ValueError, ["action", "[-1]"]),
        (torch.tensor([0.0, 1.0, 1.0, 0.0]), TypeError, ["action", "torch.float32"]),
        (torch.tensor([True, False, True, False]), TypeError, ["action", "torch.bool"]),
    ]:
        td["action"] = action
        with _raises(exc, words):
            env.step(td)
    for bits, exc, words in [
        (torch.tensor([[1, 0, 1, 1]] * 2 + [[0, 0, 0, 0], [0, 0, 0, 1]]), ValueError, ["bits", "within each block"]),
        (torch.tensor([[1, 0, 2, 1]] * 4), ValueError, ["bits", "0 and 1", "[2, 2"]),
        (torch.ones(4, 4, dtype=torch.bool), TypeError, ["bits", "torch.bool"]),
        (torch.ones(4, 4), TypeError, ["bits", "torch.float32"]),
    ]:
        with _raises(exc, words):
            env.reset(TensorDict({"bits": bits}, batch_size=[4]))
    with _raises(ValueError, ["bits", "(4, 4)", "(4, 3)"]):
        env.reset(TensorDict({"bits": torch.ones(4, 3, dtype=torch.int64)}, batch_size=[4]))
    td = env.reset()
    td["action"] = torch.tensor([2, 0, 0, 0])
    td = env.step(td)["next"]
    td["action"] = torch.tensor([0, 0, 0, 0])
    with _raises(RuntimeError, ["finished rows [0]", "_reset"]):
        env.step(td)


def test_bad_input_sampler():
    with _raises(ValueError, ["n", "-1"]):
        sample_demonstrations(-1, d=4, p_long=0.5)
    with _raises(ValueError, ["p_long", "2.0"]):
        sample_demonstrations(3, d=4, p_long=2.0)
    with _raises(ValueError, ["max_response_len", "3", ">= 5"]):
        sample_demonstrations(3, d=4, p_long=0.5, max_response_len=3)
    with _raises(TypeError, ["seed", "-1"]):
        sample_demonstrations(3, d=4, p_long=0.5, seed=-1)
    with _raises(TypeError, ["seed", "1.5"]):
        sample_demonstrations(3, d=4, p_long=0.5, seed=1.5)
