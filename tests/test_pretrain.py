"""Pre-training: the loss is on responses only, a resumed run is bit-identical, the CLI refuses bad input."""

import json
import re

import numpy as np
import pytest
import torch
from conftest import run_cli

from agents import make_agent
from agents.cli import main as cli_main
from agents.ntp.pretrain import PretrainConfig, _split_batch, pretrain
from agents.run.checkpoint import load_checkpoint
from parity_env import Task
from parity_env.parity.demonstrations import sample_demonstrations
from parity_env.parity.protocol import EOS

TINY = dict(task=Task(d=4, p_long=0.5), n_layer=1, n_head=2, d_model=16, batch_size=32, eval_every=128, eval_n=16,
            check_n_long=20, final_eval_n=0)


def test_targets_are_the_response_tokens_only():
    tokens, mask, is_long = sample_demonstrations(64, 6, 0.5, seed=0)
    parts = _split_batch(tokens, mask, is_long, 7, None, np.random.default_rng(0))
    n_targets = sum(int((t >= 0).sum()) for _, t, _ in parts)
    assert n_targets == int(mask.sum())  # every response token (answer bits and EOS) and nothing else
    for inputs, targets, weight in parts:  # targets from position d (the SEP, which predicts the first response token)
        assert weight == 1.0 and targets.shape == (inputs.shape[0], inputs.shape[1] - 6)
        assert inputs.shape[1] in (6 + 2, 6 + 1 + 6)  # cut after the EOS: short rows d + 3 tokens, long 2d + 2
        assert (targets[:, -1] == EOS).all()  # rows are cut right after their EOS
        assert (targets[:, 0] != -100).all()  # the first response token
        np.testing.assert_array_equal(targets[:, :-1], inputs[:, 7:])  # row t's target is token t + 1


def test_short_row_subsample_is_weighted_to_stay_unbiased():
    tokens, mask, is_long = sample_demonstrations(256, 6, 0.1, seed=0)
    parts = _split_batch(tokens, mask, is_long, 7, 32, np.random.default_rng(0))
    short_inputs, _, weight = parts[0]
    assert short_inputs.shape[0] == 32 and weight == pytest.approx((~is_long).sum() / 32)
    assert parts[1][0].shape[0] == is_long.sum()  # every long row is kept


def test_chain_schedule_decays_only_after_its_start():
    cfg = PretrainConfig(lr=1e-3, warmup_samples=1000, batch_size=100, decay_half_life=500, decay_floor=0.2)
    assert cfg.lr_at(0) == pytest.approx(1e-3 * 100 / 1100)  # warm-up
    assert cfg.lr_at(50_000) == cfg.lr_at(50_000, None) == 1e-3  # constant until the chain is mostly learned
    assert cfg.lr_at(6_000, decay_start=5_000) == pytest.approx(0.25e-3)  # two half-lives later
    assert cfg.lr_at(60_000, decay_start=5_000) == pytest.approx(0.2e-3)  # the floor
    with pytest.raises(ValueError, match="decay_floor"):
        PretrainConfig(decay_floor=1.5)


def test_the_decay_starts_when_most_sampled_chains_are_right():
    r = pretrain(PretrainConfig(**{**TINY, "check_n_long": 40}, stop_when_learned=False, max_samples=4096,
                                warmup_samples=0, lr=1e-2, decay_half_life=256), progress=False)
    judged = [(p["check_n_long"], p["check_n_wrong"]) for p in r.log]
    first = next(i for i, (n, wrong) in enumerate(judged) if n >= 20 and n - wrong >= 0.85 * n)
    lrs = [p["lr"] for p in r.log]
    assert all(lr == lrs[0] for lr in lrs[: first + 1]) and lrs[-1] < lrs[first] / 2


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_resume_is_bit_identical(tmp_path):
    common = dict(TINY, stop_when_learned=False)
    whole = pretrain(PretrainConfig(**common, max_samples=512, out=str(tmp_path / "whole")), progress=False)
    pretrain(PretrainConfig(**common, max_samples=256, out=str(tmp_path / "split")), progress=False)
    assert load_checkpoint(tmp_path / "split").meta["training_state"]["stop_reason"] == "max_samples"
    resumed = pretrain(PretrainConfig(**common, max_samples=512, out=str(tmp_path / "split"), resume=True),
                       progress=False)
    assert resumed.samples == whole.samples == 512
    for (name, a), b in zip(_weights(whole.agent).items(), _weights(resumed.agent).values()):
        assert torch.equal(a, b), name
    logs = [[json.loads(x) for x in (tmp_path / run / "log.jsonl").read_text().splitlines()]
            for run in ("whole", "split")]
    strip = lambda log: [{k: v for k, v in p.items() if k != "elapsed_s"} for p in log]  # noqa: E731
    assert strip(logs[0]) == strip(logs[1])


