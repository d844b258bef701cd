"""Logging: structlog events, one configuration, and redaction on every line.

Everything that logs (boardsync's own structlog loggers and the standard library loggers of
httpx, uvicorn and APScheduler) ends in one handler whose formatter runs `redact_processor`
last before rendering; structlog events are redacted once more before they leave structlog,
so any other handler sees them masked too. So a key, a token or a signed URL that slips into an event, a
message or an exception's text is masked before anything is written.

structlog is imported only when a line is logged: importing it loads its console renderer and,
with it, rich's tracebacks and Pygments, about a tenth of a second that a command which logs
nothing (`status`, `validate`) need not spend. So boardsync's modules take their loggers from
`get_logger` here, never from structlog itself, and `configure` sets structlog up at once only
when it is loaded already; otherwise when the first logger logs, or the handler formats its
first line (of httpx, say).

`redact` is also what the connectors run over a board's error body before it becomes part of
an exception message, what the state database runs over every error it stores, and what the
command line runs over what it prints.

Two kinds of masking: by name (a key called ``client_secret``, a ``?token=`` parameter, a
``Bearer …`` header) and by value. Every secret boardsync comes to hold is registered here
with `register_secret` (each resolved reference of the config, each access token and signed
link a board hands out) and masked wherever it appears, whatever the words around it: plain,
JSON-escaped (once or twice) or URL-encoded (percent or plus form).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any, TextIO, cast
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from structlog.typing import EventDict, Processor, WrappedLogger

MASK = "[redacted]"

SECRET_KEYS = frozenset(
    {
        "authorization",
        "x-auth-token",
        "api_key",
        "apikey",
        "token",
        "access_token",
        "client_secret",
        "secret",
        "password",
        "signed_url",
    }
)
"""Event or mapping keys whose whole value is a secret, compared case-insensitively."""

_PATTERNS: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...] = (
    # Each with the words (lowercase) of which every text it matches holds one: a text with
    # none of them is not searched (most stored text, a job's title or description).
    # Authorization headers of any scheme, as they would be printed.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), rf"\1 {MASK}", ("bearer", "basic")),
    # Sorce service keys and Hirempire tokens (sk_ext_…, sk-…).
    (re.compile(r"\bsk(?:_ext_|-)[A-Za-z0-9_-]+"), MASK, ("sk_ext_", "sk-")),
    # Credentials in a query string or a form: a signed link's token, a signature, a key.
    (
        re.compile(
            r"(?i)([?&;](?:token|access_token|signature|sig|key|api_key|client_secret)=)[^&#\s\"']+"
        ),
        rf"\1{MASK}",
        ("token", "sig", "key", "secret"),
    ),
    # The same words as JSON or "key: value" text (an echoed request body or header). A secret
    # *reference* (`${SORCE_API_KEY}`) is not a secret: a config error must still name it.
    (
        re.compile(
            # Not a path's last segment: "POST /v1/auth/token: 400" names a call, not a token.
            r"(?i)((?<!/)[\"']?(?:access_token|client_secret|x-auth-token|api_key|token)[\"']?\s*[:=]\s*[\"']?)"
            r"(?!\$\{)[^\"',}\s]+"
        ),
        rf"\1{MASK}",
        ("token", "secret", "key"),
    ),
)


MIN_SECRET_LENGTH = 8
"""Shorter values are not registered: masking every "1000" or "true" would hide more than it
protects, and no credential a board issues is that short."""


class SecretValues:
    """The secret values this process holds, masked in any text.

    Values that die (an access token, a signed link) are registered with their lifetime and
    dropped once expired, so a daemon running for months masks only what is alive.

    Two kinds of value are kept apart:

    - **Plain** values, made only of the characters a URL leaves as they are (letters,
      digits, ``-._~``): the tokens boards hand out and most keys. Such a value is written
      one way only, itself, so it is found without a pattern: in each run of those characters
      in the text, every window as long as a held value is looked up in the set of values of
      that length. A run shorter than the shortest value held is passed over at once. Adding
      one is a set insertion, however many are held: a daemon handing out links for thousands
      of postings adds thousands.
    - **Other** values (a password with symbols, a link with no token piece) may be written
      in several forms (JSON escapes, percent-encoding) and are masked by compiled patterns.
      They are kept in groups, each with its pattern, and a new group is merged with the one
      before it while it is as large (a binary counter), so a value is compiled about
      log2(n) times. Masking group by group is the same as with one pattern as long as no
      value of one group contains a value of another; a value that would, is merged with
      everything at once, as is the set once a value expires.

    The patterns run first, so a plain value inside another value is masked with it."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._until: dict[str, float | None] = {}
        """value → monotonic time it expires (None: for as long as the process runs)."""
        self._groups: list[set[str]] = []
        self._patterns: tuple[re.Pattern[str], ...] = ()
        """One per group of other values, in order; swapped whole, so a masking thread reads
        a consistent set."""
        self._plain: tuple[tuple[int, set[str]], ...] = ()
        """The plain values by length, longest first. A set grows in place (a lookup and an
        insertion are each one step under the interpreter's lock); the tuple is swapped whole
        when a length is new."""
        self._heads: set[str] = set()
        """The first `MIN_SECRET_LENGTH` characters of every plain value (each is at least that
        long): where no head starts, no value does, so a position of a run is looked up once,
        not once a length held."""
        self._next_expiry: float | None = None
        """When the first value held dies: until then, adding looks for nothing to drop."""

    def add(self, values: Iterable[str], lifetime: float | None = None) -> None:
        until = None if lifetime is None else self._clock() + max(lifetime, 0.0)
        with self._lock:
            expired = self._drop_expired()
            new: set[str] = set()
            for value in values:
                if len(value) < MIN_SECRET_LENGTH:
                    continue
                if value in self._until:  # seen again: keep it for the longer of the two lives
                    kept = self._until[value]
                    self._until[value] = None if kept is None or until is None else max(kept, until)
                else:
                    self._until[value] = until
                    new.add(value)
            if until is not None and new and (self._next_expiry is None or until < self._next_expiry):
                self._next_expiry = until
            plain = {value for value in new if _PLAIN.fullmatch(value)}
            other = new - plain
            if expired:
                self._rebuild()
                return
            if plain:
                self._add_plain(plain)
            if self._overlaps(other):
                self._regroup([set(self._others())], [])
            elif other:
                self._push(other)

    def mask(self, text: str) -> str:
        for pattern in self._patterns:  # one read: a rebuild swaps the tuple whole
            text = pattern.sub(MASK, text)
        plain, heads = self._plain, self._heads
        if plain:  # only runs as long as the shortest value held may hold one
            text = _runs_of(plain[-1][0]).sub(lambda run: _mask_run(run.group(), plain, heads), text)
        return text

    def clear(self) -> None:
        with self._lock:
            self._until.clear()
            self._rebuild()

    def _others(self) -> list[str]:
        return [value for value in self._until if not _PLAIN.fullmatch(value)]

    def _rebuild(self) -> None:
        others = self._others()
        self._regroup([set(others)] if others else [], [])
        plain = {value for value in self._until if _PLAIN.fullmatch(value)}
        self._heads = {value[:MIN_SECRET_LENGTH] for value in plain}  # swapped whole, as the tuple is
        self._plain = ()
        self._add_plain(plain)

    def _add_plain(self, values: set[str]) -> None:
        self._heads.update(value[:MIN_SECRET_LENGTH] for value in values)  # first: no value without its head
        sets = dict(self._plain)
        for value in values:
            if len(value) not in sets:
                sets[len(value)] = set()
                self._plain = tuple((length, sets[length]) for length in sorted(sets, reverse=True))
            sets[len(value)].add(value)

    def _push(self, group: set[str]) -> None:
        groups, patterns = self._groups[:], list(self._patterns)
        while groups and len(groups[-1]) <= len(group):
            group |= groups.pop()
            patterns.pop()
        self._regroup(groups + [group], patterns)

    def _regroup(self, groups: list[set[str]], patterns: list[re.Pattern[str]]) -> None:
        """Keep `groups`, compiling those past the `patterns` already held for the first ones."""
        for group in groups[len(patterns):]:
            pattern = _alternation(group)
            assert pattern is not None, "a group is never empty"
            patterns.append(pattern)
        self._groups, self._patterns = groups, tuple(patterns)

    def _overlaps(self, new: set[str]) -> bool:
        """Whether a new other value contains a held one or is contained in one (a link and
        its token arrive in one call, so they never count)."""
        held = [value for group in self._groups for value in group if value not in new]
        return any(a in b or b in a for a in new for b in held)

    def _drop_expired(self) -> bool:
        now = self._clock()
        if self._next_expiry is None or now < self._next_expiry:
            return False
        expired = [v for v, until in self._until.items() if until is not None and until <= now]
        for value in expired:
            del self._until[value]
        alive = [until for until in self._until.values() if until is not None]
        self._next_expiry = min(alive) if alive else None
        return bool(expired)


