"""Evaluation: the vectorised verdicts agree with protocol.is_correct; the chain check; ``evaluate --json``."""

import json
import numpy as np
import pytest
import torch

from agents.checkpoint import save_checkpoint
from agents.cli import main as cli_main
from agents.evaluate import chain_check, evaluate, judge
from agents.model import GPT, GPTConfig
from parity_env.protocol import EOS, PAD, is_correct, long_answer

TASK = {"d": 6, "p_long": 0.25, "leap": 1, "max_response_len": 7}
KEYS = {"greedy_accuracy", "greedy_mean_length", "sampled_accuracy", "sampled_long_fraction", "sampled_long_accuracy",
        "n"}


@pytest.mark.parametrize("leap", [1, 2])
def test_judge_matches_the_protocol_verifier(leap):
    rng = np.random.default_rng(0)
    d, R = 6, 7
    bits = rng.integers(0, 2, (400, d))
    tokens = rng.integers(0, 3, (400, R))
    tokens[:100, : long_answer(bits[:100], leap).shape[1]] = long_answer(bits[:100], leap)  # some exact chains
    tokens[:100, long_answer(bits[:1], leap).shape[1]] = EOS
    for row in tokens:  # PAD after the first EOS, as generate() leaves it
        eos = np.flatnonzero(row == EOS)
        if eos.size:
            row[eos[0] + 1 :] = PAD
    finished = torch.from_numpy((tokens == EOS).any(1))
    v = judge(bits, torch.from_numpy(tokens), finished, leap)
    for i in range(len(bits)):
        assert bool(v.answer_correct[i]) == is_correct(bits[i], tokens[i], "answer", leap)
        answer_len = int(np.argmax(tokens[i] == EOS)) if finished[i] else R
        exact_chain = is_correct(bits[i], tokens[i], "cot", leap) and answer_len > 1
        assert bool(v.chain_correct[i]) == exact_chain
        assert int(v.answer_length[i]) == answer_len


def test_evaluate_keys_and_ranges():
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=14, n_layer=1, n_head=2, d_model=16))
    m = evaluate(model, TASK, n=128, show_mistakes=2)
    assert KEYS <= set(m) and m["n"] == 128 and len(m["mistakes"]) <= 2
    assert 0 <= m["greedy_accuracy"] <= 1 and 0 <= m["sampled_long_fraction"] <= 1
    assert evaluate(model, TASK, n=128) == {k: v for k, v in m.items() if k != "mistakes"}  # seeded


def test_chain_check_fails_an_untrained_model_cheaply():
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=14, n_layer=1, n_head=2, d_model=16))
    check = chain_check(model, TASK)
    assert not check["passed"] and check["n_wrong"] > 2 and check["n_prompts"] == 1024  # stopped after one chunk


def test_evaluate_cli_json(tmp_path, capsys):
    model = GPT(GPTConfig(block_size=14, n_layer=1, n_head=2, d_model=16))
    save_checkpoint(tmp_path / "ck", model, TASK)
    assert cli_main(["evaluate", str(tmp_path / "ck"), "--n", "64", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert KEYS <= set(metrics) and metrics["n"] == 64
    with pytest.raises(SystemExit) as info:
        cli_main(["evaluate", str(tmp_path / "ck"), "--n", "zero"])
    assert info.value.code == 2 and "--n: expected a positive integer, got 'zero'" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="does not exist"):
        cli_main(["evaluate", str(tmp_path / "nope")])
    with pytest.raises(SystemExit, match="--temperature must be > 0"):
        cli_main(["evaluate", str(tmp_path / "ck"), "--temperature", "0"])