def test_resume_refuses_a_changed_recipe(tmp_path):
    pretrain(PretrainConfig(**TINY, max_samples=64, out=str(tmp_path)), progress=False)
    with pytest.raises(ValueError, match="lr = 0.5"):
        pretrain(PretrainConfig(**{**TINY, "lr": 0.5}, max_samples=128, out=str(tmp_path), resume=True),
                 progress=False)


def test_non_empty_out_without_resume_is_an_error(tmp_path, capsys):
    (tmp_path / "something").write_text("x")
    code, _, err = run_cli(["pretrain", "--d", "4", "--out", str(tmp_path), "--no-progress"], capsys)
    assert code == 2 and "not empty; pass --resume" in err
    code, _, err = run_cli(["pretrain", "--d", "4", "--out", str(tmp_path / "something")], capsys)
    assert code == 2 and "is a file, not a directory" in err


def test_a_given_model_is_trained_and_recorded(tmp_path):
    cfg = PretrainConfig(**{k: v for k, v in TINY.items() if k not in ("n_layer", "n_head", "d_model")},
                         max_samples=64, out=str(tmp_path))
    agent = make_agent("linear", cfg.task)
    before = {k: v.clone() for k, v in agent.state_dict().items()}
    result = pretrain(cfg, model=agent, progress=False)
    assert result.agent is agent and any(not torch.equal(before[k], v) for k, v in agent.state_dict().items())
    assert result.config["agent"] == "linear" and load_checkpoint(tmp_path).agent.agent_spec.name == "linear"
    with pytest.raises(ValueError, match="gpt agent only"):
        PretrainConfig(agent="linear", n_layer=2)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--bogus", "1"], "unrecognized arguments: --bogus"),
        (["--lr", "fast"], "--lr: expected a number, got 'fast'"),
        (["--lr", "inf"], "--lr: expected a finite number, got 'inf'"),
        (["--weight-decay", "nan"], "--weight-decay: expected a finite number"),
        (["--init-std", "inf"], "--init-std: expected a finite number"),
        (["--agent", "lstm"], "unknown agent 'lstm'; known agents: gpt, .*hf, linear"),
        (["--agent", "nowhere.mod:make"], "cannot import module 'nowhere.mod'"),
        (["--agent-config", "[1, 2]"], "--agent-config: expected a JSON object"),
        (["--agent-config", "{bad json"], "--agent-config: expected a JSON object"),
        (["--agent-config", '{"n_layers": 2}'], "unexpected keys \\['n_layers'\\]"),
        (["--agent", "linear", "--agent-config", '{"width": 2}'], "does not take \\['width'\\]"),
        (["--agent", "linear", "--d-model", "8"], "--d-model apply to the gpt agent only"),
        (["--device", "cuda"], "--device cuda: CUDA is not available"),
        (["--batch-size", "2.5"], "--batch-size: expected an integer, got '2.5'"),
        (["--p-long", "1.5"], "p_long must be a real number in \\[0, 1\\]; got 1.5"),
        (["--n-head", "3"], "d_model \\(64\\) must be divisible by n_head \\(3\\)"),
        (["--positional", "sinus"], "invalid choice: 'sinus'"),
        (["--d", "1"], "d must be an integer >= 2; got 1"),
    ],
)
def test_cli_bad_input_names_the_value(tmp_path, capsys, argv, message):
    code, _, err = run_cli(["pretrain", "--out", str(tmp_path / "run"), "--no-progress", *argv], capsys)
    assert code == 2 and "Traceback" not in err
    assert re.search(message, err), err
    assert not (tmp_path / "run").exists()


def test_cli_run_writes_checkpoint_and_log(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["pretrain", "--d", "4", "--p-long", "0.5", "--n-layer", "1", "--d-model", "16", "--batch-size", "32",
            "--max-samples", "64", "--eval-every", "32", "--final-eval-n", "64", "--out", str(out), "--no-progress"]
    assert cli_main(argv) == 0
    printed = capsys.readouterr().out
    assert "stopped after 64 samples" in printed and "--max-samples" in printed
    ckpt = load_checkpoint(out)
    assert ckpt.task == Task(d=4, p_long=0.5, leap=1, max_response_len=5)
    assert len((out / "log.jsonl").read_text().splitlines()) == 2


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        cli_main(["pretrain", "--help"])
    text = capsys.readouterr().out
    from agents.run.config import config_fields

    for name, *_ in config_fields(PretrainConfig):  # every field of the config has a flag with its help
        flag = "--no-" + name.replace("_", "-") if name == "stop_when_learned" else "--" + name.replace("_", "-")
        assert flag + " " in text or flag + "\n" in text, flag
    assert "--no-progress" in text and "--agent-config JSON" in text


@pytest.mark.slow
def test_learns_a_short_chain_and_stops():
    result = pretrain(PretrainConfig(task=Task(d=6, p_long=0.5), n_layer=1, n_head=2, d_model=32, batch_size=64,
                                     eval_every=3200, max_samples=400_000, final_eval_n=1024), progress=False)
    assert result.stop_reason == "learned" and result.time_to_learned_s is not None
    assert result.metrics["sampled_long_chain_accuracy"] > 0.95  # fresh prompts agree with the check
