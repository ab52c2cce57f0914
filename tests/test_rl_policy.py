"""The TorchRL collection policy: same episodes as bare cached generation, log-probs equal to one-pass scoring."""

import pytest
import torch
import torch.nn.functional as F

from agents import make_agent
from agents.agent import INCREMENTAL
from agents.generate import generate, response_logprobs
from agents.rl import EpisodeCollector, collection_policy, sequence_actor
from parity_env import Task
from parity_env.torch_env import ParityCoTTorchEnv

D = 6
TASK = Task(d=D)


def tiny_model(seed=0, name="gpt", **config):
    torch.manual_seed(seed)
    config = {"d_model": 32, "n_head": 2} if name == "gpt" and not config else config
    return make_agent(name, TASK, **config).eval()


class Recomputing(torch.nn.Module):
    """An agent with only forward: the same weights as ``inner``, without its incremental-decoding interface."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, tokens):
        return self.inner(tokens)


@pytest.mark.parametrize("temperature", [1.0, 0.7, 1.5])
@pytest.mark.parametrize("group_size", [1, 4])
def test_collection_equals_generate(temperature, group_size):
    model = tiny_model()
    env = ParityCoTTorchEnv(d=D, batch_size=[32], seed=3, group_size=group_size)
    collector = EpisodeCollector(env, model, TASK, temperature, torch.Generator().manual_seed(7))
    for _ in range(3):  # consecutive batches reuse the policy and its decoder
        state = collector.policy.module.generator.get_state()
        episodes = collector.collect()
        gen = generate(model, TASK, episodes["prompt"], temperature, torch.Generator().set_state(state))
        assert torch.equal(episodes["action"], gen.tokens)
        assert torch.allclose(episodes["token_log_prob"], gen.logprobs, atol=1e-6)
        assert torch.allclose(episodes["action_log_prob"], gen.logprobs.sum(-1), atol=1e-5)
        assert torch.equal(episodes["response_mask"].sum(-1), gen.lengths)
        assert torch.equal(episodes["finished"], gen.finished)
        assert torch.equal(episodes["answer_length"], gen.answer_lengths)
    if group_size > 1:
        ids = episodes["prompt_id"].reshape(-1, group_size)
        assert (ids == ids[:, :1]).all()


@pytest.mark.parametrize("name", ["gpt", "linear"])
def test_an_agent_without_incremental_decoding_collects_the_same_episodes(name):
    """Recomputation stands in for the incremental interface: identical tokens, equal log-probabilities."""
    model = tiny_model(0, name, **({} if name == "gpt" else {"init_std": 0.3}))
    plain = Recomputing(model)
    assert all(hasattr(model, m) for m in INCREMENTAL) and not any(hasattr(plain, m) for m in INCREMENTAL)
    runs = []
    for agent in (model, plain):
        env = ParityCoTTorchEnv(d=D, batch_size=[32], seed=3)
        runs.append(EpisodeCollector(env, agent, TASK, 1.0, torch.Generator().manual_seed(7)).collect())
    assert torch.equal(runs[0]["action"], runs[1]["action"]) and runs[0]["response_mask"].sum() > 32
    torch.testing.assert_close(runs[0]["token_log_prob"], runs[1]["token_log_prob"], atol=1e-5, rtol=1e-5)
    prompts = runs[0]["prompt"]
    for temperature in (0.0, 1.0):
        g1, g2 = (generate(a, TASK, prompts, temperature, torch.Generator().manual_seed(1)) for a in (model, plain))
        assert torch.equal(g1.tokens, g2.tokens)


def test_rewards_match_the_verifier():
    model = tiny_model()
    env = ParityCoTTorchEnv(d=D, batch_size=[64], seed=0)
    episodes = EpisodeCollector(env, model, TASK, 1.0, torch.Generator().manual_seed(0)).collect()
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
    episodes = EpisodeCollector(env, model, TASK, 0.8, torch.Generator().manual_seed(1)).collect()
    mask = episodes["response_mask"]
    token_actor = sequence_actor(model, TASK, temperature=0.8, per_token=True)
    logp = token_actor.get_dist(episodes).log_prob(episodes["action"])  # (B, R)
    assert torch.allclose(logp, episodes["token_log_prob"], atol=1e-5)
    seq_actor = sequence_actor(model, TASK, temperature=0.8)
    seq_logp = seq_actor.get_dist(episodes).log_prob(episodes["action"])  # (B,)
    assert torch.allclose(seq_logp, episodes["action_log_prob"], atol=1e-5)
    full = response_logprobs(model, episodes["tokens"], F.pad(mask, (D + 1, 0)), 0.8)[:, D + 1 :]
    assert torch.allclose(full, episodes["token_log_prob"], atol=1e-5)


def test_policy_out_of_step_is_an_error():
    model = tiny_model()
    env = ParityCoTTorchEnv(d=D, batch_size=[4], seed=0)
    policy = collection_policy(model, TASK)
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
    episodes = EpisodeCollector(envs[0], model, TASK, 1.0, torch.Generator().manual_seed(2)).collect()
    policy = collection_policy(model, TASK, 1.0, torch.Generator().manual_seed(2))
    rollout = envs[1].rollout(D + 1, policy, break_when_any_done=False, break_when_all_done=True)  # (B, T)
    last = rollout[:, -1]["next"]  # rollout keeps a finished row's last step
    assert torch.equal(episodes["tokens"], last["tokens"].long())
    assert torch.equal(episodes["reward"], last["reward"]) and episodes["reward"].sum() > 0
    assert torch.equal(episodes["is_correct"], last["is_correct"])
    mask = episodes["response_mask"]
    per_step = F.pad(rollout["token_log_prob"], (0, D + 1 - rollout.shape[1]))  # (B, R)
    torch.testing.assert_close(episodes["token_log_prob"], torch.where(mask, per_step, 0.0))
