"""finetune(): the loop, its checkpoints and logs, resume, and the errors on bad input (CLI and Python)."""

import json

import pytest
import torch

from agents.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from agents.cli import main as cli
from agents.model import GPT, GPTConfig
from agents.rl import FinetuneConfig, finetune

D = 6
TASK = {"d": D, "p_long": 0.3, "leap": 1, "max_response_len": D + 1}
FAST = ["--batch-size", "16", "--eval-n", "64", "--threads", "1", "--no-progress"]


@pytest.fixture
def ckpt(tmp_path):
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=2 * D + 2, d_model=32, n_head=2))
    path = tmp_path / "pre"
    save_checkpoint(path, model, TASK)
    return path


@pytest.mark.parametrize("algo", ["reinforce", "ppo", "grpo", "star"])
def test_cli_runs_and_writes_a_checkpoint_evaluate_reads(ckpt, tmp_path, algo, capsys):
    out = tmp_path / algo
    args = ["finetune", str(ckpt), "--algo", algo, "--out", str(out), "--steps", "2", "--star-samples", "32"]
    assert cli(args + FAST) == 0
    lines = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in lines] == [1, 2]
    for key in ("reward", "sampled_accuracy", "mean_length", "long_fraction", "entropy", "kl", "collect_tokens_per_s"):
        assert key in lines[-1]
    assert "greedy_accuracy" in lines[-1]  # the last step is always probed
    loaded = load_checkpoint(out)
    assert loaded.task["d"] == D and loaded.meta["finetune_state"]["step"] == 2
    capsys.readouterr()
    assert cli(["evaluate", str(out), "--n", "32", "--json"]) == 0
    assert "greedy_accuracy" in json.loads(capsys.readouterr().out)


def test_resume_continues_from_the_last_checkpoint(ckpt, tmp_path):
    out = tmp_path / "rl"
    assert cli(["finetune", str(ckpt), "--out", str(out), "--steps", "2"] + FAST) == 0
    assert cli(["finetune", str(ckpt), "--out", str(out), "--steps", "2"] + FAST) == 2  # not empty, no --resume
    assert cli(["finetune", str(ckpt), "--out", str(out), "--steps", "4", "--resume"] + FAST) == 0
    steps = [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    assert load_checkpoint(out).meta["finetune_state"]["step"] == 4
    # a resumed run must keep the options that define it
    assert cli(["finetune", str(ckpt), "--out", str(out), "--steps", "5", "--resume", "--lr", "0.1"] + FAST) == 2


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--group-size", "5"], "group_size"),
        (["--temperature", "0"], "temperature"),
        (["--temperature", "-1"], "temperature"),
        (["--d", "24"], "d = 6"),
        (["--algo", "grpo", "--group-size", "1"], "group_size"),
    ],
)
def test_bad_input_names_the_value(ckpt, tmp_path, extra, message, capsys):
    assert cli(["finetune", str(ckpt), "--out", str(tmp_path / "x"), "--steps", "1"] + FAST + extra) == 2
    assert message in capsys.readouterr().err


def test_unknown_algo_names_the_value(ckpt, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli(["finetune", str(ckpt), "--out", str(tmp_path / "x"), "--algo", "a2c"])
    assert "'a2c'" in capsys.readouterr().err


def test_checkpoint_of_another_vocabulary_or_context(tmp_path):
    small = GPT(GPTConfig(block_size=2 * D + 2, d_model=32, n_head=2, vocab_size=7))
    with pytest.raises(CheckpointError, match="vocabulary 7"):
        finetune(small, FinetuneConfig(steps=1), task={"d": D}, progress=False)
    short = GPT(GPTConfig(block_size=10, d_model=32, n_head=2))
    with pytest.raises(CheckpointError, match="block_size|reads at most 10"):
        finetune(short, FinetuneConfig(steps=1), task={"d": D}, progress=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"algo": "sft"}, "'sft'"), ({"batch_size": 10, "group_size": 4}, "group_size"), ({"temperature": 0.0}, "> 0"),
     ({"reward": "length"}, "'length'"), ({"lr": -1.0}, "lr")],
)
def test_config_errors(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        FinetuneConfig(**kwargs)
