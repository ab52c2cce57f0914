"""TorchRL's LLM stack as the RL stage: GRPO on an exported agent. python benchmarks/llm_route.py --checkpoint CKPT

    python benchmarks/llm_route.py --checkpoint runs/pre [--steps 20 --batch-size 64 --group-size 8 --rounds 2]
    python benchmarks/llm_route.py --checkpoint runs/pre --mode text       # the env's text mode (default: tokens)

The checkpoint (a gpt or hf agent) is exported with ``parity-cot export`` (``agents.models.hf_export``) to a Hugging
Face directory, which is then fine-tuned two ways from the same weights, in alternating rounds, on one torch thread:

- the LLM route: ``CoTResponseEnv`` (``parity_env.envs.llm_env``: one step, a prompt in, a whole response out, the
  task's reward) + ``TransformersWrapper`` (sampling at temperature 1) + ``LLMCollector`` writing to a replay buffer
  whose transforms add the sampling log-probabilities (``FullLogProbs``) and the group-relative advantage
  (``MCAdvantage(grpo_size=G)``) + ``GRPOLoss``: the whole loop is ``llm_route`` below;
- ``parity-cot finetune --algo grpo`` (``agents.rl.finetune``) with the hf agent loading the exported directory:
  the same batch, groups, learning rate, clipping, optimiser (AdamW, betas 0.9 / 0.98, gradient norm 1).

Both take ``--steps`` steps of ``--batch-size`` completions (groups of ``--group-size`` sharing a prompt); a step is
a collection and one gradient step on the whole batch. Speed = completions per second of the steps (collection and
update; setup, probes and evaluations excluded), the median over ``--rounds``; each run also reports its mean reward
and the greedy accuracy on ``--eval-n`` fresh prompts before and after. Writes RESULTS/llm_route.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded: the model is the exported directory

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import add_results_arguments, write_result  # noqa: E402


def llm_route(directory: Path, task, steps: int, batch_size: int, group_size: int, lr: float, mode: str,
              seed: int) -> dict:
    """GRPO through TorchRL's LLM stack on the exported model in ``directory``; returns the trained model, the
    per-step times and rewards."""
    from tensordict import set_list_to_stack
    from torchrl.collectors.llm import LLMCollector
    from torchrl.data import LazyStackStorage, ReplayBuffer, SamplerWithoutReplacement
    from torchrl.envs import Compose
    from torchrl.modules.llm import TransformersWrapper
    from torchrl.objectives.llm import GRPOLoss, MCAdvantage
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from parity_env.envs.llm_env import CoTResponseEnv, FullLogProbs

    set_list_to_stack(True).set()
    torch.manual_seed(seed)  # HF generate samples from the global generator
    model = AutoModelForCausalLM.from_pretrained(directory).eval()  # eval: no dropout (TorchRL's GRPO advice)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    env = CoTResponseEnv(task, batch_size=batch_size, group_size=group_size, input_mode=mode, seed=seed)
    policy = TransformersWrapper(model, tokenizer=tokenizer, input_mode=mode, generate=True, pad_output=False,
                                 generate_kwargs={"do_sample": True, "temperature": 1.0,
                                                  "max_new_tokens": task.max_response_len})
    scorer = TransformersWrapper(model, tokenizer=tokenizer, input_mode="tokens", generate=False,
                                 return_log_probs=True, pad_output=False)
    buffer = ReplayBuffer(storage=LazyStackStorage(batch_size), sampler=SamplerWithoutReplacement(),
                          batch_size=batch_size,
                          transform=Compose(MCAdvantage(grpo_size=group_size), FullLogProbs(scorer)))
    collector = LLMCollector(env, policy=policy, dialog_turns_per_batch=batch_size,
                             total_dialog_turns=steps * batch_size, replay_buffer=buffer)
    loss_fn = GRPOLoss(scorer, clip_epsilon=0.2, entropy_bonus=False, aggregation="token_mean",
                       masking_strategy="sft")
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.98), weight_decay=0.0)
    times, collect, rewards = [], [], []
    t0 = time.perf_counter()
    for _ in collector:  # the collector wrote the batch (advantage and log-probs added) to the buffer
        collect.append(time.perf_counter() - t0)
        batch = buffer.sample()
        loss = loss_fn(batch).loss_objective
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        buffer.empty()
        rewards.append(batch["next", "reward"].mean().item())
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
    collector.shutdown()
    return {"model": model, "step_times_s": times, "collect_s": collect, "rewards": rewards}


def finetune_grpo(directory: Path, task, steps: int, batch_size: int, group_size: int, lr: float, seed: int) -> dict:
    """``parity-cot finetune --algo grpo`` with the hf agent reading the exported directory."""
    from agents.models.registry import make_agent
    from agents.rl.finetune import FinetuneConfig, finetune

    agent = make_agent("hf", task, path=str(directory))
    cfg = FinetuneConfig(algo="grpo", steps=steps, batch_size=batch_size, group_size=group_size, lr=lr,
                         eval_every=steps, eval_n=64, final_eval_n=0, steps_after_solved=None, threads=1, seed=seed,
                         logger="none")
    result = finetune(agent, cfg, task=task, progress=False)
    return {"agent": result.agent, "step_times_s": [e["step_time_s"] for e in result.log], "collect_s": None,
            "rewards": [e["reward"] for e in result.log]}


def greedy_accuracy(agent, task, n: int, seed: int) -> float:
    from agents.models.generate import generate

    problems, prompts = task.sample_prompts(n, np.random.default_rng(seed))
    with torch.no_grad():
        tokens = generate(agent, task, prompts, temperature=0.0).tokens
    return float(np.mean(task.judge(problems, tokens.numpy()).answer_correct))


def summary(name: str, runs: list[dict], batch_size: int, before: float) -> dict:
    speeds = [batch_size / statistics.mean(r["step_times_s"]) for r in runs]
    collect = [sum(r["collect_s"]) / sum(r["step_times_s"]) for r in runs if r.get("collect_s")]
    row = {"completions_per_s": statistics.median(speeds), "per_round": speeds,
           "collection_share": statistics.mean(collect) if collect else None,
           "mean_reward": [statistics.mean(r["rewards"]) for r in runs], "greedy_before": before,
           "greedy_after": [r["greedy_after"] for r in runs]}
    share = "" if row["collection_share"] is None else f" ({100 * row['collection_share']:.0f}% collecting)"
    print(f"  {name:<34} {row['completions_per_s']:8.1f} completions/s{share}   reward "
          f"{statistics.mean(row['mean_reward']):.3f}   greedy accuracy {before:.3f} -> "
          f"{statistics.mean(row['greedy_after']):.3f}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="a gpt or hf checkpoint (or run directory)")
    parser.add_argument("--hf", type=Path, default=None, help="where to export it (default: a temporary directory)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--mode", choices=("tokens", "text"), default="tokens", help="the env's input mode")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of the two routes")
    parser.add_argument("--eval-n", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    add_results_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", message=".*size_average and reduce args will be deprecated.*")  # TorchRL 0.14
    warnings.filterwarnings("ignore", message=".*missing transforms required by the policy.*")  # no InitTracker needed
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    from agents.jobs.export import export_checkpoint
    from agents.models import hf as hf_agent
    from agents.models.hf import HFAgent
    from agents.models.hf_export import describe, export_task

    hf_agent.set_progress(False)
    with tempfile.TemporaryDirectory() as tmp:
        directory = args.hf or Path(tmp) / "export"
        if not (directory / "parity_cot.json").is_file():
            info = export_checkpoint(args.checkpoint, directory)
            print(f"exported {args.checkpoint} to {directory}: {describe(info)}", flush=True)
        task = export_task(directory)
        from agents.models.registry import make_agent

        before = greedy_accuracy(make_agent("hf", task, path=str(directory)), task, args.eval_n, seed=12345)
        routes = {"llm_route": [], "finetune_grpo": []}
        for r in range(args.rounds):
            seed = args.seed + r
            run = llm_route(directory, task, args.steps, args.batch_size, args.group_size, args.lr, args.mode, seed)
            run["greedy_after"] = greedy_accuracy(HFAgent(run.pop("model"), task), task, args.eval_n, seed=12345)
            routes["llm_route"].append(run)
            run = finetune_grpo(directory, task, args.steps, args.batch_size, args.group_size, args.lr, seed)
            run["greedy_after"] = greedy_accuracy(run.pop("agent"), task, args.eval_n, seed=12345)
            routes["finetune_grpo"].append(run)
            speed = {k: args.batch_size / statistics.mean(v[-1]["step_times_s"]) for k, v in routes.items()}
            print(f"round {r}: LLM route {speed['llm_route']:.1f}, finetune --algo grpo {speed['finetune_grpo']:.1f} "
                  "completions/s", flush=True)
    print(f"{task.describe()}: {args.steps} GRPO steps of {args.batch_size} completions (groups of "
          f"{args.group_size}), one torch thread, load average {os.getloadavg()[0]:.2f}")
    rows = {"llm_route": summary(f"TorchRL LLM route ({args.mode} mode)", routes["llm_route"], args.batch_size,
                                 before),
            "finetune_grpo": summary("parity-cot finetune --algo grpo", routes["finetune_grpo"], args.batch_size,
                                     before)}
    ratio = rows["finetune_grpo"]["completions_per_s"] / rows["llm_route"]["completions_per_s"]
    print(f"  finetune --algo grpo is {ratio:.1f}x the LLM route's speed")
    write_result("llm_route", {"task": task.to_dict(), "checkpoint": str(args.checkpoint), "mode": args.mode,
                               "steps": args.steps, "batch_size": args.batch_size, "group_size": args.group_size,
                               "lr": args.lr, "rounds": args.rounds, "load_average": os.getloadavg()[0],
                               "speed_ratio": ratio, **rows,
                               "runs": {k: [{"step_times_s": r["step_times_s"], "collect_s": r["collect_s"],
                                             "rewards": r["rewards"], "greedy_after": r["greedy_after"]} for r in v]
                                        for k, v in routes.items()}},
                 args.results)


if __name__ == "__main__":
    main()
