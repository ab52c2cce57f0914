"""finetune(): the loop, its checkpoints and logs, resume, and the errors on bad input (CLI and Python)."""

import json

import pytest
import torch

from agents import make_agent
from agents.cli import main as cli
from agents.models.agent import AgentError
from agents.models.gpt import GPT, GPTConfig
from agents.rl import ALGORITHMS, FinetuneConfig, finetune
from agents.run.checkpoint import load_checkpoint, save_checkpoint
from parity_env import Task

D = 6
TASK = Task(d=D, p_long=0.3)
FAST = ["--batch-size", "16", "--eval-n", "64", "--threads", "1", "--final-eval-n", "64", "--no-progress"]


def tiny():
    torch.manual_seed(0)
    return make_agent("gpt", TASK, d_model=32, n_head=2)


@pytest.fixture
def ckpt(tmp_path):
    path = tmp_path / "pre"
    save_checkpoint(path, tiny(), TASK)
    return path


@pytest.mark.parametrize("algo", ["reinforce", "ppo", "grpo", "star"])
def test_cli_runs_and_writes_a_checkpoint_evaluate_reads(ckpt, tmp_path, algo, capsys):
    out = tmp_path / algo
    args = ["finetune", str(ckpt), "--algo", algo, "--out", str(out), "--steps", "2"]
    args += ["--star-samples", "32"] if algo == "star" else []
    assert cli(args + FAST) == 0
    lines = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in lines] == [1, 2]
    for key in ("reward", "sampled_accuracy", "mean_length", "long_fraction", "entropy", "collect_tokens_per_s"):
        assert key in lines[-1]
    assert "kl" not in lines[-1]  # no KL term: the reference agent is never scored
    assert "greedy_accuracy" in lines[-1]  # the last step is always probed
    loaded = load_checkpoint(out)
    assert loaded.task == TASK and loaded.meta["finetune_state"]["step"] == 2
    capsys.readouterr()
    assert cli(["evaluate", str(out), "--n", "32", "--json"]) == 0
    assert "greedy_accuracy" in json.loads(capsys.readouterr().out)


def test_kl_is_computed_and_logged_when_in_the_loss(ckpt, tmp_path):
    out = tmp_path / "kl"
    assert cli(["finetune", str(ckpt), "--out", str(out), "--steps", "2", "--kl-coef", "0.1"] + FAST) == 0
    assert all("kl" in json.loads(line) for line in (out / "log.jsonl").read_text().splitlines())


@pytest.mark.parametrize("algo, kl", [(algo, 0.0) for algo in ALGORITHMS] + [("reinforce", 0.1), ("ppo", 0.1)])
def test_runs_are_reproducible_and_resume_bit_identically(ckpt, tmp_path, algo, kl):
    """Same seed, two runs: equal; stopped at step 2 and resumed to 4: equal to the uninterrupted run (the KL's
    anchor stays the agent the run started from)."""
    common = dict(algo=algo, batch_size=16, eval_every=1, eval_n=64, final_eval_n=0, star_samples=32,
                  checkpoint_every=1, steps_after_solved=None, kl_coef=kl)
    torch.manual_seed(1)
    whole = finetune(ckpt, FinetuneConfig(**common, steps=4, out=str(tmp_path / "whole")), progress=False)
    torch.manual_seed(2)  # the global RNG does not matter
    again = finetune(ckpt, FinetuneConfig(**common, steps=4), progress=False)
    finetune(ckpt, FinetuneConfig(**common, steps=2, out=str(tmp_path / "split")), progress=False)
    resumed = finetune(ckpt, FinetuneConfig(**common, steps=4, out=str(tmp_path / "split"), resume=True),
                       progress=False)
    for other in (again, resumed):
        for a, b in zip(whole.agent.state_dict().values(), other.agent.state_dict().values()):
            assert torch.equal(a, b)
    strip = lambda log: [{k: v for k, v in e.items() if not k.endswith("_s")} for e in log]  # noqa: E731 (timings)
    logs = [[json.loads(x) for x in (tmp_path / run / "log.jsonl").read_text().splitlines()]
            for run in ("whole", "split")]
    assert strip(logs[0]) == strip(logs[1]) and strip(whole.log) == strip(again.log)


def test_a_solved_run_resumes_without_training_further(ckpt, tmp_path, capsys):
    out = tmp_path / "solved"
    cfg = dict(batch_size=16, eval_every=1, eval_n=32, final_eval_n=0, target_accuracy=0.01, target_evals=1)
    first = finetune(ckpt, FinetuneConfig(**cfg, steps=10, out=str(out)), progress=False)
    assert first.stop_reason == "solved" and first.steps == 1
    assert cli(["finetune", str(ckpt), "--out", str(out), "--resume", "--steps", "20", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "stopped after 1 steps" in printed and "(solved); solved at step 1" in printed


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
        (["--lr", "inf"], "--lr: expected a finite number"),
        (["--kl-coef", "nan"], "--kl-coef: expected a finite number"),
        (["--device", "cuda"], "CUDA is not available"),
        (["--epochs", "0"], "epochs must be an integer >= 1"),
    ],
)
def test_bad_input_names_the_value(ckpt, tmp_path, extra, message, capsys):
    try:
        code = cli(["finetune", str(ckpt), "--out", str(tmp_path / "x"), "--steps", "1"] + FAST + extra)
    except SystemExit as e:  # argparse's own errors
        code = e.code
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_unknown_algo_names_the_value(ckpt, tmp_path, capsys):
    assert cli(["finetune", str(ckpt), "--out", str(tmp_path / "x"), "--algo", "a2c"]) == 2
    err = capsys.readouterr().err
    assert "'a2c'" in err and "reinforce, ppo, grpo, star" in err and "package.module:function" in err
    assert not (tmp_path / "x").exists()


def test_an_agent_that_cannot_play_the_task(tmp_path):
    wrong_head = GPT(GPTConfig(block_size=2 * D + 2, vocab_size=5, n_actions=4, d_model=32, n_head=2))
    with pytest.raises(AgentError, match="returned shape \\(2, 14, 4\\).*expected logits \\(2, 14, 3\\)"):
        finetune(wrong_head, FinetuneConfig(steps=1), task=TASK, progress=False)
    short = GPT(GPTConfig(block_size=10, vocab_size=5, n_actions=3, d_model=32, n_head=2))
    with pytest.raises(AgentError, match="exceeds block_size 10"):
        finetune(short, FinetuneConfig(steps=1), task=TASK, progress=False)
    with pytest.raises(ValueError, match="needs task="):
        finetune(tiny(), FinetuneConfig(steps=1), progress=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"algo": "sft"}, "'sft'"), ({"batch_size": 10, "group_size": 4}, "group_size"), ({"temperature": 0.0}, "> 0"),
     ({"reward": "length"}, "'length'"), ({"lr": -1.0}, "lr")],
)
def test_config_errors(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        FinetuneConfig(**kwargs)
