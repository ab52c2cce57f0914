"""What are the headline numbers of the saved results? python benchmarks/summarize.py [--results DIR]

    python benchmarks/summarize.py                           # the committed results, benchmarks/results/
    python benchmarks/summarize.py --results runs/benchmarks # your own runs

Prints one Markdown section per result file (what the READMEs quote). Nothing here measures anything: it only reads
the JSON the benchmark scripts wrote, so every number it prints can be traced to the command that made its file
(listed in benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from common import COMMITTED_RESULTS, result_kind, task_settings


def _f(x, fmt=".3f"):
    return "n/a" if x is None else format(x, fmt)


def _join(values, fmt=".3f") -> str:
    return " / ".join(_f(v, fmt) for v in values)


def _hw(r: dict) -> str:
    h = r.get("hardware", {})
    load = h.get("load_average_1min")
    return (f"{h.get('cpu', '?')}, {h.get('cores', h.get('cpu_count', '?'))} cores, {h.get('torch_threads', '?')} "
            f"torch thread(s)" + (f", load average {load:.1f}" if load is not None else "")
            + (f", wall {r['wall_time_s']:.0f} s" if "wall_time_s" in r else ""))


def calibration(r):
    d = r["d"] if "d" in r else task_settings(r["task"]).get("d")
    yield f"{r['budget']:,} demonstrations per p_long, d = {d}, {r['n']:,} prompts per mode"
    yield "| p_long | chain learned at | sampled long fraction | long accuracy | greedy accuracy | greedy length |"
    yield "|---|---|---|---|---|---|"
    for x in r["rows"]:
        learned = f"{x['chain_learned_at']:,}" if x["chain_learned_at"] is not None else "not learned"
        yield (f"| {x['p_long']} | {learned} | {x['sampled_long_fraction']:.4f} (band ±{x['band']:.3f}) | "
               f"{_f(x['sampled_long_accuracy'])} | {x['greedy_accuracy']:.3f} | {x['greedy_mean_length']:.2f} |")


def _agent(r: dict) -> str:
    return f"agent {r.get('agent', 'gpt')} {json.dumps(r.get('agent_config') or {})}"


def threshold(r):
    yield f"budget {r['budget']:,} demonstrations per run, d = {r['d']}, greedy on {r['n']} prompts, {_agent(r)}"
    yield ("| p_long | greedy accuracy per seed | greedy length per seed | sampled long fraction per seed | "
           "continuation probability per seed | chain learned at (samples) |")
    yield "|---|---|---|---|---|---|"
    for p in sorted({x["p_long"] for x in r["runs"]}):
        runs = [x for x in r["runs"] if x["p_long"] == p]
        yield (f"| {p} | {_join(x['greedy_accuracy'] for x in runs)} | "
               f"{_join((x['greedy_mean_length'] for x in runs), '.1f')} | "
               f"{_join(x['sampled_long_fraction'] for x in runs)} | "
               f"{_join(x.get('continuation_probability') for x in runs)} | "
               f"{' / '.join(str(x['chain_learned_at']) for x in runs)} |")


def leap(r):
    yield f"d = {r['d']}, p_long = {r['p_long']}, leap {r['leap']}, {r['budget']:,} demonstrations, {_agent(r)}"
    for x in r["runs"]:
        f = x["final"]
        yield (f"- {x.get('setting', 'leap-k long answers')}, seed {x['seed']}: greedy {f['greedy_accuracy']:.3f} "
               f"(predicted {_f(x.get('predicted', {}).get('greedy_accuracy'))}, length "
               f"{f['greedy_mean_length']:.1f}), continuation {_f(f.get('continuation_probability'))}, sampled long "
               f"fraction {f['sampled_long_fraction']:.3f}, exact chains among long "
               f"{_f(f['sampled_long_chain_accuracy'])}")


def generation_speed(r):
    yield (f"cached {r['cached']['tokens_per_s']:,.0f} tokens/s, uncached {r['uncached']['tokens_per_s']:,.0f} "
           f"tokens/s: **{r['speedup']:.1f}x** (d = {r['d']}, batch {r['batch']}, {r['new_tokens_per_row']} "
           "tokens/row)")


def pretrain_speed(r):
    s = r["summary"]
    yield (f"all learned: {s['all_learned']}; time to chain learned median {_f(s['median_s'], '.1f')} s, max "
           f"{_f(s['max_s'], '.1f')} s; median {s['median_tokens_per_s']:,.0f} tokens/s")
    for x in r["runs"]:
        flops = (f"{x['achieved_flop_s'] / 1e9:.1f} GFLOP/s = {x['fraction_of_peak']:.1%} of the measured matmul peak"
                 if x["achieved_flop_s"] is not None else "no FLOP count for this agent")
        learned = "learned" if x["learned"] else "NOT learned"
        yield (f"- seed {x['seed']}: {learned} at {_f(x['time_to_learned_s'], '.1f')} s, {x['samples']:,} samples, "
               f"{flops}; greedy {x['final']['greedy_accuracy']:.3f}")


def rl_algorithms(r):
    t = task_settings(r["task"])
    yield f"d = {t['d']}, p_long = {t['p_long']}, temperature {r.get('temperature', 1.0)}"
    yield ("| algo | pre-training seed | seed | solved at step | time to solved (s) | lowest greedy after | "
           "final greedy acc / length | greedy exact chains |")
    yield "|---|---|---|---|---|---|---|---|"
    for x in r["runs"]:
        f = x["final"]
        yield (f"| {x['algo']} | {x.get('pretrain_seed', '')} | {x['seed']} | {x['solved_step']} | "
               f"{_f(x['time_to_solved_s'], '.1f')} | {_f(x['min_accuracy_after_solved'])} | "
               f"{f['greedy_accuracy']:.3f} / {f['greedy_mean_length']:.1f} | {_f(f.get('greedy_chain_accuracy'))} |")


def temperature(r):
    yield "| algo | temperature | solved at step, per seed | final greedy accuracy, per seed |"
    yield "|---|---|---|---|"
    keys = dict.fromkeys((x["algo"], x["temperature"]) for x in r["runs"])
    for algo, temp in keys:
        runs = [x for x in r["runs"] if x["algo"] == algo and x["temperature"] == temp]
        yield (f"| {algo} | {temp} | {' / '.join(str(x['solved_step']) for x in runs)} | "
               f"{_join(x['final']['greedy_accuracy'] for x in runs)} |")


def rl_controls(r):
    for key, value in r.items():
        if isinstance(value, dict) and ("metrics" in value or "greedy_accuracy" in value):
            m = value.get("metrics", value)
            yield f"- {key}: greedy {m['greedy_accuracy']:.3f}, length {m['greedy_mean_length']:.2f}"


def star_recursion(r):
    yield f"p_0 = {r['p0']:.4f} on {r['p0_n']:,} prompts; {r['star_samples']} samples a round"
    for temp, predicted in r["predictions"].items():
        yield f"- T = {temp}, predicted: {' '.join(f'{v:.3f}' for v in predicted)}"
    for x in r["runs"]:
        yield (f"- T = {x['temperature']}, {x['reward']} reward, seed {x['seed']}: measured "
               f"{' '.join(f'{v:.3f}' for v in x['long_fraction'])}; greedy after {x['greedy_accuracy'][-1]:.3f}")


def _ended(x: dict) -> str:
    """How a too_early run ended: solved, short at chance, long but not right (the paper's failure), or between."""
    after, d = x["after"], x.get("d")
    if after["greedy_accuracy"] >= 0.99:
        return "solved"
    if after["greedy_mean_length"] < 2:
        return "short"
    return "LONG, NOT RIGHT" if d and after["greedy_mean_length"] >= d / 2 and after["greedy_accuracy"] < 0.9 \
        else "between"


def star_p0(r):
    yield (f"from {r['checkpoint']}: NTP at p_long = p_0 for {r['recal_samples']:,} demonstrations (lr "
           f"{r['recal_lr']}); {r['star_samples']} samples a round; seeds {r['seeds']}")
    yield "| nominal p_0 | measured p_0 | log2((1-p)/p) | exact chains | greedy |"
    yield "|---|---|---|---|---|"
    for c in r["checkpoints"]:
        x = math.log2((1 - c["p0"]) / c["p0"])
        yield (f"| {c['p0_nominal']} | {c['p0']:.4f} | {x:.2f} | {c['exact_chains']:.3f} | "
               f"{c['greedy_accuracy']:.3f} |")
    yield ""
    yield ("| nominal p_0 | algo | epochs | T | seeds: solved at | rounds to 1/3 | rounds to 1/2 | log-odds slope | "
           "refit ratio (first 6 rounds) | final long fraction |")
    yield "|---|---|---|---|---|---|---|---|---|---|"
    keys = dict.fromkeys((x["p0_nominal"], x["algo"], x.get("epochs"), x.get("temperature")) for x in r["runs"])
    for key in keys:
        runs = [x for x in r["runs"] if (x["p0_nominal"], x["algo"], x.get("epochs"), x.get("temperature")) == key]
        third = [x.get("rounds_to_third", x.get("steps_to_third")) for x in runs]
        half = [x.get("rounds_to_half", x.get("steps_to_half")) for x in runs]
        ratios = [sum(x["refit_ratio"][:6]) / len(x["refit_ratio"][:6]) if x.get("refit_ratio") else None
                  for x in runs]
        yield (f"| {key[0]} | {key[1]} | {key[2] or ''} | {key[3] or ''} | "
               f"{' / '.join(str(x['solved_step']) for x in runs)} | {' / '.join(map(str, third))} | "
               f"{' / '.join(map(str, half))} | {_join(x.get('odds_slope') for x in runs)} | {_join(ratios)} | "
               f"{_join(x['long_fraction'][-1] for x in runs)} |")


def too_early(r):
    if "levels" in r:  # snapshots by the chain probe
        yield (f"levels {r['levels']}; {', '.join(r['algos'])}; at most {r['rl_steps']} RL steps, stop "
               f"{r['after_solved']} after solved; probe {r['probe_n']} long answers, start {r['start_probe_n']}")
        yield ("| d | p_long | seed | level | samples | exact chains at the start (probe) | algo | solved at | greedy "
               "acc / length after | greedy exact chains after | ended |")
        yield "|---|---|---|---|---|---|---|---|---|---|---|"
        for x in r["rows"]:
            probe, after = x["start"].get("probe") or {}, x["after"]
            yield (f"| {x['d']} | {x['p_long']} | {x['seed']} | {x['level']} | {x['samples']:,} | "
                   f"{_f(probe.get('exact'))} | {x['algo']} | {x['solved_step']} | {after['greedy_accuracy']:.3f} / "
                   f"{after['greedy_mean_length']:.1f} | {after['greedy_chain_accuracy']:.3f} | {_ended(x)} |")
        return
    yield f"chains learned at {r['learned_at_samples']} samples (seed: samples); {r['rl_steps']} RL steps each"
    for x in r["rows"]:
        start, after = x["start"], x["after"]
        yield (f"- seed {x['seed']}, fraction {x['fraction']} ({x['samples']:,}): exact sampled chains at the start "
               f"{_f(start['sampled_long_chain_accuracy'])}; solved at {x['solved_step']}; greedy after "
               f"{after['greedy_accuracy']:.3f}, length {after['greedy_mean_length']:.1f}, exact chains "
               f"{after['greedy_chain_accuracy']:.3f}")


def exact_chains(r):
    t = task_settings(r["task"])
    yield f"{r['after']} steps after solved; {t['d']} bits, p_long = {t['p_long']}"
    for x in r["runs"]:
        f = x["final"]
        yield (f"- {x['algo']}, {x['reward']} reward, seed {x.get('seed')}: solved at {x.get('solved_step')}; greedy "
               f"{f['greedy_accuracy']:.3f}, greedy exact chains {f['greedy_chain_accuracy']:.3f}, sampled long "
               f"exact {_f(f['sampled_long_chain_accuracy'])}, P(first bit right) {x['p_first_right']:.3f}")


def rl_speed(r):
    for key in ("collection_pretrained", "collection_after_rl"):
        c = r[key]
        yield (f"- {key}: TorchRL {c['torchrl_tokens_per_s']:,.0f} vs generate {c['generate_tokens_per_s']:,.0f} "
               f"tokens/s, ratio {c['ratio']:.2f}")
    times = [x["time_to_solved_s"] for x in r["time_to_99"]]
    yield (f"- time to 99% ({r['algo']}): {', '.join(_f(t, '.1f') for t in times)} s (median "
           f"{_f(r['time_to_99_median_s'], '.1f')})")


def env_throughput(r):
    yield "| impl | batch | token-steps/s | ratio to single |"
    yield "|---|---|---|---|"
    for x in r["results"]:
        yield (f"| {x['impl']} ({x['device']}) | {x['batch']} | {x['token_steps_per_s']:.3g} | "
               f"{_f(x['ratio_to_single'], '.3g')} |")
    yield f"sampler: {r['sampler']['sequences_per_minute'] / 1e6:.1f}M sequences/minute at d = {r['sampler']['d']}"


def env_step_profile(r):
    for x in r["floor"]:
        yield f"- {x['impl']} ({x['device']}), batch {x['batch']}: {x['token_steps_per_s']:.3g} token-steps/s"
    for b in r["torch_breakdown"]:
        yield (f"- batch {b['batch']}: {b['total_us']:.1f} µs a step = step {b['advance_us']:.1f} + reset "
               f"{b['reset_rows_us']:.1f} + entries {b['entries_us']:.1f} + TorchRL/tensordict {b['other_us']:.1f}")


def paper_scale(r):
    yield _agent(r)
    for x in r["runs"]:
        pre, ft = x["pretrain"], x["finetune"]
        controls = "; ".join(f"NTP alone ({'peak' if x[key].get('schedule') == 'constant' else 'decayed'} lr) to "
                             f"{x[key]['samples']:,} samples: "
                             f"greedy {x[key]['metrics']['greedy_accuracy']:.3f}"
                             for key in ("control", "control_decayed") if key in x)
        yield (f"- seed {x['seed']}: NTP learned the chain at {pre['samples']:,} samples, {pre['wall_s']:.1f} s "
               f"(greedy {pre['metrics']['greedy_accuracy']:.3f}); RL {ft['episodes']:,} episodes, "
               f"{ft['wall_s']:.1f} s, to greedy {ft['metrics']['greedy_accuracy']:.3f}, length "
               f"{ft['metrics']['greedy_mean_length']:.1f}; {controls}")


def linear_model(r):
    yield f"d = {r['d']}, {r['budget']:,} demonstrations per run"
    for x in r["runs"]:
        yield (f"- p_long {x['p_long']}, seed {x['seed']}: sampled long fraction {x['sampled_long_fraction']:.3f}, "
               f"greedy {x['greedy_accuracy']:.3f} (length {x['greedy_mean_length']:.1f})")
    for x in r["rl"]:
        yield f"- REINFORCE from p_long {r['rl_from']}, seed {x['seed']}: solved at step {x['solved_step']}"
    for x in r["star"]:
        yield f"- STaR seed {x['seed']}: long fraction {' '.join(f'{v:.3f}' for v in x['long_fraction'])}"


def hf_llama(r):
    yield f"d = {r['d']}, p_long = {r['p_long']}, agent hf {json.dumps(r['agent_config'])}"
    for x in r["runs"]:
        st = x["stages"]
        yield (f"- seed {x['seed']} ({x['parameters']:,} parameters): greedy after NTP "
               f"{st['pretrained']['greedy_accuracy']:.3f}, after RL {st['finetuned']['greedy_accuracy']:.3f} "
               f"(length {st['finetuned']['greedy_mean_length']:.1f}, solved at step {x['rl_solved_step']}), "
               f"control {st['control']['greedy_accuracy']:.3f}")


def peer_speed(r):
    for name, c in r["comparisons"].items():
        gpt = f", the shipped GPT {c['median_ratio_gpt']:.2f}x" if "median_ratio_gpt" in c else ""
        yield f"- {name}: ours / theirs, same model, median of per-pair ratios {c['median_ratio']:.2f}x{gpt}"


SUMMARIES = {f.__name__: f for f in (calibration, threshold, leap, generation_speed, pretrain_speed, rl_algorithms,
                                     temperature, rl_controls, star_recursion, star_p0, too_early, exact_chains,
                                     rl_speed, env_throughput, env_step_profile, paper_scale, linear_model, hf_llama,
                                     peer_speed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=COMMITTED_RESULTS, metavar="DIR",
                        help="directory of result JSON files (default: the committed benchmarks/results)")
    args = parser.parse_args()
    paths = sorted(args.results.glob("*.json"))
    if not paths:
        parser.error(f"--results {args.results}: no result JSON files there")
    for path in paths:
        r = json.loads(path.read_text())
        summary = SUMMARIES.get(result_kind(path.stem, r))
        print(f"### {path.stem}\n{_hw(r)}\n")
        print("\n".join(summary(r)) if summary else "(no summary)")
        print()



# --------------------------------------------------------------------------------------------------- multiplication
def _mul_runs(cs: list[dict], value, fmt: str = ".3f") -> str:
    """A value per seed of the cells ``cs``, joined (n/a where a stage is missing)."""
    out = []
    for c in cs:
        try:
            out.append(value(c))
        except (KeyError, TypeError):
            out.append(None)
    return _join(out, fmt)


def multiplication(r):
    s = r["settings"]
    yield (f"recipe {json.dumps(s['recipe'])}; NTP until the chain check passes, at most {s['long_budget']:,} long "
           f"demonstrations ({s['max_samples']:,} samples); RL {s['rl_steps']} steps x {s['rl_batch']} episodes "
           f"({', '.join(r['algos'])}); NTP-only control on as many sequences at the peak lr; {s['eval_n']} prompts "
           "per mode. Per cell, one value per seed:")
    rl_heads = " | ".join(f"greedy after {a} (length; exact chains)" for a in r["algos"])
    yield ("| digits | p_long | seeds | NTP: learned at (samples) | NTP: time to learned (s) | sampled long fraction | "
           f"long answers right | long answers exact | greedy after NTP | {rl_heads} | NTP-only control greedy | "
           "first probe >= 0.95 (s, reinforce) |")
    yield "|" + "---|" * (10 + len(r["algos"]))
    longs = [c for c in r["cells"] if "control_long" in c]
    groups: dict = {}
    for c in sorted(r["cells"], key=lambda c: (c["digits"], c["p_long"], c["seed"])):
        if "pretrain" in c:
            groups.setdefault((c["digits"], c["p_long"]), []).append(c)
    for (d, p), cs in groups.items():
        learned = " / ".join(f"{c['pretrain']['learned_at_samples']:,}" if c["pretrain"]["learned"] else "not learned"
                             for c in cs)
        rl = []
        for a in r["algos"]:
            rl.append(" / ".join(
                f"{m['greedy_accuracy']:.3f} ({m['greedy_mean_length']:.1f}; {m['greedy_chain_accuracy']:.3f})"
                if (m := c.get("rl", {}).get(a, {}).get("metrics")) else "n/a" for c in cs))
        f95 = " / ".join(_f((c.get("rl", {}).get("reinforce", {}).get("first_95") or {}).get("wall_s"), ".0f")
                         for c in cs)
        yield (f"| {d} x {d} | {p} | {' '.join(str(c['seed']) for c in cs)} | {learned} | "
               f"{_mul_runs(cs, lambda c: c['pretrain']['time_to_learned_s'], '.0f')} | "
               f"{_mul_runs(cs, lambda c: c['pretrain']['metrics']['sampled_long_fraction'])} | "
               f"{_mul_runs(cs, lambda c: c['pretrain']['metrics']['sampled_long_accuracy'])} | "
               f"{_mul_runs(cs, lambda c: c['pretrain']['metrics']['sampled_long_chain_accuracy'])} | "
               f"{_mul_runs(cs, lambda c: c['pretrain']['metrics']['greedy_accuracy'])} | {' | '.join(rl)} | "
               f"{_mul_runs(cs, lambda c: c['control']['metrics']['greedy_accuracy'])} | {f95} |")
    if longs:
        yield ""
        yield "NTP alone for longer (--long-control), peak lr, per seed: greedy accuracy (samples in all)"
    for c in sorted(longs, key=lambda c: (c["digits"], c["p_long"], c["seed"])):
        m = c["control_long"]["metrics"]
        yield (f"- {c['digits']} x {c['digits']}, p_long {c['p_long']}, seed {c['seed']}: greedy "
               f"{m['greedy_accuracy']:.3f}, length {m['greedy_mean_length']:.1f} ({c['control_long']['samples']:,})")


def multiplication_recipe(r):
    t = task_settings(r["task"])
    yield f"multiplication {t['digits']} x {t['digits']}, p_long = {t['p_long']}, at most {r['max_samples']:,} samples"
    for x in r["runs"]:
        f = x["final"]
        when = (f"learned at {x['learned_at_samples']:,} samples, {x['time_to_learned_s']:.0f} s" if x["learned"]
                else f"not learned in {x['samples']:,} samples ({x['wall_time_s']:.0f} s)")
        yield (f"- {x['recipe']} {json.dumps(x['overrides'])}, seed {x['seed']}: {when}; greedy "
               f"{f['greedy_accuracy']:.3f}, sampled long fraction {f['sampled_long_fraction']:.3f}, long answers "
               f"right {_f(f['sampled_long_accuracy'])}, exact {_f(f['sampled_long_chain_accuracy'])}")


def multiplication_speed(r):
    for x in r["env"]:
        yield f"- {x['env']}, {x['loop']}, batch {x['batch']}: {x['token_steps_per_s']:,.0f} token-steps/s"
    for key in ("collection_pretrained", "collection_after_rl"):
        if key in r:
            c = r[key]
            yield (f"- {key} ({c['tokens_per_episode']:.1f} tokens/episode, batch {c['batch_size']}): TorchRL "
                   f"{c['torchrl_tokens_per_s']:,.0f} vs generate {c['generate_tokens_per_s']:,.0f} tokens/s, ratio "
                   f"{c['ratio']:.2f}")


SUMMARIES.update({f.__name__: f for f in (multiplication, multiplication_recipe, multiplication_speed)})



# --------------------------------------------------------------------------------------------------- the 0.75 plateau
def plateau(r):
    t, st = task_settings(r["task"]), r["settings"]
    yield (f"d = {t['d']}, p_long = {t['p_long']}; REINFORCE, probes every {st['probe_every']} steps on {st['n']:,} "
           f"prompts; plateau: first probe in [{st['low']}, {st['high']}] to the first >= {st['solved']} after it")
    yield ("| pre-training seed | RL seed | solved at | plateau steps | at its midpoint: greedy (x_1 = 0 / 1), "
           "length | P(first = 1 \\| x_1 = 0 / 1) | after a wrong first bit, x_1 = 0 / 1: P(EOS) | at the end: first "
           "bit = x_1, exact chains, greedy after a wrong first bit: c_2 / EOS |")
    yield "|---|---|---|---|---|---|---|---|"
    for x in r["runs"]:
        span, mid, end = x["plateau"], x["plateau"]["probes"]["mid"], x["plateau"]["probes"]["end"]
        at_mid = "n/a | n/a | n/a" if mid is None else (
            f"{mid['greedy_accuracy']:.3f} ({mid['greedy_accuracy_x1_0']:.3f} / {mid['greedy_accuracy_x1_1']:.3f}), "
            f"{mid['greedy_length']:.2f} | {mid['p_first']['x1_0']['1']:.2f} / {mid['p_first']['x1_1']['1']:.2f} | "
            f"{mid['after_wrong_first']['x1_0']['eos']:.2f} / {mid['after_wrong_first']['x1_1']['eos']:.2f}")
        at_end = "n/a" if end is None else (
            f"{end['greedy_first_is_x1']:.3f}, {end['greedy_chain_accuracy']:.3f}, "
            f"{end['greedy_second_bit']['after_wrong_first_prompt']:.2f} / "
            f"{end['greedy_second_bit']['after_wrong_first_eos']:.2f}")
        yield (f"| {x.get('seed')} | {x['rl_seed']} | {x['solved_step']} | {span['start_step']}-"
               f"{span['end_step']} | {at_mid} | {at_end} |")


SUMMARIES["plateau"] = plateau


if __name__ == "__main__":
    main()
