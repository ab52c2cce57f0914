"""Fixed datasets of demonstrations, for finite-sample studies.

What ``parity-cot dataset demonstrations`` writes and ``parity-cot pretrain --data DIR`` trains on instead of fresh
samples.

    demos = sample_stream(task, n=51_200, seed=0, batch_size=256)   # the first n rows of the online run's data
    write_demonstrations("data/d4", demos)                           # a Hugging Face dataset (parquet) + its record
    demos = read_demonstrations("data/d4")                           # back: tokens, response_mask, is_long, problems
    source = DataSource.open("data/d4", task, seed=0)                # what pre-training takes its batches from

A dataset directory is a local Hugging Face ``datasets`` dataset (``datasets.load_dataset(DIR)`` reads it, one split,
"train"; with ``format="arrow"`` it is ``Dataset.save_to_disk``'s layout, read by ``datasets.load_from_disk(DIR)``)
beside this package's record of it::

    data/train-00000-of-00001.parquet   one row per demonstration (or per episode, ``parity-cot dataset episodes``)
    parity_cot.json                     the record: kind, task (``task.to_dict()``), rows, how the rows were drawn
                                        (seed, batch_size, order), sha256 (of tokens, response_mask, is_long),
                                        columns

Columns of a dataset of demonstrations (L = task.seq_len, k = the columns of the task's problems)::

    tokens          L int64   the prompt, the answer, EOS, PAD: ``task.sample_demonstrations``'s tokens
    response_mask   L bool    the answer and its EOS (the targets of next-token prediction)
    is_long         bool      a long-form (chain-of-thought) demonstration
    problem         k int64   the problem the prompt poses (absent for a task whose sampler does not draw its
                              problems first, as the contract's does)
    prompt, response  string  the same tokens as text (``task.format_tokens``; absent with text=False)

Order: ``sample_stream(task, n, seed, batch_size)`` holds the first n rows of the stream a pre-training run with that
seed and batch size draws online (``np.random.default_rng(seed)``, then ``task.sample_demonstrations(batch_size,
seed=rng)`` batch after batch), so a run on it trains on exactly the online run's batches: its log and weights are
bit-identical to the online run's for as many samples as the dataset holds (without ``short_rows``, whose subset the
online run draws from the same stream).

Pre-training on a dataset (``DataSource``): batch k of the run is rows kB .. (k+1)B - 1 of the *row stream*: the
dataset's rows in their order (pass 0), then, once they are used up, all of them again in an order shuffled by the
run's seed (pass p >= 1: ``np.random.default_rng([seed, 7, p]).permutation(rows)``), and so on; a batch may straddle
two passes; the log's points carry ``data_pass`` (the pass of their last row) once the rows are being reused. The
position in the stream is the run's sample count (saved in its checkpoint with the dataset's sha256), so a resumed
run continues exactly where it stopped. Sequences of your own (a curated or filtered set, say) make a dataset the
same way: ``write_demonstrations(out, Demonstrations(task, tokens, response_mask, is_long))``. The optional packages
(datasets, pyarrow) are imported only here, when a dataset is written or read.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from parity_env.checks import check_int
from parity_env.contract import CoTTask, TaskError
from parity_env.registry import task_from_dict

EXTRA = "pip install 'parity-cot[data]'"
RECORD_FILE = "parity_cot.json"
PARQUET_FILE = "data/train-00000-of-00001.parquet"  # the name datasets.load_dataset(DIR) maps to split "train"
FORMATS = ("parquet", "arrow")
RECORD_VERSION = 1
SHUFFLE_STREAM = 7  # the passes' shuffles: np.random.default_rng([seed, SHUFFLE_STREAM, pass])
ARRAYS = ("tokens", "response_mask", "is_long")  # what the sha256 covers, in this order

DEMONSTRATION_COLUMNS = {
    "tokens": "the prompt, the answer, EOS, PAD (task.seq_len int64)",
    "response_mask": "the answer and its EOS: the targets of next-token prediction (task.seq_len bool)",
    "is_long": "a long-form (chain-of-thought) demonstration",
    "problem": "the problem the prompt poses (the task's problem columns, int64)",
    "prompt": "the prompt as text (task.format_tokens)",
    "response": "the response as text, EOS included (task.format_tokens)",
}


class MissingExtraError(ImportError, ValueError):
    """An optional package of the ``[data]`` extra is not installed.

    Also a ValueError: the command line says so in one line, exit 2.
    """


def require(module: str, what: str) -> Any:
    """``import module``, or a ``MissingExtraError`` naming ``what`` needs it and the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(f"{what} needs the {module.split('.')[0]} package: {EXTRA}") from None


