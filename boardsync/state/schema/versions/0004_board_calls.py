"""Schema 4: every request a run sent to a board (board_call), for `boardsync history RUN`.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "board_call",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("method", sa.String(), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("query", sa.String(), nullable=False),
        sa.Column("status", sa.Integer()),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
    )
    op.create_index("ix_board_call_run_id", "board_call", ["run_id"])
    op.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
