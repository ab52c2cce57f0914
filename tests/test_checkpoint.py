"""Checkpoints: safetensors + JSON round trip, atomic overwrite, and clear errors for broken files."""

import json

import pytest
import torch

from agents import make_agent
from agents.models.agent import AgentError
from agents.run.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from parity_env import Task

TASK = Task(d=4, p_long=0.5)


def tiny():
    torch.manual_seed(0)
    return make_agent("gpt", TASK, n_head=2, d_model=16)


def trained(tmp_path):
    model = tiny()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98))
    model(torch.randint(0, 5, (2, 10))).sum().backward()
    opt.step()
    gen = torch.Generator().manual_seed(3)
    save_checkpoint(tmp_path / "ck", model, TASK, meta={"steps": 1}, optimizer=opt,
                    rng={"torch": gen.get_state(), "numpy": {"state": 2**100}})
    return model, opt, gen


def test_round_trip(tmp_path):
    model, opt, gen = trained(tmp_path)
    ck = load_checkpoint(tmp_path / "ck")
    assert not ck.agent.training and ck.task == TASK and ck.meta["steps"] == 1
    assert ck.agent.agent_spec == model.agent_spec
    for (name, a), b in zip(model.state_dict().items(), ck.agent.state_dict().values()):
        assert torch.equal(a, b), name
    opt2 = torch.optim.AdamW(ck.agent.parameters(), lr=1e-3)
    opt2.load_state_dict(ck.optimizer_state)
    for s1, s2 in zip(opt.state_dict()["state"].values(), opt2.state_dict()["state"].values()):
        for k in s1:
            assert torch.equal(s1[k], s2[k]), (k, s1[k], s2[k])
    assert opt2.param_groups[0]["betas"] == (0.9, 0.98)
    assert torch.equal(ck.rng["torch"], gen.get_state()) and ck.rng["numpy"] == {"state": 2**100}
    assert ck.agent(torch.zeros(1, 10, dtype=torch.long)).shape == (1, 10, 3)


def test_overwrite_is_atomic_and_leaves_no_temporaries(tmp_path):
    model, opt, _ = trained(tmp_path)
    save_checkpoint(tmp_path / "ck", model, TASK, meta={"steps": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]
    ck = load_checkpoint(tmp_path / "ck")
    assert ck.meta["steps"] == 2 and ck.optimizer_state is None


def test_run_directory_resolves_to_its_checkpoint(tmp_path):
    model, _, _ = trained(tmp_path)
    save_checkpoint(tmp_path / "run" / "checkpoint", model, TASK)
    assert load_checkpoint(tmp_path / "run").path == tmp_path / "run" / "checkpoint"


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: (d / "model.safetensors").write_bytes((d / "model.safetensors").read_bytes()[:300]), "truncated"),
        (lambda d: (d / "model.safetensors").unlink(), "model.safetensors is missing"),
        (lambda d: (d / "config.json").write_text("{not json"), "config.json: not readable JSON"),
        (lambda d: (d / "optimizer.safetensors").write_bytes(b"garbage"), "optimizer.safetensors"),
        (lambda d: _edit_config(d, lambda c: c["agent"]["config"].update(d_model=32)), "tensor .* has shape"),
        (lambda d: _edit_config(d, lambda c: c["agent"]["config"].update(n_layer=2)), "missing"),
        (lambda d: _edit_config(d, lambda c: c["agent"]["config"].update(n_head=4)), "does not compute what was saved"),
        (lambda d: _edit_config(d, lambda c: c["agent"]["config"].update(n_heads=4)), "rejected .*n_heads"),
        (lambda d: _edit_config(d, lambda c: c["agent"].update(name="lstm", factory=None)), "unknown agent 'lstm'"),
        (lambda d: _edit_config(d, lambda c: c["agent"].update(name="no.such:thing")),
         "cannot import module 'no.such'"),
        (lambda d: _edit_config(d, lambda c: c.update(format_version=99)), "format_version 99"),
        (lambda d: _edit_config(d, lambda c: c["task"]["config"].update(d=40)), "tensor .* has shape"),
        (lambda d: _edit_config(d, lambda c: c["task"]["config"].update(d=3)), "tensor .* has shape"),
        (lambda d: _edit_config(d, lambda c: c["task"]["config"].update(p_long=2)), "p_long"),
        (lambda d: _edit_config(d, lambda c: c["task"].update(name="sudoku")), "unknown task .sudoku."),
        (lambda d: _edit_config(d, lambda c: c.pop("agent")), "'agent' section"),
    ],
)
def test_broken_checkpoints_raise_clear_errors(tmp_path, damage, message):
    trained(tmp_path)
    damage(tmp_path / "ck")
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path / "ck")


