"""One list of a JSON answer, parsed an item at a time.

A board that answers with all its jobs in one list (Hirempire's ``GET /jobs``) sends
megabytes: at 10,000 jobs, 10 MiB of text that ``json.loads`` makes into 27 MiB of objects
at once. `listed` walks the answer's top level with the standard library's own decoder
(`json.JSONDecoder.raw_decode`, in C) and parses the list's items one by one as they are
asked for, so a run holds the text and one item, never the whole list as objects.

It reads what ``json.loads`` reads and refuses what it refuses, but for two things. When:
text broken after the list's first items is refused when the walk reaches it, after those
items were handed out; a caller that keeps nothing of a read that fails
(`HttpConnector._call_items`, whose board read then fails whole) sees no difference. And a
second member of the list's name after the list, which ``json.loads`` would keep in place
of the first, is refused, since the first was handed out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

_SPACE = re.compile(r"[ \t\n\r]*")
"""JSON's whitespace, and only it."""
_decode = json.JSONDecoder().raw_decode


def listed(text: str, name: str) -> Iterator[object] | None:
    """The items of the list `name` in the JSON object `text`, each parsed when it is asked
    for; None when `text` is not an object holding such a list, to be parsed whole to say
    what it is (or that it is not JSON). Text that is not JSON raises `ValueError`, as
    ``json.loads`` does: at once when it is broken before the list, and when the walk
    reaches the break otherwise."""
    at = _space(text, 0)
    if not text.startswith("{", at):
        return None
    at, more = _next_member(text, at + 1, first=True)
    while more:
        key, at = _key(text, at)
        at = _space(text, at)
        if key == name and text.startswith("[", at):
            return _items(text, at + 1, name)
        _, at = _decode(text, at)
        at, more = _next_member(text, at)
    return None


def _items(text: str, at: int, name: str) -> Iterator[object]:
    at = _space(text, at)
    if text.startswith("]", at):
        at += 1
    else:
        while True:
            item, at = _decode(text, at)
            yield item
            at = _space(text, at)
            if text.startswith("]", at):
                at += 1
                break
            at = _space(text, _expect(text, at, ","))
    _rest_of_object(text, at, name)


def _rest_of_object(text: str, at: int, name: str) -> None:
    """Check what follows the list: the object's other members, its end, nothing after. A
    second member `name` would be the one ``json.loads`` keeps, and the first was handed out."""
    at, more = _next_member(text, at)
    while more:
        key, at = _key(text, at)
        if key == name:
            raise ValueError(f"the answer names {name!r} twice")
        _, at = _decode(text, _space(text, at))
        at, more = _next_member(text, at)
    if _space(text, at) != len(text):
        raise ValueError(f"extra data at character {at}")


def _next_member(text: str, at: int, *, first: bool = False) -> tuple[int, bool]:
    """After a member's value (or the opening brace, `first`): the place of the next
    member's name and True, or the place after the object's closing brace and False."""
    at = _space(text, at)
    if text.startswith("}", at):
        return at + 1, False
    return _space(text, at if first else _expect(text, at, ",")), True


def _key(text: str, at: int) -> tuple[str, int]:
    if not text.startswith('"', at):
        raise ValueError(f"expected a member's name at character {at}")
    key, at = _decode(text, at)
    return key, _expect(text, _space(text, at), ":")


def _expect(text: str, at: int, token: str) -> int:
    if not text.startswith(token, at):
        raise ValueError(f"expected {token!r} at character {at}")
    return at + 1


def _space(text: str, at: int) -> int:
    match = _SPACE.match(text, at)
    assert match is not None  # `*` matches the empty string
    return match.end()

