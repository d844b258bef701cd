"""The errors boardsync raises, as one small tree.

    BoardsyncError
    ├── ConfigError          the desired state is wrong: every problem, with file:line:col
    ├── StateError           the state database is missing, locked or at an unknown version
    ├── UnsafePlan           the plan would close too much; `--force` overrides
    └── ProviderError        a board call did not do what was asked
        ├── Transient        try again later: 5xx, 429, timeouts, resets
        │   └── WaitAsked    the board asked to be left alone longer than a call retries
        ├── Rejected         the input is wrong: the board's code and per-field reasons
        ├── Blocked          a person must act: terms, payment, a plan limit
        ├── Ambiguous        the outcome is unknown: the change may or may not have happened
        └── Malformed        the board answered, but not in its documented shape

Every ProviderError names the board and the call, so a message reads on its own:
``sorce POST /jobs: 422 VALIDATION_FAILED: ...``. Messages never carry secrets.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


class BoardsyncError(Exception):
    """The root of every error boardsync raises on purpose."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the desired state, pointing at where it was written.

    ``location`` is ``file:line:col`` for YAML, or a SQL row's key; ``field`` is a dotted path
    inside the posting or root file (``salary.max``, ``boards.sorce.bid_cents``).
    """

    location: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        what = f"{self.field}: " if self.field else ""
        return f"{where}{what}{self.message}"


class ConfigError(BoardsyncError):
    """The configuration or the postings are invalid; carries every problem found."""

    def __init__(self, problems: Iterable[Problem] | str) -> None:
        if isinstance(problems, str):
            problems = [Problem("", "", problems)]
        self.problems: list[Problem] = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def no_such_posting(keys: Iterable[str], known: Iterable[str], *, option: str = "") -> ConfigError:
    """The error for posting keys that name no posting, with the nearest known key for each
    that is close to one (``did you mean backend-engineer?``)."""
    choices = sorted(set(known))
    named = []
    for key in sorted(set(keys)):
        close = difflib.get_close_matches(key, choices, n=1)
        named.append(f"{key} (did you mean {close[0]}?)" if close else key)
    prefix = f"{option} " if option else ""
    return ConfigError(f"{prefix}{', '.join(named)}: no such posting")


class StateError(BoardsyncError):
    """The state database cannot be used as it is (unknown version, locked, unreadable)."""


class Refused(BoardsyncError):
    """A command will not do what it was asked, and says why; nothing was changed."""


class UnsafePlan(BoardsyncError):
    """The plan would close or remove more live postings than the policy allows."""


class ProviderError(BoardsyncError):
    """A call to a board failed. ``provider`` and ``call`` say which; ``status`` is HTTP's."""

    unanswered: bool = False
    """True when no answer came back at all (unreachable, a timeout, the request's deadline,
    a reset): what tells a board that stopped answering from one that answers with errors."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        call: str,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        self.provider = provider
        self.call = call
        self.status = status
        self.code = code
        self.reason = message
        detail = call
        if status is not None:
            detail += f": {status}"
        if code:
            detail += f" {code}"
        self.detail = f"{detail}: {message}"
        """The message without the board's name, for where the board is named already."""
        super().__init__(f"{provider} {self.detail}")


class Transient(ProviderError):
    """The board could not answer now; the same call may succeed later."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)  # type: ignore[arg-type]


class WaitAsked(Transient):
    """The board asked (a 429's ``Retry-After``) to be left alone for longer than a call
    retries: ``retry_after`` seconds, during which nothing is sent to it, this run or the next."""


class Rejected(ProviderError):
    """The board refused the input; ``fields`` maps each field to what to fix."""

    def __init__(self, message: str, *, fields: Mapping[str, str] | None = None, **kw: object) -> None:
        self.fields: dict[str, str] = dict(fields or {})
        super().__init__(message, **kw)  # type: ignore[arg-type]


class Blocked(ProviderError):
    """Only a person can clear this: ``gate`` names it (terms, payment, plan_limit).

    ``company_wide`` is true when every posting on the board is affected, not just this one.
    """

    def __init__(self, message: str, *, gate: str, company_wide: bool, **kw: object) -> None:
        self.gate = gate
        self.company_wide = company_wide
        super().__init__(message, **kw)  # type: ignore[arg-type]


class Ambiguous(ProviderError):
    """The call may or may not have taken effect (a lost response). Look it up; never resend."""


class Malformed(ProviderError):
    """The board answered, but the answer is not in its documented shape: a field of the wrong
    type, a required one missing. ``field`` is its path in the body (``items[3].id``).

    Not `Transient`: the board did answer, and the same question is likely to get the same
    answer. Nothing is decided from such an answer; a read that gets one leaves its board
    unread for the run. (A create whose answer is malformed is `Ambiguous` instead: the job
    may exist.)"""

    def __init__(self, message: str, *, field: str, **kw: object) -> None:
        self.field = field
        super().__init__(message, **kw)  # type: ignore[arg-type]
