"""Rules: reference jurisdictions, template lifecycle, grace, owners, instance snapshots.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

- `jurisdictions.code`, `level`, `label_bn`: the built-in reference data (Bangladesh's
  divisions, districts and city corporations) is loaded by `intrex migrate` from a file in
  the package and matched by its stable `code`, so loading it again changes nothing.
- `obligation_templates.status` (active / inactive: deactivating stops generation and keeps
  history), `grace_days`, `owner_user_id`, `catalogue_key` (the catalogue entry a template
  was adopted from: adopting twice adds nothing); the recurrence may be `every:N` days; the
  default reminder cadence is 30, 14, 7, 3, 1 and 0 days.
- `obligation_instances.title`, `severity`: each instance keeps what its template said when
  it was due, so editing a template changes future open instances only (history keeps its
  words) and one instance's severity can be changed alone.
- `domains.paused_at`: a paused domain is not checked until it is resumed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIVE_KINDS = "recurrence_type IN ('none', 'monthly', 'quarterly', 'semiannual', 'annual')"
WITH_EVERY = f"{FIVE_KINDS} OR recurrence_type ~ '^every:[1-9][0-9]{{0,3}}$'"
SEVERITY = postgresql.ENUM(name="severity", create_type=False)


def upgrade() -> None:
    op.add_column("jurisdictions", sa.Column("code", sa.String(length=80), nullable=True))
    op.add_column("jurisdictions", sa.Column("level", sa.String(length=20), nullable=True))
    op.add_column("jurisdictions", sa.Column("label_bn", sa.String(length=200), nullable=True))
    op.create_unique_constraint(op.f("uq_jurisdictions_code"), "jurisdictions", ["code"])

    op.add_column(
        "obligation_templates",
        sa.Column("status", sa.String(length=20), server_default="active", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_obligation_templates_status"),
        "obligation_templates",
        "status IN ('active', 'inactive')",
    )
    op.add_column(
        "obligation_templates",
        sa.Column("grace_days", sa.Integer(), server_default="0", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_obligation_templates_grace_days"),
        "obligation_templates",
        "grace_days BETWEEN 0 AND 366",
    )
    op.add_column("obligation_templates", sa.Column("owner_user_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        op.f("fk_obligation_templates_tenant_id_owner_user_id_users"),
        "obligation_templates",
        "users",
        ["tenant_id", "owner_user_id"],
        ["tenant_id", "id"],
    )
    op.add_column(
        "obligation_templates", sa.Column("catalogue_key", sa.String(length=60), nullable=True)
    )
    op.create_unique_constraint(
        op.f("uq_obligation_templates_tenant_id_catalogue_key"),
        "obligation_templates",
        ["tenant_id", "catalogue_key"],
    )
    op.drop_constraint(
        op.f("ck_obligation_templates_recurrence_type"), "obligation_templates", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_obligation_templates_recurrence_type"), "obligation_templates", WITH_EVERY
    )
    op.alter_column(
        "obligation_templates",
        "reminder_lead_days",
        server_default=sa.text("'{30,14,7,3,1,0}'::integer[]"),
    )

    op.add_column("obligation_instances", sa.Column("title", sa.String(length=300)))
    op.add_column("obligation_instances", sa.Column("severity", SEVERITY))
    op.execute(
        """
        UPDATE obligation_instances AS oi SET title = t.title, severity = t.severity
        FROM obligation_templates AS t WHERE t.id = oi.template_id
        """
    )
    op.alter_column("obligation_instances", "title", nullable=False)
    op.alter_column("obligation_instances", "severity", nullable=False)

    op.add_column("domains", sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("domains", "paused_at")
    op.drop_column("obligation_instances", "severity")
    op.drop_column("obligation_instances", "title")
    op.alter_column(
        "obligation_templates",
        "reminder_lead_days",
        server_default=sa.text("'{30,14,7,1,0}'::integer[]"),
    )
    op.execute("DELETE FROM obligation_templates WHERE recurrence_type LIKE 'every:%'")
    op.drop_constraint(
        op.f("ck_obligation_templates_recurrence_type"), "obligation_templates", type_="check"
    )
    op.create_check_constraint(
        op.f("ck_obligation_templates_recurrence_type"), "obligation_templates", FIVE_KINDS
    )
    op.drop_constraint(
        op.f("uq_obligation_templates_tenant_id_catalogue_key"),
        "obligation_templates",
        type_="unique",
    )
    op.drop_column("obligation_templates", "catalogue_key")
    op.drop_constraint(
        op.f("fk_obligation_templates_tenant_id_owner_user_id_users"),
        "obligation_templates",
        type_="foreignkey",
    )
    op.drop_column("obligation_templates", "owner_user_id")
    op.drop_constraint(
        op.f("ck_obligation_templates_grace_days"), "obligation_templates", type_="check"
    )
    op.drop_column("obligation_templates", "grace_days")
    op.drop_constraint(
        op.f("ck_obligation_templates_status"), "obligation_templates", type_="check"
    )
    op.drop_column("obligation_templates", "status")
    op.drop_constraint(op.f("uq_jurisdictions_code"), "jurisdictions", type_="unique")
    op.drop_column("jurisdictions", "label_bn")
    op.drop_column("jurisdictions", "level")
    op.drop_column("jurisdictions", "code")
