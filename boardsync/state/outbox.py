"""The notification outbox, as the state holds it: events written beside their cause, and each
one's delivery to each target.

An event is added with `add_event` inside the write transaction of the rows that caused it
(a drift row, a block, a refused run, a refused commit), so it exists exactly when its cause
does: a crash loses both or neither. Delivery (`boardsync.reconcile.outbox`) then owes it to
each target that asks for its kind, one `OutboxDelivery` row per target, marked delivered in
its own transaction the moment that target answers.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session, col, delete, select

from boardsync.state.tables import OutboxDelivery, OutboxEvent

if TYPE_CHECKING:  # the store imports this module (a refused commit writes its event)
    from boardsync.state.store import Store


@dataclass(frozen=True)
class Event:
    """What an operator should hear of: its kind, the posting and board it is about, and the
    message (a title and a body that says what happened and the command that shows more)."""

    kind: str
    title: str
    body: str
    posting: str | None = None
    provider: str | None = None


@dataclass(frozen=True)
class Owed:
    """An event not yet taken by one target: the event and where its delivery stands."""

    outbox_id: int
    event: Event
    created_at: datetime | None
    target: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None


def add_event(session: Session, event: Event, now: datetime, *, run_id: int | None = None) -> None:
    """Write `event` in the caller's transaction (the one that writes its cause)."""
    session.add(OutboxEvent(
        event=event.kind, posting_key=event.posting, provider=event.provider, title=event.title, body=event.body,
        run_id=run_id, created_at=now,
    ))


def add_events(store: Store, events: Iterable[Event], now: datetime, *, run_id: int | None = None) -> None:
    """Write events in a transaction of their own (their cause is in no database row)."""
    with store.write() as session:
        for event in events:
            add_event(session, event, now, run_id=run_id)


def owe(store: Store, subscribed: Mapping[str, Collection[str]], now: datetime, *, run_id: int | None = None) -> None:
    """Give every unsettled event a delivery row for each target that asks for its kind
    (`subscribed`: target id → event kinds); an event that no target asks for is settled as it
    is. With `run_id`, only that run's events."""
    with store.write() as session:
        query = select(OutboxEvent).where(col(OutboxEvent.settled_at).is_(None))
        if run_id is not None:
            query = query.where(OutboxEvent.run_id == run_id)
        events = session.exec(query.order_by(col(OutboxEvent.id))).all()
        for event in events:
            assert event.id is not None
            have = set(session.exec(select(OutboxDelivery.target).where(OutboxDelivery.outbox_id == event.id)).all())
            wanted = [target for target, kinds in subscribed.items() if event.event in kinds]
            for target in wanted:
                if target not in have:
                    session.add(OutboxDelivery(outbox_id=event.id, target=target))
            if not wanted and not have:
                event.settled_at = now
                session.add(event)


def owed(store: Store, targets: Collection[str] | None = None, *, run_id: int | None = None) -> list[Owed]:
    """Deliveries not yet taken, oldest event first (only to `targets`, only of `run_id`)."""
    query = (
        select(OutboxDelivery, OutboxEvent)
        .where(OutboxDelivery.outbox_id == OutboxEvent.id, col(OutboxDelivery.delivered_at).is_(None))
        .order_by(col(OutboxEvent.id), col(OutboxDelivery.target))
    )
    if targets is not None:
        query = query.where(col(OutboxDelivery.target).in_(list(targets)))
    if run_id is not None:
        query = query.where(OutboxEvent.run_id == run_id)
    with store.session() as session:
        rows = session.exec(query).all()
    return [_owed(delivery, event) for delivery, event in rows]


def _owed(delivery: OutboxDelivery, event: OutboxEvent) -> Owed:
    assert event.id is not None
    return Owed(
        outbox_id=event.id,
        event=Event(event.event, event.title, event.body, event.posting_key, event.provider),
        created_at=event.created_at,
        target=delivery.target,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        last_error=delivery.last_error,
    )


