"""Each board's recent requests, by process, kept so that a run started right after another
keeps to the board's rate limit (board_state.request_log).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.add_column("board_state", sa.Column("request_log", sa.JSON()))
