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
import numpy as np
import pytest

from agents.ntp.pretrain import PretrainConfig, pretrain
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
    "hf_llama": ("hf_llama", ("--d", 4, "--p-long", 0.5, "--seeds", 0, "--eval-n", 64, "--max-samples", 1024,
                              "--steps", 2, "--run-dir", RUN_DIR, "--agent-config",
                              '{"model_type": "llama", "hidden_size": 16, "num_hidden_layers": 1, '
                              '"num_attention_heads": 2, "intermediate_size": 32}')),
    "linear_model": ("linear_model", ("--d", 4, "--p-long", 0.5, "--seeds", 0, "--budget", 512, "--n", 64,
                                      "--rl-from", 0.5, "--rl-steps", 2, "--star-rounds", 1, "--star-samples", 64)),
    "main_job": ("main_job", ("--seeds", 0, 1, "--runs-dir", RUN_DIR, "--d", 4, "--p-long", 0.5, *TINY_AGENT,
                              "--max-samples", 1024, "--steps", 2, "--eval-n", 64)),
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
           "exact_chains": "exact_chains", "hf_llama": "hf_llama", "linear_model": "linear_model"}
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
    assert r["leap"] == 2 and leap2["task"]["config"]["leap"] == 2 and partial["task"]["config"]["p_partial"] == 0.3
    assert probability(leap2["final"]["greedy_accuracy"]) and leap2["curve"][-1]["samples"] == 512
    assert probability(partial["predicted"]["greedy_accuracy"])


def test_leap_partial_chains_only(tiny):
    r = tiny("leap_below")
    (run,) = r["runs"]  # --no-leap-long: the partial-chain mixture alone
    task = run["task"]["config"]
    assert task["p_long"] == 0.1 and task["p_partial"] == 0.2 and run["curve"][-1]["samples"] == 512
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
    assert r["config"]["task"]["config"]["d"] == 4 and r["summary"]["matmul_peak_flop_s"] > 0


def test_main_job(tiny):
    r = tiny("main_job")
    assert [run["seed"] for run in r["runs"]] == [0, 1] and r["summary"]["seeds"] == [0, 1]
    assert r["command"][:2] == ["parity-cot", "reproduce"] and "--d" in r["command"]
    for run in r["runs"]:
        assert {"pretrained", "finetuned", "control"} <= set(run)
        assert 0 < run["wall_time_s"] < run["command_wall_time_s"]  # the command adds Python's start and imports
        assert 0 < run["peak_memory_gb"] < 24 and "after RL" in run["printed"]
        assert probability(run["finetuned"]["greedy_accuracy"]) and run["control"]["samples"] == \
            run["finetuned"]["samples"]  # the control trains on as many sequences as RL generated
    low, high = r["summary"]["pretrain_samples"]
    assert low == min(run["pretrained"]["samples"] for run in r["runs"]) and low <= high


@pytest.mark.slow
def test_sweep_speedup(tmp_path):  # two Ray sweeps of 8 tiny cells: about 80 s
    pytest.importorskip("ray")
    run_script("sweep_speedup", "--order", 1, 2, "--runs-dir", tmp_path / "runs", "--results", tmp_path,
               "--max-samples", 512, "--steps", 1, "--eval-n", 32, *TINY_AGENT)
    r = json.loads((tmp_path / "sweep_speedup.json").read_text())
    assert r["summary"]["identical_results"] and r["summary"]["cells"] == 8 and r["summary"]["speedup_cells"] > 0
    assert [run["num_cpus"] for run in r["runs"]] == [1, 2] and "--max-samples" in r["options"]


def test_paper_scale(tiny):
    r = tiny("paper_scale")
    (run,) = r["runs"]
    assert r["scale"]["d"] == 4 and run["pretrain"]["samples"] > 0 and run["finetune"]["episodes"] > 0
    assert run["control"]["samples"] >= run["pretrain"]["samples"] + run["finetune"]["episodes"]
    assert probability(run["control"]["metrics"]["greedy_accuracy"])
    assert (tiny.results / "paper_scale_runs" / "seed0" / "finetune" / "checkpoint").is_dir()


def test_hf_llama(tiny):
    r = tiny("hf_llama")
    (run,) = r["runs"]
    assert r["agent_config"]["model_type"] == "llama" and probability(run["stages"]["finetuned"]["greedy_accuracy"])
    assert run["stages"]["control"]["samples"] == run["stages"]["finetuned"]["samples"]


