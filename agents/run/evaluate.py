"""Evaluation of a ParityCoT agent on fresh prompts: greedy and sampled accuracy, length, and the chain check.

    parity-cot evaluate runs/pre --n 4096 --json        # or: python -m agents evaluate runs/pre
    metrics = evaluate(agent, task, n=4096)              # the same numbers from Python
    check = chain_check(agent, task)                     # "is the chain learned?" (pre-training's stopping rule)

Accuracy is the end-to-end (answer) reward of ``parity_env.parity.protocol.is_correct``: the response ends with EOS and
its last bit before EOS is the parity. A response is long-form when it has more than one bit before EOS; an exact
chain is a response whose bits are exactly the (leap-k) chain, or exactly the partial chain in a task with partial
chains (``Verdicts.demonstrated``). Responses are judged by ``Task.judge``.
"""

from __future__ import annotations

import json

import numpy as np
import torch

from parity_env.parity.protocol import check_int
from parity_env.parity.task import Task

from ..models.agent import agent_device, agent_logits
from ..models.generate import check_temperature, generate


def _mean(x: torch.Tensor) -> float | None:
    return x.float().mean().item() if x.numel() else None


@torch.no_grad()
def evaluate(
    agent: torch.nn.Module,
    task: Task,
    n: int = 4096,
    temperature: float = 1.0,
    seed: int = 0,
    device: str | torch.device | None = None,
    show_mistakes: int = 0,
) -> dict:
    """Greedy and sampled metrics of ``agent`` on ``n`` fresh prompts per mode (one seeded stream of prompts).

    Returns, for each mode (greedy, sampled), ``{mode}_accuracy``, ``{mode}_chain_accuracy`` (exact chains among
    all responses), ``{mode}_mean_length`` (bits before EOS) and ``{mode}_long_fraction``; the greedy accuracy split
    by the first prompt bit (``greedy_accuracy_x1_0`` / ``_x1_1``: a greedy agent that writes the chain exactly when
    x_1 = 1 scores 1.0 / 0.5 there); ``first_token_margin`` (mean over prompts of the gap between the two likeliest
    first response tokens' probabilities; a near tie at small p_long) and ``first_token_near_tie`` (the fraction of
    prompts where it is below 0.02); ``continuation_probability`` (mean over prompts of the probability that the
    answer goes on after the long answer's first token, i.e. that the next token is not EOS: 2p/(1+p) for an agent
    calibrated at p_long = p, so greedy decoding continues the chain iff it is above 1/2, i.e. p > 1/3);
    ``sampled_long_accuracy`` and ``sampled_long_chain_accuracy`` (answer and exact-chain accuracy among the sampled
    long-form responses; None without one), ``sampled_n_long``, temperature and n. With ``show_mistakes`` K > 0 also
    "mistakes": up to K greedy failures as readable token strings. ``device`` (default: where the agent is) moves the
    agent there.
    """
    n = check_int("n", n, 1)
    temperature = check_temperature(temperature)
    device = torch.device(device) if device is not None else agent_device(agent)
    agent.to(device)
    was_training = agent.training
    agent.eval()
    rng = np.random.default_rng(check_int("seed", seed, 0))
    gen = torch.Generator(device=device).manual_seed(int(seed))
    out: dict = {"n": n, "temperature": temperature}
    for mode, temp in (("greedy", 0.0), ("sampled", temperature)):
        bits, prompts = task.sample_prompts(n, rng)
        prompts = prompts.to(device)
        g = generate(agent, task, prompts, temperature=temp, generator=gen)
        v = task.judge(bits, g.tokens)
        out[f"{mode}_accuracy"] = _mean(v.answer_correct)
        out[f"{mode}_chain_accuracy"] = _mean(v.demonstrated)
        out[f"{mode}_mean_length"] = _mean(v.answer_length)
        out[f"{mode}_long_fraction"] = _mean(v.is_long)
        if mode == "greedy":
            x1 = torch.from_numpy(bits[:, 0]).to(device)
            out["greedy_accuracy_x1_0"] = _mean(v.answer_correct[x1 == 0])
            out["greedy_accuracy_x1_1"] = _mean(v.answer_correct[x1 == 1])
            first = torch.from_numpy(task.long_answers(bits)[:, :1]).to(device)  # (n, 1) the long answer's first token
            logits = agent_logits(agent, torch.cat([prompts, first], dim=1), -2).float()  # (n, 2, A)
            top2 = logits[:, 0].softmax(-1).topk(2, dim=-1).values  # (n, 2) at the first response position
            margin = top2[:, 0] - top2[:, 1]
            out["first_token_margin"] = margin.mean().item()
            out["first_token_near_tie"] = (margin < 0.02).float().mean().item()
            out["continuation_probability"] = (1 - logits[:, 1].softmax(-1)[:, task.eos]).mean().item()
            if show_mistakes > 0:
                wrong = torch.nonzero(~v.answer_correct).squeeze(1)[:show_mistakes].tolist()
                out["mistakes"] = [
                    f"{task.format_tokens(prompts[i].cpu())} -> {task.format_tokens(g.tokens[i].cpu())}"
                    f"   (parity {int(bits[i].sum() % 2)})"
                    for i in wrong
                ]
        else:
            out["sampled_long_accuracy"] = _mean(v.answer_correct[v.is_long])
            out["sampled_long_chain_accuracy"] = _mean(v.demonstrated[v.is_long])
            out["sampled_n_long"] = int(v.is_long.sum())
    agent.train(was_training)
    return out


