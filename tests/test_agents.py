"""Every agent through every stage: pretrain -> checkpoint -> evaluate -> finetune -> --resume on the command line,
agents by name and by import path, and the errors for agents that break the contract."""

import json

import pytest
import torch
from conftest import run_cli

from agents import AgentError, make_agent, register_agent
from agents.models.agent import StateDecoder, check_agent, make_decoder
from agents.run.checkpoint import load_checkpoint
from parity_env import Task

TASK = Task(d=4, p_long=0.5)
LLAMA = {"model_type": "llama", "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
         "num_key_value_heads": 2, "intermediate_size": 32, "max_position_embeddings": 32}
GPT2 = {"model_type": "gpt2", "n_embd": 16, "n_layer": 1, "n_head": 2, "n_positions": 32}
AGENTS = [
    ("gpt", {"n_head": 2, "d_model": 16}),
    ("linear", {}),
    pytest.param("hf", LLAMA, id="hf-llama"),
    pytest.param("hf", GPT2, id="hf-gpt2"),
    ("user_agents:make_gru", {"hidden": 16}),  # a user's factory, by its import path
]
FAST = ["--batch-size", "16", "--eval-n", "32", "--final-eval-n", "32", "--no-progress"]


TASKS = {  # the task flags of a tiny run of each shipped task
    "parity": ["--d", "4", "--p-long", "0.5"],
    "multiplication": ["--task", "multiplication", "--digits", "1", "--p-long", "0.5"],
}


