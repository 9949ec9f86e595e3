"""The whole patient path through the real app (Pilot), with the stored record and PDF."""

from __future__ import annotations

import gc
import io
import threading
import weakref
from collections.abc import Callable
from datetime import timedelta

import pytest
from pypdf import PdfReader
from textual import events
from textual.widgets import Button, Input, RadioButton, Static

from consent_records.base import StoreUnavailable
from consent_records.model import (
    Decision,
    RecordStatus,
    ScreeningAnswerValue,
    SignatureMethod,
    StoredRecord,
)
from kiosk.app import KioskApp
from kiosk.services import KioskServices
from tests import driver
from tests.conftest import FIXED_NOW
from tests.driver import (
    AboutScreen,
    DoneScreen,
    EducationScreen,
    ScreeningScreen,
    SignScreen,
    SubstituteScreen,
    WelcomeScreen,
    WhoScreen,
)

SIZE = (100, 30)
Services = Callable[..., KioskServices]


async def gone(pilot, ref: weakref.ref[object], seconds: float = 2.0) -> bool:  # type: ignore[no-untyped-def]
    """Whether nothing refers to ``ref``'s object once the old screen has been removed."""
    for _ in range(int(seconds / 0.1)):
        gc.collect()
        if ref() is None:
            return True
        await pilot.pause(0.1)
    return False


def only_record(services: KioskServices) -> StoredRecord:
    summaries = services.store.recent(10)
    assert len(summaries) == 1, summaries
    return services.store.get(summaries[0].id)


def pdf_text(services: KioskServices, stored: StoredRecord) -> str:
    reader = PdfReader(io.BytesIO(services.render_pdf(stored)))
    return "\n".join(page.extract_text() for page in reader.pages)


async def walk_to_decision(
    pilot, name: str = "Renée Bélanger-Côté", year: str = "1980", wrong_first=frozenset()
) -> None:
    """Show the decision step with a session answered by the session's own rules."""
    await driver.jump_to(
        pilot,
        "decision",
        name=name,
        year=year,
        wrong_first=wrong_first,
        screening={"blood-thinners": "yes", "pregnancy": "not_sure"},
    )


async def walk_to_decision_by_hand(
    pilot, name: str = "Renée Bélanger-Côté", year: str = "1980", wrong_first=frozenset()
) -> None:
    """Every screen with clicks and keys, as a patient would (one test does this)."""
    await driver.start(pilot)
    await driver.about(pilot, name, year, "4", "15", chart="C-12345")
    await driver.read_all_sections(pilot)
    await driver.answer_quiz(pilot, wrong_first=set(wrong_first))
    await driver.answer_screening(pilot, {"blood-thinners": "yes", "pregnancy": "not_sure"})


async def test_agree_with_drawn_signature_and_a_wrong_quiz_answer(make_services: Services) -> None:
    services = make_services()
    app = KioskApp(services)
    async with app.run_test(size=SIZE) as pilot:
        await walk_to_decision_by_hand(pilot, wrong_first={"right-to-stop"})
        await driver.decide(pilot, "agree")
        assert isinstance(app.screen, SignScreen)
        await driver.sign(pilot, "  renée   BÉLANGER-côté ")
        assert isinstance(app.screen, DoneScreen)
        reference = str(app.screen.query_one("#reference").render())
        warning_text = " ".join(str(w.render()) for w in app.screen.query(".warning-sign"))

    stored = only_record(services)
    record = stored.record
    assert record.reference == reference
    assert record.patient.full_name == "Renée Bélanger-Côté"
    assert record.patient.chart_number == "C-12345"
    assert record.patient.age_years == 46
    assert record.decision is Decision.AGREE
    assert stored.status is RecordStatus.AWAITING_PHYSIOTHERAPIST
    assert record.content.sha256 == services.content.sha256
    assert record.content.version == services.content.bundle.version
    # Every section was read to its end, with time on screen recorded.
    assert [e.section_id for e in record.engagement] == [
        s.id for s in services.content.bundle.sections
    ]
    assert all(e.reached_end for e in record.engagement)
    # The first attempt is kept, so the physiotherapist knows what to go over.
    quiz = {q.question_id: q for q in record.quiz}
    assert not quiz["right-to-stop"].first_correct
    assert len(quiz["right-to-stop"].attempts) == 2
    assert record.missed_questions == ["right-to-stop"]
    assert all(q.first_correct for k, q in quiz.items() if k != "right-to-stop")
    # Screening: a Yes and a Not sure become flags with plain reasons.
    assert [f.question_id for f in record.flags] == ["blood-thinners", "pregnancy"]
    assert record.flags[1].answer is ScreeningAnswerValue.NOT_SURE
    assert len(record.statements_confirmed) == len(services.content.bundle.statements)
    signature = record.signature
    assert signature.method is SignatureMethod.DRAWN
    assert len(signature.strokes) == 2 and len(signature.strokes[0]) > 10
    assert signature.typed_name == "renée BÉLANGER-côté"
    assert signature.signed_at.tzinfo is not None
    assert record.kiosk_id == "front-desk-1"
    # The Done screen repeats the warning signs.
    assert services.content.bundle.warning_signs[0].text in warning_text

    text = pdf_text(services, stored)
    assert "Renée Bélanger-Côté" in text
    assert reference in text
    for tier in services.content.bundle.risk_tiers:
        for complication in tier.complications:
            assert complication.name in text.replace("\n", " "), complication.name
    assert "Page 1 of" in text


