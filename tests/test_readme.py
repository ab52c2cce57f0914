"""Every python block of the README runs as written, each in a fresh interpreter in an empty directory, and prints
what the README says it prints.

A block's claimed output is the ```text block right after it, introduced by a comment
``<!-- prints; numbers within TOL -->`` (TOL: the absolute tolerance the claim allows a number, e.g. an accuracy that
another CPU's rounding can move; ``<!-- prints -->`` alone: exactly). Words must match exactly, numbers within TOL.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCK = re.compile(r"```python\n(.*?)```(?:\s*<!-- prints(?:; numbers within ([0-9.]+))? -->\s*```text\n(.*?)```)?",
                   flags=re.S)
BLOCKS = BLOCK.findall(README)
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


def test_the_readme_has_python_blocks_and_their_outputs():
    assert len(BLOCKS) >= 5
    assert sum(bool(expected) for _, _, expected in BLOCKS) >= 4  # most blocks say what they print


def same_output(got: str, expected: str, tolerance: float) -> bool:
    """Whether ``got`` is ``expected`` up to ``tolerance`` on every number (the words the same)."""
    got_lines, want_lines = got.strip().splitlines(), expected.strip().splitlines()
    if len(got_lines) != len(want_lines):
        return False
    for g, w in zip(got_lines, want_lines):
        if NUMBER.sub("#", g).split() != NUMBER.sub("#", w).split():
            return False
        if any(abs(float(a) - float(b)) > tolerance for a, b in zip(NUMBER.findall(g), NUMBER.findall(w))):
            return False
    return True


def test_same_output_checks_words_exactly_and_numbers_within_the_tolerance():
    assert same_output("greedy 0.98 after 12 steps", "greedy 0.97 after 12 steps", 0.02)
    assert not same_output("greedy 0.90 after 12 steps", "greedy 0.97 after 12 steps", 0.02)
    assert not same_output("greedy 0.97 before 12 steps", "greedy 0.97 after 12 steps", 0.02)
    assert not same_output("9 True 1.0", "9 True 1.0\nmore", 0)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs_and_prints_what_it_claims(index, tmp_path):
    code, tolerance, expected = BLOCKS[index]
    script = tmp_path / f"block{index}.py"
    script.write_text(code)
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip(), "every block prints what it shows"
    if expected:
        assert same_output(proc.stdout, expected, float(tolerance or 0)), (proc.stdout, expected)