# --------------------------------------------------------------------------------------------------- demonstrations
@dataclass
class Demonstrations:
    """Demonstrations of ``task`` as ``task.sample_demonstrations`` lays them out.

    With their problems where known and the dataset's record (empty until written or read).
    """

    task: CoTTask
    tokens: np.ndarray  # (n, L) int64
    response_mask: np.ndarray  # (n, L) bool
    is_long: np.ndarray  # (n,) bool
    problems: np.ndarray | None = None  # (n, k) int64
    record: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.tokens.shape[0])

    def sha256(self) -> str:
        """The fingerprint of the demonstrations (tokens, response_mask, is_long), as the dataset's record holds it."""
        return fingerprint(self.tokens, self.response_mask, self.is_long)


def sample_stream(task: CoTTask, n: int, seed: int = 0, batch_size: int = 256) -> Demonstrations:
    """The first ``n`` rows of the stream a pre-training run of ``task`` with ``seed`` and ``batch_size`` draws online.

    Batches of ``task.sample_demonstrations(batch_size, seed=rng)`` from one ``np.random.default_rng(seed)``; a last
    partial batch is drawn whole and cut. With their problems: the contract's sampler draws the problems first, so
    ``task.sample_problems`` on a copy of the generator gives them (checked against the prompts; a task whose sampler
    draws otherwise gets ``problems`` None).
    """
    import copy

    n = check_int("n", n, 1)
    seed = check_int("seed", seed, 0)
    batch_size = check_int("batch_size", batch_size, 1)
    task.check_long_form_fits()
    rng = np.random.default_rng(seed)
    L, P = task.seq_len, task.prompt_len
    tokens = np.empty((n, L), dtype=np.int64)
    mask = np.empty((n, L), dtype=bool)
    is_long = np.empty(n, dtype=bool)
    problems: np.ndarray | None = None
    for start in range(0, n, batch_size):
        twin = copy.deepcopy(rng)  # the generator as the sampler finds it
        t, m, lg = task.sample_demonstrations(batch_size, seed=rng)
        rows = slice(start, min(n, start + batch_size))
        keep = rows.stop - rows.start
        tokens[rows], mask[rows], is_long[rows] = t[:keep], m[:keep], lg[:keep]
        if start == 0 or problems is not None:
            drawn = np.asarray(task.sample_problems(batch_size, twin), dtype=np.int64)
            if drawn.shape[0] != batch_size or not np.array_equal(task.prompt_tokens(drawn), t[:, :P]):
                problems = None  # the sampler does not draw its problems first: they cannot be recovered
                continue
            if problems is None:
                problems = np.empty((n, drawn.shape[1]), dtype=np.int64)
            problems[rows] = drawn[:keep]
    record = {"seed": seed, "batch_size": batch_size,
              "order": f"the first {n} rows of the online pre-training stream of seed {seed} and batch size "
                       f"{batch_size}: np.random.default_rng({seed}), then task.sample_demonstrations({batch_size}, "
                       "seed=rng) batch after batch"}
    return Demonstrations(task, tokens, mask, is_long, problems, record)