@pytest.mark.parametrize(
    ("decision", "status"),
    [("decline", RecordStatus.DECLINED), ("discuss", RecordStatus.WANTS_DISCUSSION)],
)
async def test_decline_or_discuss_with_keyboard_only_signature(
    make_services: Services, decision: str, status: RecordStatus
) -> None:
    services = make_services()
    app = KioskApp(services)
    async with app.run_test(size=SIZE) as pilot:
        await walk_to_decision(pilot, name="François Lefèvre")
        # Declining or asking to talk first needs no statements ticked.
        await driver.decide(pilot, decision, confirm_all=False)
        await driver.sign(pilot, "françois lefèvre", drawn=False)
        assert isinstance(app.screen, DoneScreen)
    record = only_record(services).record
    assert record.status is status
    assert record.statements_confirmed == []
    assert record.signature.method is SignatureMethod.TYPED
    assert record.signature.strokes == []


async def test_agree_needs_every_statement(make_services: Services) -> None:
    services = make_services()
    app = KioskApp(services)
    async with app.run_test(size=SIZE) as pilot:
        await walk_to_decision(pilot)
        await driver.decide(pilot, "agree", confirm_all=False)
        assert "tick each statement" in driver.message(pilot)
        assert type(app.screen).__name__ == "DecisionScreen"


async def test_a_parent_fills_it_in_for_a_young_patient(make_services: Services) -> None:
    services = make_services()
    app = KioskApp(services)
    async with app.run_test(size=SIZE) as pilot:
        await driver.start(pilot, who="substitute")
        assert "About the patient" in str(app.screen.query_one(".title").render())
        await driver.about(pilot, "Zoë Ångström", "2012", "3", "9")
        assert isinstance(app.screen, SubstituteScreen)
        await pilot.click("#continue")
        await pilot.pause()
        assert "Please type your full name" in driver.field_error(pilot, "full_name")
        await driver.fill(pilot, "#sdm-name", "Amélie Ångström")
        await driver.fill(pilot, "#sdm-relationship", "mother")
        await pilot.click("#continue")
        await pilot.pause()
        assert isinstance(app.screen, EducationScreen)
        assert "filling this in for the patient" in app.screen.section.markdown()
        await driver.jump_to(
            pilot,
            "screening",
            name="Zoë Ångström",
            year="2012",
            month="3",
            day="9",
            chart="",
            who="substitute",
            substitute=("Amélie Ångström", "mother"),
        )
        assert isinstance(app.screen, ScreeningScreen)
        prompts = " ".join(str(p.render()) for p in app.screen.query(".prompt"))
        assert "Does the patient" in prompts and " you " not in f" {prompts} ".lower()
        await driver.answer_screening(pilot)
        await driver.decide(pilot, "agree")
        # The substitute signs, so the patient's name does not match.
        await driver.sign(pilot, "Zoë Ångström", drawn=False)
        assert isinstance(app.screen, SignScreen)
        assert "does not match" in driver.field_error(pilot, "typed_name")
        await driver.sign(pilot, "amélie ångström", drawn=False)
        assert isinstance(app.screen, DoneScreen)
    record = only_record(services).record
    assert record.patient.age_years == 14
    assert record.substitute is not None
    assert record.substitute.full_name == "Amélie Ångström"
    assert record.substitute.relationship == "mother"
    assert record.signature.signer == "substitute"
    (flag,) = [f for f in record.flags if f.question_id == "young-patient"]
    assert "Aged 14" in flag.reason and "mother" in flag.reason


