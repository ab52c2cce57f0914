"""Command lines generated from the run configs: one flag per dataclass field, its help and default in one place.

    add_config_arguments(parser, PretrainConfig)            # --task, --d, --p-long, ..., --agent-config, --resume
    cfg = config_from_args(PretrainConfig, given, base)      # given: the flags typed; base: a saved config (resume)

A field ``max_samples`` becomes ``--max-samples``; the fields of a nested dataclass become flags of their own; a
field typed ``CoTTask`` becomes ``--task NAME --task-config JSON`` and the shipped tasks' settings (``--d``,
``--digits``, ``--p-long``, ...: ``agents.run.task_options``), and one typed ``TaskExpectation`` the same flags as
what a run read by the command must be. A bool field becomes ``--name`` (default False) or ``--no-name`` (default
True); ``X | None`` also takes the word ``none``; a ``dict`` field takes a JSON object; ``tuple[float, float]`` two
numbers, ``list[int]`` one or more; ``Literal[...]`` or ``field(metadata={"choices": ...})`` a choice;
``metadata={"positional": True}`` makes a positional argument; ``metadata={"only": (FIELD, VALUES)}`` an option that
applies only when FIELD has one of VALUES (``--star-samples`` with ``--algo star``): it is listed in a group of its
own, and giving it with another FIELD value is an error. Help text is the first sentence of the field's attribute
docstring (the string literal under it in the class body), followed by the default. Every number must be finite:
``--lr inf`` is a usage error. Flags left out are absent from the parsed namespace, so that a resumed run takes the
saved value of every option not typed again.

Why not tyro, jsonargparse or simple-parsing: they generate flags from the same attribute docstrings, but nest a
nested dataclass's flags under a prefix (``--task.d``), and a resumed run needs to know which flags were typed (the
rest come from the saved config), which argparse's ``SUPPRESS`` defaults give directly.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import typing
from collections.abc import Callable
from typing import Any, Literal

from parity_env.contract import CoTTask

from .fields import default_of, field_docs, first_sentence, is_nested, unwrap_optional
from .task_options import TASK, TASK_CONFIG, TaskExpectation, build_task, task_flag_help, task_flags


def _help(text: str) -> str:
    """``text`` as argparse help: a literal % doubled (argparse %-formats it), reST's double backquotes dropped."""
    return text.replace("%", "%%").replace("``", "")


def flag_name(name: str) -> str:
    """The flag of field ``name``: ``--max-samples`` for max_samples."""
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
def _is_task(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, CoTTask)


def config_fields(cls: type) -> list[tuple[str, Any, dataclasses.Field, type]]:
    """(name, type, field, owner) of every flag of ``cls``, nested dataclass fields flattened in place.

    Task and expectation fields stay one entry: their flags are the task options'.
    """
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if is_nested(tp) and tp is not TaskExpectation:
            out.extend(config_fields(tp))
        else:
            out.append((f.name, tp, f, cls))
    return out


