"""Evaluation of a ParityCoT policy on fresh prompts: greedy and sampled accuracy, length, and the chain check.

    parity-cot evaluate runs/pre --n 4096 --json        # or: python -m agents.cli evaluate runs/pre
    metrics = evaluate(model, task, n=4096)              # the same numbers from Python
    check = chain_check(model, task)                     # "is the chain learned?" (pre-training's stopping rule)

Accuracy is the end-to-end (answer) reward of ``parity_env.protocol.is_correct``: the response ends with EOS and
its last bit before EOS is the parity. A response is long-form when it has more than one bit before EOS.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass

import numpy as np
import torch

from parity_env.protocol import SEP, chain_length, check_int, format_tokens, long_answer

from .generate import check_temperature, generate
from .model import GPT


@dataclass
class Verdicts:
    """Per-row judgements of finished responses (all (B,) tensors)."""

    answer_correct: torch.Tensor  # bool: the end-to-end reward
    chain_correct: torch.Tensor  # bool: the bits before EOS are exactly the (leap-k) chain
    is_long: torch.Tensor  # bool: more than one bit before EOS
    answer_length: torch.Tensor  # int64: bits before EOS (tokens emitted for a row without EOS)


def make_prompts(n: int, d: int, rng: np.random.Generator) -> tuple[np.ndarray, torch.Tensor]:
    """``n`` fresh prompts: the bits (n, d) and the model input x_1..x_d SEP as an int64 tensor (n, d + 1)."""
    bits = rng.integers(0, 2, size=(n, d), dtype=np.int64)  # (n, d)
    prompts = np.concatenate([bits, np.full((n, 1), SEP, dtype=np.int64)], axis=1)  # (n, d + 1)
    return bits, torch.from_numpy(prompts)


def judge(bits: np.ndarray, tokens: torch.Tensor, finished: torch.Tensor, leap: int = 1) -> Verdicts:
    """Vectorised ``is_correct`` for prompts ``bits`` (B, d) and generated ``tokens`` (B, R) (PAD after EOS)."""
    device = tokens.device
    chain = torch.from_numpy(long_answer(bits, leap)).to(device)  # (B, m); chain[:, -1] is the parity
    m, R = chain.shape[1], tokens.shape[1]
    y = chain[:, -1]
    length = (tokens < 2).sum(-1)  # (B,) bits emitted; EOS and PAD are >= 2, and bits only come before EOS
    last = tokens.gather(1, (length - 1).clamp(min=0)[:, None]).squeeze(1)  # (B,) last bit (garbage if length 0)
    answer_correct = finished & (length >= 1) & (last == y)
    if m <= R:
        chain_correct = finished & (length == m) & (tokens[:, :m] == chain).all(-1)
    else:
        chain_correct = torch.zeros_like(finished)
    return Verdicts(answer_correct, chain_correct, length > 1, length)


@torch.no_grad()
def evaluate(
    model: GPT,
    task: dict,
    n: int = 4096,
    temperature: float = 1.0,
    seed: int = 0,
    device: str | torch.device | None = None,
    show_mistakes: int = 0,
) -> dict:
    """Greedy and sampled metrics of ``model`` on ``n`` fresh prompts per mode (one seeded stream of prompts).

    Returns greedy_accuracy, greedy_mean_length (bits before EOS), greedy_long_fraction, sampled_accuracy,
    sampled_long_fraction, sampled_long_accuracy (None without a long sample), sampled_long_chain_accuracy (exact
    chains among them), sampled_mean_length, temperature and n; with ``show_mistakes`` K > 0 also "mistakes": up to K
    greedy failures as readable token strings. ``device`` (default: where the model is) moves the model there.
    """
    n = check_int("n", n, 1)
    temperature = check_temperature(temperature)
    d, leap, R = task["d"], task.get("leap", 1), task["max_response_len"]
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    was_training = model.training
    model.eval()
    rng = np.random.default_rng(check_int("seed", seed, 0))
    gen = torch.Generator(device=device).manual_seed(int(seed))
    out: dict = {"n": n, "temperature": temperature}
    for mode, temp in (("greedy", 0.0), ("sampled", temperature)):
        bits, prompts = make_prompts(n, d, rng)
        g = generate(model, prompts.to(device), R, temperature=temp, generator=gen)
        v = judge(bits, g.tokens, g.finished, leap)
        n_long = int(v.is_long.sum())
        out[f"{mode}_accuracy"] = v.answer_correct.float().mean().item()
        out[f"{mode}_mean_length"] = v.answer_length.float().mean().item()
        out[f"{mode}_long_fraction"] = n_long / n
        if mode == "sampled":
            out["sampled_long_accuracy"] = v.answer_correct[v.is_long].float().mean().item() if n_long else None
            out["sampled_long_chain_accuracy"] = v.chain_correct[v.is_long].float().mean().item() if n_long else None
            out["sampled_n_long"] = n_long
        elif show_mistakes > 0:
            wrong = torch.nonzero(~v.answer_correct).squeeze(1)[:show_mistakes].tolist()
            out["mistakes"] = [
                f"{format_tokens(prompts[i].cpu().numpy())} -> {format_tokens(g.tokens[i].cpu().numpy())}"
                f"   (parity {int(bits[i].sum() % 2)})"
                for i in wrong
            ]
    model.train(was_training)
    return out


@torch.no_grad()
def chain_check(
    model: GPT,
    task: dict,
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
    ``max_prompts`` (default 4 n_long / p_long, at least 8 chunks) bounds the work for a model that rarely answers long.
    Returns passed, n_long (long-form responses judged), n_wrong, n_prompts, and the long fraction seen.
    """
    d, leap, R = task["d"], task.get("leap", 1), task["max_response_len"]
    if chain_length(d, leap) + 1 > R:
        raise ValueError(f"max_response_len {R} cannot hold the chain of d = {d}, leap = {leap} and its EOS")
    if max_prompts is None:  # 4x the prompts a calibrated model needs, at least 8 chunks
        max_prompts = max(8 * chunk, int(4 * n_long / max(task["p_long"], 1e-6)))
    allowed = int(np.floor(max_error * n_long + 1e-9))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    rng = np.random.default_rng(seed)
    gen = torch.Generator(device=device).manual_seed(seed)
    judged = wrong = prompts_used = long_seen = 0
    while judged < n_long and wrong <= allowed and prompts_used < max_prompts:
        size = min(chunk, max(1024, prompts_used), max_prompts - prompts_used)  # 1024, 1024, 2048, ... chunk
        bits, prompts = make_prompts(size, d, rng)
        g = generate(model, prompts.to(device), R, temperature=1.0, generator=gen)
        v = judge(bits, g.tokens, g.finished, leap)
        long_seen += int(v.is_long.sum())
        ok = v.chain_correct[v.is_long][: n_long - judged]  # in prompt order, only up to n_long in total
        judged += ok.numel()
        wrong += int((~ok).sum())
        prompts_used += prompts.shape[0]
    model.train(was_training)
    return {
        "passed": judged >= n_long and wrong <= allowed,
        "n_long": judged,
        "n_wrong": wrong,
        "n_prompts": prompts_used,
        "long_fraction": long_seen / prompts_used,  # every long-form response of the chunks drawn
    }