def demonstration_columns(demos: Demonstrations, text: bool = True) -> dict[str, Any]:
    """The dataset columns of ``demos`` (module docstring)."""
    columns: dict[str, Any] = {"tokens": demos.tokens, "response_mask": demos.response_mask, "is_long": demos.is_long}
    if demos.problems is not None:
        columns["problem"] = demos.problems
    if text:
        P = demos.task.prompt_len
        columns["prompt"] = [demos.task.format_tokens(row) for row in demos.tokens[:, :P]]
        columns["response"] = [demos.task.format_tokens(row) for row in demos.tokens[:, P:]]
    return columns


def write_demonstrations(out: str | os.PathLike, demos: Demonstrations, format: str = "parquet", text: bool = True,
                         progress: bool = False) -> dict:
    """Write ``demos`` as the dataset directory ``out`` (new or empty); returns its record."""
    columns = demonstration_columns(demos, text)
    record = {"kind": "demonstrations", "task": demos.task.to_dict(), **demos.record,
              "columns": {k: v for k, v in DEMONSTRATION_COLUMNS.items() if k in columns}}
    return write_dataset(out, columns, record, format, progress)


def read_demonstrations(path: str | os.PathLike, verify: bool = True, what: str | None = None) -> Demonstrations:
    """The demonstrations in the dataset directory ``path``.

    ``verify``: their sha256 must be the recorded one; ``what`` names it in errors.
    """
    _check_kind(read_record(path, what), what or path)
    record, columns = read_dataset(path, ("tokens", "response_mask", "is_long", "problem"), what)
    path = what or path
    task = task_from_dict(record["task"])
    tokens = columns["tokens"].astype(np.int64, copy=False)
    mask = columns["response_mask"].astype(bool, copy=False)
    is_long = columns["is_long"].astype(bool, copy=False)
    n, L = len(is_long), task.seq_len
    if tokens.shape != (n, L) or mask.shape != (n, L):
        raise ValueError(f"{path}: tokens {tokens.shape} and response_mask {mask.shape} must be ({n}, {L}) for "
                         f"{task.describe()}")
    if n == 0:
        raise ValueError(f"{path} holds no demonstrations")
    if tokens.min() < 0 or tokens.max() >= task.vocab_size or mask[:, : task.prompt_len].any():
        raise ValueError(f"{path}: tokens outside 0 .. {task.vocab_size - 1}, or a response mask over the prompt")
    demos = Demonstrations(task, tokens, mask, is_long, columns.get("problem"), record)
    if verify and record.get("sha256") not in (None, demos.sha256()):
        raise ValueError(f"{path}: its arrays do not match the sha256 of its record ({RECORD_FILE}): the data were "
                         "changed after it was written")
    return demos


def _check_kind(record: dict, what: Any) -> None:
    if record.get("kind") != "demonstrations":
        raise ValueError(f"{what} is a dataset of {record.get('kind')}, not of demonstrations: write one with "
                         "parity-cot dataset demonstrations")