def add_config_arguments(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One flag per field of ``cls`` (see the module docstring), except those named in ``skip``."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for name, tp, f, owner in config_fields(cls):
        if name in skip:
            continue
        inner, optional = unwrap_optional(tp)
        if _is_task(inner) or inner is TaskExpectation:
            _add_task_arguments(parser, expectation=inner is TaskExpectation, skip=skip)
            continue
        doc = _help(first_sentence(field_docs(owner).get(name, "")))
        only = f.metadata.get("only")
        target: argparse.ArgumentParser | argparse._ArgumentGroup = parser
        if only is not None:
            title = f"options of --{only[0].replace('_', '-')} {' / '.join(only[1])} only"
            target = groups.setdefault(title, parser.add_argument_group(title))
        _add_field(target, name, inner, optional, f, doc)


def _add_field(parser, name: str, inner: Any, optional: bool, f: dataclasses.Field, doc: str) -> None:
    default = default_of(f)
    if f.metadata.get("positional"):
        parser.add_argument(name, help=doc, metavar=f.metadata.get("metavar", name.upper()),
                            **({} if default is dataclasses.MISSING else {"nargs": "?", "default": default}))
        return
    kwargs: dict[str, Any] = {"default": argparse.SUPPRESS}
    hidden = default is None or default == {} or default is dataclasses.MISSING
    shown = "" if hidden else f" (default: {_show(default)})"
    if inner is bool:
        if default is True:
            parser.add_argument(flag_name("no_" + name), dest=name, action="store_false",
                                help=f"{doc} On by default; {flag_name('no_' + name)} turns it off.", **kwargs)
        else:
            parser.add_argument(flag_name(name), dest=name, action="store_true", help=doc, **kwargs)
        return
    choices = f.metadata.get("choices")
    if typing.get_origin(inner) is Literal:
        choices = typing.get_args(inner)
    if typing.get_origin(inner) is list:  # one or more values
        kwargs["nargs"] = "+"
        inner = typing.get_args(inner)[0]
    if choices is not None:
        kwargs["choices"] = list(choices) + ([None] if optional else [])
        parse: Callable[[str], Any] = str
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
    kwargs["type"] = _optional(parse) if optional and "nargs" not in kwargs else parse
    parser.add_argument(flag_name(name), dest=name, help=doc + _help(shown), **kwargs)


def _add_task_arguments(parser, expectation: bool, skip: tuple[str, ...] = ()) -> None:
    """``--task``, ``--task-config`` and the shipped tasks' settings (``agents.run.task_options``).

    All but the settings named in ``skip`` (flags of the command's own).
    """
    if expectation:
        parser.add_argument("--task", dest=TASK, metavar="NAME", default=argparse.SUPPRESS,
                            help="The task the run must be of (a check: the run's own task is used).")
        parser.add_argument("--task-config", dest=TASK_CONFIG, type=parse_json_object, metavar="JSON",
                            default=argparse.SUPPRESS, help="Settings the run's task must have, a JSON object.")
    else:
        parser.add_argument("--task", dest=TASK, metavar="NAME", default=argparse.SUPPRESS,
                            help="The task: parity, multiplication, a name given to parity_env.register_task, or a "
                                 "factory's import path 'package.module:function' (default: parity).")
        parser.add_argument("--task-config", dest=TASK_CONFIG, type=parse_json_object, metavar="JSON",
                            default=argparse.SUPPRESS,
                            help=_help("The task's settings, a JSON object such as '{\"digits\": 3, \"p_long\": "
                                       "0.25}'; the flags below set the shipped tasks' settings one by one."))
    group = parser.add_argument_group("task settings" + (" the run must have" if expectation else ""))
    for flag in task_flags():
        if flag.name in skip:
            continue
        kwargs: dict[str, Any] = {"default": argparse.SUPPRESS, "help": _help(task_flag_help(flag))}
        if flag.choices is not None:
            kwargs["choices"] = list(flag.choices)
        else:
            parse = {int: parse_int, float: parse_float}.get(flag.type, str)
            kwargs["type"] = _optional(parse)
            kwargs["metavar"] = flag.name.upper()
        group.add_argument(flag_name(flag.name), dest=flag.name, **kwargs)


def _show(value: Any) -> str:
    return " ".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


# --------------------------------------------------------------------------------------------------- configs
def config_from_args(cls: type, given: dict, base: dict | None = None, skip: tuple[str, ...] = ()):
    """An instance of ``cls`` from the flags ``given`` over ``base``; the rest take their defaults.

    ``given`` is flat (field name -> value); ``base`` is a nested dict as ``config_to_dict`` writes it (e.g. a
    resumed run's saved config). The task settings named in ``skip`` (as given to ``add_config_arguments``) are not
    the task's. An option of one value of another field (``metadata={"only": ...}``) given with another value is a
    ValueError naming both.
    """
    base = base or {}
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        tp, _ = unwrap_optional(hints[f.name])
        if _is_task(tp):
            values[f.name] = build_task(given, base.get(f.name))
        elif tp is TaskExpectation:
            values[f.name] = TaskExpectation.from_given({k: v for k, v in given.items() if k not in skip},
                                                        base.get(f.name))
        elif is_nested(tp):
            values[f.name] = config_from_args(tp, given, base.get(f.name))
        elif f.name in given:
            values[f.name] = given[f.name]
        elif f.name in base:
            values[f.name] = base[f.name]
    try:
        cfg = cls(**values)
    except (TypeError, ValueError) as e:  # name the flag the user typed, not the field behind it
        raise type(e)(_as_flag(str(e), cls)) from e
    for f in dataclasses.fields(cls):
        only = f.metadata.get("only")
        if only is not None and f.name in given and getattr(cfg, only[0]) not in only[1]:
            raise ValueError(f"{flag_name(f.name)} applies to {flag_name(only[0])} {' / '.join(only[1])} only; got "
                             f"{flag_name(only[0])} {getattr(cfg, only[0])}")
    return cfg


def _as_flag(message: str, cls: type) -> str:
    """A config's error message with its leading field name written as the flag.

    ``n must be ...`` -> ``--n must be ...``.
    """
    word = message.split(" ", 1)[0]
    names = {name for name, *_ in config_fields(cls)} | {flag.name for flag in task_flags()}
    return flag_name(word) + message[len(word):] if word in names else message


def config_to_dict(cfg) -> dict:
    """A config as JSON-plain data, as checkpoints store it.

    Tuples as lists, a task as its record {"name", "config"}.
    """
    def plain(value: Any) -> Any:
        if isinstance(value, CoTTask):
            return value.to_dict()
        if isinstance(value, TaskExpectation):
            return {"name": value.name, "settings": value.settings}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return json.loads(json.dumps(plain(cfg)))


def config_differences(saved: dict, cfg, ignore: tuple[str, ...] = ()) -> dict[str, tuple[Any, Any]]:
    """The fields of ``cfg`` whose values differ from ``saved``, as name -> (saved, now), leaving out ``ignore``.

    ``saved`` is ``config_to_dict`` of an earlier run's config. The saved config is read as this version reads it (an
    older task record as its task; a field it lacks as the field's default: that run predates the field and behaved
    as its default does).
    """
    try:
        full = config_to_dict(config_from_args(type(cfg), {}, saved))
    except (TypeError, ValueError):  # a saved config this version cannot build: compare what it says
        full = {**config_to_dict(cfg), **saved}
    return {k: (full.get(k), v) for k, v in config_to_dict(cfg).items() if k not in ignore and full.get(k) != v}
