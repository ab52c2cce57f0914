"""Hugging Face in and out: hf checkpoints are self-contained, and ``parity-cot export`` writes a gpt or hf agent as a
transformers model directory with the task's tokenizer, loadable by ``AutoModelForCausalLM.from_pretrained`` with
the agent's logits and greedy answers; bad input is refused in one line, exit 2, nothing written.

Nothing is downloaded: every model is a tiny one built from its config.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: never reach the hub

import pytest  # noqa: E402

pytest.importorskip("transformers")

import json  # noqa: E402
import shutil  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from conftest import run_cli  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from agents.jobs.export import export_checkpoint  # noqa: E402
from agents.models import hf as hf_module  # noqa: E402
from agents.models.generate import generate  # noqa: E402
from agents.models.hf_export import (  # noqa: E402
    ExportError,
    check_export,
    export_task,
    task_tokenizer,
    to_hf,
)
from agents.models.registry import agent_spec, make_agent  # noqa: E402
from agents.run.checkpoint import CheckpointError, load_checkpoint, save_checkpoint  # noqa: E402
from parity_env import Task, make_task  # noqa: E402

PARITY = Task(d=6, p_long=0.5)
MULTIPLICATION = make_task("multiplication", digits=2)
LLAMA = dict(model_type="llama", hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
             num_key_value_heads=2, max_position_embeddings=64, initializer_range=0.5)


def gpt(task, positional: str, seed: int = 0):
    """A tiny GPT whose weights are perturbed away from the initialisation (non-zero biases, LayerNorm scales != 1),
    so that every mapped tensor matters."""
    torch.manual_seed(seed)
    agent = make_agent("gpt", task, n_layer=2, d_model=32, n_head=4, positional=positional)
    with torch.no_grad():
        for p in agent.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return agent.eval()


def fresh_prompts(task, n: int, seed: int = 7) -> torch.Tensor:
    return task.sample_prompts(n, np.random.default_rng(seed))[1]


def greedy_hf(model, task, prompts: torch.Tensor) -> torch.Tensor:
    """``model.generate`` greedy, as (n, max_response_len) response tokens PAD-padded like ``generate``'s."""
    out = model.generate(input_ids=prompts, attention_mask=torch.ones_like(prompts), do_sample=False)
    out = out[:, task.prompt_len :]
    tokens = torch.full((len(prompts), task.max_response_len), task.pad)
    tokens[:, : out.shape[1]] = out
    return tokens


# --------------------------------------------------------------------------------------------------- tokenizer
@pytest.mark.parametrize("task", [PARITY, MULTIPLICATION], ids=["parity", "multiplication"])
def test_tokenizer_round_trips_the_task_text(task, tmp_path):
    task_tokenizer(task).save_pretrained(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    assert len(tokenizer) == task.vocab_size
    assert (tokenizer.eos_token_id, tokenizer.pad_token_id) == (task.eos, task.pad)
    sequences = task.sample_demonstrations(8, seed=0)[0]
    for row in sequences:
        text = task.format_tokens(row)  # PAD dropped
        ids = [int(t) for t in row if t != task.pad]
        assert tokenizer(text)["input_ids"] == ids
        assert tokenizer.decode(ids) == text
    prompt = task.format_tokens(sequences[0, : task.prompt_len])
    templated = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                              add_generation_prompt=True)
    assert templated == prompt + " "  # + the response's decoded text = the whole sequence's text


def test_tokenizer_refuses_names_with_spaces():
    class Spaced:
        name, token_names, eos, pad = "spaced", ("a b", "c"), 0, 1

    with pytest.raises(ExportError, match="without spaces"):
        task_tokenizer(Spaced())


# --------------------------------------------------------------------------------------------------- exactness
@pytest.mark.parametrize("task", [PARITY, MULTIPLICATION], ids=["parity", "multiplication"])
@pytest.mark.parametrize("positional, architecture", [("learned", "OPTForCausalLM"),
                                                      ("rotary", "GPTNeoXForCausalLM")])
