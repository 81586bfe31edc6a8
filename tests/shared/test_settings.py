"""Settings: service prefix first, then the platform prefix, then defaults."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.intake.settings import IntakeSettings
from services.notify.app import create_app as notify_app
from services.notify.settings import NotifySettings
from services.stats.app import create_app
from services.stats.settings import StatsSettings
from shared.settings import settings_for


def test_defaults_give_each_service_its_port_and_sqlite_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SAFERETURN_DATA_DIR", str(tmp_path))
    intake, stats = IntakeSettings(), StatsSettings()
    assert (intake.port, stats.port) == (8001, 8005)
    assert intake.database == f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}"
    assert stats.database == f"sqlite+aiosqlite:///{tmp_path / 'stats.db'}"


def test_a_service_variable_beats_the_platform_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFERETURN_REDIS_URL", "redis://shared:6379/0")
    monkeypatch.setenv("SAFERETURN_INTAKE_REDIS_URL", "redis://intake-only:6379/0")
    monkeypatch.setenv("SAFERETURN_STATS_HTTP_PORT", "9005")
    assert IntakeSettings().redis_url == "redis://intake-only:6379/0"
    assert StatsSettings().redis_url == "redis://shared:6379/0"
    assert StatsSettings().port == 9005
    assert IntakeSettings().port == 8001


def test_mounted_secrets_are_read_after_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "SAFERETURN_REDIS_URL").write_text("redis://platform:secret@redis:6379/0\n")
    (tmp_path / "SAFERETURN_STATS_DATABASE_URL").write_text("postgresql+asyncpg://stats:pw@db/s")
    (tmp_path / "SAFERETURN_INTAKE_DATABASE_URL").write_text("postgresql+asyncpg://in:pw@db/i")
    monkeypatch.setenv("SAFERETURN_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("SAFERETURN_INTAKE_DATABASE_URL", "postgresql+asyncpg://env:pw@db/i")
    stats, intake = StatsSettings(), IntakeSettings()
    assert stats.redis_url == intake.redis_url == "redis://platform:secret@redis:6379/0"
    assert stats.database_url == "postgresql+asyncpg://stats:pw@db/s"
    assert intake.database_url == "postgresql+asyncpg://env:pw@db/i"  # the environment first


def test_without_a_secrets_folder_no_file_is_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "SAFERETURN_REDIS_URL").write_text("redis://from-a-file:6379/0")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SAFERETURN_SECRETS_DIR", raising=False)
    assert StatsSettings().redis_url == "redis://127.0.0.1:6390/0"


def test_the_launcher_sees_what_the_service_will_see(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFERETURN_NOTIFY_HTTP_PORT", "9104")
    assert settings_for("notify").port == 9104


def test_outside_embedded_mode_a_service_needs_an_explicit_jwks_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAFERETURN_HTTP_HOST", "0.0.0.0")
    with pytest.raises(ValueError, match="SAFERETURN_JWKS_URL"):
        _ = StatsSettings().signing_keys_url
    monkeypatch.setenv("SAFERETURN_JWKS_URL", "https://intake.example/.well-known/jwks.json")
    assert StatsSettings().signing_keys_url == "https://intake.example/.well-known/jwks.json"


def test_a_service_will_not_start_without_knowing_where_intake_s_keys_are(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SAFERETURN_DATA_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="SAFERETURN_JWKS_URL"):
        create_app(StatsSettings())


@pytest.mark.parametrize(
    "url",
    ["http://0.0.0.0:8001/.well-known/jwks.json", "http://intake:8001/.well-known/jwks.json",
     "http://10.0.0.7/.well-known/jwks.json", "ftp://127.0.0.1/jwks.json", "intake/jwks.json"],
)  # fmt: skip
def test_a_plain_http_jwks_url_is_refused_unless_on_loopback(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("SAFERETURN_JWKS_URL", url)
    with pytest.raises(ValidationError, match="jwks_url"):
        StatsSettings()


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8001/.well-known/jwks.json", "http://localhost:8001/.well-known/jwks.json",
     "http://[::1]:8001/.well-known/jwks.json", "https://intake.internal/.well-known/jwks.json"],
)  # fmt: skip
def test_https_anywhere_and_plain_http_on_loopback_are_accepted(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("SAFERETURN_JWKS_URL", url)
    assert StatsSettings().signing_keys_url == url


def test_embedded_mode_finds_intake_s_keys_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFERETURN_EMBEDDED", "true")
    monkeypatch.setenv("SAFERETURN_INTAKE_HTTP_PORT", "9101")
    assert StatsSettings().signing_keys_url == "http://127.0.0.1:9101/.well-known/jwks.json"
    monkeypatch.setenv("SAFERETURN_HTTP_HOST", "0.0.0.0")
    assert StatsSettings().signing_keys_url == "http://127.0.0.1:9101/.well-known/jwks.json"


def test_notify_needs_intake_s_address_outside_embedded_mode_and_trusts_only_https_or_loopback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SAFERETURN_JWKS_URL", "https://intake.example/.well-known/jwks.json")
    monkeypatch.setenv("SAFERETURN_HTTP_HOST", "0.0.0.0")
    with pytest.raises(ValueError, match="SAFERETURN_NOTIFY_INTAKE_URL"):
        notify_app(NotifySettings())
    monkeypatch.setenv("SAFERETURN_NOTIFY_INTAKE_URL", "http://intake:8001")
    with pytest.raises(ValidationError, match="intake_url"):
        NotifySettings()
    monkeypatch.setenv("SAFERETURN_NOTIFY_INTAKE_URL", "https://intake.example/")
    assert NotifySettings().intake == "https://intake.example"
