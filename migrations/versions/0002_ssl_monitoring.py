"""Certificate monitoring (issue 3): scheduling lease and failure episode on domains.

`next_check_at` says when a domain is due; `claimed_until` and `claim_token` are the lease a
scheduler replica takes (`FOR UPDATE SKIP LOCKED`) while it checks the domain, so replicas
never check one domain twice in a round and a dead replica's claim simply runs out.
`failure_episode_id` and `failure_since` hold the open failure episode, if any, which makes
"one `ssl_failure` event per episode" a property of the row. No new table, so row-level
security is unchanged: `domains` keeps the policies of 0001.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "domains",
        sa.Column(
            "next_check_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )
    op.add_column("domains", sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column("domains", sa.Column("claim_token", sa.UUID(), nullable=True))
    op.add_column("domains", sa.Column("failure_episode_id", sa.UUID(), nullable=True))
    op.add_column("domains", sa.Column("failure_since", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_domains_next_check_at", "domains", ["next_check_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_domains_next_check_at", table_name="domains")
    op.drop_column("domains", "failure_since")
    op.drop_column("domains", "failure_episode_id")
    op.drop_column("domains", "claim_token")
    op.drop_column("domains", "claimed_until")
    op.drop_column("domains", "next_check_at")
