"""Alerts follow the people and the work: copies, resolutions, groups, test events.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

- `notification_deliveries.telegram_chat_id`, `telegram_message_id`: where each Telegram
  copy of an alert landed, so acknowledging or resolving edits every copy.
- `notification_events.resolved_at`, `resolved_by_user_id`, `resolution`: how an alert
  ended when its cause went away ("completed by Jamal Uddin at 14:05").
- `telegram_edits`: the copies still to edit, claimed with a lease like deliveries.
- `branch_groups`: Telegram groups linked to a branch (`/linkgroup`), named by routes as
  `group:CODE`.
- `notification_events.is_test`: `intrex notify test` events, told apart from alerts (the
  seed's event types stay verbatim).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
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


def _uuid_pk() -> sa.Column[object]:
    return sa.Column(
        "id",
        postgresql.UUID(as_uuid=True),
        server_default=sa.text("gen_random_uuid()"),
        nullable=False,
    )


def _created_at() -> sa.Column[object]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    op.add_column(
        "notification_events",
        sa.Column("is_test", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )

    op.add_column(
        "notification_deliveries", sa.Column("telegram_chat_id", sa.BigInteger(), nullable=True)
    )
    op.create_unique_constraint(
        op.f("uq_notification_deliveries_tenant_id_id"),
        "notification_deliveries",
        ["tenant_id", "id"],
    )
    op.add_column(
        "notification_deliveries",
        sa.Column("telegram_message_id", sa.BigInteger(), nullable=True),
    )
    op.add_column(
        "notification_events",
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "notification_events", sa.Column("resolved_by_user_id", sa.Integer(), nullable=True)
    )
    op.add_column(
        "notification_events", sa.Column("resolution", sa.String(length=40), nullable=True)
    )
    op.create_foreign_key(
        op.f("fk_notification_events_tenant_id_resolved_by_user_id_users"),
        "notification_events",
        "users",
        ["tenant_id", "resolved_by_user_id"],
        ["tenant_id", "id"],
    )

    op.create_table(
        "branch_groups",
        _uuid_pk(),
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("branch_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=20), server_default="active", nullable=False),
        sa.Column("linked_by_user_id", sa.Integer(), nullable=True),
        _created_at(),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('active', 'removed')", name=op.f("ck_branch_groups_status")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_branch_groups_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "branch_id"],
            ["branches.tenant_id", "branches.id"],
            name=op.f("fk_branch_groups_tenant_id_branch_id_branches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "linked_by_user_id"],
            ["users.tenant_id", "users.id"],
            name=op.f("fk_branch_groups_tenant_id_linked_by_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_branch_groups")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_branch_groups_tenant_id_id")),
    )
    op.create_index(op.f("ix_branch_groups_tenant_id"), "branch_groups", ["tenant_id"])
    op.create_index(op.f("ix_branch_groups_branch_id"), "branch_groups", ["branch_id"])
    op.create_index(
        "uq_branch_groups_active_chat",
        "branch_groups",
        ["chat_id"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    _secure("branch_groups")

    op.create_table(
        "telegram_edits",
        _uuid_pk(),
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("delivery_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("notification_event_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _created_at(),
        sa.CheckConstraint(
            "kind IN ('acknowledged', 'resolved')", name=op.f("ck_telegram_edits_kind")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'done', 'failed')", name=op.f("ck_telegram_edits_status")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_telegram_edits_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "delivery_id"],
            ["notification_deliveries.tenant_id", "notification_deliveries.id"],
            name=op.f("fk_telegram_edits_tenant_id_delivery_id_notification_deliveries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "notification_event_id"],
            ["notification_events.tenant_id", "notification_events.id"],
            name=op.f("fk_telegram_edits_tenant_id_notification_event_id_notification_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_edits")),
        sa.UniqueConstraint("delivery_id", "kind", name=op.f("uq_telegram_edits_delivery_id_kind")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_telegram_edits_tenant_id_id")),
    )
    op.create_index(op.f("ix_telegram_edits_tenant_id"), "telegram_edits", ["tenant_id"])
    op.create_index(
        op.f("ix_telegram_edits_notification_event_id"),
        "telegram_edits",
        ["notification_event_id"],
    )
    op.create_index(
        "ix_telegram_edits_pending",
        "telegram_edits",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    _secure("telegram_edits")


def downgrade() -> None:
    op.drop_table("telegram_edits")
    op.drop_table("branch_groups")
    op.drop_constraint(
        op.f("fk_notification_events_tenant_id_resolved_by_user_id_users"),
        "notification_events",
        type_="foreignkey",
    )
    for column in ("resolution", "resolved_by_user_id", "resolved_at"):
        op.drop_column("notification_events", column)
    op.drop_constraint(
        op.f("uq_notification_deliveries_tenant_id_id"), "notification_deliveries", type_="unique"
    )
    for column in ("telegram_message_id", "telegram_chat_id"):
        op.drop_column("notification_deliveries", column)
    op.drop_column("notification_events", "is_test")
