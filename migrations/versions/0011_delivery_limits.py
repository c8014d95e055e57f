"""Delivery at real-world limits: shared rate buckets, provider delivery statuses.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

- `rate_buckets`: token buckets shared by every replica (Telegram's per-token and per-chat
  limits), keyed by name (`telegram:<bot>`, `telegram:<bot>:chat:<id>`); system path only.
- `notification_deliveries.provider_message_id`, `provider_status`, `provider_status_at`,
  `provider_error`: what the provider reports later about a sent message (WhatsApp's
  status webhook: sent, delivered, read, failed), found by the provider's message id.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_buckets",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column(
            "refilled_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_buckets")),
    )
    op.add_column(
        "notification_deliveries",
        sa.Column("provider_message_id", sa.String(length=200), nullable=True),
    )
    op.add_column(
        "notification_deliveries",
        sa.Column("provider_status", sa.String(length=20), nullable=True),
    )
    op.add_column(
        "notification_deliveries",
        sa.Column("provider_status_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "notification_deliveries",
        sa.Column("provider_error", sa.String(length=300), nullable=True),
    )
    op.create_index(
        op.f("ix_notification_deliveries_provider_message_id"),
        "notification_deliveries",
        ["provider_message_id"],
        postgresql_where=sa.text("provider_message_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_notification_deliveries_provider_message_id"),
        table_name="notification_deliveries",
    )
    op.drop_column("notification_deliveries", "provider_error")
    op.drop_column("notification_deliveries", "provider_status_at")
    op.drop_column("notification_deliveries", "provider_status")
    op.drop_column("notification_deliveries", "provider_message_id")
    op.drop_table("rate_buckets")
