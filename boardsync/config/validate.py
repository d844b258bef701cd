"""`boardsync validate`: every problem of the desired state, including what each board
would refuse, gathered in one pass.

Board rules live in the connectors; this module gets them as plain callables (name →
``check(posting)``) so that `config` never imports `connectors`.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from boardsync.config.loader import collect, sort_problems
from boardsync.config.model import Posting
from boardsync.config.problems import parse_path
from boardsync.errors import Problem


class BoardFinding(Protocol):
    """What a board's check reports: a path in the posting file and what to fix; an "error"
    the board would refuse, or a "warning" of what it will not keep."""

    @property
    def field(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def severity(self) -> str: ...


BoardCheck = Callable[[Posting], Iterable[BoardFinding]]


@dataclass(frozen=True)
class _Moved:
    """A finding pointed at another field of the posting file."""

    field: str
    message: str
    severity: str


@dataclass(frozen=True)
class Report:
    """The outcome of validating: problems (any fails it), warnings, and what was found."""

    problems: tuple[Problem, ...]
    warnings: tuple[Problem, ...]
    postings: tuple[Posting, ...]
    boards: tuple[str, ...]
    """The boards configured under `providers:`."""

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def channels(self) -> int:
        """Distinct channel names across all postings."""
        return len({channel for posting in self.postings for channel in posting.channels})

    def summary(self) -> str:
        """One line: ``7 postings (4 active, 1 draft, …), 3 boards (…), 5 channels``."""
        statuses = Counter(posting.status.value for posting in self.postings)
        by_status = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
        postings = _plural(len(self.postings), "posting") + (f" ({by_status})" if by_status else "")
        boards = _plural(len(self.boards), "board") + (f" ({', '.join(self.boards)})" if self.boards else "")
        return f"{postings}, {boards}, {_plural(self.channels, 'channel')}"

    def lines(self) -> list[str]:
        """What `boardsync validate` prints: warnings, every problem, then one closing line."""
        lines = [_warning_line(w) for w in self.warnings] + [str(p) for p in self.problems]
        if self.problems:
            lines.append(f"{_plural(len(self.problems), 'problem')}; nothing is valid until all are fixed")
        else:
            lines.append(f"valid: {self.summary()}")
        return lines


def _warning_line(warning: Problem) -> str:
    where = f"{warning.location}: " if warning.location else ""
    what = f"{warning.field}: " if warning.field else ""
    return f"{where}warning: {what}{warning.message}"


def validate(
    path: str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
    resolve_secrets: bool = True,
    checks: Mapping[str, BoardCheck] | None = None,
) -> Report:
    """Load everything like `load` does, then run each named board's check on every posting
    that is valid on its own, even when other files have problems."""
    collected = collect(path, env=env, resolve_secrets=resolve_secrets)
    strict = collected.root is not None and collected.root.policy.strict_fields
    problems, warnings = list(collected.problems), list(collected.warnings)
    for posting, origin in [*collected.postings, *collected.unchecked]:
        for board, finding in _board_findings(posting, checks or {}):
            finding = _in_override(posting, board, finding)
            where = origin.where(parse_path(finding.field))
            if finding.severity == "error":
                problems.append(Problem(where, finding.field, f"{board}: {finding.message}"))
            elif strict:  # what a board cannot hold, refused as the policy asks
                problems.append(Problem(where, finding.field, f"{finding.message} (policy.strict_fields)"))
            else:  # the message names the board: "sorce has no currency field; …"
                warnings.append(Problem(where, "", finding.message))
    boards = tuple(collected.root.providers.names()) if collected.root else ()
    postings = tuple(sorted((p for p, _ in collected.postings), key=lambda p: p.key))
    return Report(
        tuple(sort_problems(problems, collected.sources)), tuple(sort_problems(warnings, collected.sources)),
        postings, boards,
    )


def _board_findings(posting: Posting, checks: Mapping[str, BoardCheck]) -> list[tuple[str, BoardFinding]]:
    """Each board's findings on the posting as that board gets it (its overrides in place),
    for the boards it names."""
    return [
        (board, finding)
        for board in posting.boards.names()
        if (check := checks.get(board)) is not None
        for finding in check(posting.on_board(board))
    ]


def _in_override(posting: Posting, board: str, finding: BoardFinding) -> BoardFinding:
    """A finding on a field the board's section overrides, pointed at the override."""
    head = finding.field.split(".", 1)[0].split("[", 1)[0]
    if head not in posting.overridden(board):
        return finding
    return _Moved(f"boards.{board}.{finding.field}", finding.message, finding.severity)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")
