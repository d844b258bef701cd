"""Logging: structlog events, one configuration, and redaction on every line.

Everything that logs (boardsync's own structlog loggers and the standard library loggers of
httpx, uvicorn and APScheduler) ends in one handler whose formatter runs `redact_processor`
last before rendering; structlog events are redacted once more before they leave structlog,
so any other handler sees them masked too. So a key, a token or a signed URL that slips into an event, a
message or an exception's text is masked before anything is written.

`redact` is also what the connectors run over a board's error body before it becomes part of
an exception message.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
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

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization headers of any scheme, as they would be printed.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), rf"\1 {MASK}"),
    # Sorce service keys and Hirempire tokens (sk_ext_…, sk-…).
    (re.compile(r"\bsk(?:_ext_|-)[A-Za-z0-9_-]+"), MASK),
    # Credentials in a query string or a form: a signed link's token, a signature, a key.
    (
        re.compile(
            r"(?i)([?&;](?:token|access_token|signature|sig|key|api_key|client_secret)=)[^&#\s\"']+"
        ),
        rf"\1{MASK}",
    ),
    # The same words as JSON or "key: value" text (an echoed request body or header). A secret
    # *reference* (`${SORCE_API_KEY}`) is not a secret: a config error must still name it.
    (
        re.compile(
            r"(?i)([\"']?(?:access_token|client_secret|x-auth-token|api_key|token)[\"']?\s*[:=]\s*[\"']?)"
            r"(?!\$\{)[^\"',}\s]+"
        ),
        rf"\1{MASK}",
    ),
)


def redact(value: Any) -> Any:
    """`value` with every secret masked: strings by pattern, mappings by key and value,
    sequences item by item. Other values are returned as they are."""
    if isinstance(value, str):
        return _redact_text(value)
    if isinstance(value, Mapping):
        return {k: MASK if _is_secret_key(k) else redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v) for v in value)
    return value


def _redact_text(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _is_secret_key(key: object) -> bool:
    return isinstance(key, str) and key.lower() in SECRET_KEYS


def redact_processor(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask secrets in every value of the event, the event included.

    It runs after `format_exc_info`, so a traceback's text is masked as well."""
    return redact(dict(event_dict))  # type: ignore[no-any-return]


_HANDLER_NAME = "boardsync"

_QUIET_LOGGERS = ("httpx", "httpcore")
"""Loggers that say every request at INFO; their warnings still get through."""


def configure(
    json: bool | None = None,
    level: str = "info",
    journald: bool | None = None,
    stream: TextIO | None = None,
) -> None:
    """Route every log line through structlog to `stream` (default: stdout), redacted.

    A command whose stdout is its output (a plan as JSON) logs to stderr instead.

    `json`: JSON lines when true, a readable console when false, and when None: JSON unless
    stdout is a terminal. `journald`: put journald's ``<N>`` priority before each JSON line;
    when None, only when stdout is the journal (systemd says so in ``$JOURNAL_STREAM``), so
    that JSON piped to a file or a collector stays plain JSON. Calling it again replaces the
    previous configuration."""
    stream = stream or sys.stdout
    if json is None:
        json = not stream.isatty()
    if journald is None:
        journald = stream is sys.stdout and stdout_is_journal()
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    shared = _shared_processors()
    structlog.configure(
        # Redacted here already, so any other handler on the root logger gets clean events too.
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            redact_processor,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=False,
    )
    _install_handler(stream, _formatter(shared, json, journald, colors=stream.isatty()), numeric)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _formatter(
    shared: list[Processor], json: bool, journald: bool = False, colors: bool = False
) -> logging.Formatter:
    renderer: Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=colors)
    )
    if json and journald:
        renderer = _JournaldPriority(renderer)
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_processor,
            renderer,
        ],
    )


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


def _install_handler(stream: TextIO, formatter: logging.Formatter, level: int) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level)
