"""Settings from the environment (or `.env`), named as in SPEC §2.

One object, read once, so every part of a process agrees on its configuration.
"""

from __future__ import annotations

from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIB = 1024 * 1024


class Settings(BaseSettings):
    """Every variable of SPEC §2 plus the database URLs Intrex needs to migrate safely."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    bot_token: SecretStr | None = None
    bot_username: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    bot_mode: Literal["polling", "webhook"] = "polling"
    webhook_base_url: str | None = None
    webhook_secret: SecretStr | None = None
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    """0 picks a free port (tests, several local workers); the status line says which."""
    web_base_url: str | None = None
    """Public base URL of the web dashboard (SPEC §9); links in messages use it. Unset: the
    HTTP listener's own address (`dashboard_base_url`)."""

    database_url: SecretStr | None = None
    database_admin_url: SecretStr | None = None
    database_system_url: SecretStr | None = None
    """The system role's own login (`intrex_system`), for cross-tenant work: required with
    DATABASE_URL, since the runtime role may not become it (README, "Roles and tenant
    isolation"). Wired automatically for the embedded server."""
    data_dir: Path = Path(".intrex")
    secret_keys: SecretStr | None = None

    max_document_bytes: int = Field(default=20 * MIB, gt=0)
    ssl_check_interval_minutes: int = Field(default=360, gt=0)
    ssl_warning_days: int = Field(default=30, ge=0)
    ssl_notify_days: Annotated[list[int], NoDecode] = Field(default=[30, 14, 7, 3, 1])
    ssl_timeout_seconds: float = Field(default=10, gt=0)
    ssl_concurrency: int = Field(default=200, gt=0)
    ssl_ca_file: Path | None = None
    allow_private_targets: bool = False

    notify_max_attempts: int = Field(default=6, ge=1, le=50)
    notify_retry_base_seconds: float = Field(default=30, gt=0)
    notify_retry_max_seconds: float = Field(default=3600, gt=0)
    notify_lease_seconds: float = Field(default=120, gt=0)
    notify_batch_size: int = Field(default=200, ge=1, le=5000)
    notify_concurrency: int = Field(default=100, ge=1)
    notify_connector_concurrency: int = Field(default=8, ge=1)
    """Sends one connector may have in flight in one worker: a slow or dead receiver holds
    at most this many of the worker's `notify_concurrency` slots (SPEC §4)."""
    telegram_max_per_second: int = Field(default=25, ge=1)
    """Telegram messages (sends and edits) a second for the bot token, all replicas
    together (Telegram allows about 30)."""
    telegram_max_per_chat_per_minute: int = Field(default=20, ge=2)
    """Telegram messages to one chat in any minute, all replicas together (Telegram allows
    20 to a group)."""
    notify_poll_seconds: float = Field(default=1.0, gt=0)
    connector_error_threshold: int = Field(default=5, ge=1)
    webhook_timeout_seconds: float = Field(default=10, gt=0)
    whatsapp_verify_token: SecretStr | None = None
    whatsapp_app_secret: SecretStr | None = None
    """The Cloud API status webhook's verify token and signing secret (SPEC §4): without both
    `/whatsapp/webhook` is not served."""
    smtp_timeout_seconds: float = Field(default=20, gt=0)
    digest_local_time: time = time(8, 0)
    ssl_result_retention_days: int = Field(default=90, ge=0)
    """Certificate check results older than this are pruned daily, except each domain's
    latest; 0 keeps them all."""
    audit_retention_days: int = Field(default=730, ge=0)
    """Audit entries (`activity_logs`) older than this are pruned daily; 0 keeps them all."""
    scheduler_tick_seconds: float = Field(default=60, gt=0)
    shutdown_grace_seconds: float = Field(default=20, gt=0)

    default_language: Literal["en", "bn"] = "en"
    upload_quota_files_per_day: int = Field(default=200, ge=0)
    upload_quota_bytes_per_day: int = Field(default=1024 * MIB, ge=0)
    start_attempts_per_minute: int = Field(default=5, ge=1)
    upload_resume_seconds: float = Field(default=60, gt=0)

    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "console"

    @property
    def dashboard_base_url(self) -> str:
        """`WEB_BASE_URL` without a trailing slash, else `http://HTTP_HOST:HTTP_PORT` (SPEC §2)."""
        if self.web_base_url:
            return self.web_base_url.rstrip("/")
        host = f"[{self.http_host}]" if ":" in self.http_host else self.http_host
        return f"http://{host}:{self.http_port}"

    @field_validator("ssl_notify_days", mode="before")
    @classmethod
    def _parse_days(cls, value: object) -> object:
        if isinstance(value, str):
            days = [int(part) for part in value.split(",") if part.strip()]
            return sorted(set(days), reverse=True)
        return value

    @field_validator(
        "database_url",
        "database_admin_url",
        "database_system_url",
        "secret_keys",
        "web_base_url",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return Settings()
