"""The ``parity-cot`` console command: one subcommand per stage, each defined in its own module.

    parity-cot pretrain --d 24 --p-long 0.01 --out runs/pre     # next-token pre-training (agents.ntp.pretrain)
    parity-cot evaluate runs/pre --n 4096 --json                # greedy and sampled accuracy (agents.run.evaluate)
    parity-cot finetune runs/pre --algo reinforce --out runs/rl # RL through TorchRL (agents.rl.finetune)
    parity-cot reproduce                                        # the central result end to end (agents.jobs.reproduce)
    parity-cot plot runs/rl                                     # a run's curves as a PNG (agents.jobs.plot)

Each module provides ``add_arguments(parser)`` and ``main(args) -> int``; modules are imported only when their
subcommand runs, so ``parity-cot --help`` stays fast. The conventions are the same in every subcommand: flags
generated from the run's config (``agents.run.config``), ``--no-progress``, and exit codes 0 (done), 2 (bad input:
an option, a file, a checkpoint, an agent; one line on stderr, no traceback) and 1 (the run diverged).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys

SUBCOMMANDS = {
    "pretrain": ("agents.ntp.pretrain", "next-token pre-training on the demonstration mixture"),
    "evaluate": ("agents.run.evaluate", "greedy and sampled evaluation of a checkpoint on fresh prompts"),
    "finetune": ("agents.rl.finetune", "RL fine-tuning of a checkpoint through TorchRL"),
    "reproduce": ("agents.jobs.reproduce", "the main job: pre-training, RL, the NTP-only control, table and figure"),
    "plot": ("agents.jobs.plot", "a run's curves (loss, accuracy, length, ...) from its log, as a PNG"),
    "sweep": ("agents.jobs.sweep", "the phase diagram: a grid of (agent, d, p_long, algo, seed) cells on Ray"),
    "sweep-plot": ("agents.jobs.sweep_plot", "a sweep's phase diagrams (heatmaps over d x p_long) as PNGs"),
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parity-cot",
        description="Parity with chain of thought: RL after next-token prediction (Tsilivis et al., 2025).",
    )
    parser.add_argument("--version", action="version", version=f"parity-cot {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(SUBCOMMANDS) + "}", required=True)
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((a for a in argv if a in SUBCOMMANDS), None)
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:  # only the subcommand that runs pays for its imports
            importlib.import_module(module).add_arguments(p)
            p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    return parser


def package_version() -> str:
    """The installed package's version (the source tree's pyproject.toml when it is not installed)."""
    try:
        return importlib.metadata.version("parity-cot")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


def main(argv: list[str] | None = None) -> int:
    from .models.errors import AgentError, DivergedError

    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    if args.progress and not sys.stderr.isatty():
        args.progress = False  # progress bars only where someone watches them
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    try:
        return int(module.main(args) or 0)
    except DivergedError as e:
        print(f"parity-cot {args.command}: error: {e}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, AgentError, FileExistsError, FileNotFoundError, NotADirectoryError,
            IsADirectoryError, PermissionError) as e:  # bad input (CheckpointError is a ValueError)
        print(f"parity-cot {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
