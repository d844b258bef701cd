"""The state database's revisions (Alembic): one chain whose head is exactly the tables, a
database from the last release before revisions migrated and used, each revision all or
nothing, and every command but `migrate` refusing a database at another revision."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from boardsync.errors import StateError
from boardsync.state import migrations, open_store
from boardsync.state.db import create_engine, writer
from tests.reconcile_helpers import Workspace
from tests.schema_helpers import step_back

RELEASE_DB = Path(__file__).resolve().parent / "data" / "state-schema5.db"
"""A database made by the last release before revisions (schema 5): see tests/data/README.md."""

COMMANDS = (["status"], ["plan"], ["reconcile"], ["drift"], ["visits"], ["history"])


def database_at(url: str, revision: str) -> None:
    """A database made by running the revisions from nothing up to `revision`."""
    engine = create_engine(url)
    with writer(engine).begin() as connection:
        command.upgrade(migrations.alembic_config(connection), revision)
    engine.dispose()


def differences(url: str) -> list[object]:
    """What differs between the database at `url` and the tables boardsync declares."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return list(compare_metadata(MigrationContext.configure(connection), SQLModel.metadata))
    finally:
        engine.dispose()


def dump(path: Path) -> list[str]:
    """Every table's definition and every row, as SQL."""
    connection = sqlite3.connect(path)
    try:
        return list(connection.iterdump())
    finally:
        connection.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------ the revisions


def test_the_revisions_are_one_chain_numbered_in_order() -> None:
    """One base, one head, each revision the next number after its parent and its file named
    for it: two revisions added side by side (two heads) fail here."""
    scripts = migrations.scripts()
    assert scripts.get_bases() == ["0001"]
    assert scripts.get_heads() == [migrations.head()]
    chain = list(reversed(list(scripts.walk_revisions())))
    assert [script.revision for script in chain] == list(migrations.revisions())
    for number, script in enumerate(chain, start=1):
        assert script.revision == f"{number:04d}", script.path
        assert script.down_revision == (None if number == 1 else f"{number - 1:04d}"), script.path
        assert Path(script.path).name.startswith(f"{script.revision}_"), script.path
        assert script.doc.strip(), f"{script.path} says nothing of what it is for"


def test_the_revisions_from_nothing_give_exactly_the_tables(tmp_path: Path) -> None:
    """Every revision run from an empty database gives the schema of tables.py, which is what
    a new database is created with: a new database and a migrated one do not differ."""
    chained, created = f"sqlite:///{tmp_path / 'chained.db'}", f"sqlite:///{tmp_path / 'created.db'}"
    database_at(chained, "head")
    open_store(created).close()
    assert differences(chained) == []
    assert differences(created) == []
    assert _schema(tmp_path / "chained.db") == _schema(tmp_path / "created.db")


def _schema(path: Path) -> dict[str, set[str]]:
    """Each table's columns (name, type, nullable) and indexes, and the meta and revision rows."""
    connection = sqlite3.connect(path)
    try:
        tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        found = {
            table: {f"{c[1]} {c[2]} {'NOT NULL' if c[3] else 'NULL'}" for c in connection.execute(f"PRAGMA table_info({table})")}
            | {f"index {i[1]} unique={i[2]}" for i in connection.execute(f"PRAGMA index_list({table})")}
            for table in tables
        }
        found["rows"] = {str(r) for r in connection.execute("SELECT * FROM meta")} | {
            str(r) for r in connection.execute("SELECT * FROM alembic_version")
        }
        return found
    finally:
        connection.close()


