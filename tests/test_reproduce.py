"""The main job and the GPU script, end to end on tiny tasks, plus their bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli

from agents.cli import main as cli_main
from agents.reproduce import ReproduceConfig, format_table

ROOT = Path(__file__).resolve().parents[1]


def test_reproduce_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli_main(["reproduce", "--d", "6", "--p-long", "0.3", "--out", str(out), "--eval-n", "512",
                     "--no-progress"]) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert (out / "figure.png").stat().st_size > 10_000
    assert format_table(results) in printed and "wall time" in printed
    pre, rl, control = (results["stages"][k] for k in ("pretrained", "finetuned", "control"))
    assert pre["stop_reason"] == "learned"
    assert rl["greedy_accuracy"] >= 0.99
    assert rl["greedy_mean_length"] > pre["greedy_mean_length"]  # RL lengthened the answers
    assert control["samples"] == rl["samples"]  # the control saw as many sequences as RL generated
    assert results["curves"]["finetune"] and results["curves"]["pretrain"]
    # a finished run: --resume prints the same table again, from its saved config, without training
    assert cli_main(["reproduce", "--out", str(out), "--resume", "--no-progress"]) == 0
    assert format_table(results) in capsys.readouterr().out


def test_an_interrupted_reproduce_resumes_stage_by_stage(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["reproduce", "--d", "6", "--p-long", "0.3", "--out", str(out), "--eval-n", "256", "--no-progress"]
    assert cli_main(argv) == 0
    whole = json.loads((out / "results.json").read_text())
    for name in ("results.json", "figure.png"):
        (out / name).unlink()
    __import__("shutil").rmtree(out / "control")  # as if killed during the control
    assert cli_main(["reproduce", "--out", str(out), "--resume", "--no-progress"]) == 0
    again = json.loads((out / "results.json").read_text())
    assert again["stages"]["control"]["greedy_accuracy"] == whole["stages"]["control"]["greedy_accuracy"]
    assert again["stages"]["finetuned"] == {**whole["stages"]["finetuned"],
                                           "wall_time_s": again["stages"]["finetuned"]["wall_time_s"]}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--p-long", "1.5"], "p_long"),
        (["--d", "1"], "d must be"),
        (["--algo", "dqn"], "invalid choice: 'dqn'"),
        (["--seed", "-1"], "seed"),
        (["--agent", "lstm"], "unknown agent 'lstm'"),
        (["--agent-config", '{"n_layer": 0}'], "n_layer must be a positive integer"),
    ],
)
def test_reproduce_bad_input(argv, message, tmp_path, capsys):
    code, _, err = run_cli(["reproduce", "--out", str(tmp_path / "r"), *argv], capsys)
    assert code == 2 and message in err
    assert not (tmp_path / "r").exists()


def test_reproduce_refuses_a_non_empty_out(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    code, _, err = run_cli(["reproduce", "--out", str(tmp_path), "--no-progress"], capsys)
    assert code == 2 and "not empty" in err
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_default_out_is_stable():
    assert ReproduceConfig().out == "runs/reproduce"


def test_gpu_script_small_on_cpu(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu.sh"), "--small", "--out", str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "paper_scale" / "paper_scale.json").read_text())
    run = result["runs"][0]
    assert run["pretrain"]["stop_reason"] == "learned"
    assert run["finetune"]["metrics"]["greedy_accuracy"] >= 0.99
    assert (tmp_path / "paper_scale.png").exists()
    for name in ("env_throughput", "generation_speed", "rl_speed"):  # the speed benchmarks, tiny, with --out
        assert json.loads((tmp_path / f"{name}.json").read_text())["hardware"], name


def test_gpu_script_rejects_unknown_options(tmp_path):
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu.sh"), "--fast"], capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown option --fast" in proc.stderr
