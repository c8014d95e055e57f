"""The web dashboard's sign-in and feeds (SPEC §9).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02

- `web_login_tokens`: single-use login links from `/dashboard` (10 minutes); the hash only.
- `web_sessions`: signed-in browsers (8 hours) with their CSRF token; logout deletes the row.
- `calendar_feeds`: one private calendar token per person; a new one replaces the old.

All three are tenant rows under row-level security; the login link and the calendar
token are looked up by their hash on the system path (the URL names no tenant).
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_TENANT = "NULLIF(current_setting('app.current_tenant', true), '')::uuid"
TABLES = ("web_login_tokens", "web_sessions", "calendar_feeds")


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


def _common(table: str) -> list[Any]:
    return [
        sa.Column(
            "id",
            postgresql.UUID(as_uuid=True),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
        ),
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f(f"fk_{table}_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["users.tenant_id", "users.id"],
            name=op.f(f"fk_{table}_tenant_id_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint("token_hash", name=op.f(f"uq_{table}_token_hash")),
    ]


def _created_at() -> sa.Column[object]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "web_login_tokens",
        *_common("web_login_tokens"),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
    )
    op.create_index("ix_web_login_tokens_user_id", "web_login_tokens", ["tenant_id", "user_id"])
    op.create_table(
        "web_sessions",
        *_common("web_sessions"),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("signed_in_with", sa.String(length=20), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        _created_at(),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["tenant_id", "user_id"])
    op.create_table(
        "calendar_feeds",
        *_common("calendar_feeds"),
        _created_at(),
        sa.UniqueConstraint(
            "tenant_id", "user_id", name=op.f("uq_calendar_feeds_tenant_id_user_id")
        ),
    )
    for table in TABLES:
        op.create_index(op.f(f"ix_{table}_tenant_id"), table, ["tenant_id"])
        _secure(table)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
