"""The main job, end to end on tiny tasks, plus its bad input (the GPU script: tests/test_benchmarks.py)."""

import json
import shutil

import pytest
from conftest import run_cli

from agents.cli import main as cli_main
from agents.jobs.reproduce import ReproduceConfig, format_table
from parity_env import make_task


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
    shutil.rmtree(out / "control")  # as if killed during the control
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
        (["--algo", "dqn"], "unknown algo 'dqn'"),
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


def test_the_task_recipe_is_the_main_jobs_default_under_the_options_given():
    mul = make_task("multiplication", digits=3, p_long=0.25)
    cfg = ReproduceConfig(task=mul).pretrain_config()
    recipe = mul.pretrain_recipe
    assert cfg.agent_config == recipe["agent_config"] and cfg.lr == recipe["lr"] and cfg.short_rows == 32
    assert (cfg.warmup_samples, cfg.decay_trigger, cfg.decay_half_life) == (12_800, 0.95, 100_000)
    given = ReproduceConfig(task=mul, lr=1e-3, agent_config={"d_model": 32}).pretrain_config(batch_size=64)
    assert (given.lr, given.agent_config, given.batch_size, given.short_rows) == (1e-3, {"d_model": 32}, 64, 32)
    assert ReproduceConfig(task=mul, agent="linear").pretrain_config().agent_config == {}  # a gpt preset: gpt's only
    parity = ReproduceConfig().pretrain_config()  # parity has no recipe: PretrainConfig's defaults
    assert (parity.lr, parity.agent_config, parity.short_rows) == (3e-3, {}, None)


def test_pretrain_starts_a_new_run_from_the_task_recipe(tmp_path, monkeypatch):
    import agents.ntp.pretrain as pretrain_module

    seen = []

    def record(cfg, progress):  # the config the command built, then stop before any training
        seen.append(cfg)
        raise SystemExit(0)

    monkeypatch.setattr(pretrain_module, "pretrain", record)
    for argv in (["--task", "multiplication", "--digits", "2"], ["--task", "multiplication", "--n-layer", "1"],
                 ["--d", "8"]):
        with pytest.raises(SystemExit):
            cli_main(["pretrain", *argv, "--out", str(tmp_path / "run"), "--no-progress"])
    recipe, shaped, parity = seen
    assert recipe.agent_config == {"preset": "gpt2-2x128"} and (recipe.lr, recipe.short_rows) == (3e-3, 32)
    assert shaped.agent_config == {} and shaped.n_layer == 1 and shaped.short_rows == 32  # the agent is the user's
    assert (parity.agent_config, parity.short_rows, parity.warmup_samples) == ({}, None, 25_600)
