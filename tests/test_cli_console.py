"""The command line's terminal: tables, colour and its off switches, the progress bar, log
lines printed through the console above the bar, and stdout that carries only the result.

Terminals are faked the way rich tells them apart: a stream whose `isatty()` says yes, or
``FORCE_COLOR`` in the environment; ``TERM`` is set so that a terminal has colours at all.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog

from boardsync import cli
from boardsync.console import status_table, table
from boardsync.reconcile.model import RunResult
from boardsync.sandbox.core import Fault
from boardsync.session import exit_code
from boardsync.state import StatusRow
from boardsync.terminal import Terminal, plain
from tests.reconcile_helpers import Ran, Workspace

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ESCAPE = "\x1b["
ROWS = [StatusRow("backend-engineer", "sorce", "job_1", "active", 1, NOW, None),
        StatusRow("designer", "hirempire", None, "paused", 0, None, "payment required")]


class Screen(io.StringIO):
    """A stream rich takes for a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def colour_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal that has colours, and no colour switch inherited from the environment."""
    monkeypatch.setenv("TERM", "xterm-256color")
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


@contextlib.contextmanager
def streams(out: io.StringIO, err: io.StringIO) -> Iterator[None]:
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield


def shown(renderable: object, out: io.StringIO, **options: bool) -> str:
    with streams(out, io.StringIO()):
        Terminal.open(**options).show(renderable)  # type: ignore[arg-type]
    return out.getvalue()


# ------------------------------------------------------------------------------ tables and colour


def test_a_table_in_a_pipe_is_plain_text_at_its_natural_width() -> None:
    """Not a terminal: columns two spaces apart under upper-case headings, None as '-', times
    in UTC, no trailing blanks and no escape code, however long the lines."""
    long_key = "k" * 150
    text = shown(table(("posting", "last sync"), [("a", None), (long_key, NOW)]), io.StringIO())
    assert text.splitlines() == [
        "POSTING" + " " * 145 + "LAST SYNC",
        "a" + " " * 151 + "-",
        f"{long_key}  2026-03-01 12:00:00Z",
    ]
    assert ESCAPE not in text


def test_a_terminal_gets_colour_and_the_same_columns() -> None:
    """On a terminal the status table is drawn in colour, with the same headings and cells."""
    text = shown(status_table(ROWS), Screen())
    assert ESCAPE in text
    words = re.sub(r"\x1b\[[0-9;]*m", "", text).split()
    assert {"POSTING", "BOARD", "STATE", "HEALTH", "REMOTE", "ID", "DRIFT", "LAST", "SYNC", "BLOCKED"} <= set(words)
    assert words.index("POSTING") < words.index("BOARD") < words.index("STATE") < words.index("HEALTH")


@pytest.mark.parametrize("switch", ["NO_COLOR", "--no-color"])
def test_no_color_and_the_flag_leave_no_escape_code_on_a_terminal(switch: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """NO_COLOR (any non-empty value) or --no-color: not one escape code, bold included, even
    on a terminal and even with FORCE_COLOR set."""
    monkeypatch.setenv("FORCE_COLOR", "1")
    if switch == "NO_COLOR":
        monkeypatch.setenv("NO_COLOR", "1")
    text = shown(status_table(ROWS), Screen(), no_color=switch == "--no-color")
    assert ESCAPE not in text
    assert "payment" in text  # the table itself is there (wrapped to the terminal's width)


def test_force_color_makes_a_pipe_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """FORCE_COLOR is rich's: a pipe is drawn as a terminal would be (so the test above would
    see an escape code if colour leaked through its switches)."""
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert ESCAPE in shown(status_table(ROWS), io.StringIO())


def test_no_color_is_a_global_flag_also_taken_after_the_command() -> None:
    """`boardsync --no-color status` and `boardsync status --no-color` both turn colour off;
    without it colour is left to the terminal."""
    parser = cli.build_parser()
    assert parser.parse_args(["--no-color", "status"]).no_color is True
    assert parser.parse_args(["status", "--no-color"]).no_color is True
    assert parser.parse_args(["status"]).no_color is False


def test_plain_drops_the_padding_rich_adds() -> None:
    """A renderable as text: its lines, without the blanks that pad a table's last column."""
    assert plain(table(("a", "b"), [("x", "long value"), ("y", "z")])) == "A  B\nx  long value\ny  z\n"


def _result(outcome: str) -> RunResult:
    return RunResult(None, "reconcile", "cli", outcome, {}, None, (), NOW, NOW)  # type: ignore[arg-type]


def test_exit_code_says_whether_the_boards_match_the_postings() -> None:
    """0 converged; 2 partial, pending or drifted (a difference left as the policy says);
    1 refused or failed."""
    outcomes = ("converged", "partial", "pending", "drifted", "refused", "failed")
    assert [exit_code(_result(o)) for o in outcomes] == [0, 2, 2, 2, 1, 1]