def test_linear_model(tiny):
    r = tiny("linear_model")
    assert [run["p_long"] for run in r["runs"]] == [0.5] and probability(r["runs"][0]["sampled_long_fraction"])


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
    assert r["task"]["config"]["d"] == 4 and r["time_to_99"][0]["episodes"] == 2 * 256


# --------------------------------------------------------------------------------------------------- RL
def test_rl_algorithms(tiny):
    r = tiny("rl_algorithms")
    assert [run["algo"] for run in r["runs"]] == ["reinforce", "star"] and r["task"]["config"]["d"] == 4
    assert all(probability(acc) for run in r["runs"] for acc in run["greedy_accuracy"])


def test_rl_algorithms_across_pretraining_seeds(tiny):
    r = tiny("rl_algorithms_seeds")
    assert len(r["checkpoints"]) == 2 and [run["pretrain_seed"] for run in r["runs"]] == [0, 1]
    assert [run["checkpoint"] for run in r["runs"]] == r["checkpoints"] and r["task"]["config"]["d"] == 4


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
    assert [c["p0_nominal"] for c in r["checkpoints"]] == [0.1, 0.3] and r["task"]["config"]["d"] == 4
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
    for name in committed:  # the same picture: every pixel within rendering noise of the committed figure
        drawn, kept = (matplotlib.image.imread(d / f"{name}.png") for d in (tmp_path, BENCHMARKS / "figures"))
        assert drawn.shape == kept.shape, name
        differ = np.abs(drawn - kept).max(-1) > 0.1  # (H, W): pixels that changed colour, not shade
        assert differ.mean() < 1e-3, f"{name}: {differ.mean():.4%} of the pixels differ from the committed figure"


