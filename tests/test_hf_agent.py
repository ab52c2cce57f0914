"""The ``hf`` agent: Hugging Face causal LMs built from configs (or a local save_pretrained directory) keep
the agent contract, ``logits_from`` and cached decoding agree with the full pass, and bad configs are refused by name.

Nothing is downloaded: every model is a tiny one built from its config.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: never reach the hub

import pytest  # noqa: E402

pytest.importorskip("transformers")

import subprocess  # noqa: E402
import sys  # noqa: E402

import torch  # noqa: E402

from agents.models.agent import AgentError, check_agent, is_incremental, make_decoder, takes_logits_from  # noqa: E402
from agents.models.registry import make_agent  # noqa: E402
from parity_env import Task  # noqa: E402

TINY = {
    "llama": dict(model_type="llama", hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                  num_key_value_heads=2, max_position_embeddings=64),
    "gpt2": dict(model_type="gpt2", n_embd=32, n_layer=2, n_head=2, n_positions=64),
}
TASK = Task(d=6)


def build(kind: str, task: Task = TASK, seed: int = 0):
    torch.manual_seed(seed)
    return make_agent("hf", task, **TINY[kind])


def demonstrations(n: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(TASK.sample_demonstrations(n, seed=seed)[0])  # (n, seq_len) int64


@pytest.mark.parametrize("kind", sorted(TINY))
def test_contract_and_shape(kind):
    agent = build(kind)
    check_agent(agent, TASK)
    assert agent.agent_spec.name == "hf" and agent.agent_spec.config == TINY[kind]
    assert is_incremental(agent) and takes_logits_from(agent)
    assert agent.n_actions == TASK.n_actions == 3
    assert agent.num_parameters() == sum(p.numel() for p in agent.parameters()) > 0
    cfg = agent.model.config
    assert (cfg.vocab_size, cfg.eos_token_id, cfg.pad_token_id, cfg.bos_token_id) == (5, TASK.eos, TASK.pad, TASK.eos)
    assert cfg._attn_implementation == "sdpa"
    assert all(p.dtype == torch.float32 for p in agent.parameters())
    tokens = demonstrations(4)
    logits = agent(tokens)
    assert logits.shape == (4, TASK.seq_len, 3) and logits.dtype == torch.float32
    assert torch.isfinite(logits).all()
    full = agent.model(input_ids=tokens).logits  # the whole vocabulary: the agent's logits are its first 3 tokens
    torch.testing.assert_close(logits, full[..., :3])
    assert agent(tokens.to(torch.uint8)).shape == logits.shape  # any integer dtype
    logits.sum().backward()  # trainable end to end
    assert all(p.grad is not None for p in agent.parameters())


def test_gpt2_dropout_is_off_and_aliases_are_accepted():
    agent = build("gpt2")
    cfg = agent.model.config
    assert (cfg.resid_pdrop, cfg.embd_pdrop, cfg.attn_pdrop) == (0.0, 0.0, 0.0)
    tokens = demonstrations(3)
    agent.train()
    torch.testing.assert_close(agent(tokens), agent(tokens))  # no dropout: training mode is deterministic
    # hidden_size and friends are GPT-2's attribute_map aliases of n_embd ...; a dropout given is kept
    alias = make_agent("hf", TASK, model_type="gpt2", hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       max_position_embeddings=64, resid_pdrop=0.1)
    assert (alias.model.config.n_embd, alias.model.config.n_layer, alias.model.config.resid_pdrop) == (32, 2, 0.1)
    # rope_theta is a legacy llama key its config consumes (into rope_parameters): accepted, unlike for GPT-2
    llama = make_agent("hf", TASK, **TINY["llama"], rope_theta=500.0, attn_implementation="eager")
    assert llama.model.config.rope_parameters["rope_theta"] == 500.0
    assert llama.model.config._attn_implementation == "eager"


@pytest.mark.parametrize("kind", sorted(TINY))
def test_logits_from(kind):
    agent = build(kind).eval()
    tokens = demonstrations(3)
    T = tokens.shape[1]
    with torch.no_grad():
        full = agent(tokens)
        for k in (0, 1, TASK.prompt_len, T - 1, -1, -5, -T):
            part = agent(tokens, logits_from=k)
            assert part.shape == (3, T - k % T, 3)
            torch.testing.assert_close(part, full[:, k:], atol=1e-5, rtol=1e-5)
    for bad in (T, -T - 1, 1.0, True):
        with pytest.raises(ValueError, match="logits_from"):
            agent(tokens, logits_from=bad)
    with pytest.raises(TypeError, match="integer"):
        agent(tokens.float())


@pytest.mark.parametrize("kind", sorted(TINY))
def test_decoding_matches_recompute(kind):
    agent = build(kind).eval()
    tokens = demonstrations(6, seed=3)  # teacher-forced continuations: the demonstrations' own tokens
    prompts = tokens[:, : TASK.prompt_len]
    with torch.no_grad():
        cached, recomputed = make_decoder(agent, prompts), make_decoder(agent, prompts, incremental=False)
        assert type(cached).__name__ == "StateDecoder" and type(recomputed).__name__ == "RecomputeDecoder"
        assert cached.logits.shape == (6, 3)
        torch.testing.assert_close(cached.logits, recomputed.logits, atol=1e-4, rtol=0)
        rows = torch.arange(6)  # the demonstration row of each kept decoder row
        drops = {TASK.prompt_len + 1: [1, 4], TASK.prompt_len + 3: [0]}  # step -> positions (in the kept rows) to drop
        for t in range(TASK.prompt_len, TASK.seq_len):
            if t in drops:
                mask = torch.ones(len(rows), dtype=torch.bool)
                mask[drops[t]] = False
                cached.keep(mask)
                recomputed.keep(mask)
                rows = rows[mask]
                torch.testing.assert_close(cached.logits, recomputed.logits, atol=1e-4, rtol=0)
            step = tokens[rows, t]
            a, b = cached.step(step), recomputed.step(step)
            assert a.shape == (len(rows), 3)
            torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
        assert rows.tolist() == [2, 3, 5] and cached.length == TASK.seq_len
        # and against the one full pass over the whole demonstrations
        torch.testing.assert_close(cached.logits, agent(tokens)[rows, -1], atol=1e-4, rtol=0)


def test_state_is_a_dynamic_cache_selected_in_place():
    from transformers import DynamicCache

    agent = build("llama").eval()
    tokens = demonstrations(4)
    state = agent.new_state(4)
    assert isinstance(state, DynamicCache) and state.get_seq_length() == 0
    with torch.no_grad():
        logits, state2 = agent.decode(tokens[:, :5], state)
        assert logits.shape == (4, 3) and state2 is state and state.get_seq_length() == 5
        kept = agent.select_state(state, torch.tensor([3, 0]))
        assert kept is state and state.layers[0].keys.shape[0] == 2
        logits, _ = agent.decode(tokens[[3, 0], 5:6], state)
        torch.testing.assert_close(logits, agent(tokens[[3, 0], :6])[:, -1], atol=1e-4, rtol=0)


def test_tied_weights_round_trip_through_a_checkpoint(tmp_path):
    from agents.run.checkpoint import load_checkpoint, save_checkpoint

    agent = build("gpt2")  # GPT-2 ties lm_head to the token embeddings
    assert agent.model.lm_head.weight is agent.model.transformer.wte.weight
    save_checkpoint(tmp_path / "ck", agent, TASK)
    loaded = load_checkpoint(tmp_path / "ck").agent
    assert loaded.model.lm_head.weight is loaded.model.transformer.wte.weight
    tokens = demonstrations(2)
    torch.testing.assert_close(loaded(tokens), agent(tokens))


def test_path_loads_a_saved_model(tmp_path):
    agent = build("llama").eval()
    directory = tmp_path / "tiny-llama"
    agent.model.save_pretrained(directory)
    loaded = make_agent("hf", TASK, path=str(directory)).eval()
    assert loaded.agent_spec.config == {"path": str(directory)}
    tokens = demonstrations(3)
    with torch.no_grad():
        torch.testing.assert_close(loaded(tokens), agent(tokens), atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(make_decoder(loaded, tokens[:, :9]).logits, agent(tokens[:, :9])[:, -1],
                                   atol=1e-4, rtol=0)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())


def test_path_with_too_small_a_vocabulary(tmp_path):
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.for_model("llama", vocab_size=4, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=32)
    AutoModelForCausalLM.from_config(cfg).save_pretrained(tmp_path / "small")
    with pytest.raises(AgentError, match=r"vocab_size is 4.*at least 5"):
        make_agent("hf", TASK, path=str(tmp_path / "small"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(AgentError, match="config.json"):
        make_agent("hf", TASK, path=str(tmp_path / "empty"))


@pytest.mark.parametrize("config, message", [
    (dict(model_type="no_such_model"), r"unknown model_type 'no_such_model'"),
    (dict(model_type="lama"), r"unknown model_type 'lama'.*did you mean llama"),
    (dict(model_type="t5"), r"'t5' has no causal-LM"),
    (dict(TINY["llama"], hiden_size=32), r"unknown llama config keys \['hiden_size'\].*did you mean 'hidden_size'"),
    (dict(TINY["gpt2"], rope_theta=10.0), r"unknown gpt2 config keys \['rope_theta'\]"),
    (dict(TINY["llama"], path="/tmp"), r"give model_type .* or path .*not both"),
    ({}, r"give model_type \(a fresh model from a config\) or path \(a local directory\)"),
    (dict(hidden_size=32), r"give model_type"),
    (dict(path="/no/such/dir/for/hf"), r"path '/no/such/dir/for/hf' does not exist"),
    (dict(path="/tmp", hidden_size=32), r"no other config keys.*\['hidden_size'\]"),
    (dict(TINY["llama"], hidden_size=30, num_attention_heads=4), r"hidden size \(30\) is not a multiple"),
    (dict(TINY["llama"], vocab_size=3), r"vocab_size must be at least the task's 5"),
    (dict(TINY["gpt2"], n_positions=8), r"at most 8 positions.*14 tokens"),
    (dict(TINY["llama"], dtype="bfloat16"), r"float32"),
    (dict(model_type=3), r"model_type must be a string"),
])
def test_bad_configs_name_the_problem(config, message):
    with pytest.raises(AgentError, match=message):
        make_agent("hf", TASK, **config)


def test_core_modules_do_not_import_transformers():
    code = ("import sys, agents, agents.models.agent, agents.models.registry, agents.models.gpt, parity_env; "
            "assert 'transformers' not in sys.modules, 'transformers was imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
