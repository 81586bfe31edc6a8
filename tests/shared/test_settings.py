"""Settings: service prefix first, then the platform prefix, then defaults."""

from pathlib import Path

import pytest

from services.intake.settings import IntakeSettings
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


def test_the_launcher_sees_what_the_service_will_see(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAFERETURN_NOTIFY_HTTP_PORT", "9104")
    assert settings_for("notify").port == 9104
