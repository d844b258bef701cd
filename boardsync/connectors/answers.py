"""Reading a board's answer: each documented response is a pydantic model, checked before
anything is believed.

The models are strict: a number where the documents show a string is wrong, not converted
(``"123"`` and ``123`` are different job ids, and a converted id matches no binding). They
ignore fields they do not know (a board may add some), and are lenient only where the
documents are: a field shown as optional or nullable. An answer that does not fit is
`Malformed`, naming the board, the call and the field::

    sorce GET /jobs: items[3].id: expected a string, got 123

Times are read as UTC when the board leaves out the offset (see `UtcDateTime`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Strict, ValidationError

from boardsync.errors import Malformed

MAX_SHOWN = 60
"""Characters of a wrong value quoted in the error."""


class Answer(BaseModel):
    """A documented response body, or a part of one."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


def _as_utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


UtcDateTime = Annotated[datetime, Strict(False), AfterValidator(_as_utc)]
"""An ISO 8601 time. JSON has no time type, so this one field is read from its string (not
strict). A time without an offset is taken as UTC: the documents show every time in UTC
(``…Z``), and a naive time compared with an aware one would crash the run instead."""

A = TypeVar("A", bound=Answer)
Item = TypeVar("Item", bound=Answer)
"""An item of a list an answer carries."""


def parse(
    model: type[A], body: Any, *, provider: str, call: str, status: int | None = None, at: Sequence[int | str] = (),
) -> A:
    """`body` as `model`, or `Malformed` naming the first field that does not fit (below
    `at`, where `body` sits in the answer)."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise malformed(exc, provider=provider, call=call, status=status, at=at) from None


def malformed(
    exc: ValidationError, *, provider: str, call: str, status: int | None = None, at: Sequence[int | str] = (),
) -> Malformed:
    """The first problem of `exc` as `Malformed`; how many more there are, when any."""
    problems = exc.errors(include_url=False)
    first = problems[0]
    where = field_path((*at, *first["loc"]))
    message = f"{where}: {_what(first)}" if where else _what(first)
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more)"
    return Malformed(message, field=where, provider=provider, call=call, status=status)


def field_path(loc: Sequence[int | str]) -> str:
    """``("items", 3, "id")`` → ``items[3].id``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


_EXPECTED = {
    "string_type": "expected a string",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "bool_type": "expected true or false",
    "list_type": "expected a list",
    "dict_type": "expected an object",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
    "datetime_type": "expected a date-time",
    "datetime_parsing": "expected a date-time",
    "datetime_from_date_parsing": "expected a date-time",
}


def _what(problem: Mapping[str, Any]) -> str:
    kind = problem["type"]
    if kind == "missing":
        return "missing"
    if kind == "literal_error":
        expected = f"expected one of {problem.get('ctx', {}).get('expected', '')}"
    else:
        expected = _EXPECTED.get(kind, str(problem["msg"]).lower())
    return f"{expected}, got {_shown(problem.get('input'))}"


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"
