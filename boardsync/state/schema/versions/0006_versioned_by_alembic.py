"""Revisions take over from schema versions: a boardsync from before them refuses this database.

The revision is in Alembic's table ``alembic_version``; `meta` keeps schema_version at 6 for
good. A release from before revisions reads `meta`, sees a version newer than its own, and
refuses the database instead of writing to tables it does not know.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
