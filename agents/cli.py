"""The ``parity-cot`` console command: one subcommand per stage, each defined in its own module.

    parity-cot pretrain --d 24 --p-long 0.01 --out runs/pre     # next-token pre-training (agents.ntp.pretrain)
    parity-cot evaluate runs/pre --n 4096 --json                # greedy and sampled accuracy (agents.run.evaluate)
    parity-cot finetune runs/pre --algo reinforce --out runs/rl # RL through TorchRL (agents.rl.finetune)
    parity-cot reproduce                                        # the central result end to end (agents.jobs.reproduce)
    parity-cot plot runs/rl                                     # a run's curves as a PNG (agents.jobs.plot)
    parity-cot sweep --d 8 16 --p-long 0.1 0.4 --out runs/sweep # a grid of main jobs on Ray (agents.jobs.sweep)
    parity-cot dataset demonstrations --n 51200 --out data/d24  # datasets out (agents.jobs.dataset)
    parity-cot export runs/rl --hf hf/rl                        # a Hugging Face model out (agents.jobs.export)

Each module provides ``add_arguments(parser)`` and ``main(args) -> int``; modules are imported only when their
subcommand runs, so ``parity-cot --help`` stays fast. The conventions are the same in every subcommand: flags
generated from the run's config (``agents.run.config``), ``--no-progress``, and the exit codes

    0    done
    1    the run diverged (a non-finite loss, gradient, weight or logit; nothing non-finite is saved)
    2    bad input or environment: an option, a file, a checkpoint, an agent, task or algorithm (user code included),
         the file system (no space, file too large, read-only, permissions) or memory (an allocation the machine
         cannot give, estimated up front where the options fix it)
    130  interrupted (Ctrl-C)

each failure as one line on stderr naming the cause and what to do (``failure``), never a traceback; a traceback means
a bug of the package.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import importlib.metadata
import os
import sys

SUBCOMMANDS = {
    "pretrain": ("agents.ntp.pretrain", "next-token pre-training on the demonstration mixture"),
    "evaluate": ("agents.run.evaluate", "greedy and sampled evaluation of a checkpoint on fresh prompts"),
    "finetune": ("agents.rl.finetune", "RL fine-tuning of a checkpoint through TorchRL"),
    "reproduce": ("agents.jobs.reproduce", "the main job: pre-training, RL, the NTP-only control, table and figure"),
    "plot": ("agents.jobs.plot", "a run's curves (loss, accuracy, length, ...) from its log, as a PNG"),
    "sweep": ("agents.jobs.sweep", "the phase diagram: a grid of (agent, task settings, algo, seed) cells on Ray"),
    "sweep-plot": ("agents.jobs.sweep_plot", "a sweep's phase diagrams (heatmaps over two grid axes) as PNGs"),
    "dataset": ("agents.jobs.dataset", "demonstrations and a run's episodes as Hugging Face and Minari datasets"),
    "export": ("agents.jobs.export", "a gpt or hf checkpoint as a Hugging Face model directory, with a tokenizer"),
}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but an option error is one line (the message and where the options are listed), not the usage."""

    def error(self, message: str):
        """Exit with status 2 and the one-line ``message``, pointing at --help."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``parity-cot`` parser: one subcommand per job, each with the flags of its config.

    Only the subcommand found in ``argv`` (default: the process's arguments) gets its flags, so that only the subcommand
    that runs pays for its imports; every subcommand gets ``--no-progress`` with them.
    """
    parser = OneLineParser(
        prog="parity-cot",
        description="RL after next-token prediction (Tsilivis et al., 2025): tasks with short and chain-of-thought "
                    "answers (parity, multiplication, yours), pre-training, RL through TorchRL, the paper's results.",
    )
    parser.add_argument("--version", action="version", version=f"parity-cot {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(SUBCOMMANDS) + "}", required=True,
                                parser_class=OneLineParser)
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
    """Run one subcommand; every failure ends in one line on stderr and an exit code (the module docstring)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    if args.progress and not sys.stderr.isatty():
        args.progress = False  # progress bars only where someone watches them
    if not args.progress:
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # transformers' own bars too (agents.models.hf reads it)
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    try:
        return int(module.main(args) or 0)
    except KeyboardInterrupt:
        print(f"parity-cot {args.command}: interrupted (a run resumes from its last checkpoint with --resume)",
              file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001  (the boundary: one line for every failure it knows, else a traceback)
        code, message = failure(e)
        if code is None:
            raise
        print(f"parity-cot {args.command}: error: {message}", file=sys.stderr)
        return code


def failure(e: BaseException) -> tuple[int | None, str]:
    """(exit code, one line) for a failure at the command line's boundary; (None, "") for a bug (a traceback).

    1: the run diverged. 2: bad input or environment: an option, a file, a checkpoint, an agent, task or algorithm
    (user code included), the file system (no space, file too large, read-only, permissions) or memory.
    """
    from .models.errors import DivergedError

    if isinstance(e, DivergedError):
        return 1, str(e)
    if isinstance(e, OSError):
        return 2, describe_os_error(e)
    if type(e) is MemoryError and str(e):  # the package's own estimate, which says what to lower
        return 2, one_line(e)
    if isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError" or "can't allocate memory" in str(e):
        return 2, (f"out of memory ({one_line(e) or 'an allocation failed'}); lower --batch-size, --n, --eval-n or "
                   "the task's sizes, or use a machine with more memory")
    if type(e).__name__ == "SafetensorError":  # safetensors' own error: a write that failed, a file unreadable
        return 2, os_text(str(e))
    if isinstance(e, (ValueError, TypeError, ImportError)):  # bad input: AgentError, TaskError, CheckpointError ...
        return 2, one_line(e)
    return None, ""


def describe_os_error(e: OSError) -> str:
    """An OSError as what happened to which file and what to do."""
    where = f" {e.filename}" if getattr(e, "filename", None) else ""
    advice: dict[int | None, str] = {
        errno.ENOSPC: f"no space left on the device of{where}: free some space, or choose another --out",
        errno.EFBIG: f"file too large{where} (the process's file-size limit, ulimit -f): raise the limit",
        errno.EROFS: f"read-only file system{where}: choose a writable --out",
        errno.EACCES: f"permission denied{where}: choose a directory you can write, or fix its permissions",
        errno.EPERM: f"operation not permitted{where}: choose a directory you can write, or fix its permissions",
        errno.EDQUOT: f"disk quota exceeded{where}: free some space, or choose another --out",
    }
    return advice.get(e.errno) or one_line(e)


def os_text(text: str) -> str:
    """A library's message around a system error, with the advice ``describe_os_error`` gives for it."""
    for code, words in ((errno.ENOSPC, "No space left on device"), (errno.EFBIG, "File too large"),
                        (errno.EROFS, "Read-only file system"), (errno.EACCES, "Permission denied")):
        if words in text:
            return f"{describe_os_error(OSError(code, words))} ({one_line(text)})"
    return one_line(text)


def one_line(e: BaseException | str) -> str:
    """A message on one line (tracebacks of user code and libraries sometimes span several)."""
    return " ".join(str(e).split())


if __name__ == "__main__":
    sys.exit(main())
