"""``parity-cot sweep`` on a local Ray with tiny budgets: a 2 x 2 grid, kill and resume, a failing cell, bad input.

One local Ray (2 CPUs) serves the whole module: the sweeps run in this process use it, and the one run as a
subprocess (to be killed) joins it through --address.
"""

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli

ray = pytest.importorskip("ray")

from agents.jobs.sweep import SweepConfig, check_out  # noqa: E402
from agents.jobs.sweep_store import SWEEP_FILE, cell_name, read_results, write_sweep  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TINY = ["--agent-config", '{"d_model": 16, "n_head": 2}', "--max-samples", "4096", "--steps", "3", "--eval-n", "256",
        "--no-progress"]
REQUIRED = ("agent", "d", "p_long", "algo", "seed", "status", "ntp", "control", "rl", "stages", "wall_time_s",
            "rl_steps_to_solve", "hardware", "ray")


@pytest.fixture(scope="module")
def local_ray():
    auth_mode = os.environ.get("RAY_AUTH_MODE")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()
    if auth_mode is None:  # ray.init sets it for its own child processes
        os.environ.pop("RAY_AUTH_MODE", None)


@pytest.fixture(scope="module")
def grid_2x2(local_ray, tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "grid"
    argv = ["sweep", "--d", "4", "5", "--p-long", "0.25", "0.5", "--seeds", "0", *TINY, "--out", str(out)]
    from agents.cli import main

    assert main(argv) == 0
    return out, argv


def test_a_2x2_grid_runs_every_cell_once_and_draws_the_phase_diagram(grid_2x2, capsys):
    out, argv = grid_2x2
    lines = read_results(out)
    assert sorted((r["d"], r["p_long"]) for r in lines) == [(4, 0.25), (4, 0.5), (5, 0.25), (5, 0.5)]
    for r in lines:
        assert all(k in r for k in REQUIRED), sorted(set(REQUIRED) - set(r))
        assert r["status"] == "ok" and r["agent"] == "gpt" and r["algo"] == "reinforce" and r["seed"] == 0
        for key in ("ntp", "control", "rl"):
            assert 0 <= r[key]["greedy_accuracy"] <= 1 and r[key]["n"] == 256
        stages = r["stages"]
        assert stages["pretrained"]["samples"] == 4096 or stages["pretrained"]["stop_reason"] == "learned"
        assert stages["control"]["samples"] == stages["finetuned"]["samples"]  # as many sequences as RL generated
        assert r["ray"]["submit_to_start_s"] >= 0 and 0 <= r["ray"]["overhead_fraction"]
        assert (out / "cells" / r["cell"] / "control" / "checkpoint").is_dir()
    figure = out / "phase_gpt_reinforce.png"
    assert figure.stat().st_size > 10_000
    saved = json.loads((out / SWEEP_FILE).read_text())
    assert saved["grid"]["axes"] == {"d": [4, 5], "p_long": [0.25, 0.5]} and saved["cell"]["max_samples"] == 4096
    assert all(r["task"] == "parity" and r["settings"] == {"d": r["d"], "p_long": r["p_long"]} for r in lines)

    # the same command again: every cell is done, nothing runs, nothing is rewritten
    before = (out / "results.jsonl").read_bytes()
    code, printed, _ = run_cli(argv, capsys)
    assert code == 0 and "4 done already" in printed and "0 to run" in printed
    assert (out / "results.jsonl").read_bytes() == before

    figure.unlink()
    code, printed, _ = run_cli(["sweep-plot", str(out)], capsys)
    assert code == 0 and str(figure) in printed and figure.stat().st_size > 10_000


def test_another_grid_on_the_same_out_is_refused_and_a_larger_one_accepted(grid_2x2, capsys):
    out, argv = grid_2x2
    before = (out / "results.jsonl").read_bytes()
    code, _, err = run_cli([*argv, "--max-samples", "8192"], capsys)
    assert code == 2 and "holds a sweep of another grid" in err and "--max-samples 8192" in err
    code, _, err = run_cli(["sweep", "--d", "4", "--p-long", "0.25", "0.5", "--seeds", "0", *TINY, "--out", str(out)],
                           capsys)
    assert code == 2 and "the d axis lacks [5]" in err and len(err.strip().splitlines()) == 1
    assert (out / "results.jsonl").read_bytes() == before
    # values may be added (only the new cells would run): checked, not run here
    more = SweepConfig(d=[4, 5, 6], p_long=[0.25, 0.5], seeds=[0, 1], agent_config={"d_model": 16, "n_head": 2},
                       max_samples=4096, steps=3, eval_n=256, out=str(out))
    assert check_out(more)["grid"]["axes"]["d"] == [4, 5]


def test_a_killed_sweep_resumes_and_records_every_cell_once(local_ray, tmp_path, capsys):
    out = tmp_path / "killed"
    argv = ["sweep", "--d", "4", "--p-long", "0.5", "--seeds", "0", "1", "2", *TINY, "--no-plot", "--out", str(out),
            "--address", local_ray]
    proc = subprocess.Popen([sys.executable, "-m", "agents", *argv], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    results = out / "results.jsonl"
    deadline = time.monotonic() + 300  # generous: a loaded machine starts Ray's workers slowly
    while not (results.exists() and results.read_text().strip()):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "no cell finished within 300 s"
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    first = results.read_text().splitlines()[0]
    finished = len(results.read_text().splitlines())
    assert finished < 3  # the kill came before the last cell finished

    code, printed, _ = run_cli(argv, capsys)  # the same command, in this process (the same Ray)
    assert code == 0 and f"{finished} done already" in printed
    lines = results.read_text().splitlines()
    assert lines[0] == first  # the finished cell's line is untouched
    records = [json.loads(line) for line in lines]
    assert sorted(r["seed"] for r in records) == [0, 1, 2]  # every cell exactly once
    assert all(r["status"] == "ok" for r in records)


def test_a_failing_cell_is_recorded_and_the_others_finish(local_ray, tmp_path, capsys):
    out = tmp_path / "failing"
    argv = ["sweep", "--d", "4", "--p-long", "0.5", "--seeds", "0", "1", *TINY, "--no-plot", "--out", str(out)]
    cfg = SweepConfig(d=[4], p_long=[0.5], seeds=[0, 1], agent_config={"d_model": 16, "n_head": 2}, max_samples=4096,
                      steps=3, eval_n=256, out=str(out))
    out.mkdir()
    write_sweep(out, cfg.grid(), cfg.cell_options(), None)
    broken = out / "cells" / cell_name({"agent": "gpt", "task": "parity", "settings": {"d": 4, "p_long": 0.5},
                                        "algo": "reinforce", "seed": 1})
    assert broken.name == "gpt-d4-p0.5-reinforce-s1"  # the names of parity's cells are as they always were
    (broken / "pretrain" / "checkpoint").mkdir(parents=True)
    (broken / "pretrain" / "checkpoint" / "config.json").write_text("{corrupt")  # fails only when the cell runs

    code, printed, _ = run_cli(argv, capsys)
    assert code == 1 and "1 ok, 1 failed" in printed and "CheckpointError" in printed
    by_seed = {r["seed"]: r for r in read_results(out)}
    assert by_seed[0]["status"] == "ok"
    assert by_seed[1]["status"] == "failed" and by_seed[1]["error_type"] == "CheckpointError"
    assert "config.json" in by_seed[1]["error"] and by_seed[1]["traceback"]

    code, printed, _ = run_cli(argv, capsys)  # failed cells are skipped without --retry-failed
    assert code == 0 and "1 failed before" in printed and len(read_results(out)) == 2

    shutil.rmtree(broken)
    code, printed, _ = run_cli([*argv, "--retry-failed"], capsys)
    assert code == 0 and "1 to run" in printed
    lines = read_results(out)
    assert sorted((r["seed"], r["status"]) for r in lines[:2]) == [(0, "ok"), (1, "failed")]  # none lost
    assert (lines[2]["seed"], lines[2]["status"]) == (1, "ok")  # appended: the latest line of a cell counts


def test_nothing_else_in_the_package_imports_ray():
    pattern = re.compile(r"^\s*(import ray|from ray)\b", re.M)
    for path in [*(REPO / "agents").rglob("*.py"), *(REPO / "parity_env").rglob("*.py")]:
        if path.name != "sweep_ray.py":
            assert not pattern.search(path.read_text()), path


@pytest.mark.parametrize(
    "args, message",
    [
        (["--d"], "expected at least one argument"),
        (["--d", "1"], "--d must be an integer >= 2"),
        (["--p-long", "0"], "--p-long must be in (0, 1]"),
        (["--p-long", "0.1", "1.5"], "--p-long must be in (0, 1]"),
        (["--algo", "reinforce", "dqn"], "unknown algo 'dqn'"),
        (["--task", "sudoku"], "unknown task 'sudoku'"),
        (["--task-grid", '{"digits": [2]}'], "task 'parity' does not take ['digits']"),
        (["--task-grid", '{"d": [4]}'], "give it once"),
        (["--cpus-per-cell", "64"], "no cell fits this Ray cluster"),
        (["--agent", "gpt", "lstm"], "unknown agent 'lstm'"),
        (["--agent-config", '{"n_layer": 0}'], "n_layer must be a positive integer"),
        (["--seeds", "-1"], "seed must be an integer in [0, 4294967295]"),
        (["--device", "cuda"], "needs --gpus-per-cell > 0"),
        (["--cpus-per-cell", "0"], "--cpus-per-cell must be a finite number > 0"),
        (["--address", "127.0.0.1:1", "--connect-timeout", "1"], "no Ray cluster answers there"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(args, message, local_ray, tmp_path, capsys):
    out = tmp_path / "s"
    t0 = time.perf_counter()
    code, _, err = run_cli(["sweep", "--d", "4", "--p-long", "0.5", "--seeds", "0", *TINY, "--out", str(out), *args],
                           capsys)
    assert code == 2 and message in err, err
    assert time.perf_counter() - t0 < 10
    assert not out.exists()


def test_bad_out_and_missing_out_and_empty_grid(tmp_path, capsys, monkeypatch):
    code, _, err = run_cli(["sweep", "--d", "4", *TINY], capsys)
    assert code == 2 and "--out DIR is required" in err
    with pytest.raises(ValueError, match="--seeds is empty"):
        SweepConfig(seeds=[], out=str(tmp_path / "s"))
    other = tmp_path / "other"
    other.mkdir()
    (other / "results.json").write_text("{}")  # a reproduce run, say
    code, _, err = run_cli(["sweep", "--d", "4", *TINY, "--out", str(other)], capsys)
    assert code == 2 and "holds no sweep" in err
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the [sweep] extra were not installed
    code, _, err = run_cli(["sweep", "--d", "4", *TINY, "--out", str(tmp_path / "s")], capsys)
    assert code == 2 and "pip install 'parity-cot[sweep]'" in err
    assert not (tmp_path / "s").exists()


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie is dead (an init that does not reap leaves them)


@pytest.mark.slow
def test_a_killed_driver_leaves_no_ray_process_behind(tmp_path):
    """SIGKILL of a sweep driver that started its own local Ray: its Ray processes and cells go with it."""
    argv = ["sweep", "--d", "12", "--p-long", "0.02", "--seeds", "0", "1", "--agent-config",
            '{"d_model": 16, "n_head": 2}', "--max-samples", "4000000", "--steps", "3", "--no-progress", "--no-plot",
            "--num-cpus", "2", "--out", str(tmp_path / "s")]
    proc = subprocess.Popen([sys.executable, "-m", "agents", *argv], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    ray_pids: set[int] = set()
    while len(ray_pids) < 4:  # the GCS, the raylet and the cells' workers
        assert proc.poll() is None and time.monotonic() < deadline, "the sweep's Ray did not start"
        ray_pids = _descendants(proc.pid)
        time.sleep(0.5)
    time.sleep(3)
    ray_pids = _descendants(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 120  # Ray's dashboard and runtime-env agents notice within a minute
    while any(_alive(pid) for pid in ray_pids):
        assert time.monotonic() < deadline, [pid for pid in ray_pids if _alive(pid)]
        time.sleep(1)
