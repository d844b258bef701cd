"""A database one revision behind, made from one at head: the revision before head, and what
head adds taken out again. Revisions only go forward, so this undoes the head revision by
hand; a new revision changes `_undo_head` (tests/test_migrations.py checks that the result
migrates back to exactly the tables)."""

from __future__ import annotations

import sqlalchemy as sa

from boardsync.state import migrations


def previous_revision() -> str:
    previous = migrations.scripts().get_revision(migrations.head()).down_revision
    assert isinstance(previous, str)
    return previous


def step_back(url: str) -> str:
    """Put the database at `url` (at head) one revision back; the revision it is at now."""
    previous = previous_revision()
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            _undo_head(connection)
            connection.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": previous})
    finally:
        engine.dispose()
    return previous


def _undo_head(connection: sa.Connection) -> None:
    """What revision 0008 adds: binding.in_sync, board_state.compared_at and the counters'
    latest-sample indexes."""
    assert migrations.head() == "0008", "a new head revision: undo what it adds here"
    connection.exec_driver_sql("DROP INDEX ix_visit_latest")
    connection.exec_driver_sql("DROP INDEX ix_applicant_latest")
    connection.exec_driver_sql("ALTER TABLE binding DROP COLUMN in_sync")
    connection.exec_driver_sql("ALTER TABLE board_state DROP COLUMN compared_at")
