"""The token protocol: chains and leaps, prompt ids, the verifier on hand-checked cases, formatting."""

import numpy as np
import torch

from parity_env.parity.protocol import (
    chain_length,
    chain_positions,
    format_tokens,
    is_correct,
    long_answer,
    prefix_parities,
    prompt_id_weights,
    prompt_ids,
)


def test_chain_and_leap():
    bits = np.array([1, 0, 1, 1, 0, 1, 1])
    assert prefix_parities(bits).tolist() == [1, 1, 0, 1, 1, 0, 1]
    assert long_answer(bits, 1).tolist() == [1, 1, 0, 1, 1, 0, 1]
    assert chain_positions(7, 3).tolist() == [2, 5, 6] and long_answer(bits, 3).tolist() == [0, 0, 1]
    assert chain_positions(6, 3).tolist() == [2, 5]  # d divisible by leap: no extra c_d
    for d in range(2, 30):
        for leap in range(1, d):
            assert chain_length(d, leap) == len(chain_positions(d, leap)) == -(-d // leap)
            assert chain_positions(d, leap)[-1] == d - 1


def test_prompt_ids():
    assert prompt_ids(np.array([1, 0, 1, 1])) == 13
    bits = np.random.default_rng(0).integers(0, 2, (1000, 62))
    exact = [sum(int(b) << i for i, b in enumerate(row)) for row in bits]
    assert prompt_ids(bits).tolist() == exact
    big = np.random.default_rng(1).integers(0, 2, (5000, 100))
    ids = prompt_ids(big)
    assert ids.dtype == np.int64 and len(set(ids.tolist())) == 5000
    # the torch env computes the same wrapped sum
    w = torch.as_tensor(prompt_id_weights(100))
    assert ((torch.from_numpy(big) * w).sum(1).numpy() == ids).all()


def test_verifier_and_format():
    bits = np.array([1, 0, 1, 1])
    assert is_correct(bits, np.array([1, 1, 0, 1, 2, 4]), "cot")
    assert not is_correct(bits, np.array([1, 1, 0, 1, 1]), "answer")  # no EOS
    assert format_tokens(np.array([1, 0, 3, 1, 2, 4, 4])) == "1 0 SEP 1 EOS"
