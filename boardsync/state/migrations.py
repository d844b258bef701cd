"""The schema version, and the steps that bring an older database up to date.

A database stores its version in the `meta` table. A new, empty database is created at the
current version. An older one is upgraded only by ``boardsync migrate`` (`upgrade`), one step
at a time, each step in its own transaction. A database at a version this code does not
know (a newer boardsync wrote it) is never touched.

To change the schema: change the tables, raise `SCHEMA_VERSION`, and add the step from the
previous version to `STEPS`.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from boardsync.errors import StateError
from boardsync.state.tables import TABLES, Meta

SCHEMA_VERSION = 6

Step = Callable[[sa.Connection], None]


def _v1_to_v2(connection: sa.Connection) -> None:
    """Removals with a grace period (binding.absent_since, absent_reads) and a board's
    requested wait kept between runs (board_state)."""
    connection.execute(sa.text("ALTER TABLE binding ADD COLUMN absent_since TIMESTAMP"))
    connection.execute(sa.text("ALTER TABLE binding ADD COLUMN absent_reads INTEGER NOT NULL DEFAULT 0"))
    # The table as schema 2 had it: the next steps add their own columns to it.
    connection.execute(sa.text(
        "CREATE TABLE board_state (provider VARCHAR NOT NULL PRIMARY KEY, wait_until TIMESTAMP, "
        "wait_reason VARCHAR, updated_at TIMESTAMP)"
    ))


def _v2_to_v3(connection: sa.Connection) -> None:
    """Each board's last observed state, kept for snapshots (board_state.observed_at,
    observed, observed_digest)."""
    connection.execute(sa.text("ALTER TABLE board_state ADD COLUMN observed_at TIMESTAMP"))
    connection.execute(sa.text("ALTER TABLE board_state ADD COLUMN observed JSON"))
    connection.execute(sa.text("ALTER TABLE board_state ADD COLUMN observed_digest VARCHAR"))


def _v3_to_v4(connection: sa.Connection) -> None:
    """Every request a run sent to a board (board_call), for `boardsync history RUN`."""
    connection.execute(sa.text(
        "CREATE TABLE board_call (id INTEGER NOT NULL PRIMARY KEY, run_id INTEGER NOT NULL, seq INTEGER NOT NULL, "
        "provider VARCHAR NOT NULL, method VARCHAR NOT NULL, path VARCHAR NOT NULL, query VARCHAR NOT NULL, "
        "status INTEGER, duration_ms INTEGER NOT NULL)"
    ))
    connection.execute(sa.text("CREATE INDEX ix_board_call_run_id ON board_call (run_id)"))


def _v4_to_v5(connection: sa.Connection) -> None:
    """The notification outbox (outbox, outbox_delivery) and each board's outage
    (board_state.down_since, down_told)."""
    connection.execute(sa.text(
        "CREATE TABLE outbox (id INTEGER NOT NULL PRIMARY KEY, event VARCHAR NOT NULL, posting_key VARCHAR, "
        "provider VARCHAR, title VARCHAR NOT NULL, body VARCHAR NOT NULL, run_id INTEGER, created_at TIMESTAMP, "
        "settled_at TIMESTAMP)"
    ))
    connection.execute(sa.text("CREATE INDEX ix_outbox_run_id ON outbox (run_id)"))
    connection.execute(sa.text("CREATE INDEX ix_outbox_settled_at ON outbox (settled_at)"))
    connection.execute(sa.text(
        "CREATE TABLE outbox_delivery (id INTEGER NOT NULL PRIMARY KEY, outbox_id INTEGER NOT NULL, "
        "target VARCHAR NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TIMESTAMP, "
        "last_error VARCHAR, delivered_at TIMESTAMP, "
        "CONSTRAINT uq_outbox_delivery UNIQUE (outbox_id, target))"
    ))
    connection.execute(sa.text("CREATE INDEX ix_outbox_delivery_outbox_id ON outbox_delivery (outbox_id)"))
    connection.execute(sa.text("ALTER TABLE board_state ADD COLUMN down_since TIMESTAMP"))
    connection.execute(sa.text("ALTER TABLE board_state ADD COLUMN down_told BOOLEAN NOT NULL DEFAULT FALSE"))


def _v5_to_v6(connection: sa.Connection) -> None:
    """Each board's recent requests, by process, kept between processes so that a run started
    right after another keeps to the board's rate limit (board_state.request_log)."""
    connection.execute(sa.text("ALTER TABLE board_state ADD COLUMN request_log JSON"))


STEPS: dict[int, Step] = {1: _v1_to_v2, 2: _v2_to_v3, 3: _v3_to_v4, 4: _v4_to_v5, 5: _v5_to_v6}
"""version → the step that upgrades a database from that version to the next."""

VERSION_KEY = "schema_version"


def stored_version(engine: Engine) -> int | None:
    """The version a database says it has; None when it is empty (no tables at all)."""
    inspector = sa.inspect(engine)
    names = set(inspector.get_table_names())
    if not names:
        return None
    if Meta.__tablename__ not in names:
        raise StateError(
            f"{engine.url.render_as_string(hide_password=True)} is not a boardsync state "
            "database (it has tables but no schema version)"
        )
    with engine.connect() as connection:
        value = connection.execute(
            sa.select(Meta.__table__.c.value).where(Meta.__table__.c.key == VERSION_KEY)  # type: ignore[attr-defined]
        ).scalar_one_or_none()
    if value is None or not str(value).isdigit():
        raise StateError("the state database has no readable schema version")
    return int(value)


def create(engine: Engine) -> None:
    """Create every table in an empty database, at the current version."""
    with engine.begin() as connection:
        Meta.metadata.create_all(connection, tables=[t.__table__ for t in TABLES])  # type: ignore[attr-defined]
        _set_version(connection, SCHEMA_VERSION)


def upgrade(engine: Engine, version: int) -> list[int]:
    """Apply each step from `version` up to `SCHEMA_VERSION`; the versions passed through."""
    passed = []
    while version < SCHEMA_VERSION:
        step = STEPS.get(version)
        if step is None:
            raise StateError(f"no migration from schema version {version}; this database cannot be upgraded")
        with engine.begin() as connection:
            step(connection)
            _set_version(connection, version + 1)
        version += 1
        passed.append(version)
    return passed


def _set_version(connection: sa.Connection, version: int) -> None:
    table = Meta.__table__  # type: ignore[attr-defined]
    updated = connection.execute(
        table.update().where(table.c.key == VERSION_KEY).values(value=str(version))
    ).rowcount
    if not updated:
        connection.execute(table.insert().values(key=VERSION_KEY, value=str(version)))
