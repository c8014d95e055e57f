"""Initial schema: the seed's 15 tables and 9 enums, the additive tables, and row-level security.

Every table with a `tenant_id` gets ENABLE + FORCE ROW LEVEL SECURITY, the seed's
`tenant_isolation` policy (tolerant of an unset tenant: it then matches nothing) and a
`system_path` policy for the `intrex_system` role. `tenants` is matched on its own id.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENUMS: dict[str, tuple[str, ...]] = {
    "app_role": ("head_office_admin", "branch_manager", "operator"),
    "obligation_category": (
        "trade_license",
        "fire_safety",
        "tax_vat",
        "environmental_permit",
        "inspection_renewal",
    ),
    "obligation_status": ("upcoming", "due_today", "overdue", "completed", "waived"),
    "severity": ("low", "medium", "high", "critical"),
    "connector_type": ("email_smtp", "telegram_bot", "whatsapp_business", "webhook"),
    "connector_status": ("active", "disabled", "error", "pending_verification"),
    "ssl_check_status": (
        "ok",
        "warning",
        "expired",
        "handshake_failed",
        "dns_failed",
        "timeout",
        "hostname_mismatch",
    ),
    "notification_event_type": (
        "obligation_due",
        "obligation_overdue",
        "ssl_expiry",
        "ssl_failure",
        "digest",
    ),
    "notification_status": (
        "queued",
        "processing",
        "sent",
        "failed",
        "cancelled",
        "acked",
        "dead_letter",
    ),
}

TENANT_SCOPED = (
    "users",
    "branches",
    "user_branches",
    "invite_codes",
    "obligation_templates",
    "obligation_instances",
    "obligation_documents",
    "domains",
    "ssl_check_results",
    "connectors",
    "notification_routes",
    "notification_events",
    "notification_deliveries",
    "acknowledgements",
    "activity_logs",
)

CURRENT_TENANT = "NULLIF(current_setting('app.current_tenant', true), '')::uuid"


def _secure(table: str, column: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} FOR ALL "
        f"USING ({column} = {CURRENT_TENANT}) WITH CHECK ({column} = {CURRENT_TENANT})"
    )
    op.execute(
        f"CREATE POLICY system_path ON {table} FOR ALL TO intrex_system "
        "USING (true) WITH CHECK (true)"
    )


def upgrade() -> None:
    bind = op.get_bind()
    for name, values in ENUMS.items():
        postgresql.ENUM(*values, name=name).create(bind)
    op.create_table(
        "jurisdictions",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("region", sa.String(length=120), nullable=True),
        sa.Column("district", sa.String(length=120), nullable=True),
        sa.Column("city_corporation", sa.String(length=120), nullable=True),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jurisdictions")),
    )
    op.create_table(
        "tenants",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="active", nullable=False),
        sa.Column("stripe_customer_id", sa.String(length=100), nullable=True),
        sa.Column("plan_name", sa.String(length=100), nullable=True),
        sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("status IN ('active', 'suspended')", name=op.f("ck_tenants_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("name", name=op.f("uq_tenants_name")),
    )
    op.create_table(
        "branches",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("city_corporation", sa.String(length=120), nullable=True),
        sa.Column("district", sa.String(length=120), nullable=True),
        sa.Column("region", sa.String(length=120), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_branches_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_branches")),
        sa.UniqueConstraint("tenant_id", "code", name=op.f("uq_branches_tenant_id_code")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_branches_tenant_id_id")),
    )
    op.create_index(op.f("ix_branches_tenant_id"), "branches", ["tenant_id"], unique=False)
    op.create_table(
        "connectors",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column(
            "type",
            postgresql.ENUM(
                "email_smtp",
                "telegram_bot",
                "whatsapp_business",
                "webhook",
                name="connector_type",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "status",
            postgresql.ENUM(
                "active",
                "disabled",
                "error",
                "pending_verification",
                name="connector_status",
                create_type=False,
            ),
            server_default="active",
            nullable=False,
        ),
        sa.Column("config_encrypted_json", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_connectors_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connectors")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_connectors_tenant_id_id")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_connectors_tenant_id_name")),
    )
    op.create_index(op.f("ix_connectors_tenant_id"), "connectors", ["tenant_id"], unique=False)
    op.create_table(
        "obligation_templates",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("jurisdiction_id", sa.UUID(), nullable=True),
        sa.Column(
            "category",
            postgresql.ENUM(
                "trade_license",
                "fire_safety",
                "tax_vat",
                "environmental_permit",
                "inspection_renewal",
                name="obligation_category",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("recurrence_type", sa.String(length=20), server_default="none", nullable=False),
        sa.Column(
            "severity",
            postgresql.ENUM(
                "low", "medium", "high", "critical", name="severity", create_type=False
            ),
            nullable=False,
        ),
        sa.Column("proof_required", sa.Boolean(), server_default="false", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "recurrence_type IN ('none', 'monthly', 'quarterly', 'semiannual', 'annual')",
            name=op.f("ck_obligation_templates_recurrence_type"),
        ),
        sa.ForeignKeyConstraint(
            ["jurisdiction_id"],
            ["jurisdictions.id"],
            name=op.f("fk_obligation_templates_jurisdiction_id_jurisdictions"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_obligation_templates_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_obligation_templates")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_obligation_templates_tenant_id_id")),
    )
    op.create_index(
        op.f("ix_obligation_templates_tenant_id"),
        "obligation_templates",
        ["tenant_id"],
        unique=False,
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column(
            "role",
            postgresql.ENUM(
                "head_office_admin",
                "branch_manager",
                "operator",
                name="app_role",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=20), server_default="active", nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=True),
        sa.Column("telegram_username", sa.String(length=64), nullable=True),
        sa.Column("full_name", sa.String(length=200), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("status IN ('active', 'disabled')", name=op.f("ck_users_status")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_users_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("telegram_user_id", name=op.f("uq_users_telegram_user_id")),
        sa.UniqueConstraint("tenant_id", "email", name=op.f("uq_users_tenant_id_email")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_users_tenant_id_id")),
    )
    op.create_index(op.f("ix_users_tenant_id"), "users", ["tenant_id"], unique=False)
    op.create_table(
        "activity_logs",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=True),
        sa.Column("before_json", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after_json", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "timestamp", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["users.tenant_id", "users.id"],
            name=op.f("fk_activity_logs_tenant_id_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_activity_logs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity_logs")),
    )
    op.create_index(
        op.f("ix_activity_logs_tenant_id"), "activity_logs", ["tenant_id"], unique=False
    )
    op.create_index(
        "ix_activity_logs_tenant_timestamp",
        "activity_logs",
        ["tenant_id", "timestamp"],
        unique=False,
    )
    op.create_table(
        "domains",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("branch_id", sa.UUID(), nullable=True),
        sa.Column("hostname", sa.String(length=253), nullable=False),
        sa.Column("port", sa.Integer(), server_default="443", nullable=False),
        sa.Column(
            "status",
            postgresql.ENUM(
                "ok",
                "warning",
                "expired",
                "handshake_failed",
                "dns_failed",
                "timeout",
                "hostname_mismatch",
                name="ssl_check_status",
                create_type=False,
            ),
            nullable=True,
        ),
        sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("port BETWEEN 1 AND 65535", name=op.f("ck_domains_port")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "branch_id"],
            ["branches.tenant_id", "branches.id"],
            name=op.f("fk_domains_tenant_id_branch_id_branches"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_domains_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domains")),
        sa.UniqueConstraint(
            "tenant_id", "hostname", "port", name=op.f("uq_domains_tenant_id_hostname_port")
        ),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_domains_tenant_id_id")),
    )
    op.create_index(op.f("ix_domains_tenant_id"), "domains", ["tenant_id"], unique=False)
    op.create_table(
        "invite_codes",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "role",
            postgresql.ENUM(
                "head_office_admin",
                "branch_manager",
                "operator",
                name="app_role",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column("branch_id", sa.UUID(), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_by_user_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "branch_id"],
            ["branches.tenant_id", "branches.id"],
            name=op.f("fk_invite_codes_tenant_id_branch_id_branches"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "created_by_user_id"],
            ["users.tenant_id", "users.id"],
            name=op.f("fk_invite_codes_tenant_id_created_by_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "used_by_user_id"],
            ["users.tenant_id", "users.id"],
            name=op.f("fk_invite_codes_tenant_id_used_by_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_invite_codes_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invite_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_invite_codes_code_hash")),
    )
    op.create_index(op.f("ix_invite_codes_tenant_id"), "invite_codes", ["tenant_id"], unique=False)
    op.create_table(
        "notification_events",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("branch_id", sa.UUID(), nullable=True),
        sa.Column(
            "event_type",
            postgresql.ENUM(
                "obligation_due",
                "obligation_overdue",
                "ssl_expiry",
                "ssl_failure",
                "digest",
                name="notification_event_type",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "severity",
            postgresql.ENUM(
                "low", "medium", "high", "critical", name="severity", create_type=False
            ),
            server_default="medium",
            nullable=False,
        ),
        sa.Column("fingerprint", sa.String(length=200), nullable=False),
        sa.Column(
            "payload_json",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            postgresql.ENUM(
                "queued",
                "processing",
                "sent",
                "failed",
                "cancelled",
                "acked",
                "dead_letter",
                name="notification_status",
                create_type=False,
            ),
            server_default="queued",
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "branch_id"],
            ["branches.tenant_id", "branches.id"],
            name=op.f("fk_notification_events_tenant_id_branch_id_branches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_notification_events_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_events")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_notification_events_tenant_id_id")),
    )
    op.create_index(
        "ix_notification_events_fingerprint", "notification_events", ["fingerprint"], unique=False
    )
    op.create_index(
        op.f("ix_notification_events_tenant_id"), "notification_events", ["tenant_id"], unique=False
    )
    op.create_table(
        "notification_routes",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("branch_id", sa.UUID(), nullable=True),
        sa.Column("connector_id", sa.UUID(), nullable=False),
        sa.Column(
            "event_type",
            postgresql.ENUM(
                "obligation_due",
                "obligation_overdue",
                "ssl_expiry",
                "ssl_failure",
                "digest",
                name="notification_event_type",
                create_type=False,
            ),
            nullable=True,
        ),
        sa.Column(
            "severity_min",
            postgresql.ENUM(
                "low", "medium", "high", "critical", name="severity", create_type=False
            ),
            server_default="low",
            nullable=False,
        ),
        sa.Column("recipient_ref", sa.String(length=320), nullable=False),
        sa.Column("delay_minutes", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("delay_minutes >= 0", name=op.f("ck_notification_routes_delay_minutes")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "branch_id"],
            ["branches.tenant_id", "branches.id"],
            name=op.f("fk_notification_routes_tenant_id_branch_id_branches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "connector_id"],
            ["connectors.tenant_id", "connectors.id"],
            name=op.f("fk_notification_routes_tenant_id_connector_id_connectors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_notification_routes_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_routes")),
    )
    op.create_index(
        op.f("ix_notification_routes_tenant_id"), "notification_routes", ["tenant_id"], unique=False
    )
    op.create_table(
        "obligation_instances",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("branch_id", sa.UUID(), nullable=False),
        sa.Column("template_id", sa.UUID(), nullable=False),
        sa.Column(
            "category",
            postgresql.ENUM(
                "trade_license",
                "fire_safety",
                "tax_vat",
                "environmental_permit",
                "inspection_renewal",
                name="obligation_category",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            postgresql.ENUM(
                "upcoming",
                "due_today",
                "overdue",
                "completed",
                "waived",
                name="obligation_status",
                create_type=False,
            ),
            server_default="upcoming",
            nullable=False,
        ),
        sa.Column("due_at", sa.Date(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_by_user_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "branch_id"],
            ["branches.tenant_id", "branches.id"],
            name=op.f("fk_obligation_instances_tenant_id_branch_id_branches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "completed_by_user_id"],
            ["users.tenant_id", "users.id"],
            name=op.f("fk_obligation_instances_tenant_id_completed_by_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "template_id"],
            ["obligation_templates.tenant_id", "obligation_templates.id"],
            name=op.f("fk_obligation_instances_tenant_id_template_id_obligation_templates"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_obligation_instances_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_obligation_instances")),
        sa.UniqueConstraint("tenant_id", "id", name=op.f("uq_obligation_instances_tenant_id_id")),
    )
    op.create_index(
        op.f("ix_obligation_instances_tenant_id"),
        "obligation_instances",
        ["tenant_id"],
        unique=False,
    )
    op.create_index(
        "ix_obligation_instances_tenant_status_due",
        "obligation_instances",
        ["tenant_id", "status", "due_at"],
        unique=False,
    )
    op.create_table(
        "user_branches",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "branch_id"],
            ["branches.tenant_id", "branches.id"],
            name=op.f("fk_user_branches_tenant_id_branch_id_branches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["users.tenant_id", "users.id"],
            name=op.f("fk_user_branches_tenant_id_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_user_branches_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "branch_id", name=op.f("pk_user_branches")),
    )
    op.create_index(
        op.f("ix_user_branches_tenant_id"), "user_branches", ["tenant_id"], unique=False
    )
    op.create_table(
        "acknowledgements",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("notification_event_id", sa.UUID(), nullable=False),
        sa.Column("ack_by_user_id", sa.Integer(), nullable=False),
        sa.Column("ack_note", sa.Text(), nullable=True),
        sa.Column(
            "ack_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "ack_by_user_id"],
            ["users.tenant_id", "users.id"],
            name=op.f("fk_acknowledgements_tenant_id_ack_by_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "notification_event_id"],
            ["notification_events.tenant_id", "notification_events.id"],
            name=op.f("fk_acknowledgements_tenant_id_notification_event_id_notification_events"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_acknowledgements_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acknowledgements")),
        sa.UniqueConstraint(
            "notification_event_id", name=op.f("uq_acknowledgements_notification_event_id")
        ),
    )
    op.create_index(
        op.f("ix_acknowledgements_tenant_id"), "acknowledgements", ["tenant_id"], unique=False
    )
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("notification_event_id", sa.UUID(), nullable=False),
        sa.Column("connector_id", sa.UUID(), nullable=False),
        sa.Column("attempt_no", sa.Integer(), nullable=False),
        sa.Column(
            "delivery_status",
            postgresql.ENUM(
                "queued",
                "processing",
                "sent",
                "failed",
                "cancelled",
                "acked",
                "dead_letter",
                name="notification_status",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "connector_id"],
            ["connectors.tenant_id", "connectors.id"],
            name=op.f("fk_notification_deliveries_tenant_id_connector_id_connectors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "notification_event_id"],
            ["notification_events.tenant_id", "notification_events.id"],
            name=op.f(
                "fk_notification_deliveries_tenant_id_notification_event_id_notification_events"
            ),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_notification_deliveries_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_deliveries")),
    )
    op.create_index(
        op.f("ix_notification_deliveries_notification_event_id"),
        "notification_deliveries",
        ["notification_event_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_notification_deliveries_tenant_id"),
        "notification_deliveries",
        ["tenant_id"],
        unique=False,
    )
    op.create_table(
        "obligation_documents",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("obligation_instance_id", sa.UUID(), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("mime_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("uploaded_by_user_id", sa.Integer(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("size_bytes >= 0", name=op.f("ck_obligation_documents_size_bytes")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "obligation_instance_id"],
            ["obligation_instances.tenant_id", "obligation_instances.id"],
            name=op.f(
                "fk_obligation_documents_tenant_id_obligation_instance_id_obligation_instances"
            ),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "uploaded_by_user_id"],
            ["users.tenant_id", "users.id"],
            name=op.f("fk_obligation_documents_tenant_id_uploaded_by_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_obligation_documents_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_obligation_documents")),
    )
    op.create_index(
        op.f("ix_obligation_documents_obligation_instance_id"),
        "obligation_documents",
        ["obligation_instance_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_obligation_documents_tenant_id"),
        "obligation_documents",
        ["tenant_id"],
        unique=False,
    )
    op.create_table(
        "ssl_check_results",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("domain_id", sa.UUID(), nullable=False),
        sa.Column(
            "check_status",
            postgresql.ENUM(
                "ok",
                "warning",
                "expired",
                "handshake_failed",
                "dns_failed",
                "timeout",
                "hostname_mismatch",
                name="ssl_check_status",
                create_type=False,
            ),
            nullable=False,
        ),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column("days_remaining", sa.Integer(), nullable=True),
        sa.Column("issuer_cn", sa.String(length=500), nullable=True),
        sa.Column("fingerprint_sha256", sa.String(length=64), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column(
            "checked_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "domain_id"],
            ["domains.tenant_id", "domains.id"],
            name=op.f("fk_ssl_check_results_tenant_id_domain_id_domains"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_ssl_check_results_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ssl_check_results")),
    )
    op.create_index(
        "ix_ssl_check_results_domain_checked",
        "ssl_check_results",
        ["domain_id", "checked_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_ssl_check_results_tenant_id"), "ssl_check_results", ["tenant_id"], unique=False
    )

    _secure("tenants", "id")
    for table in TENANT_SCOPED:
        _secure(table, "tenant_id")


def downgrade() -> None:
    op.drop_index(op.f("ix_ssl_check_results_tenant_id"), table_name="ssl_check_results")
    op.drop_index("ix_ssl_check_results_domain_checked", table_name="ssl_check_results")
    op.drop_table("ssl_check_results")
    op.drop_index(op.f("ix_obligation_documents_tenant_id"), table_name="obligation_documents")
    op.drop_index(
        op.f("ix_obligation_documents_obligation_instance_id"), table_name="obligation_documents"
    )
    op.drop_table("obligation_documents")
    op.drop_index(
        op.f("ix_notification_deliveries_tenant_id"), table_name="notification_deliveries"
    )
    op.drop_index(
        op.f("ix_notification_deliveries_notification_event_id"),
        table_name="notification_deliveries",
    )
    op.drop_table("notification_deliveries")
    op.drop_index(op.f("ix_acknowledgements_tenant_id"), table_name="acknowledgements")
    op.drop_table("acknowledgements")
    op.drop_index(op.f("ix_user_branches_tenant_id"), table_name="user_branches")
    op.drop_table("user_branches")
    op.drop_index("ix_obligation_instances_tenant_status_due", table_name="obligation_instances")
    op.drop_index(op.f("ix_obligation_instances_tenant_id"), table_name="obligation_instances")
    op.drop_table("obligation_instances")
    op.drop_index(op.f("ix_notification_routes_tenant_id"), table_name="notification_routes")
    op.drop_table("notification_routes")
    op.drop_index(op.f("ix_notification_events_tenant_id"), table_name="notification_events")
    op.drop_index("ix_notification_events_fingerprint", table_name="notification_events")
    op.drop_table("notification_events")
    op.drop_index(op.f("ix_invite_codes_tenant_id"), table_name="invite_codes")
    op.drop_table("invite_codes")
    op.drop_index(op.f("ix_domains_tenant_id"), table_name="domains")
    op.drop_table("domains")
    op.drop_index("ix_activity_logs_tenant_timestamp", table_name="activity_logs")
    op.drop_index(op.f("ix_activity_logs_tenant_id"), table_name="activity_logs")
    op.drop_table("activity_logs")
    op.drop_index(op.f("ix_users_tenant_id"), table_name="users")
    op.drop_table("users")
    op.drop_index(op.f("ix_obligation_templates_tenant_id"), table_name="obligation_templates")
    op.drop_table("obligation_templates")
    op.drop_index(op.f("ix_connectors_tenant_id"), table_name="connectors")
    op.drop_table("connectors")
    op.drop_index(op.f("ix_branches_tenant_id"), table_name="branches")
    op.drop_table("branches")
    op.drop_table("tenants")
    op.drop_table("jurisdictions")
    bind = op.get_bind()
    for name in reversed(ENUMS):
        postgresql.ENUM(name=name).drop(bind)
