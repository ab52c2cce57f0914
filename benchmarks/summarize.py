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
from pathlib import Path

from common import COMMITTED_RESULTS, result_kind


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
    yield f"{r['budget']:,} demonstrations per p_long, d = {r['d']}, {r['n']:,} prompts per mode"
    yield "| p_long | chain learned at | sampled long fraction | long accuracy | greedy accuracy | greedy length |"
    yield "|---|---|---|---|---|---|"
    for x in r["rows"]:
        learned = f"{x['chain_learned_at']:,}" if x["chain_learned_at"] is not None else "not learned"
        yield (f"| {x['p_long']} | {learned} | {x['sampled_long_fraction']:.4f} (band ±{x['band']:.3f}) | "
               f"{_f(x['sampled_long_accuracy'])} | {x['greedy_accuracy']:.3f} | {x['greedy_mean_length']:.2f} |")


def threshold(r):
    yield f"budget {r['budget']:,} demonstrations per run, d = {r['d']}, greedy on {r['n']} prompts"
    yield "| p_long | greedy accuracy per seed | greedy length per seed | chain learned at (samples) |"
    yield "|---|---|---|---|"
    for p in sorted({x["p_long"] for x in r["runs"]}):
        runs = [x for x in r["runs"] if x["p_long"] == p]
        yield (f"| {p} | {_join(x['greedy_accuracy'] for x in runs)} | "
               f"{_join((x['greedy_mean_length'] for x in runs), '.1f')} | "
               f"{' / '.join(str(x['chain_learned_at']) for x in runs)} |")


def leap(r):
    for x in r["runs"]:
        f = x["final"]
        yield (f"- seed {x['seed']}: greedy {f['greedy_accuracy']:.3f} (length {f['greedy_mean_length']:.1f}), "
               f"sampled long fraction {f['sampled_long_fraction']:.3f}, exact leap-{r['leap']} chains among long "
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
    t = r["task"]
    yield f"d = {t['d']}, p_long = {t['p_long']}, temperature {r.get('temperature', 1.0)}"
    yield "| algo | seed | solved at step | time to solved (s) | lowest greedy after | final greedy acc / length |"
    yield "|---|---|---|---|---|---|"
    for x in r["runs"]:
        f = x["final"]
        yield (f"| {x['algo']} | {x['seed']} | {x['solved_step']} | {_f(x['time_to_solved_s'], '.1f')} | "
               f"{_f(x['min_accuracy_after_solved'])} | {f['greedy_accuracy']:.3f} / {f['greedy_mean_length']:.1f} |")


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
    for x in r["runs"]:
        yield (f"- seed {x['seed']}: measured {' '.join(f'{v:.3f}' for v in x['long_fraction'])}; "
               f"recursion {' '.join(f'{v:.3f}' for v in x['recursion'])}")


def too_early(r):
    yield f"chain learned at {r['learned_at_samples']:,} samples"
    for x in r["rows"]:
        yield (f"- fraction {x['fraction']}: solved at {x['solved_step']}, greedy after "
               f"{x['greedy_accuracy'][-1]:.3f}, length after {x['greedy_length'][-1]:.1f}")


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
    for x in r["runs"]:
        pre, ft, control = x["pretrain"], x["finetune"], x["control"]
        yield (f"- seed {x['seed']}: NTP learned the chain at {pre['samples']:,} samples (greedy "
               f"{pre['metrics']['greedy_accuracy']:.3f}); RL {ft['episodes']:,} episodes to greedy "
               f"{ft['metrics']['greedy_accuracy']:.3f}, length {ft['metrics']['greedy_mean_length']:.1f}; "
               f"NTP alone to {control['samples']:,} samples: greedy {control['metrics']['greedy_accuracy']:.3f}")


SUMMARIES = {f.__name__: f for f in (calibration, threshold, leap, generation_speed, pretrain_speed, rl_algorithms,
                                     temperature, rl_controls, star_recursion, too_early, rl_speed, env_throughput,
                                     env_step_profile, paper_scale)}


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


if __name__ == "__main__":
    main()
