"""Drive the kiosk through Pilot the way a patient would: keys, clicks and mouse strokes."""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, Input

from kiosk.app import KioskApp
from screens.answers import DecisionScreen, ScreeningScreen
from screens.finish import DoneScreen, SignScreen
from screens.intake import AboutScreen, SubstituteScreen, WhoScreen
from screens.learning import EducationScreen, QuizScreen
from screens.welcome import WelcomeScreen


def screen_name(pilot: Pilot[None]) -> str:
    return type(pilot.app.screen).__name__


def message(pilot: Pilot[None]) -> str:
    return str(pilot.app.screen.query_one("#message").render())


def field_error(pilot: Pilot[None], field: str) -> str:
    return str(pilot.app.screen.query_one(f"#error-{field}").render())


async def type_text(pilot: Pilot[None], text: str) -> None:
    """Type ``text`` key by key into the focused widget."""
    for char in text:
        await pilot.press("space" if char == " " else char)


async def fill(pilot: Pilot[None], selector: str, text: str) -> None:
    """Click a field, clear it and type into it."""
    await pilot.click(selector)
    widget = pilot.app.screen.query_one(selector, Input)
    widget.value = ""
    await type_text(pilot, text)


async def ready(pilot: Pilot[None]) -> None:
    """Wait until the kiosk has loaded its content and opened the store (the start-up
    worker begins once Welcome has been drawn)."""
    app = pilot.app
    assert isinstance(app, KioskApp)
    for _ in range(500):
        await app.workers.wait_for_complete()
        await pilot.pause()
        if app.ready:
            break
    assert isinstance(pilot.app.screen, WelcomeScreen)
    assert not pilot.app.screen.query_one("#continue", Button).disabled


async def start(pilot: Pilot[None], *, who: str = "patient") -> None:
    """Press Start, then say who is filling the form in (keyboard: arrows, Enter)."""
    await ready(pilot)
    await pilot.press("enter")
    await pilot.pause()
    await choose_who(pilot, who)
    assert isinstance(pilot.app.screen, AboutScreen)


async def choose_who(pilot: Pilot[None], who: str) -> None:
    screen = pilot.app.screen
    assert isinstance(screen, WhoScreen)
    if who == "substitute":
        await pilot.press("down")
    await pilot.press("enter")  # choose; focus moves to Continue
    await pilot.pause()
    await pilot.press("enter")  # continue
    await pilot.pause()


async def about(
    pilot: Pilot[None],
    name: str | None,
    year: str,
    month: str,
    day: str,
    *,
    chart: str = "",
    physio_index: int = 0,
) -> None:
    """Fill About you with the keyboard: type, tab between fields, choose from the list."""
    screen = pilot.app.screen
    assert isinstance(screen, AboutScreen)
    if name is not None:
        await fill(pilot, "#full-name", name)
    await fill(pilot, "#dob-year", year)
    await fill(pilot, "#dob-month", month)
    await fill(pilot, "#dob-day", day)
    if chart:
        await fill(pilot, "#chart", chart)
    screen.query_one("#physio").focus()
    await pilot.press("enter")  # open the list
    await pilot.pause()
    for _ in range(physio_index + 1):
        await pilot.press("down")
    await pilot.press("enter")
    await pilot.pause()
    await pilot.click("#continue")
    await pilot.pause()


async def read_all_sections(pilot: Pilot[None]) -> list[str]:
    """Scroll each section to its end and continue; return the section ids read."""
    read = []
    while isinstance(pilot.app.screen, EducationScreen):
        screen = pilot.app.screen
        read.append(screen.section.id)
        await pilot.press("end")
        await pilot.pause()
        assert not screen.query_one("#continue", Button).disabled
        await pilot.click("#continue")
        await pilot.pause()
    return read


