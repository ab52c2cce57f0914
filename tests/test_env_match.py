"""Step-by-step equality of the single env (the reference), the native vector env and the native TorchRL env.

Every row of a batched env is shadowed by its own ``ParityCoTEnv`` reset with the same prompt and stepped with the
same scripted actions (EOS first, short, chain, one wrong chain step, over-long, truncated, random; leap and cot),
through every autoreset mode, partial resets and TorchRL's partial steps. Rewards are also checked against the
pure-Python oracle.
"""

import numpy as np
import pytest
import torch
from conftest import oracle_reward, plan_response
from gymnasium.vector import AutoresetMode
from tensordict import TensorDict
from torchrl.envs import EnvBase

from parity_env import ParityCoTEnv, ParityCoTTorchEnv, ParityCoTVectorEnv

CONFIGS = [  # d, leap, max_response_len, reward, group_size
    (2, 1, None, "answer", 1),
    (6, 1, None, "cot", 2),
    (9, 4, None, "cot", 3),
    (10, 3, 6, "answer", 1),  # too short for the full chain
    (24, 1, None, "answer", 4),
    (64, 5, 20, "cot", 2),  # d above 62: hashed prompt ids
]


class Shadow:
    """N reference envs with scripted plans: the expected behaviour of an N-row batched env."""

    def __init__(self, n, d, leap, max_len, reward, seed):
        self.envs = [ParityCoTEnv(d=d, leap=leap, max_response_len=max_len, reward=reward) for _ in range(n)]
        self.d, self.leap, self.reward = d, leap, reward
        self.R = self.envs[0].max_response_len
        self.rng = np.random.default_rng(seed)
        self.plans, self.emitted, self.bits = [None] * n, [None] * n, [None] * n
        self.episodes = 0

    def reset(self, i, bits):
        obs, info = self.envs[i].reset(options={"bits": bits})
        self.bits[i], self.emitted[i] = [int(b) for b in bits], []
        self.plans[i] = plan_response(np.asarray(bits), self.leap, self.R, self.rng)
        self.episodes += 1
        return obs, info

    def action(self, i):
        return self.plans[i][len(self.emitted[i])]

    def step(self, i, action):
        obs, r, term, trunc, info = self.envs[i].step(action)
        self.emitted[i].append(action)
        if term or trunc:
            assert r == oracle_reward(self.bits[i], self.emitted[i], self.reward, self.leap)
        return obs, r, term, trunc, info


def assert_row_info(infos, i, info):
    for key, value in info.items():
        assert np.array_equal(np.asarray(infos[key][i]), np.asarray(value)), (key, i, infos[key][i], value)
    assert set(infos) >= set(info)


# --------------------------------------------------------------------------------------------------- vector env
@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED])
@pytest.mark.parametrize("d,leap,max_len,reward,group", CONFIGS)
def test_vector_env_matches_single(mode, d, leap, max_len, reward, group):
    n = 12
    task = {"d": d, "leap": leap, "max_response_len": max_len, "reward": reward, "group_size": group}
    venv = ParityCoTVectorEnv(n, **task, autoreset_mode=mode)
    shadow = Shadow(n, d, leap, max_len, reward, seed=d)
    rng = np.random.default_rng(1)
    obs, infos = venv.reset(seed=d)
    for i in range(n):
        s_obs, s_info = shadow.reset(i, obs[i, :d])
        assert np.array_equal(obs[i], s_obs)
        assert_row_info(infos, i, s_info)
    pending = np.zeros(n, dtype=bool)  # NEXT_STEP: rows whose next step is a reset
    for t in range(250):
        if t % 37 == 36:  # partial reset of random rows, finished or not
            mask = rng.random(n) < 0.3
            obs, infos = venv.reset(options={"reset_mask": mask})
            for i in np.flatnonzero(mask):
                s_obs, s_info = shadow.reset(i, obs[i, :d])
                assert np.array_equal(obs[i], s_obs)
            pending &= ~mask
            for i in range(n):
                assert np.array_equal(obs[i], shadow.envs[i]._tokens)
        if mode == AutoresetMode.DISABLED:
            done = np.array([shadow.envs[i]._done for i in range(n)])
            if done.any():
                obs, infos = venv.reset(options={"reset_mask": done})
                for i in np.flatnonzero(done):
                    s_obs, s_info = shadow.reset(i, obs[i, :d])
                    assert np.array_equal(obs[i], s_obs)
                    assert_row_info(infos, i, s_info)
        actions = np.array([0 if pending[i] else shadow.action(i) for i in range(n)])
        obs, reward, term, trunc, infos = venv.step(actions)
        for i in range(n):
            if pending[i]:
                s_obs, s_info = shadow.reset(i, obs[i, :d])
                s_r, s_term, s_trunc = 0.0, False, False
                pending[i] = False
            else:
                s_obs, s_r, s_term, s_trunc, s_info = shadow.step(i, int(actions[i]))
                if mode == AutoresetMode.NEXT_STEP:
                    pending[i] = s_term or s_trunc
                elif mode == AutoresetMode.SAME_STEP and (s_term or s_trunc):
                    assert infos["_final_obs"][i] and infos["_final_info"][i]
                    assert np.array_equal(infos["final_obs"][i], s_obs)
                    assert_row_info(infos["final_info"], i, s_info)
                    s_obs, s_info = shadow.reset(i, obs[i, :d])
                    s_info = dict(s_info)
            assert np.array_equal(obs[i], s_obs), (t, i, obs[i], s_obs)
            assert (reward[i], term[i], trunc[i]) == (s_r, s_term, s_trunc), (t, i)
            assert_row_info(infos, i, s_info)
    assert shadow.episodes > 5 * n


