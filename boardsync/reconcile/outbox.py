"""Delivering the outbox through Apprise: nothing lost, nothing sent twice.

An event is in the outbox from the transaction that wrote its cause (`state.outbox`). The
`Courier` owes it to every target that asks for its kind, then, per target, sends what is due
in one message (several events batched into one when a target's `min_interval` held them, or
when they came together) and marks them delivered in a transaction of their own the moment
the target answers: a restart, even a kill, sends again only what no target took. A target
that does not take a message is tried again on a backoff schedule (`retry_after`); a one-shot
command tries once and leaves the rest to the next run or the daemon.

A target is named by a digest of its URL, never by the URL: the URL holds the target's secret.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from boardsync.config.loader import Desired
from boardsync.config.model import NotifyTarget, parse_duration
from boardsync.log import get_logger, redact
from boardsync.reconcile.events import test_message
from boardsync.state import Store
from boardsync.state import outbox
from boardsync.state.outbox import Event, Owed

log = get_logger(__name__)

Clock = Callable[[], datetime]
Send = Callable[[str, str, str], str | None]
"""(url, title, body) → None when the target took the message, else why not."""

FIRST_RETRY = timedelta(seconds=30)
LAST_RETRY = timedelta(hours=1)
KEEP_SETTLED = timedelta(days=90)
"""How long an event every target took is kept before it is dropped."""
BATCH_LIMIT = 50
"""Events per message at most; the rest go in the next one."""


def retry_after(attempts: int) -> timedelta:
    """30s after the first failure, doubling, at most an hour apart."""
    return min(FIRST_RETRY * (1 << min(max(attempts - 1, 0), 16)), LAST_RETRY)


@dataclass(frozen=True)
class Target:
    """A configured notification target: its id (a digest of its URL), how it is shown, its
    URL (a secret), the events it asks for and its minimum interval between messages."""

    id: str
    shown: str
    url: str = field(repr=False)
    events: frozenset[str]
    min_interval: timedelta


def targets(desired: Desired) -> list[Target]:
    """The root file's `notify:` list as targets, in order. A target is known by its URL as
    written when that is a reference (a rotated secret keeps the target), else by a digest
    of the URL; it is shown as its number and the reference (or the URL's scheme alone)."""
    found = []
    configured: Sequence[NotifyTarget] = desired.root.notify
    written = desired.notify_written or (None,) * len(configured)
    for number, (item, reference) in enumerate(zip(configured, written, strict=True), 1):
        url = item.url.get_secret_value()
        name = reference or url
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        shown = reference or (url.split("://", 1)[0] + "://…" if "://" in url else "?")
        found.append(Target(digest, f"#{number} {shown}", url, frozenset(item.events),
                            parse_duration(item.min_interval)))
    return found


def send_with_apprise(url: str, title: str, body: str) -> str | None:
    """Send one message through Apprise; None when the target took it, else why not (as
    Apprise logged it, masked)."""
    import apprise  # loaded only when something is sent: its plugins take a moment

    sender = apprise.Apprise()
    if not sender.add(url):
        return "Apprise cannot send to this URL"
    with apprise.LogCapture(level=apprise.logging.WARNING) as said:  # type: ignore[no-untyped-call]
        ok = sender.notify(title=title, body=body)
    if ok:
        return None
    lines = [line.strip() for line in said.getvalue().splitlines() if line.strip()]
    return str(redact(lines[-1] if lines else "the target did not take the message"))[:300]


def message(events: Sequence[Event]) -> tuple[str, str]:
    """One message for the events due to a target: the event's own when it is alone, else a
    count in the title and each event in the body, oldest first."""
    if len(events) == 1:
        return events[0].title, events[0].body
    title = f"boardsync: {len(events)} events"
    body = "\n\n".join(f"{e.title}\n{e.body}" for e in events)
    return title, body


@dataclass
class Delivery:
    """What one pass of the courier did: messages sent, events delivered, targets that
    failed, events held back by a target's minimum interval."""

    messages: int = 0
    delivered: int = 0
    failed: list[str] = field(default_factory=list)
    held: int = 0


@dataclass(frozen=True)
class Pending:
    """A delivery owed, as `boardsync notify list` shows it."""

    target: str
    event: Event
    created_at: datetime | None
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None

    @property
    def state(self) -> str:
        return "failed" if self.attempts else "pending"


class Courier:
    """Delivers the outbox to the configured targets; one pass at a time per process."""

    def __init__(
        self, store: Store, configured: Sequence[Target], *, send: Send = send_with_apprise,
        clock: Clock = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.targets = list(configured)
        self.send = send
        self.clock = clock
        self._one_pass = threading.Lock()

    def deliver(self, *, now_or_never: bool = False) -> Delivery:
        """Send each target what is due to it. With `now_or_never` (a one-shot command), every
        owed event is tried once whatever its backoff; what fails waits for the next run."""
        report = Delivery()
        with self._one_pass:
            outbox.owe(self.store, {t.id: t.events for t in self.targets}, self.clock())
            outbox.forget_settled(self.store, self.clock() - KEEP_SETTLED)
            for target in self.targets:
                self._deliver_to(target, report, now_or_never=now_or_never)
        if report.messages or report.failed:
            log.info("notifications_sent", messages=report.messages, events=report.delivered,
                     failed=report.failed, held=report.held)
        return report

    def _deliver_to(self, target: Target, report: Delivery, *, now_or_never: bool) -> None:
        now = self.clock()
        due = [o for o in outbox.owed(self.store, [target.id]) if now_or_never or _due(o, now)]
        if not due:
            return
        last = outbox.last_delivered(self.store, target.id)
        if target.min_interval and last is not None and now < last + target.min_interval:
            report.held += len(due)  # batched into the next message, after the interval
            return
        batch = due[:BATCH_LIMIT]
        ids = [o.outbox_id for o in batch]
        title, body = message([o.event for o in batch])
        error = self.send(target.url, str(redact(title)), str(redact(body)))
        if error is None:
            outbox.delivered(self.store, target.id, ids, self.clock())
            report.messages += 1
            report.delivered += len(ids)
            return
        attempts = max(o.attempts for o in batch) + 1
        outbox.not_delivered(self.store, target.id, ids, error, now + retry_after(attempts))
        report.failed.append(target.shown)
        log.warning("notification_failed", target=target.shown, events=len(ids), attempts=attempts, error=error)

    def next_due(self) -> datetime | None:
        """When the next delivery falls due (None: nothing is owed), minimum intervals included."""
        moments = []
        for target in self.targets:
            owed = outbox.owed(self.store, [target.id])
            if not owed:
                continue
            soonest = min((o.next_attempt_at or self.clock()) for o in owed)
            last = outbox.last_delivered(self.store, target.id)
            if target.min_interval and last is not None:
                soonest = max(soonest, last + target.min_interval)
            moments.append(soonest)
        return min(moments, default=None)

    def pending(self) -> list[Pending]:
        """Every delivery owed to a configured target, oldest event first, including events no
        pass has assigned to their targets yet (pending, never tried)."""
        outbox_owed = {(o.outbox_id, o.target): o for o in outbox.owed(self.store, [t.id for t in self.targets])}
        shown = {t.id: t.shown for t in self.targets}
        rows = []
        for outbox_id, event, created_at in outbox.unsettled(self.store):
            for target in self.targets:
                if event.kind not in target.events:
                    continue
                found = outbox_owed.get((outbox_id, target.id))
                if found is None and outbox.was_delivered(self.store, outbox_id, target.id):
                    continue
                rows.append(Pending(shown[target.id], event, created_at, found.attempts if found else 0,
                                    found.next_attempt_at if found else None, found.last_error if found else None))
        return rows


def send_test(configured: Sequence[Target], send: Send = send_with_apprise) -> dict[str, str | None]:
    """Send the test message to every target now, outside the outbox: target → why it failed
    (None: it took the message)."""
    event = test_message()
    return {t.shown: send(t.url, event.title, event.body) for t in configured}


def _due(owed: Owed, now: datetime) -> bool:
    return owed.next_attempt_at is None or owed.next_attempt_at <= now
