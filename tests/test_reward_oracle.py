"""The reward against an independent pure-Python oracle, over random and adversarial responses."""

import numpy as np
import pytest
from conftest import KINDS, oracle_reward, plan_response

from parity_env import ParityCoTEnv


@pytest.mark.parametrize("reward", ["answer", "cot"])
@pytest.mark.parametrize(
    "d,leap,max_len", [(2, 1, None), (5, 1, None), (7, 3, None), (8, 2, 4), (12, 5, 30), (70, 1, None)]
)
def test_reward_matches_oracle(reward, d, leap, max_len):
    env = ParityCoTEnv(d=d, leap=leap, max_response_len=max_len, reward=reward)
    rng = np.random.default_rng(d * 100 + leap)
    R = env.max_response_len
    for episode in range(300):
        kind = KINDS[episode % len(KINDS)]
        obs, info = env.reset(seed=episode)
        bits = obs[:d].tolist()
        plan = plan_response(obs[:d], leap, R, rng, kind)
        emitted = []
        for token in plan:
            obs, r, terminated, truncated, info = env.step(token)
            emitted.append(token)
            if terminated or truncated:
                break
        else:
            raise AssertionError("episode did not end within its plan")
        assert truncated == (len(emitted) == R and 2 not in emitted), (kind, emitted)
        assert terminated == (emitted[-1] == 2)
        assert r == oracle_reward(bits, emitted, reward, leap), (kind, bits, emitted)
        assert info["is_correct"] == bool(r)
        assert info["response_length"] == len(emitted)
        assert info["is_long"] == (sum(t != 2 for t in emitted) > 1)


def test_known_cases():
    """Hand-checked verdicts on d = 4, bits 1 0 1 1 (parity 1, chain 1 1 0 1, leap-2 chain 1 1)."""
    bits = [1, 0, 1, 1]
    cases = {
        ("answer", 1, (2,)): 0.0,  # EOS first
        ("answer", 1, (1, 2)): 1.0,
        ("answer", 1, (0, 2)): 0.0,
        ("answer", 1, (0, 0, 1, 2)): 1.0,  # any response whose last bit is the parity
        ("cot", 1, (0, 0, 1, 2)): 0.0,
        ("cot", 1, (1, 1, 0, 1, 2)): 1.0,
        ("cot", 1, (1, 0, 0, 1, 2)): 0.0,  # one wrong chain step
        ("cot", 1, (1, 1, 0, 1, 1, 2)): 0.0,  # over-long
        ("cot", 2, (1, 1, 2)): 1.0,
        ("cot", 2, (1, 1, 0, 1, 2)): 0.0,  # the full chain is not the leap-2 chain
        ("cot", 1, (1, 2)): 1.0,
    }
    for (mode, leap, tokens), expected in cases.items():
        assert oracle_reward(bits, list(tokens), mode, leap) == expected
        env = ParityCoTEnv(d=4, leap=leap, reward=mode, max_response_len=8)
        env.reset(options={"bits": bits})
        for t in tokens:
            _, r, terminated, truncated, _ = env.step(t)
        assert terminated and r == expected, (mode, leap, tokens)


def test_eos_as_last_allowed_token_is_rewarded_and_truncation_is_not():
    env = ParityCoTEnv(d=4, max_response_len=2)
    env.reset(options={"bits": [1, 0, 1, 1]})
    env.step(1)
    _, r, terminated, truncated, _ = env.step(2)
    assert (r, terminated, truncated) == (1.0, True, False)
    env.reset(options={"bits": [1, 0, 1, 1]})
    env.step(0)
    _, r, terminated, truncated, info = env.step(1)
    assert (r, terminated, truncated, info["is_correct"]) == (0.0, False, True, False)
