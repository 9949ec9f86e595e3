"""Driving the staff app in Pilot tests: sign in, wait for workers, open a record."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.css.query import NoMatches
from textual.pilot import Pilot
from textual.widgets import Input, Static

from kiosk.staff_app import StaffApp
from screens.staff.login import LoginScreen
from screens.staff.record import RecordScreen
from screens.staff.records import RecordsScreen


async def until(pilot: Pilot[None], condition: Callable[[], Any], what: str) -> None:
    """Wait for ``condition`` (workers run in threads), at most about 30 s on a loaded machine."""
    for _ in range(1200):
        if condition():
            return
        await pilot.pause(0.025)
    raise AssertionError(f"timed out waiting for {what}")


def text_of(pilot: Pilot[None], selector: str) -> str:
    """The text of a Static on the current screen ("" while another screen is on top)."""
    try:
        return str(pilot.app.screen.query_one(selector, Static).render())
    except NoMatches:
        return ""


async def sign_in(pilot: Pilot[None], user: str, password: str) -> None:
    app = pilot.app
    assert isinstance(app, StaffApp)
    await until(pilot, lambda: app.ready, "the store check")
    screen = app.screen
    assert isinstance(screen, LoginScreen)
    screen.query_one("#user", Input).value = user
    screen.query_one("#password", Input).value = password
    await pilot.click("#sign-in")


async def signed_in(pilot: Pilot[None], user: str, password: str) -> RecordsScreen:
    await sign_in(pilot, user, password)
    app = pilot.app
    await until(
        pilot,
        lambda: isinstance(app.screen, RecordsScreen) and app.screen.page is not None,
        "the records list",
    )
    assert isinstance(app.screen, RecordsScreen)
    return app.screen


async def open_first(pilot: Pilot[None]) -> RecordScreen:
    await pilot.press("ctrl+t", "enter")
    app = pilot.app
    await until(
        pilot,
        lambda: isinstance(app.screen, RecordScreen) and app.screen.view is not None,
        "the record",
    )
    assert isinstance(app.screen, RecordScreen)
    return app.screen
