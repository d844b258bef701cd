"""Secret references, resolved in one place.

A string value of the root file may contain references, alone or inside a longer value
(``postgresql://boardsync:${DB_PASSWORD}@db/boardsync``):

- ``${NAME}``            the environment variable NAME; unset or empty is an error;
- ``${NAME:-default}``   NAME, or `default` when NAME is unset or empty;
- ``${cred:NAME}``       the file NAME in ``$CREDENTIALS_DIRECTORY`` (systemd ``LoadCredential=``);
- ``${file:PATH}``       the contents of PATH (relative to the root file's folder);
- ``$${``                a literal ``${``.

File contents lose one trailing newline. Problems name the reference, never its value, and
every resolved value is registered for redaction (`boardsync.log.register_secret`). A
literal that looks like a board key (each board's ``KEY_SHAPES``: ``sk_ext_…``, ``sk-…``) is
refused: keys belong in the environment or a credential, not in a file that is committed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from boardsync.config.boards import boards
from boardsync.log import register_secret

MAX_SECRET_FILE_BYTES = 64 * 1024

_TOKEN = re.compile(r"\$\$\{|\$\{([^{}]*)\}|\$\{")
_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENV_DEFAULT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*):-(.*)", re.DOTALL)
_CRED = re.compile(r"cred:([A-Za-z0-9_@-][A-Za-z0-9_.@-]*)")
_FILE = re.compile(r"file:(.+)", re.DOTALL)

FORMS = "${ENV}, ${ENV:-default}, ${cred:NAME} or ${file:PATH}"


@dataclass
class Resolution:
    """What resolving the root file's strings found."""

    data: Any
    """The values with every reference replaced (or left as written, when not resolving)."""
    written: dict[tuple[str | int, ...], str] = field(default_factory=dict)
    """Path → the text as written, for each string that held a reference."""
    secrets: set[str] = field(default_factory=set)
    """Every resolved value, so that any message can be scrubbed of them."""
    problems: list[tuple[tuple[str | int, ...], str]] = field(default_factory=list)
    """(path, message) for each reference that cannot be resolved, and each literal key."""


@dataclass(frozen=True)
class Resolver:
    env: Mapping[str, str]
    base: Path
    """Where a relative ``${file:…}`` path starts: the root file's folder."""
    resolve: bool = True
    """False checks that references are well formed without reading any secret."""

    def resolve_tree(self, data: Any) -> Resolution:
        result = Resolution(data=None)
        result.data = self._walk(data, (), result)
        # From here on no log line, stored error or printed output shows any of these values.
        register_secret(*result.secrets)
        return result

    def _walk(self, value: Any, path: tuple[str | int, ...], out: Resolution) -> Any:
        if isinstance(value, dict):
            return {k: self._walk(v, path + (k,), out) for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk(v, path + (i,), out) for i, v in enumerate(value)]
        if isinstance(value, str):
            return self._string(value, path, out)
        return value

    def _string(self, text: str, path: tuple[str | int, ...], out: Resolution) -> str:
        # A key is refused wherever it is written: alone, in a URL, or as a reference's default.
        prefix = _key_shapes().find(text)
        if prefix is not None:
            out.problems.append((path, literal_key_message(prefix, path)))
            return text
        if "${" not in text:
            return text
        out.written[path] = text
        parts: list[str] = []
        for piece in _pieces(text):
            if isinstance(piece, str):
                parts.append(piece)
                continue
            value, problem = self._reference(piece.body)
            if problem:
                out.problems.append((path, problem))
            elif value is not None:
                if self.resolve:
                    out.secrets.add(value)
                parts.append(value)
        return "".join(parts) if self.resolve else text

    def _reference(self, body: str | None) -> tuple[str | None, str | None]:
        """(value, None) or (None, problem). Without resolving, the value is the reference."""
        if body is None:
            return None, f"a '${{' that is never closed; write {FORMS}"
        shown = "${" + body + "}"
        if _ENV.fullmatch(body):
            return self._env(body, None, shown)
        if m := _ENV_DEFAULT.fullmatch(body):
            return self._env(m.group(1), m.group(2), shown)
        if m := _CRED.fullmatch(body):
            return self._credential(m.group(1), shown)
        if m := _FILE.fullmatch(body):
            return self._file(Path(m.group(1)), shown)
        return None, f"malformed reference {_shorten(shown)}; write {FORMS}"

    def _env(self, name: str, default: str | None, shown: str) -> tuple[str | None, str | None]:
        if not self.resolve:
            return shown, None
        value = self.env.get(name)
        if value:
            return value, None
        if default is not None:
            return default, None
        state = "is empty" if value == "" else "is not set"
        return None, (
            f"{shown}: the environment variable {name} {state} and the reference has no default "
            f"(set {name}, or check without secrets: boardsync validate --no-secrets)"
        )

    def _credential(self, name: str, shown: str) -> tuple[str | None, str | None]:
        if not self.resolve:
            return shown, None
        folder = self.env.get("CREDENTIALS_DIRECTORY")
        if not folder:
            return None, (
                f"{shown}: $CREDENTIALS_DIRECTORY is not set; systemd sets it for a unit with "
                f"LoadCredential={name}:PATH"
            )
        return self._read(Path(folder) / name, shown, what=f"credential '{name}' in $CREDENTIALS_DIRECTORY")

    def _file(self, path: Path, shown: str) -> tuple[str | None, str | None]:
        if not self.resolve:
            return shown, None
        full = path if path.is_absolute() else self.base / path
        return self._read(full, shown, what=f"file {path}")

    def _read(self, path: Path, shown: str, *, what: str) -> tuple[str | None, str | None]:
        try:
            if path.stat().st_size > MAX_SECRET_FILE_BYTES:
                return None, f"{shown}: the {what} is larger than {MAX_SECRET_FILE_BYTES // 1024} KiB"
            raw = path.read_bytes()
        except FileNotFoundError:
            return None, f"{shown}: the {what} does not exist"
        except OSError as exc:
            return None, f"{shown}: the {what} cannot be read ({exc.strerror})"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None, f"{shown}: the {what} is not UTF-8"
        return _drop_final_newline(text), None