def _edit_config(ckpt_dir, change):
    config = json.loads((ckpt_dir / "config.json").read_text())
    change(config)
    (ckpt_dir / "config.json").write_text(json.dumps(config))


def test_missing_checkpoint_and_pickle_like_inputs(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="is not a checkpoint"):
        load_checkpoint(tmp_path / "empty")


def test_non_finite_weights_are_never_saved_nor_loaded(tmp_path):
    model, _, _ = trained(tmp_path)
    with torch.no_grad():
        model.head.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite weights .*head.weight"):
        save_checkpoint(tmp_path / "ck", model, TASK)
    assert load_checkpoint(tmp_path / "ck").meta["steps"] == 1  # the last good checkpoint stays
    from safetensors.torch import load_file, save_file

    state = load_file(str(tmp_path / "ck" / "model.safetensors"))
    state["head.bias"][0] = float("inf")
    save_file(state, str(tmp_path / "ck" / "model.safetensors"), metadata={"aliases": "{}"})
    with pytest.raises(CheckpointError, match="non-finite weights in head.bias"):
        load_checkpoint(tmp_path / "ck")


def test_tied_weights_round_trip(tmp_path):
    class Tied(torch.nn.Module):  # input embedding and output head share one matrix
        def __init__(self, task):
            super().__init__()
            self.emb = torch.nn.Embedding(task.vocab_size, task.n_actions)
            self.head = torch.nn.Linear(task.n_actions, task.vocab_size, bias=False)
            self.head.weight = self.emb.weight

        def forward(self, tokens):
            return self.emb(tokens).cumsum(1)

    from agents import register_agent

    register_agent("tied_test", Tied)
    agent = make_agent("tied_test", TASK)
    save_checkpoint(tmp_path / "ck", agent, TASK)
    loaded = load_checkpoint(tmp_path / "ck").agent
    assert loaded.head.weight is loaded.emb.weight and torch.equal(loaded.emb.weight, agent.emb.weight)


def test_an_agent_not_built_by_make_agent_cannot_be_saved(tmp_path):
    with pytest.raises(AgentError, match="not built by agents.make_agent"):
        save_checkpoint(tmp_path / "ck", torch.nn.Linear(2, 3), TASK)
    assert not (tmp_path / "ck").exists()


def test_bad_meta_is_refused_before_writing(tmp_path):
    model = tiny()
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(tmp_path / "ck", model, TASK, meta={"task": 1})
    with pytest.raises(TypeError):
        save_checkpoint(tmp_path / "ck", model, TASK, meta={"x": object()})
    assert not (tmp_path / "ck").exists()


def test_a_checkpoint_records_its_task_and_older_ones_load_as_parity(tmp_path):
    trained(tmp_path)
    config = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert config["format_version"] == 3 and config["task"]["name"] == "parity"
    expected = load_checkpoint(tmp_path / "ck").task
    _edit_config(tmp_path / "ck", lambda c: c.update(task=c["task"]["config"], format_version=2))  # as before names
    assert load_checkpoint(tmp_path / "ck").task == expected
