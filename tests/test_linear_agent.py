"""The linear agent: the contract, logits_from, incremental decoding, the chain is representable."""

import numpy as np
import pytest
import torch

from agents.models.agent import AgentError, RecomputeDecoder, StateDecoder, check_agent, make_decoder
from agents.models.linear import LinearAgent, make_linear
from agents.models.registry import make_agent
from parity_env import Task
from parity_env.parity.protocol import EOS, SEP, long_answer


def random_agent(task, seed=0):
    torch.manual_seed(seed)
    return make_linear(task, init_std=0.1).eval()


def test_make_agent_builds_it_and_it_keeps_the_contract():
    task = Task(d=6)
    agent = make_agent("linear", task)
    assert isinstance(agent, LinearAgent)
    check_agent(agent, task)
    tokens = torch.from_numpy(task.sample_demonstrations(5, seed=1)[0])  # (5, seq_len)
    logits = agent(tokens)
    assert logits.shape == (5, task.seq_len, 3) and logits.dtype == torch.float32
    assert torch.equal(logits, torch.zeros_like(logits))  # zero init: the uniform policy
    T, V, A = task.seq_len, task.vocab_size, task.n_actions
    assert agent.num_parameters() == T * V * T * V * A + T * A
    assert make_linear(Task(d=24)).num_parameters() == 187_650
    assert agent(tokens.to(torch.uint8)).shape == logits.shape  # any integer dtype


def test_init_std_draws_from_the_default_generator():
    task = Task(d=3)
    a, b = random_agent(task, seed=1), random_agent(task, seed=1)
    assert torch.equal(a.W, b.W) and a.W.std().item() == pytest.approx(0.1, rel=0.05)
    assert not torch.equal(a.W, random_agent(task, seed=2).W)


def test_logits_from_equals_the_tail_of_the_full_pass():
    task = Task(d=6)
    agent = random_agent(task)
    tokens = torch.randint(0, task.vocab_size, (4, task.seq_len))  # (4, T)
    full = agent(tokens)  # (4, T, 3)
    for k in (1, task.d, task.seq_len - 1, -1, -5):
        torch.testing.assert_close(agent(tokens, logits_from=k), full[:, k:], atol=1e-6, rtol=1e-6)
    short = tokens[:, :9]  # fewer tokens than block_size
    torch.testing.assert_close(agent(short), full[:, :9], atol=1e-6, rtol=1e-6)  # causal: later tokens unseen
    for bad in (task.seq_len, -task.seq_len - 1, 1.0, True):
        with pytest.raises(ValueError, match="logits_from"):
            agent(tokens, logits_from=bad)


def test_decode_equals_forward_at_every_position_also_after_select_state():
    task = Task(d=6)
    agent = random_agent(task)
    B, P, T = 5, task.prompt_len, task.seq_len
    tokens = torch.randint(0, task.vocab_size, (B, T))  # (B, T)
    full = agent(tokens)  # (B, T, 3)
    state = agent.new_state(B)
    logits, state = agent.decode(tokens[:, :P], state)  # prefill
    torch.testing.assert_close(logits, full[:, P - 1], atol=1e-5, rtol=1e-5)
    rows = torch.arange(B)
    for t in range(P, T):
        if t == P + 2:  # drop rows 1 and 3, reorder the rest
            keep = torch.tensor([4, 0, 2])
            state, rows = agent.select_state(state, keep), rows[keep]
        logits, state = agent.decode(tokens[rows, t : t + 1], state)  # (b, 3)
        torch.testing.assert_close(logits, full[rows, t], atol=1e-5, rtol=1e-5)
    assert state.pos == T
    with pytest.raises(ValueError, match="block_size"):
        agent.decode(tokens[rows, :1], state)


