"""One patient's pass through the kiosk, held in memory until it is signed and saved.

Screens hand their typed results to a :class:`ConsentSession`; it validates them, keeps the
answers so the patient can go back without losing anything, decides which step comes
next, and finally builds the immutable :class:`~consent_records.model.ConsentRecord`.
Nothing here imports Textual, so the whole consent logic is testable without a terminal.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from consent_records.model import (
    MAX_STROKE_POINTS,
    MAX_STROKES,
    STATUS_AT_SIGNING,
    ConsentRecord,
    ContentStamp,
    Decision,
    Patient,
    Physiotherapist,
    Point,
    QuizAnswer,
    ScreeningAnswer,
    ScreeningAnswerValue,
    ScreeningFlag,
    SectionEngagement,
    Signature,
    SignatureMethod,
    SubstituteDecisionMaker,
    stroke_precision,
)
from consent_records.sanitize import NAME_MAX, SHORT_MAX, clean_text, names_match
from content.loader import LoadedContent
from content.schema import ContentBundle, ScreeningQuestion, Voice
from kiosk import __version__
from kiosk.i18n import _
from kiosk.settings import Settings

Clock = Callable[[], datetime]

log = logging.getLogger("kiosk.session")


class FieldErrors(Exception):
    """Input that cannot be accepted; ``errors`` maps a field name to a kind message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def age_on(born: date, day: date) -> int:
    """Whole years between ``born`` and ``day``."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


@dataclass(frozen=True, slots=True)
class AboutYou:
    full_name: str
    date_of_birth: date
    chart_number: str | None
    physiotherapist_id: str


@dataclass(frozen=True, slots=True)
class SubstituteInput:
    full_name: str
    relationship: str


@dataclass(frozen=True, slots=True)
class SignatureInput:
    """What the signing screen collects."""

    typed_name: str
    method: SignatureMethod
    strokes: tuple[tuple[tuple[float, float], ...], ...] = ()
    pad_width: int = 0
    pad_height: int = 0


def typed_signature_label() -> str:
    """The keyboard-only signing choice, word for word (its error message quotes it)."""
    return _("I can't draw here: my typed name is my signature")


def parse_about(
    *,
    full_name: str,
    year: str,
    month: str,
    day: str,
    chart_number: str,
    physiotherapist_id: str | None,
    today: date,
    known_physiotherapists: set[str],
    voice: Voice = "patient",
) -> AboutYou:
    """Validate the About-you form (``voice``: filled in by the patient or for them).

    Raises:
        FieldErrors: one kind message per field that needs another look.
    """
    errors: dict[str, str] = {}
    for_patient = voice == "substitute"
    name = clean_text(full_name, NAME_MAX)
    if len(name) < 2:
        errors["full_name"] = (
            _("Please type the patient's full name.")
            if for_patient
            else _("Please type your full name.")
        )
    born: date | None = None
    if not (year.strip() and month.strip() and day.strip()):
        errors["date_of_birth"] = (
            _("Please fill in the year, month and day the patient was born.")
            if for_patient
            else _("Please fill in the year, month and day you were born.")
        )
    else:
        try:
            born = date(int(year), int(month), int(day))
        except ValueError:
            errors["date_of_birth"] = _(
                "That date does not exist. Please check the year, month and day."
            )
        else:
            if born > today:
                errors["date_of_birth"] = _("A date of birth cannot be in the future.")
                born = None
            elif age_on(born, today) > 120:
                errors["date_of_birth"] = _("Please check the year you were born.")
                born = None
    chart = clean_text(chart_number, SHORT_MAX) or None
    if not physiotherapist_id or physiotherapist_id not in known_physiotherapists:
        errors["physiotherapist"] = _("Please choose the physiotherapist from the list.")
    if errors or born is None:
        raise FieldErrors(errors)
    assert physiotherapist_id is not None
    return AboutYou(name, born, chart, physiotherapist_id)


def parse_substitute(full_name: str, relationship: str) -> SubstituteInput:
    errors: dict[str, str] = {}
    name = clean_text(full_name, NAME_MAX)
    rel = clean_text(relationship, SHORT_MAX)
    if len(name) < 2:
        errors["full_name"] = _("Please type your full name (the person filling this in).")
    if not rel:
        errors["relationship"] = _("Please say how you are related to the patient.")
    if errors:
        raise FieldErrors(errors)
    return SubstituteInput(name, rel)


class Step(StrEnum):
    WELCOME = "welcome"
    WHO = "who"
    ABOUT = "about"
    SUBSTITUTE = "substitute"
    EDUCATION = "education"
    QUIZ = "quiz"
    SCREENING = "screening"
    DECISION = "decision"
    SIGN = "sign"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Position:
    """A place in the path: a step and, for education and quiz, which item."""

    step: Step
    index: int = 0


@dataclass
class _Engagement:
    seconds: float = 0.0
    reached_end: bool = False
    visits: int = 0
    entered_at: float | None = None


@dataclass
class ConsentSession:
    """Answers collected so far; thrown away after saving or on timeout."""

    settings: Settings
    content: LoadedContent
    clock: Clock
    monotonic: Callable[[], float] = time.monotonic
    started_at: datetime = field(init=False)
    filled_in_by: Voice | None = None
    """Who is filling the form in: the patient, or a substitute on the patient's behalf."""
    about: AboutYou | None = None
    substitute: SubstituteInput | None = None
    quiz_attempts: dict[str, list[str]] = field(default_factory=dict)
    screening: dict[str, ScreeningAnswerValue] = field(default_factory=dict)
    statements: set[str] = field(default_factory=set)
    decision: Decision | None = None
    drafts: dict[str, dict[str, str]] = field(default_factory=dict)
    signature_draft: SignatureInput | None = None
    """The signature as it was when the patient went Back from signing."""
    """Raw form values by screen, so going Back and forward again loses nothing."""
    _engagement: dict[str, _Engagement] = field(default_factory=dict)
    _started_monotonic: float = field(init=False, default=0.0)
    _shown: dict[Voice, ContentBundle] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.started_at = self.clock()
        self._started_monotonic = self.monotonic()

    # -- what this patient is shown ---------------------------------------------------

    @property
    def voice(self) -> Voice:
        """Whose wording: the patient's own, or a substitute's ("the patient")."""
        return self.filled_in_by or "patient"

    @property
    def shown(self) -> ContentBundle:
        """The content as this patient sees it: in their voice, with the clinic's settings
        and province, without the questions the kiosk answers itself. Screens show this."""
        voice = self.voice
        if voice not in self._shown:
            self._shown[voice] = self.content.bundle.as_shown(
                voice,
                province=self.settings.province,
                options=self.settings.content_options,
            )
        return self._shown[voice]

    # -- path -------------------------------------------------------------------------

    @property
    def needs_substitute(self) -> bool:
        """A substitute decision-maker fills the form in: their own details come next.

        Chosen on the "who is filling this in" step, never from age alone: a young patient
        may fill it in themselves (and is flagged for the physiotherapist to assess).
        """
        return self.filled_in_by == "substitute"

    def set_filled_in_by(self, voice: Voice) -> None:
        self.filled_in_by = voice
        if voice == "patient":
            self.substitute = None

    def path(self) -> list[Position]:
        """Every position of the path for this patient, in order."""
        bundle = self.content.bundle
        steps = [Position(Step.WELCOME), Position(Step.WHO), Position(Step.ABOUT)]
        if self.needs_substitute:
            steps.append(Position(Step.SUBSTITUTE))
        steps += [Position(Step.EDUCATION, i) for i in range(len(bundle.sections))]
        steps += [Position(Step.QUIZ, i) for i in range(len(bundle.quiz))]
        steps += [Position(Step.SCREENING), Position(Step.DECISION), Position(Step.SIGN)]
        steps.append(Position(Step.DONE))
        return steps

    def next_after(self, here: Position) -> Position:
        path = self.path()
        return path[min(path.index(here) + 1, len(path) - 1)]

    def before(self, here: Position) -> Position:
        path = self.path()
        return path[max(path.index(here) - 1, 0)]

    def progress(self, here: Position) -> tuple[int, int]:
        """(step number, steps) counting only the patient-facing steps between Welcome and Done."""
        path = self.path()[1:-1]
        return (path.index(here) + 1 if here in path else 0, len(path))

    # -- answers ----------------------------------------------------------------------

    def set_about(self, about: AboutYou) -> None:
        self.about = about

    def enter_section(self, section_id: str) -> None:
        entry = self._engagement.setdefault(section_id, _Engagement())
        entry.visits += 1
        entry.entered_at = self.monotonic()

    def leave_section(self, section_id: str) -> None:
        entry = self._engagement.get(section_id)
        if entry and entry.entered_at is not None:
            entry.seconds += self.monotonic() - entry.entered_at
            entry.entered_at = None

    def section_end_reached(self, section_id: str) -> None:
        self._engagement.setdefault(section_id, _Engagement()).reached_end = True

    def section_done(self, section_id: str) -> bool:
        entry = self._engagement.get(section_id)
        return bool(entry and entry.reached_end)

    def answer_quiz(self, question_id: str, option_id: str) -> bool:
        """Record an answer; True when it is right. Answers after the right one are ignored."""
        question = self.content.bundle.question(question_id)
        question.option(option_id)  # KeyError for an unknown option
        attempts = self.quiz_attempts.setdefault(question_id, [])
        if not (attempts and attempts[-1] == question.correct):
            attempts.append(option_id)
        return option_id == question.correct

    def quiz_solved(self, question_id: str) -> bool:
        attempts = self.quiz_attempts.get(question_id, [])
        return bool(attempts) and attempts[-1] == self.content.bundle.question(question_id).correct

    def screening_complete(self) -> bool:
        return all(q.id in self.screening for q in self.shown.screening)

    def _answered_by_the_kiosk(
        self, question: ScreeningQuestion
    ) -> tuple[ScreeningAnswerValue, str] | None:
        """The kiosk's own answer to a question it never asks, with the flag's reason."""
        if question.answered_from != "date-of-birth" or self.about is None:
            return None
        bundle = self.content.bundle
        age = age_on(self.about.date_of_birth, self.clock().date())
        try:
            rule = bundle.province(self.settings.province)
        except KeyError:
            return (ScreeningAnswerValue.NOT_SURE, question.flag_reason)
        if age >= rule.age_of_majority:
            return (ScreeningAnswerValue.NO, "")
        who = (
            _("Filled in by a substitute decision-maker ({relationship}).").format(
                relationship=self.substitute.relationship
            )
            if self.substitute is not None
            else _("Filled in by the patient.")
        )
        reason = _(
            "Aged {age}, under the age of majority in {province} ({majority}). {rule} {who}"
        ).format(
            age=age,
            province=rule.name,
            majority=rule.age_of_majority,
            rule=rule.for_physiotherapist.strip(),
            who=who,
        )
        return (ScreeningAnswerValue.YES, reason[:400])

    def screening_answers(self) -> list[tuple[ScreeningQuestion, ScreeningAnswerValue, str]]:
        """Every answered question in content order, the kiosk's own answers included, with
        the reason a flag would carry."""
        shown = {q.id for q in self.shown.screening}
        answers = []
        for question in self.content.bundle.screening:
            derived = self._answered_by_the_kiosk(question)
            if derived is not None:
                answers.append((question, derived[0], derived[1]))
            elif question.id in shown and question.id in self.screening:
                answers.append((question, self.screening[question.id], question.flag_reason))
        return answers

    def flags(self) -> list[ScreeningFlag]:
        return [
            ScreeningFlag(question_id=question.id, answer=answer, reason=reason)
            for question, answer, reason in self.screening_answers()
            if answer is not ScreeningAnswerValue.NO
        ]

    def decision_problem(self, decision: Decision | None, confirmed: set[str]) -> str | None:
        """Why the decision cannot be accepted yet, in plain words; None when it can."""
        if decision is None:
            return _("Please choose one of the three options.")
        if decision is Decision.AGREE:
            missing = [s for s in self.shown.statements if s.id not in confirmed]
            if missing:
                discuss = next(
                    (d.text for d in self.shown.decisions if d.id.value == Decision.DISCUSS.value),
                    "",
                )
                return _(
                    "To agree, please tick each statement. If something is not clear, choose "
                    "\u201c{discuss}\u201d instead."
                ).format(discuss=discuss.rstrip("."))
        return None

    @property
    def signer_name(self) -> str:
        if self.substitute is not None:
            return self.substitute.full_name
        assert self.about is not None
        return self.about.full_name

    def check_signature(self, signature: SignatureInput) -> None:
        """Raises FieldErrors when the signature cannot be accepted."""
        errors: dict[str, str] = {}
        if not clean_text(signature.typed_name):
            errors["typed_name"] = _("Please type your full name to sign.")
        elif not names_match(signature.typed_name, self.signer_name):
            errors["typed_name"] = _(
                "The name you typed does not match the name given earlier ({name}). "
                "Please type it the same way, or go back to correct it."
            ).format(name=self.signer_name)
        if signature.method is SignatureMethod.DRAWN and not signature.strokes:
            errors["pad"] = _(
                "Please draw your signature in the box, or tick \u201c{typed}\u201d."
            ).format(typed=typed_signature_label())
        elif len(signature.strokes) > MAX_STROKES or any(
            len(stroke) > MAX_STROKE_POINTS for stroke in signature.strokes
        ):
            errors["pad"] = _(
                "Your signature has more lines than the box can keep. Please press Clear "
                "signature and sign again with fewer lines."
            )
        if errors:
            raise FieldErrors(errors)

    # -- the record -------------------------------------------------------------------

    def build_record(self, signature: SignatureInput) -> ConsentRecord:
        """The immutable record of this session. Raises FieldErrors or ValueError."""
        self.check_signature(signature)
        drawn = signature.method is SignatureMethod.DRAWN
        about = self.about
        if about is None or self.decision is None:
            raise ValueError("the session is not complete")
        bundle = self.content.bundle
        now = self.clock()
        # A wall clock stepped during the session (NTP, an admin): keep both stamps as the
        # clock read them, with the duration measured on the monotonic clock.
        elapsed = max(0.0, self.monotonic() - self._started_monotonic)
        step = (now - self.started_at).total_seconds() - elapsed
        if abs(step) > 60:
            log.warning(
                "the wall clock moved %+.0f s during a session (%.0f s measured); the record "
                "keeps the times as read and the measured duration",
                step,
                elapsed,
            )
        if self.needs_substitute and self.substitute is None:
            raise ValueError("the substitute decision-maker's details are missing")
        substitute = (
            SubstituteDecisionMaker(
                full_name=self.substitute.full_name, relationship=self.substitute.relationship
            )
            if self.substitute is not None
            else None
        )
        physio = self.settings.physiotherapist(about.physiotherapist_id)
        clinic = self.settings.clinic
        return ConsentRecord(
            clinic_name=clinic.name,
            clinic_address=list(clinic.address),
            clinic_phone=clinic.phone,
            timezone=self.settings.timezone,
            kiosk_id=self.settings.kiosk_id,
            app_version=__version__,
            started_at=self.started_at,
            completed_at=now,
            elapsed_seconds=round(elapsed, 3),
            physiotherapist=Physiotherapist(id=physio.id, name=physio.name),
            patient=Patient(
                full_name=about.full_name,
                date_of_birth=about.date_of_birth,
                chart_number=about.chart_number,
                age_years=age_on(about.date_of_birth, now.date()),
            ),
            substitute=substitute,
            content=ContentStamp(
                version=bundle.version,
                language=bundle.language,
                sha256=self.content.sha256,
                province=self.settings.province,
                options=sorted(self.settings.content_options),
            ),
            engagement=[
                SectionEngagement(
                    section_id=s.id,
                    seconds_on_screen=round(self._engagement[s.id].seconds, 1),
                    reached_end=self._engagement[s.id].reached_end,
                    visits=max(1, self._engagement[s.id].visits),
                )
                for s in bundle.sections
                if s.id in self._engagement
            ],
            quiz=[
                QuizAnswer(
                    question_id=q.id,
                    attempts=self.quiz_attempts[q.id],
                    first_correct=self.quiz_attempts[q.id][0] == q.correct,
                )
                for q in bundle.quiz
                if self.quiz_attempts.get(q.id)
            ],
            screening=[
                ScreeningAnswer(question_id=question.id, answer=answer)
                for question, answer, _reason in self.screening_answers()
            ],
            flags=self.flags(),
            statements_confirmed=[s.id for s in bundle.statements if s.id in self.statements],
            decision=self.decision,
            status=STATUS_AT_SIGNING[self.decision],
            signature=Signature(
                method=signature.method,
                typed_name=signature.typed_name,
                signed_at=now,
                # As captured (to a thousandth of a cell, well under a pixel).
                strokes=[
                    [Point(x=round(x, 3), y=round(y, 3)) for x, y in stroke]
                    for stroke in signature.strokes
                    if stroke
                ]
                if drawn
                else [],
                pad_width=signature.pad_width,
                pad_height=signature.pad_height,
                signer="substitute" if substitute else "patient",
                precision=stroke_precision(signature.strokes) if drawn else None,
            ),
        )
