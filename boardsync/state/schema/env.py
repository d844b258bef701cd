"""Alembic's environment: runs the revisions on the connection `boardsync.state.migrations`
passes in (``config.attributes["connection"]``), inside the transaction that connection has
already begun, so each step commits or rolls back as one, on SQLite too."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import boardsync.state.tables  # noqa: F401  (registers every table on SQLModel.metadata)

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    # SQLite alters most things only by copying the table; a revision says `batch_alter_table`
    # and runs unchanged on PostgreSQL.
    render_as_batch=True,
)
with context.begin_transaction():
    context.run_migrations()
