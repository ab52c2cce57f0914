"""Each shipped algorithm: a few steps run, the loss is finite and gradients reach the agent; advantages."""

import importlib
from dataclasses import replace

import pytest
import torch
from torchrl.objectives.llm import MCAdvantage

from agents import make_agent
from agents.rl import ALGORITHMS, EpisodeCollector, FinetuneConfig, build_algorithm
from agents.rl.advantages import batch_mean_advantage, group_advantage
from parity_env import Task
from parity_env.parity.torch_env import ParityCoTTorchEnv

D = 6
TASK = Task(d=D)


def tiny(seed=0):
    torch.manual_seed(seed)
    return make_agent("gpt", TASK, d_model=32, n_head=2)


def episodes_for(model, group_size, kl, batch=32, seed=0):
    reference = tiny(seed=99).eval() if kl else None  # any other agent: the KL is then non-zero
    env = ParityCoTTorchEnv(task=TASK, batch_size=[batch], seed=seed, group_size=group_size)
    return EpisodeCollector(env, model, TASK, 1.0, torch.Generator().manual_seed(seed), reference).collect()


@pytest.mark.parametrize("algo", ALGORITHMS)
@pytest.mark.parametrize("kl", [0.0, 0.1])
def test_algorithm_steps(algo, kl):
    model = tiny()
    group_size = 4 if algo == "grpo" else 1
    cfg = FinetuneConfig(algo=algo, batch_size=32, group_size=group_size, kl_coef=kl, star_samples=32,
                         minibatch_size=16)
    algorithm = build_algorithm(algo, model, TASK, cfg)
    assert algorithm.epochs == (2 if algo == "ppo" else 1) and algorithm.minibatch_size == 16
    assert algorithm.eval_every == (1 if algo == "star" else None)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for step in range(3):
        batch = algorithm.prepare(episodes_for(model, group_size, kl, seed=step))
        assert batch.shape[0] > 0
        out = algorithm.loss(batch)
        loss = sum(v for k, v in out.items() if k.startswith("loss_"))
        assert loss.ndim == 0 and torch.isfinite(loss)
        if kl and algo in ("reinforce", "grpo"):
            assert any("kl" in k and k.startswith("loss_") for k in out.keys())  # the KL is in the loss
        opt.zero_grad()
        loss.backward()
        grads = [p.grad for p in model.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert sum(float(g.norm()) for g in grads) > 0
        opt.step()


def test_defaults_belong_to_the_algorithms():
    for algo in ALGORITHMS:
        cfg = FinetuneConfig(algo=algo)
        for name, value in importlib.import_module(f"agents.rl.algorithms.{algo}").DEFAULTS.items():
            assert getattr(cfg, name) == value, (algo, name)
    assert FinetuneConfig(algo="grpo", lr=1e-2).lr == 1e-2  # given values win
    star = FinetuneConfig(algo="star", batch_size=64, star_samples=200)
    assert build_algorithm("star", tiny(), TASK, star).rounds == 4


def test_group_advantage():
    reward = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0])[:, None]
    adv = group_advantage(reward, 4, normalise=False)
    assert torch.allclose(adv.squeeze(), torch.tensor([0.75, -0.25, -0.25, -0.25, 0, 0, 0, 0]))
    adv = group_advantage(reward, 4)
    assert torch.allclose(adv[:4].std(), torch.tensor(1.0)) and (adv[4:] == 0).all()
    assert torch.allclose(batch_mean_advantage(reward), reward - 0.625)
    with pytest.raises(ValueError, match="group_size"):
        group_advantage(reward, 3)


def test_grpo_advantage_equals_torchrl_mc_advantage():
    """The consecutive groups give TorchRL's MCAdvantage numbers, without regrouping the batch by prompt id."""
    episodes = episodes_for(tiny(), 4, 0.0, batch=64)
    cfg = FinetuneConfig(algo="grpo", batch_size=64, group_size=4)
    batch = build_algorithm("grpo", tiny(), TASK, cfg).prepare(episodes.clone())
    assert batch["advantage"].shape == (64, D + 1, 1)
    steps = episodes.select("prompt_id", ("next", "reward"), ("next", "done"))[:, None]  # (B, 1): B trajectories
    out = MCAdvantage(grpo_size=4, prompt_key="prompt_id", trajectory_return="sum").inv(steps)
    order = torch.sort(episodes["prompt_id"], stable=True).indices  # MCAdvantage emits groups by prompt
    reference = torch.empty(64)
    reference[order] = out["advantage"].reshape(-1)[torch.sort(out["prompt_id"].reshape(-1), stable=True).indices]
    torch.testing.assert_close(batch["advantage"][:, 0, 0], reference, atol=1e-5, rtol=1e-5)
    assert episodes["reward"].std() > 0  # a test with signal


def test_grpo_without_groups_is_refused():
    with pytest.raises(ValueError, match="group_size >= 2"):
        build_algorithm("grpo", tiny(), TASK, replace(FinetuneConfig(algo="reinforce"), algo="grpo"))


def test_kl_estimator_is_nonnegative_and_zero_at_equality():
    from agents.rl.advantages import kl_k3

    a, b = torch.randn(100), torch.randn(100)
    assert (kl_k3(a, b) >= 0).all() and torch.all(kl_k3(a, a) == 0)


def test_unknown_algorithm():
    with pytest.raises(ValueError, match="'a2c'"):
        build_algorithm("a2c", tiny(), TASK, FinetuneConfig())
    with pytest.raises(ValueError, match="'a2c'"):
        FinetuneConfig(algo="a2c")
