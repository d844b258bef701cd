"""What telling jobs about to expire costs a run, against an outbox of months of events.

    python benchmarks/expiry_notices.py [--postings 10000] [--months 3] [--within 2500]

With a notify target that asks for `expiring` (and `policy.repost_expired` off), every run
looks at each live job that expires within the target's `days` and tells it once per expiry
date: it must know which it told already, and the outbox keeps settled events three months.
This fills a fresh SQLite state database with `--months` months of expiry notices for
`--postings` jobs (one a job a month, as Sorce's 30-day jobs bring them), then times what a run
does for `--within` jobs inside the window, all of them told already (best of three, wall
time; SQLite runs in this process).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import sqlalchemy as sa

from boardsync.config.model import Status
from boardsync.connectors.base import Remote
from boardsync.reconcile import events, record
from boardsync.reconcile.model import Plan
from boardsync.state import open_store
from boardsync.state.tables import OutboxEvent

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BOARD = "sorce"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postings", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--within", type=int, default=2_500, help="jobs expiring within the window")
    args = parser.parse_args(argv)
    keys = [f"p{i:06d}" for i in range(args.postings)]
    with tempfile.TemporaryDirectory(prefix="boardsync-expiry-") as scratch, \
            open_store(f"sqlite:///{Path(scratch) / 'state.db'}") as store:
        with store.engine.begin() as connection:
            for month in range(args.months):
                told = [events.expiring(key, BOARD, NOW + timedelta(days=2 - 30 * month)) for key in keys]
                connection.execute(sa.insert(OutboxEvent.__table__), [  # type: ignore[attr-defined]
                    {"event": e.kind, "posting_key": e.posting, "provider": e.provider, "title": e.title,
                     "body": e.body, "created_at": NOW, "settled_at": NOW}
                    for e in told
                ])
        within = keys[: args.within]
        board = SimpleNamespace(name=BOARD, remotes={
            f"job_{key}": Remote(f"job_{key}", "active", {}, expires_at=NOW + timedelta(days=2)) for key in within
        })
        by_remote = {(BOARD, f"job_{key}"): SimpleNamespace(posting_key=key) for key in within}
        postings = [SimpleNamespace(key=key, status=Status.ACTIVE) for key in keys]
        seen = record._Seen(Plan(), postings, NOW, None, expiring_within=timedelta(days=7))  # type: ignore[arg-type]
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            with store.write() as session:
                record._record_expiring(session, board, by_remote, seen)  # type: ignore[arg-type]
            best = min(best, time.perf_counter() - started)
    kept = args.postings * args.months
    print(f"{kept:,} expiry notices kept, {args.within:,} jobs within the window: {best * 1000:.0f} ms a run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