def through_every_stage(task_flags: list[str], agent: list[str], tmp_path, capsys, algo: str = "reinforce") -> dict:
    """pretrain -> checkpoint -> evaluate -> finetune -> --resume -> evaluate on the command line; returns the last
    evaluation."""
    pre, rl = str(tmp_path / "pre"), str(tmp_path / "rl")
    code, out, err = run_cli(["pretrain", *task_flags, *agent, "--max-samples", "512", "--eval-every", "256",
                              "--eval-n", "16", "--check-n-long", "8", "--final-eval-n", "32", "--out", pre,
                              "--no-progress"], capsys)
    assert code == 0, err
    code, out, err = run_cli(["evaluate", pre, "--n", "32", "--json"], capsys)
    assert code == 0 and 0 <= json.loads(out)["greedy_accuracy"] <= 1, err
    algo_flags = ["--algo", algo, *(["--star-samples", "32"] if algo == "star" else [])]
    code, out, err = run_cli(["finetune", pre, "--out", rl, "--steps", "2", "--checkpoint-every", "1", *algo_flags,
                              *FAST], capsys)
    assert code == 0 and "after 2 steps" in out, err
    code, out, err = run_cli(["finetune", pre, "--out", rl, "--steps", "3", "--resume", "--no-progress"], capsys)
    assert code == 0 and "after 3 steps" in out, err
    steps = [json.loads(line)["step"] for line in (tmp_path / "rl" / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
    code, out, err = run_cli(["evaluate", rl, "--n", "32", "--json"], capsys)
    assert code == 0 and "greedy_chain_accuracy" in json.loads(out), err
    return json.loads(out)


@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("name, config", AGENTS)
def test_every_agent_through_every_stage(task, name, config, tmp_path, capsys):
    if name == "hf":
        pytest.importorskip("transformers")
    metrics = through_every_stage(TASKS[task], ["--agent", name, "--agent-config", json.dumps(config)], tmp_path,
                                  capsys)
    ckpt = load_checkpoint(tmp_path / "pre")
    assert ckpt.agent.agent_spec.name == name and ckpt.agent.agent_spec.config == config
    assert ckpt.task.to_dict()["name"] == task and (task != "parity" or ckpt.task == TASK)
    assert ("first_token_long_probability" in metrics) == (task == "multiplication")  # the task's own numbers


@pytest.mark.parametrize("algo", ["reinforce", "ppo", "grpo", "star"])
def test_every_algorithm_on_a_tiny_multiplication(algo, tmp_path, capsys):
    metrics = through_every_stage(TASKS["multiplication"], ["--d-model", "16", "--n-head", "2"], tmp_path, capsys, algo)
    assert 0 <= metrics["greedy_accuracy"] <= 1 and "first_token_long_probability" in metrics  # multiplication's own
    assert load_checkpoint(tmp_path / "rl").task.to_dict()["name"] == "multiplication"


def test_a_registered_name_and_the_checkpoint_that_names_it(tmp_path):
    from user_agents import make_gru

    register_agent("gru_test", make_gru)
    register_agent("gru_test", make_gru)  # the same factory again: fine
    with pytest.raises(AgentError, match="'gru_test' is taken"):
        register_agent("gru_test", lambda task: None)
    agent = make_agent("gru_test", TASK, hidden=8)
    assert agent.agent_spec.factory == "user_agents:make_gru"  # what a process without the name falls back on
    from agents.run.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "ck", agent, TASK)
    config = json.loads((tmp_path / "ck" / "config.json").read_text())
    config["agent"]["name"] = "gru_unregistered"  # as loaded by a process that never registered the name
    (tmp_path / "ck" / "config.json").write_text(json.dumps(config))
    loaded = load_checkpoint(tmp_path / "ck").agent
    assert isinstance(loaded, type(agent)) and torch.equal(loaded.head.weight, agent.head.weight)


def test_the_gru_decodes_incrementally_like_its_forward():
    agent = make_agent("user_agents:make_gru", TASK).eval()
    tokens = torch.randint(0, 2, (6, TASK.seq_len))
    decoder = make_decoder(agent, tokens[:, : TASK.prompt_len])
    assert isinstance(decoder, StateDecoder)
    full = agent(tokens)
    keep = torch.tensor([True, False, True, True, False, True])
    for t in range(TASK.prompt_len, TASK.seq_len):
        torch.testing.assert_close(decoder.logits, full[keep if t > TASK.prompt_len + 1 else slice(None), t - 1])
        if t == TASK.prompt_len + 1:
            decoder.keep(keep)
        rows = keep if t > TASK.prompt_len else slice(None)
        decoder.step(tokens[rows, t])


@pytest.mark.parametrize(
    "name, config, message",
    [
        ("lstm", {}, "unknown agent 'lstm'; known agents: gpt, .*linear"),
        ("nowhere.module:make", {}, "cannot import module 'nowhere.module'"),
        ("user_agents:no_such_factory", {}, "has no 'no_such_factory'"),
        ("gpt", {"n_layers": 2}, "agent 'gpt' rejected .*n_layers"),
        ("linear", {"width": 3}, "does not take \\['width'\\]; its config keys are: block_size, init_std"),
        ("gpt", {"d_model": {1, 2}}, "JSON-plain"),
        ("user_agents:make_int_logits", {}, "returned dtype torch.int64; expected floating-point logits"),
        ("user_agents:make_wrong_shape", {}, "failed on tokens of shape \\(2, 10\\) int64"),
        ("user_agents:make_half_interface", {}, "has \\['new_state', 'decode'\\] but not \\['select_state'\\]"),
        ("user_agents:make_not_a_module", {}, "returned str; expected a torch.nn.Module"),
    ],
)
def test_bad_agents_are_named_with_what_was_expected(name, config, message):
    with pytest.raises(AgentError, match=message):
        make_agent(name, TASK, **config)


def test_check_agent_on_bare_modules():
    with pytest.raises(AgentError, match="must be a torch.nn.Module"):
        check_agent(lambda tokens: tokens, TASK)

    class NoWeights(torch.nn.Module):
        def forward(self, tokens):
            return torch.zeros(*tokens.shape, 3)

    with pytest.raises(AgentError, match="has no parameters"):
        check_agent(NoWeights(), TASK)


def test_a_checkpoint_whose_agent_cannot_be_rebuilt(tmp_path, capsys):
    code, _, err = run_cli(["pretrain", "--agent", "linear", "--d", "4", "--p-long", "0.5", "--max-samples", "256",
                            "--eval-every", "256", "--final-eval-n", "0", "--out", str(tmp_path / "pre"),
                            "--no-progress"], capsys)
    assert code == 0, err
    config_file = tmp_path / "pre" / "checkpoint" / "config.json"
    config = json.loads(config_file.read_text())
    config["agent"] = {"name": "mine", "config": {}, "factory": None}
    config_file.write_text(json.dumps(config))
    pre, rl = str(tmp_path / "pre"), str(tmp_path / "rl")
    for argv in (["evaluate", pre], ["finetune", pre, "--out", rl]):
        code, _, err = run_cli(argv, capsys)
        assert code == 2 and "cannot rebuild its agent: unknown agent 'mine'" in err and "Traceback" not in err
    assert not (tmp_path / "rl").exists()
