"""The command line's surface: every subcommand answers --help (a user's first command), and --version."""

import subprocess
import sys

import pytest
from conftest import run_cli

from agents.cli import SUBCOMMANDS


@pytest.mark.parametrize("command", list(SUBCOMMANDS))
def test_every_subcommand_answers_help(command, capsys):
    code, out, err = run_cli([command, "--help"], capsys)
    assert code == 0, err
    assert out.startswith("usage: ") and f"parity-cot {command}" in out and "Traceback" not in out + err
    assert "--no-progress" in out


def test_generated_help_says_what_each_flag_does(capsys):
    code, out, _ = run_cli(["pretrain", "--help"], capsys)
    text = " ".join(out.split())
    assert code == 0
    assert "parity only: The leap of the partial chains (2 .. d - 1)." in text  # not cut at "2 .."
    assert "multiplication only: Digits of the first operand (1-9)." in text
    assert "(at least DECAY_MIN_JUDGED of them)" in text
    assert "--no-stop-when-learned Stop at the first evaluation point where the chain is learned. On by default; " \
           "--no-stop-when-learned turns it off." in text


def test_version():
    out = subprocess.run([sys.executable, "-m", "agents", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("parity-cot ")
