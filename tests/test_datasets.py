"""Data out: demonstrations and episodes as Hugging Face and Minari datasets, read back equal, and pre-training on a
fixed dataset (``pretrain --data``), bit-identical to the online run on the same sequences and resumed exactly."""

import json

import numpy as np
import pytest
import torch
from conftest import run_cli

from agents import make_agent
from agents.ntp.data import (
    DataSource,
    MissingExtraError,
    read_dataset,
    read_demonstrations,
    read_record,
    require,
    sample_stream,
    write_demonstrations,
)
from agents.ntp.pretrain import PretrainConfig, pretrain
from agents.run.checkpoint import load_checkpoint, save_checkpoint
from parity_env import Task
from parity_env.registry import make_task

datasets = pytest.importorskip("datasets")

TASK = Task(d=4, p_long=0.5)
TINY = dict(task=TASK, n_layer=1, n_head=2, d_model=16, batch_size=32, eval_every=128, eval_n=16, check_n_long=20,
            final_eval_n=0, stop_when_learned=False)
TINY_FLAGS = ["--n-layer", "1", "--n-head", "2", "--d-model", "16", "--batch-size", "32", "--eval-every", "128",
              "--eval-n", "16", "--check-n-long", "20", "--final-eval-n", "0", "--no-stop-when-learned",
              "--no-progress"]


@pytest.fixture
def minari_store(tmp_path, monkeypatch):
    """Minari's local store in the test's directory."""
    pytest.importorskip("minari")
    pytest.importorskip("h5py")
    store = tmp_path / "minari"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(store))
    return store


def _log(run):
    return [{k: v for k, v in p.items() if k != "elapsed_s"} for p in
            (json.loads(x) for x in (run / "log.jsonl").read_text().splitlines())]


def _same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


# --------------------------------------------------------------------------------------------------- the stream
@pytest.mark.parametrize("task", [TASK, make_task("multiplication", digits=2, p_long=0.3)], ids=lambda t: t.name)
def test_the_stream_is_the_online_runs_data(task):
    demos = sample_stream(task, n=100, seed=3, batch_size=32)  # 3 batches and the start of a fourth
    rng = np.random.default_rng(3)
    online = [task.sample_demonstrations(32, seed=rng) for _ in range(4)]
    for i, name in enumerate(("tokens", "response_mask", "is_long")):
        np.testing.assert_array_equal(getattr(demos, name), np.concatenate([b[i] for b in online])[:100])
    np.testing.assert_array_equal(task.prompt_tokens(demos.problems), demos.tokens[:, : task.prompt_len])


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
def test_demonstrations_round_trip_as_a_hugging_face_dataset(tmp_path, fmt):
    task = make_task("multiplication", digits=2, p_long=0.3)
    demos = sample_stream(task, n=50, seed=1, batch_size=16)
    write_demonstrations(tmp_path / "d", demos, format=fmt)
    back = read_demonstrations(tmp_path / "d")
    for name in ("tokens", "response_mask", "is_long", "problems"):
        np.testing.assert_array_equal(getattr(back, name), getattr(demos, name))
    assert back.task == task and back.record["rows"] == 50 and back.record["seed"] == 1
    # what the Hugging Face library itself reads: the same rows, the text columns from format_tokens
    if fmt == "parquet":
        hf = datasets.load_dataset(str(tmp_path / "d"), cache_dir=str(tmp_path / "cache"))["train"]
    else:
        hf = datasets.load_from_disk(str(tmp_path / "d"))
    np.testing.assert_array_equal(np.asarray(hf.with_format("numpy")["tokens"]), demos.tokens)
    assert hf[7]["response"] == task.format_tokens(demos.tokens[7, task.prompt_len:])
    assert hf.features["tokens"].length == task.seq_len


def test_a_changed_dataset_is_refused(tmp_path):
    write_demonstrations(tmp_path / "d", sample_stream(TASK, n=8, seed=0, batch_size=8))
    record = read_record(tmp_path / "d")
    (tmp_path / "d" / "parity_cot.json").write_text(json.dumps({**record, "sha256": "0" * 64}))
    with pytest.raises(ValueError, match="do not match the sha256"):
        read_demonstrations(tmp_path / "d")


# --------------------------------------------------------------------------------------------------- pretrain --data
def test_pretraining_on_the_stream_is_bit_identical_to_the_online_run(tmp_path, capsys):
    online = pretrain(PretrainConfig(**TINY, max_samples=256, out=str(tmp_path / "online")), progress=False)
    code, out, err = run_cli(["dataset", "demonstrations", "--d", "4", "--p-long", "0.5", "--n", "256",
                              "--batch-size", "32", "--seed", "0", "--out", str(tmp_path / "data"), "--no-progress"],
                             capsys)
    assert code == 0, err
    assert "read back equal" in out
    # the task is the dataset's (no task option typed); every other option as the online run's
    code, out, err = run_cli(["pretrain", "--data", str(tmp_path / "data"), "--max-samples", "256", *TINY_FLAGS,
                              "--out", str(tmp_path / "fixed")], capsys)
    assert code == 0, err
    assert "256 rows, 1.00 passes" in out
    fixed = load_checkpoint(tmp_path / "fixed")
    assert fixed.task == TASK and fixed.meta["data"]["position"] == 256
    assert _same_weights(online.agent, fixed.agent)
    assert _log(tmp_path / "online") == _log(tmp_path / "fixed")


