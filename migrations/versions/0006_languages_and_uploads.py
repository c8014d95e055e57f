"""Languages (per user and per tenant), proof downloads in progress, and /start attempts.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

- `users.language`, `tenants.language`: a person's chosen language and the tenant's default
  (SPEC §8); NULL means "not chosen", so the next rule of the chain decides.
- `pending_uploads`: a proof file Telegram has but Intrex has not stored yet, written in the
  same transaction that ends the "waiting for proof" state, so a process killed during the
  download leaves a row that the worker finishes after a restart, instead of nothing.
- `link_attempts`: failed `/start` codes per chat, for the rate limit (system path only: the
  chat is not linked to any tenant yet).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_TENANT = "NULLIF(current_setting('app.current_tenant', true), '')::uuid"
KNOWN_OR_NONE = "language IS NULL OR language IN ('en', 'bn')"


def upgrade() -> None:
    op.add_column("users", sa.Column("language", sa.String(length=5), nullable=True))
    op.create_check_constraint(op.f("ck_users_language"), "users", KNOWN_OR_NONE)
    op.add_column("tenants", sa.Column("language", sa.String(length=5), nullable=True))
    op.create_check_constraint(op.f("ck_tenants_language"), "tenants", KNOWN_OR_NONE)

    op.create_table(
        "pending_uploads",
        sa.Column(
            "id",
            postgresql.UUID(as_uuid=True),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
        ),
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("obligation_instance_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("file_id", sa.String(length=255), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.String(length=100), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_pending_uploads_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["users.tenant_id", "users.id"],
            name=op.f("fk_pending_uploads_tenant_id_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "obligation_instance_id"],
            ["obligation_instances.tenant_id", "obligation_instances.id"],
            name=op.f("fk_pending_uploads_tenant_id_obligation_instance_id_obligation_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_uploads")),
    )
    op.create_index(op.f("ix_pending_uploads_tenant_id"), "pending_uploads", ["tenant_id"])
    op.create_index(op.f("ix_pending_uploads_claimed_until"), "pending_uploads", ["claimed_until"])
    op.execute("ALTER TABLE pending_uploads ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE pending_uploads FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON pending_uploads FOR ALL "
        f"USING (tenant_id = {CURRENT_TENANT}) WITH CHECK (tenant_id = {CURRENT_TENANT})"
    )
    op.execute(
        "CREATE POLICY system_path ON pending_uploads FOR ALL TO intrex_system "
        "USING (true) WITH CHECK (true)"
    )

    op.create_table(
        "link_attempts",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "attempted_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_attempts")),
    )
    op.create_index(op.f("ix_link_attempts_chat_id"), "link_attempts", ["chat_id", "attempted_at"])


def downgrade() -> None:
    op.drop_table("link_attempts")
    op.drop_table("pending_uploads")
    op.drop_constraint(op.f("ck_tenants_language"), "tenants")
    op.drop_column("tenants", "language")
    op.drop_constraint(op.f("ck_users_language"), "users")
    op.drop_column("users", "language")
