"""The state database's schema revision, and `boardsync migrate`, which brings a database to
the revision this boardsync needs. The revisions are Alembic's, in `state/schema/versions/`,
and run the same on SQLite and PostgreSQL.

Where a database stands (`Standing`):

- empty (no table at all): `create` makes every table of `tables.py` and stamps it at head
  (Alembic's own recipe for a new database), in one transaction. A test checks that running
  every revision from nothing gives the same schema: a new database and a migrated one do
  not differ.
- at head: opened.
- at an older revision: refused by every command but ``boardsync migrate`` (`upgrade`), which
  runs one revision at a time, each in its own transaction together with the new revision
  number: a step that fails leaves the database as it was at the revision before it.
- at a revision this boardsync does not know (a newer boardsync wrote it): never touched.
- from before Alembic: the hand-made versions 1 to 5 kept their number in the ``meta`` table.
  Revisions 0001 to 0005 reproduce them one for one (0001 is the first release's schema, so
  a database of any release can still be upgraded; a single baseline at 5 would have
  stranded the older ones). Such a database is recognised by that number, stamped at the
  matching revision by ``boardsync migrate``, and upgraded from there. Revision 0006 sets
  the number to 6 for good, which every release from before Alembic refuses as too new.

To change the schema:

1. Change the tables in `tables.py`.
2. Add one file to `state/schema/versions/`, named ``NNNN_what_it_adds.py`` with the next
   number: ``revision = "NNNN"``, ``down_revision`` the current head, a docstring saying what
   the revision is for, and an `upgrade()` made of Alembic operations (``op.add_column``,
   ``op.create_table``, ``op.create_index``; ``with op.batch_alter_table(...)`` to drop or
   change a column, which SQLite does only by copying the table). No downgrade: a database
   is restored from a backup, not taken back.
3. Run tests/test_migrations.py: it fails, listing each difference, until the revisions give
   exactly the tables, and it refuses two revisions with the same parent.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from boardsync.errors import StateError
from boardsync.log import get_logger
from boardsync.state.db import LOCK_TABLE, writer
from boardsync.state.revisions import (  # what the commands ask of `migrations`, read apart from Alembic
    SCRIPTS as SCRIPTS,
    VERSIONS as VERSIONS,
    head as head,
    revisions as revisions,
)
from boardsync.state.tables import TABLES, Meta

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

# Alembic itself is imported only to migrate: opening a database at head needs none of it
# (reading the revision is one SELECT), and it would add a noticeable part to every command's
# start.

log = get_logger(__name__)

VERSION_TABLE = sa.Table(
    "alembic_version", sa.MetaData(),
    sa.Column("version_num", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)
"""Alembic's table of the revision a database is at, as Alembic creates it."""

VERSION_KEY = "schema_version"
"""The `meta` row holding the hand-made schema version (1 to 5 before Alembic)."""
LAST_HAND_MADE = 5
"""The last hand-made version; its database is at revision 0005."""
VERSIONED_BY_ALEMBIC = 6
"""The version `meta` holds from revision 0006 on, whatever the revision."""

MIGRATE_HINT = "run `boardsync migrate`"


@dataclass(frozen=True)
class Standing:
    """Where a database stands. `revision` is None for an empty database; `legacy` is the
    hand-made version of a database from before Alembic (its `revision` the matching one)."""

    revision: str | None
    legacy: int | None = None
    known: bool = True
    """False: a newer boardsync wrote it (a revision, or a hand-made version, not known here)."""

    @property
    def empty(self) -> bool:
        return self.revision is None and self.legacy is None

    def describe(self) -> str:
        if self.legacy is not None:
            return f"schema version {self.legacy} (from before revisions)"
        return f"revision {self.revision}"


@dataclass(frozen=True)
class Step:
    """One revision applied: from `before` to `after`, and what it is for."""

    before: str | None
    after: str
    about: str


@dataclass(frozen=True)
class Migration:
    """What `boardsync migrate` did to a database: its standing before, and the steps run."""

    before: Standing
    after: str
    steps: tuple[Step, ...]
    created: bool = False


