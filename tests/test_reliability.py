"""Nothing lost, nothing silent: runs killed at any moment resume exactly, saves survive kills, one writer per run
directory, diverging runs stop cleanly, and the envs at their edges."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import pytest
import torch
from conftest import run_cli

from agents import make_agent
from agents.run.checkpoint import load_checkpoint, recover_checkpoint, save_checkpoint
from parity_env import ParityCoTEnv, ParityCoTTorchEnv, ParityCoTVectorEnv, Task

TASK = Task(d=6, p_long=0.3)
CLI = [sys.executable, "-m", "agents"]


def tiny():
    torch.manual_seed(0)
    return make_agent("gpt", TASK, d_model=16, n_head=2)


@pytest.fixture(scope="module")
def pre(tmp_path_factory):
    path = tmp_path_factory.mktemp("pre") / "pre"
    save_checkpoint(path, tiny(), TASK)
    return path


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def _kill_after(argv: list[str], log: Path, lines: int, seed: int) -> None:
    """Run ``argv``, SIGKILL it at a random moment once ``log`` has ``lines`` lines (or when it ends first)."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while proc.poll() is None and (not log.exists() or len(log.read_text().splitlines()) < lines):
            time.sleep(0.005)
        time.sleep(random.Random(seed).uniform(0, 0.05))  # anywhere in the next step: mid-step, mid-save
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()


def _same_run(a: Path, b: Path, key: str) -> None:
    wa, wb = load_checkpoint(a).agent.state_dict(), load_checkpoint(b).agent.state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    strip = lambda log: [{k: v for k, v in e.items() if not k.endswith("_s")} for e in log]  # noqa: E731 (timings)
    assert strip(_lines(a / "log.jsonl")) == strip(_lines(b / "log.jsonl"))
    untimed = lambda state: {k: v for k, v in state.items() if not k.endswith("_s")}  # noqa: E731
    assert untimed(load_checkpoint(a).meta[key]) == untimed(load_checkpoint(b).meta[key])


@pytest.mark.parametrize("algo", ["reinforce", "ppo", "grpo", "star"])
def test_finetune_killed_at_a_random_moment_resumes_bit_identically(pre, tmp_path, algo):
    common = ["finetune", str(pre), "--algo", algo, "--steps", "8", "--batch-size", "16", "--eval-every", "1",
              "--eval-n", "32", "--final-eval-n", "0", "--checkpoint-every", "1",
              "--steps-after-solved", "none", "--no-progress", *(["--star-samples", "32"] if algo == "star" else [])]
    assert subprocess.run(CLI + common + ["--out", str(tmp_path / "whole")]).returncode == 0
    out = tmp_path / "killed"
    seed = random.randrange(10**6)
    _kill_after(CLI + common + ["--out", str(out)], out / "log.jsonl", random.Random(seed).randint(1, 6), seed)
    assert subprocess.run(CLI + common + ["--out", str(out), "--resume"]).returncode == 0, f"seed {seed}"
    _same_run(tmp_path / "whole", out, "finetune_state")


def test_pretrain_killed_at_a_random_moment_resumes_bit_identically(tmp_path):
    common = ["pretrain", "--d", "6", "--p-long", "0.3", "--d-model", "16", "--n-head", "2", "--batch-size", "64",
              "--max-samples", "6400", "--eval-every", "640", "--eval-n", "32", "--check-n-long", "20",
              "--final-eval-n", "0", "--no-stop-when-learned", "--no-progress"]
    assert subprocess.run(CLI + common + ["--out", str(tmp_path / "whole")]).returncode == 0
    out, seed = tmp_path / "killed", random.randrange(10**6)
    _kill_after(CLI + common + ["--out", str(out)], out / "log.jsonl", random.Random(seed).randint(1, 7), seed)
    assert subprocess.run(CLI + common + ["--out", str(out), "--resume"]).returncode == 0, f"seed {seed}"
    _same_run(tmp_path / "whole", out, "training_state")


