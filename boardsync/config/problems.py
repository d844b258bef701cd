"""Turning pydantic's errors into problems a person can act on.

Each error's ``loc`` is mapped onto the values as written, so the problem points at the
line and column of the field (or of its nearest parent when the field is missing), and its
message says what to write instead: the nearest known key for an unknown one, the allowed
values for an enum, the expected form for a pattern.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Callable
from typing import Any, Union

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from boardsync.config import model as m
from boardsync.errors import Problem

DataPath = tuple[str | int, ...]

# Patterns of the model, said in words.
_PATTERN_WORDS = {
    m.KEY_PATTERN: "lowercase letters, digits, '.', '_' or '-', starting with a letter or digit, "
    "at most 100 characters",
    r"^[A-Z]{3}$": "a three-letter ISO 4217 code such as USD, EUR or GBP",
    r"^\s*\d+(\.\d+)?\s*[smhd]\s*$": "a duration like 30s, 15m, 1h or 2d",
    r"^[A-Za-z_][A-Za-z0-9_.]*$": "a table name (letters, digits, '_'; 'schema.table' allowed)",
}



def worded_pattern(pattern: str, words: str) -> str:
    """`pattern`, noted with the `words` a problem says it in (``must be <words>``): for a
    pattern a board's own model declares. Returns the pattern, for ``Field(pattern=…)``."""
    _PATTERN_WORDS[pattern] = words
    return pattern


_TYPE_WORDS = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def format_path(path: DataPath) -> str:
    """``("locations", 0, "city")`` → ``locations[0].city``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def parse_path(text: str) -> DataPath:
    """The inverse of `format_path`; also accepts ``locations.0.city``."""
    parts: list[str | int] = []
    for piece in re.findall(r"[^.\[\]]+", text):
        parts.append(int(piece) if piece.isdigit() else piece)
    return tuple(parts)


def from_validation_error(
    error: ValidationError,
    *,
    model: type[BaseModel],
    data: Any,
    where: Callable[[DataPath], str],
    echo_inputs: bool,
) -> list[Problem]:
    """One problem per pydantic error, located by `where` (a data path → ``file:line:col``).

    `echo_inputs` is false for the root file, whose values may be resolved secrets.
    """
    found = []
    for detail in error.errors(include_url=False):
        path = data_path(detail["loc"], data)
        found.append((detail["type"], *_describe(detail, path, model, echo_inputs)))
    # "unknown key 'titel'; did you mean 'title'?" already says that `title` is missing.
    suggested = {path[:-1] + (name,) for kind, path, message in found for name in _suggestion(message)}
    return [
        Problem(where(path), format_path(path), message)
        for kind, path, message in found
        if not (kind == "missing" and path in suggested)
    ]


def _suggestion(message: str) -> list[str]:
    match = re.search(r"did you mean '([^']*)'\?$", message)
    return [match.group(1)] if match and message.startswith("unknown key") else []


def data_path(loc: tuple[str | int, ...], data: Any) -> DataPath:
    """`loc` with pydantic's own segments (union tags) dropped, following the data as written."""
    path: list[str | int] = []
    current = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(current, dict) and part in current:
            path.append(part)
            current = current[part]
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path.append(part)
            current = current[part]
        elif last:
            path.append(part)  # a missing field: it has no value yet, but it has a name
        # else: a segment pydantic adds (a union member's tag); the data has no such level.
    return tuple(path)


