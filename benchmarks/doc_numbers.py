"""Does every number the benchmark docs print have a source? python benchmarks/doc_numbers.py [--doc FILE]

    python benchmarks/doc_numbers.py              # benchmarks/README.md against the committed benchmarks/results/
    python benchmarks/doc_numbers.py --explain    # every number, with the file and key it was found under

Prints every number of the page that no source holds, with its section, and exits 1 if there is one. A section (a
``##`` or ``###`` heading to the next) names the results its numbers come from in HTML comments at the start of a
line, which the rendered page does not show; each covers the text after it, up to the next one or the next heading
(the first one also the text before it)::

    <!-- sources: rl_algorithms.json phase_cpu/ pretrain_speed.json:check_n_long,check_max_error -->
    <!-- sources: phase_cpu/ run: python benchmarks/sweep_cost.py benchmarks/results/phase_cpu --slots 256 -->
    <!-- unsourced: TODO regenerate: why, and what to commit -->

``NAME.json`` is a file of the results directory, ``NAME/`` every ``*.json`` and ``*.jsonl`` file of its
sub-directory, ``:KEY,KEY`` keeps only what is under those keys, and ``run:`` (last) adds the numbers a committed
script prints from committed results. A source holds every number in it and the statistics ``Pool`` lists (min, max,
median, mean, sum and count over lists and over the seeds of a setting); a number of the page has a source when one
of them is that number at the precision it is printed with (``Number``). ``unsourced`` parts are listed, not checked.

Numbers that are not results are named where they stand, in the same kind of comment:

    <!-- computed: 0.625 = (1 + 0.25) / 2; 1.4 = log(2) / 0.502 -->    derived on the page: the arithmetic is checked
    <!-- not-measured: 2–8 128–256 (the paper's model sizes) -->       not results: the reason is required

Inline code (commands, options, names) and python blocks are not read; a bash block's comments are, and so is every
other fenced block (program output). References to the paper (``Fig. 3``, ``Sec. 3.2``, ``Theorem 1``) and versions
(``torch 2.13``) are not numbers.
"""

from __future__ import annotations

import argparse
import ast
import bisect
import json
import math
import operator
import re
import shlex
import statistics
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from common import COMMITTED_RESULTS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "benchmarks" / "README.md"

REFERENCES = re.compile(r"\b(?:Figs?\.|Fig(?:ure)?s?|Sec(?:tion)?s?\.?|Theorems?|Thm\.|Table|Eq\.|Appendix|torch|"
                        r"Python|et al\.,?)\s*\d+(?:\.\d+)*")
"""References to the paper and versions: not numbers of ours."""

SCALES = {"%": 0.01, "k": 1e3, "M": 1e6, "GFLOP/s": 1e9}
"""A unit after a number that scales it: ``48.9%`` is 0.489."""
BYTES = {"GB": 1e9}
"""A unit of memory: the number is in a file in that unit or in bytes (``1.29 GB`` is 1.29 or 1.29e9)."""

TIMES = {"ns": 1e-9, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "minute": 60.0, "minutes": 60.0, "h": 3600.0,
         "hours": 3600.0}
"""A unit of time after a number: the number is a time, in a file in that unit or in seconds (``37.7 ms`` is 37.7 or
0.0377 under a key that holds a time)."""

TIME_KEY = re.compile(r"(?<!per)(?<!flop)_(?:s|ms|us|ns)(?:\b|_per_)")
"""A key that holds a time (wall_s, total_us; not tokens_per_s)."""

NUMBER = re.compile(
    r"(?<![\w.^/])(?<![A-Za-z]-)(?P<sign>−|(?<![\w)])-)?"
    r"(?P<int>\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.(?P<frac>\d+))?"
    r"(?:\s?×\s?10\^(?P<exp>[−-]?\d+)|e(?P<e>[−+-]?\d+)\b|\^(?P<pow>[−-]?\d+))?"
    r"(?P<unit>%|(?:\s?(?:k|M|GB|GFLOP/s|ns|µs|ms|s|min|minutes?|h|hours))(?![\w/]))?"
)
RANGE_DASH = "–"


# --------------------------------------------------------------------------------------------------- numbers
@dataclass(frozen=True)
class Number:
    """A number as printed: ``text``, and the values it may stand for, each with the half-width of its last digit.

    ``0.485`` stands for 0.485 ± 0.0005; ``48.9%`` for 0.489 ± 0.0005; ``20,480`` for 20480 ± 0.5; ``2.1×10^7`` and
    ``2.1e7`` for 2.1e7 ± 5e5; ``10^6`` (a power alone) for 1e6 ± 5%; ``48.7 s`` for 48.7 ± 0.05 and ``10 minutes``
    for 10 ± 0.5 or 600 ± 30, found only under keys that hold times (``time``).
    """

    text: str
    candidates: tuple[tuple[float, float], ...]
    time: bool = False


def _number(match: re.Match, unit: str | None = None, scale: int | None = None) -> Number:
    """The ``Number`` of a ``NUMBER`` match (``unit`` and ``scale``: a range's second endpoint's, if it has none)."""
    digits = match["int"].replace(",", "") + ("." + match["frac"] if match["frac"] else "")
    value = float(digits) * (-1 if match["sign"] else 1)
    half = 0.5 * 10.0 ** -len(match["frac"] or "")
    exp = match["exp"] or match["e"]
    if exp is not None or scale is not None:
        power = 10.0 ** (int(exp.replace("−", "-")) if exp is not None else scale)
        value, half = value * power, half * power
    elif match["pow"] is not None:
        value = value ** int(match["pow"].replace("−", "-"))
        half = 0.05 * abs(value)
    unit = (match["unit"] or "").strip() or unit
    if unit in SCALES:
        return Number(match.group(0).strip(), ((value * SCALES[unit], half * SCALES[unit]),))
    if unit in BYTES:
        return Number(match.group(0).strip(), ((value, half), (value * BYTES[unit], half * BYTES[unit])))
    scales = {1.0, TIMES[unit]} if unit in TIMES else {1.0}
    return Number(match.group(0).strip(), tuple((value * f, half * f) for f in sorted(scales)), unit in TIMES)