def test_gpt_exports_exactly(task, positional, architecture, tmp_path):
    agent = gpt(task, positional)
    model = to_hf(agent, task)
    assert type(model).__name__ == architecture
    report = check_export(agent, model, task, n=64)
    assert report["max_logit_diff"] < 1e-4 and report["max_logprob_diff"] < 1e-4
    assert report["max_left_padded_logit_diff"] < 1e-4  # positions count from the attention mask
    assert report["greedy_agree"] + report["greedy_ties"] == 64 and report["greedy_ties"] <= 1
    # written and read back as any Hugging Face model: the same greedy answers on fresh prompts
    model.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    prompts = fresh_prompts(task, 64)
    with torch.no_grad():
        ours = generate(agent, task, prompts, temperature=0.0).tokens
        assert torch.equal(greedy_hf(loaded, task, prompts), ours)
        # the never-emitted tokens are out of the whole-vocabulary softmax: it is the agent's own distribution
        tokens = torch.from_numpy(task.sample_demonstrations(16, seed=3)[0])
        probs = loaded(input_ids=tokens).logits.softmax(-1)
        assert probs[..., task.n_actions :].max() < 1e-30
        torch.testing.assert_close(probs[..., : task.n_actions], agent(tokens).softmax(-1), atol=1e-5, rtol=1e-4)
    assert loaded.generation_config.suppress_tokens == list(range(task.n_actions, task.vocab_size))
    assert loaded.generation_config.max_new_tokens == task.max_response_len


def test_the_greedy_answers_differ_between_prompts():
    """The exactness checks above are not vacuous: these tiny GPTs answer long and short, right and wrong."""
    agent = gpt(PARITY, "learned")
    with torch.no_grad():
        tokens = generate(agent, PARITY, fresh_prompts(PARITY, 64), temperature=0.0).tokens
    assert len({tuple(row.tolist()) for row in tokens}) > 4


def test_a_wrong_export_is_refused():
    agent = gpt(PARITY, "rotary")
    model = to_hf(agent, PARITY)
    with torch.no_grad():
        model.get_output_embeddings().weight[0] += 0.01
    with pytest.raises(ExportError, match="not an exact export"):
        check_export(agent, model, PARITY, n=32)


def test_hf_agent_exports_as_trained(tmp_path):
    torch.manual_seed(0)
    agent = make_agent("hf", PARITY, **LLAMA).eval()
    model = to_hf(agent, PARITY)
    report = check_export(agent, model, PARITY, n=64)
    assert report["max_logit_diff"] == 0.0 and report["max_logprob_diff"] is None and report["greedy_agree"] == 64
    model.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    prompts = fresh_prompts(PARITY, 32)
    with torch.no_grad():
        assert torch.equal(greedy_hf(loaded, PARITY, prompts), generate(agent, PARITY, prompts, 0.0).tokens)


def test_linear_agent_has_no_hf_form():
    with pytest.raises(ExportError, match="no Hugging Face form"):
        to_hf(make_agent("linear", PARITY), PARITY)


# --------------------------------------------------------------------------------------------------- the command
def test_export_command(tmp_path, capsys):
    agent = gpt(PARITY, "learned")
    save_checkpoint(tmp_path / "run" / "checkpoint", agent, PARITY)
    out = tmp_path / "hf"
    code, stdout, err = run_cli(["export", str(tmp_path / "run"), "--hf", str(out), "--n", "32"], capsys)
    assert code == 0, err
    assert "as OPTForCausalLM" in stdout and "32/32" in stdout
    assert {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "parity_cot.json"} <= {p.name for p in out.iterdir()}
    assert export_task(out) == PARITY
    info = json.loads((out / "parity_cot.json").read_text())
    assert info["agent"]["name"] == "gpt" and info["checks"]["greedy_agree"] == 32
    # the text way in: tokenizer and model from the directory, greedy answers as the agent's
    tokenizer, model = AutoTokenizer.from_pretrained(out), AutoModelForCausalLM.from_pretrained(out)
    prompts = fresh_prompts(PARITY, 8)
    encoded = tokenizer([PARITY.format_tokens(p) for p in prompts], return_tensors="pt")
    assert torch.equal(encoded["input_ids"], prompts)
    with torch.no_grad():
        answers = model.generate(**encoded)[:, PARITY.prompt_len :]
        ours = generate(agent, PARITY, prompts, temperature=0.0).tokens
    assert [tokenizer.decode(a, skip_special_tokens=False).replace(" PAD", "") for a in answers] == \
        [PARITY.format_tokens(o) for o in ours]

    # an existing export is not overwritten without --overwrite; with it, it is replaced
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    capsys.readouterr()  # this test's own loading bars
    code, _, err = run_cli(["export", str(tmp_path / "run"), "--hf", str(out), "--n", "8"], capsys)
    assert code == 2 and "exists and is not empty" in err and "--overwrite" in err and len(err.splitlines()) == 1
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    code, _, err = run_cli(["export", str(tmp_path / "run"), "--hf", str(out), "--n", "8", "--overwrite",
                            "--json"], capsys)
    assert code == 0, err
    assert json.loads((out / "parity_cot.json").read_text())["checks"]["n"] == 8
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".hf.")]  # no leftovers


