"""Each shipped algorithm: a few steps run, the loss is finite and gradients reach the transformer."""

import pytest
import torch

from agents.model import GPT, GPTConfig
from agents.rl import ALGORITHMS, EpisodeCollector, make_algorithm
from agents.rl.advantages import batch_mean_advantage, group_advantage, kl_k3
from parity_env.torch_env import ParityCoTTorchEnv

D = 6


def episodes_for(model, group_size, kl, batch=32, seed=0):
    reference = GPT(model.cfg).eval() if kl else None  # any other model: the KL is then non-zero
    env = ParityCoTTorchEnv(d=D, batch_size=[batch], seed=seed, group_size=group_size)
    return EpisodeCollector(env, model, D, D + 1, 1.0, torch.Generator().manual_seed(seed), reference).collect()


@pytest.mark.parametrize("algo", ALGORITHMS)
@pytest.mark.parametrize("kl", [0.0, 0.1])
def test_algorithm_steps(algo, kl):
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=2 * D + 2, d_model=32, n_head=2))
    group_size = 4 if algo == "grpo" else 1
    algorithm = make_algorithm(algo, model, D, group_size=group_size, kl_coef=kl, ppo_minibatch=16, star_minibatch=16)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for step in range(3):
        batch = algorithm.prepare(episodes_for(model, group_size, kl, seed=step))
        assert batch.shape[0] > 0
        out = algorithm.loss(batch)
        loss = sum(v for k, v in out.items() if k.startswith("loss_"))
        assert loss.ndim == 0 and torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        grads = [p.grad for p in model.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert sum(float(g.norm()) for g in grads) > 0
        opt.step()


def test_group_advantage():
    reward = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0])[:, None]
    adv = group_advantage(reward, 4, normalise=False)
    assert torch.allclose(adv.squeeze(), torch.tensor([0.75, -0.25, -0.25, -0.25, 0, 0, 0, 0]))
    adv = group_advantage(reward, 4)
    assert torch.allclose(adv[:4].std(), torch.tensor(1.0)) and (adv[4:] == 0).all()
    assert torch.allclose(batch_mean_advantage(reward), reward - 0.625)
    with pytest.raises(ValueError, match="group_size"):
        group_advantage(reward, 3)


def test_grpo_mc_advantage_matches_group_normalisation():
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=2 * D + 2, d_model=32, n_head=2))
    episodes = episodes_for(model, 4, 0.0, batch=64)
    batch = make_algorithm("grpo", model, D, group_size=4).prepare(episodes.clone())
    expected = group_advantage(episodes["reward"], 4)
    assert torch.allclose(batch["advantage"][:, 0], expected, atol=1e-5)
    assert batch["advantage"].shape == (64, D + 1, 1)


def test_kl_estimator_is_nonnegative_and_zero_at_equality():
    a, b = torch.randn(100), torch.randn(100)
    assert (kl_k3(a, b) >= 0).all() and torch.all(kl_k3(a, a) == 0)


def test_unknown_algorithm():
    model = GPT(GPTConfig(block_size=2 * D + 2, d_model=32, n_head=2))
    with pytest.raises(ValueError, match="'a2c'"):
        make_algorithm("a2c", model, D)