@pytest.mark.parametrize("name", SWEEP_FIGURES)
def test_the_committed_sweep_draws_its_figure_and_costs(name, tmp_path):
    sweep = tmp_path / name
    shutil.copytree(BENCHMARKS / "results" / name, sweep)
    proc = subprocess.run([sys.executable, "-m", "agents", "sweep-plot", str(sweep), "--no-progress"], cwd=ROOT,
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


# --------------------------------------------------------------------------------------------------- the LLM route
TINY_RUNS["llm_route"] = ("llm_route", ("--checkpoint", CHECKPOINT, "--steps", 2, "--batch-size", 8, "--group-size", 4,
                                        "--rounds", 1, "--eval-n", 32))


def test_llm_route(tiny):
    pytest.importorskip("transformers")
    r = tiny("llm_route")
    assert r["task"]["config"]["d"] == 4 and r["mode"] == "tokens" and r["speed_ratio"] > 0
    for route in ("llm_route", "finetune_grpo"):
        assert r[route]["completions_per_s"] > 0 and len(r["runs"][route][0]["step_times_s"]) == 2
        assert probability(r[route]["greedy_before"]) and probability(r[route]["greedy_after"][0])


# --------------------------------------------------------------------------------------------------- multiplication
TINY_RUNS["multiplication"] = ("multiplication", ("--scale", "tiny", "--run-dir", RUN_DIR, "--long-control", 2048,
                                                  *TINY_AGENT))
TINY_RUNS["multiplication_recipe"] = ("multiplication_recipe", (
    "--recipes", "gpt2-1e-3", "--seeds", 0, "--digits", 2, "--max-samples", 512, "--eval-every", 256, "--n", 32,
    "--agent-config", TINY_AGENT[1]))
FIGURES.update({"multiplication": "multiplication", "multiplication_recipe": "multiplication_recipe"})


def test_multiplication(tiny):
    r = tiny("multiplication")
    (cell,) = r["cells"]
    assert cell["complete"] and (cell["digits"], cell["p_long"], cell["seed"]) == (2, 0.5, 0)
    assert cell["pretrain"]["samples"] == 1024 and probability(cell["pretrain"]["metrics"]["sampled_long_fraction"])
    assert sorted(cell["rl"]) == ["grpo", "reinforce"] and all(run["episodes"] == 2 * 16 for run in cell["rl"].values())
    assert cell["control"]["sequences"] == 2 * 16 and probability(cell["control"]["metrics"]["greedy_accuracy"])
    assert all(probability(run["metrics"]["greedy_chain_accuracy"]) for run in cell["rl"].values())
    assert r["settings"]["recipe"]["agent_config"] == {"d_model": 16, "n_head": 2}
    assert cell["control_long"]["samples"] == 2048 and probability(cell["control_long"]["metrics"]["greedy_accuracy"])


def test_multiplication_resume_keeps_finished_cells(tiny, tmp_path):
    r = tiny("multiplication")
    shutil.copy(tiny.results / "multiplication.json", tmp_path / "multiplication.json")
    printed = run_script("multiplication", "--scale", "tiny", "--run-dir", tiny.results / "multiplication_runs",
                         "--long-control", 2048, *TINY_AGENT, "--resume", "--results", tmp_path)
    assert "1 cells already done" in printed
    assert json.loads((tmp_path / "multiplication.json").read_text())["cells"] == r["cells"]


def test_multiplication_recipe(tiny):
    r = tiny("multiplication_recipe")
    (run,) = r["runs"]
    assert run["recipe"] == "gpt2-1e-3" and run["samples"] == 512 and run["config"]["short_rows"] == 32
    assert run["config"]["agent_config"] == {"d_model": 16, "n_head": 2} and len(run["log"]) == 2


def test_multiplication_speed(tiny, tmp_path):
    tiny("multiplication")
    run = tiny.results / "multiplication_runs" / "d2-p0.5-s0"
    run_script("multiplication_speed", "--checkpoint", run / "pretrain", "--after", run / "reinforce", "--batch", 4,
               "--collect-batch", 8, "--min-time", 0.01, "--repeats", 1, "--results", tmp_path)
    r = json.loads((tmp_path / "multiplication_speed.json").read_text())
    assert [row["loop"] for row in r["env"]] == ["step_and_maybe_reset", "rollout"] * 3
    assert all(row["token_steps_per_s"] > 0 for row in r["env"]) and r["task"]["config"]["digits"] == 2
    assert r["collection_pretrained"]["ratio"] > 0 and r["collection_after_rl"]["generate_tokens_per_s"] > 0


def test_summarize_multiplication(tiny, tmp_path):
    for name in ("multiplication", "multiplication_recipe"):
        tiny(name)
        shutil.copy(tiny.results / f"{name}.json", tmp_path / f"{name}.json")
    printed = run_script("summarize", "--results", tmp_path)
    assert "### multiplication\n" in printed and "| 2 x 2 | 0.5 | 0 |" in printed
    assert "- gpt2-1e-3" in printed


# --------------------------------------------------------------------------------------------------- the 0.75 plateau
TINY_RUNS["plateau"] = ("plateau", ("--d", 4, "--p-long", 0.5, *TINY_AGENT, "--seeds", 0, "--rl-seeds", 0,
                                    "--max-samples", 1024, "--run-dir", RUN_DIR, "--steps", 10, "--n", 64))
FIGURES["plateau"] = "plateau"


def test_plateau(tiny):
    r = tiny("plateau")
    (run,) = r["runs"]
    assert (run["seed"], run["rl_seed"], r["pretraining"][0]["samples"]) == (0, 0, 1024)
    assert r["agent_config"] == {"d_model": 16, "n_head": 2} and r["task"]["config"]["d"] == 4
    assert [p["step"] for p in run["probes"]] == [0, 5, 10] and r["finetune"]["algo"] == "reinforce"
    for p in run["probes"]:
        for g in ("all", "x1_0", "x1_1"):
            assert sum(p["p_first"][g].values()) == pytest.approx(1, abs=1e-5)
            assert sum(p["greedy_first"][g].values()) == pytest.approx(1)
            w = p["after_wrong_first"][g]  # c_2 and (wrong bit) xor x_2 are the two bits: they share P(go on)
            assert w["eos"] + w["continue"] == pytest.approx(1) and all(probability(v) for v in w.values())
            assert w["c2_from_prompt"] + w["from_token"] == pytest.approx(w["continue"], abs=1e-5)
        assert probability(p["greedy_accuracy_x1_0"]) and 0 <= p["greedy_length"] <= 5
    sys.path.insert(0, str(BENCHMARKS))
    from plateau import plateau

    probes = [{"step": 5 * i, "greedy_accuracy": a} for i, a in enumerate((0.5, 0.6, 0.75, 0.76, 0.74, 0.9, 1.0))]
    span = plateau(probes, 0.70, 0.80, 0.99)
    assert (span["start_step"], span["mid_step"], span["last_step"], span["end_step"]) == (10, 20, 25, 30)
    assert plateau(probes[:5], 0.70, 0.80, 0.99)["end_step"] is None