@functools.cache
def scripts() -> ScriptDirectory:
    """The revisions shipped with this boardsync, as Alembic reads them (once)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(SCRIPTS))


def standing(engine: Engine, database: str) -> Standing:
    """Where the database behind `engine` (named `database` in messages) stands; a
    `StateError` when it has tables but is no boardsync database."""
    # The writer lock's table is made by the lock, before the schema (PostgreSQL).
    names = set(sa.inspect(engine).get_table_names()) - {LOCK_TABLE}
    if not names:
        return Standing(None)
    with engine.connect() as connection:
        if VERSION_TABLE.name in names:
            heads = connection.execute(sa.select(VERSION_TABLE.c.version_num)).scalars().all()
            if len(heads) != 1:
                raise StateError(f"the state database {database} is at no single revision ({', '.join(heads) or 'none'})")
            return Standing(heads[0], known=heads[0] in revisions())
        if Meta.__tablename__ not in names:
            raise StateError(
                f"{database} is not a boardsync state database (it has tables but no schema version)"
            )
        return _legacy_standing(connection, database)


def _legacy_standing(connection: sa.Connection, database: str) -> Standing:
    table = Meta.__table__  # type: ignore[attr-defined]
    value = connection.execute(sa.select(table.c.value).where(table.c.key == VERSION_KEY)).scalar_one_or_none()
    if value is None or not str(value).isdigit() or int(value) < 1:
        raise StateError(f"the state database {database} has no readable schema version")
    version = int(value)
    if version > LAST_HAND_MADE:
        return Standing(None, legacy=version, known=False)
    return Standing(_legacy_revision(version), legacy=version)


def _legacy_revision(version: int) -> str:
    return f"{version:04d}"


def refuse_unless_current(database: str, found: Standing) -> None:
    """Refuse a database not at head: a newer one always, an older one with the command that
    upgrades it."""
    if not found.known:
        raise StateError(
            f"the state database {database} is at {found.describe()}, which this boardsync "
            f"does not know (it needs {head()}): a newer boardsync wrote it; upgrade boardsync"
        )
    if found.revision != head():
        raise StateError(
            f"the state database {database} is at {found.describe()}, this boardsync "
            f"needs revision {head()}: {MIGRATE_HINT}"
        )


def create(engine: Engine) -> None:
    """Create every table in an empty database and stamp it at head, in one transaction."""
    with writer(engine).begin() as connection:
        Meta.metadata.create_all(connection, tables=[t.__table__ for t in TABLES])  # type: ignore[attr-defined]
        connection.execute(Meta.__table__.insert().values(key=VERSION_KEY, value=str(VERSIONED_BY_ALEMBIC)))  # type: ignore[attr-defined]
        VERSION_TABLE.create(connection)
        connection.execute(VERSION_TABLE.insert().values(version_num=head()))


def upgrade(engine: Engine, database: str) -> Migration:
    """Bring the database to head, one revision per transaction: create it when empty, stamp
    a database from before Alembic at its matching revision first. A database this boardsync
    does not know is refused untouched."""
    before = standing(engine, database)
    if not before.known:
        refuse_unless_current(database, before)
    start = before.revision
    if start is None:  # empty: a database from before revisions always has one
        create(engine)
        return Migration(before, head(), (), created=True)
    from alembic import command

    if before.legacy is not None:
        with _in_transaction(engine) as config:
            command.stamp(config, start)
    steps = _steps_from(start)
    for step in steps:
        _apply(engine, database, step)
    return Migration(before, head(), steps)


def _apply(engine: Engine, database: str, step: Step) -> None:
    """Run one revision and record it, in one transaction: all of it or nothing."""
    from alembic import command

    try:
        with _in_transaction(engine) as config:
            command.upgrade(config, step.after)
    except sa.exc.SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        raise StateError(
            f"the state database {database}: revision {step.after} ({step.about}) failed: {reason}; "
            f"nothing of it was kept, the database is at revision {step.before}"
        ) from exc
    log.info("state_revision_applied", database=database, old=step.before, new=step.after)


def _steps_from(revision: str) -> tuple[Step, ...]:
    """The revisions after `revision` up to head, oldest first."""
    found = [
        Step(script.down_revision if isinstance(script.down_revision, str) else None, script.revision,
             _one_line(script.doc))
        for script in scripts().iterate_revisions(head(), revision)
        if script.revision != revision
    ]
    return tuple(reversed(found))


def _one_line(doc: str) -> str:
    """The first paragraph of a revision's docstring, on one line."""
    return " ".join(doc.split())


@contextmanager
def _in_transaction(engine: Engine) -> Iterator[Config]:
    """An Alembic config whose environment runs on one connection, in one transaction (BEGIN
    IMMEDIATE on SQLite) that commits when the block ends and rolls back if it raises."""
    with writer(engine).begin() as connection:
        yield alembic_config(connection)


def alembic_config(connection: sa.Connection) -> Config:
    """The config Alembic's commands take: the revisions shipped in the package, run by
    `schema/env.py` on `connection` (no alembic.ini: nothing to find beside the package)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    return config