async def test_a_young_patient_may_fill_it_in_themselves(make_services: Services) -> None:
    """Never turned away nor forced into the substitute path: flagged for capacity."""
    services = make_services(province="ON")
    app = KioskApp(services)
    async with app.run_test(size=SIZE) as pilot:
        await driver.start(pilot)
        await driver.about(pilot, "Zoë Ångström", "2011", "3", "9")
        assert isinstance(app.screen, EducationScreen)
        await driver.jump_to(
            pilot, "decision", name="Zoë Ångström", year="2011", month="3", day="9", chart=""
        )
        await driver.decide(pilot, "discuss", confirm_all=False)
        await driver.sign(pilot, "Zoë Ångström", drawn=False)
        assert isinstance(app.screen, DoneScreen)
        done = " ".join(str(w.render()) for w in app.screen.query(Static))
    record = only_record(services).record
    assert record.substitute is None and record.signature.signer == "patient"
    (flag,) = [f for f in record.flags if f.question_id == "young-patient"]
    assert "Aged 15, under the age of majority in Ontario (18)" in flag.reason
    assert "capacity is presumed" in flag.reason
    assert record.content.province == "ON"
    # Done: what happens next for this choice, the take-home copy, signs by urgency.
    bundle = services.content.bundle
    assert bundle.decisions[2].next_steps and bundle.decisions[2].next_steps.split(".")[0] in done
    assert "Ask the front desk for a printed copy" in done
    assert done.index("Call 911 now") < done.index("Call the clinic")


@pytest.mark.parametrize(
    ("year", "month", "day", "expected"),
    [
        ("1980", "2", "30", "does not exist"),
        ("1980", "13", "1", "does not exist"),
        ("2030", "1", "1", "cannot be in the future"),
        ("1980", "", "1", "fill in the year, month and day"),
    ],
)
async def test_impossible_date_of_birth_is_explained(
    make_services: Services, year: str, month: str, day: str, expected: str
) -> None:
    app = KioskApp(make_services())
    async with app.run_test(size=SIZE) as pilot:
        await driver.start(pilot)
        await driver.about(pilot, "Noé Tremblay", year, month, day)
        assert isinstance(app.screen, AboutScreen)
        assert expected in driver.field_error(pilot, "date_of_birth")
        assert "check the highlighted" in driver.message(pilot)
        # Nothing typed is lost.
        assert app.screen.query_one("#full-name", Input).value == "Noé Tremblay"


async def test_back_keeps_answers(make_services: Services) -> None:
    app = KioskApp(make_services())
    async with app.run_test(size=SIZE) as pilot:
        await driver.start(pilot)
        await driver.about(pilot, "Inès Gagnon", "1975", "12", "1", chart="A-1")
        assert isinstance(app.screen, EducationScreen)
        await pilot.click("#back")
        await pilot.pause()
        assert isinstance(app.screen, AboutScreen)
        assert app.screen.query_one("#full-name", Input).value == "Inès Gagnon"
        assert app.screen.query_one("#dob-month", Input).value == "12"
        assert app.screen.query_one("#chart", Input).value == "A-1"
        await pilot.click("#continue")
        await pilot.pause()
        assert isinstance(app.screen, EducationScreen)
        await driver.jump_to(pilot, "screening")
        await driver.answer_screening(pilot, {"fainting": "yes"})
        await pilot.click("#back")
        await pilot.pause()
        assert isinstance(app.screen, ScreeningScreen)
        chosen = app.screen.query_one("#a-fainting--yes", Button)
        assert chosen.has_class("-chosen")


