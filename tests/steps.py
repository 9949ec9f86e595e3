"""Reach any step of the patient path directly, without walking the screens before it.

A walk through every screen costs seconds per test; most tests only need one screen with
the answers before it already given. :func:`show` builds a :class:`ConsentSession` with
those answers filled in (as the earlier screens would have left them) and shows the step:

    async with app.run_test(size=(80, 24)) as pilot:
        await steps.show(pilot, "quiz", index=2)

Text helpers read the screen as a person would see it (:func:`screen_text`).
"""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from rich.console import Console
from textual.pilot import Pilot

from consent_records.model import Decision, ScreeningAnswerValue, SignatureMethod
from kiosk.app import KioskApp
from kiosk.services import SavedConsent
from kiosk.session import AboutYou, ConsentSession, Position, SignatureInput, Step, SubstituteInput
from tests import driver

NAME = "Renée Bélanger"
REFERENCE = "K7P3-QX9M"

# The steps in path order, and what each needs done before it.
ORDER = ("who", "about", "substitute", "education", "quiz", "screening", "decision", "sign")


def fill_session(
    session: ConsentSession,
    step: str,
    *,
    index: int = 0,
    who: str = "patient",
    decision: Decision = Decision.AGREE,
) -> None:
    """Give every answer a patient would have given before reaching ``step``."""
    before = ORDER[: ORDER.index(step)] if step in ORDER else ORDER
    bundle = session.content.bundle
    if "who" in before:
        session.set_filled_in_by("substitute" if who == "substitute" else "patient")
    if "about" in before:
        session.set_about(
            AboutYou(
                full_name=NAME,
                date_of_birth=date(1980, 4, 15) if who == "patient" else date(2014, 4, 15),
                chart_number=None,
                physiotherapist_id=session.settings.physiotherapists[0].id,
            )
        )
        if who == "substitute":
            session.substitute = SubstituteInput("Marie Bélanger", "mother")
    sections = [s.id for s in bundle.sections]
    read = sections if "education" in before else sections[:index] if step == "education" else []
    for section_id in read:
        session.enter_section(section_id)
        session.section_end_reached(section_id)
        session.leave_section(section_id)
    questions = [q for q in bundle.quiz]
    answered = questions if "quiz" in before else questions[:index] if step == "quiz" else []
    for question in answered:
        session.answer_quiz(question.id, question.correct)
    if "screening" in before:
        for question in session.shown.screening:
            session.screening[question.id] = ScreeningAnswerValue.NO
    if "decision" in before:
        session.statements = {s.id for s in session.shown.statements}
        session.decision = decision


async def show(
    pilot: Pilot[Any],
    step: str,
    *,
    index: int = 0,
    who: str = "patient",
    decision: Decision = Decision.AGREE,
) -> ConsentSession:
    """Start a session with everything before ``step`` answered and show ``step``.

    ``step`` is a :class:`Step` value; "done" shows the Done screen for a record saved
    with reference :data:`REFERENCE` (nothing is stored).
    """
    app = pilot.app
    assert isinstance(app, KioskApp)
    if not app.ready:
        await driver.ready(pilot)
    session = app.services.new_session()
    fill_session(session, step, index=index, who=who, decision=decision)
    app.session = session
    if step == "done":
        app._show(Position(Step.DONE), SavedConsent(REFERENCE, "0" * 32))
    else:
        app._show(Position(Step(step), index))
    await pilot.pause()
    await pilot.pause()
    return session


def typed_signature(session: ConsentSession) -> SignatureInput:
    return SignatureInput(typed_name=session.signer_name, method=SignatureMethod.TYPED)


def screen_text(pilot: Pilot[Any]) -> str:
    """The screen as plain text, one line a row, the way a person would read it."""
    app = pilot.app
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text()


_FRAMES = {c: " " for c in map(chr, range(0x2500, 0x25A0))}
"""Box drawing and block elements: borders, button edges and scroll bars."""


def flat(text: str) -> str:
    """``text`` with frames dropped, its lines joined and spaces collapsed, so a sentence
    wrapped over several lines (inside a box, beside a scroll bar) is found whole."""
    return " ".join(text.translate(str.maketrans(_FRAMES)).split())
