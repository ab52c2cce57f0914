"""Every failure a clear answer: user code, the file system, memory, options and seeds at the command line's boundary
end in one line and exit 2 (1 only for a diverged run), and readers never see a half-written checkpoint.

Each test is a row of the reliability issue's table; the ones that need a file-system mount or a kill are ``slow``.
"""

import errno
import json
import os
import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from conftest import run_cli

from agents import make_agent
from agents.cli import failure
from agents.run.checkpoint import load_checkpoint
from parity_env import Task

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "agents"]
RUN = ["--d", "4", "--p-long", "0.5", "--batch-size", "32", "--max-samples", "64", "--eval-every", "32",
       "--final-eval-n", "0", "--check-n-long", "4", "--eval-n", "16"]
SMALL = [*RUN, "--d-model", "16", "--n-head", "2"]


def one_line_exit_2(code: int, out: str, err: str, *words: str) -> None:
    assert code == 2, (code, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in out + err, err
    for word in words:
        assert word in err, (word, err)


@pytest.fixture(scope="module")
def pre(tmp_path_factory):
    """A tiny pre-trained checkpoint (d = 4)."""
    out = tmp_path_factory.mktemp("boundary") / "pre"
    from agents.cli import main

    assert main(["pretrain", *SMALL, "--out", str(out), "--no-progress"]) == 0
    return out


# --------------------------------------------------------------------------------------------------- 1. user code
@pytest.mark.parametrize("source, words", [
    ("def make(task):\n    raise RuntimeError('no GPU here')\n", ["its factory failed", "RuntimeError", "no GPU here"]),
    ("raise KeyError('missing setting')\ndef make(task): pass\n", ["importing module", "KeyError"]),
    ("def make(task)\n    return None\n", ["importing module", "SyntaxError"]),
])
def test_user_code_that_fails_is_one_line(source, words, tmp_path, monkeypatch, capsys):
    """An agent factory that raises, a module that raises on import, one with a syntax error: named, exit 2."""
    name = f"user_module_{abs(hash(source)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.chdir(tmp_path)  # a module beside the command, as Python's own tools find it
    code, out, err = run_cli(["pretrain", *RUN, "--agent", f"{name}:make", "--out", str(tmp_path / "r")], capsys)
    one_line_exit_2(code, out, err, *words)
    assert not (tmp_path / "r").exists()


def test_a_factory_beside_the_command_works_and_a_missing_one_names_sys_path(tmp_path, monkeypatch, capsys):
    (tmp_path / "beside_agents.py").write_text(textwrap.dedent("""
        from agents.models.gpt import make_gpt

        def small(task):
            return make_gpt(task, d_model=16, n_head=2)
    """))
    monkeypatch.chdir(tmp_path)
    tiny = ["--d", "4", "--p-long", "0.5", "--batch-size", "32", "--max-samples", "32", "--final-eval-n", "0",
            "--eval-n", "16", "--check-n-long", "4", "--no-progress"]
    code, _, err = run_cli(["pretrain", *tiny, "--agent", "beside_agents:small", "--out", str(tmp_path / "r")], capsys)
    assert code == 0, err
    code, out, err = run_cli(["pretrain", *RUN, "--agent", "nowhere_here:small", "--out", str(tmp_path / "s")], capsys)
    one_line_exit_2(code, out, err, "cannot import module 'nowhere_here'", "sys.path", "PYTHONPATH")


# --------------------------------------------------------------------------------------------------- 2. file system
def test_a_file_too_large_is_one_line_and_the_good_checkpoint_survives(pre, tmp_path):
    """The file-size limit of the process (ulimit -f) hit while a checkpoint is written: exit 2, one line."""
    out = tmp_path / "rl"
    argv = [*CLI, "finetune", str(pre), "--steps", "2", "--batch-size", "16", "--eval-n", "16", "--final-eval-n",
            "0", "--checkpoint-every", "1", "--no-progress", "--out", str(out)]

    def limit():  # a few KB: config.json fits, the weights do not
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    before = load_checkpoint(pre).agent.state_dict()
    done = subprocess.run(argv, capture_output=True, text=True, preexec_fn=limit, cwd=REPO)
    one_line_exit_2(done.returncode, done.stdout, done.stderr, "file too large", "ulimit -f")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    after = load_checkpoint(pre).agent.state_dict()  # the checkpoint it started from is whole and unchanged
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)


