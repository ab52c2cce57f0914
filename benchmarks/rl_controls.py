"""Controls for the RL result: NTP alone on as many sequences as RL used, and RL from a random initialisation.

    nice python benchmarks/rl_controls.py --checkpoint runs/pre [--parts ntp ppo_scratch sb3]
    python benchmarks/plot_rl_controls.py         # benchmarks/figures/rl_controls.png

- ntp: the pre-training run behind ``--checkpoint`` resumed (a copy, bit-identical continuation of its data stream
  and optimiser) for ``--ntp-sequences`` more demonstrations (default: the episodes the slowest default RL run of
  benchmarks/results/rl_algorithms.json generated, else 256 x 400), no stopping rule, then evaluated: greedy
  accuracy should stay at chance.
- ppo_scratch: our PPO (``finetune --algo ppo``) from a random initialisation of the same architecture, ``--steps``
  steps of 256 episodes: no chain to amplify, so greedy accuracy should stay at chance.
- sb3: Stable-Baselines3 PPO (MLP on the one-hot token observation) on the Gymnasium env ``ParityCoT-v0`` from
  scratch for ``--sb3-steps`` env steps, then greedy accuracy over 2000 episodes.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from agents.checkpoint import load_checkpoint, resolve_checkpoint_dir
from agents.model import GPT
from agents.pretrain import PretrainConfig, pretrain
from agents.rl import FinetuneConfig, finetune
from common import RESULTS, read_result, write_result


def ntp_only(checkpoint: str, sequences: int, threads: int) -> dict:
    ckpt = load_checkpoint(checkpoint)
    saved = dict(ckpt.meta["pretrain_config"])
    start = ckpt.meta["training_state"]["samples"]
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        shutil.copytree(resolve_checkpoint_dir(checkpoint), run / "checkpoint")
        saved.update(out=str(run), resume=True, max_samples=start + sequences, stop_when_learned=False,
                     final_eval_n=4096, threads=threads, eval_every=max(25_600, sequences // 8))
        saved["betas"] = tuple(saved["betas"])
        result = pretrain(PretrainConfig(**saved), progress=False)
    print(f"ntp: {sequences} more sequences -> greedy {result.metrics['greedy_accuracy']:.3f}")
    return {"sequences": sequences, "start_samples": start, "metrics": result.metrics,
            "log": [{k: p.get(k) for k in ("samples", "greedy_accuracy", "chain_learned")} for p in result.log]}


def ppo_scratch(checkpoint: str, steps: int, threads: int) -> dict:
    ckpt = load_checkpoint(checkpoint)
    torch.manual_seed(0)
    model = GPT(ckpt.model.cfg)
    cfg = FinetuneConfig(algo="ppo", steps=steps, steps_after_solved=0, threads=threads, eval_every=10)
    result = finetune(model, cfg, task=ckpt.task, progress=False)
    probes = [e for e in result.log if "greedy_accuracy" in e]
    print(f"ppo from scratch: {steps} steps -> greedy {result.metrics['greedy_accuracy']:.3f}")
    return {"steps": steps, "episodes": result.episodes, "metrics": result.metrics,
            "probe_steps": [e["step"] for e in probes], "greedy_accuracy": [e["greedy_accuracy"] for e in probes],
            "greedy_length": [e["greedy_mean_length"] for e in probes]}


def sb3_ppo(d: int, timesteps: int) -> dict:
    import gymnasium as gym
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    import parity_env  # noqa: F401  (registers ParityCoT-v0)

    vec = make_vec_env("ParityCoT-v0", n_envs=8, seed=0, env_kwargs={"d": d})
    model = PPO("MlpPolicy", vec, seed=0, verbose=0, n_steps=256, batch_size=256)
    model.learn(total_timesteps=timesteps)
    env = gym.make("ParityCoT-v0", d=d)
    correct, lengths = [], []
    for episode in range(2000):
        obs, info = env.reset(seed=10_000 + episode)
        done = False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, info = env.step(int(action))
            done = terminated or truncated
        correct.append(reward > 0)
        lengths.append(info["response_length"] - int(terminated))
    print(f"sb3 ppo: {timesteps} steps -> greedy {np.mean(correct):.3f}")
    return {"timesteps": timesteps, "greedy_accuracy": float(np.mean(correct)),
            "greedy_mean_length": float(np.mean(lengths))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="pretrained run (d = 24, p_long = 0.01)")
    parser.add_argument("--parts", nargs="+", default=["ntp", "ppo_scratch", "sb3"],
                        choices=["ntp", "ppo_scratch", "sb3"])
    parser.add_argument("--ntp-sequences", type=int, default=None)
    parser.add_argument("--steps", type=int, default=300, help="PPO-from-scratch steps")
    parser.add_argument("--sb3-steps", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = {"checkpoint": str(args.checkpoint)}
    if "ntp" in args.parts:
        sequences = args.ntp_sequences
        if sequences is None and (RESULTS / "rl_algorithms.json").exists():
            runs = [r for r in read_result("rl_algorithms")["runs"] if r["algo"] == "reinforce" and r["solved_step"]]
            sequences = max((r["solved_step"] * r["config"]["batch_size"] for r in runs), default=None)
        out["ntp"] = ntp_only(args.checkpoint, sequences or 256 * 400, args.threads)
    if "ppo_scratch" in args.parts:
        out["ppo_scratch"] = ppo_scratch(args.checkpoint, args.steps, args.threads)
    if "sb3" in args.parts:
        out["sb3"] = sb3_ppo(load_checkpoint(args.checkpoint).task["d"], args.sb3_steps)
    write_result("rl_controls", out)


if __name__ == "__main__":
    main()
