"""The report's indexes: open instances and recent waivers, read without visiting the table.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02

- `ix_obligation_instances_open_report`: open instances by (tenant_id, due_at), carrying
  branch, severity, category and id. The report's scores, category totals and the order of
  its overdue and due-soon lists are index-only scans of the instances due on or before the
  end of the due-soon window: the overdue backlog lies scattered over the whole table (one
  row a page), and reading those pages made the report of 1,000 branches cost 0.3 s.
- `ix_obligation_instances_waived`: waived instances by (tenant_id, waived_at), carrying
  branch, category and id: the last 30 days' waivers without reading the whole history.

Both are partial, with predicates the report's statements write out literally (the
planner proves them even in a prepared statement's generic plan, under row-level security).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_PREDICATE = "status IN ('upcoming', 'due_today', 'overdue')"
WAIVED_PREDICATE = "status = 'waived'"


def upgrade() -> None:
    op.create_index(
        "ix_obligation_instances_open_report",
        "obligation_instances",
        ["tenant_id", "due_at"],
        postgresql_include=["branch_id", "severity", "category", "id"],
        postgresql_where=sa.text(OPEN_PREDICATE),
    )
    op.create_index(
        "ix_obligation_instances_waived",
        "obligation_instances",
        ["tenant_id", "waived_at"],
        postgresql_include=["branch_id", "category", "id"],
        postgresql_where=sa.text(WAIVED_PREDICATE),
    )


def downgrade() -> None:
    op.drop_index("ix_obligation_instances_waived", table_name="obligation_instances")
    op.drop_index("ix_obligation_instances_open_report", table_name="obligation_instances")
