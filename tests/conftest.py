"""Shared fixtures: kiosk services on a temporary data directory, a fixed clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from kiosk.services import KioskServices
from kiosk.settings import Settings

pytest_plugins = ["tests.pg_fixtures"]
"""PostgreSQL: a cluster per session, a database per module, a chain per store."""

ZONE = ZoneInfo("America/Edmonton")
FIXED_NOW = datetime(2026, 11, 20, 10, 30, 0, tzinfo=ZONE)


@pytest.fixture(autouse=True)
def _no_cursor_blink(monkeypatch: pytest.MonkeyPatch) -> None:
    """A blinking cursor makes screenshots depend on timing."""
    from textual.widgets import Input

    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    # Smooth scrolling is for people; tests would only wait for it.
    from textual import constants

    monkeypatch.setattr(constants, "TEXTUAL_ANIMATIONS", "none")


@pytest.fixture(autouse=True, scope="session")
def _no_user_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Commands look for ``clinic.toml`` in the per-user config folder (platformdirs) and
    keep records in the per-user data folder: point both at an empty folder, so a clinic
    set up on this machine never leaks into a test (subprocesses inherit it)."""
    import os

    home = tmp_path_factory.mktemp("xdg")
    saved = {key: os.environ.get(key) for key in ("XDG_CONFIG_HOME", "XDG_DATA_HOME")}
    os.environ["XDG_CONFIG_HOME"] = str(home / "config")
    os.environ["XDG_DATA_HOME"] = str(home / "share")
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def make_services(tmp_path: Path) -> Iterator[Callable[..., KioskServices]]:
    """Build KioskServices on a fresh data directory with optional settings overrides."""
    made: list[KioskServices] = []

    def factory(clock: Callable[[], datetime] | None = None, **overrides: object) -> KioskServices:
        settings = Settings.model_validate(overrides)
        services = KioskServices(
            settings, tmp_path / f"data{len(made)}", clock=clock or (lambda: FIXED_NOW)
        )
        made.append(services)
        return services

    yield factory
    for services in made:
        services.close()


# The clinic's seal, made once per session (tests/seal_fixtures.py).
from tests.seal_fixtures import clinic, keys_dir, sealer  # noqa: E402, F401
