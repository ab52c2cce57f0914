"""The validators every layer uses: integers, probabilities, finite numbers, seeds, option dicts, and more.

Also random generators, and import paths ("package.module:function", resolved as Python's own tools resolve them).

Each returns the value in its canonical type or raises naming the value, what was allowed and (where there is one)
the fix; bools are never taken for numbers, NaN never passes a range check. Nothing here knows of any task.
"""

from __future__ import annotations

import importlib
import math
import numbers
import os
import sys
from typing import Any

import numpy as np

SEED_MAX = 2**64 - 1
"""Seeds are integers in [0, 2^64): every env, sampler and stage takes the same seeds (numpy's and torch's generators
take 64 bits; larger ints would alias smaller ones)."""


RUN_SEED_MAX = 2**32 - 1
"""Seeds of runs (pre-training, fine-tuning, evaluation, sweeps) are integers in [0, 2^32): every stream a run draws
is derived from its seed (seed * 1,000,003 + step, say), and this range keeps every derived seed within 64 bits."""


def check_run_seed(seed: Any, name: str = "seed") -> int:
    """A run's seed as a Python int in [0, 2^32), else an error quoting the number given."""
    return check_int(name, seed, 0, RUN_SEED_MAX)


def check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    """Return ``value`` as a Python int if it is an integer (not a bool) in [low, high], else raise naming it."""
    allowed = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {allowed}; got {value!r} of type {type(value).__name__}")
    value = int(value)
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be {allowed}; got {value}")
    return value


def check_probability(name: str, value: Any) -> float:
    """Return ``value`` as a float if it is a real number in [0, 1] (NaN and bools rejected), else raise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number in [0, 1]; got {value!r} of type {type(value).__name__}")
    value = float(value)
    if not 0.0 <= value <= 1.0:  # also False for NaN
        raise ValueError(f"{name} must be a real number in [0, 1]; got {value}")
    return value


def check_number(name: str, value: Any, low: float = 0.0, low_inclusive: bool = False) -> float:
    """Return ``value`` as a float if it is a finite real number above ``low`` (or at it, with ``low_inclusive``)."""
    relation = ">=" if low_inclusive else ">"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a finite number {relation} {low:g}; got {value!r} of type "
                        f"{type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < low or (value == low and not low_inclusive):
        raise ValueError(f"{name} must be a finite number {relation} {low:g}; got {value}")
    return value


def check_seed(seed: Any, name: str = "seed") -> int | None:
    """None, or a seed as a Python int in [0, 2^64) (bools and larger ints are refused)."""
    return None if seed is None else check_int(name, seed, 0, SEED_MAX)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, else a ValueError listing them."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}; got {value!r}")
    return value


def check_options(options: Any, allowed: tuple[str, ...]) -> dict:
    """``options`` (a reset's) as a dict whose keys are all in ``allowed``, else raise naming the unknown keys."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(f"options must be a dict with keys among {allowed}; got {type(options).__name__}")
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"options has unknown keys {unknown}; allowed: {list(allowed)}")
    return options


def make_rng(seed: Any) -> np.random.Generator:
    """A numpy Generator from None, a non-negative int, or an existing Generator (used as is, for streams)."""
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TypeError(f"seed must be None, a non-negative integer or a numpy Generator; got {seed!r}")
    return np.random.default_rng(int(seed))


def import_object(path: str, what: str) -> Any:
    """The object at ``"package.module:attr"``, imported as Python's own tools would.

    The current directory is on the path (as for ``python -m``), so a module beside the command works. ``what`` names
    it in errors.
    """
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ValueError(f"{what}: {path!r} is not an import path 'package.module:function'")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"{what}: cannot import module {module_name!r} ({e}); it must be importable from the current "
                        f"directory or sys.path ({os.pathsep.join(p or '.' for p in sys.path[:4])}, ...): install its "
                        "package, run from its directory, or add its directory to PYTHONPATH") from e
    except Exception as e:  # a module that raises while importing: name it, not a traceback
        raise ValueError(f"{what}: importing module {module_name!r} failed ({type(e).__name__}: {e})") from e
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
    if obj is None:
        raise ValueError(f"{what}: module {module_name!r} has no {attr!r}")
    return obj


def short_repr(x: Any, limit: int = 80) -> str:
    """``repr(x)``, cut to ``limit`` characters: for error messages that quote what was given."""
    text = repr(x)
    return text if len(text) < limit else text[: limit - 3] + "..."
