"""How a connection to the state database is set up, apart from SQLAlchemy: SQLite's
settings on every connection, and PostgreSQL's keepalives and workspace schema. The engine
(`boardsync.state.db`) and the plain reads of `status` (`boardsync.state.direct`) connect
with these same settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BUSY_TIMEOUT_MS = 10_000

PG_DRIVER = "psycopg"
"""The only PostgreSQL driver boardsync uses (the ``postgres`` extra installs it)."""


def sqlite_pragmas(*, wal: bool, read_only: bool = False) -> list[str]:
    """What every new SQLite connection runs first: WAL (set by a writer; a read-only
    connection cannot set the journal mode), a commit on disk before it returns, the busy
    timeout, foreign keys, and with `read_only` a refusal of any write."""
    pragmas = ["PRAGMA journal_mode=WAL"] if wal else []
    pragmas += ["PRAGMA synchronous=FULL", f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}", "PRAGMA foreign_keys=ON"]
    if read_only:
        pragmas.append("PRAGMA query_only=ON")
    return pragmas


@dataclass(frozen=True)
class Keepalive:
    """How soon a silent PostgreSQL peer is given up: first probe after `idle` seconds, then
    one every `interval`, `count` unanswered probes and the connection is dead."""

    idle: int = 10
    interval: int = 3
    count: int = 3

    @classmethod
    def within(cls, seconds: float) -> Keepalive:
        """Probes that declare a dead peer within two thirds of `seconds` (whole seconds, so
        never under 2: half idle, the rest in up to three probes)."""
        budget = max(2, int(seconds * 2 / 3))
        idle = max(1, budget // 2)
        count = min(3, budget - idle)
        return cls(idle=idle, interval=max(1, (budget - idle) // count), count=count)

    @property
    def seconds(self) -> int:
        """The longest a dead peer goes unnoticed."""
        return self.idle + self.interval * self.count


def pg_connect_args(keepalive: Keepalive, *, read_only: bool = False, schema: str | None = None) -> dict[str, Any]:
    """libpq settings for a PostgreSQL connection: keepalives from this side (the client
    notices a dead server) and from the server's (it ends the session of a dead client,
    freeing its locks); with `schema`, a workspace's schema as the only one on the
    ``search_path``."""
    server = (
        f"-c tcp_keepalives_idle={keepalive.idle} -c tcp_keepalives_interval={keepalive.interval} "
        f"-c tcp_keepalives_count={keepalive.count}"
    )
    if schema is not None:
        server += f" -c search_path={schema}"
    if read_only:
        server += " -c default_transaction_read_only=on"
    return {
        "keepalives": 1,
        "keepalives_idle": keepalive.idle,
        "keepalives_interval": keepalive.interval,
        "keepalives_count": keepalive.count,
        "tcp_user_timeout": keepalive.seconds * 1000,
        "options": server,
    }
