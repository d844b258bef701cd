"""Schema 1, as the first release created it: bindings, intents, runs, the audit log, drift,
visit and applicant counters, signed links, and `meta` holding the schema version.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(), primary_key=True),
        sa.Column("value", sa.String(), nullable=False),
    )
    op.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
    op.create_table(
        "binding",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("posting_key", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("remote_id", sa.String()),
        sa.Column("observed_status", sa.String()),
        sa.Column("observed_hash", sa.String()),
        sa.Column("observed_at", sa.DateTime()),
        sa.Column("applied_status", sa.String()),
        sa.Column("applied_hash", sa.String()),
        sa.Column("applied_spec", sa.JSON()),
        sa.Column("synced_at", sa.DateTime()),
        sa.Column("blocked_reason", sa.String()),
        sa.Column("blocked_gate", sa.String()),
        sa.Column("blocked_fields", sa.JSON()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("quarantine_until", sa.DateTime()),
        sa.Column("last_error", sa.String()),
        sa.Column("updated_at", sa.DateTime()),
        sa.UniqueConstraint("posting_key", "provider", name="uq_binding_pair"),
    )
    op.create_index("ix_binding_posting_key", "binding", ["posting_key"])
    op.create_table(
        "intent",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer()),
        sa.Column("posting_key", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("spec", sa.JSON()),
        sa.Column("remote_id", sa.String()),
        sa.Column("error", sa.String()),
        sa.Column("created_at", sa.DateTime()),
        sa.Column("updated_at", sa.DateTime()),
    )
    op.create_index("ix_intent_posting_key", "intent", ["posting_key"])
    op.create_index("ix_intent_state", "intent", ["state"])
    op.create_index("ix_intent_run_id", "intent", ["run_id"])
    op.create_table(
        "run",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("trigger", sa.String(), nullable=False),
        sa.Column("started_at", sa.DateTime()),
        sa.Column("finished_at", sa.DateTime()),
        sa.Column("outcome", sa.String()),
        sa.Column("counts", sa.JSON()),
        sa.Column("boards", sa.JSON()),
        sa.Column("config_digest", sa.String()),
        sa.Column("config_commit", sa.String()),
        sa.Column("error", sa.String()),
    )
    op.create_index("ix_run_started_at", "run", ["started_at"])
    op.create_table(
        "action",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("run_id", sa.Integer()),
        sa.Column("posting_key", sa.String()),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("http_status", sa.Integer()),
        sa.Column("error_code", sa.String()),
        sa.Column("message", sa.String()),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime()),
    )
    op.create_index("ix_action_run_id", "action", ["run_id"])
    op.create_table(
        "drift",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("posting_key", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("field", sa.String(), nullable=False),
        sa.Column("desired", sa.JSON(), nullable=False),
        sa.Column("observed", sa.JSON(), nullable=False),
        sa.Column("disposition", sa.String(), nullable=False),
        sa.Column("first_seen", sa.DateTime()),
        sa.Column("last_seen", sa.DateTime()),
        sa.Column("resolved_at", sa.DateTime()),
        sa.Column("resolution", sa.String()),
    )
    op.create_index("ix_drift_posting_key", "drift", ["posting_key"])
    op.create_index(
        "uq_drift_open", "drift", ["posting_key", "provider", "field"], unique=True,
        sqlite_where=sa.text("resolved_at IS NULL"), postgresql_where=sa.text("resolved_at IS NULL"),
    )
    for table, counter, series in (("visit_sample", "visits", "ix_visit_series"),
                                   ("applicant_sample", "applicants", "ix_applicant_series")):
        op.create_table(
            table,
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("posting_key", sa.String(), nullable=False),
            sa.Column("provider", sa.String(), nullable=False),
            sa.Column("channel", sa.String(), nullable=False),
            sa.Column(counter, sa.Integer(), nullable=False),
            sa.Column("observed_at", sa.DateTime()),
        )
        op.create_index(series, table, ["posting_key", "provider", "channel", "observed_at"])
    op.create_table(
        "signed_link",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("posting_key", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("fetched_at", sa.DateTime()),
        sa.UniqueConstraint("posting_key", "provider", name="uq_signed_link_pair"),
    )