@pytest.mark.parametrize("code, words", [
    (errno.ENOSPC, ["no space left", "choose another --out"]),
    (errno.EROFS, ["read-only file system", "writable --out"]),
    (errno.EACCES, ["permission denied", "write"]),
    (errno.EFBIG, ["file too large", "ulimit -f"]),
])
def test_file_system_errors_name_the_cause_and_the_fix(code, words):
    exit_code, message = failure(OSError(code, os.strerror(code), "/runs/x/checkpoint/model.safetensors"))
    assert exit_code == 2 and "/runs/x/checkpoint/model.safetensors" in message
    assert all(w in message for w in words), message


def test_a_safetensors_write_error_is_read_as_the_system_error():
    from safetensors import SafetensorError

    exit_code, message = failure(SafetensorError("Error while serializing: IoError(Os { code: 28, kind: "
                                                 "StorageFull, message: \"No space left on device\" })"))
    assert exit_code == 2 and "no space left" in message and "choose another --out" in message


# --------------------------------------------------------------------------------------------------- 4. memory
def test_a_batch_the_machine_cannot_hold_is_refused_up_front(pre, tmp_path, capsys):
    code, out, err = run_cli(["finetune", str(pre), "--batch-size", "1000000000", "--out", str(tmp_path / "rl")],
                             capsys)
    one_line_exit_2(code, out, err, "needs about", "GB of memory", "available", "lower --batch-size")
    assert not (tmp_path / "rl").exists()


@pytest.mark.parametrize("argv", [["--batch-size", "1000000000"], ["--d", "100000"]])
def test_a_pre_training_batch_the_machine_cannot_hold_is_refused_up_front(argv, tmp_path, capsys):
    t0 = time.perf_counter()
    code, out, err = run_cli(["pretrain", *argv, "--out", str(tmp_path / "r")], capsys)
    one_line_exit_2(code, out, err, "needs about", "GB of memory", "lower --batch-size")
    assert time.perf_counter() - t0 < 30 and not (tmp_path / "r").exists()


def test_allocation_failures_are_one_line():
    import numpy as np

    try:
        np.empty(2**40, dtype=np.int64)  # 8 TB
    except MemoryError as e:  # numpy's _ArrayMemoryError
        exit_code, message = failure(e)
        assert exit_code == 2 and "out of memory" in message and "lower --batch-size" in message
    exit_code, message = failure(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8 GB"))
    assert exit_code == 2 and "out of memory" in message


def test_a_large_evaluation_runs_in_chunks(monkeypatch):
    from agents.run import evaluate as ev

    task = Task(d=4, p_long=0.5)
    torch.manual_seed(0)
    agent = make_agent("gpt", task, d_model=16, n_head=2)
    whole = ev.evaluate(agent, task, n=96, seed=3)
    monkeypatch.setattr(ev, "EVAL_CHUNK", 40)
    chunked = ev.evaluate(agent, task, n=96, seed=3)
    assert chunked["n"] == 96 and chunked["greedy_accuracy"] == whole["greedy_accuracy"]  # greedy: same prompts


# --------------------------------------------------------------------------------------------------- 5. readers
WRITER = """
import sys, torch
from agents import make_agent
from agents.run.checkpoint import save_checkpoint
from parity_env import Task
task = Task(d=4, p_long=0.5)
torch.manual_seed(0)
agent = make_agent("gpt", task, d_model=16, n_head=2)
opt = torch.optim.AdamW(agent.parameters())
i = 0
while True:
    with torch.no_grad():
        agent.head.bias.fill_(i * 1e-3)
    save_checkpoint(sys.argv[1], agent, task, meta={"i": i}, optimizer=opt)
    i += 1
"""


def test_readers_never_see_a_half_written_checkpoint(tmp_path, capsys):
    """A writer replaces the checkpoint as fast as it can while readers load it: every load is one save."""
    ck = tmp_path / "ck"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(ck)], cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while not (ck / "config.json").exists():
            assert writer.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        loads, seen = 0, set()
        end = time.monotonic() + 4
        while time.monotonic() < end:
            ckpt = load_checkpoint(ck)
            i = ckpt.meta["i"]
            assert torch.allclose(ckpt.agent.head.bias, torch.full_like(ckpt.agent.head.bias, i * 1e-3)), i
            seen.add(i)
            loads += 1
        code, out, err = run_cli(["evaluate", str(ck), "--n", "8", "--json"], capsys)
        assert code == 0, err
    finally:
        writer.kill()
        writer.wait()
    assert loads > 20 and len(seen) > 5  # the writer really replaced it under the readers


