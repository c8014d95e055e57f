"""Retention's once-a-day claim, and connector health read by index.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

- `job_runs`: when each periodic job last started and finished (`core.db.job_runs`), so
  retention runs once a day across every worker replica; system path only, like
  `rate_buckets` (no tenant, no row-level security, no privilege for the runtime role).
- `ix_notification_deliveries_connector_created`: one connector's deliveries of the last
  7 days, and its latest success, without reading the tenant's whole history
  (`core.notify.health`); it carries the status and the tenant (row-level security's
  column), so counting a week of deliveries reads the index alone, not a table page each.
- `ix_notification_deliveries_connector_failures`: its latest failure, found at once even
  after months of successes; failures are few, so the index is small.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("last_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_runs")),
    )
    op.create_index(
        "ix_notification_deliveries_connector_created",
        "notification_deliveries",
        ["connector_id", "created_at"],
        postgresql_include=["delivery_status", "tenant_id"],
    )
    op.create_index(
        "ix_notification_deliveries_connector_failures",
        "notification_deliveries",
        ["connector_id", "created_at"],
        postgresql_include=["tenant_id"],
        postgresql_where=sa.text("delivery_status <> 'sent'"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_notification_deliveries_connector_failures", table_name="notification_deliveries"
    )
    op.drop_index(
        "ix_notification_deliveries_connector_created", table_name="notification_deliveries"
    )
    op.drop_table("job_runs")