# --------------------------------------------------------------------------------------------------- the source
class DataSource:
    """A fixed dataset as pre-training's batches (the module docstring's row stream)."""

    def __init__(self, demos: Demonstrations, seed: int, path: str | os.PathLike):
        self.demos, self.seed, self.path = demos, int(seed), str(path)
        self.rows = len(demos)
        self._perm: dict[int, np.ndarray] = {}

    @classmethod
    def open(cls, path: str | os.PathLike, task: CoTTask, seed: int) -> DataSource:
        """The dataset in ``path`` for a run of ``task`` seeded by ``seed``.

        A TaskError (one line) when its task differs from the run's.
        """
        record = read_record(path, f"--data {path}")
        _check_kind(record, f"--data {path}")
        check_task_matches(record, task, path)
        return cls(read_demonstrations(path, what=f"--data {path}"), seed, path)

    def pass_of(self, row: int) -> int:
        """The pass (0: the dataset's own order) that stream row ``row`` belongs to."""
        return int(row) // self.rows

    def order(self, p: int) -> np.ndarray | None:
        """The rows of pass ``p`` in their order (None for pass 0: the dataset's order)."""
        if p == 0:
            return None
        if p not in self._perm:
            self._perm = {p: np.random.default_rng([self.seed, SHUFFLE_STREAM, p]).permutation(self.rows)}
        return self._perm[p]

    def batch(self, start: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows ``start`` .. ``start + size - 1`` of the row stream: tokens (size, L) int64, response_mask, is_long."""
        stream = np.arange(start, start + size, dtype=np.int64)
        rows = stream % self.rows
        for p in np.unique(stream // self.rows).tolist():
            perm = self.order(p)
            if perm is not None:
                sel = stream // self.rows == p
                rows[sel] = perm[rows[sel]]
        d = self.demos
        return d.tokens[rows], d.response_mask[rows], d.is_long[rows]

    def record(self, position: int) -> dict:
        """What a checkpoint keeps of the dataset: where, which (sha256), and the stream position (rows used)."""
        return {"path": self.path, "rows": self.rows, "sha256": self.demos.record.get("sha256") or self.demos.sha256(),
                "position": int(position)}


def check_task_matches(record: dict, task: CoTTask, path: str | os.PathLike) -> None:
    """Raise a one-line TaskError when the dataset's task (its ``record``) is not ``task``."""
    theirs = task_from_dict(record["task"]).to_dict()
    ours = task.to_dict()
    if theirs == ours:
        return
    if theirs["name"] != ours["name"]:
        differ = f"task {theirs['name']!r} there, {ours['name']!r} here"
    else:
        a, b = theirs["config"], ours["config"]
        differ = ", ".join(f"{k} = {a.get(k)!r} there, {b.get(k)!r} here" for k in sorted({*a, *b})
                           if a.get(k) != b.get(k))
    raise TaskError(f"--data {path} holds demonstrations of another task than the run's ({differ}); leave the task "
                    "options out to train on the dataset's task, or write a dataset of this one")


# --------------------------------------------------------------------------------------------------- any dataset
def fingerprint(*arrays: np.ndarray) -> str:
    """sha256 of ``arrays`` (their dtype, shape and bytes, C order): equal arrays, equal fingerprints."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.reshape(-1).view(np.uint8).data)
    return h.hexdigest()


def read_record(path: str | os.PathLike, what: str | None = None) -> dict:
    """The record (``parity_cot.json``) of the dataset directory ``path``; a one-line error when there is none.

    ``what`` names it in errors, e.g. "--data DIR".
    """
    path = Path(path)
    what = what or str(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{what}: no such dataset directory (write one with parity-cot dataset)")
    file = path / RECORD_FILE
    if not file.exists():
        raise FileNotFoundError(f"{what} is not a parity-cot dataset: it has no {RECORD_FILE} (write one with "
                                "parity-cot dataset)")
    try:
        record = json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{what}: {file} is not valid JSON ({e})") from None
    if not isinstance(record, dict) or not isinstance(record.get("task"), dict) or "kind" not in record:
        raise ValueError(f"{what}: {file} is not a parity-cot dataset record (no kind or task)")
    if record.get("format_version", 1) > RECORD_VERSION:
        raise ValueError(f"{what}: {file} was written by a newer parity-cot (format {record['format_version']}); "
                         "upgrade")
    return record


def _arrow_column(values: Any) -> Any:
    """A numpy array (n,) or (n, m), or a list of strings, as a pyarrow array (fixed-size lists for (n, m))."""
    pa = require("pyarrow", "a dataset")
    if isinstance(values, np.ndarray) and values.ndim == 2:
        flat = pa.array(np.ascontiguousarray(values).reshape(-1))
        return pa.FixedSizeListArray.from_arrays(flat, values.shape[1])
    return pa.array(values)


def _numpy_column(column: Any) -> np.ndarray:
    """A pyarrow column back as numpy: lists of one length as (n, m), the rest as (n,)."""
    pa = require("pyarrow", "a dataset")
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(column)
    if pa.types.is_fixed_size_list(column.type) or pa.types.is_list(column.type) \
            or pa.types.is_large_list(column.type):
        if pa.types.is_fixed_size_list(column.type):
            width = column.type.list_size
        else:
            lengths = column.value_lengths().to_numpy(zero_copy_only=False)
            width = int(lengths[0]) if n else 0
            if n and (lengths != width).any():
                raise ValueError("a list column whose rows differ in length")
        flat = column.flatten().to_numpy(zero_copy_only=False)
        return flat.reshape(n, width)
    return column.to_numpy(zero_copy_only=False)


def write_dataset(out: str | os.PathLike, columns: dict[str, Any], record: dict, format: str = "parquet",
                  progress: bool = False) -> dict:
    """Write ``columns`` as a Hugging Face dataset in the directory ``out``, which must be new or empty.

    ``columns``: name -> numpy array (n,) or (n, m), or a list of n strings. ``record`` (kind, task, ...) is
    completed (rows, format, sha256 of the ARRAYS columns present) and written as its ``parity_cot.json``. Written
    into a temporary sibling, then renamed: an interrupted write leaves nothing at ``out``. Returns the record.
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {list(FORMATS)}; got {format!r}")
    datasets = require("datasets", "writing a dataset")
    out = Path(out)
    _check_out(out)
    rows = {len(v) for v in columns.values()}
    if len(rows) != 1:
        raise ValueError(f"columns of different lengths: {sorted(rows)}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        made_by = f"parity-cot {version('parity-cot')}"
    except PackageNotFoundError:
        made_by = "parity-cot (not installed)"
    present = [columns[k] for k in ARRAYS if k in columns]
    record = {"format_version": RECORD_VERSION, **record, "rows": rows.pop(), "format": format,
              "sha256": fingerprint(*present), "written_by": made_by}
    pa = require("pyarrow", "writing a dataset")
    table = pa.table({name: _arrow_column(values) for name, values in columns.items()})
    features = datasets.Features.from_arrow_schema(table.schema)
    info = datasets.DatasetInfo(description=f"parity-cot {record['kind']} of {record['task']['name']} "
                                            f"({json.dumps(record['task']['config'])})", features=features)
    dataset = datasets.Dataset(datasets.table.InMemoryTable(table), info=info)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    bars = datasets.is_progress_bar_enabled()
    if not progress:
        datasets.disable_progress_bars()
    try:
        if format == "parquet":
            (tmp / PARQUET_FILE).parent.mkdir(parents=True)
            dataset.to_parquet(str(tmp / PARQUET_FILE))
        else:
            dataset.save_to_disk(str(tmp))
        (tmp / RECORD_FILE).write_text(json.dumps(record, indent=1) + "\n")
        if out.exists():
            out.rmdir()  # empty (checked): the rename needs the name free
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if bars and not progress:
            datasets.enable_progress_bars()
    return record


def read_dataset(path: str | os.PathLike, names: tuple[str, ...] | None = None,
                 what: str | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """(record, columns) of the dataset directory ``path``.

    The columns ``names`` that it has (None: all), as numpy arrays ((n,) or (n, m); strings as object arrays).
    """
    record = read_record(path, what)
    path = Path(path)
    if record.get("format", "parquet") == "arrow":
        datasets = require("datasets", "reading a dataset")
        table = datasets.load_from_disk(str(path)).data.table
    else:
        pq = require("pyarrow.parquet", "reading a dataset")
        files = sorted((path / "data").glob("*.parquet"))
        if not files:
            raise FileNotFoundError(f"{what or path}: no parquet files under data/")
        available = pq.read_schema(files[0]).names
        wanted = available if names is None else [n for n in names if n in available]
        pa = require("pyarrow", "reading a dataset")
        table = pa.concat_tables([pq.read_table(f, columns=wanted) for f in files])
    wanted = table.column_names if names is None else [n for n in names if n in table.column_names]
    return record, {name: _numpy_column(table.column(name)) for name in wanted}


def _check_out(out: Path) -> None:
    """``out`` must be new or an empty directory: a dataset is never written over anything."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file; choose a new directory for the dataset")
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"--out {out} is not empty; choose a new directory for the dataset (nothing was "
                              "written)")
    out.parent.mkdir(parents=True, exist_ok=True)
