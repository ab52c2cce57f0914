"""What a dataclass says of its fields: their attribute docstrings (the help of the generated flags) and types.

    field_docs(PretrainConfig)["lr"]      # the string literal right below ``lr: float = 3e-3`` in the class body
    first_sentence(text)                  # the help a flag shows
    unwrap_optional(int | None)           # (int, True)

``field_docs`` reads the class's source (``inspect.getsource``), once per class; a class whose source cannot be read
(defined interactively, say) has no field docs.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import textwrap
import types
import typing
from functools import cache
from typing import Any


@cache
def field_docs(cls: type) -> dict[str, str]:
    """The attribute docstrings of a dataclass's fields (the string literal right below each field)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    docs, body = {}, typing.cast(ast.ClassDef, tree.body[0]).body  # getsource of a class: its class statement
    for node, after in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant) and isinstance(after.value.value, str)):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


_SENTENCE_END = re.compile(r"(?<=[\w)\]\"'])\.\s+(?=[A-Z`(])")
"""A full stop after a word and before a capital: "2 .. d - 1" or "e.g. the" do not end a sentence."""


def first_sentence(text: str) -> str:
    """The first sentence of ``text`` (up to and with its period), or all of it when no sentence follows."""
    end = _SENTENCE_END.search(text)
    return text if end is None else text[: end.start() + 1]


def unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """(T, True) for ``T | None``, else (tp, False)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def is_nested(tp: Any) -> bool:
    """Whether a field's type is a dataclass of its own (its fields become flags in place)."""
    return dataclasses.is_dataclass(tp) and isinstance(tp, type)


def default_of(f: dataclasses.Field) -> Any:
    """A field's default value (``dataclasses.MISSING`` when it has none)."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING
