"""The audit trail is append-only; it can be read by entity quickly.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02

- `activity_logs_append_only`: a trigger that refuses every UPDATE of `activity_logs`, and
  every DELETE but the system role's (retention prunes old entries on the system path).
  It binds whoever runs the statement, the schema's owner and a superuser included, so an
  entry cannot be rewritten by a role that was granted too much by mistake. The runtime
  role has no UPDATE or DELETE privilege at all (`core.db.roles.runtime_grants` revokes
  them on every `intrex migrate`); the trigger is the second lock behind that one.
  A later data migration that must change entries drops the trigger and creates it again.
- `ix_activity_logs_tenant_entity`: one entity's history (`intrex audit list --entity
  TYPE:ID`) without reading the tenant's whole trail.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_FUNCTION = """
CREATE FUNCTION activity_logs_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_user = 'intrex_system' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'activity_logs is append-only: % is refused for role %', TG_OP, current_user
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'The audit trail is never changed; only retention, on the system '
                     'path (intrex_system), deletes entries older than AUDIT_RETENTION_DAYS.';
END
$$
"""


def upgrade() -> None:
    op.execute(APPEND_ONLY_FUNCTION)
    op.execute(
        "CREATE TRIGGER activity_logs_append_only BEFORE UPDATE OR DELETE ON activity_logs "
        "FOR EACH STATEMENT EXECUTE FUNCTION activity_logs_append_only()"
    )
    op.create_index(
        "ix_activity_logs_tenant_entity",
        "activity_logs",
        ["tenant_id", "entity_type", "entity_id", "timestamp"],
    )


def downgrade() -> None:
    op.drop_index("ix_activity_logs_tenant_entity", table_name="activity_logs")
    op.execute("DROP TRIGGER activity_logs_append_only ON activity_logs")
    op.execute("DROP FUNCTION activity_logs_append_only()")
