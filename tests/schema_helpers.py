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
    assert migrations.head() == "0010", "a new head revision: undo what it adds here"
    without_counters_latest(connection)


def without_counters_latest(connection: sa.Connection) -> None:
    """Undo what revision 0010 does: counter_latest, the audit log's index by posting and each
    binding's compared_hash dropped, and the indexes revision 0008 gave the samples to find each
    counter's newest made again."""
    connection.exec_driver_sql("DROP TABLE counter_latest")
    connection.exec_driver_sql("ALTER TABLE binding DROP COLUMN compared_hash")
    connection.exec_driver_sql("DROP INDEX ix_action_posting_key")
    connection.exec_driver_sql("CREATE INDEX ix_visit_latest ON visit_sample (provider, posting_key, channel, id)")
    connection.exec_driver_sql(
        "CREATE INDEX ix_applicant_latest ON applicant_sample (provider, posting_key, channel, id)"
    )


def without_views_apart(connection: sa.Connection) -> None:
    """Undo what revision 0009 does: each board's kept view moved back into board_state
    (observed, observed_digest), where revision 0008 keeps it, and board_view dropped."""
    connection.exec_driver_sql("ALTER TABLE board_state ADD COLUMN observed JSON")
    connection.exec_driver_sql("ALTER TABLE board_state ADD COLUMN observed_digest VARCHAR")
    connection.exec_driver_sql(
        "UPDATE board_state SET "
        "observed = (SELECT v.observed FROM board_view v WHERE v.provider = board_state.provider), "
        "observed_digest = (SELECT v.digest FROM board_view v WHERE v.provider = board_state.provider)"
    )
    connection.exec_driver_sql("DROP TABLE board_view")