@torch.no_grad()
def chain_check(
    agent: torch.nn.Module,
    task: Task,
    n_long: int = 200,
    max_error: float = 0.01,
    chunk: int = 4096,
    max_prompts: int | None = None,
    seed: int = 0,
) -> dict:
    """Is the chain learned? Sample fresh prompts at temperature 1 until ``n_long`` long-form responses are drawn.

    Passes when at most ``floor(max_error * n_long)`` of the first ``n_long`` long-form responses are not exactly the
    correct chain. Cheap by construction: prompts go in chunks, the check stops (failing) as soon as the allowed number
    of errors is exceeded, and ``generate`` drops the short answers after their EOS, so a chunk costs about its prefill.
    ``max_prompts`` (default 4 n_long / p_long, at least 8 chunks) bounds the work for an agent that rarely answers
    long.
    Returns passed, n_long (long-form responses judged), n_wrong, n_prompts, and the long fraction seen.
    """
    if task.chain_length + 1 > task.max_response_len:
        raise ValueError(f"max_response_len {task.max_response_len} cannot hold the chain of d = {task.d}, "
                         f"leap = {task.leap} and its EOS")
    if max_prompts is None:  # 4x the prompts a calibrated agent needs, at least 8 chunks
        max_prompts = max(8 * chunk, int(4 * n_long / max(task.p_long, 1e-6)))
    allowed = int(np.floor(max_error * n_long + 1e-9))
    device = agent_device(agent)
    was_training = agent.training
    agent.eval()
    rng = np.random.default_rng(seed)
    gen = torch.Generator(device=device).manual_seed(seed)
    judged = wrong = prompts_used = long_seen = 0
    while judged < n_long and wrong <= allowed and prompts_used < max_prompts:
        size = min(chunk, max(1024, prompts_used), max_prompts - prompts_used)  # 1024, 1024, 2048, ... chunk
        bits, prompts = task.sample_prompts(size, rng)
        g = generate(agent, task, prompts.to(device), temperature=1.0, generator=gen)
        v = task.judge(bits, g.tokens)
        long_seen += int(v.is_long.sum())
        ok = v.demonstrated[v.is_long][: n_long - judged]  # in prompt order, only up to n_long in total
        judged += ok.numel()
        wrong += int((~ok).sum())
        prompts_used += prompts.shape[0]
    agent.train(was_training)
    return {
        "passed": judged >= n_long and wrong <= allowed,
        "n_long": judged,
        "n_wrong": wrong,
        "n_prompts": prompts_used,
        "long_fraction": long_seen / prompts_used,  # every long-form response of the chunks drawn
    }


# --------------------------------------------------------------------------------------------------- command line
def add_arguments(parser) -> None:
    from .config import parse_float, parse_int

    parser.add_argument("checkpoint", help="a checkpoint directory, or a run directory holding checkpoint/")
    parser.add_argument("--n", type=parse_int, default=4096, help="fresh prompts per mode (default 4096)")
    parser.add_argument("--temperature", type=parse_float, default=1.0,
                        help="sampling temperature of the sampled mode (default 1.0; > 0)")
    parser.add_argument("--seed", type=parse_int, default=0, help="seed of prompts and sampling (default 0)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--mistakes", type=parse_int, default=0, metavar="K",
                        help="also print up to K greedy mistakes (default 0)")


def main(args) -> int:
    from .checkpoint import load_checkpoint
    from .training import resolve_device

    if not args.temperature > 0:
        raise ValueError(f"--temperature must be > 0 (got {args.temperature})")
    check_int("--n", args.n, 1)
    check_int("--seed", args.seed, 0)
    check_int("--mistakes", args.mistakes, 0)
    device = resolve_device(args.device)
    ckpt = load_checkpoint(args.checkpoint, device=device)
    metrics = evaluate(ckpt.agent, ckpt.task, n=args.n, temperature=args.temperature, seed=args.seed,
                       device=device, show_mistakes=args.mistakes)
    if args.json:
        print(json.dumps(metrics))
        return 0
    t = ckpt.task
    print(f"checkpoint {ckpt.path}  (agent {ckpt.agent.agent_spec.name}; d = {t.d}, p_long = {t.p_long}, "
          f"leap = {t.leap})")
    for key, value in metrics.items():
        if key != "mistakes":
            print(f"  {key:<28} {value if value is None or isinstance(value, int) else f'{value:.4f}'}")
    for line in metrics.get("mistakes", []):
        print("  mistake:", line)
    return 0
