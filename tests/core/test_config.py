"""Settings: SPEC §2 defaults and parsing of list and empty values."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Settings


def test_spec_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "SECRET_KEYS", "SSL_NOTIFY_DAYS", "HTTP_PORT", "DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert settings.telegram_api_url == "https://api.telegram.org"
    assert (settings.bot_mode, settings.http_host, settings.http_port) == (
        "polling",
        "127.0.0.1",
        8080,
    )
    assert settings.database_url is None
    assert settings.max_document_bytes == 20 * 1024 * 1024
    assert settings.ssl_check_interval_minutes == 360
    assert settings.ssl_warning_days == 30
    assert settings.ssl_notify_days == [30, 14, 7, 3, 1]
    assert (settings.ssl_timeout_seconds, settings.ssl_concurrency) == (10, 200)
    assert settings.allow_private_targets is False
    assert (settings.log_level, settings.log_format) == ("INFO", "console")


def test_environment_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_NOTIFY_DAYS", "7, 30,1,7")
    monkeypatch.setenv("DATABASE_URL", "  ")
    monkeypatch.setenv("ALLOW_PRIVATE_TARGETS", "true")
    settings = Settings(_env_file=None)
    assert settings.ssl_notify_days == [30, 7, 1]
    assert settings.database_url is None
    assert settings.allow_private_targets is True


def test_secrets_do_not_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", "123456:very-secret-token")
    monkeypatch.setenv("DATABASE_URL", "postgresql://intrex_app:hunter2@db/intrex")
    settings = Settings(_env_file=None)
    assert "very-secret-token" not in repr(settings)
    assert "hunter2" not in repr(settings)


def test_empty_lines_copied_from_env_example_mean_unset(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("BOT_TOKEN=\nSSL_CA_FILE=\nDATABASE_URL=\nSECRET_KEYS=\nHTTP_PORT=9090\n")
    for name in ("BOT_TOKEN", "SSL_CA_FILE", "DATABASE_URL", "SECRET_KEYS", "HTTP_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=env_file)
    assert settings.bot_token is None
    assert settings.ssl_ca_file is None
    assert settings.database_url is None
    assert settings.secret_keys is None
    assert settings.http_port == 9090
