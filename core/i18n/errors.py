"""Every `ErrorCode` in words: the one place a refusal becomes a sentence.

Parameters are formatted for the reader before they go into the sentence: dates and times
in their language and the tenant's zone, numbers in their digits, the schema's values as
words (`core.i18n.labels`), `what` (the name of a field, marked with `N_` where raised)
translated, everything else as given. The bot escapes the result for HTML.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from core.errors import ByteSize, ErrorCode, IntrexError
from core.i18n import N_, Texts, texts_for
from core.i18n.labels import label

ERROR_TEXTS: dict[ErrorCode, str] = {
    ErrorCode.account_inactive: N_("Your account is not active. Ask your administrator."),
    ErrorCode.managers_only: N_("Only branch managers and head office can do this."),
    ErrorCode.head_office_only: N_("Only head office can do this."),
    ErrorCode.obligation_not_found: N_("No such obligation in your branches."),
    ErrorCode.obligation_completed_on: N_("This obligation was already completed on {date}."),
    ErrorCode.obligation_closed: N_("This obligation is already {status}."),
    ErrorCode.obligation_open_already: N_("This obligation is open already."),
    ErrorCode.obligation_needs_proof: N_(
        "“{title}” needs proof before it can be completed: upload a document or photo first."
    ),
    ErrorCode.waive_reason_missing: N_("A reason is required to waive an obligation."),
    ErrorCode.waive_reason_too_long: N_("The reason is longer than {limit} characters."),
    ErrorCode.unknown_window: N_(
        "Unknown filter “{value}”. Try /obligations overdue, today, week, all or mine."
    ),
    ErrorCode.page_out_of_range: N_("There is no such page."),
    ErrorCode.page_size_out_of_range: N_("The page size must be between 1 and {limit}."),
    ErrorCode.branch_not_in_scope: N_("No such branch in your scope."),
    ErrorCode.limit_too_small: N_("The limit must be at least 1."),
    ErrorCode.lead_days_out_of_range: N_("Reminder lead days must be between 0 and {limit}."),
    ErrorCode.recurrence_unknown: N_(
        "“{value}” is not a recurrence. Use one of: {choices}, or every:N for every N days."
    ),
    ErrorCode.recurrence_days_out_of_range: N_(
        "“{value}”: a recurrence of every N days needs N between 1 and {limit}."
    ),
    ErrorCode.due_date_out_of_range: N_(
        "The date {value} is outside the calendar Intrex keeps ({earliest} to {latest})."
    ),
    ErrorCode.due_date_format: N_("“{value}” is not a date: write YYYY-MM-DD or DD/MM/YYYY."),
    ErrorCode.due_date_unreal: N_("“{value}” is not a real date."),
    ErrorCode.reason_missing: N_(
        "A reason is required: say why the obligation is changed or deleted."
    ),
    ErrorCode.obligation_unchanged: N_(
        "Nothing to change: give a new due date, owner or severity."
    ),
    ErrorCode.obligation_has_proof: N_(
        "“{title}” has proof files attached: waive it instead, so that the evidence is kept."
    ),
    ErrorCode.obligation_id_ambiguous: N_(
        "“{value}” is the start of several obligations' ids: give more of the id."
    ),
    ErrorCode.obligation_date_taken: N_(
        "Branch {code} already has “{title}” due on {date}: change or delete that one."
    ),
    ErrorCode.owner_inactive: N_(
        "{name} is disabled: only an active person can own an obligation."
    ),
    ErrorCode.owner_not_in_scope: N_(
        "{name} does not work for branch {code}: the owner must be someone of that branch "
        "or of head office."
    ),
    ErrorCode.template_scope_ambiguous: N_(
        "A template applies to a jurisdiction or to one branch, not both."
    ),
    ErrorCode.template_not_found: N_(
        "There is no template “{value}”: give its id or at least its first 6 characters."
    ),
    ErrorCode.lead_days_empty: N_(
        "Give at least one reminder lead day (days before the due date, e.g. 30,14,7,3,1,0)."
    ),
    ErrorCode.lead_days_invalid: N_(
        "“{value}” is not a list of reminder lead days: write whole numbers of days "
        "separated by commas, e.g. 30,14,7,3,1,0."
    ),
    ErrorCode.grace_days_out_of_range: N_("Grace days must be between 0 and {limit}."),
    ErrorCode.catalogue_key_unknown: N_(
        "The catalogue has no entry “{value}”. Did you mean: {close}?"
    ),
    ErrorCode.jurisdiction_not_found: N_("There is no jurisdiction {value}."),
    ErrorCode.jurisdiction_ambiguous: N_(
        "“{value}” names more than one jurisdiction ({choices}): give the one you mean."
    ),
    ErrorCode.country_code_invalid: N_("“{value}” is not a two-letter country code."),
    ErrorCode.document_not_found: N_("No such document in your branches."),
    ErrorCode.document_empty: N_("The file is empty: nothing was stored."),
    ErrorCode.document_too_large: N_(
        "The file is {size}, over the {limit} limit for proof documents. Send a smaller one."
    ),
    ErrorCode.document_over_limit: N_(
        "The file is larger than {limit}, the limit for proof documents. Send a smaller one."
    ),
    ErrorCode.document_unavailable: N_("Telegram no longer has this file. Please send it again."),
    ErrorCode.document_type_refused: N_(
        "This file is not an accepted type (its content looks like {detected}). "
        "Send a PDF, JPEG, PNG, WebP, HEIC, Word (DOCX) or Excel (XLSX) file."
    ),
    ErrorCode.upload_quota_files: N_(
        "You have stored {limit} files today, the most one person may in a day. Try again tomorrow."
    ),
    ErrorCode.upload_quota_bytes: N_(
        "Today's uploads would pass {limit}, the most one person may store in a day. "
        "Try again tomorrow."
    ),
    ErrorCode.conversation_lost: N_(
        "I lost track of what this is for. Pick it again in /obligations."
    ),
    ErrorCode.evidence_none: N_("No proof files match: there is nothing to export."),
    ErrorCode.evidence_file_missing: N_(
        "The stored file “{name}” of “{title}” ({code}) is missing from the document store: "
        "nothing was exported."
    ),
    ErrorCode.evidence_file_corrupt: N_(
        "The stored file “{name}” of “{title}” ({code}) does not match its SHA-256 "
        "(recorded {expected}, read {found}): nothing was exported."
    ),
    ErrorCode.audit_cursor_invalid: N_(
        "“{value}” is not a position in the audit trail: use the one the last page gave."
    ),
    ErrorCode.alert_not_found: N_("This alert does not exist or is not yours to acknowledge."),
    ErrorCode.note_too_long: N_("The note is longer than {limit} characters."),
    ErrorCode.domain_not_found: N_("{target} is not monitored in your scope."),
    ErrorCode.domain_exists: N_("{target} is already monitored."),
    ErrorCode.domain_paused: N_("Monitoring of {target} is already paused."),
    ErrorCode.domain_not_paused: N_("Monitoring of {target} is not paused."),
    ErrorCode.host_invalid: N_("“{value}” is not a host name or HOST:PORT ({reason})."),
    ErrorCode.host_private: N_(
        "{target} resolves to a private or local address ({address}); Intrex only checks "
        "public hosts."
    ),
    ErrorCode.tenant_not_found: N_("No tenant “{name}”."),
    ErrorCode.tenant_exists: N_("A tenant named “{name}” already exists."),
    ErrorCode.timezone_unknown: N_("“{value}” is not a known time zone (e.g. Asia/Dhaka)."),
    ErrorCode.branch_not_found: N_("There is no branch {code}."),
    ErrorCode.branch_exists: N_("Branch {code} already exists."),
    ErrorCode.branch_code_invalid: N_(
        "“{value}” is not a branch code: use 1 to 32 letters, digits, dashes or underscores."
    ),
    ErrorCode.branch_needed: N_("The {role} role needs at least one branch: name its code."),
    ErrorCode.branch_unwanted: N_("Head office admins act for every branch: leave out the branch."),
    ErrorCode.branch_inactive: N_("Branch {code} is deactivated: activate it first."),
    ErrorCode.place_unknown: N_("Unknown {what} “{value}”."),
    ErrorCode.place_unknown_suggested: N_("Unknown {what} “{value}”: did you mean {suggestions}?"),
    ErrorCode.district_not_in_division: N_("{district} district is not in {division} division."),
    ErrorCode.city_corporation_not_in_district: N_(
        "{city_corporation} is not in {district} district."
    ),
    ErrorCode.city_corporation_not_in_division: N_(
        "{city_corporation} is not in {division} division."
    ),
    ErrorCode.user_not_found: N_(
        "There is no user “{value}” in this tenant: give an id, an email or a @username."
    ),
    ErrorCode.person_not_found: N_("No such person in your branches."),
    ErrorCode.last_admin: N_(
        "{name} is the last active head office admin: make someone else head office admin first."
    ),
    ErrorCode.invite_invalid: N_(
        "This invite code is not valid. Check it, or ask your administrator for a new one."
    ),
    ErrorCode.invite_used: N_("This invite has already been used. Ask for a new one."),
    ErrorCode.invite_expired: N_("This invite has expired. Ask for a new one."),
    ErrorCode.invite_revoked: N_("This invite has been withdrawn. Ask for a new one."),
    ErrorCode.invite_not_found: N_("No such invite."),
    ErrorCode.group_not_linked: N_("This group is not linked to a branch."),
    ErrorCode.group_only: N_(
        "Send /linkgroup BRANCH_CODE in the Telegram group that should get the branch's alerts."
    ),
    ErrorCode.private_only: N_("Please use this in a private chat with me."),
    ErrorCode.invite_closed: N_("This invite is {state} already: there is nothing to revoke."),
    ErrorCode.already_linked: N_("This Telegram account is already linked to Intrex."),
    ErrorCode.start_rate_limited: N_(
        "Too many wrong codes. Please wait {seconds} seconds, then try again."
    ),
    ErrorCode.email_invalid: N_("“{value}” is not an email address."),
    ErrorCode.email_taken: N_("Someone in this tenant already has the email {value}."),
    ErrorCode.language_unknown: N_("Unknown language “{value}”: choose en or bn."),
    ErrorCode.value_unknown: N_("Unknown {what} “{value}”: choose one of {choices}."),
    ErrorCode.text_empty: N_("The {what} must not be empty."),
    ErrorCode.text_too_long: N_("The {what} is longer than {limit} characters."),
    ErrorCode.usage: N_("Usage: {usage}"),
    ErrorCode.bot_token_missing: N_(
        "BOT_TOKEN is not set: the bot cannot start (workers can: intrex run --no-bot)"
    ),
    ErrorCode.quiet_hours_invalid: N_(
        "Quiet hours “{value}” must look like 22:00-07:00, or be off."
    ),
    ErrorCode.quiet_hours_empty: N_("Quiet hours must not start and end at the same time."),
    ErrorCode.invite_ttl_invalid: N_("An invite is valid for 1 to {limit} days."),
    ErrorCode.host_missing: N_("Give a host name, e.g. example.com or example.com:8443."),
    ErrorCode.host_is_url: N_(
        "“{value}” looks like a URL: give just the host name and optional port, "
        "e.g. example.com or example.com:8443."
    ),
    ErrorCode.host_is_ip: N_(
        "“{value}” is an IP address: Intrex watches certificates by host name, "
        "so give the name the certificate is issued for."
    ),
    ErrorCode.host_name_empty: N_("The host name is empty."),
    ErrorCode.host_name_too_long: N_(
        "The host name “{value}” is {length} characters long; the limit is {limit}."
    ),
    ErrorCode.host_numeric_label: N_(
        "“{value}” ends in a numeric label, so it is read as an IP address, not a host name."
    ),
    ErrorCode.host_label_empty: N_("“{value}” has an empty label (two dots in a row?)."),
    ErrorCode.host_label_too_long: N_(
        "The label {label}… of “{value}” is {length} characters long; "
        "each part between dots may have at most {limit}."
    ),
    ErrorCode.host_label_characters: N_(
        "“{value}” is not a valid host name: it contains {characters}; "
        "use letters, digits and '-' between dots."
    ),
    ErrorCode.host_label_hyphen: N_(
        "“{value}” is not a valid host name: a label may not start or end with '-'; "
        "use letters, digits and '-' between dots."
    ),
    ErrorCode.port_not_number: N_("The port in “{value}” must be a number from 1 to 65535."),
    ErrorCode.port_out_of_range: N_("Port {port} in “{value}” is out of range: use 1 to 65535."),
    ErrorCode.ssl_ca_file_unloadable: N_("SSL_CA_FILE {path} cannot be loaded: {error}"),
    ErrorCode.target_private: N_(
        "{host} is a private, loopback or link-local address; Intrex does not send there."
    ),
    ErrorCode.target_resolves_private: N_(
        "{host} resolves only to private, loopback or link-local addresses; "
        "Intrex does not send there."
    ),
    ErrorCode.connector_name_invalid: N_(
        "Connector name “{value}” is not valid: up to 100 letters, digits, spaces, '.', '-' or '_'."
    ),
    ErrorCode.connector_exists: N_("This tenant already has a connector named “{name}”."),
    ErrorCode.connector_not_found: N_("There is no connector named “{name}”."),
    ErrorCode.connector_option_required: N_("{option} is required for {type}."),
    ErrorCode.connector_url_invalid: N_("{option} must be an http:// or https:// URL with a host."),
    ErrorCode.connector_url_private: N_(
        "{option}: {host} is a private, loopback or link-local address; Intrex does not send there."
    ),
    ErrorCode.connector_host_private: N_(
        "{option}: {host} resolves to {address}, a private, loopback or link-local address; "
        "Intrex does not send there."
    ),
    ErrorCode.webhook_key_too_short: N_("The webhook secret must be at least {limit} characters."),
    ErrorCode.smtp_port_out_of_range: N_("--port must be between 1 and 65535."),
    ErrorCode.smtp_credentials_incomplete: N_("Give both --username and --password, or neither."),
    ErrorCode.smtp_sender_invalid: N_("--from must be an email address."),
    ErrorCode.whatsapp_phone_id_invalid: N_("--phone-number-id must be the numeric id from Meta."),
    ErrorCode.whatsapp_template_name_invalid: N_(
        "--template must be the template's name as Meta approved it: lowercase letters, "
        "digits and '_'."
    ),
    ErrorCode.whatsapp_template_language_invalid: N_(
        "--template-language must be the template's language code as Meta spells it, "
        "such as en_US, en or bn."
    ),
    ErrorCode.route_webhook_recipient: N_(
        "A webhook route's recipient is '-' (the URL is the connector's)."
    ),
    ErrorCode.phone_invalid: N_("“{value}” is not a phone number (use +8801712345678)."),
    ErrorCode.route_recipient_unknown: N_(
        "No user with email “{value}” in this tenant: name a user or role:<role>."
    ),
    ErrorCode.route_delay_out_of_range: N_("The delay must be between 0 and {limit} minutes."),
    ErrorCode.route_level_invalid: N_("The level must be 1 or more."),
    ErrorCode.route_id_invalid: N_("“{value}” is not a route id (see `intrex route list`)."),
    ErrorCode.route_not_found: N_("There is no route {route_id}."),
    ErrorCode.dead_letter_not_found: N_("There is no dead-lettered event {event_id}."),
    ErrorCode.import_rejected: N_("Nothing was imported."),
    ErrorCode.import_rows_rejected: N_("Nothing was imported: {count} bad row(s)."),
    ErrorCode.import_more_rows: N_("… and {count} more"),
    ErrorCode.import_row_line: N_("line {line}: {problem}"),
    ErrorCode.import_not_utf8: N_("the file is not UTF-8 text (byte {position} cannot be read)"),
    ErrorCode.import_file_empty: N_("the file is empty"),
    ErrorCode.import_csv_invalid: N_("not valid CSV: {error}"),
    ErrorCode.import_columns_missing: N_("missing column(s): {columns} (expected: {expected})"),
    ErrorCode.import_columns_unknown: N_("unknown column(s): {columns}"),
    ErrorCode.import_columns_repeated: N_("repeated column(s): {columns}"),
    ErrorCode.import_field_count: N_("has {fields} fields, the header has {columns}"),
    ErrorCode.import_row_repeated: N_("repeats line {line}"),
    ErrorCode.import_no_rows: N_("the file has a header but no rows"),
    ErrorCode.import_nul_byte: N_("the {column} column holds a NUL byte"),
    ErrorCode.import_xlsx_invalid: N_("the file is not an XLSX workbook that can be read"),
    ErrorCode.import_grace_days_invalid: N_(
        "grace_days “{value}” is not a whole number of days from 0 to {limit}"
    ),
    ErrorCode.import_proof_required_invalid: N_("proof_required “{value}” is not yes or no"),
    ErrorCode.import_severity_differs: N_(
        "already imported with severity {severity}; "
        "change it there rather than importing a second copy"
    ),
    ErrorCode.import_port_twice: N_(
        "hostname “{value}” carries a port and the port column gives {port}: give it once"
    ),
    ErrorCode.import_head_office_only: N_(
        "Only head office can import obligations from a file. To attach a file as proof, "
        "press 📎 on its obligation in /obligations first."
    ),
    ErrorCode.import_file_too_large: N_(
        "The file is larger than {limit}, the limit for an import. Split it into smaller files."
    ),
    ErrorCode.import_type_refused: N_(
        "This file is not CSV or XLSX (it looks like {detected}). Send the obligations as a "
        "CSV (UTF-8) or Excel (XLSX) file."
    ),
    ErrorCode.encryption_keys_empty: N_(
        "SECRET_KEYS is empty: generate one with `intrex keys generate`."
    ),
    ErrorCode.encryption_key_invalid: N_(
        "SECRET_KEYS entry {position} is not a Fernet key (32 url-safe base64-encoded bytes): "
        "generate one with `intrex keys generate`."
    ),
    ErrorCode.encryption_keys_missing: N_(
        "SECRET_KEYS is not set: it is required with DATABASE_URL "
        "(generate one with `intrex keys generate`)."
    ),
    ErrorCode.encrypted_config_unreadable: N_(
        "A stored secret cannot be decrypted with any key in SECRET_KEYS "
        "(was a key removed before `intrex keys rotate`?)."
    ),
    ErrorCode.database_url_invalid: N_("The database URL is not valid: {error}"),
    ErrorCode.database_url_not_postgres: N_("The database URL must be a postgresql:// URL."),
    ErrorCode.database_system_url_missing: N_(
        "DATABASE_SYSTEM_URL is not set: with DATABASE_URL, cross-tenant work needs the "
        "system role's own login, e.g. postgresql://intrex_system:PASSWORD@HOST:5432/intrex "
        "(`intrex migrate` creates the role with that password)."
    ),
    ErrorCode.database_system_url_user: N_(
        "DATABASE_SYSTEM_URL must log in as {expected}, not as {user}."
    ),
    ErrorCode.database_runtime_role_reserved: N_(
        "DATABASE_URL logs in as {user}, a role that owns the schema or sees every tenant: "
        "point it at the runtime role ({expected} by default)."
    ),
    ErrorCode.database_unreachable: N_("Cannot connect to the database: {error}"),
    ErrorCode.database_create_failed: N_(
        "Database {database} does not exist and cannot be created: {error}"
    ),
    ErrorCode.database_unavailable: N_("The database is unavailable: {error}"),
    ErrorCode.database_unusable: N_(
        "Intrex cannot use the database: {error} (run `intrex migrate`?)"
    ),
    ErrorCode.database_roles_missing: N_(
        "Cannot migrate: role {role} is missing and this user cannot create it.\n{missing}"
    ),
    ErrorCode.database_setup_incomplete: N_(
        "The embedded database could not be fully set up:\n{missing}"
    ),
    ErrorCode.schema_outdated: N_(
        "The database schema is at {current} but this Intrex needs {head}: run `intrex migrate`."
    ),
    ErrorCode.schema_missing: N_(
        "The database has no Intrex schema but this Intrex needs {head}: run `intrex migrate`."
    ),
    ErrorCode.migrations_missing: N_("The migrations are not found at {path}."),
    ErrorCode.webhook_mode_incomplete: N_(
        "BOT_MODE=webhook needs WEBHOOK_BASE_URL and WEBHOOK_SECRET"
    ),
    ErrorCode.part_failed: N_("Stopped because a part failed: {failures}"),
    ErrorCode.sign_in_invalid: N_(
        "Telegram's sign-in data could not be verified. Open the dashboard again from /dashboard."
    ),
    ErrorCode.sign_in_stale: N_(
        "This sign-in from Telegram is more than a day old. Open the dashboard again from "
        "/dashboard."
    ),
    ErrorCode.sign_in_not_linked: N_(
        "This Telegram account is not linked to an active Intrex user. Ask your administrator "
        "for an invite."
    ),
    ErrorCode.login_link_invalid: N_(
        "This sign-in link has expired or was already used. Send /dashboard to the bot for a "
        "new one."
    ),
    ErrorCode.session_ended: N_("You are signed out. Send /dashboard to the bot to sign in again."),
    ErrorCode.csrf_invalid: N_(
        "This form has expired or did not come from this page. Reload the page and try again."
    ),
    ErrorCode.calendar_feed_not_found: N_(
        "No such calendar feed: it may have been replaced by a new one."
    ),
    ErrorCode.page_not_found: N_("There is no such page, or it is not in your scope."),
    ErrorCode.dashboard_unavailable: N_(
        "The dashboard needs BOT_TOKEN and encryption keys (SECRET_KEYS) to sign people in."
    ),
}

SOMETHING_WENT_WRONG = N_("Something went wrong on our side. Please try again in a moment.")


def _formatted(texts: Texts, value: Any, timezone: str) -> str:
    if isinstance(value, datetime):
        return texts.moment(value, timezone)
    if isinstance(value, date):
        return texts.date(value)
    if isinstance(value, ByteSize):
        return texts.size(value)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return texts.number(value)
    if isinstance(value, enum.Enum):
        return label(texts, value)
    return str(value)


def render_error(error: IntrexError, language: str, timezone: str = "UTC") -> str:
    """The refusal in `language`; dates and times as the tenant's wall clock shows them."""
    texts = texts_for(language)
    template = ERROR_TEXTS.get(error.code)
    if template is None:
        return texts.gettext(SOMETHING_WENT_WRONG)
    values = {key: _formatted(texts, value, timezone) for key, value in error.params.items()}
    if "what" in values:
        values["what"] = texts.gettext(values["what"])
    return texts.gettext(template).format_map(_KeepMissing(values))


class _KeepMissing(dict[str, str]):
    """A placeholder the raise site did not fill stays visible rather than crashing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
