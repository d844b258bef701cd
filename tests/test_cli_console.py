"""The command line's terminal helpers: the progress bar, tables and exit codes."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from boardsync.reconcile.console import exit_code, progress_bar, table
from boardsync.reconcile.model import RunResult

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_in_place_on_a_terminal_only() -> None:
    """On a terminal the bar is redrawn with a carriage return and ends with a newline;
    elsewhere there is no bar at all."""
    assert progress_bar(io.StringIO()) is None
    screen = Terminal()
    draw = progress_bar(screen, width=10)
    assert draw is not None
    draw(1, 4)
    draw(4, 4)
    assert screen.getvalue() == "\r[##........] 1/4 changes\r[##########] 4/4 changes\n"


def test_table_aligns_columns_and_shows_missing_values_as_dashes() -> None:
    """Columns are padded to their widest cell; None prints as '-', times in UTC."""
    text = table(("posting", "last sync"), [("a", None), ("longer-key", NOW)])
    assert text.splitlines() == [
        "POSTING     LAST SYNC",
        "a           -",
        "longer-key  2026-03-01 12:00:00Z",
    ]


def _result(outcome: str) -> RunResult:
    return RunResult(None, "reconcile", "cli", outcome, {}, None, (), NOW, NOW)  # type: ignore[arg-type]


def test_exit_code_says_whether_the_boards_match_the_postings() -> None:
    """0 converged; 2 partial, pending or drifted (a difference left as the policy says);
    1 refused or failed."""
    outcomes = ("converged", "partial", "pending", "drifted", "refused", "failed")
    assert [exit_code(_result(o)) for o in outcomes] == [0, 2, 2, 2, 1, 1]