# --------------------------------------------------------------------------------------------------- torch env
def _check_torch_rows(td, shadow_out, rows):
    for i in rows:
        s_obs, s_r, s_term, s_trunc, s_info = shadow_out[i]
        assert np.array_equal(td["tokens"][i].numpy(), s_obs), (i, td["tokens"][i], s_obs)
        if s_r is not None:
            assert td["reward"][i].item() == s_r
        assert (td["terminated"][i].item(), td["truncated"][i].item()) == (s_term, s_trunc)
        assert td["done"][i].item() == (s_term or s_trunc)
        for key in ("parity", "response_length", "is_long", "is_correct", "prompt_id"):
            assert td[key][i].item() == s_info[key], (key, i)


@pytest.mark.parametrize("fused", [True, False], ids=["step_and_maybe_reset", "step_then_reset"])
@pytest.mark.parametrize("d,leap,max_len,reward,group", CONFIGS)
def test_torch_env_matches_single(fused, d, leap, max_len, reward, group):
    """The torch env draws its own (hashed) prompts; the shadows are reset with them."""
    n = 12
    task = {"d": d, "leap": leap, "max_response_len": max_len, "reward": reward, "group_size": group}
    env = ParityCoTTorchEnv(batch_size=[n], **task, seed=d)
    shadow = Shadow(n, d, leap, max_len, reward, seed=d)
    rng = np.random.default_rng(2)
    td = env.reset()
    first = {}
    for i in range(n):
        s_obs, s_info = shadow.reset(i, td["tokens"][i, :d].numpy())
        first[i] = (s_obs, None, False, False, s_info)
    _check_torch_rows(td, first, range(n))
    for t in range(250):
        actions = torch.tensor([shadow.action(i) for i in range(n)])
        td["action"] = actions
        stepped = range(n)
        if not fused and t % 5 == 4:  # TorchRL partial step: rows outside _step keep their state
            step_mask = torch.from_numpy(rng.random(n) < 0.7)
            td["_step"] = step_mask
            stepped = np.flatnonzero(step_mask.numpy())
        before = {i: (shadow.envs[i]._tokens.copy(), 0.0, False, False, shadow.envs[i]._info()) for i in range(n)}
        expected = dict(before)
        for i in stepped:
            expected[i] = shadow.step(i, int(actions[i]))
        if fused:
            data, td = env.step_and_maybe_reset(td)
        else:
            data = env.step(td)
            td = data["next"].clone(False)
        _check_torch_rows(data["next"], expected, range(n))
        done = data["next", "done"].squeeze(-1)
        if not fused and t % 7 == 6:  # partial reset of some rows that are not finished too
            done = done | torch.from_numpy(rng.random(n) < 0.2)
        if not fused and done.any():
            td["_reset"] = done.unsqueeze(-1)
            td = env.reset(td)
        reset_out = {}
        for i in np.flatnonzero(done.numpy()):
            s_obs, s_info = shadow.reset(i, td["tokens"][i, :d].numpy())
            reset_out[i] = (s_obs, None, False, False, s_info)
        carried = {i: (e._tokens.copy(), None, *expected[i][2:4], e._info()) for i, e in enumerate(shadow.envs)}
        _check_torch_rows(td, {**carried, **reset_out}, range(n))
    assert shadow.episodes > 5 * n


def test_fused_step_and_maybe_reset_equals_generic_path():
    """The env's fused step_and_maybe_reset gives EnvBase's generic step + step_mdp + maybe_reset: the same keys,
    the same step data, and the same env entries in the next root (the generic path zero-pads the carried action and
    policy outputs on reset rows, the fused path carries them unchanged; the policy overwrites them anyway)."""
    make = lambda: ParityCoTTorchEnv(d=7, batch_size=[16], leap=2, reward="cot", group_size=4, seed=3)
    fast, slow = make(), make()
    td_f, td_s = fast.reset(), slow.reset()
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        action = torch.randint(0, 3, (16,), generator=gen)
        extra = torch.randn(16, 2, generator=gen)  # a policy output carried along
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
    env = ParityCoTTorchEnv(d=5, batch_size=[8], seed=0)
    data = env.rollout(60, break_when_any_done=False)
    tokens, nxt, act, n = data["tokens"], data["next", "tokens"], data["action"], data["response_length"]
    for t in range(60):
        for b in range(8):
            k = int(n[b, t])
            assert nxt[b, t, 6 + k] == act[b, t]
            assert torch.equal(nxt[b, t, : 6 + k], tokens[b, t, : 6 + k])
            if t < 59 and not data["next", "done"][b, t]:
                assert torch.equal(tokens[b, t + 1], nxt[b, t])