_PLAIN_CHARS = r"A-Za-z0-9\-._~"
_PLAIN = re.compile(f"[{_PLAIN_CHARS}]+")


@functools.cache
def _runs_of(length: int) -> re.Pattern[str]:
    """Runs of plain characters at least `length` long: where a plain value that long may be
    (one pattern per shortest length held, of which a process sees a few)."""
    return re.compile(f"[{_PLAIN_CHARS}]{{{length},}}")


def _mask_run(run: str, plain: tuple[tuple[int, set[str]], ...], heads: set[str]) -> str:
    """`run` with every held plain value in it masked, the longest first where two start at
    one place (a value inside a longer one starts no earlier, so it is masked with it). The
    values are looked for only where one of their `heads` starts."""
    shortest = plain[-1][0]
    end = len(run)
    if end < shortest:
        return run
    pieces: list[str] = []
    start = i = 0
    while i <= end - shortest:
        found = run[i:i + MIN_SECRET_LENGTH] in heads and next(
            (length for length, values in plain if i + length <= end and run[i:i + length] in values), 0)
        if found:
            pieces += (run[start:i], MASK)
            i = start = i + found
        else:
            i += 1
    if not pieces:
        return run
    pieces.append(run[start:])
    return "".join(pieces)


def _alternation(values: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern matching any value in any of its written forms, longest first (so a value
    that contains another is masked whole), as a trie: with hundreds of random tokens each
    position of a line is rejected after a character or two, not after trying every token."""
    trie: dict[str, Any] = {}
    for value in values:
        node = trie
        for char in value:
            node = node.setdefault(_char_forms(char), {})
        node[""] = {}
    return re.compile(_trie_pattern(trie)) if trie else None


def _trie_pattern(node: dict[str, Any]) -> str:
    ends_here = "" in node
    branches = [unit + _trie_pattern(child) for unit, child in node.items() if unit]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 and not ends_here else "(?:" + "|".join(branches) + ")"
    return body + "?" if ends_here else body


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


@functools.cache
def _char_forms(char: str) -> str:
    """A pattern for one character of a secret as it may be written: itself, its JSON escape
    (once and twice: a request body quoted inside an error message inside a JSON answer), its
    percent-encoding in either case, and ``+`` for a space (a form body)."""
    if char in _UNRESERVED:
        return re.escape(char)
    forms = {char, *_json_escapes(char), *(["+"] if char == " " else [])}
    encoded = "".join(f"%{byte:02X}" for byte in char.encode())
    alternatives = sorted((re.escape(f) for f in forms), key=len, reverse=True)
    alternatives.append("(?i:" + re.escape(encoded) + ")")
    return "(?:" + "|".join(alternatives) + ")"


def _json_escapes(char: str) -> set[str]:
    once = {json.dumps(char)[1:-1], json.dumps(char, ensure_ascii=False)[1:-1]}
    if char == "/":
        once.add("\\/")
    twice = {json.dumps(form)[1:-1] for form in once}
    return once | twice


secrets = SecretValues()
"""The process's registry: fed by the config as it resolves references and by connectors as
boards hand out tokens and links."""


def register_secret(*values: str, lifetime: float | None = None) -> None:
    """Mask these values in every log line, stored error and printed output from now on;
    `lifetime` seconds (None: for good), for a credential that expires."""
    secrets.add(values, lifetime)


def register_link(url: str, expires_at: datetime, sent: Iterable[str] = ()) -> None:
    """Mask a signed link until it expires: each query or fragment value (the token) and each
    long path segment (where a board may carry the token instead), but not the ids we `sent`
    for it, which are names, not credentials. A link printed then shows where it leads with
    its credential masked. A link with no such piece is masked whole.

    Only the pieces, not the whole URL too: a URL's ``:``, ``/``, ``?`` and ``&`` each have
    several written forms, which made a first sync's thousand links the larger part of its
    masking patterns, compiled again as they grew."""
    parts = urlsplit(url)
    pieces = [value for _, value in parse_qsl(parts.query) + parse_qsl(parts.fragment)]
    pieces += [segment for segment in parts.path.split("/") if len(segment) >= LINK_SEGMENT_LENGTH]
    known = set(sent)
    pieces = [piece for piece in pieces if piece not in known and len(piece) >= MIN_SECRET_LENGTH]
    if expires_at.tzinfo is None:  # a board that leaves out the offset means UTC
        expires_at = expires_at.replace(tzinfo=UTC)
    lifetime = (expires_at - datetime.now(UTC)).total_seconds()
    register_secret(*(pieces or [url]), lifetime=lifetime)


LINK_SEGMENT_LENGTH = 20
"""A path segment this long in a signed link is taken for a token, not a word like ``embed``."""


def redact(value: Any) -> Any:
    """`value` with every secret masked: strings by pattern, mappings by key and value,
    sequences item by item. Other values are returned as they are."""
    kind = type(value)
    if kind is str:
        return _redact_text(value)
    if kind is int or kind is bool or value is None:  # most leaves: answered before any base class is asked
        return value
    if kind is dict or isinstance(value, Mapping):
        return {k: MASK if _is_secret_key(k) else redact(v) for k, v in value.items()}
    if kind is list:
        return [redact(v) for v in value]
    if isinstance(value, str):
        return _redact_text(value)
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v) for v in value)
    return value


_WORDS = tuple(sorted({word for _, _, words in _PATTERNS for word in words} | SECRET_KEYS))
"""Every word a text `redact` changes holds: a pattern's, or a key whose value it masks."""


def redacts_nothing_in(encoded: str) -> bool:
    """Whether `redact` would leave every key and value of the JSON text `encoded` as it is.
    Only for text with no escape in it (no backslash), where each string is written as it is;
    then a secret value or a pattern's word in any string is one in the whole text too, so a
    text clean as a whole is clean string by string. True is certain; False means the value
    is to be redacted one string at a time, as `redact` does."""
    if "\\" in encoded:
        return False
    lowered = encoded.lower()
    for word in _WORDS:  # a loop: quicker here than any() or one pattern of them all
        if word in lowered:
            return False
    return secrets.mask(encoded) == encoded


def _redact_text(text: str) -> str:
    text = secrets.mask(text)
    lowered = text.lower()  # a mask put in by a pattern brings none of the words
    for pattern, replacement, words in _PATTERNS:
        for word in words:  # a loop, not any(): this runs for every text a run stores
            if word in lowered:
                text = pattern.sub(replacement, text)
                break
    return text


class _MaskingStream:
    """A text stream that masks registered secret values in what is written, then passes it
    on. Only by value: the name patterns would mangle a plan that shows a description
    reading "basic package"."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(secrets.mask(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def masked_output(stdout: bool = True, stderr: bool = True) -> Iterator[None]:
    """Within the block, what is printed to stdout (when `stdout`) and stderr (when `stderr`)
    has every registered secret masked."""
    saved = sys.stdout, sys.stderr
    if stdout:
        sys.stdout = cast(TextIO, _MaskingStream(sys.stdout))
    if stderr:
        sys.stderr = cast(TextIO, _MaskingStream(sys.stderr))
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and key.lower() in SECRET_KEYS


def redact_processor(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask secrets in every value of the event, the event included.

    It runs after `format_exc_info`, so a traceback's text is masked as well."""
    return redact(dict(event_dict))  # type: ignore[no-any-return]


_HANDLER_NAME = "boardsync"

_QUIET_LOGGERS = ("httpx", "httpcore", "watchfiles", "alembic")
"""Loggers that say every request (or every file event, or every migration step: `migrate` prints
those itself) at INFO; their warnings still get through."""


def configure(
    json: bool | None = None,
    level: str = "info",
    journald: bool | None = None,
    stream: TextIO | None = None,
    handler: logging.Handler | None = None,
    fields: Mapping[str, str] | None = None,
) -> None:
    """Route every log line through structlog to `stream` (default: stdout), redacted.

    A command whose stdout is its output (a plan as JSON) logs to stderr instead.
    `handler`: write the lines through it instead of a stream (the command line's console,
    which prints them above its progress bar): readable console lines, in colour, which the
    handler keeps or drops as its terminal allows.

    `json`: JSON lines when true, a readable console when false, and when None: JSON unless
    stdout is a terminal. `journald`: put journald's ``<N>`` priority before each JSON line;
    when None, only when stdout is the journal (systemd says so in ``$JOURNAL_STREAM``), so
    that JSON piped to a file or a collector stays plain JSON. Calling it again replaces the
    previous configuration. `fields` are added to every line (the workspace a daemon serves).

    structlog itself is set up now when it is loaded, else when it is first needed (see the
    module's docstring); either way before any line is written."""
    global _pending, _level, _fields
    stream = stream or sys.stdout
    if handler is not None:
        json, journald = False, False
    if json is None:
        json = not stream.isatty()
    if journald is None:
        journald = stream is sys.stdout and stdout_is_journal()
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    with _setup_lock:
        _pending = functools.partial(_configure_structlog, level=numeric)
        _level = numeric
        _fields = dict(fields or {})
    colors = True if handler is not None else stream.isatty()
    formatter = _LazyFormatter(functools.partial(_formatter, json=json, journald=journald, colors=colors))
    _install_handler(handler or logging.StreamHandler(stream), formatter, numeric)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    if "structlog" in sys.modules:
        _structlog()


_setup_lock = threading.Lock()
_pending: Callable[[ModuleType], None] | None = None
"""The structlog configuration `configure` last asked for, until structlog is loaded."""
_level: int | None = None
"""The level `configure` last set: lines below it are dropped."""
_fields: dict[str, str] = {}
"""What `configure` was told to add to every line."""


def _structlog() -> ModuleType:
    """structlog, loaded, and configured as `configure` last asked.

    The lock is held while the configuration is applied: a thread that logs meanwhile waits
    for it rather than writing its line through structlog's defaults (to stdout, unmasked)."""
    global _pending
    import structlog

    with _setup_lock:
        if _pending is not None:
            _pending(structlog)
            _pending = None
    return structlog


def _configure_structlog(structlog: ModuleType, level: int) -> None:
    structlog.configure(
        # Redacted here already, so any other handler on the root logger gets clean events too.
        processors=[
            *_shared_processors(structlog),
            structlog.processors.format_exc_info,
            redact_processor,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=False,
    )


def _shared_processors(structlog: ModuleType) -> list[Processor]:
    fields = dict(_fields)

    def add_fields(logger: Any, name: str, event: EventDict) -> EventDict:
        for key, value in fields.items():
            event.setdefault(key, value)
        return event

    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        *([add_fields] if fields else []),
    ]


def _formatter(json: bool, journald: bool = False, colors: bool = False) -> logging.Formatter:
    structlog = _structlog()
    renderer: Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=colors)
    )
    if json and journald:
        renderer = _JournaldPriority(renderer)
    formatter: logging.Formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(structlog),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_processor,
            renderer,
        ],
    )
    return formatter


