"""Series dates: an instance remembers which occurrence of its series it stands for.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

- `obligation_instances.series_date`: the occurrence of the template's series this
  instance is (its first due date). The due date can then be moved (`intrex obligations
  update --due`) without generation bringing the original date back: "never twice" is
  unique on (template, branch, series_date), no longer on the due date.
- `obligation_skips`: occurrences someone deleted (with a reason, audited), so generation
  does not make them again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT_TENANT = "NULLIF(current_setting('app.current_tenant', true), '')::uuid"


def upgrade() -> None:
    op.add_column("obligation_instances", sa.Column("series_date", sa.Date()))
    op.execute("UPDATE obligation_instances SET series_date = due_at")
    op.alter_column("obligation_instances", "series_date", nullable=False)
    op.create_unique_constraint(
        op.f("uq_obligation_instances_template_id_branch_id_series_date"),
        "obligation_instances",
        ["template_id", "branch_id", "series_date"],
    )
    op.drop_constraint(
        op.f("uq_obligation_instances_template_id_branch_id_due_at"),
        "obligation_instances",
        type_="unique",
    )

    op.create_table(
        "obligation_skips",
        sa.Column("tenant_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("template_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("branch_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("series_date", sa.Date(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_obligation_skips_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "template_id"],
            ["obligation_templates.tenant_id", "obligation_templates.id"],
            name=op.f("fk_obligation_skips_tenant_id_template_id_obligation_templates"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "branch_id"],
            ["branches.tenant_id", "branches.id"],
            name=op.f("fk_obligation_skips_tenant_id_branch_id_branches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "template_id", "branch_id", "series_date", name=op.f("pk_obligation_skips")
        ),
    )
    op.create_index(op.f("ix_obligation_skips_tenant_id"), "obligation_skips", ["tenant_id"])
    op.execute("ALTER TABLE obligation_skips ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE obligation_skips FORCE ROW LEVEL SECURITY")
    op.execute(
        "CREATE POLICY tenant_isolation ON obligation_skips FOR ALL "
        f"USING (tenant_id = {CURRENT_TENANT}) WITH CHECK (tenant_id = {CURRENT_TENANT})"
    )
    op.execute(
        "CREATE POLICY system_path ON obligation_skips FOR ALL TO intrex_system "
        "USING (true) WITH CHECK (true)"
    )


def downgrade() -> None:
    op.drop_table("obligation_skips")
    op.execute(
        """
        DELETE FROM obligation_instances AS a USING obligation_instances AS b
        WHERE a.template_id = b.template_id AND a.branch_id = b.branch_id
          AND a.due_at = b.due_at AND a.id > b.id
        """
    )
    op.create_unique_constraint(
        op.f("uq_obligation_instances_template_id_branch_id_due_at"),
        "obligation_instances",
        ["template_id", "branch_id", "due_at"],
    )
    op.drop_constraint(
        op.f("uq_obligation_instances_template_id_branch_id_series_date"),
        "obligation_instances",
        type_="unique",
    )
    op.drop_column("obligation_instances", "series_date")
