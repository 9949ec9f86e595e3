"""Screenshots of the main screens at a fixed size, compared with the reviewed ones.

After an intended change, review and accept with ``pytest tests/test_snapshots.py
--snapshot-update``. The clock, the reference code and the cursor are fixed so these only
change when the screens do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot

from kiosk.app import KioskApp
from kiosk.services import KioskServices, SavedConsent
from kiosk.session import Position, Step
from tests import driver, steps

Services = Callable[..., KioskServices]


async def to_about(pilot: Pilot[None]) -> None:
    await driver.start(pilot)


async def who(pilot: Pilot[None]) -> None:
    await driver.ready(pilot)
    await pilot.press("enter")
    await pilot.pause()


async def about_with_errors(pilot: Pilot[None]) -> None:
    await driver.start(pilot)
    await driver.about(pilot, "Renée Bélanger", "1980", "2", "30")


async def first_section(pilot: Pilot[None]) -> None:
    await driver.jump_to(pilot, "education", name="Renée Bélanger")


async def risks_section(pilot: Pilot[None]) -> None:
    await driver.jump_to(pilot, "education", 3, name="Renée Bélanger")


async def quiz_wrong_answer(pilot: Pilot[None]) -> None:
    await driver.jump_to(pilot, "quiz", name="Renée Bélanger")
    question = pilot.app.screen.question  # type: ignore[attr-defined]
    wrong = next(o.id for o in question.options if o.id != question.correct)
    await pilot.click(f"#option-{wrong}")
    await pilot.pause()


async def screening(pilot: Pilot[None]) -> None:
    await driver.jump_to(pilot, "screening", name="Renée Bélanger")
    await pilot.click("#a-blood-thinners--yes")
    await pilot.pause()


async def decision(pilot: Pilot[None]) -> None:
    await driver.jump_to(pilot, "decision", name="Renée Bélanger")


async def signing(pilot: Pilot[None]) -> None:
    await decision(pilot)
    await driver.decide(pilot, "agree")
    await driver.fill(pilot, "#typed-name", "Renée Bélanger")
    await driver.draw_signature(pilot)


async def done(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, KioskApp)
    await signing(pilot)
    app._show(Position(Step.DONE), SavedConsent("K7P3-QX9M", "0" * 32))
    await pilot.pause()
    screen = app.screen
    screen.countdown.pause()  # type: ignore[attr-defined]
    # A slow machine may have ticked once before the pause: show the full time again.
    screen._still_reading()  # type: ignore[attr-defined]


async def still_there(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, KioskApp)
    await driver.start(pilot)
    app._last_input -= 10_000
    app._check_idle()  # what the once-a-second idle check does, without waiting for it
    await pilot.pause()
    app.screen.countdown.pause()  # type: ignore[attr-defined]


SCREENS: dict[str, Callable[[Pilot[None]], Awaitable[None]]] = {
    "welcome": driver.ready,
    "who": who,
    "about": to_about,
    "about_errors": about_with_errors,
    "education": first_section,
    "risks": risks_section,
    "quiz_wrong": quiz_wrong_answer,
    "screening": screening,
    "decision": decision,
    "sign": signing,
    "done": done,
    "still_there": still_there,
}


def settled(name: str) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def run_before(pilot: Pilot[None]) -> None:
        await SCREENS[name](pilot)
        # A pressed button shows a 0.2 s "active" flash; let it pass.
        await pilot.pause(0.5)

    return run_before


@pytest.mark.parametrize("name", list(SCREENS))
def test_screen(name: str, make_services: Services, snap_compare) -> None:  # type: ignore[no-untyped-def]
    app = KioskApp(make_services())
    assert snap_compare(app, terminal_size=(100, 30), run_before=settled(name))


PATIENT_SCREENS = (
    "welcome", "who", "about", "education", "quiz", "screening", "decision", "sign", "done"
)  # fmt: skip


def shown_directly(name: str, *, larger: bool) -> Callable[[Pilot[None]], Awaitable[None]]:
    """Each patient screen reached directly (tests/steps.py), in either view."""

    async def run_before(pilot: Pilot[None]) -> None:
        await driver.ready(pilot)
        if larger:
            await pilot.press("f2")
        if name != "welcome":
            await steps.show(pilot, name)
        if name == "done":
            pilot.app.screen.countdown.pause()  # type: ignore[attr-defined]
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("view", ["standard", "larger"])
@pytest.mark.parametrize("name", PATIENT_SCREENS)
def test_patient_screen_at_80x24(
    name: str, view: str, make_services: Services, snap_compare
) -> None:  # type: ignore[no-untyped-def]
    """Every patient screen at the smallest supported size, in both views."""
    app = KioskApp(make_services())
    run_before = shown_directly(name, larger=view == "larger")
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
