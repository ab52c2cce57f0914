"""The TorchRL collection policy: same episodes as bare cached generation, log-probs equal to one-pass scoring."""

import pytest
import torch
import torch.nn.functional as F

from agents.generate import generate, response_logprobs
from agents.model import GPT, GPTConfig
from agents.rl import EpisodeCollector, collection_policy, sequence_actor
from parity_env.torch_env import ParityCoTTorchEnv

D = 6


def tiny_model(seed=0, d=D):
    torch.manual_seed(seed)
    return GPT(GPTConfig(block_size=2 * d + 2, d_model=32, n_head=2)).eval()


@pytest.mark.parametrize("temperature", [1.0, 0.7, 1.5])
@pytest.mark.parametrize("group_size", [1, 4])
def test_collection_equals_generate(temperature, group_size):
    model = tiny_model()
    env = ParityCoTTorchEnv(d=D, batch_size=[32], seed=3, group_size=group_size)
    collector = EpisodeCollector(env, model, D, D + 1, temperature, torch.Generator().manual_seed(7))
    for _ in range(3):  # consecutive batches reuse the policy and its cache
        state = collector.policy.module.generator.get_state()
        episodes = collector.collect()
        gen = generate(model, episodes["prompt"], D + 1, temperature, torch.Generator().set_state(state))
        assert torch.equal(episodes["action"], gen.tokens)
        assert torch.allclose(episodes["sample_log_prob"], gen.logprobs, atol=1e-6)
        assert torch.equal(episodes["response_mask"].sum(-1), gen.lengths)
        assert torch.equal(episodes["finished"], gen.finished)
        assert torch.equal(episodes["answer_length"], gen.answer_lengths)
    if group_size > 1:
        ids = episodes["prompt_id"].reshape(-1, group_size)
        assert (ids == ids[:, :1]).all()


def test_rewards_match_the_verifier():
    model = tiny_model()
    env = ParityCoTTorchEnv(d=D, batch_size=[64], seed=0)
    episodes = EpisodeCollector(env, model, D, D + 1, 1.0, torch.Generator().manual_seed(0)).collect()
    bits = episodes["prompt"][:, :D]
    parity = bits.sum(-1) % 2
    length = episodes["answer_length"]
    last = episodes["action"].gather(1, (length - 1).clamp(min=0)[:, None]).squeeze(1)
    expected = episodes["finished"] & (length >= 1) & (last == parity)
    assert torch.equal(episodes["is_correct"], expected)
    assert torch.equal(episodes["reward"].squeeze(-1), expected.float())


def test_cached_logprobs_equal_one_pass_scoring():
    model = tiny_model(1)
    env = ParityCoTTorchEnv(d=D, batch_size=[32], seed=1)
    episodes = EpisodeCollector(env, model, D, D + 1, 0.8, torch.Generator().manual_seed(1)).collect()
    mask = episodes["response_mask"]
    token_actor = sequence_actor(model, D, temperature=0.8)
    logp = token_actor.get_dist(episodes).log_prob(episodes["action"])  # (B, R)
    assert torch.allclose(logp, episodes["sample_log_prob"], atol=1e-5)
    seq_actor = sequence_actor(model, D, temperature=0.8, per_sequence=True)
    seq_logp = seq_actor.get_dist(episodes).log_prob(episodes["action"])  # (B,)
    assert torch.allclose(seq_logp, episodes["sequence_log_prob"], atol=1e-5)
    full = response_logprobs(model, episodes["tokens"], F.pad(mask, (D + 1, 0)), 0.8)[:, D + 1 :]
    assert torch.allclose(full, episodes["sample_log_prob"], atol=1e-5)


def test_policy_out_of_step_is_an_error():
    model = tiny_model()
    env = ParityCoTTorchEnv(d=D, batch_size=[4], seed=0)
    policy = collection_policy(model, D)
    td = env.reset()
    td = env.step(policy(td))["next"]
    td["response_length"] = td["response_length"] + 1  # as if the env had stepped twice
    with pytest.raises(RuntimeError, match="out of step"):
        policy(td)


@pytest.mark.parametrize("reward", ["answer", "cot"])
def test_collect_equals_env_rollout(reward):
    """The collector's own loop (env.step with TorchRL's partial-step mask) gives what env.rollout gives."""
    model = tiny_model(2)
    envs = [ParityCoTTorchEnv(d=D, batch_size=[48], reward=reward, seed=3) for _ in range(2)]
    episodes = EpisodeCollector(envs[0], model, D, D + 1, 1.0, torch.Generator().manual_seed(2)).collect()
    policy = collection_policy(model, D, 1.0, torch.Generator().manual_seed(2))
    rollout = envs[1].rollout(D + 1, policy, break_when_any_done=False, break_when_all_done=True)  # (B, T)
    last = rollout[:, -1]["next"]  # rollout keeps a finished row's last step
    assert torch.equal(episodes["tokens"], last["tokens"].long())
    assert torch.equal(episodes["reward"], last["reward"]) and episodes["reward"].sum() > 0
    assert torch.equal(episodes["is_correct"], last["is_correct"])
    mask = episodes["response_mask"]
    per_step = F.pad(rollout["sample_log_prob"], (0, D + 1 - rollout.shape[1]))  # (B, R)
    torch.testing.assert_close(episodes["sample_log_prob"], torch.where(mask, per_step, 0.0))
