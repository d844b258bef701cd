"""Schema 3: each board's last observed state, kept for snapshots (board_state.observed_at,
observed, observed_digest).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.add_column("board_state", sa.Column("observed_at", sa.DateTime()))
    op.add_column("board_state", sa.Column("observed", sa.JSON()))
    op.add_column("board_state", sa.Column("observed_digest", sa.String()))
    op.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