def test_a_save_killed_at_any_point_recovers_the_newest_complete_checkpoint(tmp_path):
    agent = tiny()
    ck = tmp_path / "run" / "checkpoint"
    save_checkpoint(ck, agent, TASK, meta={"step": 1})
    save_checkpoint(tmp_path / "new", agent, TASK, meta={"step": 2})  # the save that gets interrupted
    tmp, previous = ck.parent / ".checkpoint.tmp-dead", ck.with_name("checkpoint.previous")
    # the states a kill leaves: while writing the temporary directory, before the renames, between them, after them
    stages = {"writing": lambda: (_copy(tmp_path / "new", tmp), (tmp / "config.json").unlink()),
              "written": lambda: _copy(tmp_path / "new", tmp),
              "between renames": lambda: (_copy(tmp_path / "new", tmp), os.rename(ck, previous)),
              "renamed": lambda: (_copy(ck, previous), _replace(tmp_path / "new", ck))}
    for stage, make in stages.items():
        make()
        readable = 1 if stage in ("writing", "written") else 2  # readers take the checkpoint in place, or else the
        assert load_checkpoint(ck.parent).meta["step"] == readable, stage  # newest complete one left
        recover_checkpoint(ck)  # the resuming writer puts the newest complete one in place and cleans up
        assert sorted(p.name for p in ck.parent.iterdir()) == ["checkpoint"], stage
        assert load_checkpoint(ck).meta["step"] == (1 if stage == "writing" else 2), stage
        save_checkpoint(ck, agent, TASK, meta={"step": 1})


def _copy(src: Path, dst: Path) -> None:
    import shutil

    shutil.copytree(src, dst)


def _replace(src: Path, dst: Path) -> None:
    import shutil

    shutil.rmtree(dst)
    shutil.copytree(src, dst)


