"""Settings for the staff side, and where settings and records are found (platformdirs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.settings import (
    Settings,
    SettingsError,
    load_settings,
    resolve_config,
    resolve_data_dir,
)


@pytest.fixture
def user_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("IMS_KIOSK_CONFIG", raising=False)
    monkeypatch.delenv("IMS_KIOSK_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    return tmp_path


def test_staff_settings_have_defaults_and_bounds() -> None:
    settings = Settings()
    assert settings.consent_valid_days == 365
    assert settings.staff_idle_timeout_seconds == 300
    assert settings.physiotherapists[0].registration is None
    with pytest.raises(ValueError, match="consent_valid_days"):
        Settings.model_validate({"consent_valid_days": 0})
    with pytest.raises(ValueError, match="staff_idle_timeout_seconds"):
        Settings.model_validate({"staff_idle_timeout_seconds": 5})


def test_a_registration_number_is_read_and_a_bad_setting_is_named(tmp_path: Path) -> None:
    config = tmp_path / "clinic.toml"
    config.write_text(
        '[[physiotherapists]]\nid = "akim"\nname = "Alex Kim"\nregistration = "PT-12345"\n',
        encoding="utf-8",
    )
    settings = load_settings(config)
    assert settings.physiotherapists[0].registration == "PT-12345"
    config.write_text('consent_valid_days = "a year"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="consent_valid_days"):
        load_settings(config)


def test_data_dir_in_the_settings_is_taken_from_the_file_s_folder(tmp_path: Path) -> None:
    config = tmp_path / "clinic.toml"
    config.write_text('data_dir = "records"\n', encoding="utf-8")
    settings = load_settings(config)
    assert settings.data_dir == tmp_path / "records"
    assert resolve_data_dir(None, settings) == tmp_path / "records"
    assert resolve_data_dir(Path("/elsewhere"), settings) == Path("/elsewhere")


def test_no_settings_file_means_the_demo_clinic_in_its_own_folder(user_folders: Path) -> None:
    settings = load_settings(resolve_config(None))
    assert settings.is_demo and not Settings().is_demo
    assert resolve_data_dir(None, settings) == user_folders / "share" / "ims-kiosk" / "demo"
    # Its parent exists (a store is only made in an existing folder) and is private.
    assert (user_folders / "share" / "ims-kiosk").stat().st_mode & 0o777 == 0o700


def test_the_per_user_settings_file_is_found_by_every_command(user_folders: Path) -> None:
    config = user_folders / "config" / "ims-kiosk" / "clinic.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[clinic]\nname = "Riverbend Physiotherapy"\n', encoding="utf-8")
    assert resolve_config(None) == config
    settings = load_settings(resolve_config(None))
    assert not settings.is_demo and settings.clinic.name == "Riverbend Physiotherapy"
    assert resolve_data_dir(None, settings) == user_folders / "share" / "ims-kiosk" / "clinic"


def test_the_data_dir_no_longer_depends_on_where_a_command_starts(
    user_folders: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(user_folders)
    assert not resolve_data_dir(None, load_settings(None)).is_relative_to(Path.cwd() / "data")


def test_the_data_dir_help_names_the_real_default_not_a_folder_of_the_cwd() -> None:
    # h9qa: every command's --help said "default: ./data", but the data folder is the
    # settings' data_dir or the per-user data folder (platformdirs), never ./data.
    from kiosk.cli import build_parser

    text = " ".join(build_parser().format_help().split())
    assert "./data" not in text
    assert "per-user data folder" in text
