"""The library checkers: Gymnasium check_env on every registered id, SB3 check_env, TorchRL check_env_specs
(native env and GymEnv), registration details, seeded determinism and the group rule."""

import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode
from tensordict import TensorDict

import parity_env  # noqa: F401  (registers the ids)
from parity_env import ParityCoTEnv, ParityCoTTorchEnv, ParityCoTVectorEnv

IDS = sorted(env_id for env_id in gym.registry if env_id.startswith("ParityCoT"))


def test_registered_ids():
    assert IDS == ["ParityCoT-v0"]
    spec = gym.spec("ParityCoT-v0")
    assert spec.entry_point == "parity_env.parity.env:ParityCoTEnv"
    assert spec.vector_entry_point == "parity_env.parity.vector_env:ParityCoTVectorEnv"
    assert spec.kwargs == {}  # the Task defaults apply (d = 24, p_long = 0.01), so task= can be passed alone
    assert gym.envs.registration.EnvSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize("kwargs", [{}, {"d": 3, "leap": 2, "reward": "cot"}, {"d": 70, "max_response_len": 5}])
def test_gymnasium_check_env(env_id, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(gym.make(env_id, **kwargs).unwrapped)
        for render_mode in ("ansi", "rgb_array"):
            check_env(gym.make(env_id, render_mode=render_mode, **kwargs).unwrapped)


def test_make_by_module_path_imports_the_package():
    code = "import gymnasium as gym; env = gym.make('parity_env:ParityCoT-v0', d=8); print(env.reset(seed=0)[0].shape)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "(18,)"


def test_import_is_light_and_make_vec_is_native():
    code = "import sys, parity_env; print('torch' in sys.modules, 'torchrl' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[1] == "False"  # torchrl is imported only with ParityCoTTorchEnv
    envs = gym.make_vec("ParityCoT-v0", num_envs=8, d=6)
    assert isinstance(envs, ParityCoTVectorEnv) and envs.autoreset_mode == AutoresetMode.NEXT_STEP
    assert envs.reset(seed=0)[0].shape == (8, 14)


def test_sb3_check_env():
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(ParityCoTEnv(d=6))
        sb3_check_env(gym.make("ParityCoT-v0").unwrapped)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"d": 5, "batch_size": [1]},
        {"d": 9, "leap": 4, "reward": "cot", "group_size": 4},
        {"d": 80, "max_response_len": 3},
    ],
)
def test_torchrl_check_env_specs_native(kwargs):
    from torchrl.envs.utils import check_env_specs

    kwargs = {"batch_size": [8], **kwargs}
    env = ParityCoTTorchEnv(**kwargs, seed=0)
    check_env_specs(env)
    data = env.rollout(40, break_when_any_done=False)
    B, L = env.batch_size[0], env.seq_len
    expected = {
        "tokens": ((B, 40, L), torch.uint8),  # bytes: see torch_env.TOKEN_DTYPE
        "prompt_id": ((B, 40), torch.int64),
        "parity": ((B, 40), torch.int64),
        "response_length": ((B, 40), torch.int64),
        "is_long": ((B, 40), torch.bool),
        "is_correct": ((B, 40), torch.bool),
        "done": ((B, 40, 1), torch.bool),
        "terminated": ((B, 40, 1), torch.bool),
        "truncated": ((B, 40, 1), torch.bool),
        "action": ((B, 40), torch.int64),
    }
    for key, (shape, dtype) in expected.items():
        assert data[key].shape == shape and data[key].dtype == dtype, key
    assert data["next", "reward"].shape == (B, 40, 1) and data["next", "reward"].dtype == torch.float32


def test_torchrl_gym_env():
    from torchrl.envs import GymEnv
    from torchrl.envs.utils import check_env_specs

    env = GymEnv("ParityCoT-v0", categorical_action_encoding=True, d=6)
    check_env_specs(env)
    data = env.rollout(20)
    assert data["action"].dtype == torch.int64 and data["action"].ndim == 1
    assert data["observation"].shape[-1] == 14


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_torch_env_on_cuda():
    from torchrl.envs.utils import check_env_specs

    env = ParityCoTTorchEnv(d=8, batch_size=[64], device="cuda", reward="cot", group_size=4, seed=0)
    check_env_specs(env)
    data = env.rollout(30, break_when_any_done=False)
    assert data["tokens"].device.type == "cuda"


# --------------------------------------------------------------------------------------------------- seeding
def _episodes(env_kind, seed, steps=60):
    """Observations of a fixed action stream under ``seed``, as one array."""
    actions = np.random.default_rng(0).integers(0, 3, (steps, 4))
    if env_kind == "single":
        env = ParityCoTEnv(d=10)
        out = [env.reset(seed=seed)[0]]
        for a in actions[:, 0]:
            obs, _, term, trunc, _ = env.step(int(a))
            out.append(obs)
            if term or trunc:
                out.append(env.reset()[0])
        return np.array(out)
    if env_kind == "vector":
        env = ParityCoTVectorEnv(4, d=10)
        out = [env.reset(seed=seed)[0]] + [env.step(a)[0] for a in actions]
        return np.array(out)
    env = ParityCoTTorchEnv(d=10, batch_size=[4], seed=seed)
    td = env.reset()
    out = [td["tokens"].clone()]
    for a in actions:
        td["action"] = torch.from_numpy(a)
        _, td = env.step_and_maybe_reset(td)
        out.append(td["tokens"].clone())
    return torch.stack(out).numpy()