class _LazyFormatter(logging.Formatter):
    """structlog's formatter, built when the handler formats its first line."""

    def __init__(self, build: Callable[[], logging.Formatter]) -> None:
        super().__init__()
        self._build = build
        self._built: logging.Formatter | None = None
        self._lock = threading.Lock()

    def format(self, record: logging.LogRecord) -> str:
        with self._lock:
            if self._built is None:
                self._built = self._build()
        return self._built.format(record)


class _Logger:
    """A structlog logger whose module is imported at its first use: a bound logger's methods
    (`info`, `bind`, …) are those of ``structlog.get_logger(name, **initial)``."""

    def __init__(self, name: str, initial: dict[str, Any]) -> None:
        self._name = name
        self._initial = initial
        self._logger: Any = None

    def __getattr__(self, attribute: str) -> Any:
        logger = self.__dict__.get("_logger")
        if logger is None:
            if _dropped(attribute):
                return _drop
            logger = self._logger = _structlog().get_logger(self._name, **self._initial)
        return getattr(logger, attribute)


_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR,
           "exception": logging.ERROR, "critical": logging.CRITICAL}
"""A bound logger's methods that log at one level, and that level."""


def _dropped(method: str) -> bool:
    """Whether a line logged by `method` is dropped anyway, as structlog's filtering logger
    would: below the level `configure` set. Only while structlog is not loaded, so that
    nothing else can have configured it since."""
    level = _LEVELS.get(method)
    return level is not None and _level is not None and level < _level and "structlog" not in sys.modules