# --------------------------------------------------------------------------------------------------- 6-8. options
@pytest.mark.parametrize("argv, words", [
    (["--agent-config", "[1,2]"], ["--agent-config", "expected a JSON object"]),
    (["--agent-config", "null"], ["--agent-config", "expected a JSON object"]),
    (["--agent-config", "{bad"], ["--agent-config", "expected a JSON object"]),
    (["--p-long", "nan"], ["--p-long", "finite"]),
    (["--lr", "nan"], ["--lr", "finite"]),
    (["--seed", "9223372036854775808"], ["--seed", "[0, 4294967295]", "9223372036854775808"]),
    (["--task", "sudoku"], ["unknown task 'sudoku'", "parity", "multiplication"]),
    (["--digits", "3"], ["no setting 'digits'", "multiplication"]),
])
def test_option_errors_are_one_line(argv, words, tmp_path, capsys):
    code, out, err = run_cli(["pretrain", "--out", str(tmp_path / "r"), *argv], capsys)
    one_line_exit_2(code, out, err, *words)
    assert not (tmp_path / "r").exists()


def test_finetune_options_are_checked_with_the_number_given(pre, tmp_path, capsys):
    for argv, words in ((["--seed", "18446744073709551615"], ["--seed", "18446744073709551615"]),
                        (["--temperature", "nan"], ["--temperature", "finite"]),
                        (["--minibatch-size", "64", "--batch-size", "16"], ["--minibatch-size 64", "at most 16"]),
                        (["--star-samples", "64"], ["--star-samples applies to --algo star only"]),
                        (["--algo", "nowhere.mod:make"], ["cannot import module 'nowhere.mod'"]),
                        (["--task", "multiplication"], ["task parity", "--task multiplication"])):
        code, out, err = run_cli(["finetune", str(pre), "--out", str(tmp_path / "rl"), *argv], capsys)
        one_line_exit_2(code, out, err, *words)
        assert not (tmp_path / "rl").exists()


def test_a_checkpoint_of_one_task_given_to_a_command_for_another(pre, capsys):
    for command in (["evaluate", str(pre)], ["plot", str(pre)]):
        code, out, err = run_cli([*command, "--task", "multiplication"], capsys)
        one_line_exit_2(code, out, err, "task parity", "--task multiplication")
        assert code == 2 and "task parity" in err
        code, out, err = run_cli([*command, "--d", "5"], capsys)
        one_line_exit_2(code, out, err, "d = 4 there, 5 given")
        assert code == 2 and "d = 4 there, 5 given" in err
    code, out, err = run_cli(["evaluate", str(pre), "--task", "parity", "--d", "4", "--n", "16", "--json"], capsys)
    assert code == 0 and 0 <= json.loads(out)["greedy_accuracy"] <= 1, err  # the run's own task is accepted
