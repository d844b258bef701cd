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
from boardsync.config.sources import Origin
from boardsync.errors import Problem


class BoardFinding(Protocol):
    """What a board's check reports: a path in the posting file and what to fix."""

    @property
    def field(self) -> str: ...

    @property
    def message(self) -> str: ...


BoardCheck = Callable[[Posting], Iterable[BoardFinding]]


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
    board_problems = [
        problem
        for posting, origin in [*collected.postings, *collected.unchecked]
        for problem in _board_problems(posting, origin, checks or {})
    ]
    problems = sort_problems(collected.problems + board_problems, collected.sources)
    boards = tuple(collected.root.providers.names()) if collected.root else ()
    postings = tuple(sorted((p for p, _ in collected.postings), key=lambda p: p.key))
    return Report(tuple(problems), tuple(collected.warnings), postings, boards)


def _board_problems(posting: Posting, origin: Origin, checks: Mapping[str, BoardCheck]) -> list[Problem]:
    problems = []
    for board in posting.boards.names():
        check = checks.get(board)
        if check is None:
            continue
        for finding in check(posting):
            where = origin.where(parse_path(finding.field))
            problems.append(Problem(where, finding.field, f"{board}: {finding.message}"))
    return problems


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")