def test_vector_and_torch_share_the_prompt_hash():
    """Both batched envs draw block b's k-th prompt as protocol.hashed_prompt_bits(key, b, k, d)."""
    from parity_env.parity.protocol import hashed_prompt_bits
    from parity_env.parity.torch_prompts import hashed_prompt_bits_torch

    rng = np.random.default_rng(0)
    for d in (2, 31, 32, 33, 64, 100):
        key = int(rng.integers(-(2**63), 2**63, dtype=np.int64))
        block, episode = rng.integers(0, 10**6, 50), rng.integers(0, 10**6, 50)
        ref = hashed_prompt_bits(key, block, episode, d)
        got = hashed_prompt_bits_torch(torch.tensor(key), torch.from_numpy(block), torch.from_numpy(episode), d)
        assert np.array_equal(ref, got.numpy())
    bits = hashed_prompt_bits(12345, np.zeros(20000, dtype=np.int64), np.arange(20000), 40)
    assert abs(bits.mean() - 0.5) < 0.01 and len({r.tobytes() for r in bits}) == 20000


def _random_eos(n, gen):
    """Actions (n,) that finish some rows at every step: EOS with probability 0.1 .. 1.0 by row, else bit 1."""
    return torch.where(torch.rand(n, generator=gen) < torch.linspace(0.1, 1.0, n), 2, 1)


@pytest.mark.parametrize("d", [5, 40])
def test_torch_env_groups_follow_the_hash(d):
    """group_size > 1: row r's k-th episode has prompt hashed_prompt_bits(key, r // G, k, d)."""
    from parity_env.parity.torch_prompts import hashed_prompt_bits_torch

    n, G = 12, 3
    env = ParityCoTTorchEnv(d=d, batch_size=[n], group_size=G, seed=1)
    td = env.reset()
    key, episode = env._prompts.key, torch.zeros(n, dtype=torch.int64)
    gen = torch.Generator().manual_seed(0)
    for t in range(150):
        expected = hashed_prompt_bits_torch(key, torch.arange(n) // G, episode, d)
        assert torch.equal(td["tokens"][:, :d], expected), t
        td["action"] = _random_eos(n, gen)
        data, td = env.step_and_maybe_reset(td)
        episode += data["next", "done"].squeeze(-1)
    assert episode.max() > 100


@pytest.mark.parametrize("d", [5, 40])
@pytest.mark.parametrize("fused", [True, False])
def test_torch_env_deals_the_prompts_in_order(monkeypatch, d, fused):
    """group_size 1: after a full reset row r has prompt hashed_prompt_bits(key, r, 0, d), as in the vector env;
    the rows reset later get the deck's next prompts in row order, the deck running through prompt k of rows
    0 .. B - 1, then prompt k + 1: record j is hashed_prompt_bits(key, j % B, j // B, d). Checked across many
    refills of a small deck (records left over from one refill are dealt first from the next)."""
    from parity_env.parity import prompt_supply
    from parity_env.parity.torch_prompts import hashed_prompt_bits_torch

    monkeypatch.setattr(prompt_supply, "DECK_ROWS", 10)  # K = 2 episodes per refill: a refill every few steps
    n = 7
    env = ParityCoTTorchEnv(d=d, batch_size=[n], seed=2)
    td = env.reset()
    key, dealt = env._prompts.key, 0
    gen = torch.Generator().manual_seed(0)
    deck = lambda j: hashed_prompt_bits_torch(key, j % n, j // n, d)  # noqa: E731
    assert torch.equal(td["tokens"][:, :d], deck(torch.arange(n)))
    dealt = n
    for _ in range(100):
        td["action"] = _random_eos(n, gen)
        if fused:
            data, td = env.step_and_maybe_reset(td)
            done = data["next", "done"].squeeze(-1)
        else:
            td = env.step(td)["next"]
            done = td["done"].squeeze(-1)
            td["_reset"] = td["done"].clone()
            td = env.reset(td)
        rows = done.nonzero().squeeze(-1)
        assert torch.equal(td["tokens"][rows, :d], deck(dealt + torch.arange(len(rows))))
        dealt += len(rows)
    assert dealt > 20 * 2 * n  # twenty refills or more
    given = torch.randint(0, 2, (n, d), generator=gen)  # a given prompt takes no card from the deck
    td = env.reset(TensorDict({"_reset": torch.ones(n, 1, dtype=torch.bool), "bits": given}, [n]))
    assert torch.equal(td["tokens"][:, :d].long(), given)
    td["action"] = torch.full((n,), 2)
    _, td = env.step_and_maybe_reset(td)
    assert torch.equal(td["tokens"][:, :d], deck(dealt + torch.arange(n)))