def test_one_writer_per_run_directory(pre, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["pretrain", "--d", "6", "--max-samples", "100000000", "--out", str(out), "--no-progress"]
    first = subprocess.Popen(CLI + argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not (out / ".lock").exists() or not (out / ".lock").read_text():
            assert first.poll() is None
            time.sleep(0.02)
        for args in (argv + ["--resume"], ["finetune", str(pre), "--out", str(out), "--resume"]):
            code, _, err = run_cli(args, capsys)
            assert code == 2 and f"is in use by another run (pid {first.pid}: " in err, err
    finally:
        first.kill()
        first.wait()
    assert not any(p.name.startswith(".checkpoint.tmp") for p in out.iterdir())  # no stray writer ran


def test_diverging_runs_stop_cleanly_and_save_nothing_non_finite(pre, tmp_path, capsys):
    for algo in ("ppo", "reinforce"):
        code, _, err = run_cli(["finetune", str(pre), "--algo", algo, "--lr", "1e6", "--steps", "3", "--batch-size",
                                "32", "--out", str(tmp_path / algo), "--no-progress"], capsys)
        assert code == 1 and "is not finite" in err or "not finite" in err, err
        assert "step " in err and "lower --lr" in err and "Traceback" not in err
        assert not (tmp_path / algo / "checkpoint").exists()
    code, _, err = run_cli(["pretrain", "--d", "6", "--lr", "1e6", "--eval-every", "256", "--out",
                            str(tmp_path / "pre"), "--no-progress"], capsys)
    assert code == 1 and "not finite" in err and "lower --lr" in err
    if (tmp_path / "pre" / "checkpoint").exists():  # a checkpoint written before it diverged is finite
        load_checkpoint(tmp_path / "pre")


def test_resume_with_a_damaged_training_state(pre, tmp_path, capsys):
    out = tmp_path / "rl"
    assert run_cli(["finetune", str(pre), "--steps", "1", "--batch-size", "16", "--eval-n", "16", "--final-eval-n",
                    "0", "--out", str(out), "--no-progress"], capsys)[0] == 0
    config_file = out / "checkpoint" / "config.json"
    good = config_file.read_text()
    for damage, message in ((lambda c: c["rng"].pop("probe"), "lacks ['probe']"),
                            (lambda c: c["finetune_state"].pop("step"), "lacks ['step']"),
                            (lambda c: c["rng"].update(env={"__uint8_tensor_base64__": "AAAA"}), "does not fit")):
        config = json.loads(good)
        damage(config)
        config_file.write_text(json.dumps(config))
        code, _, err = run_cli(["finetune", str(pre), "--out", str(out), "--resume", "--steps", "2"], capsys)
        assert code == 2 and message in err and "Traceback" not in err, err


def test_the_envs_at_their_edges():
    with pytest.raises(ValueError, match="max_response_len must be <= 4096 in ParityCoTTorchEnv"):
        ParityCoTTorchEnv(d=4, max_response_len=10**6)
    with pytest.raises(ValueError, match="its default is d \\+ 1"):
        ParityCoTTorchEnv(d=5000)
    big = ParityCoTTorchEnv(d=3000, batch_size=[2], seed=0)  # the deck stays a few MB however long a row is
    big.rollout(3, break_when_any_done=False)
    env = ParityCoTTorchEnv(d=4, batch_size=[3], seed=0)
    td = env.reset()
    td["action"] = torch.zeros(3, 1, dtype=torch.long)  # the shape TorchRL's categorical specs often give
    assert env.step(td)["next", "response_length"].tolist() == [1, 1, 1]
    for make in (lambda: ParityCoTEnv(d=4), lambda: ParityCoTVectorEnv(2, d=4)):
        for seed, error in ((True, TypeError), (2**64, ValueError), (-1, ValueError)):
            with pytest.raises(error, match="seed must be an integer in \\[0, 18446744073709551615\\]"):
                make().reset(seed=seed)
        make().reset(seed=2**64 - 1)
    for seed, error in ((True, TypeError), (2**64, ValueError)):
        with pytest.raises(error, match="seed must be an integer in \\[0, 18446744073709551615\\]"):
            ParityCoTTorchEnv(d=4, seed=seed)
    with pytest.raises(ValueError, match="render_mode must be None: the vector env does not render"):
        gym.make_vec("ParityCoT-v0", num_envs=2, render_mode="ansi")


def test_cli_file_errors(pre, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    for argv in (["pretrain", "--out", str(tmp_path / "file")], ["finetune", str(pre), "--out", str(tmp_path / "file")],
                 ["reproduce", "--out", str(tmp_path / "file")]):
        code, _, err = run_cli(argv, capsys)
        assert code == 2 and "is a file, not a directory" in err and "Traceback" not in err, argv


def test_a_run_killed_before_its_first_checkpoint_resumes_by_starting(pre, tmp_path, capsys):
    out = tmp_path / "rl"
    out.mkdir()
    (out / "log.jsonl").write_text('{"step": 1, "reward": 0.5}\n{"step": 2')  # what a kill leaves before any save
    (out / ".lock").write_text("pid 1: killed")
    code, printed, err = run_cli(["finetune", str(pre), "--out", str(out), "--resume", "--steps", "2", "--batch-size",
                                  "16", "--eval-n", "16", "--final-eval-n", "0", "--no-progress"], capsys)
    assert code == 0 and "stopped after 2 steps" in printed, err
    assert [json.loads(x)["step"] for x in (out / "log.jsonl").read_text().splitlines()] == [1, 2]
    run = tmp_path / "pre2"
    run.mkdir()
    (run / "log.jsonl").write_text("")
    argv = ["pretrain", "--d", "4", "--max-samples", "256", "--final-eval-n", "64", "--out", str(run), "--resume",
            "--no-progress"]
    assert run_cli(argv, capsys)[0] == 0
    before = load_checkpoint(run).meta
    assert run_cli(argv, capsys)[0] == 0  # resuming a finished run trains and evaluates no further
    assert load_checkpoint(run).meta["final_metrics"] == before["final_metrics"]
    assert load_checkpoint(run).meta["training_state"]["steps"] == before["training_state"]["steps"]


def test_a_run_saved_before_newer_options_existed_resumes(pre, tmp_path, capsys):
    """A checkpoint written by an older version lacks the options added since (task.p_partial, a pre-training
    field, a fine-tuning field): they count as their defaults, so --resume continues it; a changed option is still
    refused."""
    run = tmp_path / "old"
    base = ["pretrain", "--d", "4", "--final-eval-n", "0", "--out", str(run), "--no-progress"]
    assert run_cli([*base, "--max-samples", "256"], capsys)[0] == 0
    config = run / "checkpoint" / "config.json"
    saved = json.loads(config.read_text())
    old_task = {k: v for k, v in saved["task"]["config"].items() if k not in ("p_partial", "partial_leap")}
    saved["pretrain_config"]["task"] = saved["task"] = old_task  # format 2: parity's fields, before tasks had names
    saved["format_version"] = 2
    del saved["pretrain_config"]["logger"]
    config.write_text(json.dumps(saved))
    code, _, err = run_cli([*base, "--max-samples", "512", "--resume"], capsys)
    assert code == 0, err
    assert load_checkpoint(run).meta["training_state"]["samples"] == 512
    code, _, err = run_cli([*base, "--max-samples", "768", "--resume", "--lr", "1e-4"], capsys)
    assert code == 2 and "lr" in err

    rl = tmp_path / "rl"
    argv = ["finetune", str(pre), "--out", str(rl), "--steps", "1", "--batch-size", "16", "--eval-n", "16",
            "--final-eval-n", "0", "--no-progress"]
    assert run_cli(argv, capsys)[0] == 0
    config = rl / "checkpoint" / "config.json"
    saved = json.loads(config.read_text())
    del saved["finetune"]["logger"]
    config.write_text(json.dumps(saved))
    code, printed, err = run_cli([*argv[:4], "--steps", "2", *argv[6:], "--resume"], capsys)
    assert code == 0 and "stopped after 2 steps" in printed, err
