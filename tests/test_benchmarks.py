"""Every benchmark script and every figure kind, run as a user runs them (a subprocess from the repository root) at
tiny sizes: each exits 0 and writes its JSON or PNG, with a value in it checked. Plus the GPU script.

Each script runs once per session, into one results directory (``tiny``), so that one ``plots.py`` call draws every
figure kind from them; the scripts that start from a checkpoint share one tiny pre-training run (``checkpoint``).
``pytest -m slow`` also runs ``gpu.sh --small`` (a minute).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pytest

from agents.pretrain import PretrainConfig, pretrain
from parity_env import Task

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
CHECKPOINT, CHECKPOINT1, RUN_DIR = object(), object(), object()  # in TINY_RUNS: the tiny pre-training run (seeds 0
# and 1), a fresh run directory
TINY_AGENT = ("--agent-config", '{"d_model": 16, "n_head": 2}')
TINY_PRETRAIN = ("--d", 4, "--n", 64, *TINY_AGENT)
TINY_RUNS = {  # result name -> (script, arguments)
    "calibration": ("calibration", (*TINY_PRETRAIN, "--p-long", 0.5, "--budget", 512)),
    "leap": ("leap", (*TINY_PRETRAIN, "--seeds", 0, "--budget", 512, "--p-partial", 0.3)),
    "leap_below": ("leap", (*TINY_PRETRAIN, "--seeds", 0, "--budget", 512, "--p-long", 0.1, "--p-partial", 0.2,
                            "--no-leap-long", "--name", "leap_below")),
    "threshold_high": ("threshold", (*TINY_PRETRAIN, "--p-long", 0.4, "--seeds", 0, "--budget", 512,
                                     "--name", "threshold_high")),
    "pretrain_speed": ("pretrain_speed", ("--d", 4, "--p-long", 0.5, "--seeds", 0, "--max-samples", 512,
                                          *TINY_AGENT)),
    "paper_scale": ("paper_scale", ("--scale", "tiny", "--device", "cpu", "--run-dir", RUN_DIR, "--no-progress",
                                    *TINY_AGENT)),
    "generation_speed": ("generation_speed", ("--d", 4, "--batch", 8, "--repeats", 1, *TINY_AGENT)),
    "env_step_profile": ("env_step_profile", ("--d", 4, "--batch-sizes", 4, "--min-time", 0.01, "--repeats", 1)),
    "rl_speed": ("rl_speed", ("--checkpoint", CHECKPOINT, "--batch-size", 16, "--repeats", 1, "--runs", 1,
                              "--steps", 2)),
    "rl_algorithms": ("rl_algorithms", ("--checkpoint", CHECKPOINT, "--algos", "reinforce", "star", "--seeds", 0,
                                        "--steps", 2, "--after", 0, "--after-star", 0)),
    "rl_algorithms_seeds": ("rl_algorithms", ("--checkpoint", CHECKPOINT, CHECKPOINT1, "--algos", "reinforce",
                                              "--seeds", 0, "--steps", 2, "--after", 0, "--name",
                                              "rl_algorithms_seeds")),
    "temperature_hot": ("temperature", ("--checkpoint", CHECKPOINT, "--temperatures", 1.5, "--algos", "reinforce",
                                        "--seeds", 0, "--steps", 2, "--name", "temperature_hot")),
    "star_recursion": ("star_recursion", ("--checkpoint", CHECKPOINT, "--seeds", 0, "--rounds", 2, "--temperatures",
                                          1.0, "--cot-temperatures", 1.5, "--n", 512)),
    "star_p0": ("star_p0", ("--checkpoint", CHECKPOINT, "--p0", 0.1, 0.3, "--seeds", 0, "--epochs", 1, 2, "--rounds", 2,
                            "--reinforce-steps", 2, "--cold-p0", 0.3, "--cold-rounds", 2, "--recal-samples", 1024,
                            "--n", 512, "--run-dir", RUN_DIR)),
    "rl_controls": ("rl_controls", ("--checkpoint", CHECKPOINT, "--ntp-sequences", 512, "--steps", 2,
                                    "--sb3-steps", 256, "--sb3-episodes", 20)),
    "exact_chains": ("exact_chains", ("--checkpoint", CHECKPOINT, "--algos", "reinforce", "--seeds", 0, "--steps", 2,
                                      "--after", 0, "--n", 128)),
    "too_early": ("too_early", ("--d", 4, "--p-long", 0.5, *TINY_AGENT, "--seeds", 0, "--fractions", 0.5, 1.0,
                                "--rl-steps", 2, "--snapshot-every", 512, "--max-samples", 2048)),
    "too_early_levels": ("too_early", ("--d", 4, "--p-long", 0.5, *TINY_AGENT, "--seeds", 0, "--levels", 0, 0.1,
                                       "--algos", "reinforce", "grpo", "--rl-steps", 2, "--after-solved", 0,
                                       "--snapshot-every", 4096, "--fine-every", 512, "--max-samples", 24_576,
                                       "--probe-n", 50, "--start-probe-n", 100, "--name", "too_early_levels")),
}
FIGURES = {"calibration": "calibration", "leap": "leap", "leap_below": "leap_below", "threshold": "threshold_high",
           "pretrain_speed": "pretrain_speed", "paper_scale": "paper_scale", "generation_speed": "generation_speed",
           "rl_speed": "rl_speed", "rl_algorithms": "rl_algorithms", "rl_algorithms_seeds": "rl_algorithms_seeds",
           "temperature": "temperature_hot", "star_recursion": "star_recursion", "star_p0": "star_p0",
           "rl_controls": "rl_controls", "too_early": "too_early", "too_early_levels": "too_early_levels",
           "exact_chains": "exact_chains"}
"""Figure name -> the tiny run it draws (a split sweep's figure draws its NAME_*.json parts)."""
SWEEP_FIGURES = {"phase_cpu": "phase_gpt_reinforce"}
"""Committed figures of ``parity-cot sweep`` (results/NAME/ is the sweep's directory) -> the file sweep-plot draws."""


def run_script(script: str, *args) -> str:
    """``python benchmarks/SCRIPT.py ARGS`` from the repository root; its stdout (the test fails on a non-zero exit)."""
    proc = subprocess.run([sys.executable, str(BENCHMARKS / f"{script}.py"), *map(str, args)], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{script} exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def probability(x) -> bool:
    return isinstance(x, float) and 0 <= x <= 1


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny pre-training run (not learned: the scripts only need a checkpoint to start from)."""
    out = tmp_path_factory.mktemp("pretrain") / "run"
    cfg = PretrainConfig(task=Task(d=4, p_long=0.5), d_model=16, n_head=2, max_samples=2048, final_eval_n=0,
                         out=str(out))
    pretrain(cfg, progress=False)
    return out


@pytest.fixture(scope="session")
def checkpoint1(tmp_path_factory) -> Path:
    """The same tiny pre-training run with seed 1."""
    out = tmp_path_factory.mktemp("pretrain1") / "run"
    cfg = PretrainConfig(task=Task(d=4, p_long=0.5), d_model=16, n_head=2, max_samples=2048, final_eval_n=0,
                         out=str(out), seed=1)
    pretrain(cfg, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny(request, tmp_path_factory):
    """``tiny(name)``: the result of the tiny run ``name`` of TINY_RUNS (run once per session into ``tiny.results``)."""
    results = tmp_path_factory.mktemp("results")
    done: dict[str, dict] = {}

    def result(name: str) -> dict:
        if name not in done:
            script, args = TINY_RUNS[name]
            places = {CHECKPOINT: lambda: request.getfixturevalue("checkpoint"),
                      CHECKPOINT1: lambda: request.getfixturevalue("checkpoint1"),
                      RUN_DIR: lambda: results / f"{name}_runs"}
            run_script(script, *(places[a]() if a in places else a for a in args), "--results", results)
            done[name] = json.loads((results / f"{name}.json").read_text())
        return done[name]

    result.results = results
    return result


# --------------------------------------------------------------------------------------------------- pre-training
def test_calibration(tiny):
    r = tiny("calibration")
    (row,) = r["rows"]
    assert row["p_long"] == 0.5 and row["samples"] == 512 and probability(row["sampled_long_fraction"])
    assert r["agent_config"] == {"d_model": 16, "n_head": 2} and r["hardware"]["torch_threads"] == 1


def test_leap(tiny):
    r = tiny("leap")
    leap2, partial = r["runs"]
    assert r["leap"] == 2 and leap2["task"]["leap"] == 2 and partial["task"]["p_partial"] == 0.3
    assert probability(leap2["final"]["greedy_accuracy"]) and leap2["curve"][-1]["samples"] == 512
    assert probability(partial["predicted"]["greedy_accuracy"])


def test_leap_partial_chains_only(tiny):
    r = tiny("leap_below")
    (run,) = r["runs"]  # --no-leap-long: the partial-chain mixture alone
    assert run["task"]["p_long"] == 0.1 and run["task"]["p_partial"] == 0.2 and run["curve"][-1]["samples"] == 512
    assert run["predicted"]["greedy_accuracy"] < 0.6  # long mass 0.3 < 1/3: the ideal model stops after one bit


def test_the_ideal_model_predicts_the_thresholds():
    sys.path.insert(0, str(BENCHMARKS))
    from leap import ideal_greedy

    for p, expected in ((0.3, 0.5), (0.4, 1.0)):  # the full chain: 1/3
        assert ideal_greedy(Task(d=8, p_long=p), n=512)["greedy_accuracy"] == pytest.approx(expected, abs=0.06)
    assert ideal_greedy(Task(d=8, p_long=0.25, leap=2), n=512)["greedy_accuracy"] == pytest.approx(0.5, abs=0.06)
    assert ideal_greedy(Task(d=8, p_long=0.25, p_partial=0.3), n=512)["greedy_accuracy"] == 1.0
    for p, q in ((0.1, 0.2), (0.05, 0.25), (0.02, 0.3)):  # long mass below 1/3: chance, whatever the mixture
        task = Task(d=8, p_long=p, p_partial=q)
        assert ideal_greedy(task, n=512) == pytest.approx({"greedy_accuracy": 0.5, "greedy_mean_length": 1.0}, abs=0.06)


def test_threshold_part_of_a_split_sweep(tiny):
    r = tiny("threshold_high")
    assert r["benchmark"] == "threshold" and [run["p_long"] for run in r["runs"]] == [0.4]
    assert probability(r["runs"][0]["greedy_accuracy"]) and r["runs"][0]["samples"] == 512


def test_pretrain_speed(tiny):
    r = tiny("pretrain_speed")
    (run,) = r["runs"]
    assert run["samples"] == 512 and run["tokens_per_s"] > 0 and 0 < run["fraction_of_peak"] < 1
    assert r["config"]["task"]["d"] == 4 and r["summary"]["matmul_peak_flop_s"] > 0


def test_paper_scale(tiny):
    r = tiny("paper_scale")
    (run,) = r["runs"]
    assert r["scale"]["d"] == 4 and run["pretrain"]["samples"] > 0 and run["finetune"]["episodes"] > 0
    assert run["control"]["samples"] >= run["pretrain"]["samples"] + run["finetune"]["episodes"]
    assert probability(run["control"]["metrics"]["greedy_accuracy"])
    assert (tiny.results / "paper_scale_runs" / "seed0" / "finetune" / "checkpoint").is_dir()


# --------------------------------------------------------------------------------------------------- speed
def test_generation_speed(tiny):
    r = tiny("generation_speed")
    assert r["new_tokens_per_row"] == 5 and r["cached"]["tokens_per_s"] > 0 and r["speedup"] > 0
    assert r["agent"]["config"] == {"d_model": 16, "n_head": 2}


def test_env_throughput_writes_its_out_file(tmp_path):
    out = tmp_path / "sub" / "env.json"
    run_script("env_throughput", "--d", 4, "--batch-sizes", 4, "--min-time", 0.01, "--repeats", 1, "--threads", 1,
               "--device", "cpu", "--out", out, "--results", tmp_path)
    r = json.loads(out.read_text())
    assert [row["impl"] for row in r["results"]] == ["single", "sync_vector", "native_vector", "torch", "torch_rollout"]
    assert all(row["token_steps_per_s"] > 0 for row in r["results"]) and r["sampler"]["sequences_per_minute"] > 0
    assert not (tmp_path / "env_throughput.json").exists()  # --out wins over --results


def test_env_step_profile(tiny):
    r = tiny("env_step_profile")
    assert [row["impl"] for row in r["floor"]] == ["torchrl_floor", "torchrl_floor_fused"]
    (breakdown,) = r["torch_breakdown"]
    assert breakdown["total_us"] > breakdown["advance_us"] > 0 and r["torch_diagnostics"]["small_call_us"] > 0


def test_rl_speed(tiny):
    r = tiny("rl_speed")
    assert r["collection_pretrained"]["ratio"] > 0 and r["collection_after_rl"]["torchrl_tokens_per_s"] > 0
    assert r["task"]["d"] == 4 and r["time_to_99"][0]["episodes"] == 2 * 256


# --------------------------------------------------------------------------------------------------- RL
def test_rl_algorithms(tiny):
    r = tiny("rl_algorithms")
    assert [run["algo"] for run in r["runs"]] == ["reinforce", "star"] and r["task"]["d"] == 4
    assert all(probability(acc) for run in r["runs"] for acc in run["greedy_accuracy"])


def test_rl_algorithms_across_pretraining_seeds(tiny):
    r = tiny("rl_algorithms_seeds")
    assert len(r["checkpoints"]) == 2 and [run["pretrain_seed"] for run in r["runs"]] == [0, 1]
    assert [run["checkpoint"] for run in r["runs"]] == r["checkpoints"] and r["task"]["d"] == 4


def test_temperature(tiny):
    (run,) = tiny("temperature_hot")["runs"]
    assert run["temperature"] == run["config"]["temperature"] == 1.5 and probability(run["final"]["greedy_accuracy"])


def test_star_recursion(tiny):
    r = tiny("star_recursion")
    answer, cot = r["runs"]
    assert (answer["temperature"], answer["reward"], cot["temperature"], cot["reward"]) == (1.0, "answer", 1.5, "cot")
    assert len(answer["long_fraction"]) == 2 and probability(r["p0"])
    p0 = r["p0"]  # at T = 1 the prediction is p <- 2p/(1+p) itself
    assert r["predictions"]["1.0"] == pytest.approx([p0, 2 * p0 / (1 + p0)])


def test_star_across_p0(tiny):
    r = tiny("star_p0")
    assert [c["p0_nominal"] for c in r["checkpoints"]] == [0.1, 0.3] and r["task"]["d"] == 4
    assert all(probability(c["p0"]) and c["samples"] == 1024 and len(c["prediction"]) == 2 for c in r["checkpoints"])
    cases = [(x["p0_nominal"], x["algo"], x.get("epochs"), x.get("temperature")) for x in r["runs"]]
    assert cases == [(0.1, "star", 1, 1.0), (0.1, "star", 2, 1.0), (0.1, "reinforce", None, None),
                     (0.3, "star", 1, 1.0), (0.3, "star", 2, 1.0), (0.3, "reinforce", None, None),
                     (0.3, "star", 1, 0.75), (0.3, "star", 2, 0.75)]
    star = r["runs"][0]
    assert len(star["long_fraction"]) == len(star["kept_long_fraction"]) == 2 and len(star["refit_ratio"]) <= 1


def test_star_prediction_at_a_temperature():
    sys.path.insert(0, str(BENCHMARKS))
    from star_recursion import prediction, sampled_long_fraction

    assert sampled_long_fraction(0.2, 1.0) == pytest.approx(0.2)
    assert sampled_long_fraction(0.2, 0.5) < 0.2 < sampled_long_fraction(0.2, 2.0)  # colder: the likelier choices
    assert prediction(0.01, 1.0, 3)[2] == pytest.approx(2 * (0.02 / 1.01) / (1 + 0.02 / 1.01))


def test_rl_controls(tiny):
    r = tiny("rl_controls")
    assert r["ntp"]["start_samples"] == 2048 and r["ntp"]["log"][-1]["samples"] == 2048 + 512
    assert r["ppo_scratch"]["episodes"] == 2 * 256 and probability(r["sb3"]["greedy_accuracy"])


def test_exact_chains(tiny):
    before, answer, cot = tiny("exact_chains")["runs"]
    assert before["algo"] == "pre-trained" and (answer["reward"], cot["reward"]) == ("answer", "cot")
    for r in (before, answer, cot):
        after = r["after_wrong_first_prompt"] + r["after_wrong_first_token"] + r["after_wrong_first_eos"]
        assert probability(r["p_first_right"]) and after <= 1 + 1e-6


def test_too_early(tiny):
    r = tiny("too_early")
    (learned,) = r["learned_at_samples"].values()
    assert learned % 512 == 0 and [row["fraction"] for row in r["rows"]] == [0.5, 1.0]
    assert r["rows"][-1]["samples"] == learned and all(row["samples"] % 512 == 0 for row in r["rows"])
    assert all(probability(row["after"]["greedy_accuracy"]) and len(row["probe_steps"]) for row in r["rows"])


def test_too_early_by_the_chain_probe(tiny):
    r = tiny("too_early_levels")
    (pre,) = r["pretraining"]
    assert r["levels"] == [0.0, 0.1] and r["algos"] == ["reinforce", "grpo"] and pre["snapshots"]["0.0"] == 4096
    probes = {p["samples"]: p["exact"] for p in pre["probes"]}
    assert probes[4096] >= 0 and probes[pre["snapshots"]["0.1"]] >= 0.1  # the first chunk that reaches each level
    steps = [b - a for a, b in zip(probes, list(probes)[1:])]  # chunks of 4096, then (the crossing one redone) 512
    assert set(steps) <= {4096, 512} and steps == sorted(steps, reverse=True) and steps[-1] == 512
    assert all(v < 0.1 for s, v in probes.items() if s < pre["snapshots"]["0.1"])
    assert [(x["level"], x["algo"]) for x in r["rows"]] == [(0.0, "reinforce"), (0.0, "grpo"), (0.1, "reinforce"),
                                                            (0.1, "grpo")]
    assert all(x["start"]["probe"]["n_long"] == 100 and probability(x["after"]["greedy_accuracy"]) for x in r["rows"])


# --------------------------------------------------------------------------------------------------- figures
def test_every_figure_kind_draws_a_tiny_result(tiny, tmp_path):
    for name in FIGURES.values():
        tiny(name)
    run_script("plots", *FIGURES, "--results", tiny.results, "--figures", tmp_path)
    for name in FIGURES:
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000, name


def test_every_committed_result_draws_its_committed_figure(tmp_path):
    run_script("plots", "--all", "--figures", tmp_path)
    committed = sorted(p.stem for p in (BENCHMARKS / "figures").glob("*.png") if p.stem not in SWEEP_FIGURES)
    assert sorted(p.stem for p in tmp_path.glob("*.png")) == committed
    for name in committed:  # the same panels and size as the committed figure
        drawn, kept = (matplotlib.image.imread(d / f"{name}.png") for d in (tmp_path, BENCHMARKS / "figures"))
        assert drawn.shape == kept.shape, name


@pytest.mark.parametrize("name", SWEEP_FIGURES)
def test_the_committed_sweep_draws_its_figure_and_costs(name, tmp_path):
    sweep = tmp_path / name
    shutil.copytree(BENCHMARKS / "results" / name, sweep)
    proc = subprocess.run([sys.executable, "-m", "agents.cli", "sweep-plot", str(sweep), "--no-progress"], cwd=ROOT,
                          env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    drawn, kept = (matplotlib.image.imread(path) for path in (sweep / f"{SWEEP_FIGURES[name]}.png",
                                                               BENCHMARKS / "figures" / f"{name}.png"))
    assert drawn.shape == kept.shape
    printed = run_script("sweep_cost", sweep, "--d", 8, 50, "--seeds", 5, "--slots", 10)
    cells = sum(1 for line in (sweep / "results.jsonl").read_text().splitlines() if line.strip())
    assert f"the finished sweep: {cells} cells" in printed and "the grid: " in printed and "cell-hours" in printed


def test_plots_refuses_a_missing_result(tmp_path):
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "plots.py"), "nothing", "--results", tmp_path],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1 and "no result 'nothing'" in proc.stderr


def test_summarize_the_committed_results():
    printed = run_script("summarize")
    assert "### calibration" in printed and "| 0.25 | 76,800 | 0.2522 (band ±0.075)" in printed
    assert "### fig1" in printed and "### temperature_star" in printed


# --------------------------------------------------------------------------------------------------- the GPU script
@pytest.mark.slow
def test_gpu_script_small_on_cpu(tmp_path):
    env = {**ENV, "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(BENCHMARKS / "gpu.sh"), "--small", "--out", str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "paper_scale.json").read_text())
    run = result["runs"][0]
    assert run["pretrain"]["stop_reason"] == "learned"
    assert run["finetune"]["metrics"]["greedy_accuracy"] >= 0.99
    assert (tmp_path / "paper_scale.png").exists()
    mistral = json.loads((tmp_path / "paper_scale_mistral.json").read_text())  # Fig. 1 at the paper's size, 3 seeds
    assert mistral["agent_config"] == {"preset": "mistral-2x128"} and mistral["points_per_decade"] == 5
    assert [r["seed"] for r in mistral["runs"]] == [0, 1, 2] and (tmp_path / "paper_scale_mistral.png").exists()
    assert all(r["pretrain"]["stop_reason"] == "learned" for r in mistral["runs"])
    for name in ("env_throughput", "env_step_profile", "generation_speed", "rl_speed"):  # the speed benchmarks, tiny
        assert json.loads((tmp_path / f"{name}.json").read_text())["hardware"], name


def test_gpu_script_rejects_unknown_options(tmp_path):
    proc = subprocess.run(["bash", str(BENCHMARKS / "gpu.sh"), "--fast"], capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown option --fast" in proc.stderr
