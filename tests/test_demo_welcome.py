"""Without a clinic set up, the Welcome screen says DEMO plainly (and fits 80x24)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from kiosk.app import KioskApp
from kiosk.services import KioskServices
from kiosk.settings import Settings, load_settings
from tests import driver


async def test_the_demo_clinic_s_welcome_says_demo(tmp_path: Path) -> None:
    services = KioskServices(load_settings(None), tmp_path / "data")
    app = KioskApp(services)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await driver.ready(pilot)
            banner = app.screen.query_one("#welcome-demo", Static)
            assert "DEMO" in str(banner.render()) and "real patient" in str(banner.render())
            assert banner.region.bottom <= 24 and not banner.can_focus
            assert app.screen.query_one("#continue").region.bottom <= 24
    finally:
        services.close()


async def test_a_configured_clinic_s_welcome_has_no_demo_banner(tmp_path: Path) -> None:
    services = KioskServices(Settings(), tmp_path / "data")
    app = KioskApp(services)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await driver.ready(pilot)
            assert not app.screen.query("#welcome-demo")
    finally:
        services.close()
