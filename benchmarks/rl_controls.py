"""Do NTP alone, or RL from scratch, also solve it (they should not)? python benchmarks/rl_controls.py --checkpoint CKPT

    python benchmarks/rl_controls.py --checkpoint CKPT [--parts ntp ppo_scratch sb3 --ntp-sequences N --steps 300]
    python benchmarks/plots.py rl_controls --results runs/benchmarks      # its figure (with rl_algorithms.json's RL)

- ntp: the pre-training run behind ``--checkpoint`` resumed (a copy, bit-identical continuation of its data stream
  and optimiser) for ``--ntp-sequences`` more demonstrations (default: the episodes the slowest default RL run of
  RESULTS/rl_algorithms.json generated, else 256 x 400), no stopping rule, then evaluated: greedy accuracy should
  stay at chance.
- ppo_scratch: our PPO (``finetune --algo ppo``) from a random initialisation of the checkpoint's agent (seed 0),
  ``--steps`` steps of 256 episodes: no chain to amplify, so greedy accuracy should stay at chance.
- sb3: Stable-Baselines3 PPO (MLP on the one-hot token observation) on the Gymnasium env ``ParityCoT-v0`` of the
  checkpoint's task from scratch for ``--sb3-steps`` env steps, then greedy accuracy over ``--sb3-episodes`` episodes.

Writes RESULTS/rl_controls.json.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from common import add_results_arguments, read_result, write_result
from rl_algorithms import probe_curves

from agents.models.registry import agent_spec, build_agent
from agents.ntp.pretrain import PretrainConfig, pretrain
from agents.rl import FinetuneConfig, finetune
from agents.run.checkpoint import load_checkpoint, resolve_checkpoint_dir
from parity_env import Task


def ntp_only(checkpoint: str, sequences: int, threads: int) -> dict:
    ckpt = load_checkpoint(checkpoint)
    saved = dict(ckpt.meta["pretrain_config"])
    start = ckpt.meta["training_state"]["samples"]
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        shutil.copytree(resolve_checkpoint_dir(checkpoint), run / "checkpoint")
        saved.update(out=str(run), resume=True, max_samples=start + sequences, stop_when_learned=False,
                     final_eval_n=4096, threads=threads, eval_every=max(25_600, sequences // 8))
        result = pretrain(PretrainConfig(**saved), progress=False)
    print(f"ntp: {sequences} more sequences -> greedy {result.metrics['greedy_accuracy']:.3f}")
    return {"sequences": sequences, "start_samples": start, "metrics": result.metrics,
            "log": [{k: p.get(k) for k in ("samples", "greedy_accuracy", "chain_learned")} for p in result.log]}


def ppo_scratch(checkpoint: str, steps: int, threads: int) -> dict:
    ckpt = load_checkpoint(checkpoint)
    torch.manual_seed(0)
    agent = build_agent(agent_spec(ckpt.agent), ckpt.task)  # the checkpoint's agent, freshly initialised
    cfg = FinetuneConfig(algo="ppo", steps=steps, steps_after_solved=0, threads=threads, eval_every=10)
    result = finetune(agent, cfg, task=ckpt.task, progress=False)
    print(f"ppo from scratch: {steps} steps -> greedy {result.metrics['greedy_accuracy']:.3f}")
    return {"steps": steps, "episodes": result.episodes, "metrics": result.metrics, **probe_curves(result.log)}


def sb3_ppo(task: Task, timesteps: int, episodes: int) -> dict:
    import gymnasium as gym
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    import parity_env  # noqa: F401  (registers ParityCoT-v0)

    vec = make_vec_env("ParityCoT-v0", n_envs=8, seed=0, env_kwargs={"task": task})
    model = PPO("MlpPolicy", vec, seed=0, verbose=0, n_steps=256, batch_size=256)
    model.learn(total_timesteps=timesteps)
    env = gym.make("ParityCoT-v0", task=task)
    correct, lengths = [], []
    for episode in range(episodes):
        obs, info = env.reset(seed=10_000 + episode)
        done = False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, info = env.step(int(action))
            done = terminated or truncated
        correct.append(reward > 0)
        lengths.append(info["response_length"] - int(terminated))
    print(f"sb3 ppo: {timesteps} steps -> greedy {np.mean(correct):.3f}")
    return {"timesteps": timesteps, "episodes": episodes, "greedy_accuracy": float(np.mean(correct)),
            "greedy_mean_length": float(np.mean(lengths))}


def default_ntp_sequences(results: Path) -> int:
    """The episodes the slowest solved REINFORCE run of RESULTS/rl_algorithms.json generated, else 256 x 400."""
    runs = read_result("rl_algorithms", results)["runs"] if (results / "rl_algorithms.json").exists() else []
    solved = [r["solved_step"] * r["config"]["batch_size"] for r in runs
              if r["algo"] == "reinforce" and r["solved_step"]]
    return max(solved, default=256 * 400)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="pretrained run (d = 24, p_long = 0.01)")
    parser.add_argument("--parts", nargs="+", default=["ntp", "ppo_scratch", "sb3"],
                        choices=["ntp", "ppo_scratch", "sb3"])
    parser.add_argument("--ntp-sequences", type=int, default=None)
    parser.add_argument("--steps", type=int, default=300, help="PPO-from-scratch steps")
    parser.add_argument("--sb3-steps", type=int, default=200_000)
    parser.add_argument("--sb3-episodes", type=int, default=2000, help="greedy episodes of the SB3 evaluation")
    parser.add_argument("--threads", type=int, default=1)
    add_results_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = {"checkpoint": str(args.checkpoint)}
    if "ntp" in args.parts:
        out["ntp"] = ntp_only(args.checkpoint, args.ntp_sequences or default_ntp_sequences(args.results), args.threads)
    if "ppo_scratch" in args.parts:
        out["ppo_scratch"] = ppo_scratch(args.checkpoint, args.steps, args.threads)
    if "sb3" in args.parts:
        out["sb3"] = sb3_ppo(load_checkpoint(args.checkpoint).task, args.sb3_steps, args.sb3_episodes)
    write_result("rl_controls", out, args.results)


if __name__ == "__main__":
    main()