@dataclass(frozen=True)
class _Reference:
    body: str | None
    """The text between ``${`` and ``}``; None when the brace is never closed."""


def _pieces(text: str) -> Iterator[str | _Reference]:
    """Literal text and references, in order."""
    position = 0
    for match in _TOKEN.finditer(text):
        if match.start() > position:
            yield text[position : match.start()]
        token = match.group(0)
        if token == "$${":
            yield "${"
        elif token == "${":
            yield _Reference(None)
        else:
            yield _Reference(match.group(1))
        position = match.end()
    if position < len(text):
        yield text[position:]


def _drop_final_newline(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith("\n") else text


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def suggested_variable(path: tuple[str | int, ...]) -> str:
    """``providers.sorce.api_key`` → ``SORCE_API_KEY``: the name the docs use for it."""
    names = [str(p) for p in path if not isinstance(p, int)]
    if names and names[0] == "providers":
        names = names[1:]
    return re.sub(r"[^A-Za-z0-9]+", "_", "_".join(names)).upper() or "SECRET"


def literal_key_message(prefix: str, path: tuple[str | int, ...]) -> str:
    """What to do instead of writing a key that starts with `prefix` into the file."""
    variable = suggested_variable(path)
    credential = variable.split("_")[0].lower()
    return (
        f"a literal key ('{prefix}…') is written in the file; keep it out of the file and "
        f"reference it instead: \"${{{variable}}}\" (environment), \"${{cred:{credential}}}\" "
        "(systemd credential) or \"${file:/path/to/key}\""
    )


def looks_like_key(text: str) -> bool:
    return _key_shapes().find(text) is not None


@dataclass(frozen=True)
class _KeyShapes:
    """Every board's key shape (its ``KEY_SHAPES``) in one pattern, a group per shape."""

    pattern: re.Pattern[str]
    prefixes: Mapping[str, str]
    """Group name → the prefix it stands for: what a message may show of a key."""

    def find(self, text: str) -> str | None:
        """The prefix of the first key written in `text`, or None."""
        match = self.pattern.search(text)
        return self.prefixes[match.lastgroup] if match and match.lastgroup else None


@cache
def _key_shapes() -> _KeyShapes:
    shapes = [(prefix, rest) for board in boards().values() for prefix, rest in board.key_shapes.items()]
    alternatives = "|".join(f"(?P<k{i}>{re.escape(prefix)}{rest})" for i, (prefix, rest) in enumerate(shapes))
    pattern = re.compile(f"(?<![A-Za-z0-9])(?:{alternatives})" if shapes else "(?!)")
    return _KeyShapes(pattern, {f"k{i}": prefix for i, (prefix, _) in enumerate(shapes)})


def scrub(message: str, secrets: set[str]) -> str:
    """`message` with every resolved secret value masked, longest first."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 4:
            message = message.replace(secret, "***")
    return message