def _drop(*args: Any, **kwargs: Any) -> None:
    """A line below the level: no structlog to load for it."""


def get_logger(name: str, **initial: Any) -> Any:
    """A logger as ``structlog.get_logger(name, **initial)`` gives, configured as `configure`
    said, but structlog loaded only when it first logs."""
    return _Logger(name, initial)


SYSLOG_PRIORITY = {"critical": 2, "exception": 3, "error": 3, "warning": 4, "info": 6, "debug": 7}
"""structlog level → syslog priority, as journald reads it from a ``<N>`` line prefix."""


class _JournaldPriority:
    """Wraps a renderer: ``<N>`` before the line lets journald file it at the right priority
    (sd-daemon(3)), so ``journalctl -p warning`` shows warnings and errors only."""

    def __init__(self, renderer: Processor) -> None:
        self.renderer = renderer

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> str:
        priority = SYSLOG_PRIORITY.get(str(event_dict.get("level", "info")), 6)
        line = self.renderer(logger, method_name, event_dict)
        return f"<{priority}>{line.decode() if isinstance(line, bytes) else line}"


def stdout_is_journal() -> bool:
    """Whether stdout is connected to journald: ``$JOURNAL_STREAM`` (device:inode) names it."""
    device, _, inode = os.environ.get("JOURNAL_STREAM", "").partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        st = os.fstat(sys.stdout.fileno())
    except (OSError, ValueError):
        return False
    return (st.st_dev, st.st_ino) == (int(device), int(inode))


def _install_handler(handler: logging.Handler, formatter: logging.Formatter, level: int) -> None:
    root = logging.getLogger()
    for installed in list(root.handlers):
        if installed.get_name() == _HANDLER_NAME:
            root.removeHandler(installed)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level)
