"""Schema 2: removals with a grace period (binding.absent_since, absent_reads), and the wait a
board asked for, kept between runs (board_state).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.add_column("binding", sa.Column("absent_since", sa.DateTime()))
    op.add_column("binding", sa.Column("absent_reads", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "board_state",
        sa.Column("provider", sa.String(), primary_key=True),
        sa.Column("wait_until", sa.DateTime()),
        sa.Column("wait_reason", sa.String()),
        sa.Column("updated_at", sa.DateTime()),
    )
    op.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