def test_the_comparison_sees_a_missing_index_and_column(tmp_path: Path) -> None:
    """The check above can fail: a database short of an index and a column is reported."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    open_store(url).close()
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP INDEX ix_outbox_run_id")
        connection.exec_driver_sql("ALTER TABLE board_call DROP COLUMN seq")
    engine.dispose()
    found = {(d[0], getattr(d[-1], "name", None)) if isinstance(d, tuple) else str(d) for d in differences(url)}
    assert ("add_index", "ix_outbox_run_id") in found
    assert ("add_column", "seq") in found


# ------------------------------------------------------------------------------ the last release's database


def test_the_last_releases_database_is_refused_then_migrated_with_its_rows(ws: Workspace) -> None:
    """A database made by the release before revisions: every command but migrate refuses it,
    naming it, its version and `boardsync migrate`, and leaves the file as it was; migrate
    stamps it at 0005, runs what follows, keeps every row, and the schema is the tables'."""
    path = ws.root / "state.db"
    shutil.copy(RELEASE_DB, path)
    before = digest(path)
    for argv in COMMANDS:
        ran = ws.run(*argv)
        assert ran.code == 1, (argv, ran.err)
        assert f"{path}" in ran.err and "schema version 5" in ran.err and "run `boardsync migrate`" in ran.err, argv
    assert digest(path) == before
    rows = _row_counts(path)
    with sqlite3.connect(path) as connection:
        views = connection.execute("SELECT provider, observed FROM board_state WHERE observed IS NOT NULL").fetchall()
        counters = sum(
            connection.execute(f"SELECT count(*) FROM (SELECT DISTINCT provider, posting_key, channel FROM {table})")
            .fetchone()[0] for table in ("visit_sample", "applicant_sample")
        )
    assert views  # the release kept its boards' views in board_state: revision 0009 moves them
    assert counters  # and its counters' samples: revision 0010 keeps the latest of each apart

    ran = ws.run("migrate")
    assert ran.code == 0, ran.err
    assert "schema version 5 (from before revisions)" in ran.out and "recognised as revision 0005" in ran.out
    assert f"0005 → 0006: {migrations.scripts().get_revision('0006').doc}" in ran.out
    assert ran.out.rstrip().endswith(f"upgraded to revision {migrations.head()}, up to date")
    assert _row_counts(path) == {**rows, "board_view": len(views), "counter_latest": counters}
    with sqlite3.connect(path) as connection:
        assert sorted(connection.execute("SELECT provider, observed FROM board_view").fetchall()) == sorted(views)
    assert differences(f"sqlite:///{path}") == []
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT value FROM meta").fetchall() == [(str(migrations.VERSIONED_BY_ALEMBIC),)]

    again = ws.run("migrate", "--json")
    assert again.code == 0
    assert json.loads(again.out) == {
        "database": f"sqlite:///{path}", "revision": migrations.head(), "before": migrations.head(),
        "before_schema_version": None, "created": False, "steps": [], "up_to_date": True,
    }
    assert ws.run("migrate").out == f"sqlite:///{path}: at revision {migrations.head()}, up to date\n"


def _row_counts(path: Path) -> dict[str, int]:
    connection = sqlite3.connect(path)
    try:
        tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables if t != "alembic_version"}
    finally:
        connection.close()


@pytest.mark.slow
def test_a_migrated_release_database_runs_a_reconcile_and_shows_its_history(ws: Workspace) -> None:
    """The migrated database is used as any other: its past runs and drift still read; its
    bindings are believed (boards that never saw its jobs look like a bad read, and the run
    is refused as it would be before migrating); a forced run posts every posting again,
    writing into the tables a run writes, and the next run finds the boards matching."""
    path = ws.root / "state.db"
    shutil.copy(RELEASE_DB, path)
    assert ws.run("migrate").code == 0
    history = ws.run("history", "--json")
    assert history.code == 0 and len(json.loads(history.out)) == 2, history.err
    assert "product-designer" in ws.run("drift").out
    before = _row_counts(path)

    refused = ws.run("reconcile")
    assert refused.code == 1 and "came back empty while 6 are bound" in refused.err
    forced = ws.run("reconcile", "--force")
    assert forced.code in (0, 2), forced.err
    after = _row_counts(path)
    for table in ("run", "action", "board_call", "intent"):
        assert after[table] > before[table], table
    assert ws.run("reconcile").code == 0
    status = json.loads(ws.run("status", "--json").out)
    bound = {r["remote_id"] for r in status if r["provider"] == "sorce" and r["remote_id"]}
    assert bound and bound == {j["id"] for j in ws.sorce_jobs()}


# ------------------------------------------------------------------------------ refusals and failures


def test_a_database_one_revision_behind_is_refused_until_migrate(synced: Workspace) -> None:
    """A database at the revision before head: every command but migrate refuses it, naming
    the database, its revision and the command to run; migrate runs the one step."""
    path = synced.root / "state.db"
    previous = step_back(f"sqlite:///{path}")
    for argv in COMMANDS:
        ran = synced.run(*argv)
        assert ran.code == 1, argv
        assert (f"the state database sqlite:///{path} is at revision {previous}, this boardsync needs revision "
                f"{migrations.head()}: run `boardsync migrate`") in ran.err, argv
    ran = synced.run("migrate", "--json")
    assert ran.code == 0, ran.err
    done = json.loads(ran.out)
    assert (done["before"], [s["to"] for s in done["steps"]]) == (previous, [migrations.head()])
    assert synced.run("status").code == 0
    assert differences(f"sqlite:///{path}") == []


