"""The ``parity-cot`` console command: one subcommand per stage, each defined in its own module.

    parity-cot pretrain --d 24 --p-long 0.01 --out runs/pre     # next-token pre-training (agents.pretrain)
    parity-cot evaluate runs/pre --n 4096 --json                # greedy and sampled accuracy (agents.evaluate)
    parity-cot finetune runs/pre --algo reinforce --out runs/rl # RL through TorchRL (agents.rl.finetune)
    parity-cot reproduce                                        # the paper's central result end to end (agents.reproduce)

Each module provides ``add_arguments(parser)`` and ``main(args) -> int``; modules are imported only when their
subcommand runs, so ``parity-cot --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = {
    "pretrain": ("agents.pretrain", "next-token pre-training on the demonstration mixture"),
    "evaluate": ("agents.evaluate", "greedy and sampled evaluation of a checkpoint on fresh prompts"),
    "finetune": ("agents.rl.finetune", "RL fine-tuning of a checkpoint through TorchRL"),
    "reproduce": ("agents.reproduce", "the main job: pre-training, RL, the NTP-only control, table and figure"),
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parity-cot",
        description="Parity with chain of thought: RL after next-token prediction (Tsilivis et al., 2025).",
    )
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(SUBCOMMANDS) + "}", required=True)
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in argv if a in SUBCOMMANDS), None)
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:  # only the subcommand that runs pays for its imports
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    return int(module.main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