@pytest.mark.parametrize("env_kind", ["single", "vector", "torch"])
def test_seeded_determinism(env_kind):
    a, b, c = _episodes(env_kind, 7), _episodes(env_kind, 7), _episodes(env_kind, 8)
    assert np.array_equal(a, b)
    assert not np.array_equal(a[0], c[0])  # different seeds, different first prompts


def test_torch_env_set_seed_and_demonstration_streams():
    env = ParityCoTTorchEnv(d=10, batch_size=[4])
    env.set_seed(3)
    first = env.reset()["tokens"]
    env.set_seed(3)
    assert torch.equal(env.reset()["tokens"], first)
    single = ParityCoTEnv(d=10, p_long=0.5)
    single.reset(seed=1)
    state = single.np_random.bit_generator.state
    demo = single.sample_demonstrations(50)[0]
    assert single.np_random.bit_generator.state == state  # demonstrations never touch np_random
    single.reset(seed=1)
    assert np.array_equal(single.sample_demonstrations(50)[0], demo)
    assert np.array_equal(single.sample_demonstrations(5, seed=4)[0], single.sample_demonstrations(5, seed=4)[0])
    tokens, mask, is_long = env.sample_demonstrations(6, seed=0)
    assert tokens.shape == (6, 22) and mask.dtype == torch.bool and is_long.shape == (6,)


# --------------------------------------------------------------------------------------------------- groups
def _prompt_sequences_vector(mode, G, n=12, steps=400, seed=0):
    envs = ParityCoTVectorEnv(n, d=12, group_size=G, autoreset_mode=mode)
    rng = np.random.default_rng(seed)
    obs, infos = envs.reset(seed=seed)
    seqs = [[pid] for pid in infos["prompt_id"]]
    for _ in range(steps):
        if mode == AutoresetMode.DISABLED:
            done = np.array(envs._term | envs._trunc)
            mask = done | (rng.random(n) < 0.05)
            obs, infos = envs.reset(options={"reset_mask": mask})
            for i in np.flatnonzero(mask):
                seqs[i].append(infos["prompt_id"][i])
        p_eos = rng.random(n)  # rows finish at very different rates
        actions = np.where(rng.random(n) < p_eos * 0.5, 2, rng.integers(0, 2, n))
        obs, _, term, trunc, infos = envs.step(actions)
        started = infos["response_length"] == 0
        for i in np.flatnonzero(started):
            seqs[i].append(infos["prompt_id"][i])
    return seqs


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED])
def test_vector_groups_stay_complete(mode):
    G = 4
    seqs = _prompt_sequences_vector(mode, G)
    for block in range(3):
        rows = seqs[block * G : (block + 1) * G]
        k = min(len(r) for r in rows)
        assert k > 10 and max(len(r) for r in rows) > k  # rows finished at different rates
        for r in rows:
            assert r[:k] == rows[0][:k]  # row r's k-th episode uses its block's k-th prompt
    assert seqs[0][:5] != seqs[G][:5]


def test_torch_groups_stay_complete():
    G, n = 4, 12
    env = ParityCoTTorchEnv(d=12, batch_size=[n], group_size=G, seed=0)
    gen = torch.Generator().manual_seed(0)
    td = env.reset()
    seqs = [[int(p)] for p in td["prompt_id"]]
    p_eos = torch.rand(n, generator=gen)
    for t in range(400):
        eos = torch.rand(n, generator=gen) < p_eos * 0.5
        td["action"] = torch.where(eos, 2, torch.randint(0, 2, (n,), generator=gen))
        if t % 3:
            _, td = env.step_and_maybe_reset(td)
        else:  # a partial reset of finished rows and of some unfinished ones
            td = env.step(td)["next"].clone(False)
            td["_reset"] = td["done"] | (torch.rand(n, 1, generator=gen) < 0.05)
            td = env.reset(td)
        for i in (td["response_length"] == 0).nonzero().flatten().tolist():
            seqs[i].append(int(td["prompt_id"][i]))
    for block in range(n // G):
        rows = seqs[block * G : (block + 1) * G]
        k = min(len(r) for r in rows)
        assert k > 10 and max(len(r) for r in rows) > k
        for r in rows:
            assert r[:k] == rows[0][:k]


def test_given_bits_fix_the_prompts():
    bits = np.array([[1, 0, 1, 1]] * 2 + [[0, 0, 0, 1]] * 2)
    envs = ParityCoTVectorEnv(4, d=4, group_size=2)
    obs, infos = envs.reset(seed=0, options={"bits": bits})
    assert np.array_equal(obs[:, :4], bits) and infos["prompt_id"].tolist() == [13, 13, 8, 8]
    env = ParityCoTTorchEnv(d=4, batch_size=[4], group_size=2, seed=0)
    td = env.reset(TensorDict({"bits": torch.from_numpy(bits)}, batch_size=[4]))
    assert td["prompt_id"].tolist() == [13, 13, 8, 8] and td["parity"].tolist() == [1, 1, 1, 1]
    single = ParityCoTEnv(d=4)
    assert single.reset(options={"bits": [1, 0, 1, 1]})[1]["prompt_id"] == 13
