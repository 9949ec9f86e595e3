"""Each patient screen at 80x24, reached directly (tests/steps.py builds the session): what
a keyboard-only patient sees, which key does what, and nothing cut off or dead.

One test per defect of issue 8; none walks the whole path (test_patient_path.py does).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.widgets import Button, Checkbox, Input, Select, Static

from consent_records.model import Decision
from kiosk.app import KioskApp
from kiosk.services import KioskServices
from kiosk.session import typed_signature_label
from screens.answers import QuestionBlock
from tests import driver, steps
from tests.driver import (
    AboutScreen,
    DecisionScreen,
    DoneScreen,
    EducationScreen,
    QuizScreen,
    ScreeningScreen,
    SignScreen,
    WelcomeScreen,
    WhoScreen,
)
from tests.steps import flat, screen_text

SIZE = (80, 24)
Services = Callable[..., KioskServices]


# -- Done ---------------------------------------------------------------------------------


async def test_done_scrolls_to_the_last_warning_sign_with_the_reference_code_in_view(
    make_services: Services,
) -> None:
    services = make_services()
    app = KioskApp(services)
    async with app.run_test(size=SIZE) as pilot:
        await steps.show(pilot, "done")
        screen = app.screen
        assert isinstance(screen, DoneScreen)
        bundle = screen.session.shown
        last_sign = bundle.warning_signs_by_urgency()[max(bundle.warning_signs_by_urgency())]
        screen.remaining = 5  # nearly out of time, but reading: scrolling gives it all back
        seen = flat(screen_text(pilot))
        for _ in range(20):  # Down and Page Down read on; they never end the screen
            if last_sign[-1].text in flat(screen_text(pilot)):
                break
            await pilot.press("pagedown")
            await pilot.pause()
            seen += " " + flat(screen_text(pilot))
        text = screen_text(pilot)
        assert isinstance(app.screen, DoneScreen), "a scrolling key ended the Done screen"
        assert screen.remaining >= services.settings.done_return_seconds - 2
        assert last_sign[-1].text in flat(text)
        assert steps.REFERENCE in text, "the reference code scrolled away"
        for sign in bundle.warning_signs:
            assert sign.text in seen, f"never shown whole: {sign.text}"
        # The countdown is one line of its own, whatever the number.
        countdown = [line for line in text.splitlines() if "closes by itself in" in line]
        assert len(countdown) == 1 and countdown[0].strip().endswith("s."), text


async def test_done_ends_with_finish_and_says_what_happens_next_for_each_decision(
    make_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # However slow the machine, the keys below come "at once" after the screen appeared.
    monkeypatch.setattr(DoneScreen, "FINISH_AFTER_SECONDS", 3600.0)
    app = KioskApp(make_services())
    async with app.run_test(size=SIZE) as pilot:
        seen: dict[Decision, str] = {}
        for decision in Decision:
            session = await steps.show(pilot, "done", decision=decision)
            option = next(o for o in session.shown.decisions if o.id.value == decision.value)
            assert option.next_steps
            seen[decision] = flat(screen_text(pilot))
            assert flat(option.next_steps)[:60] in seen[decision]
            assert "Finish" in seen[decision]
        assert len(set(seen.values())) == 3, "the Done screen reads the same for every decision"
        await pilot.press("x", "down", "up", "tab", "shift+tab", "enter")
        await pilot.pause()
        # Still there: an Enter at once is one meant for "Sign and finish", pressed twice.
        assert isinstance(app.screen, DoneScreen)
        app.screen._shown_at -= DoneScreen.FINISH_AFTER_SECONDS  # a moment later
        await pilot.press("enter")  # Enter: Finish (the hint line says so)
        await pilot.pause()
        assert isinstance(app.screen, WelcomeScreen)


# -- Quiz ---------------------------------------------------------------------------------


async def test_quiz_feedback_shows_beside_the_question_and_focus_goes_back_to_the_first(
    make_services: Services,
) -> None:
    app = KioskApp(make_services())
    async with app.run_test(size=SIZE) as pilot:
        await steps.show(pilot, "quiz", index=1)  # the question with four options
        screen = app.screen
        assert isinstance(screen, QuizScreen)
        question = screen.question
        assert len(question.options) == 4
        text = flat(screen_text(pilot))
        for option in question.options:
            assert option.text in text, f"option hidden at 80x24: {option.text}"
        wrong = [o for o in question.options if o.id != question.correct][-1]
        await pilot.click(f"#option-{wrong.id}")
        await pilot.pause()
        text = flat(screen_text(pilot))
        assert flat(question.explanation) in text, "the explanation is below the fold"
        assert "Please choose another answer." in text
        right = question.option(question.correct).text
        assert right not in str(screen.query_one("#feedback", Static).render())
        first = next(b for b in screen.query(".option").results(Button) if not b.disabled)
        assert app.focused is first, "focus did not go back to the first option"
        assert str(screen.query_one(f"#option-{wrong.id}", Button).label).startswith("✗")
        # The arrow keys move between the options (never scroll the page instead).
        await pilot.press("down")
        assert app.focused is not first and app.focused.has_class("option")  # type: ignore[union-attr]
        await pilot.press("up")
        assert app.focused is first
        assert all(option.text in flat(screen_text(pilot)) for option in question.options)


# -- Signing ------------------------------------------------------------------------------


async def test_typed_signature_choice_is_in_view_and_its_error_quotes_it_then_clears(
    make_services: Services,
) -> None:
    app = KioskApp(make_services())
    async with app.run_test(size=SIZE) as pilot:
        session = await steps.show(pilot, "sign")
        screen = app.screen
        assert isinstance(screen, SignScreen)
        label = typed_signature_label()
        assert label in flat(screen_text(pilot)), "the keyboard-only choice is cut or hidden"
        await driver.type_text(pilot, session.signer_name)
        await pilot.press("tab")  # from the name, Tab reaches the choice next
        assert app.focused is screen.query_one("#typed-only", Checkbox)
        await pilot.click("#continue")
        await pilot.pause()
        error = driver.field_error(pilot, "pad")
        assert f"“{label}”" in error, error
        screen.query_one("#typed-only").focus()
        await pilot.press("space")
        await pilot.pause()
        assert not screen.query_one("#error-pad").display, "the error stayed after ticking"
        assert driver.message(pilot) == ""


# -- Too small ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(60, 20), (79, 30), (100, 23)])
async def test_below_80x24_every_screen_says_the_window_is_too_small(
    make_services: Services, size: tuple[int, int]
) -> None:
    app = KioskApp(make_services())
    async with app.run_test(size=size) as pilot:
        await driver.ready(pilot)
        assert "window is too small" in flat(screen_text(pilot))
        assert f"({size[0]} columns by {size[1]} lines)" in flat(screen_text(pilot))
        await pilot.press("enter")  # nothing to see, so nothing happens
        await pilot.pause()
        assert isinstance(app.screen, WelcomeScreen)
        # Every screen at one size; the other sizes (too narrow, too short) on two of them.
        every = ("who", "about", "education", "quiz", "screening", "decision", "sign")
        for step in every if size == (60, 20) else ("quiz",):
            await steps.show(pilot, step)
            assert "window is too small" in flat(screen_text(pilot)), step
        await steps.show(pilot, "done")
        assert "window is too small" in flat(screen_text(pilot))
        # Made big enough again, everything is back.
        await pilot.resize_terminal(*SIZE)
        await pilot.pause()
        assert "window is too small" not in flat(screen_text(pilot))
        assert steps.REFERENCE in screen_text(pilot)


async def test_welcome_at_80x24_shows_press_enter(make_services: Services) -> None:
    app = KioskApp(make_services())
    async with app.run_test(size=SIZE) as pilot:
        await driver.ready(pilot)
        text = flat(screen_text(pilot))
        assert "Press Enter or touch Start to begin." in text
        assert "window is too small" not in text


# -- The next key -------------------------------------------------------------------------


async def test_every_screen_has_a_hint_line_and_only_visible_focus_stops(
    make_services: Services,
) -> None:
    """Tab through every stop of every screen: each one is a control that shows focus
    (never a bare scroll container), and the hint line names the keys for it."""
    visible_focus = (Button, Input, Select, Checkbox, QuestionBlock)
    app = KioskApp(make_services())
    async with app.run_test(size=SIZE) as pilot:
        for step in ("who", "about", "education", "quiz", "screening", "decision", "sign"):
            await steps.show(pilot, step)
            seen = []
            for _ in range(8):
                focused = app.focused
                assert focused is not None, f"{step}: nothing has focus"
                seen.append(focused)
                assert isinstance(focused, visible_focus) or focused.id in (
                    "who",
                    "choice",
                    "reader",
                    "pad",
                ), f"{step}: focus on {focused!r}, which does not show it"
                hint = str(app.screen.query_one("#key-hint", Static).render())
                assert "Tab" in hint or "Enter" in hint, f"{step}: hint {hint!r}"
                await pilot.press("tab")
            # Tab from the page reaches the primary action before Back.
            ids = [w.id for w in seen]
            if "back" in ids and "continue" in ids:
                assert ids.index("continue") < ids.index("back"), f"{step}: {ids}"


async def test_enter_continues_once_a_section_is_read(make_services: Services) -> None:
    app = KioskApp(make_services())
    async with app.run_test(size=SIZE) as pilot:
        await steps.show(pilot, "education", index=0)
        screen = app.screen
        assert isinstance(screen, EducationScreen)
        await pilot.press("enter")  # not read yet: Enter does nothing
        await pilot.pause()
        assert app.screen is screen
        await pilot.press("end")
        await pilot.pause()
        assert "Enter" in str(screen.query_one("#scroll-hint", Static).render())
        assert "Enter: Continue" in str(screen.query_one("#key-hint", Static).render())
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, EducationScreen) and app.screen is not screen
        assert app.screen.position.index == 1


async def test_enter_continues_once_the_physiotherapist_is_chosen(
    make_services: Services,
) -> None:
    app = KioskApp(make_services())
    async with app.run_test(size=SIZE) as pilot:
        await steps.show(pilot, "about")
        screen = app.screen
        assert isinstance(screen, AboutScreen)
        assert screen.query_one("#dob-year", Input).placeholder == "", "looks filled in"
        screen.query_one("#full-name", Input).value = "Siobhán Haddad"
        for part, value in (("year", "1969"), ("month", "7"), ("day", "4")):
            screen.query_one(f"#dob-{part}", Input).value = value
        screen.query_one("#physio").focus()
        await pilot.press("enter", "down", "enter")
        await pilot.pause()
        assert app.focused is screen.query_one("#continue")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, EducationScreen)


async def test_health_questions_start_on_the_question_with_no_answer_chosen(
    make_services: Services,
) -> None:
    app = KioskApp(make_services())
    async with app.run_test(size=SIZE) as pilot:
        session = await steps.show(pilot, "screening")
        screen = app.screen
        assert isinstance(screen, ScreeningScreen)
        questions = session.shown.screening
        assert isinstance(app.focused, QuestionBlock)
        assert app.focused.id == f"q-{questions[0].id}"
        assert not screen.query(".answer.-chosen")
        assert "Y: Yes" in str(screen.query_one("#key-hint", Static).render())
        await pilot.press("n")
        await pilot.pause()
        chosen = screen.query_one(f"#a-{questions[0].id}--no", Button)
        assert str(chosen.label).startswith("✓"), "chosen is shown by colour alone"
        assert "reverse" not in str(chosen.rich_style), "chosen looks like focus"
        # Focus moved to the next question itself, not onto one of its answers.
        assert app.focused is screen.query_one(f"#q-{questions[1].id}")
        # Up and Down move between questions; Tab reaches the answers, Left and Right
        # move between them.
        await pilot.press("up")
        assert app.focused is screen.query_one(f"#q-{questions[0].id}")
        await pilot.press("down")
        assert app.focused is screen.query_one(f"#q-{questions[1].id}")
        await pilot.press("tab")
        assert app.focused is screen.query_one(f"#a-{questions[1].id}--yes")
        await pilot.press("right")
        assert app.focused is screen.query_one(f"#a-{questions[1].id}--no")
        assert "reverse" in str(app.focused.rich_style), "focus is not visible"  # type: ignore[union-attr]


async def test_errors_go_once_fixed_and_a_full_name_field_says_so(
    make_services: Services,
) -> None:
    app = KioskApp(make_services())
    async with app.run_test(size=SIZE) as pilot:
        await steps.show(pilot, "about")
        screen = app.screen
        assert isinstance(screen, AboutScreen)
        await pilot.click("#continue")
        await pilot.pause()
        assert screen.query_one("#error-full_name").display
        assert screen.query_one("#error-date_of_birth").display
        screen.query_one("#full-name").focus()
        await driver.type_text(pilot, "Noé Tremblay")
        await pilot.pause()
        assert not screen.query_one("#error-full_name").display, "the fixed error stayed"
        assert screen.query_one("#error-date_of_birth").display, "an unfixed error went"
        name = screen.query_one("#full-name", Input)
        name.value = "N" * 119
        await pilot.press("o")
        await pilot.pause()
        assert len(name.value) == 120
        assert "This box is full" in flat(screen_text(pilot))
        await pilot.press("backspace")
        await pilot.pause()
        assert "This box is full" not in flat(screen_text(pilot))


async def test_the_decision_error_quotes_the_real_choice(make_services: Services) -> None:
    app = KioskApp(make_services())
    async with app.run_test(size=SIZE) as pilot:
        session = await steps.show(pilot, "decision")
        screen = app.screen
        assert isinstance(screen, DecisionScreen)
        choice = screen.query_one("#choice")
        choice.focus()
        await pilot.press("enter")  # the first choice: agree, with no statement ticked
        await pilot.click("#continue")
        await pilot.pause()
        discuss = next(d.text for d in session.shown.decisions if d.id.value == "discuss")
        assert f"“{discuss.rstrip('.')}”" in driver.message(pilot)
        assert app.focused is screen.query_one(".statement"), "focus stayed on Continue"


# -- Privacy between patients (issue 6) ---------------------------------------------------


async def test_back_from_the_first_step_asks_before_erasing(make_services: Services) -> None:
    app = KioskApp(make_services())
    async with app.run_test(size=SIZE) as pilot:
        session = await steps.show(pilot, "who")
        assert isinstance(app.screen, WhoScreen)
        app.copy_to_clipboard("Renée Bélanger")
        await pilot.click("#back")
        await pilot.pause()
        assert "Leave and erase your answers?" in flat(screen_text(pilot))
        await pilot.press("enter")  # focus starts on "No, stay"
        await pilot.pause()
        assert isinstance(app.screen, WhoScreen) and app.session is session
        await pilot.click("#back")
        await pilot.pause()
        await pilot.click("#leave-erase")
        await pilot.pause()
        assert isinstance(app.screen, WelcomeScreen)
        assert app.session is None
        assert app.clipboard == "", "the next patient could paste the last one's name"


async def test_copying_never_reaches_the_terminal_clipboard(make_services: Services) -> None:
    app = KioskApp(make_services())
    async with app.run_test(size=SIZE) as pilot:
        await steps.show(pilot, "about")
        written: list[str] = []
        assert app._driver is not None
        original = app._driver.write
        app._driver.write = lambda data: (written.append(data), original(data))[1]  # type: ignore[method-assign]
        screen = app.screen
        name = screen.query_one("#full-name", Input)
        name.value = "Renée Bélanger"
        name.select_all()
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert app.clipboard == "Renée Bélanger"  # ctrl+v inside the kiosk still works
        assert not any("\x1b]52" in data for data in written), "sent to the terminal (OSC 52)"


# -- Reading time -------------------------------------------------------------------------


async def test_time_on_screen_is_recorded_even_when_a_section_fits(
    make_services: Services,
) -> None:
    """At 120x40 a section fits at once and counts as reaching its end; the record says how
    long it was on screen, so the physiotherapist can judge."""
    now = [1000.0]
    app = KioskApp(make_services())
    async with app.run_test(size=(120, 60)) as pilot:
        await driver.ready(pilot)
        session = app.services.new_session()
        session.monotonic = lambda: now[0]
        steps.fill_session(session, "education")
        app.session = session
        from kiosk.session import Position, Step

        app._show(Position(Step.EDUCATION, 0))
        await pilot.pause()
        await pilot.pause()
        section = session.shown.sections[0]
        assert session.section_done(section.id), "the section fits: its end is reached"
        now[0] += 42.0
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, EducationScreen) and app.screen.position.index == 1
        steps.fill_session(session, "sign")
        record = session.build_record(steps.typed_signature(session))
        seen = next(e for e in record.engagement if e.section_id == section.id)
        assert seen.seconds_on_screen == pytest.approx(42.0, abs=0.2)
        assert seen.reached_end


async def test_quick_typing_answers_each_question_once(make_services: Services) -> None:
    """Keys typed faster than focus moves (a quick typist, a busy machine) each count."""
    from textual import events

    app = KioskApp(make_services())
    async with app.run_test(size=SIZE) as pilot:
        session = await steps.show(pilot, "screening")
        for _ in range(5):  # all queued before the first is handled
            app.post_message(events.Key("n", "n"))
        await pilot.pause()
        await pilot.pause()
        questions = [q.id for q in session.shown.screening]
        assert [q for q in questions if q in session.screening] == questions[:5]
        assert app.focused is app.screen.query_one(f"#q-{questions[5]}")
        await steps.show(pilot, "quiz", index=1)
        for _ in range(2):
            app.post_message(events.Key("down", None))
        await pilot.pause()
        await pilot.pause()
        assert app.focused is app.screen.query(".option")[2], "an arrow key was lost"
