"""Errors a person can act on: a code and its parameters, never a sentence.

Core says *what* went wrong (`ErrorCode.obligation_closed`, with `status=waived`); the edge
that answers (the bot, the CLI, later the web) says it in the reader's language, from the
message catalogues (`core.i18n.errors`). A code without a text there fails the catalogue
test, so no refusal can reach a person unworded.
"""

from __future__ import annotations

import enum
from typing import Any


class ErrorCode(enum.StrEnum):
    """Every refusal Intrex can give. The value is stable: logs and `--json` carry it."""

    # The acting person
    account_inactive = "account.inactive"
    managers_only = "account.managers_only"
    head_office_only = "account.head_office_only"

    # Obligations
    obligation_not_found = "obligation.not_found"
    obligation_completed_on = "obligation.completed_on"
    obligation_closed = "obligation.closed"
    obligation_open_already = "obligation.open_already"
    obligation_needs_proof = "obligation.needs_proof"
    waive_reason_missing = "obligation.waive_reason_missing"
    waive_reason_too_long = "obligation.waive_reason_too_long"
    unknown_window = "obligation.unknown_window"
    page_out_of_range = "page.out_of_range"
    page_size_out_of_range = "page.size_out_of_range"
    branch_not_in_scope = "branch.not_in_scope"
    limit_too_small = "list.limit_too_small"
    lead_days_out_of_range = "template.lead_days_out_of_range"
    template_scope_ambiguous = "template.scope_ambiguous"
    template_not_found = "template.not_found"
    lead_days_empty = "template.lead_days_empty"
    lead_days_invalid = "template.lead_days_invalid"
    grace_days_out_of_range = "template.grace_days_out_of_range"
    catalogue_key_unknown = "catalogue.key_unknown"
    jurisdiction_not_found = "jurisdiction.not_found"
    jurisdiction_ambiguous = "jurisdiction.ambiguous"
    country_code_invalid = "jurisdiction.country_code_invalid"
    recurrence_unknown = "recurrence.unknown"
    recurrence_days_out_of_range = "recurrence.days_out_of_range"
    due_date_out_of_range = "obligation.due_date_out_of_range"
    due_date_format = "obligation.due_date_format"
    due_date_unreal = "obligation.due_date_unreal"
    reason_missing = "obligation.reason_missing"
    obligation_unchanged = "obligation.nothing_to_change"
    obligation_has_proof = "obligation.has_proof"
    obligation_id_ambiguous = "obligation.id_ambiguous"
    obligation_date_taken = "obligation.date_taken"
    owner_inactive = "obligation.owner_inactive"
    owner_not_in_scope = "obligation.owner_not_in_scope"

    # Proof documents
    document_not_found = "document.not_found"
    document_empty = "document.empty"
    document_too_large = "document.too_large"
    document_over_limit = "document.over_limit"
    document_unavailable = "document.unavailable"
    document_type_refused = "document.type_refused"
    upload_quota_files = "upload.quota_files"
    upload_quota_bytes = "upload.quota_bytes"
    conversation_lost = "conversation.lost"
    evidence_none = "evidence.none"
    evidence_file_missing = "evidence.file_missing"
    evidence_file_corrupt = "evidence.file_corrupt"

    # The audit trail
    audit_cursor_invalid = "audit.cursor_invalid"

    # Alerts
    alert_not_found = "alert.not_found"
    note_too_long = "alert.note_too_long"

    group_not_linked = "group.not_linked"
    group_only = "group.only"
    private_only = "chat.private_only"

    # Certificates
    domain_not_found = "domain.not_found"
    domain_exists = "domain.exists"
    domain_paused = "domain.paused"
    domain_not_paused = "domain.not_paused"
    host_invalid = "host.invalid"
    host_private = "host.private"

    # Tenancy, invites, linking
    tenant_not_found = "tenant.not_found"
    tenant_exists = "tenant.exists"
    timezone_unknown = "tenant.timezone_unknown"
    branch_not_found = "branch.not_found"
    branch_exists = "branch.exists"
    branch_code_invalid = "branch.code_invalid"
    branch_needed = "role.branch_needed"
    branch_unwanted = "role.branch_unwanted"
    branch_inactive = "branch.inactive"
    place_unknown = "place.unknown"
    place_unknown_suggested = "place.unknown_suggested"
    district_not_in_division = "place.district_not_in_division"
    city_corporation_not_in_district = "place.city_corporation_not_in_district"
    city_corporation_not_in_division = "place.city_corporation_not_in_division"
    user_not_found = "user.not_found"
    person_not_found = "user.not_in_scope"
    last_admin = "user.last_admin"
    invite_invalid = "invite.invalid"
    invite_used = "invite.used"
    invite_expired = "invite.expired"
    invite_revoked = "invite.revoked"
    invite_not_found = "invite.not_found"
    invite_closed = "invite.closed"
    already_linked = "link.already_linked"
    start_rate_limited = "link.rate_limited"
    email_invalid = "email.invalid"
    email_taken = "email.taken"
    language_unknown = "language.unknown"
    value_unknown = "value.unknown"
    """A value that must be one of a fixed set (a status, a severity, a type)."""
    text_empty = "text.empty"
    text_too_long = "text.too_long"
    usage = "command.usage"
    bot_token_missing = "bot.token_missing"  # noqa: S105 (an error code, not a secret)
    """A command typed with the wrong arguments; `usage` is the command's synopsis."""

    # Administration (the CLI, the worker, the deployment)
    quiet_hours_invalid = "tenant.quiet_hours_invalid"
    quiet_hours_empty = "tenant.quiet_hours_empty"
    invite_ttl_invalid = "invite.ttl_invalid"
    host_missing = "host.missing"
    host_is_url = "host.is_url"
    host_is_ip = "host.is_ip"
    host_name_empty = "host.name_empty"
    host_name_too_long = "host.name_too_long"
    host_numeric_label = "host.numeric_label"
    host_label_empty = "host.label_empty"
    host_label_too_long = "host.label_too_long"
    host_label_characters = "host.label_characters"
    host_label_hyphen = "host.label_hyphen"
    port_not_number = "port.not_number"
    port_out_of_range = "port.out_of_range"
    ssl_ca_file_unloadable = "ssl.ca_file_unloadable"
    target_private = "target.private"
    target_resolves_private = "target.resolves_private"
    connector_name_invalid = "connector.name_invalid"
    connector_exists = "connector.exists"
    connector_not_found = "connector.not_found"
    connector_option_required = "connector.option_required"
    connector_url_invalid = "connector.url_invalid"
    connector_url_private = "connector.url_private"
    connector_host_private = "connector.host_private"
    webhook_key_too_short = "connector.webhook_secret_too_short"
    smtp_port_out_of_range = "connector.smtp_port_out_of_range"
    smtp_credentials_incomplete = "connector.smtp_credentials_incomplete"
    smtp_sender_invalid = "connector.smtp_sender_invalid"
    whatsapp_phone_id_invalid = "connector.whatsapp_phone_id_invalid"
    whatsapp_template_name_invalid = "connector.whatsapp_template_name_invalid"
    whatsapp_template_language_invalid = "connector.whatsapp_template_language_invalid"
    route_webhook_recipient = "route.webhook_recipient"
    phone_invalid = "route.phone_invalid"
    route_recipient_unknown = "route.recipient_unknown"
    route_delay_out_of_range = "route.delay_out_of_range"
    route_level_invalid = "route.level_invalid"
    route_id_invalid = "route.id_invalid"
    route_not_found = "route.not_found"
    dead_letter_not_found = "dead_letter.not_found"
    import_rejected = "import.rejected"
    import_rows_rejected = "import.rows_rejected"
    import_more_rows = "import.more_rows"
    import_row_line = "import.row_line"
    import_not_utf8 = "import.not_utf8"
    import_file_empty = "import.file_empty"
    import_csv_invalid = "import.csv_invalid"
    import_columns_missing = "import.columns_missing"
    import_columns_unknown = "import.columns_unknown"
    import_columns_repeated = "import.columns_repeated"
    import_field_count = "import.field_count"
    import_row_repeated = "import.row_repeated"
    import_no_rows = "import.no_rows"
    import_nul_byte = "import.nul_byte"
    import_xlsx_invalid = "import.xlsx_invalid"
    import_grace_days_invalid = "import.grace_days_invalid"
    import_proof_required_invalid = "import.proof_required_invalid"
    import_severity_differs = "import.severity_differs"
    import_port_twice = "import.port_twice"
    import_head_office_only = "import.head_office_only"
    import_file_too_large = "import.file_too_large"
    import_type_refused = "import.type_refused"
    encryption_keys_empty = "secrets.keys_empty"
    encryption_key_invalid = "secrets.key_invalid"
    encryption_keys_missing = "secrets.keys_missing"
    encrypted_config_unreadable = "secrets.undecryptable"
    database_url_invalid = "database.url_invalid"
    database_url_not_postgres = "database.url_not_postgres"
    database_system_url_missing = "database.system_url_missing"
    database_system_url_user = "database.system_url_user"
    database_runtime_role_reserved = "database.runtime_role_reserved"
    database_unreachable = "database.unreachable"
    database_create_failed = "database.create_failed"
    database_unavailable = "database.unavailable"
    database_unusable = "database.unusable"
    database_roles_missing = "database.roles_missing"
    database_setup_incomplete = "database.setup_incomplete"
    schema_outdated = "database.schema_outdated"
    schema_missing = "database.schema_missing"
    migrations_missing = "database.migrations_missing"
    webhook_mode_incomplete = "run.webhook_mode_incomplete"

    # The web dashboard (SPEC §9)
    sign_in_invalid = "dashboard.sign_in_invalid"
    sign_in_stale = "dashboard.sign_in_stale"
    sign_in_not_linked = "dashboard.sign_in_not_linked"
    login_link_invalid = "dashboard.login_link_invalid"
    session_ended = "dashboard.session_ended"
    csrf_invalid = "dashboard.csrf_invalid"
    calendar_feed_not_found = "dashboard.calendar_feed_not_found"
    page_not_found = "dashboard.page_not_found"
    dashboard_unavailable = "dashboard.unavailable"
    part_failed = "run.part_failed"


class ByteSize(int):
    """A parameter that is an amount of storage: shown as `1.5 MiB`, not as digits."""


class IntrexError(Exception):
    """A refusal: `code` says which, `params` carry the specifics for the sentence."""

    def __init__(self, code: ErrorCode, /, **params: Any) -> None:
        super().__init__(code.value, params)
        self.code = code
        self.params = params

    @property
    def message(self) -> str:
        """The refusal in English, for the command line and logs (chat renders per reader)."""
        from core.i18n.errors import render_error

        return render_error(self, "en")

    def __str__(self) -> str:
        return self.message


class NotFoundError(IntrexError):
    """The named thing does not exist (or is not visible to the caller)."""


class ConflictError(IntrexError):
    """The change would duplicate something that must be unique, or the row moved on."""


class ValidationError(IntrexError):
    """The input is malformed or out of range."""


class ConfigurationError(IntrexError):
    """The deployment is missing a setting or a privilege it needs."""


class PermissionDeniedError(IntrexError):
    """The user is known, but may not do this: their role, or an account no longer active."""


class RateLimitedError(IntrexError):
    """Too many attempts in a short time; `retry_after` seconds until the next is heard."""
