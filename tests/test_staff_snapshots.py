"""Screenshots of the staff app's main screens at 100x30 and 80x24.

The clinic's clock, the records (fixed ids and references) and the terminal's name are fixed,
so these change only when the screens do. Review and accept a change with
``pytest tests/test_staff_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import Checkbox, DataTable
from textual.widgets.data_table import ColumnKey

from consent_records.events import Terminal, TerminalKind
from kiosk.auth.passwords import TEST_PARAMETERS, Passwords
from kiosk.staff.services import StaffServices
from kiosk.staff_app import StaffApp
from screens.staff.admin import AccountsScreen
from screens.staff.dialogs import CountersignDialog, DiscussionDialog
from tests.staff_app_driver import open_first, sign_in, signed_in, until
from tests.staff_fixtures import (  # noqa: F401 (the fixture)
    ADMIN_PASSWORD,
    JLEE_PASSWORD,
    Clinic,
    clinic_fixture,
)

Step = Callable[[Pilot[None]], Awaitable[None]]


async def login(pilot: Pilot[None]) -> None:
    app = pilot.app
    await until(pilot, lambda: getattr(app, "ready", False), "the store check")


async def refused(pilot: Pilot[None]) -> None:
    await sign_in(pilot, "jlee", "not the right password")
    await until(pilot, lambda: not pilot.app.screen.query_one("#sign-in").disabled, "refusal")


async def records(pilot: Pilot[None]) -> None:
    await signed_in(pilot, "jlee", JLEE_PASSWORD)


async def record(pilot: Pilot[None]) -> None:
    await signed_in(pilot, "jlee", JLEE_PASSWORD)
    await open_first(pilot)


async def discussion(pilot: Pilot[None]) -> None:
    await record(pilot)
    await pilot.press("d")
    await until(pilot, lambda: isinstance(pilot.app.screen, DiscussionDialog), "dialog")
    pilot.app.screen.query(Checkbox).first().value = True


async def countersign(pilot: Pilot[None]) -> None:
    await record(pilot)
    await pilot.press("d")
    await until(pilot, lambda: isinstance(pilot.app.screen, DiscussionDialog), "dialog")
    for box in pilot.app.screen.query(Checkbox):
        box.value = True
    screen = pilot.app.screen
    await pilot.click("#submit")
    await until(pilot, lambda: pilot.app.screen is not screen, "the record")
    await pilot.press("c")
    await until(pilot, lambda: isinstance(pilot.app.screen, CountersignDialog), "signing")


async def accounts(pilot: Pilot[None]) -> None:
    await signed_in(pilot, "office", ADMIN_PASSWORD)
    await pilot.press("f2")
    await until(pilot, lambda: isinstance(pilot.app.screen, AccountsScreen), "accounts")
    table = pilot.app.screen.query_one("#accounts", DataTable)
    await until(pilot, lambda: table.row_count == 3, "rows")
    # Auto-width columns grow to their cells as rows arrive: wait for the widest name.
    await until(pilot, lambda: table.columns[ColumnKey("name")].content_width >= 10, "widths")


CASES: list[tuple[str, Step, tuple[int, int]]] = [
    ("login", login, (80, 24)),
    ("login_refused", refused, (100, 30)),
    ("records", records, (100, 30)),
    ("records_small", records, (80, 24)),
    ("record", record, (100, 30)),
    ("record_small", record, (80, 24)),
    ("discussion", discussion, (80, 24)),
    ("countersign", countersign, (100, 30)),
    ("accounts", accounts, (100, 30)),
]


@pytest.mark.parametrize(("name", "step", "size"), CASES, ids=[c[0] for c in CASES])
def test_staff_screen(  # type: ignore[no-untyped-def]
    name: str, step: Step, size: tuple[int, int], clinic: Clinic, snap_compare
) -> None:
    clinic.record()
    services = StaffServices(
        clinic.settings,
        clinic.data_dir,
        content=clinic.content,
        clock=clinic.clock,
        passwords=Passwords(TEST_PARAMETERS),
        terminal=Terminal(kind=TerminalKind.KIOSK, id="staff-1"),
    )
    clinic.opened.append(services)

    async def run_before(pilot: Pilot[None]) -> None:
        await step(pilot)
        await pilot.pause(0.5)  # a pressed button's short flash

    assert snap_compare(StaffApp(services), terminal_size=size, run_before=run_before)
