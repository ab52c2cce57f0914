"""Run logs: log.jsonl mirrored to TorchRL's CSV logger, kept in agreement across a resume; ``parity-cot plot``."""

import csv
import json

from conftest import run_cli

from agents.run.logs import LOG_FILE, RunLog, read_log

PRE = ["pretrain", "--d", "4", "--p-long", "0.5", "--d-model", "16", "--n-head", "2", "--batch-size", "32",
       "--eval-every", "64", "--eval-n", "16", "--check-n-long", "8", "--final-eval-n", "0", "--no-stop-when-learned",
       "--no-progress"]


def _csv(run, kind, name):
    with open(run / "logs" / kind / "scalars" / f"{name}.csv") as f:
        return [(int(step), float(value)) for step, value in csv.reader(f)]


def test_the_csv_log_mirrors_log_jsonl_across_a_resume(tmp_path, capsys):
    run = tmp_path / "pre"
    assert run_cli([*PRE, "--max-samples", "128", "--out", str(run)], capsys)[0] == 0
    with open(run / LOG_FILE, "a") as f:  # as if killed after a log line whose checkpoint was never written
        f.write(json.dumps({"steps": 99, "samples": 9999, "loss": 7.0}) + "\n{\"steps\": 1")
    assert run_cli([*PRE, "--max-samples", "256", "--out", str(run), "--resume"], capsys)[0] == 0
    entries = read_log(run / LOG_FILE)
    assert [e["steps"] for e in entries] == [2, 4, 6, 8]  # the dead point and the cut line are gone
    assert _csv(run, "pretrain", "train/loss") == [(e["steps"], e["loss"]) for e in entries]
    assert _csv(run, "pretrain", "eval/greedy_accuracy") == [(e["steps"], e["greedy_accuracy"]) for e in entries]
    assert _csv(run, "pretrain", "time/elapsed_s")[-1][0] == 8
    hparams = (run / "logs" / "pretrain" / "texts" / "hparams0.txt").read_text()
    assert "task.name: parity" in hparams and "task.config.d: 4" in hparams and "lr: 0.003" in hparams


def test_a_run_without_a_directory_keeps_its_entries_in_memory(tmp_path):
    log = RunLog(None, "csv", "step")
    log.append({"step": 1, "reward": 0.5})
    assert log.entries == [{"step": 1, "reward": 0.5}] and not list(tmp_path.iterdir())


def test_plot_draws_a_run_and_names_what_it_needs(tmp_path, capsys):
    run = tmp_path / "pre"
    assert run_cli([*PRE, "--max-samples", "128", "--out", str(run)], capsys)[0] == 0
    code, out, _ = run_cli(["plot", str(run), "--out", str(tmp_path / "c.png")], capsys)
    assert code == 0 and (tmp_path / "c.png").stat().st_size > 20_000 and "c.png" in out
    rl = tmp_path / "rl"
    assert run_cli(["finetune", str(run), "--out", str(rl), "--steps", "3", "--batch-size", "16", "--eval-every", "2",
                    "--eval-n", "16", "--final-eval-n", "0", "--logger", "none", "--no-progress"], capsys)[0] == 0
    assert not (rl / "logs").exists()
    assert run_cli(["plot", str(rl)], capsys)[0] == 0 and (rl / "curves.png").exists()
    code, _, err = run_cli(["plot", str(tmp_path)], capsys)
    assert code == 2 and "log.jsonl does not exist" in err and f"{run}" in err
