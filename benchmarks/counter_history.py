"""What recording a board's counters costs as their history grows.

    python benchmarks/counter_history.py [--postings 10000] [--depths 1,10,100] [--state postgresql://…]

Every run records the counters the boards showed: visits per channel and applicants per
posting, a sample for each that changed since its latest. The samples are never deleted (the
dashboard draws them by day), so a state database that has run for months holds hundreds of
samples of each counter. For each history depth this makes a fresh state database with
`--postings` postings on one board, two channels each and `depth` samples of each of their
three counters (written straight into the tables), then times `record.record_counters` as a
run calls it: once with nothing changed (a steady cycle) and once with one counter in a hundred
changed. Each figure is the best of `--runs`, in CPU time of this process and in wall time (the
database's own work is in both: SQLite runs in this process).

It also times reading them back, as `boardsync visits` and the dashboard do (every counter
with its growth since the middle of the history) and as the daemon's metrics do at every
scrape (every counter's latest value): `Store.visit_rows`; and as the dashboard's chart of
visits by day does, the samples of the history's last 30 days with each series' baseline
(`series.visit_samples`). Best of `--runs`, wall time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from boardsync.reconcile import record
from boardsync.state import ApplicantSample, VisitSample, open_store, series
from boardsync.state.store import Store

BOARD = "hirempire"
CHANNELS = ("linkedin", "careers")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def counters(postings: int, value: int) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """(visits, applicants) as a run reads them off the board, each counter at `value`."""
    keys = [f"p{i:06d}" for i in range(postings)]
    visits = {(key, channel): value for key in keys for channel in CHANNELS}
    return visits, {(key, record.WHOLE_POSTING): value for key in keys}


def with_history(store: Store, postings: int, depth: int) -> None:
    """`depth` samples of every counter, the last written the way a run writes it (so the
    latest values are kept as a run keeps them); the ones before straight into the tables."""
    with store.engine.begin() as connection:
        for day in range(depth - 1):
            visits, applicants = counters(postings, day)
            when = T0 + timedelta(days=day)
            for table, column, values in ((VisitSample, "visits", visits), (ApplicantSample, "applicants", applicants)):
                connection.execute(sa.insert(table), [
                    {"posting_key": key, "provider": BOARD, "channel": channel, "observed_at": when, column: value}
                    for (key, channel), value in values.items()
                ])
    visits, applicants = counters(postings, depth - 1)
    with store.write() as session:
        record.record_counters(session, BOARD, visits=visits, applicants=applicants, now=T0 + timedelta(days=depth))


def best(runs: int, step: Callable[[], object]) -> tuple[float, float]:
    """The least CPU and wall time, in ms, of `runs` calls of `step`."""
    cpu = wall = float("inf")
    for _ in range(runs):
        started_cpu, started = time.process_time(), time.perf_counter()
        step()
        cpu = min(cpu, time.process_time() - started_cpu)
        wall = min(wall, time.perf_counter() - started)
    return cpu * 1000, wall * 1000


def measure(store: Store, postings: int, depth: int, runs: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """(steady, a hundredth changed): the best CPU and wall ms of recording the counters."""
    visits, applicants = counters(postings, depth - 1)

    def steady() -> None:
        with store.write() as session:
            assert record.record_counters(session, BOARD, visits=visits, applicants=applicants, now=T0) == 0

    def some_changed() -> None:
        with store.write() as session:
            moved = {counter: value + 1 for counter, value in list(visits.items())[::100]}
            record.record_counters(session, BOARD, visits={**visits, **moved}, applicants=applicants, now=T0)
            session.rollback()  # the next try finds the same history

    return best(runs, steady), best(runs, some_changed)


def reading(store: Store, depth: int, runs: int) -> tuple[float, float, float]:
    """(with growth since the middle of the history, the latest values alone, the chart of
    the last 30 days): wall ms."""
    middle, month = T0 + timedelta(days=depth // 2), T0 + timedelta(days=depth - 30)
    return (best(runs, lambda: store.visit_rows(since=middle))[1], best(runs, lambda: store.visit_rows(since=None))[1],
            best(runs, lambda: series.visit_samples(store, month))[1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postings", type=int, default=10_000)
    parser.add_argument("--depths", default="1,10,100", help="samples of each counter, comma-separated")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--state", help="a PostgreSQL database to use (emptied first) instead of a SQLite file")
    args = parser.parse_args(argv)
    rows = [("samples a counter", "samples", "steady cpu ms", "steady wall ms", "1% changed cpu ms", "wall ms",
             "visits ms", "latest ms", "chart ms")]
    for depth in (int(d) for d in args.depths.split(",")):
        with tempfile.TemporaryDirectory(prefix="boardsync-counters-") as scratch:
            url = args.state or f"sqlite:///{Path(scratch) / 'state.db'}"
            if args.state:
                engine = sa.create_engine(url)
                with engine.begin() as connection:
                    connection.exec_driver_sql("DROP SCHEMA public CASCADE")
                    connection.exec_driver_sql("CREATE SCHEMA public")
                engine.dispose()
            print(f"{args.postings:,} postings, {depth} samples a counter ...", file=sys.stderr, flush=True)
            with open_store(url) as store:
                with_history(store, args.postings, depth)
                (cpu, wall), (cpu_some, wall_some) = measure(store, args.postings, depth, args.runs)
                grown, latest, chart = reading(store, depth, args.runs)
        samples = depth * args.postings * (len(CHANNELS) + 1)
        rows.append((f"{depth:,}", f"{samples:,}", f"{cpu:.0f}", f"{wall:.0f}", f"{cpu_some:.0f}", f"{wall_some:.0f}",
                     f"{grown:.0f}", f"{latest:.0f}", f"{chart:.0f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths)))
        if index == 0:
            print("  ".join("-" * width for width in widths))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
