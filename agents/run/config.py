"""Command lines generated from the run configs: one flag per dataclass field, its help and default in one place.

    add_config_arguments(parser, PretrainConfig)            # --d, --p-long, ..., --agent-config, --resume
    cfg = config_from_args(PretrainConfig, given, base)      # given: the flags typed; base: a saved config (resume)

A field ``max_samples`` becomes ``--max-samples``; the fields of a nested dataclass (``task: Task``) become flags of
their own (``--d``, ``--p-long``); a bool field becomes ``--name`` (default False) or ``--no-name`` (default True);
``X | None`` also takes the word ``none``; a ``dict`` field takes a JSON object; ``tuple[float, float]`` two numbers;
``Literal[...]`` or ``field(metadata={"choices": ...})`` a choice. Help text is the first sentence of the field's
attribute docstring (the string literal under it in the class body), followed by the default. Every number must be
finite: ``--lr inf`` is a usage error. Flags left out are absent from the parsed namespace, so that a resumed run
takes the saved value of every option not typed again.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import json
import math
import re
import textwrap
import types
import typing
from functools import lru_cache
from typing import Any, Literal


@lru_cache(maxsize=None)
def field_docs(cls: type) -> dict[str, str]:
    """The attribute docstrings of a dataclass's fields (the string literal right below each field)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    docs, body = {}, tree.body[0].body
    for node, after in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


_SENTENCE_END = re.compile(r"(?<=[\w)\]\"'])\.\s+(?=[A-Z`(])")
"""A full stop after a word and before a capital: "2 .. d - 1" or "e.g. the" do not end a sentence."""


def _first_sentence(text: str) -> str:
    end = _SENTENCE_END.search(text)
    return text if end is None else text[: end.start() + 1]


def _help(text: str) -> str:
    """``text`` as argparse help, which %-formats it: a literal % must be doubled."""
    return text.replace("%", "%%")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


# --------------------------------------------------------------------------------------------------- value parsers
def parse_int(text: str) -> int:
    """An integer; 1e6 and 2_500 are accepted."""
    try:
        return int(text.replace("_", ""))
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value.is_integer():
            return int(value)
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def parse_float(text: str) -> float:
    """A finite number (inf and nan are refused: no run is meant to use them)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def parse_json_object(text: str) -> dict:
    """A JSON object, e.g. '{"n_layer": 2}'."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"n_layer\": 2}}', got {text!r} ({e})") \
            from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"n_layer\": 2}}', got {text!r}")
    return value


def _optional(parse):
    def parse_or_none(text: str):
        return None if text.lower() == "none" else parse(text)

    parse_or_none.__name__ = parse.__name__  # argparse names the type in its errors
    return parse_or_none


# --------------------------------------------------------------------------------------------------- flags
def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """(T, True) for ``T | None``, else (tp, False)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _is_nested(tp: Any) -> bool:
    return dataclasses.is_dataclass(tp) and isinstance(tp, type)


def config_fields(cls: type) -> list[tuple[str, Any, dataclasses.Field, type]]:
    """(name, type, field, owner) of every flag of ``cls``, nested dataclass fields flattened in place."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if _is_nested(hints[f.name]):
            out.extend(config_fields(hints[f.name]))
        else:
            out.append((f.name, hints[f.name], f, cls))
    return out


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One flag per field of ``cls`` (see the module docstring), except those named in ``skip``."""
    for name, tp, f, owner in config_fields(cls):
        if name in skip:
            continue
        doc = _help(_first_sentence(field_docs(owner).get(name, "")))
        default = _default(f)
        inner, optional = _unwrap_optional(tp)
        kwargs: dict[str, Any] = {"default": argparse.SUPPRESS}
        shown = "" if default is None or default == {} else f" (default: {_show(default)})"
        if inner is bool:
            if default is True:
                parser.add_argument(_flag("no_" + name), dest=name, action="store_false",
                                    help=f"{doc} On by default; {_flag('no_' + name)} turns it off.", **kwargs)
            else:
                parser.add_argument(_flag(name), dest=name, action="store_true", help=doc, **kwargs)
            continue
        choices = f.metadata.get("choices")
        if typing.get_origin(inner) is Literal:
            choices = typing.get_args(inner)
        if choices is not None:
            kwargs["choices"] = list(choices) + ([None] if optional else [])
            parse = str
        elif inner is int:
            parse = parse_int
        elif inner is float:
            parse = parse_float
        elif inner is dict or typing.get_origin(inner) is dict:
            parse = parse_json_object
            kwargs["metavar"] = "JSON"
        elif typing.get_origin(inner) is tuple:
            parse = parse_float
            kwargs["nargs"] = len(typing.get_args(inner))
            kwargs["metavar"] = "X"
        else:
            parse = str
            kwargs["metavar"] = name.upper()
        kwargs["type"] = _optional(parse) if optional else parse
        parser.add_argument(_flag(name), dest=name, help=doc + _help(shown), **kwargs)


def _show(value: Any) -> str:
    return " ".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


# --------------------------------------------------------------------------------------------------- configs
def config_from_args(cls: type, given: dict, base: dict | None = None):
    """An instance of ``cls`` from the flags ``given`` (flat: field name -> value) over ``base`` (a nested dict as
    ``config_to_dict`` writes it, e.g. a resumed run's saved config); the rest take their defaults."""
    base = base or {}
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if _is_nested(hints[f.name]):
            values[f.name] = config_from_args(hints[f.name], given, base.get(f.name))
        elif f.name in given:
            values[f.name] = given[f.name]
        elif f.name in base:
            values[f.name] = base[f.name]
    return cls(**values)


def config_to_dict(cfg) -> dict:
    """A config as JSON-plain data (tuples as lists), as checkpoints store it."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def config_differences(saved: dict, cfg, ignore: tuple[str, ...] = ()) -> dict[str, tuple[Any, Any]]:
    """The fields of ``cfg`` whose values differ from ``saved`` (``config_to_dict`` of an earlier run's config), as
    name -> (saved, now), leaving out ``ignore``. A field the saved config lacks, nested ones included, counts as its
    default: that run predates the field and behaved as its default does."""
    full = _with_defaults(type(cfg), saved)
    return {k: (full.get(k), v) for k, v in config_to_dict(cfg).items() if k not in ignore and full.get(k) != v}


def _with_defaults(cls: type, saved: dict) -> dict:
    """``saved`` with every field of ``cls`` it lacks set to the field's default (JSON-plain)."""
    out, hints = dict(saved), typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in out:
            if _is_nested(hints[f.name]) and isinstance(out[f.name], dict):
                out[f.name] = _with_defaults(hints[f.name], out[f.name])
        elif (value := _default(f)) is not dataclasses.MISSING:
            value = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
            out[f.name] = json.loads(json.dumps(value))
    return out