# --------------------------------------------------------------------------------------------------- command line
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a checkpoint directory, or a run directory holding checkpoint/")
    parser.add_argument("--n", type=_positive_int, default=4096, help="fresh prompts per mode (default 4096)")
    parser.add_argument("--temperature", type=float, default=1.0,
                        help="sampling temperature of the sampled mode (default 1.0; > 0)")
    parser.add_argument("--seed", type=_nonneg_int, default=0, help="seed of prompts and sampling (default 0)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--mistakes", type=_nonneg_int, default=0, metavar="K",
                        help="also print up to K greedy mistakes (default 0)")


def _int_at_least(low: int):
    """An argparse type: an integer >= ``low``, with an error naming the text given."""
    what = "a positive integer" if low == 1 else f"an integer >= {low}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


_positive_int, _nonneg_int = _int_at_least(1), _int_at_least(0)


def main(args: argparse.Namespace) -> int:
    from .checkpoint import CheckpointError, load_checkpoint

    if not args.temperature > 0:
        raise SystemExit(f"parity-cot evaluate: error: --temperature must be > 0 (got {args.temperature})")
    try:
        device = torch.device(args.device)
        ckpt = load_checkpoint(args.checkpoint, device=device)
    except CheckpointError as e:
        raise SystemExit(f"parity-cot evaluate: error: {e}") from None
    except RuntimeError as e:
        raise SystemExit(f"parity-cot evaluate: error: --device {args.device!r}: {e}") from None
    metrics = evaluate(ckpt.model, ckpt.task, n=args.n, temperature=args.temperature, seed=args.seed,
                       device=device, show_mistakes=args.mistakes)
    if args.json:
        print(json.dumps(metrics))
        return 0
    t = ckpt.task
    print(f"checkpoint {ckpt.path}  (d = {t['d']}, p_long = {t['p_long']}, leap = {t['leap']})")
    for key, value in metrics.items():
        if key != "mistakes":
            print(f"  {key:<28} {value if value is None or isinstance(value, int) else f'{value:.4f}'}")
    for line in metrics.get("mistakes", []):
        print("  mistake:", line)
    return 0