def test_a_data_run_reuses_the_rows_reshuffled_and_resumes_exactly(tmp_path):
    write_demonstrations(tmp_path / "data", sample_stream(TASK, n=80, seed=5, batch_size=16))  # batches straddle
    source = DataSource.open(tmp_path / "data", TASK, seed=0)
    tokens, _, _ = source.batch(64, 32)  # rows 64 .. 79 of pass 0, then 16 rows of pass 1
    np.testing.assert_array_equal(tokens[:16], source.demos.tokens[64:])
    np.testing.assert_array_equal(tokens[16:], source.demos.tokens[source.order(1)[:16]])
    assert sorted(source.order(1).tolist()) == list(range(80)) and source.order(1).tolist() != list(range(80))

    common = dict(TINY, data=str(tmp_path / "data"))
    whole = pretrain(PretrainConfig(**common, max_samples=512, out=str(tmp_path / "whole")), progress=False)
    pretrain(PretrainConfig(**common, max_samples=256, out=str(tmp_path / "split")), progress=False)
    resumed = pretrain(PretrainConfig(**common, max_samples=512, out=str(tmp_path / "split"), resume=True),
                       progress=False)
    assert _same_weights(whole.agent, resumed.agent)
    log = _log(tmp_path / "whole")
    assert log == _log(tmp_path / "split")
    assert [p.get("data_pass") for p in log] == [1, 3, 4, 6]  # the pass of each point's last row (80 rows a pass)
    assert load_checkpoint(tmp_path / "split").meta["data"] == {"path": str(tmp_path / "data"), "rows": 80,
                                                                 "sha256": source.demos.sha256(), "position": 512}


