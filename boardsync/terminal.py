"""The terminal: the consoles a command prints through, drawn with rich.

Two consoles: stdout carries the command's result and nothing else; stderr carries what goes
with it (the progress bar, log lines, notices). Log lines are printed through the stderr
console, so one written while the progress bar is drawn lands above the bar, whole.

Colour only where a console is a terminal (rich's test, which ``FORCE_COLOR`` and
``TTY_COMPATIBLE`` can force), and never with ``NO_COLOR`` set or ``--no-color``: then not a
single escape code is written, bold included. Where stdout is a pipe or a file, a table is
plain text at its natural width, each line without trailing blanks: what a script reads does
not depend on the width of a terminal it never had.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Console, RenderableType
from rich.text import Text

from boardsync import log

if TYPE_CHECKING:  # the bar is drawn by a run only: a command that shows none loads none
    from rich.progress import Progress, TaskID

NO_COLOR_ENV = "NO_COLOR"
"""Set to anything but the empty string, it turns colour off (https://no-color.org)."""

UNBOUNDED = 1_000_000
"""The width given to a console that is no terminal: lines are as long as they are."""


@dataclass(frozen=True)
class Terminal:
    """The command's two consoles: `out` (stdout, the result) and `err` (stderr, the rest)."""

    out: Console
    err: Console

    @classmethod
    def open(cls, *, no_color: bool = False) -> Terminal:
        """Consoles on the process's stdout and stderr as they are now (a test's redirection
        included); colourless with `no_color` or ``NO_COLOR`` in the environment."""
        plain = no_color or os.environ.get(NO_COLOR_ENV, "") != ""
        return cls(_console(stderr=False, plain=plain), _console(stderr=True, plain=plain))

    @property
    def color(self) -> bool:
        """Whether what goes to stdout may carry colour."""
        return self.out.is_terminal and self.out.color_system is not None

    def show(self, renderable: RenderableType) -> None:
        """Print a result for a person on stdout: as rich draws it on a terminal, as plain
        text elsewhere."""
        if self.out.is_terminal:
            self.out.print(renderable, soft_wrap=isinstance(renderable, Text))
        else:
            self.out.file.write(plain(renderable))

    def route_logs(self, *, quiet: bool = False) -> None:
        """Send log lines through the stderr console: warnings and up, only errors when `quiet`."""
        log.configure(level="error" if quiet else "warning", handler=ConsoleLogHandler(self.err))

    @contextmanager
    def progress(self, *, shown: bool = True) -> Iterator[ProgressBar | None]:
        """A progress bar of a run's changes on stderr, when it is a terminal and `shown`
        (None otherwise). When the block ends the bar stops, its last state left on screen."""
        if not (shown and self.err.is_terminal):
            yield None
            return
        bar = ProgressBar(self.err)
        try:
            yield bar
        finally:
            bar.close()


def _console(*, stderr: bool, plain: bool) -> Console:
    # Text handed to a console is printed as written: no markup, emoji codes or highlighting.
    # Without a colour system rich writes no style at all; its own NO_COLOR would keep bold.
    console = Console(stderr=stderr, color_system=None if plain else "auto", markup=False, emoji=False,
                      highlight=False)
    if not console.is_terminal:
        console.width = UNBOUNDED
    return console


def plain(renderable: RenderableType) -> str:
    """A renderable as plain text, as wide as it needs, without trailing blanks on its lines."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=UNBOUNDED, color_system=None, force_terminal=False,
                      markup=False, emoji=False, highlight=False)
    console.print(renderable)
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())


class ConsoleLogHandler(logging.Handler):
    """Writes each log line through a rich console, so that rich prints it above a live
    progress bar instead of into it, and keeps or drops its colours as the console does."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.print(Text.from_ansi(self.format(record)), soft_wrap=True)
        except Exception:  # logging's contract: a failing handler reports, never raises
            self.handleError(record)


class ProgressBar:
    """The bar of a run's changes: a callable `(done, total)`, as the applier reports from its
    threads. It appears at the first change counted, so a run with nothing to change shows none."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __call__(self, done: int, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with self._lock:
            if self._progress is None or self._task is None:
                self._progress = Progress(
                    TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("changes"),
                    TimeElapsedColumn(),
                    console=self._console,
                    # stdout is the result's: it is never drawn into the bar's stream. A stray
                    # write to stderr is printed above the bar, as a log line is.
                    redirect_stdout=False, redirect_stderr=True,
                )
                self._task = self._progress.add_task("applying", total=total, completed=done)
                self._progress.start()
            self._progress.update(self._task, completed=done, total=total)

    def close(self) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.stop()


def waiting(holder: Any) -> None:
    """Said once when the state database's writer lock is taken by another process."""
    describe = getattr(holder, "describe", None)
    who = describe() if callable(describe) else "another process"
    print(f"waiting for {who} to finish with the state database…", file=sys.stderr)
