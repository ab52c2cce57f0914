"""Evaluation: the batched verdicts agree with protocol.is_correct; the chain check; ``evaluate --json``."""

import json

import numpy as np
import pytest
import torch

from agents import make_agent
from agents.cli import main as cli_main
from agents.run.checkpoint import save_checkpoint
from agents.run.evaluate import chain_check, evaluate
from parity_env import Task
from parity_env.parity.protocol import EOS, PAD, is_correct, long_answer

TASK = Task(d=6, p_long=0.25)
KEYS = {"greedy_accuracy", "greedy_chain_accuracy", "greedy_mean_length", "greedy_accuracy_x1_0",
        "greedy_accuracy_x1_1", "first_token_margin", "first_token_near_tie", "continuation_probability",
        "sampled_accuracy",
        "sampled_long_fraction", "sampled_long_accuracy", "sampled_long_chain_accuracy", "n"}


def tiny():
    torch.manual_seed(0)
    return make_agent("gpt", TASK, n_head=2, d_model=16)


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
    v = Task(d=d, leap=leap).judge(bits, torch.from_numpy(tokens))
    for i in range(len(bits)):
        finished = bool((tokens[i] == EOS).any())
        assert bool(v.finished[i]) == finished
        assert bool(v.answer_correct[i]) == is_correct(bits[i], tokens[i], "answer", leap)
        answer_len = int(np.argmax(tokens[i] == EOS)) if finished else R
        exact_chain = is_correct(bits[i], tokens[i], "cot", leap) and answer_len > 1
        assert bool(v.demonstrated[i]) == exact_chain
        assert bool(v.cot_correct[i]) == is_correct(bits[i], tokens[i], "cot", leap)
        assert int(v.answer_length[i]) == answer_len


def test_evaluate_keys_and_ranges():
    agent = tiny()
    m = evaluate(agent, TASK, n=128, show_mistakes=2)
    assert KEYS <= set(m) and m["n"] == 128 and len(m["mistakes"]) <= 2
    assert 0 <= m["greedy_accuracy"] <= 1 and 0 <= m["sampled_long_fraction"] <= 1 and 0 <= m["first_token_margin"] <= 1
    assert evaluate(agent, TASK, n=128) == {k: v for k, v in m.items() if k != "mistakes"}  # seeded


def test_greedy_diagnostics_of_a_scripted_plateau():
    """An agent that writes the exact chain when x_1 = 1 and answers '0 EOS' otherwise: the 0.75 plateau."""

    class Plateau(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, tokens):  # logits (B, T, 3): next token = c_{j+1} on the chain, else EOS
            B, T = tokens.shape
            d = TASK.d
            logits = torch.full((B, T, 3), -10.0) + 0 * self.w
            x = tokens[:, :d]
            chain = torch.cumsum(x, 1) % 2  # (B, d)
            for t in range(d, T):
                j = t - d  # response tokens emitted so far
                if j < d and (x[:, 0] == 1).any():
                    long_rows = x[:, 0] == 1
                    logits[long_rows, t, chain[long_rows, j]] = 10.0
                    logits[~long_rows, t, 0 if j == 0 else EOS] = 10.0
                else:
                    logits[:, t, EOS] = 10.0
            return logits

    m = evaluate(Plateau(), TASK, n=512)
    assert m["greedy_accuracy_x1_1"] == 1.0 and 0.35 < m["greedy_accuracy_x1_0"] < 0.65
    assert m["greedy_chain_accuracy"] == pytest.approx(m["greedy_long_fraction"])
    assert 0.6 < m["greedy_accuracy"] < 0.9 and m["first_token_margin"] > 0.99


def test_chain_check_fails_an_untrained_agent_cheaply():
    check = chain_check(tiny(), TASK)
    assert not check["passed"] and check["n_wrong"] > 2 and check["n_prompts"] == 1024  # stopped after one chunk


def test_evaluate_cli_json(tmp_path, capsys):
    save_checkpoint(tmp_path / "ck", tiny(), TASK)
    assert cli_main(["evaluate", str(tmp_path / "ck"), "--n", "64", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert KEYS <= set(metrics) and metrics["n"] == 64
    with pytest.raises(SystemExit) as info:
        cli_main(["evaluate", str(tmp_path / "ck"), "--n", "zero"])
    assert info.value.code == 2 and "--n: expected an integer, got 'zero'" in capsys.readouterr().err
    for argv, message in ((["--n", "0"], "--n must be an integer >= 1"), (["--temperature", "0"], "must be > 0"),
                          (["--temperature", "nan"], "expected a finite number"), (["--device", "cuda:7"], "--device")):
        code = None
        try:
            code = cli_main(["evaluate", str(tmp_path / "ck"), *argv])
        except SystemExit as e:
            code = e.code
        assert code == 2 and message in capsys.readouterr().err, argv
    assert cli_main(["evaluate", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
