"""People: invites that pre-create their user, revocable; users' Telegram identity and last
seen; branches that can be deactivated; obligation owners.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

- An invite now names the user it links (`invite_codes.user_id`): the user exists from the
  moment the invite is created, with role, branches, email and name, so routes and owners
  can name them before they link. The invite's own `role`, `branch_id`, `email` and
  `used_by_user_id` move to that user and go. Existing open invites get their user here;
  one whose email another user already has could never be redeemed and is revoked.
- `invite_codes.revoked_at`, `revoked_by_user_id`: a revoked invite is refused at `/start`.
- `users.telegram_name`, `users.last_seen_at`: who someone is on Telegram ("Karim Ahmed
  (@karim_dhk)"), refreshed from updates, and when they last used the bot.
- `branches.status` (`active` or `inactive`): a deactivated branch generates no new
  obligations and its domains pause; nothing of it is deleted.
- `obligation_instances.owner_user_id`: the person an instance belongs to (SPEC §6).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


BACKFILLED = ("users", "invite_codes", "user_branches", "branches", "activity_logs")

BACKFILL = """
DO $$
DECLARE
    invite record;
    created integer;
BEGIN
    UPDATE invite_codes SET user_id = used_by_user_id WHERE used_by_user_id IS NOT NULL;
    FOR invite IN SELECT * FROM invite_codes WHERE user_id IS NULL ORDER BY created_at DESC LOOP
        SELECT id INTO created FROM users
        WHERE tenant_id = invite.tenant_id AND email = invite.email;
        IF FOUND THEN
            -- Someone who never linked is simply invited (again); a linked person's email
            -- could never be redeemed, so that invite is closed.
            UPDATE invite_codes SET user_id = created,
                revoked_at = CASE WHEN EXISTS (
                    SELECT 1 FROM users WHERE id = created AND telegram_user_id IS NOT NULL)
                    THEN now() END
            WHERE id = invite.id;
            CONTINUE;
        END IF;
        INSERT INTO users (tenant_id, role, email, status)
        VALUES (invite.tenant_id, invite.role, invite.email,
                CASE WHEN invite.expires_at > now() THEN 'active' ELSE 'disabled' END)
        RETURNING id INTO created;
        UPDATE invite_codes SET user_id = created WHERE id = invite.id;
        IF invite.branch_id IS NOT NULL THEN
            INSERT INTO user_branches (tenant_id, user_id, branch_id)
            VALUES (invite.tenant_id, created, invite.branch_id);
        END IF;
    END LOOP;
END
$$
"""


def _across_tenants(*statements: str) -> None:
    """Run data statements over every tenant as the tables' owner: row-level security is
    lifted for the owner for this transaction's data step and forced again at once."""
    for table in BACKFILLED:
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    for statement in statements:
        op.execute(statement)
    for table in BACKFILLED:
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")


def _backfill_invited_users() -> None:
    """Give every invite its user: a used one the user it made; an open one a new user (its
    role, email and branch), disabled if the invite had expired, or the user who has its
    email and never linked; an invite whose email a linked user has could never be
    redeemed, so it is revoked."""
    _across_tenants(BACKFILL)