async def test_continue_waits_for_the_end_of_a_section(make_services: Services) -> None:
    app = KioskApp(make_services())
    async with app.run_test(size=(80, 24)) as pilot:
        await driver.start(pilot)
        await driver.about(pilot, "Léa Roy", "1990", "1", "1")
        screen = app.screen
        assert isinstance(screen, EducationScreen)
        assert screen.query_one("#continue", Button).disabled
        assert "read to the end" in str(screen.query_one("#scroll-hint").render())
        await pilot.press("end")
        await pilot.pause()
        assert not screen.query_one("#continue", Button).disabled


async def test_name_mismatch_at_signing_is_explained(make_services: Services) -> None:
    services = make_services()
    app = KioskApp(services)
    async with app.run_test(size=SIZE) as pilot:
        await walk_to_decision(pilot, name="Théo Gauthier")
        await driver.decide(pilot, "agree")
        await driver.sign(pilot, "Theo Gauthier")
        assert isinstance(app.screen, SignScreen)
        assert "does not match the name given earlier (Théo Gauthier)" in driver.field_error(
            pilot, "typed_name"
        )
        assert services.store.count() == (0, 0)


async def test_drawn_signature_is_required_unless_typed_is_chosen(make_services: Services) -> None:
    app = KioskApp(make_services())
    async with app.run_test(size=SIZE) as pilot:
        await walk_to_decision(pilot, name="Chloé Morin")
        await driver.decide(pilot, "agree")
        await driver.fill(pilot, "#typed-name", "Chloé Morin")
        await pilot.click("#continue")
        await pilot.pause()
        assert "draw your signature" in driver.field_error(pilot, "pad")
        await driver.draw_signature(pilot)
        await pilot.click("#clear")
        await pilot.pause()
        await pilot.click("#continue")
        await pilot.pause()
        assert isinstance(app.screen, SignScreen)


async def test_store_failure_is_kind_and_loses_nothing(
    make_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = make_services()
    app = KioskApp(services)
    async with app.run_test(size=SIZE) as pilot:
        await walk_to_decision(pilot, name="Gaëlle Fortin")
        await driver.decide(pilot, "agree")
        real_save = services.store.save_record

        def full_disk(record):  # type: ignore[no-untyped-def]
            raise StoreUnavailable("No space left on the data disk")

        monkeypatch.setattr(services.store, "save_record", full_disk)
        await driver.sign(pilot, "Gaëlle Fortin")
        assert isinstance(app.screen, SignScreen)
        assert "ask the front desk" in driver.message(pilot)
        assert app.screen.query_one("#typed-name", Input).value == "Gaëlle Fortin"
        assert not app.screen.query_one("#continue", Button).disabled
        monkeypatch.setattr(services.store, "save_record", real_save)
        await pilot.click("#continue")
        await driver.settle(pilot)
        assert isinstance(app.screen, DoneScreen)
    assert only_record(services).record.patient.full_name == "Gaëlle Fortin"


async def test_done_returns_to_welcome_and_forgets_the_patient(make_services: Services) -> None:
    services = make_services(done_return_seconds=3)
    app = KioskApp(services)
    async with app.run_test(size=SIZE) as pilot:
        await walk_to_decision(pilot, name="Maël Pelletier")
        await driver.decide(pilot, "agree")
        await driver.sign(pilot, "Maël Pelletier", drawn=False)
        assert isinstance(app.screen, DoneScreen)
        old_session = weakref.ref(app.session)
        await driver.wait_for(pilot, lambda: isinstance(app.screen, WelcomeScreen))
        assert await gone(pilot, old_session), "the finished patient's answers are still in memory"
        assert app.session is None, "no session exists until the next patient presses Start"
        # Nothing of the patient is on screen.
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.query(RadioButton).first().value is False  # nothing kept
        await driver.choose_who(pilot, "patient")
        assert app.screen.query_one("#full-name", Input).value == ""


async def test_done_ends_only_with_finish(make_services: Services) -> None:
    app = KioskApp(make_services())
    async with app.run_test(size=SIZE) as pilot:
        await walk_to_decision(pilot, name="Mei Chen")
        await driver.decide(pilot, "discuss", confirm_all=False)
        await driver.sign(pilot, "Mei Chen", drawn=False)
        assert isinstance(app.screen, DoneScreen)
        await pilot.press("x", "down", "pagedown", "tab")
        await pilot.pause()
        assert isinstance(app.screen, DoneScreen), "a stray key wiped the Done screen"
        app.screen._shown_at -= DoneScreen.FINISH_AFTER_SECONDS  # seen for a moment
        await pilot.click("#continue")  # Finish
        await pilot.pause()
        assert isinstance(app.screen, WelcomeScreen)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_idle_patient_is_asked_then_wiped(make_services: Services) -> None:
    services = make_services(idle_timeout_seconds=120, idle_grace_seconds=1)
    clock = FakeClock()
    app = KioskApp(services, monotonic=clock)
    async with app.run_test(size=SIZE) as pilot:
        await driver.start(pilot)
        await driver.fill(pilot, "#full-name", "Olivia Nguyen")
        old_session = weakref.ref(app.session)
        clock.now += 121
        # The once-a-second idle check asks; with no answer the 1 s grace time wipes.
        await driver.wait_for(pilot, lambda: type(app.screen).__name__ == "StillThereScreen")
        assert "Are you still there?" in str(app.screen.query_one(".title").render())
        await driver.wait_for(pilot, lambda: isinstance(app.screen, WelcomeScreen))
        assert await gone(pilot, old_session), "the idle patient's answers are still in memory"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.query(RadioButton).first().value is False  # nothing kept
        await driver.choose_who(pilot, "patient")
        assert app.screen.query_one("#full-name", Input).value == ""


async def test_idle_patient_who_answers_keeps_their_answers(make_services: Services) -> None:
    services = make_services(idle_timeout_seconds=120, idle_grace_seconds=30)
    clock = FakeClock()
    app = KioskApp(services, monotonic=clock)
    async with app.run_test(size=SIZE) as pilot:
        await driver.start(pilot)
        await driver.fill(pilot, "#full-name", "Olivia Nguyen")
        clock.now += 121
        await driver.wait_for(pilot, lambda: type(app.screen).__name__ == "StillThereScreen")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, AboutScreen)
        assert app.screen.query_one("#full-name", Input).value == "Olivia Nguyen"