def _readable(text: str) -> str:
    """``text`` without what is not read: HTML comments, code, link targets and references.

    Python blocks go, bash blocks but for their comments; other fenced blocks are program output, and stay.
    """
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)

    def block(match: re.Match) -> str:
        lang, body = match["lang"], match["body"]
        if lang == "bash":
            return "\n".join(line.split(" # ", 1)[1] if " # " in line else "" for line in body.splitlines())
        return "" if lang else body

    text = re.sub(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```", block, text, flags=re.S | re.M)
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return REFERENCES.sub(" ", text)


def numbers(text: str) -> list[Number]:
    """Every number of the prose ``text`` (see ``_readable`` for what is skipped), in order.

    A range ``a–b`` gives both endpoints, and so does a list ``a / b / c``; a number without a unit of its own takes
    that of the next one in its range or list, and in a range also its power of ten (``3.3–6.3×10^6``, ``5–25%``,
    ``100 / 99.8 / 100%``).
    """
    text = _readable(text)
    matches = list(NUMBER.finditer(text))
    out: list[Number] = []
    unit, scale = None, None  # what the next number of the same range or list has
    for i in reversed(range(len(matches))):
        match = matches[i]
        between = text[match.end():matches[i + 1].start()] if i + 1 < len(matches) else None
        if between not in (RANGE_DASH, " / "):
            unit, scale = None, None
        elif between == " / ":
            scale = None
        if match["unit"] or match["exp"] or match["e"] or match["pow"]:
            unit, scale = (match["unit"] or "").strip() or None, match["exp"] or match["e"]
            out.append(_number(match))
        else:
            out.append(_number(match, unit, int(scale.replace("−", "-")) if scale is not None else None))
    return out[::-1]


# --------------------------------------------------------------------------------------------------- sources
STATS = {"min": min, "max": max, "median": statistics.median, "mean": statistics.fmean, "sum": math.fsum,
         "count": len}
"""What a page may say of a list of numbers besides the numbers (over the seeds, the runs, a curve's points)."""


def log_odds_slope(fractions: list[float]) -> float:
    """The least-squares slope of a series' log odds against its index.

    STaR's long fraction per round: Theorem 2's p <- 2p/(1+p) is a line of slope log 2. Fractions of 0 or 1 are
    clipped to 1e-6 from them.
    """
    p = [min(max(f, 1e-6), 1 - 1e-6) for f in fractions]
    return statistics.linear_regression(range(len(p)), [math.log(f / (1 - f)) for f in p]).slope


SERIES = {"long_fraction": log_odds_slope}
"""A statistic that only a series under this key has."""

SETTINGS = ("d", "p_long", "seed", "algo", "reward", "temperature", "fraction", "setting", "digits")
"""The keys that records are grouped by: a page quotes a statistic over the seeds of one setting."""


def _is_number(x) -> bool:
    """Whether ``x`` is a finite int or float (not a bool)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _leaves(x, path: str) -> Iterator[tuple[float, str]]:
    """Every number in ``x``, with its path."""
    if _is_number(x):
        yield float(x), path
    elif isinstance(x, dict):
        for k, v in x.items():
            yield from _leaves(v, f"{path}.{k}")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _leaves(v, f"{path}[{i}]")


def _columns(records: list[dict]) -> dict[str, list[float]]:
    """The numbers at each key path of a list of records (a path's value in each record that has one)."""
    columns: dict[str, list[float]] = {}

    def walk(x, path):
        if _is_number(x):
            columns.setdefault(path, []).append(float(x))
        elif isinstance(x, dict):
            for k, v in x.items():
                walk(v, f"{path}.{k}")

    for record in records:
        walk(record, "")
    return columns


def _groups(records: list[dict]) -> Iterator[tuple[str, list[dict]]]:
    """The records, and the records sharing the value of one or two ``SETTINGS`` (with a name for each group)."""
    yield "*", records
    keys = [k for k in SETTINGS if all(isinstance(r.get(k), (str, int, float)) for r in records)]
    for i, a in enumerate(keys):
        for b in [None, *keys[i + 1:]]:
            found: dict = {}
            for r in records:
                found.setdefault(f"{a}={r[a]}" + (f",{b}={r[b]}" if b else ""), []).append(r)
            yield from found.items()


def _derived(x, path: str) -> Iterator[tuple[float, str]]:
    """The ``STATS`` (and ``SERIES``) of every list of numbers in ``x``, and of every list of records' key paths.

    A list of records gives the statistics of each path to a number (not into a list) over each ``_groups`` of it.
    """
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _derived(v, f"{path}.{k}")
    elif isinstance(x, list) and x:
        if all(_is_number(v) for v in x):
            stats = {**STATS, **{f.__name__: f for key, f in SERIES.items() if path.endswith(f".{key}")}}
            yield from ((float(f(x)), f"{name}({path}[*])") for name, f in stats.items())
        elif all(isinstance(v, dict) for v in x):
            for group, records in _groups(x):
                for column, values in _columns(records).items():
                    yield from ((float(f(values)), f"{name}({path}[{group}]{column})") for name, f in STATS.items())
        for i, v in enumerate(x):
            yield from _derived(v, f"{path}[{i}]")


def _only(x, keys: set[str]):
    """``x`` with only what is under ``keys`` (at any depth), and the ``SETTINGS`` of the records that keep some."""
    if isinstance(x, dict):
        kept = {k: v if k in keys else _only(v, keys) for k, v in x.items()}
        kept = {k: v for k, v in kept.items() if k in keys or v}
        return {**{k: x[k] for k in SETTINGS if k in x}, **kept} if kept else {}
    if isinstance(x, list):
        return [kept for kept in (_only(v, keys) for v in x) if kept]
    return None


def _load(path: Path):
    """A result's data (a ``.jsonl`` file: the list of its lines')."""
    if not path.is_file():
        raise FileNotFoundError(f"source {path} does not exist")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return json.loads(path.read_text())


def source_files(name: str, results: Path = COMMITTED_RESULTS) -> list[Path]:
    """The files a source stands for.

    ``NAME.json`` (or ``.jsonl``) in ``results``, or every one of those in ``NAME/`` (``:KEYS`` is not part of the
    name).
    """
    name = name.split(":", 1)[0]
    if not name.endswith("/"):
        return [results / name]
    found = sorted([*(results / name).glob("*.json"), *(results / name).glob("*.jsonl")])
    if not found:
        raise FileNotFoundError(f"source {results / name} holds no *.json or *.jsonl file")
    return found


def load(name: str, results: Path = COMMITTED_RESULTS):
    """The data of the source ``name``: its file's, or for ``NAME/`` {file name: data} of its files.

    Raises:
        FileNotFoundError: the source is missing (the message names it).
    """
    paths = source_files(name, results)
    return {p.name: _load(p) for p in paths} if name.split(":", 1)[0].endswith("/") else _load(paths[0])


class Pool:
    """The numbers of some sources, with where each comes from.

    A source (``source_files``, with ``:KEY,KEY`` for only what is under those keys) gives every number in it and
    their statistics (``_derived``); ``run``, a command, the numbers it prints.

    Raises:
        FileNotFoundError: a source is missing (the message names it).
    """

    def __init__(self, names: Iterable[str], results: Path = COMMITTED_RESULTS, run: str | None = None):
        found: list[tuple[float, str]] = []
        for name in names:
            keys = set(name.split(":", 1)[1].split(",")) if ":" in name else None
            for path in source_files(name, results):
                data = _load(path)
                data = _only(data, keys) if keys else data
                label = str(path.relative_to(results))
                found += [*_leaves(data, label), *_derived(data, label)]
        if run:
            found += [(value, f"the output of {run}") for n in numbers(_run(run)) for value, _ in n.candidates]
        found.sort()
        self.values, self.labels = [v for v, _ in found], [label for _, label in found]

    def source(self, number: Number) -> str | None:
        """Where ``number`` comes from: a path, or a statistic of paths (the plainest), or None.

        A time (``Number.time``) comes only from a key that holds a time (``TIME_KEY``) or from a command's output.
        """
        found = []
        for value, half in number.candidates:
            slack = half * (1 + 1e-6) + 1e-12 * abs(value)  # the last digit's half, and float rounding
            i = bisect.bisect_left(self.values, value - slack)
            while i < len(self.values) and self.values[i] <= value + slack:
                label = self.labels[i]
                if not number.time or TIME_KEY.search(label) or label.startswith("the output of"):
                    found.append(label)
                i += 1
        return min(found, key=lambda label: (label.count("(") + label.count("["), label), default=None)


_POOLS: dict[tuple, Pool] = {}


def pool(names: Iterable[str], results: Path = COMMITTED_RESULTS, run: str | None = None) -> Pool:
    """The ``Pool`` of these sources (built once)."""
    key = (tuple(names), results, run)
    if key not in _POOLS:
        _POOLS[key] = Pool(names, results, run)
    return _POOLS[key]


def _run(command: str) -> str:
    """The output of ``python benchmarks/SCRIPT.py ARGS``, run from the repository root."""
    args = shlex.split(command)
    if args[:1] != ["python"] or not re.fullmatch(r"benchmarks/\w+\.py", args[1] if len(args) > 1 else ""):
        raise ValueError(f"run: {command!r} is not 'python benchmarks/SCRIPT.py ARGS'")
    proc = subprocess.run([sys.executable, *args[1:]], cwd=ROOT, capture_output=True, text=True, timeout=120)
    if proc.returncode:
        raise RuntimeError(f"run: {command!r} exited {proc.returncode}: {proc.stderr[-1000:]}")
    return proc.stdout


# --------------------------------------------------------------------------------------------------- the page
@dataclass
class Block:
    """A part of a section covered by one sources comment.

    ``sources`` is None where the section has no sources comment; ``unsourced`` is the reason given where a part
    is marked unsourced.
    """

    section: str
    text: str
    sources: list[str] | None
    run: str | None = None
    unsourced: str | None = None


SOURCES = re.compile(r"^<!--\s*(?:sources:(?P<names>.*?)(?:\brun:(?P<run>.*?))?|unsourced:(?P<todo>.*?))-->",
                     re.S | re.M)
COMPUTED = re.compile(r"^<!--\s*computed:(.*?)-->", re.S | re.M)
NOT_MEASURED = re.compile(r"^<!--\s*not-measured:(.*?)\((.+?)\)\s*-->", re.S | re.M)
"""The comments that name sources and account for numbers, each at the start of a line."""


def _headings(markdown: str) -> list[int]:
    """Where the ``#``, ``##`` and ``###`` headings outside fenced blocks start."""
    starts, fenced, at = [], False, 0
    for line in markdown.splitlines(keepends=True):
        fenced ^= line.startswith("```")
        if not fenced and re.match(r"#{1,3} ", line):
            starts.append(at)
        at += len(line)
    return starts


def blocks(markdown: str) -> list[Block]:
    """The page cut at its headings and sources comments (a section's text before its first comment goes with it)."""
    out = []
    starts = _headings(markdown)
    for start, end in zip([0, *starts], [*starts, len(markdown)]):
        section = markdown[start:end]
        title = section.splitlines()[0].lstrip("# ").strip() if section.startswith("#") else "(top of the page)"
        comments = list(SOURCES.finditer(section))
        if not comments:
            out.append(Block(title, section, None))
            continue
        cuts = [0] + [m.start() for m in comments[1:]] + [len(section)]
        for c, a, b in zip(comments, cuts, cuts[1:]):
            names = c["names"].split() if c["names"] is not None else None
            todo = " ".join(c["todo"].split()) if c["todo"] else None
            out.append(Block(title, section[a:b], names, c["run"].strip() if c["run"] else None, todo))
    return out


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Pow: operator.pow, ast.USub: operator.neg}
_FUNCS = {"log": math.log, "exp": math.exp, "sqrt": math.sqrt}