def upgrade() -> None:
    op.add_column("users", sa.Column("telegram_name", sa.String(length=200), nullable=True))
    op.add_column("users", sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))

    op.add_column(
        "branches",
        sa.Column("status", sa.String(length=20), server_default="active", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_branches_status"), "branches", "status IN ('active', 'inactive')"
    )

    op.add_column("invite_codes", sa.Column("user_id", sa.Integer(), nullable=True))
    op.add_column("invite_codes", sa.Column("full_name", sa.String(length=200), nullable=True))
    op.add_column(
        "invite_codes", sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("invite_codes", sa.Column("revoked_by_user_id", sa.Integer(), nullable=True))
    _backfill_invited_users()
    op.alter_column("invite_codes", "user_id", nullable=False)
    op.create_foreign_key(
        op.f("fk_invite_codes_tenant_id_user_id_users"),
        "invite_codes",
        "users",
        ["tenant_id", "user_id"],
        ["tenant_id", "id"],
        ondelete="CASCADE",
    )
    op.create_foreign_key(
        op.f("fk_invite_codes_tenant_id_revoked_by_user_id_users"),
        "invite_codes",
        "users",
        ["tenant_id", "revoked_by_user_id"],
        ["tenant_id", "id"],
    )
    op.create_index(op.f("ix_invite_codes_user_id"), "invite_codes", ["tenant_id", "user_id"])
    op.drop_constraint(
        op.f("fk_invite_codes_tenant_id_branch_id_branches"), "invite_codes", type_="foreignkey"
    )
    op.drop_constraint(
        op.f("fk_invite_codes_tenant_id_used_by_user_id_users"), "invite_codes", type_="foreignkey"
    )
    for column in ("branch_id", "email", "role", "used_by_user_id"):
        op.drop_column("invite_codes", column)

    op.add_column("obligation_instances", sa.Column("owner_user_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        op.f("fk_obligation_instances_tenant_id_owner_user_id_users"),
        "obligation_instances",
        "users",
        ["tenant_id", "owner_user_id"],
        ["tenant_id", "id"],
    )
    op.create_index(
        op.f("ix_obligation_instances_owner_user_id"),
        "obligation_instances",
        ["tenant_id", "owner_user_id"],
        postgresql_where=sa.text("owner_user_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_obligation_instances_owner_user_id"), "obligation_instances")
    op.drop_constraint(
        op.f("fk_obligation_instances_tenant_id_owner_user_id_users"),
        "obligation_instances",
        type_="foreignkey",
    )
    op.drop_column("obligation_instances", "owner_user_id")

    op.add_column("invite_codes", sa.Column("used_by_user_id", sa.Integer(), nullable=True))
    op.add_column(
        "invite_codes",
        sa.Column(
            "role",
            sa.Enum(name="app_role", create_type=False),
            nullable=True,
        ),
    )
    op.add_column("invite_codes", sa.Column("email", sa.String(length=320), nullable=True))
    op.add_column("invite_codes", sa.Column("branch_id", sa.UUID(), nullable=True))
    _across_tenants(
        "UPDATE invite_codes AS i SET role = u.role, email = u.email, "
        "used_by_user_id = CASE WHEN i.used_at IS NOT NULL THEN u.id END, "
        "branch_id = (SELECT b.branch_id FROM user_branches AS b WHERE b.user_id = u.id "
        "ORDER BY b.branch_id LIMIT 1), "
        "expires_at = CASE WHEN i.revoked_at IS NOT NULL AND i.used_at IS NULL "
        "THEN LEAST(i.expires_at, i.revoked_at) ELSE i.expires_at END "
        "FROM users AS u WHERE u.id = i.user_id",
        "DELETE FROM invite_codes WHERE role IS NULL",
    )
    op.alter_column("invite_codes", "role", nullable=False)
    op.create_foreign_key(
        op.f("fk_invite_codes_tenant_id_branch_id_branches"),
        "invite_codes",
        "branches",
        ["tenant_id", "branch_id"],
        ["tenant_id", "id"],
    )
    op.create_foreign_key(
        op.f("fk_invite_codes_tenant_id_used_by_user_id_users"),
        "invite_codes",
        "users",
        ["tenant_id", "used_by_user_id"],
        ["tenant_id", "id"],
    )
    op.drop_index(op.f("ix_invite_codes_user_id"), "invite_codes")
    op.drop_constraint(
        op.f("fk_invite_codes_tenant_id_revoked_by_user_id_users"),
        "invite_codes",
        type_="foreignkey",
    )
    op.drop_constraint(
        op.f("fk_invite_codes_tenant_id_user_id_users"), "invite_codes", type_="foreignkey"
    )
    _across_tenants(
        # Users who only exist because an invite made them did not exist before: 0006
        # creates the user when the invite is redeemed.
        "DELETE FROM users AS u WHERE u.telegram_user_id IS NULL "
        "AND EXISTS (SELECT 1 FROM invite_codes AS i WHERE i.user_id = u.id) "
        "AND NOT EXISTS (SELECT 1 FROM activity_logs AS a WHERE a.user_id = u.id)"
    )
    for column in ("revoked_by_user_id", "revoked_at", "full_name", "user_id"):
        op.drop_column("invite_codes", column)

    op.drop_constraint(op.f("ck_branches_status"), "branches", type_="check")
    op.drop_column("branches", "status")
    op.drop_column("users", "last_seen_at")
    op.drop_column("users", "telegram_name")