async def test_welcome_screen_is_never_interrupted_by_idle(make_services: Services) -> None:
    clock = FakeClock()
    app = KioskApp(make_services(idle_timeout_seconds=1), monotonic=clock)
    async with app.run_test(size=SIZE) as pilot:
        clock.now += 500
        await pilot.pause(1.2)
        assert isinstance(app.screen, WelcomeScreen)


@pytest.mark.parametrize(
    "keys", [("ctrl+q",), ("ctrl+c",), ("ctrl+p",), ("ctrl+z",), ("ctrl+backslash",)]
)
async def test_quit_palette_and_suspend_keys_do_nothing(
    make_services: Services, keys: tuple[str, ...]
) -> None:
    app = KioskApp(make_services())
    async with app.run_test(size=SIZE) as pilot:
        await driver.start(pilot)
        await driver.fill(pilot, "#full-name", "Kofi Okafor")
        await pilot.press(*keys)
        await pilot.pause()
        assert app.is_running
        assert isinstance(app.screen, AboutScreen), "no palette or other screen opened"
        assert app.screen.query_one("#full-name", Input).value.startswith("Kofi Okafor")


async def test_markup_and_escapes_in_a_name_stay_literal(make_services: Services) -> None:
    services = make_services()
    app = KioskApp(services)
    name = "[@click=app.quit]Bob[/] \x1b[2J O'Brien"
    async with app.run_test(size=SIZE) as pilot:
        await driver.start(pilot)
        app.screen.query_one("#full-name", Input).value = name
        await driver.about(pilot, None, "1970", "1", "1")
        assert isinstance(app.screen, EducationScreen)
        assert app.session is not None and app.session.about is not None
        stored_name = app.session.about.full_name
    assert "\x1b" not in stored_name
    assert stored_name.startswith("[@click=app.quit]Bob[/]")


async def tab_to(pilot, selector: str, limit: int = 40) -> None:  # type: ignore[no-untyped-def]
    """Press Tab until the control is focused, as a keyboard user does."""
    target = pilot.app.screen.query_one(selector)
    for _ in range(limit):
        if pilot.app.focused is target:
            return
        await pilot.press("tab")
    raise AssertionError(f"Tab never reached {selector}; focus is on {pilot.app.focused}")