@pytest.mark.parametrize("case", ["linear", "holding", "inside", "missing_hf", "task"])
def test_export_refusals_write_nothing(case, tmp_path, capsys):
    agent = make_agent("linear", PARITY) if case == "linear" else gpt(PARITY, "learned")
    save_checkpoint(tmp_path / "run" / "checkpoint", agent, PARITY)
    out = {"holding": tmp_path / "run", "inside": tmp_path / "run" / "checkpoint" / "hf"}.get(case, tmp_path / "hf")
    args = ["export", str(tmp_path / "run")] + ([] if case == "missing_hf" else ["--hf", str(out)])
    args += ["--d", "7"] if case == "task" else []
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, _, err = run_cli(args, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    expected = {"linear": "has no Hugging Face form", "holding": "holds the checkpoint", "inside": "is inside it",
                "missing_hf": "--hf DIR is required", "task": "d = 6 there, 7 given"}
    assert expected[case] in err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


# --------------------------------------------------------------------------------------------------- hf in
def test_hf_checkpoint_is_self_contained(tmp_path):
    torch.manual_seed(0)
    source = make_agent("hf", PARITY, **LLAMA)
    source.model.save_pretrained(tmp_path / "llama")
    agent = make_agent("hf", PARITY, path=str(tmp_path / "llama")).eval()
    assert agent.agent_spec.config == {"path": str(tmp_path / "llama")}  # as asked for
    saved = agent_spec(agent).config  # as a checkpoint records it: the model's whole config
    assert set(saved) == {"hf_config"} and saved["hf_config"]["model_type"] == "llama"
    save_checkpoint(tmp_path / "ck", agent, PARITY)
    shutil.rmtree(tmp_path / "llama")  # the source directory vanishes
    loaded = load_checkpoint(tmp_path / "ck").agent
    tokens = torch.from_numpy(PARITY.sample_demonstrations(4, seed=1)[0])
    with torch.no_grad():
        torch.testing.assert_close(loaded(tokens), agent(tokens))
    # and it exports like any hf agent
    info = export_checkpoint(tmp_path / "ck", tmp_path / "hf", n=16)
    assert info["agent"]["config"]["hf_config"]["model_type"] == "llama" and info["checks"]["greedy_agree"] == 16


def test_an_older_checkpoint_naming_a_vanished_directory_says_what_to_do(tmp_path):
    torch.manual_seed(0)
    make_agent("hf", PARITY, **LLAMA).model.save_pretrained(tmp_path / "llama")
    agent = make_agent("hf", PARITY, path=str(tmp_path / "llama"))
    del agent.checkpoint_config  # what a checkpoint written before recorded: the path
    save_checkpoint(tmp_path / "ck", agent, PARITY)
    assert json.loads((tmp_path / "ck" / "config.json").read_text())["agent"]["config"] == {
        "path": str(tmp_path / "llama")}
    load_checkpoint(tmp_path / "ck")  # loads while the directory exists
    shutil.rmtree(tmp_path / "llama")
    with pytest.raises(CheckpointError, match=r"put the directory back.*hf_config"):
        load_checkpoint(tmp_path / "ck")


def test_hf_config_builds_the_saved_architecture():
    torch.manual_seed(0)
    agent = make_agent("hf", PARITY, **LLAMA)
    again = make_agent("hf", PARITY, hf_config=hf_module.saved_config(agent.model))
    assert type(again.model) is type(agent.model) and again.num_parameters() == agent.num_parameters()
    with pytest.raises(Exception, match="not both"):
        make_agent("hf", PARITY, hf_config={"model_type": "llama"}, model_type="llama")


def test_loading_bars_follow_progress(tmp_path, capfd, monkeypatch):
    torch.manual_seed(0)
    make_agent("hf", PARITY, **LLAMA).model.save_pretrained(tmp_path / "llama")
    capfd.readouterr()
    monkeypatch.setattr(hf_module, "_PROGRESS", None)
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # what --no-progress sets
    assert not hf_module.progress_enabled()
    make_agent("hf", PARITY, path=str(tmp_path / "llama"))
    assert "Loading weights" not in capfd.readouterr().err
    hf_module.set_progress(True)
    try:
        assert hf_module.progress_enabled()
        make_agent("hf", PARITY, path=str(tmp_path / "llama"))
        assert "Loading weights" in capfd.readouterr().err
    finally:
        hf_module.set_progress(None)
