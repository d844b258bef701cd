"""What each notification says: one function per event, each returning the `Event` that the
code writing its cause adds to the outbox in the same transaction.

Every message says what happened, to which posting and board, and the command that shows
more. It names fields, never their values (a value may be long, or personal), and every text
a board sent is masked (`redact`) before it is written: no secret and no signed link is ever
in a message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from boardsync.log import redact
from boardsync.state.outbox import Event

DRIFT, BLOCKED, BOARD_DOWN, REFUSED, EXPIRING, LINK_FAILING, CONFIG_REFUSED = (
    "drift", "blocked", "board_down", "refused", "expiring", "link_failing", "config_refused",
)
TEST = "test"
"""The kind of the message `boardsync notify test` sends (not an event a target asks for)."""


def _said(text: str, limit: int = 500) -> str:
    """A board's or a check's own words, masked and cut to a length a chat message takes."""
    masked = str(redact(text)).strip()
    return masked if len(masked) <= limit else masked[: limit - 1] + "…"


def drift_opened(posting: str, provider: str, field: str, disposition: str) -> Event:
    """A drift row opened: the board shows `field` otherwise than the posting says."""
    what = {
        "correct": "boardsync puts it back (self_heal)",
        "frozen": "the board no longer lets it change (applications exist)",
    }.get(disposition, "left as it is (reported only)")
    return Event(
        DRIFT,
        f"boardsync: drift on {provider} for {posting}",
        f"{provider} shows the field '{field}' of posting {posting} otherwise than the posting says; {what}.\n"
        f"More: boardsync drift --open",
        posting, provider,
    )


def blocked(posting: str, provider: str, reason: str, gate: str | None, fields: Mapping[str, str]) -> Event:
    """A pair blocked: the board's message, and the fields to fix."""
    lines = [f"{provider} refused posting {posting} until someone acts"
             + (f" ({gate})" if gate else "") + f": {_said(reason)}"]
    if fields:
        lines.append("Fields to fix: " + "; ".join(f"{name}: {_said(text, 200)}" for name, text in sorted(fields.items())))
    lines.append("More: boardsync status")
    return Event(BLOCKED, f"boardsync: {posting} blocked on {provider}", "\n".join(lines), posting, provider)


def refused(reason: str, run_id: int | None) -> Event:
    """A reconcile run's plan refused (by the safety check, or a saved plan gone stale):
    nothing was sent."""
    run = f" (run {run_id})" if run_id is not None else ""
    return Event(
        REFUSED,
        "boardsync: a plan was refused",
        f"The reconcile run{run} changed nothing: {_said(reason)}\n"
        f"More: boardsync plan (and boardsync reconcile --force once the plan is right)",
    )


def board_down(provider: str, since: datetime, error: str | None) -> Event:
    """A board unreadable for longer than a target's `after`."""
    why = f": {_said(error)}" if error else ""
    return Event(
        BOARD_DOWN,
        f"boardsync: {provider} cannot be read",
        f"No reconcile run has read {provider} since {_when(since)}{why}. Nothing is changed on it until it "
        f"answers again.\nMore: boardsync status; boardsync plan --provider {provider}",
        provider=provider,
    )


def board_up(provider: str, since: datetime, now: datetime) -> Event:
    """A board told as down reads again."""
    return Event(
        BOARD_DOWN,
        f"boardsync: {provider} can be read again",
        f"{provider} answered again after {_duration(now - since)} (unreadable since {_when(since)}).\n"
        f"More: boardsync status",
        provider=provider,
    )


def link_failing(posting: str, provider: str, error: str) -> Event:
    """A posting's signed link could not be renewed."""
    return Event(
        LINK_FAILING,
        f"boardsync: the link of {posting} on {provider} cannot be renewed",
        f"{provider} gave no new signed link for posting {posting}: {_said(error)}. The link in use expires "
        f"as it was issued.\nMore: boardsync links {posting}",
        posting, provider,
    )


def expiring(posting: str, provider: str, expires_at: datetime) -> Event:
    """A job that will expire soon and that no run will post again."""
    return Event(
        EXPIRING,
        f"boardsync: {posting} expires on {provider} on {expires_at:%Y-%m-%d}",
        f"The job of posting {posting} on {provider} expires at {_when(expires_at)} and will not be reposted "
        f"(policy.repost_expired is off).\nMore: boardsync status",
        posting, provider,
    )


def config_refused(what: str, problems: Iterable[str]) -> Event:
    """A config file or a commit of the followed branch failed validation; the last good one runs."""
    listed = [f"- {_said(p, 300)}" for p in problems]
    shown = listed[:10] + ([f"- … and {len(listed) - 10} more"] if len(listed) > 10 else [])
    return Event(
        CONFIG_REFUSED,
        f"boardsync: {what} was refused",
        f"{what} failed validation; the last good config keeps running.\n" + "\n".join(shown)
        + "\nMore: boardsync validate",
    )


def test_message() -> Event:
    return Event(TEST, "boardsync: test message",
                 "This target receives boardsync's notifications.\nMore: boardsync notify list")


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"