async def test_whole_path_with_the_keyboard_alone(make_services: Services) -> None:
    services = make_services()
    app = KioskApp(services)
    async with app.run_test(size=(80, 24)) as pilot:
        await driver.ready(pilot)
        await pilot.press("enter")
        await driver.choose_who(pilot, "patient")
        await driver.type_text(pilot, "Siobhán Haddad")
        for field, text in (("#dob-year", "1969"), ("#dob-month", "7"), ("#dob-day", "4")):
            await tab_to(pilot, field)
            await driver.type_text(pilot, text)
        await tab_to(pilot, "#physio")
        await pilot.press("enter", "down", "down", "enter")
        # Once the physiotherapist is chosen, Enter goes on: focus is on Continue.
        assert app.focused is app.screen.query_one("#continue")
        await pilot.press("enter")
        await pilot.pause()
        while isinstance(app.screen, EducationScreen):
            await pilot.press("end")
            await pilot.pause()
            await pilot.press("enter")  # read to the end: Enter continues
            await pilot.pause()
        while type(app.screen).__name__ == "QuizScreen":
            question = app.screen.question  # type: ignore[attr-defined]
            for _ in range(len(question.options)):  # the arrow keys move between options
                if app.focused is app.screen.query_one(f"#option-{question.correct}"):
                    break
                await pilot.press("down")
            await pilot.press("enter")
            await pilot.pause()
            assert app.focused is app.screen.query_one("#continue")
            await pilot.press("enter")
            await pilot.pause()
        assert isinstance(app.screen, ScreeningScreen)
        for _question in app.screen.session.shown.screening:
            await pilot.press("n")  # No; focus moves on to the next question
        assert app.focused is app.screen.query_one("#continue")
        await pilot.press("enter")
        await pilot.pause()
        for statement in services.content.bundle.statements:
            await tab_to(pilot, f"#s-{statement.id}")
            await pilot.press("space")
        await tab_to(pilot, "#choice")
        await pilot.press("enter")  # the first choice: agree
        await tab_to(pilot, "#continue")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SignScreen)
        await driver.type_text(pilot, "siobhán haddad")
        await tab_to(pilot, "#typed-only")
        await pilot.press("space")
        await tab_to(pilot, "#continue")
        await pilot.press("enter")
        await driver.settle(pilot)
        assert isinstance(app.screen, DoneScreen)
    record = only_record(services).record
    assert record.decision is Decision.AGREE
    assert record.physiotherapist.id == services.settings.physiotherapists[1].id
    assert record.signature.method is SignatureMethod.TYPED
    assert record.flags == []
    assert all(answer.first_correct for answer in record.quiz)


async def test_the_session_starts_when_the_patient_presses_start(make_services: Services) -> None:
    """Welcome may sit on screen for hours; the record's start time is the patient's."""
    now = [FIXED_NOW]
    services = make_services(clock=lambda: now[0])
    app = KioskApp(services)
    async with app.run_test(size=SIZE) as pilot:
        await driver.ready(pilot)
        assert app.session is None
        now[0] = FIXED_NOW + timedelta(hours=3)
        await driver.start(pilot)
        assert app.session is not None
        assert app.session.started_at == FIXED_NOW + timedelta(hours=3)
        await walk_to_decision(pilot, name="Nadia Paré")
        await driver.decide(pilot, "decline", confirm_all=False)
        now[0] = FIXED_NOW + timedelta(hours=3, minutes=9)
        await driver.sign(pilot, "Nadia Paré", drawn=False)
    record = only_record(services).record
    assert record.started_at == FIXED_NOW + timedelta(hours=3)
    assert record.completed_at == FIXED_NOW + timedelta(hours=3, minutes=9)


async def test_start_waits_until_the_kiosk_is_ready(
    make_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = make_services()
    gate = threading.Event()
    real_prepare = services.prepare

    def slow_prepare() -> None:
        gate.wait(10)
        real_prepare()

    monkeypatch.setattr(services, "prepare", slow_prepare)
    app = KioskApp(services)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        start = app.screen.query_one("#continue", Button)
        assert start.disabled and "One moment" in str(start.label)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, WelcomeScreen) and app.session is None
        gate.set()
        # The early Enter is remembered: the patient starts as soon as the kiosk is ready.
        await app.workers.wait_for_complete()
        for _ in range(100):
            await pilot.pause()
            if isinstance(app.screen, WhoScreen):
                break
        assert isinstance(app.screen, WhoScreen)


