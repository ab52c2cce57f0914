"""Does a Hugging Face model show the paper's result? NTP then RL with a tiny Llama: ``python benchmarks/hf_llama.py``

    python benchmarks/hf_llama.py [--seeds 0 1 2 --d 8 --p-long 0.25]     # needs the [hf] extra
    python benchmarks/plots.py hf_llama --results runs/benchmarks           # its figure

For each seed, the main job (``agents.jobs.reproduce``) with the ``hf`` agent: a Llama built from a config with random
weights (--agent-config; default 2 layers, width 64, 4 heads, initializer_range 0.1, the GPT recipe's init_std),
pre-trained by NTP until the chain is learned, fine-tuned with REINFORCE through TorchRL until greedy accuracy holds
>= 99%, and the NTP-only control on as many sequences. Writes RESULTS/hf_llama.json (each seed's table and curves);
the run directories (checkpoints) go under --run-dir.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common import add_results_arguments, write_result

from agents.jobs.reproduce import ReproduceConfig, reproduce
from agents.run.config import parse_json_object
from parity_env import Task

LLAMA = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
         "intermediate_size": 128, "initializer_range": 0.1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--d", type=int, default=8)
    parser.add_argument("--p-long", type=float, default=0.25)
    parser.add_argument("--agent-config", type=parse_json_object, default=LLAMA, metavar="JSON",
                        help="the hf agent's config (default: a 2-layer Llama of width 64)")
    parser.add_argument("--eval-n", type=int, default=4096)
    parser.add_argument("--max-samples", type=int, default=5_000_000, help="pre-training's sample budget per seed")
    parser.add_argument("--steps", type=int, default=500, help="RL's most steps per seed")
    parser.add_argument("--run-dir", type=Path, default=Path("runs/hf_llama"), help="where the runs are written")
    add_results_arguments(parser)
    args = parser.parse_args()
    runs = []
    for seed in args.seeds:
        cfg = ReproduceConfig(task=Task(d=args.d, p_long=args.p_long), agent="hf", agent_config=args.agent_config,
                              seed=seed, out=str(args.run_dir / f"seed{seed}"), eval_n=args.eval_n,
                              max_samples=args.max_samples, steps=args.steps,
                              resume=(args.run_dir / f"seed{seed}").exists())
        r = reproduce(cfg, progress=False)
        stages = r["stages"]
        print(f"seed {seed}: NTP greedy {stages['pretrained']['greedy_accuracy']:.3f} after "
              f"{stages['pretrained']['samples']:,} samples; RL greedy {stages['finetuned']['greedy_accuracy']:.3f} "
              f"(length {stages['finetuned']['greedy_mean_length']:.2f}) after {stages['finetuned']['samples']:,} "
              f"episodes; control {stages['control']['greedy_accuracy']:.3f}", flush=True)
        runs.append({"seed": seed, **r})
        write_result("hf_llama", {"d": args.d, "p_long": args.p_long, "agent_config": args.agent_config,
                                  "runs": runs}, args.results)


if __name__ == "__main__":
    main()