@pytest.mark.parametrize("newer", ["revision", "schema version"])
def test_a_database_from_a_newer_boardsync_is_never_touched(synced: Workspace, newer: str) -> None:
    """A revision this boardsync does not know (or a hand-made version past the last one) is
    refused by every command, migrate included, and the file is left as it was."""
    path = synced.root / "state.db"
    with sqlite3.connect(path) as connection:
        if newer == "revision":
            connection.execute("UPDATE alembic_version SET version_num = '0999'")
        else:
            connection.execute("DROP TABLE alembic_version")
            connection.execute("UPDATE meta SET value = '9'")
    before = dump(path)
    for argv in (*COMMANDS, ["migrate"]):
        ran = synced.run(*argv)
        assert ran.code == 1, argv
        assert f"sqlite:///{path} is at {'revision 0999' if newer == 'revision' else 'schema version 9'}" in ran.err
        assert "does not know" in ran.err and "upgrade boardsync" in ran.err, argv
    assert dump(path) == before


def test_a_revision_that_fails_keeps_nothing_of_itself(tmp_path: Path) -> None:
    """Revision 0005 failing half-way (a table it creates is already there) rolls back what it
    did before the failure: the database is exactly as it was at 0004, and says so."""
    path = tmp_path / "state.db"
    url = f"sqlite:///{path}"
    database_at(url, "0004")
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE outbox_delivery (note VARCHAR)")
    before = dump(path)
    with pytest.raises(StateError) as raised:
        open_store(url, migrate=True)
    message = str(raised.value)
    assert "revision 0005" in message and "outbox_delivery" in message and "at revision 0004" in message
    assert dump(path) == before  # the outbox table 0005 created first is gone again
    engine = create_engine(url)
    assert migrations.standing(engine, url) == migrations.Standing("0004")
    engine.dispose()


def test_a_failing_revision_after_others_keeps_those_before_it(tmp_path: Path) -> None:
    """From schema 3 (before revisions), a failure in 0005 keeps the stamp and 0004, each
    committed on its own: the database is a sound one at 0004, which migrate goes on from
    once the obstacle is gone."""
    path = tmp_path / "state.db"
    url = f"sqlite:///{path}"
    database_at(url, "0003")
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE alembic_version")
        connection.execute("CREATE TABLE outbox (note VARCHAR)")
    with pytest.raises(StateError, match=r"revision 0005 .* failed: .*outbox.* at revision 0004"):
        open_store(url, migrate=True)
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [("0004",)]
        assert "board_call" in {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
        connection.execute("DROP TABLE outbox")
    with open_store(url, migrate=True) as store:
        assert store.migration is not None
        assert [s.after for s in store.migration.steps] == ["0005", "0006", "0007", "0008", "0009", "0010"]
    assert differences(url) == []


def test_migrate_creates_a_new_database_at_head(ws: Workspace) -> None:
    """No database yet: migrate creates it at head and says so."""
    ran = ws.run("migrate")
    assert ran.code == 0
    assert ran.out == f"sqlite:///{ws.root / 'state.db'}: created at revision {migrations.head()}\n"
    assert differences(f"sqlite:///{ws.root / 'state.db'}") == []


# ------------------------------------------------------------------------------ on PostgreSQL


# `pg_url` (tests/conftest.py): a new database on the suite's throwaway PostgreSQL server.


def test_on_postgresql_the_revisions_give_exactly_the_tables(pg_url: str) -> None:
    """On PostgreSQL too, every revision from nothing gives the tables, and so does a new
    database, created at head."""
    database_at(pg_url, "head")
    assert differences(pg_url) == []
    engine = sa.create_engine(pg_url)
    with engine.begin() as connection:  # empty again
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    with open_store(pg_url) as store:
        assert store.revision == migrations.head()
        assert store.migration is None
    assert differences(pg_url) == []


def test_on_postgresql_a_revision_that_fails_keeps_nothing_of_itself(pg_url: str) -> None:
    """A revision failing half-way rolls back on PostgreSQL: the table it had created is gone
    and the database is still at the revision before it; the next migrate goes on from there."""
    database_at(pg_url, "0004")
    engine = create_engine(pg_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE outbox_delivery (note VARCHAR)")
    with pytest.raises(StateError, match=r"revision 0005 .* failed: .*outbox_delivery.* at revision 0004"):
        open_store(pg_url, migrate=True)
    assert "outbox" not in sa.inspect(engine).get_table_names()
    assert migrations.standing(engine, pg_url) == migrations.Standing("0004")
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE outbox_delivery")
    engine.dispose()
    with open_store(pg_url, migrate=True) as store:
        assert store.migration is not None
        assert [s.after for s in store.migration.steps] == ["0005", "0006", "0007", "0008", "0009", "0010"]
    assert differences(pg_url) == []