async def test_an_unexpected_error_never_shows_a_traceback(
    make_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Textual would print a traceback with local variables (patient data) on screen."""
    from screens.intake import AboutScreen as About

    def broken(self: About) -> bool:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(About, "commit", broken)
    app = KioskApp(make_services())
    with pytest.raises(RuntimeError, match="simulated bug"):
        async with app.run_test(size=SIZE) as pilot:
            await driver.start(pilot)
            await driver.fill(pilot, "#full-name", "Ngozi Okafor")
            await pilot.click("#continue")
            await pilot.pause()
    assert app.exit_message is not None and "unexpected problem" in app.exit_message
    assert "Ngozi" not in app.exit_message
    assert app._exit_renderables == [], "nothing but our sentence may be printed on exit"


async def test_a_patient_who_went_back_to_welcome_is_still_wiped_when_idle(
    make_services: Services,
) -> None:
    clock = FakeClock()
    app = KioskApp(make_services(idle_timeout_seconds=120, idle_grace_seconds=1), monotonic=clock)
    async with app.run_test(size=SIZE) as pilot:
        await driver.start(pilot)
        await driver.fill(pilot, "#full-name", "Alice Private")
        await pilot.click("#back")
        await pilot.pause()
        await pilot.click("#back")  # "Leave and erase your answers?", and they walk away
        await pilot.pause()
        assert type(app.screen).__name__ == "LeaveScreen"
        clock.now += 121
        await driver.wait_for(pilot, lambda: type(app.screen).__name__ == "StillThereScreen")
        await driver.wait_for(pilot, lambda: app.session is None)
        await pilot.press("enter")
        await pilot.pause()
        await driver.choose_who(pilot, "patient")
        assert app.screen.query_one("#full-name", Input).value == "", "the next patient sees it"


async def test_scrolling_counts_as_activity(make_services: Services) -> None:
    clock = FakeClock()
    app = KioskApp(make_services(idle_timeout_seconds=120), monotonic=clock)
    async with app.run_test(size=SIZE) as pilot:
        await driver.start(pilot)
        await driver.about(pilot, "Wei Chen", "1990", "1", "1")
        clock.now += 100
        # A mouse wheel turn over the text, as the terminal reports it to the app.
        app.post_message(events.MouseScrollDown(None, 20, 10, 0, 1, 0, False, False, False, 20, 10))
        await pilot.pause()
        clock.now += 100  # 200 s since typing, 100 s since scrolling
        await pilot.pause(1.2)
        assert isinstance(app.screen, EducationScreen)


async def test_a_name_with_markup_is_shown_literally_on_screen(make_services: Services) -> None:
    """Textual markup in typed text must never become styling or a clickable action."""
    app = KioskApp(make_services())
    name = "[@click=app.quit]Bob[/] [b]Côté[/b]"
    async with app.run_test(size=SIZE) as pilot:
        await walk_to_decision(pilot, name=name)
        await driver.decide(pilot, "decline", confirm_all=False)
        await driver.sign(pilot, "someone else", drawn=False)
        # The mismatch message repeats the name exactly as typed.
        assert f"({name})" in driver.field_error(pilot, "typed_name")
        assert app.is_running


async def test_back_from_signing_keeps_the_drawn_signature(make_services: Services) -> None:
    services = make_services()
    app = KioskApp(services)
    async with app.run_test(size=SIZE) as pilot:
        await walk_to_decision(pilot, name="Tomás Kowalski")
        await driver.decide(pilot, "agree")
        await driver.fill(pilot, "#typed-name", "Tomás Kowalski")
        await driver.draw_signature(pilot)
        drawn = app.screen.query_one("#pad").strokes  # type: ignore[attr-defined]
        await pilot.click("#back")
        await pilot.pause()
        await pilot.click("#continue")
        await pilot.pause()
        assert isinstance(app.screen, SignScreen)
        assert app.screen.query_one("#typed-name", Input).value == "Tomás Kowalski"
        assert app.screen.query_one("#pad").strokes == drawn  # type: ignore[attr-defined]
        await pilot.click("#continue")
        await driver.settle(pilot)
        assert isinstance(app.screen, DoneScreen)
    assert len(only_record(services).record.signature.strokes) == 2
