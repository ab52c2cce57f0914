"""The TorchRL collection policy: same episodes as bare cached generation, log-probs equal to one-pass scoring."""

from functools import partial

import pytest
import torch
import torch.nn.functional as F
from tensordict import TensorDict
from tensordict.nn import TensorDictModuleBase
from torchrl.collectors import Collector, MultiSyncCollector
from torchrl.envs.utils import ExplorationType, set_exploration_type

from agents import make_agent
from agents.models.agent import INCREMENTAL
from agents.models.generate import generate, response_logprobs, sample_logits
from agents.rl import EpisodeCollector, collection_policy, sequence_actor
from parity_env import Task
from parity_env.parity.torch_env import ParityCoTTorchEnv

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


class StatelessPolicy(TensorDictModuleBase):
    """The reference: re-reads each row's whole context every step (no state at all), samples like the Sampler (one
    draw per running row, in batch order, from the same generator)."""

    in_keys = ["tokens", "response_length", "done"]
    out_keys = ["action", "token_log_prob", "entropy"]

    def __init__(self, agent, temperature, generator):
        super().__init__()
        self.agent, self.temperature, self.generator = agent, temperature, generator

    @torch.no_grad()
    def forward(self, td):
        tokens, length, done = td["tokens"].long(), td["response_length"], td["done"].reshape(-1)
        B = tokens.shape[0]
        logits = self.agent(tokens)[torch.arange(B), TASK.prompt_len + length - 1]  # (B, A): the next token's
        live = (~done).nonzero().squeeze(1)
        action, log_prob = torch.zeros(B, dtype=torch.long), torch.zeros(B)
        action[live], log_prob[live], _ = sample_logits(logits[live], self.temperature, self.generator)
        td.update({"action": action, "token_log_prob": log_prob, "entropy": torch.zeros(B)})
        return td


def collected(collector) -> TensorDict:
    try:
        return torch.cat([batch.reshape(-1) for batch in collector])
    finally:
        collector.shutdown()


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_the_policy_is_right_under_a_torchrl_collector(temperature):
    """TorchRL's Collector resets rows as they finish (autoreset), so rows are at different positions: the cached
    policy must act exactly as a policy that re-reads every row's context (identical actions and log-probabilities,
    the same generator drawing in the same order)."""
    model = tiny_model(3)
    runs = []
    for policy in (collection_policy(model, TASK, temperature, torch.Generator().manual_seed(5)),
                   StatelessPolicy(model, temperature, torch.Generator().manual_seed(5))):
        env = ParityCoTTorchEnv(d=D, batch_size=[16], seed=3)
        runs.append(collected(Collector(env, policy, frames_per_batch=16 * 20, total_frames=16 * 60,
                                             auto_register_policy_transforms=False)))
    cached, stateless = runs
    length = cached["response_length"]
    assert length.unique().numel() > 3 and (length == 0).any()  # rows really are at many positions
    assert torch.equal(cached["action"], stateless["action"])
    torch.testing.assert_close(cached["token_log_prob"], stateless["token_log_prob"], atol=1e-5, rtol=0)


def test_deterministic_exploration_decodes_greedily():
    model = tiny_model(4)
    env = ParityCoTTorchEnv(d=D, batch_size=[8], seed=1)
    with set_exploration_type(ExplorationType.DETERMINISTIC):
        rollout = env.rollout(D + 1, collection_policy(model, TASK, 1.0, torch.Generator().manual_seed(0)),
                              break_when_any_done=False, break_when_all_done=True)
    greedy = generate(model, TASK, rollout[:, 0]["tokens"][:, : TASK.prompt_len], temperature=0.0)
    assert torch.equal(rollout[:, -1]["next", "tokens"][:, TASK.prompt_len :].long(), greedy.tokens)


def test_multi_sync_collector_workers_act_as_the_stateless_policy():
    """Each worker process holds its own copy of the policy (and its cohorts): greedy actions as the reference's."""
    model = tiny_model(5)
    make = [partial(ParityCoTTorchEnv, d=D, batch_size=[8], seed=s) for s in (1, 2)]
    runs = [collected(MultiSyncCollector(make, policy, frames_per_batch=8 * 2 * 10, total_frames=8 * 2 * 20))
            for policy in (collection_policy(model, TASK, 0.0), StatelessPolicy(model, 0.0, None))]
    assert runs[0]["response_length"].unique().numel() > 3
    assert torch.equal(runs[0]["action"], runs[1]["action"])


def test_a_row_the_policy_did_not_see_advance_is_decoded_from_its_context():
    """Out of step with the env (as if the env had stepped a row without the policy): that row is prefilled from its
    whole context, so its logits are the recomputing policy's, not a stale cache's."""
    model = tiny_model()
    env = ParityCoTTorchEnv(d=D, batch_size=[4], seed=0)
    policy = collection_policy(model, TASK, 0.0)
    td = env.step(policy(env.reset()))["next"]
    td = env.step(policy(td))["next"]  # two tokens emitted by every row
    td["tokens"][0, TASK.prompt_len + 1] = 1 - td["tokens"][0, TASK.prompt_len + 1]  # row 0's context changed
    reference = StatelessPolicy(model, 0.0, None)(td.clone())
    torch.testing.assert_close(policy(td)["token_log_prob"], reference["token_log_prob"], atol=1e-5, rtol=0)


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