def _describe(
    detail: ErrorDetails, path: DataPath, model: type[BaseModel], echo: bool
) -> tuple[DataPath, str]:
    kind = detail["type"]
    given = detail.get("input")
    context = detail.get("ctx") or {}
    if kind == "extra_forbidden":
        return path, _unknown_key(path, model)
    if kind == "missing":
        return path, "required, but missing"
    if kind in ("enum", "literal_error"):
        return path, _not_allowed(given, context.get("expected", ""), echo)
    if kind == "string_pattern_mismatch":
        words = _PATTERN_WORDS.get(context.get("pattern", ""), f"the pattern {context.get('pattern')}")
        return path, _with_input(f"must be {words}", given, echo)
    if kind == "value_error":
        return _value_error(path, str(context.get("error", detail["msg"])), model)
    if kind in _TYPE_WORDS:
        return path, f"expected {_TYPE_WORDS[kind]}, got {_kind_of(given, echo)}"
    return path, _with_input(_lower_first(detail["msg"].removeprefix("Input ")), given, echo)


def _unknown_key(path: DataPath, model: type[BaseModel]) -> str:
    key = str(path[-1]) if path else ""
    known = known_keys(model, path[:-1])
    message = f"unknown key '{key}'"
    if not known:
        return message
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"{message}; did you mean '{close[0]}'?"
    return f"{message}; known keys: {', '.join(known)}"


def _not_allowed(given: Any, expected: str, echo: bool) -> str:
    allowed = re.findall(r"'([^']*)'", expected) or [expected]
    shown = f"{given!r}" if echo and isinstance(given, (str, int, float, bool)) else "the value"
    message = f"{shown} is not allowed; use one of: {', '.join(allowed)}"
    if isinstance(given, str):
        close = difflib.get_close_matches(given, allowed, n=1, cutoff=0.6)
        if close and echo:
            message += f" (did you mean '{close[0]}'?)"
    return message


def _value_error(path: DataPath, text: str, model: type[BaseModel]) -> tuple[DataPath, str]:
    """A validator's ``"field: message"`` points at that field of the model it checked."""
    text = text.removeprefix("Value error, ")
    match = re.match(r"([a-z_][a-z0-9_]*): (.*)", text, re.DOTALL)
    if match and match.group(1) in known_keys(model, path):
        return path + (match.group(1),), match.group(2)
    return path, text


def _with_input(message: str, given: Any, echo: bool) -> str:
    if echo and isinstance(given, (str, int, float)) and not isinstance(given, bool):
        shown = given if not isinstance(given, str) or len(given) <= 60 else given[:57] + "..."
        return f"{message} (got {shown!r})"
    return message


def _kind_of(given: Any, echo: bool) -> str:
    if given is None:
        return "nothing (the value is empty)"
    if isinstance(given, dict):
        return "a mapping"
    if isinstance(given, list):
        return "a list"
    if isinstance(given, bool):
        return f"{str(given).lower()}" if echo else "true or false"
    if not echo:
        return "text" if isinstance(given, str) else "a number"
    return f"{given!r}"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


# ------------------------------------------------------------------------------ the model


def known_keys(model: type[BaseModel], path: DataPath) -> list[str]:
    """The field names of the model found at `path` under `model` (empty if not a model)."""
    current: Any = model
    for part in path:
        current = _step(current, part)
        if current is None:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _step(annotation: Any, part: str | int) -> Any:
    """The annotation of `part` under `annotation`; for a field whose model is built per
    board (`model.PerBoard`), the built model."""
    target = _unwrap(annotation)
    if isinstance(target, type) and issubclass(target, BaseModel):
        info = target.model_fields.get(str(part))
        if info is None:
            return None
        built = [meta for meta in info.metadata if isinstance(meta, m.PerBoard)]
        return built[0].build() if built else info.annotation
    origin = typing.get_origin(target)
    if origin in (list, tuple) and isinstance(part, int):
        args = typing.get_args(target)
        return args[0] if args else None
    if origin is dict:
        args = typing.get_args(target)
        return args[1] if len(args) == 2 else None
    return None


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated and Optional; of a union, keep its one model member."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            models = [
                a for a in map(_strip_annotated, members) if isinstance(a, type) and issubclass(a, BaseModel)
            ]
            annotation = models[0] if len(models) == 1 else members[0]
        else:
            return annotation


def _strip_annotated(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation
