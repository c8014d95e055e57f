"""Obligations: templates, recurrence, reminders, documents (issue 5).

Templates gain the series anchor, reminder lead days, an optional branch (one-branch rules
from a CSV import) and a description. Instances gain the waive fields and the clock's
`next_reminder_on`, and are unique per (template, branch, due date) so that generation can
be repeated and run concurrently. Two partial indexes over open instances, by tenant and
by branch, serve the dashboard pages under row-level security, where the seed's
(tenant_id, status, due_at) index cannot take `status` (enum equality is not leakproof);
the seed index serves the clock's sweep on the system path. A document is stored once per
instance and content hash.
No new table, so row-level security is unchanged (the tables were secured in 0001).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("obligation_templates", sa.Column("description", sa.Text(), nullable=True))
    op.add_column("obligation_templates", sa.Column("anchor_date", sa.Date(), nullable=True))
    op.add_column(
        "obligation_templates",
        sa.Column(
            "reminder_lead_days",
            postgresql.ARRAY(sa.Integer()),
            server_default=sa.text("'{30,14,7,1,0}'::integer[]"),
            nullable=False,
        ),
    )
    op.add_column("obligation_templates", sa.Column("branch_id", sa.UUID(), nullable=True))
    op.create_check_constraint(
        op.f("ck_obligation_templates_reminder_lead_days"),
        "obligation_templates",
        "0 <= ALL(reminder_lead_days) AND 366 >= ALL(reminder_lead_days)",
    )
    op.create_foreign_key(
        op.f("fk_obligation_templates_tenant_id_branch_id_branches"),
        "obligation_templates",
        "branches",
        ["tenant_id", "branch_id"],
        ["tenant_id", "id"],
        ondelete="CASCADE",
    )

    op.add_column(
        "obligation_instances",
        sa.Column("waived_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "obligation_instances", sa.Column("waived_by_user_id", sa.Integer(), nullable=True)
    )
    op.add_column("obligation_instances", sa.Column("waive_reason", sa.Text(), nullable=True))
    op.add_column("obligation_instances", sa.Column("next_reminder_on", sa.Date(), nullable=True))
    op.create_foreign_key(
        op.f("fk_obligation_instances_tenant_id_waived_by_user_id_users"),
        "obligation_instances",
        "users",
        ["tenant_id", "waived_by_user_id"],
        ["tenant_id", "id"],
    )
    op.create_unique_constraint(
        op.f("uq_obligation_instances_template_id_branch_id_due_at"),
        "obligation_instances",
        ["template_id", "branch_id", "due_at"],
    )
    op.create_index(
        "ix_obligation_instances_open_by_branch",
        "obligation_instances",
        ["tenant_id", "branch_id", "due_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('upcoming', 'due_today', 'overdue')"),
    )
    op.create_index(
        "ix_obligation_instances_open_due",
        "obligation_instances",
        ["tenant_id", "due_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('upcoming', 'due_today', 'overdue')"),
    )
    op.create_index(
        "ix_obligation_instances_tenant_next_reminder",
        "obligation_instances",
        ["tenant_id", "next_reminder_on"],
        unique=False,
        postgresql_where=sa.text("next_reminder_on IS NOT NULL"),
    )

    op.create_unique_constraint(
        op.f("uq_obligation_documents_obligation_instance_id_sha256"),
        "obligation_documents",
        ["obligation_instance_id", "sha256"],
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("uq_obligation_documents_obligation_instance_id_sha256"),
        "obligation_documents",
        type_="unique",
    )
    op.drop_index("ix_obligation_instances_tenant_next_reminder", table_name="obligation_instances")
    op.drop_index("ix_obligation_instances_open_due", table_name="obligation_instances")
    op.drop_index("ix_obligation_instances_open_by_branch", table_name="obligation_instances")
    op.drop_constraint(
        op.f("uq_obligation_instances_template_id_branch_id_due_at"),
        "obligation_instances",
        type_="unique",
    )
    op.drop_constraint(
        op.f("fk_obligation_instances_tenant_id_waived_by_user_id_users"),
        "obligation_instances",
        type_="foreignkey",
    )
    op.drop_column("obligation_instances", "next_reminder_on")
    op.drop_column("obligation_instances", "waive_reason")
    op.drop_column("obligation_instances", "waived_by_user_id")
    op.drop_column("obligation_instances", "waived_at")

    op.drop_constraint(
        op.f("fk_obligation_templates_tenant_id_branch_id_branches"),
        "obligation_templates",
        type_="foreignkey",
    )
    op.drop_constraint(
        op.f("ck_obligation_templates_reminder_lead_days"), "obligation_templates", type_="check"
    )
    op.drop_column("obligation_templates", "branch_id")
    op.drop_column("obligation_templates", "reminder_lead_days")
    op.drop_column("obligation_templates", "anchor_date")
    op.drop_column("obligation_templates", "description")
