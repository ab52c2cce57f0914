"""Stable-Baselines3 PPO from scratch on the Gymnasium env: the "RL from scratch" baseline runs end to end."""

import gymnasium as gym
import numpy as np

import parity_env  # noqa: F401  (registers the ids)


def test_sb3_ppo_runs_a_few_thousand_steps():
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.monitor import Monitor

    vec = make_vec_env("ParityCoT-v0", n_envs=4, seed=0, env_kwargs={"d": 8})
    model = PPO("MlpPolicy", vec, n_steps=256, batch_size=256, n_epochs=2, seed=0, device="cpu", verbose=0)
    model.learn(total_timesteps=3072)
    assert model.num_timesteps >= 3072
    env = gym.make("ParityCoT-v0", d=8)
    mean_reward, _ = evaluate_policy(model, Monitor(env), n_eval_episodes=50, deterministic=True)
    assert 0.0 <= mean_reward <= 1.0 and np.isfinite(mean_reward)
