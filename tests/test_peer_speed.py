"""benchmarks/peer_speed.py --tiny: runs, writes its JSON, and its ratios are ours / theirs pair by pair."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("trl")
pytest.importorskip("transformers")

REPO = Path(__file__).resolve().parent.parent
COMPARISONS = ("generation", "ntp_step", "grpo")


@pytest.mark.timeout(120)
def test_peer_speed_tiny(tmp_path):
    out = tmp_path / "peer.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "peer_speed.py"), "--tiny", "--out", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "grpo" in proc.stdout and "target" in proc.stdout
    result = json.loads(out.read_text())
    hw = result["hardware"]
    assert hw["cpu"] and hw["cores"] >= 1 and hw["torch_threads"] == 1
    assert {"torch", "transformers", "trl"} <= set(hw) and hw["load_average_1min"] >= 0
    assert result["models"]["llama"]["parameters"] > 0 and result["models"]["gpt"]["parameters"] > 0
    pairs = result["settings"]["pairs"]
    for name in COMPARISONS:
        comp = result["comparisons"][name]
        for side in ("ours", "theirs", "ours_gpt"):
            s = comp[side]
            assert len(s["rates"]) == len(s["times_s"]) == pairs
            assert all(r > 0 and math.isfinite(r) for r in s["rates"]), (name, side, s["rates"])
            assert s["median_rate"] > 0
            assert all(c > 0 for c in s["counts"])
        ours, theirs = comp["ours"]["rates"], comp["theirs"]["rates"]
        assert comp["ratios"] == pytest.approx([a / b for a, b in zip(ours, theirs)], rel=1e-12)
        assert comp["ratios_gpt"] == pytest.approx([a / b for a, b in zip(comp["ours_gpt"]["rates"], theirs)],
                                                   rel=1e-12)
    grpo = result["comparisons"]["grpo"]
    steps = grpo["ours"]["per_step_median_run"]
    assert steps["step_time_s"] > 0 and steps["collect_s"] > 0
    assert grpo["theirs"]["per_step_median_run"]["generate_s"] > 0
    assert isinstance(grpo["target"]["met"], bool)


def test_missing_trl_exits_2(tmp_path):
    """Without TRL the script says what to install and exits 2, before writing anything."""
    runner = (
        "import runpy, sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'trl' or name.startswith('trl.'):\n"
        "            raise ImportError('No module named trl (blocked by the test)')\n"
        "sys.meta_path.insert(0, Block())\n"
        "script = sys.argv[1]\n"
        "sys.argv = sys.argv[1:]\n"
        "runpy.run_path(script, run_name='__main__')\n")
    out = tmp_path / "x.json"
    proc = subprocess.run([sys.executable, "-c", runner, str(REPO / "benchmarks" / "peer_speed.py"), "--tiny", "--out",
                           str(out)], cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "pip install 'parity-cot[hf]' trl" in proc.stderr
    assert not out.exists()
