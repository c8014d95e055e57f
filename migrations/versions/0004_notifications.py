"""Notification pipeline: routing, dispatch, escalation (issue 4).

Adds the per-event delivery plan (`notification_steps`, one row per connector, recipient
and escalation level, claimed by dispatchers with a lease), escalation levels on routes,
connector health, attempt-to-step links on deliveries, and tenant quiet hours.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_TENANT = "NULLIF(current_setting('app.current_tenant', true), '')::uuid"


def _secure(table: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} FOR ALL "
        f"USING (tenant_id = {CURRENT_TENANT}) WITH CHECK (tenant_id = {CURRENT_TENANT})"
    )
    op.execute(
        f"CREATE POLICY system_path ON {table} FOR ALL TO intrex_system "
        "USING (true) WITH CHECK (true)"
    )


def upgrade() -> None:
    op.add_column("tenants", sa.Column("quiet_hours_start", sa.Time(), nullable=True))
    op.add_column("tenants", sa.Column("quiet_hours_end", sa.Time(), nullable=True))
    op.add_column(
        "connectors",
        sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column("connectors", sa.Column("last_error", sa.Text(), nullable=True))
    op.add_column(
        "notification_routes", sa.Column("level", sa.Integer(), server_default="1", nullable=False)
    )
    op.create_check_constraint(
        op.f("ck_notification_routes_level"), "notification_routes", "level >= 1"
    )
    status = postgresql.ENUM(name="notification_status", create_type=False)
    op.create_table(
        "notification_steps",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("notification_event_id", sa.UUID(), nullable=False),
        sa.Column("route_id", sa.UUID(), nullable=True),
        sa.Column("connector_id", sa.UUID(), nullable=False),
        sa.Column("recipient_ref", sa.String(length=320), nullable=False),
        sa.Column("level", sa.Integer(), server_default="1", nullable=False),
        sa.Column("status", status, server_default="queued", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column(
            "idempotency_key",
            sa.UUID(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "connector_id"],
            ["connectors.tenant_id", "connectors.id"],
            name=op.f("fk_notification_steps_tenant_id_connector_id_connectors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "notification_event_id"],
            ["notification_events.tenant_id", "notification_events.id"],
            name=op.f("fk_notification_steps_tenant_id_notification_event_id_notification_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_notification_steps_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_steps")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_notification_steps_idempotency_key")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_notification_steps_tenant_id_id")),
    )
    op.create_index(
        op.f("ix_notification_steps_tenant_id"), "notification_steps", ["tenant_id"], unique=False
    )
    op.create_index(
        op.f("ix_notification_steps_notification_event_id"),
        "notification_steps",
        ["notification_event_id"],
        unique=False,
    )
    op.create_index(
        "ix_notification_steps_due",
        "notification_steps",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('queued', 'failed', 'processing')"),
    )
    _secure("notification_steps")
    op.add_column("notification_deliveries", sa.Column("step_id", sa.UUID(), nullable=True))
    op.add_column(
        "notification_deliveries",
        sa.Column("recipient_ref", sa.String(length=320), nullable=True),
    )
    op.create_index(
        op.f("ix_notification_deliveries_step_id"),
        "notification_deliveries",
        ["step_id"],
        unique=False,
    )
    op.create_foreign_key(
        op.f("fk_notification_deliveries_tenant_id_step_id_notification_steps"),
        "notification_deliveries",
        "notification_steps",
        ["tenant_id", "step_id"],
        ["tenant_id", "id"],
        ondelete="CASCADE",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("fk_notification_deliveries_tenant_id_step_id_notification_steps"),
        "notification_deliveries",
        type_="foreignkey",
    )
    op.drop_index(op.f("ix_notification_deliveries_step_id"), table_name="notification_deliveries")
    op.drop_column("notification_deliveries", "recipient_ref")
    op.drop_column("notification_deliveries", "step_id")
    op.drop_table("notification_steps")
    op.drop_constraint(op.f("ck_notification_routes_level"), "notification_routes", type_="check")
    op.drop_column("notification_routes", "level")
    op.drop_column("connectors", "last_error")
    op.drop_column("connectors", "consecutive_failures")
    op.drop_column("tenants", "quiet_hours_end")
    op.drop_column("tenants", "quiet_hours_start")