def test_a_dataset_of_another_task_is_one_line_exit_2_and_nothing_written(tmp_path, capsys):
    data = tmp_path / "data"
    assert run_cli(["dataset", "demonstrations", "--d", "4", "--p-long", "0.5", "--n", "32", "--out", str(data),
                    "--no-progress"], capsys)[0] == 0
    for argv, message in [
        (["--p-long", "0.25"], "another task than the run's (p_long = 0.5 there, 0.25 here)"),
        (["--task", "multiplication"], "another task than the run's (task 'parity' there, 'multiplication' here)"),
    ]:
        code, _, err = run_cli(["pretrain", "--data", str(data), *argv, "--out", str(tmp_path / "run")], capsys)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match="another task"):  # from Python: the task is the config's
        pretrain(PretrainConfig(task=Task(d=6, p_long=0.5), data=str(data), out=str(tmp_path / "run")))
    assert not (tmp_path / "run").exists()
    code, _, err = run_cli(["pretrain", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and "no such dataset directory" in err and not (tmp_path / "run").exists()
    # a resumed run must keep its dataset: another one (same task, other rows) is refused, the run left as it was
    pretrain(PretrainConfig(**TINY, max_samples=64, data=str(data), out=str(tmp_path / "run")), progress=False)
    before = (tmp_path / "run" / "log.jsonl").read_text()
    write_demonstrations(tmp_path / "other", sample_stream(TASK, n=32, seed=9, batch_size=32))
    with pytest.raises(ValueError, match="data = "):
        pretrain(PretrainConfig(**TINY, max_samples=128, data=str(tmp_path / "other"), out=str(tmp_path / "run"),
                                resume=True), progress=False)
    assert (tmp_path / "run" / "log.jsonl").read_text() == before


def test_the_dataset_command_never_writes_over_anything(tmp_path, capsys, minari_store):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep")
    code, _, err = run_cli(["dataset", "demonstrations", "--d", "4", "--n", "8", "--out", str(tmp_path / "full")],
                           capsys)
    assert code == 2 and "is not empty" in err and (tmp_path / "full" / "x").read_text() == "keep"
    ok = ["dataset", "demonstrations", "--d", "4", "--n", "8", "--minari", "test/parity/demos-v0", "--no-progress"]
    assert run_cli(ok, capsys)[0] == 0
    code, _, err = run_cli([*ok, "--out", str(tmp_path / "new")], capsys)  # the id exists: not even --out is written
    assert code == 2 and "a Minari dataset of that id exists" in err and not (tmp_path / "new").exists()
    code, _, err = run_cli(["dataset", "demonstrations", "--n", "8"], capsys)
    assert code == 2 and "give --out DIR" in err


def test_a_missing_extra_is_named(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "datasets", None)  # as if not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'parity-cot\[data\]'"):
        require("datasets", "--out")


# --------------------------------------------------------------------------------------------------- Minari
def test_demonstrations_as_minari_episodes_replay_in_the_env(tmp_path, capsys, minari_store):
    minari = pytest.importorskip("minari")
    code, out, err = run_cli(["dataset", "demonstrations", "--d", "4", "--p-long", "0.5", "--n", "64", "--seed", "2",
                              "--out", str(tmp_path / "d"), "--minari", "test/parity-d4/demos-v0", "--replay", "64",
                              "--no-progress"], capsys)
    assert code == 0, err
    assert "64 replayed in CoTEnv" in out
    from agents.jobs.dataset import read_minari

    back = read_minari("test/parity-d4/demos-v0")
    demos = read_demonstrations(tmp_path / "d")
    np.testing.assert_array_equal(back["tokens"], demos.tokens)  # each episode ends on its demonstration
    np.testing.assert_array_equal(back["problems"], demos.problems)
    assert back["returns"].tolist() == [1.0] * 64 and back["terminated"].all()  # demonstrations are right
    dataset = minari.load_dataset("test/parity-d4/demos-v0")
    assert str(dataset.action_space) == "Discrete(3)" and dataset.observation_space.shape == (TASK.seq_len,)
    env = dataset.recover_environment()
    assert type(env.unwrapped).__name__ == "CoTEnv" and env.unwrapped.task == TASK


def test_minari_episodes_keep_wrong_and_truncated_responses(minari_store):
    from agents.jobs.dataset import read_minari, replay_minari, write_minari

    task = make_task("multiplication", digits=1, p_long=0.5)
    problems = task.sample_problems(4, np.random.default_rng(0))
    R, pad, eos = task.max_response_len, task.pad, task.eos
    responses = np.full((4, R), pad, dtype=np.int64)
    short = task.short_responses(problems)
    n_short = int((short[0] != pad).sum())
    responses[0, :n_short], responses[0, n_short] = short[0, :n_short], eos  # right
    responses[1, 0] = eos  # no answer: wrong
    responses[2] = 1  # never ends: truncated
    responses[3, :2] = (0, eos)
    write_minari("test/mul/hand-v0", task, problems, responses, {"kind": "episodes", "task": task.to_dict()})
    back = read_minari("test/mul/hand-v0")
    np.testing.assert_array_equal(back["responses"], responses)
    assert back["steps"].tolist() == [n_short + 1, 1, R, 2]
    assert back["truncated"].tolist() == [False, False, True, False]
    expected = task.verdicts(problems, responses).correct(task.reward)
    assert back["returns"].tolist() == [float(x) for x in expected] and back["returns"][0] == 1.0
    assert replay_minari(back, 4) == 4


# --------------------------------------------------------------------------------------------------- episodes of a run
@pytest.mark.parametrize("task", [TASK, make_task("multiplication", digits=1, p_long=0.5)], ids=lambda t: t.name)
def test_episodes_of_a_run_as_both_datasets(tmp_path, capsys, minari_store, task):
    torch.manual_seed(0)
    save_checkpoint(tmp_path / "run" / "checkpoint", make_agent("linear", task), task,
                    meta={"finetune": {"temperature": 0.5}})  # a run's checkpoint: its sampling temperature is used
    code, out, err = run_cli(["dataset", "episodes", str(tmp_path / "run"), "--n", "40", "--batch-size", "16",
                              "--out", str(tmp_path / "e"), "--minari", f"test/{task.name}/episodes-v0",
                              "--replay", "40", "--no-progress"], capsys)
    assert code == 0, err
    assert "(temperature 0.5)" in out and "40 replayed" in out
    record, cols = read_dataset(tmp_path / "e")
    assert record["kind"] == "episodes" and record["temperature"] == 0.5 and record["rows"] == 40
    P = task.prompt_len
    np.testing.assert_array_equal(cols["tokens"][:, :P], task.prompt_tokens(cols["problem"]))
    np.testing.assert_array_equal(cols["tokens"][:, P:], cols["action"])
    verdicts = task.verdicts(cols["problem"], cols["action"])
    np.testing.assert_array_equal(cols["reward"], verdicts.correct(task.reward).astype(np.float32))
    np.testing.assert_array_equal(cols["response_mask"].sum(1), cols["answer_length"] + cols["finished"])
    from agents.jobs.dataset import read_minari

    back = read_minari(f"test/{task.name}/episodes-v0")
    np.testing.assert_array_equal(back["tokens"], cols["tokens"])
    np.testing.assert_array_equal(back["returns"], cols["reward"])
    # the same seed collects the same episodes again
    again = run_cli(["dataset", "episodes", str(tmp_path / "run"), "--n", "40", "--batch-size", "16", "--out",
                     str(tmp_path / "e2"), "--no-progress"], capsys)
    assert again[0] == 0
    np.testing.assert_array_equal(read_dataset(tmp_path / "e2")[1]["action"], cols["action"])
    code, _, err = run_cli(["dataset", "episodes", str(tmp_path / "run"), "--task", "nosuch", "--out",
                            str(tmp_path / "e3")], capsys)
    assert code == 2 and "--task nosuch was given" in err and not (tmp_path / "e3").exists()


@pytest.mark.parametrize("what", ["demonstrations", "episodes"])
def test_help(capsys, what):
    code, out, _ = run_cli(["dataset", what, "--help"], capsys)
    assert code == 0 and "--minari" in out and "--no-progress" in out