def evaluate(expression: str) -> float:
    """The value of an arithmetic ``expression`` (numbers, + - * / **, parentheses, log, exp, sqrt)."""

    def value(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](value(node.operand))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS:
            return _FUNCS[node.func.id](*map(value, node.args))
        raise ValueError(f"computed: {expression!r} is not arithmetic")

    return float(value(ast.parse(expression.strip(), mode="eval").body))


@dataclass(frozen=True)
class Problem:
    """A number without a source (or a wrong computed one): where, what, why."""

    section: str
    number: str
    why: str

    def __str__(self) -> str:
        return f"{self.section}: {self.number}: {self.why}"


def exemptions(text: str) -> tuple[set[str], list[Problem]]:
    """The number texts that a block's computed and not-measured comments account for, and the wrong computed ones.

    The wrong ones are problems without a section.
    """
    exempt: set[str] = set()
    wrong = []
    for comment in COMPUTED.findall(text):
        for claim in filter(str.strip, comment.split(";")):
            printed, expression = (part.strip() for part in claim.split("=", 1))
            number, value = numbers(printed)[0], evaluate(expression)
            if not any(abs(value - v) <= half * (1 + 1e-6) + 1e-12 * abs(v) for v, half in number.candidates):
                wrong.append(Problem("", printed, f"computed: {expression} = {value:.6g}"))
            exempt.add(number.text)
    for listed, _reason in NOT_MEASURED.findall(text):
        exempt.update(n.text for n in numbers(listed))
    return exempt, wrong


