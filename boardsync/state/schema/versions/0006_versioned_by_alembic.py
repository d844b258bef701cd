"""Alembic versions the schema from here on; meta's schema_version stays 6 for good.

The revision is in table ``alembic_version``. A release from before Alembic reads `meta`, sees
a version newer than its own, and refuses the database instead of writing to tables it does
not know.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
