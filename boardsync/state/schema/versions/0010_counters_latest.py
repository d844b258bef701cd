"""Each counter's newest value in a table of its own (counter_latest), kept as samples are
written: a run compared a board's counters with the newest sample of each, which the database
found among every sample the board ever had, so each run grew slower as the history grew. The
indexes that served that search (ix_visit_latest, ix_applicant_latest) go. And the audit log is
indexed by posting (ix_action_posting_key): a posting's story and a rename read it whole. And
each binding keeps the digest of what its last comparison in step compared (compared_hash), so a
steady run does not render and compare again a pair nothing of which changed.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.create_table(
        "counter_latest",
        sa.Column("provider", sa.String(), primary_key=True),
        sa.Column("counter", sa.String(), primary_key=True),
        sa.Column("posting_key", sa.String(), primary_key=True),
        sa.Column("channel", sa.String(), primary_key=True),
        sa.Column("value", sa.Integer(), nullable=False),
    )
    for table, counter in (("visit_sample", "visits"), ("applicant_sample", "applicants")):
        # The newest sample of each counter is the one written last: the highest id.
        op.execute(
            f"INSERT INTO counter_latest (provider, counter, posting_key, channel, value) "
            f"SELECT provider, '{counter}', posting_key, channel, {counter} FROM {table} "
            f"WHERE id IN (SELECT max(id) FROM {table} GROUP BY provider, posting_key, channel)"
        )
    op.drop_index("ix_visit_latest", table_name="visit_sample")
    op.drop_index("ix_applicant_latest", table_name="applicant_sample")
    op.create_index("ix_action_posting_key", "action", ["posting_key"])
    op.add_column("binding", sa.Column("compared_hash", sa.String(), nullable=True))
