"""The GPT, its KV cache and batched generation: the cache equals recomputation, rows stop at their own EOS."""

import pytest
import torch

from agents.models.generate import generate, response_logprobs
from agents.models.gpt import GPT, GPTConfig, make_gpt
from parity_env import Task
from parity_env.parity.protocol import EOS, PAD, VOCAB_SIZE

TASK = Task(d=7, max_response_len=12)  # prompts of 8 tokens, 20 in all


def tiny(positional="learned", eos_bias=0.0):
    torch.manual_seed(0)
    model = make_gpt(TASK, n_layer=2, n_head=2, d_model=32, positional=positional).eval()
    with torch.no_grad():
        model.head.bias[EOS] = eos_bias  # > 0 makes rows stop at different steps
    return model


@pytest.mark.parametrize("positional", ["learned", "rotary"])
def test_kv_cache_equals_recomputation(positional):
    model = tiny(positional)
    tokens = torch.randint(0, VOCAB_SIZE, (3, 20))
    full = model(tokens)  # (3, 20, 3)
    cache = model.new_cache(3)
    steps = [model(tokens[:, :7], cache), model(tokens[:, 7:12], cache)]  # a prefill, then a chunk after it
    steps += [model(tokens[:, t : t + 1], cache) for t in range(12, 20)]  # then one token at a time
    torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("positional", ["learned", "rotary"])
@pytest.mark.parametrize("n_layer", [1, 2])
def test_logits_from_equals_the_tail_of_the_full_pass(positional, n_layer):
    torch.manual_seed(n_layer)
    model = GPT(GPTConfig(block_size=20, vocab_size=5, n_actions=3, n_layer=n_layer, n_head=2, d_model=32,
                          positional=positional)).eval()
    tokens = torch.randint(0, VOCAB_SIZE, (3, 20))
    full = model(tokens)  # (3, 20, 3)
    for start in (1, 9, 19, -1, -4):
        torch.testing.assert_close(model(tokens, logits_from=start), full[:, start:], atol=1e-5, rtol=1e-5)
    cache = model.new_cache(3)  # with a cache: a prefill whose last logits only are wanted, then a chunk after it
    torch.testing.assert_close(model(tokens[:, :7], cache, logits_from=-1), full[:, 6:7], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model(tokens[:, 7:15], cache, logits_from=3), full[:, 10:15], atol=1e-5, rtol=1e-5)
    assert cache.pos == 15


def test_logits_from_gradients_equal_the_full_pass():
    model = tiny().train()
    tokens = torch.randint(0, VOCAB_SIZE, (4, 20))
    grads = []
    for out in (lambda: model(tokens)[:, 12:], lambda: model(tokens, logits_from=12)):
        model.zero_grad()
        out().square().sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[0], grads[1], atol=1e-5, rtol=1e-4)


def test_forward_flops_counts_the_skipped_positions():
    model = tiny()  # 2 blocks, C = 32
    c = 32
    full = model.forward_flops(20)
    assert full > model.forward_flops(20, logits_from=10) > model.forward_flops(20, logits_from=19)
    attention = 4 * c * sum(range(1, 21))
    assert full == 2 * (20 * 24 * c * c + attention) + 20 * 2 * c * 3  # two full blocks and the head
    # the last block without queries at 0..9: their MLP, projection and query (20 C^2 each), the scores they'd see
    assert full - model.forward_flops(20, logits_from=10) == 10 * 20 * c * c + 4 * c * sum(range(1, 11)) + 10 * 6 * c


@pytest.mark.parametrize("bad", [20, -21, 1.0, True, None])
def test_bad_logits_from_is_refused(bad):
    with pytest.raises(ValueError, match="logits_from"):
        tiny()(torch.zeros(1, 20, dtype=torch.long), logits_from=bad)


def test_context_longer_than_block_size_is_refused():
    with pytest.raises(ValueError, match="block_size"):
        tiny()(torch.zeros(1, 21, dtype=torch.long))


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_generation_stops_per_row_and_cache_matches_recomputation(temperature):
    model = tiny(eos_bias=1.0)
    prompts = torch.randint(0, 2, (64, 8))
    runs = [generate(model, TASK, prompts, temperature, torch.Generator().manual_seed(5), incremental=c)
            for c in (True, False)]
    cached, plain = runs
    assert torch.equal(cached.tokens, plain.tokens)
    torch.testing.assert_close(cached.logprobs, plain.logprobs, atol=1e-5, rtol=1e-5)
    g = cached
    lengths = g.lengths.tolist()
    if temperature:
        assert len(set(lengths)) > 1, "the test needs rows that stop at different steps"
    for row, n, fin in zip(g.tokens.tolist(), lengths, g.finished.tolist()):
        assert all(t != PAD for t in row[:n]) and all(t == PAD for t in row[n:])
        assert fin == (EOS in row) and (not fin or row.index(EOS) == n - 1)
    assert torch.equal(g.answer_lengths, g.lengths - g.finished.long())
    assert (g.logprobs[g.tokens == PAD] == 0).all() and (g.logprobs[g.tokens != PAD] <= 0).all()


def test_generation_logprobs_match_one_pass_scoring():
    model = tiny(eos_bias=1.0)
    prompts = torch.randint(0, 2, (32, 8))
    g = generate(model, TASK, prompts, 1.0, torch.Generator().manual_seed(1))
    sequences = torch.cat([prompts, g.tokens], 1)  # (B, 20)
    mask = torch.cat([torch.zeros_like(prompts, dtype=torch.bool), g.tokens != PAD], 1)
    torch.testing.assert_close(response_logprobs(model, sequences, mask)[:, 8:], g.logprobs, atol=1e-5, rtol=1e-5)
    skipped = response_logprobs(model, sequences, mask, prompt_len=8)  # the prompt's outputs skipped: same values
    torch.testing.assert_close(skipped, response_logprobs(model, sequences, mask), atol=1e-5, rtol=1e-5)


def test_eos_disabled_emits_every_token():
    g = generate(tiny(eos_bias=5.0), TASK, torch.randint(0, 2, (16, 8)), 1.0, torch.Generator().manual_seed(0),
                 allow_eos=False)
    assert (g.lengths == 12).all() and not g.finished.any() and not (g.tokens == EOS).any()


def test_make_gpt_takes_the_task_vocabulary_and_rejects_unknown_keys():
    agent = make_gpt(TASK, d_model=16, n_head=2)
    assert agent.cfg.vocab_size == TASK.vocab_size and agent.cfg.n_actions == TASK.n_actions
    assert agent.cfg.block_size == TASK.seq_len and agent.cfg.n_layer == 1  # the recipe's default
    with pytest.raises(TypeError, match="unexpected keys \\['vocab_size'\\]"):
        make_gpt(TASK, vocab_size=7)
    with pytest.raises(TypeError, match="n_layers"):
        make_gpt(TASK, n_layers=2)