# ------------------------------------------------------------------------------ the progress bar and logs


def test_the_progress_bar_is_drawn_on_a_terminal_only() -> None:
    """stderr a terminal: a bar that counts the changes; not a terminal, or not shown (-q): none."""
    with streams(io.StringIO(), io.StringIO()), Terminal.open().progress() as none:
        assert none is None
    with streams(io.StringIO(), Screen()), Terminal.open().progress(shown=False) as hidden:
        assert hidden is None
    err = Screen()
    with streams(io.StringIO(), err), Terminal.open().progress() as bar:
        assert bar is not None
        bar(1, 4)
        bar(4, 4)
    assert "4/4 changes" in re.sub(r"\x1b\[[0-9;]*m", "", err.getvalue())


LINE_START = r"(?:^|\n|\r\x1b\[2K)"
"""Where a line of a terminal starts: after a newline, or where rich erased the bar's line."""
LOG_LINE = re.compile(LINE_START + r"\d{4}-\d\d-\d\dT[^\n\r\x1b]*change_failed[^\n\r\x1b]*posting=designer[^\n\r\x1b]*\n")


def test_a_log_line_written_during_the_bar_lands_above_it_whole() -> None:
    """A warning logged while the bar is drawn starts on a line of its own, all of it in one
    piece, and the bar is drawn again below it."""
    err = Screen()
    with streams(io.StringIO(), err):
        term = Terminal.open(no_color=True)
        term.route_logs()
        with term.progress() as bar:
            assert bar is not None
            bar(1, 4)
            structlog.get_logger("boardsync.test").warning("change_failed", provider="hirempire", posting="designer")
            bar(2, 4)
    screen = err.getvalue()
    found = LOG_LINE.search(screen)
    assert found is not None, repr(screen)
    assert screen.rindex("2/4 changes") > found.end()


# ------------------------------------------------------------------------------ whole commands


def run_on(ws: Workspace, out: io.StringIO, err: io.StringIO, *argv: str) -> Ran:
    with streams(out, err):
        code = cli.main([*argv, "-c", str(ws.root / "boardsync.yaml")])
    return Ran(code, out.getvalue(), err.getvalue())


@pytest.mark.slow
def test_a_run_keeps_stdout_for_its_report_and_logs_above_the_bar(ws: Workspace) -> None:
    """stderr a terminal, stdout a pipe: a change that fails is logged on stderr above the bar,
    whole; stdout has the run's report and nothing else, without an escape code."""
    ws.sandbox.hirempire.faults.add(Fault("status", method="POST", path=r".*/add-job", status=503, times=None))
    ran = run_on(ws, io.StringIO(), Screen(), "--no-color", "reconcile")
    assert ran.code == 2
    logged = LINE_START + r"\d{4}-\d\d-\d\dT[^\n\r\x1b]*change_failed[^\n\r\x1b]*provider=hirempire[^\n\r\x1b]*\n"
    assert re.search(logged, ran.err), repr(ran.err)
    assert "changes" in ran.err
    *failures, summary = ran.out.splitlines()
    assert summary.startswith("reconcile run ") and failures and all(f.startswith("  ! ") for f in failures)
    assert ESCAPE not in ran.out and "change_failed" not in ran.out


@pytest.mark.slow
def test_piped_output_of_a_command_carries_no_escape_code(synced: Workspace) -> None:
    """`boardsync status` and `plan` in a pipe print plain text on stdout and nothing on
    stderr; forced to a terminal (FORCE_COLOR) they are in colour, unless NO_COLOR or
    --no-color says otherwise."""
    config = str(synced.root / "boardsync.yaml")
    synced.edit_posting("backend-engineer", "Senior Backend Engineer (Python)", "Staff Backend Engineer (Python)")

    def run(command: str, *flags: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "boardsync", *flags, command, "-c", config],
                              capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PYTHONPATH": str(ROOT), **env})

    piped = run("status")
    assert piped.returncode == 0 and piped.stderr == ""
    assert ESCAPE not in piped.stdout and piped.stdout.splitlines()[0].split()[:2] == ["POSTING", "BOARD"]
    planned = run("plan")
    assert planned.returncode == 2 and planned.stderr == "" and ESCAPE not in planned.stdout
    assert "Staff Backend Engineer" in planned.stdout
    for command in ("status", "plan"):
        assert ESCAPE in run(command, FORCE_COLOR="1").stdout
        assert ESCAPE not in run(command, FORCE_COLOR="1", NO_COLOR="1").stdout
        assert ESCAPE not in run(command, "--no-color", FORCE_COLOR="1").stdout