async def answer_quiz(pilot: Pilot[None], wrong_first: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """Answer each question by clicking; for ids in ``wrong_first`` pick a wrong one first."""
    while isinstance(pilot.app.screen, QuizScreen):
        question = pilot.app.screen.question
        if question.id in wrong_first:
            wrong = next(o.id for o in question.options if o.id != question.correct)
            await pilot.click(f"#option-{wrong}")
            await pilot.pause()
            assert pilot.app.screen.query_one("#continue", Button).disabled
        await pilot.click(f"#option-{question.correct}")
        await pilot.pause()
        await pilot.click("#continue")
        await pilot.pause()


async def answer_screening(pilot: Pilot[None], answers: dict[str, str] | None = None) -> None:
    """Answer every question (default No) by clicking its button, then continue."""
    screen = pilot.app.screen
    assert isinstance(screen, ScreeningScreen)
    answers = answers or {}
    for question in screen.session.shown.screening:
        value = answers.get(question.id, "no")
        button = screen.query_one(f"#a-{question.id}--{value}", Button)
        button.scroll_visible(animate=False)
        await pilot.pause()
        await pilot.click(f"#a-{question.id}--{value}")
    await pilot.click("#continue")
    await pilot.pause()


async def decide(pilot: Pilot[None], decision: str, *, confirm_all: bool = True) -> None:
    screen = pilot.app.screen
    assert isinstance(screen, DecisionScreen)
    if confirm_all:
        for box in screen.query(".statement"):
            box.focus()
            await pilot.press("space")
    # The choices are a radio set: focus it, move with the arrow keys, Enter to choose.
    choice = screen.query_one("#choice")
    choice.focus()
    await pilot.pause()
    ids = [button.id for button in choice.query("RadioButton")]
    for _ in range(ids.index(f"d-{decision}")):
        await pilot.press("down")
    await pilot.press("enter")
    await pilot.pause()
    await pilot.click("#continue")
    await pilot.pause()


async def draw_signature(pilot: Pilot[None]) -> None:
    """Two strokes on the pad with the mouse."""
    pilot.app.screen.query_one("#pad").scroll_visible(animate=False)
    await pilot.pause()
    await pilot.mouse_down("#pad", offset=(4, 3))
    for x in range(5, 22):
        await pilot.hover("#pad", offset=(x, 2 + (x % 3)))
    await pilot.mouse_up("#pad", offset=(22, 3))
    await pilot.mouse_down("#pad", offset=(25, 2))
    for x in range(26, 34):
        await pilot.hover("#pad", offset=(x, 4))
    await pilot.mouse_up("#pad", offset=(34, 4))
    await pilot.pause()


async def sign(pilot: Pilot[None], typed: str, *, drawn: bool = True) -> None:
    """Type the name, draw (or choose the typed signature) and press Sign and finish."""
    screen = pilot.app.screen
    assert isinstance(screen, SignScreen)
    await fill(pilot, "#typed-name", typed)
    if drawn:
        await draw_signature(pilot)
    else:
        typed_only = screen.query_one("#typed-only", Checkbox)
        if not typed_only.value:
            typed_only.focus()
            await pilot.press("space")
    await pilot.click("#continue")
    await settle(pilot)


async def settle(pilot: Pilot[None]) -> None:
    """Wait for the save worker and the screen change after it."""
    await pilot.pause()
    app = pilot.app
    assert isinstance(app, KioskApp)
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


__all__ = [
    "AboutScreen",
    "DecisionScreen",
    "DoneScreen",
    "EducationScreen",
    "QuizScreen",
    "ScreeningScreen",
    "SignScreen",
    "SubstituteScreen",
    "WelcomeScreen",
    "WhoScreen",
]


async def jump_to(
    pilot: Pilot[None],
    step: str,
    index: int = 0,
    *,
    name: str = "Renée Bélanger-Côté",
    year: str = "1980",
    month: str = "4",
    day: str = "15",
    chart: str = "C-12345",
    who: str = "patient",
    substitute: tuple[str, str] = ("Martine Bélanger", "Mother"),
    wrong_first: frozenset[str] | set[str] = frozenset(),
    screening: dict[str, str] | None = None,
) -> None:
    """Show ``step`` directly, with a session answered up to it through the session's own
    rules (the calls each earlier screen makes), instead of walking every screen in Pilot.

    A few tests still walk the whole path with keys and clicks; the others start here, so
    the suite stays fast. Sections count as read to their end; the quiz is answered right
    (after one wrong try for the ids in ``wrong_first``); screening answers default to No.
    """
    from kiosk.session import Position, Step, parse_about, parse_substitute

    app = pilot.app
    assert isinstance(app, KioskApp)
    await wait_for(pilot, lambda: app.ready)
    services = app.services
    session = services.new_session()
    app.session = session
    target = Step(step)
    order = list(Step)

    def before(s: Step) -> bool:
        return order.index(s) < order.index(target)

    if before(Step.ABOUT):
        session.set_filled_in_by(who)  # type: ignore[arg-type]
    if before(Step.EDUCATION):
        physios = services.settings.physiotherapists
        session.set_about(
            parse_about(
                full_name=name,
                year=year,
                month=month,
                day=day,
                chart_number=chart,
                physiotherapist_id=physios[0].id,
                today=session.clock().date(),
                known_physiotherapists={p.id for p in physios},
                voice=session.voice,
            )
        )
        if session.needs_substitute:
            session.substitute = parse_substitute(*substitute)
    bundle = session.content.bundle
    sections = bundle.sections if before(Step.QUIZ) else bundle.sections[:index]
    if before(Step.EDUCATION):
        sections = []
    for section in sections:
        session.enter_section(section.id)
        session.section_end_reached(section.id)
        session.leave_section(section.id)
    questions = bundle.quiz if before(Step.SCREENING) else bundle.quiz[:index]
    if not before(Step.QUIZ):
        questions = []
    for question in questions:
        if question.id in wrong_first:
            wrong = next(o.id for o in question.options if o.id != question.correct)
            session.answer_quiz(question.id, wrong)
        session.answer_quiz(question.id, question.correct)
    if before(Step.DECISION):
        from consent_records.model import ScreeningAnswerValue

        answers = screening or {}
        for q in session.shown.screening:
            session.screening[q.id] = ScreeningAnswerValue(answers.get(q.id, "no"))
    app._show(Position(target, index))
    await pilot.pause()
    screens = {
        "who": WhoScreen, "about": AboutScreen, "substitute": SubstituteScreen,
        "education": EducationScreen, "quiz": QuizScreen, "screening": ScreeningScreen,
        "decision": DecisionScreen, "sign": SignScreen,
    }  # fmt: skip
    expected = screens.get(target.value)
    assert expected is not None, f"jump_to cannot show {step!r} (the Done screen needs a save)"
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, expected))


async def wait_for(pilot: Pilot[None], condition: object, seconds: float = 10.0) -> None:
    """Pause until ``condition()`` holds (a condition, never a fixed sleep)."""
    import time as _time

    deadline = _time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if _time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        await pilot.pause(0.02)