def last_delivered(store: Store, target: str) -> datetime | None:
    """When `target` last took a message (None: never)."""
    query = select(OutboxDelivery.delivered_at).where(
        OutboxDelivery.target == target, col(OutboxDelivery.delivered_at).is_not(None),
    ).order_by(col(OutboxDelivery.delivered_at).desc()).limit(1)
    with store.session() as session:
        return session.exec(query).first()


def delivered(store: Store, target: str, outbox_ids: Collection[int], now: datetime) -> None:
    """`target` answered: its deliveries of `outbox_ids` are done, and each event every
    target of it took is settled. Written at once, so a restart never sends them again."""
    with store.write() as session:
        rows = session.exec(select(OutboxDelivery).where(
            OutboxDelivery.target == target, col(OutboxDelivery.outbox_id).in_(list(outbox_ids)),
        )).all()
        for row in rows:
            row.delivered_at = now
            session.add(row)
        session.flush()
        for outbox_id in outbox_ids:
            waiting = session.exec(select(OutboxDelivery.id).where(
                OutboxDelivery.outbox_id == outbox_id, col(OutboxDelivery.delivered_at).is_(None),
            )).first()
            event = session.get(OutboxEvent, outbox_id)
            if waiting is None and event is not None and event.settled_at is None:
                event.settled_at = now
                session.add(event)


def not_delivered(
    store: Store, target: str, outbox_ids: Collection[int], error: str, next_attempt_at: datetime,
) -> None:
    """`target` did not take them: one more attempt each, and when to try again."""
    with store.write() as session:
        rows = session.exec(select(OutboxDelivery).where(
            OutboxDelivery.target == target, col(OutboxDelivery.outbox_id).in_(list(outbox_ids)),
        )).all()
        for row in rows:
            row.attempts += 1
            row.last_error, row.next_attempt_at = error, next_attempt_at
            session.add(row)


def events(store: Store, *, run_id: int | None = None) -> list[tuple[int, Event]]:
    """Every event written (of one run), oldest first."""
    query = select(OutboxEvent).order_by(col(OutboxEvent.id))
    if run_id is not None:
        query = query.where(OutboxEvent.run_id == run_id)
    with store.session() as session:
        rows = session.exec(query).all()
    return [(r.id or 0, Event(r.event, r.title, r.body, r.posting_key, r.provider)) for r in rows]


def unsettled(store: Store) -> list[tuple[int, Event, datetime | None]]:
    """Events some target may still be owed, oldest first: (id, event, written at)."""
    query = select(OutboxEvent).where(col(OutboxEvent.settled_at).is_(None)).order_by(col(OutboxEvent.id))
    with store.session() as session:
        rows = session.exec(query).all()
    return [(r.id or 0, Event(r.event, r.title, r.body, r.posting_key, r.provider), r.created_at) for r in rows]


def was_delivered(store: Store, outbox_id: int, target: str) -> bool:
    """Whether `target` took the event `outbox_id`."""
    query = select(OutboxDelivery.id).where(
        OutboxDelivery.outbox_id == outbox_id, OutboxDelivery.target == target,
        col(OutboxDelivery.delivered_at).is_not(None),
    )
    with store.session() as session:
        return session.exec(query).first() is not None


def forget_settled(store: Store, before: datetime) -> int:
    """Drop events settled before `before`, with their deliveries: the outbox does not grow
    forever. The number of events dropped."""
    settled = select(OutboxEvent.id).where(col(OutboxEvent.settled_at) < before)
    with store.write() as session:
        # Chosen by the query itself, not by a list of ids: at tens of thousands of postings,
        # tens of thousands of events settle together (each job's expiry is told, for one).
        session.exec(delete(OutboxDelivery).where(col(OutboxDelivery.outbox_id).in_(settled)))
        dropped = session.exec(delete(OutboxEvent).where(col(OutboxEvent.settled_at) < before))
    return int(dropped.rowcount)
