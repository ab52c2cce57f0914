"""Generation speed with and without the KV cache, same run: d = 50, batch 1024, d + 1 tokens per row, EOS disabled.

    python benchmarks/generation_speed.py [--batch 1024 --d 50 --repeats 3]     # ~1 min on 2 CPU cores
    python benchmarks/generation_speed.py --device cuda --out benchmarks/results/gpu/generation_speed.json
    python benchmarks/plot_generation_speed.py

Writes benchmarks/results/generation_speed.json. The model is the default pre-training architecture at d = 50
(random weights: speed does not depend on them). One warm-up call each, then the best of ``--repeats``.
"""

from __future__ import annotations

import argparse
import time

import torch

from agents.generate import generate
from agents.model import GPT
from agents.pretrain import PretrainConfig
from common import device_sync, write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, default=50)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/generation_speed.json)")
    args = parser.parse_args()
    cfg = PretrainConfig(d=args.d)
    torch.set_num_threads(cfg.threads or torch.get_num_threads())
    torch.manual_seed(0)
    device = torch.device(args.device)
    sync = device_sync(device)
    model = GPT(cfg.model_config()).to(device).eval()
    prompts = torch.randint(0, 2, (args.batch, args.d + 1), device=device)
    n_new = args.d + 1
    out = {"d": args.d, "batch": args.batch, "new_tokens_per_row": n_new, "device": str(device),
           "model": cfg.model_config().to_dict()}
    for use_cache in (True, False):
        generate(model, prompts[:64], n_new, allow_eos=False, use_cache=use_cache)  # warm-up
        times = []
        for r in range(args.repeats):
            sync()
            t0 = time.perf_counter()
            generate(model, prompts, n_new, generator=torch.Generator(device).manual_seed(r), allow_eos=False,
                     use_cache=use_cache)
            sync()
            times.append(time.perf_counter() - t0)
        key = "cached" if use_cache else "uncached"
        out[key] = {"best_s": min(times), "times_s": times, "tokens_per_s": args.batch * n_new / min(times)}
        print(f"{key}: {out[key]['tokens_per_s']:,.0f} new tokens/s (best of {args.repeats}: {min(times):.2f} s)")
    out["speedup"] = out["cached"]["tokens_per_s"] / out["uncached"]["tokens_per_s"]
    print(f"speed-up of the cache: {out['speedup']:.1f}x")
    write_result("generation_speed", {"benchmark": "generation_speed", **out}, args.out)


if __name__ == "__main__":
    main()
