"""The GPT, its KV cache and batched generation: the cache equals recomputation, rows stop at their own EOS."""

import pytest
import torch

from agents.generate import generate, response_logprobs
from agents.model import GPT, GPTConfig
from parity_env.protocol import EOS, PAD, VOCAB_SIZE


def tiny(positional="learned", block_size=20, eos_bias=0.0):
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=block_size, n_layer=2, n_head=2, d_model=32, positional=positional)).eval()
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


def test_context_longer_than_block_size_is_refused():
    with pytest.raises(ValueError, match="block_size"):
        tiny()(torch.zeros(1, 21, dtype=torch.long))


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_generation_stops_per_row_and_cache_matches_recomputation(temperature):
    model = tiny(eos_bias=1.0)
    prompts = torch.randint(0, 2, (64, 8))
    runs = [generate(model, prompts, 12, temperature, torch.Generator().manual_seed(5), use_cache=c) for c in (1, 0)]
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
    g = generate(model, prompts, 12, 1.0, torch.Generator().manual_seed(1))
    sequences = torch.cat([prompts, g.tokens], 1)  # (B, 20)
    mask = torch.cat([torch.zeros_like(prompts, dtype=torch.bool), g.tokens != PAD], 1)
    torch.testing.assert_close(response_logprobs(model, sequences, mask)[:, 8:], g.logprobs, atol=1e-5, rtol=1e-5)


def test_eos_disabled_emits_every_token():
    g = generate(tiny(eos_bias=5.0), torch.randint(0, 2, (16, 8)), 12, 1.0, torch.Generator().manual_seed(0),
                 allow_eos=False)
    assert (g.lengths == 12).all() and not g.finished.any() and not (g.tokens == EOS).any()