def sourced(block: Block, results: Path = COMMITTED_RESULTS) -> list[tuple[Number, str | None]]:
    """Every number of ``block`` with where it comes from: a source path, ``computed``, ``not-measured``, or None."""
    exempt, _ = exemptions(block.text)
    sources = pool(block.sources, results, block.run) if block.sources is not None else None
    return [(n, "computed or not-measured" if n.text in exempt else sources.source(n) if sources else None)
            for n in numbers(block.text)]


def check_block(block: Block, results: Path = COMMITTED_RESULTS) -> list[Problem]:
    """The numbers of ``block`` that its sources do not hold (all if it names none, none if it is unsourced)."""
    if block.unsourced:
        return []
    _, wrong = exemptions(block.text)
    why = (f"in none of {' '.join(block.sources)}" + (f" nor the output of {block.run}" if block.run else "")
           if block.sources is not None else "no sources comment in this section")
    return ([Problem(block.section, p.number, p.why) for p in wrong]
            + [Problem(block.section, n.text, why) for n, source in sourced(block, results) if source is None])


def check(markdown: str, results: Path = COMMITTED_RESULTS) -> list[Problem]:
    """Every number of the page ``markdown`` without a source (see the module's docstring)."""
    return [problem for block in blocks(markdown) for problem in check_block(block, results)]


def main() -> None:
    """Check the page; print the numbers without a source, and with ``--explain`` where every number comes from."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--doc", type=Path, default=README, help="the page (default benchmarks/README.md)")
    parser.add_argument("--results", type=Path, default=COMMITTED_RESULTS, metavar="DIR",
                        help="directory of the sources (default: the committed benchmarks/results)")
    parser.add_argument("--explain", action="store_true", help="print every number with where it comes from")
    args = parser.parse_args()
    markdown = args.doc.read_text()
    if args.explain:
        for block in blocks(markdown):
            for number, source in sourced(block, args.results):
                print(f"{block.section[:40]}: {number.text} <- {source or 'NO SOURCE'}")
    for block in blocks(markdown):
        if block.unsourced:
            print(f"not checked: {block.section}: {block.unsourced}")
    problems = check(markdown, args.results)
    for problem in problems:
        print(problem)
    print(f"{len(problems)} number(s) without a source in {args.doc}")
    raise SystemExit(1 if problems else 0)


if __name__ == "__main__":
    main()