def test_state_decoder_matches_recompute_decoder():
    task = Task(d=6)
    agent = random_agent(task, seed=3)
    _, prompts = task.sample_prompts(6, np.random.default_rng(0))  # (6, P)
    fast, slow = make_decoder(agent, prompts), make_decoder(agent, prompts, incremental=False)
    assert isinstance(fast, StateDecoder) and isinstance(slow, RecomputeDecoder)
    torch.testing.assert_close(fast.logits, slow.logits, atol=1e-5, rtol=1e-5)
    gen = torch.Generator().manual_seed(0)
    for step in range(task.max_response_len - 1):
        if step == 3:
            mask = torch.tensor([True, False, True, True, False, True])
            fast.keep(mask), slow.keep(mask)
        token = torch.multinomial(fast.logits.softmax(-1), 1, generator=gen)[:, 0]  # (b,)
        torch.testing.assert_close(fast.step(token), slow.step(token), atol=1e-5, rtol=1e-5)
    assert fast.length == slow.length == task.seq_len - 1


def chain_weights(agent: LinearAgent, task: Task, big: float = 20.0) -> None:
    """Set the weights by hand so that greedy decoding writes the exact chain c_1 .. c_d, then EOS."""
    d, T, V, A = task.d, agent.cfg.block_size, task.vocab_size, task.n_actions
    W = torch.zeros(T, V, T, V, A)  # (t, tok_t, s, tok_s, a)
    for x in (0, 1):
        W[d, SEP, 0, x, x] = big  # position d (SEP): c_1 = x_1, the pair (SEP, x_1 at s = 0)
    for j in range(1, d):  # position d + j holds c_j: c_{j+1} = c_j xor x_{j+1}, the pair (c_j, x_{j+1} at s = j)
        for c in (0, 1):
            for x in (0, 1):
                W[d + j, c, j, x, c ^ x] = big
    bias = torch.zeros(T, A)
    bias[2 * d, EOS] = big  # position 2d holds c_d: then EOS
    with torch.no_grad():
        agent.W.copy_(W.reshape(-1, A))
        agent.bias.copy_(bias)


@pytest.mark.parametrize("incremental", [True, False])
def test_the_chain_is_linearly_representable(incremental):
    task = Task(d=8)
    agent = make_linear(task).eval()
    chain_weights(agent, task)
    bits, prompts = task.sample_prompts(64, np.random.default_rng(0))  # (64, d), (64, d + 1)
    decoder = make_decoder(agent, prompts, incremental=incremental)
    out = []
    with torch.no_grad():
        for _ in range(task.d + 1):
            token = decoder.logits.argmax(-1)  # (64,) greedy
            out.append(token)
            if len(out) <= task.d:
                decoder.step(token)
    responses = torch.stack(out, 1).numpy()  # (64, d + 1)
    expected = np.concatenate([long_answer(bits), np.full((64, 1), EOS)], axis=1)
    assert len({tuple(b) for b in bits}) > 1
    np.testing.assert_array_equal(responses, expected)


def test_bad_input_is_refused_with_its_name():
    task = Task(d=6)
    with pytest.raises(AgentError, match="block_size"):
        make_agent("linear", task, block_size=3)
    with pytest.raises(AgentError, match="block_size"):
        make_agent("linear", task, block_size="50")
    with pytest.raises(AgentError, match="init_std"):
        make_agent("linear", task, init_std=-1.0)
    with pytest.raises(AgentError, match="hidden"):
        make_agent("linear", task, hidden=4)
    agent = make_agent("linear", task, block_size=task.seq_len + 2)
    assert agent.cfg.block_size == task.seq_len + 2
    tokens = torch.zeros(2, task.seq_len, dtype=torch.long)
    with pytest.raises(TypeError, match="integer"):
        agent(tokens.float())
    with pytest.raises(TypeError, match="integer"):
        agent(tokens.bool())
    with pytest.raises(ValueError, match="block_size"):
        agent(torch.zeros(2, task.seq_len + 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        agent(tokens + 5)
    with pytest.raises(TypeError, match="integer"):
        agent.decode(tokens.float(), agent.new_state(2))
