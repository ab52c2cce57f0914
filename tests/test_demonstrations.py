"""The demonstration sampler: layout, mask, long frequency (binomial tolerance), leap, seeding, the three-way mixture
with partial chains; that a demonstration replayed in the env ends in exactly the demonstrated observation with
reward 1; and how the checker and the env judge a partial chain."""

import numpy as np
import pytest
import torch

from parity_env import ParityCoTEnv, Task, sample_demonstrations
from parity_env.parity.protocol import EOS, PAD, SEP, long_answer


@pytest.mark.parametrize("d,leap,max_len", [(2, 1, None), (7, 1, None), (10, 3, None), (10, 4, 12), (50, 1, None)])
def test_layout_and_mask(d, leap, max_len):
    tokens, mask, is_long = sample_demonstrations(2000, d, 0.3, leap=leap, max_response_len=max_len, seed=0)
    R = d + 1 if max_len is None else max_len
    assert tokens.shape == (2000, d + 1 + R) and tokens.dtype == np.int64
    assert mask.shape == tokens.shape and mask.dtype == bool and is_long.shape == (2000,) and is_long.dtype == bool
    bits = tokens[:, :d]
    assert set(np.unique(bits)) <= {0, 1} and (tokens[:, d] == SEP).all()
    chain = long_answer(bits, leap)
    m = chain.shape[1]
    y = bits.sum(1) % 2
    resp = tokens[:, d + 1 :]
    short, long_ = ~is_long, is_long
    assert (resp[short, 0] == y[short]).all() and (resp[short, 1] == EOS).all() and (resp[short, 2:] == PAD).all()
    assert (resp[long_, :m] == chain[long_]).all() and (resp[long_, m] == EOS).all()
    assert (resp[long_, m + 1 :] == PAD).all()
    assert (chain[:, -1] == y).all()
    answer_len = np.where(is_long, m, 1)
    assert (mask.sum(1) == answer_len + 1).all()  # answer bits and EOS
    assert (~mask[:, : d + 1]).all() and (tokens[mask] != PAD).all() and (tokens[mask] != SEP).all()


@pytest.mark.parametrize("p_long", [0.0, 0.01, 0.25, 0.5, 1.0])
def test_long_frequency_is_binomial(p_long):
    n = 200_000
    _, _, is_long = sample_demonstrations(n, 24, p_long, seed=1)
    sigma = np.sqrt(n * p_long * (1 - p_long))
    assert abs(is_long.sum() - n * p_long) <= 5 * sigma + 1e-9


def test_prompts_are_uniform_and_seeding_works():
    tokens, _, _ = sample_demonstrations(100_000, 16, 0.5, seed=2)
    freq = tokens[:, :16].mean(0)
    assert np.abs(freq - 0.5).max() < 5 * np.sqrt(0.25 / 100_000)
    a = sample_demonstrations(50, 8, 0.5, seed=3)
    b = sample_demonstrations(50, 8, 0.5, seed=3)
    c = sample_demonstrations(50, 8, 0.5, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b)) and not np.array_equal(a[0], c[0])
    rng = np.random.default_rng(5)
    first, second = sample_demonstrations(50, 8, 0.5, seed=rng), sample_demonstrations(50, 8, 0.5, seed=rng)
    assert not np.array_equal(first[0], second[0])  # a Generator is a stream


def test_short_only_fits_a_small_response_and_long_does_not():
    tokens, _, _ = sample_demonstrations(10, 8, 0.0, max_response_len=2, seed=0)
    assert tokens.shape == (10, 11)
    with pytest.raises(ValueError, match="max_response_len must be >= 9"):
        sample_demonstrations(10, 8, 0.1, max_response_len=2, seed=0)


@pytest.mark.parametrize("reward", ["answer", "cot"])
@pytest.mark.parametrize("leap", [1, 3])
def test_demonstrations_replay_in_the_env(reward, leap):
    env = ParityCoTEnv(d=9, leap=leap, reward=reward, p_long=0.5)
    env.reset(seed=0)
    tokens, mask, is_long = env.unwrapped.sample_demonstrations(200, seed=1)
    for row, row_mask, long_ in zip(tokens, mask, is_long):
        env.reset(options={"bits": row[:9]})
        for token in row[row_mask]:
            obs, r, terminated, truncated, info = env.step(int(token))
        assert np.array_equal(obs, row) and r == 1.0 and terminated and info["is_long"] == long_


def test_partial_chains_make_a_three_way_mixture_and_leave_the_two_way_one_unchanged():
    n, d, p_long, q = 100_000, 12, 0.2, 0.3
    tokens, mask, is_long = sample_demonstrations(n, d, p_long, p_partial=q, partial_leap=2, seed=7)
    bits, resp = tokens[:, :d], tokens[:, d + 1 :]
    full, partial = long_answer(bits, 1), long_answer(bits, 2)  # (n, 12), (n, 6)
    is_full = (resp[:, :12] == full).all(1) & (resp[:, 12] == EOS)
    is_partial = (resp[:, :6] == partial).all(1) & (resp[:, 6] == EOS)
    is_short = (resp[:, 0] == bits.sum(1) % 2) & (resp[:, 1] == EOS)
    assert (is_full | is_partial | is_short).all() and (is_long == (is_full | is_partial)).all()
    for kind, p in ((is_full, p_long), (is_partial, q)):  # binomial, 5 sigma
        assert abs(kind.sum() - n * p) <= 5 * np.sqrt(n * p * (1 - p))
    assert (mask.sum(1) == np.where(is_full, 13, np.where(is_partial, 7, 2))).all()
    # without partial chains the sampler draws exactly what it always drew
    assert all(np.array_equal(a, b) for a, b in zip(sample_demonstrations(500, d, p_long, seed=8),
                                                    sample_demonstrations(500, d, p_long, p_partial=0.0, seed=8)))
    with pytest.raises(ValueError, match="p_long \\+ p_partial must be <= 1"):
        sample_demonstrations(10, d, 0.8, p_partial=0.3, seed=0)
    with pytest.raises(ValueError, match="partial_leap must be an integer in \\[1, 11\\]; got 0"):
        sample_demonstrations(10, d, p_long, p_partial=q, partial_leap=0, seed=0)


def test_the_checker_marks_partial_chains_apart_from_the_rewarded_chain():
    task = Task(d=6, p_long=0.2, p_partial=0.3, reward="cot")
    bits = np.array([[0, 1, 1, 1, 0, 0]])
    responses = [list(long_answer(bits, leap)[0]) + [EOS] for leap in (1, 2)] + [[int(bits.sum() % 2), EOS]]
    width = max(map(len, responses))
    batch = np.array([r + [PAD] * (width - len(r)) for r in responses])  # full chain, partial chain, short
    v = task.judge(np.repeat(bits, 3, axis=0), torch.from_numpy(batch))
    assert v.demonstrated.tolist() == [True, True, False]  # either chain is a demonstrated long form
    assert v.cot_correct.tolist() == [True, False, True]  # as the envs reward it: a partial chain earns 0
    assert v.correct("cot").tolist() == [True, False, True] and v.correct("answer").tolist() == [True] * 3
    env = ParityCoTEnv(task=task)
    for response, expected in zip(responses, (1.0, 0.0, 1.0)):
        env.reset(options={"bits": bits[0]})
        for token in response:
            _, r, *_ = env.step(int(token))
        assert r == expected
