"""Schema 5: the notification outbox (outbox, outbox_delivery) and each board's outage
(board_state.down_since, down_told).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("event", sa.String(), nullable=False),
        sa.Column("posting_key", sa.String()),
        sa.Column("provider", sa.String()),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("run_id", sa.Integer()),
        sa.Column("created_at", sa.DateTime()),
        sa.Column("settled_at", sa.DateTime()),
    )
    op.create_index("ix_outbox_run_id", "outbox", ["run_id"])
    op.create_index("ix_outbox_settled_at", "outbox", ["settled_at"])
    op.create_table(
        "outbox_delivery",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime()),
        sa.Column("last_error", sa.String()),
        sa.Column("delivered_at", sa.DateTime()),
        sa.UniqueConstraint("outbox_id", "target", name="uq_outbox_delivery"),
    )
    op.create_index("ix_outbox_delivery_outbox_id", "outbox_delivery", ["outbox_id"])
    op.add_column("board_state", sa.Column("down_since", sa.DateTime()))
    op.add_column("board_state", sa.Column("down_told", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
