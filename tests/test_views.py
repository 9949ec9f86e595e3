"""The larger, clearer view (F2 or the button on every screen): high contrast that is
measured, touch targets that are measured, remembered for one patient only.

Contrast is computed the way WCAG 2 defines it (relative luminance of sRGB colours) from
what the screens actually draw in the high-contrast theme: every character of text against
its own background, at 80x24.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rich.color import Color
from rich.console import Console
from rich.segment import Segment
from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, Input, RadioButton, Static

from kiosk.app import KioskApp
from kiosk.services import KioskServices
from screens.theme import HIGH_CONTRAST_THEME, STANDARD_THEME
from tests import driver, steps

Services = Callable[..., KioskServices]
SIZE = (80, 24)
SCREENS = ("welcome", "who", "about", "education", "quiz", "screening", "decision", "sign", "done")


def luminance(color: Color) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""
    triplet = color.get_truecolor()

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(v) for v in triplet)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: Color, b: Color) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_contrast_formula_matches_wcag_s_examples() -> None:
    assert contrast(Color.parse("#ffffff"), Color.parse("#000000")) == pytest.approx(21.0)
    assert contrast(Color.parse("#777777"), Color.parse("#ffffff")) == pytest.approx(4.48, abs=0.01)
    assert contrast(Color.parse("#595959"), Color.parse("#ffffff")) == pytest.approx(7.0, abs=0.01)


def _is_text(char: str) -> bool:
    """Letters, digits and punctuation; not frames, blocks, braille dots or spaces."""
    code = ord(char)
    return not (char.isspace() or 0x2500 <= code <= 0x259F or 0x2800 <= code <= 0x28FF)


def text_cells(pilot: Pilot[Any]) -> list[tuple[str, Color, Color, bool]]:
    """(character, colour, background, dim) for every character of text on screen."""
    app = pilot.app
    console = Console(width=SIZE[0], height=SIZE[1], force_terminal=True,
                      color_system="truecolor", legacy_windows=False)  # fmt: skip
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    cells = []
    for segment in console.render(update, console.options):
        text, style, control = segment
        if control or style is None:
            continue
        fg = style.color or Color.parse("#ffffff")
        bg = style.bgcolor or Color.parse("#000000")
        if style.reverse:
            fg, bg = bg, fg
        for char in Segment(text).text:
            if _is_text(char):
                cells.append((char, fg, bg, bool(style.dim)))
    return cells


def small_targets(pilot: Pilot[Any]) -> dict[str, tuple[int, int]]:
    """Buttons and choices on screen smaller than 12 columns by 3 rows."""
    screen = pilot.app.screen
    targets = [*screen.query(Button), *screen.query(Checkbox), *screen.query(RadioButton)]
    assert targets
    return {
        f"{type(t).__name__}#{t.id}": (t.outer_size.width, t.outer_size.height)
        for t in targets
        if t.display and (t.outer_size.height < 3 or t.outer_size.width < 12)
    }


async def test_the_larger_clearer_view_reads_at_7_to_1_with_big_targets_everywhere(
    make_services: Services,
) -> None:
    """F2 on Welcome; every screen after keeps the view, shows the switch, draws every
    text at 7:1 or more (AAA) and every button or choice at least 12x3."""
    app = KioskApp(make_services())
    async with app.run_test(size=SIZE) as pilot:
        await driver.ready(pilot)
        await pilot.press("f2")
        await pilot.pause()
        assert app.theme == HIGH_CONTRAST_THEME and app.has_class("-easy-read")
        low: dict[str, dict[tuple[str, str], float]] = {}
        small: dict[str, dict[str, tuple[int, int]]] = {}
        for name in SCREENS:
            if name != "welcome":
                await steps.show(pilot, name)
            assert app.easy_view, "the view stays as chosen from screen to screen"
            toggle = app.screen.query_one("#view-toggle", Button)
            assert "Standard view" in str(toggle.label) and toggle.region.bottom <= SIZE[1]
            cells = text_cells(pilot)
            assert len(cells) > 100, f"{name} shows its text"
            for _char, fg, bg, dim in cells:
                ratio = 0.0 if dim else contrast(fg, bg)
                if ratio < 7.0:
                    key = (fg.get_truecolor().hex, bg.get_truecolor().hex)
                    low.setdefault(name, {})[key] = round(ratio, 2)
            if found := small_targets(pilot):
                small[name] = found
        assert low == {}, f"text colour/background pairs under 7:1 (0 = dim): {low}"
        assert small == {}, f"targets smaller than 12x3: {small}"


async def test_every_button_and_choice_is_a_touch_target_in_the_standard_view(
    make_services: Services,
) -> None:
    app = KioskApp(make_services())
    async with app.run_test(size=SIZE) as pilot:
        await driver.ready(pilot)
        small = {}
        for name in SCREENS:
            if name != "welcome":
                await steps.show(pilot, name)
            if found := small_targets(pilot):
                small[name] = found
        assert small == {}, f"targets smaller than 12x3: {small}"


async def test_the_view_is_one_patient_s_choice_and_works_from_a_field(
    make_services: Services,
) -> None:
    """The button and F2 (even while typing in a field) switch; the next patient (after
    the session is wiped) starts with the standard view."""
    app = KioskApp(make_services())
    async with app.run_test(size=SIZE) as pilot:
        await steps.show(pilot, "about")
        assert app.screen.focused is not None and app.screen.focused.id == "full-name"
        await pilot.press("f2")
        await pilot.pause()
        assert app.easy_view and app.theme == HIGH_CONTRAST_THEME
        assert app.screen.query_one("#full-name", Input).value == "", "F2 typed nothing"
        assert "F2: standard view" in str(app.screen.query_one("#key-hint", Static).render())
        await pilot.press("f2")
        await pilot.pause()
        assert not app.easy_view and app.theme == STANDARD_THEME
        assert not app.has_class("-easy-read")
        await pilot.click("#view-toggle")
        await pilot.pause()
        assert app.easy_view

        app.start_over()  # what the idle wipe, Leave and Finish do
        await pilot.pause()
        assert not app.easy_view and app.theme == STANDARD_THEME
        toggle = app.screen.query_one("#view-toggle", Button)
        assert "Bigger, clearer" in str(toggle.label)
