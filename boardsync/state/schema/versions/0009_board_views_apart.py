"""Each board's kept view in a table of its own (board_view), out of board_state: a board of
thousands of jobs keeps a view of megabytes, and a run that changed nothing still rewrote it
several times, with every small write to its board's row (the read time, the request log).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.create_table(
        "board_view",
        sa.Column("provider", sa.String(), primary_key=True),
        sa.Column("observed", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(), nullable=False),
    )
    op.execute(
        "INSERT INTO board_view (provider, observed, digest) "
        "SELECT provider, observed, observed_digest FROM board_state "
        "WHERE observed IS NOT NULL AND observed_digest IS NOT NULL"
    )
    with op.batch_alter_table("board_state") as table:
        table.drop_column("observed")
        table.drop_column("observed_digest")
