"""A steady run rewrites no binding: whether a pair was in sync when last compared
(binding.in_sync) beside when the board was last compared in full (board_state.compared_at);
and the indexes that find each counter's latest sample for a board without reading the whole
history (ix_visit_latest, ix_applicant_latest).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    # False until the next full run finds what is in sync.
    op.add_column("binding", sa.Column("in_sync", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("board_state", sa.Column("compared_at", sa.DateTime()))
    op.create_index("ix_visit_latest", "visit_sample", ["provider", "posting_key", "channel", "id"])
    op.create_index("ix_applicant_latest", "applicant_sample", ["provider", "posting_key", "channel", "id"])
