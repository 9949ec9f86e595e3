"""Synthetic builders for tests and benchmarks: content, records and stored records.

Every person here is invented. Defaults are fixed (ids, reference, times) so two calls with
the same arguments build equal objects, which the determinism tests rely on.

Typical use::

    content = make_content()
    record = make_record(content)                       # agreed, drawn signature, 1 flag, 1 miss
    stored = make_stored(record, [make_event(record, EventKind.PDF_EXPORTED)])
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from consent_records.model import (
    STATUS_AT_SIGNING,
    ConsentRecord,
    ContentStamp,
    Decision,
    EventKind,
    Patient,
    Physiotherapist,
    Point,
    QuizAnswer,
    RecordEvent,
    ScreeningAnswer,
    ScreeningAnswerValue,
    ScreeningFlag,
    SectionEngagement,
    Signature,
    SignatureMethod,
    StoredEntry,
    StoredEvent,
    StoredRecord,
    SubstituteDecisionMaker,
)
from content.schema import (
    Block,
    Complication,
    ContentBundle,
    DecisionChoice,
    DecisionOption,
    KeyPoint,
    QuizOption,
    QuizQuestion,
    RiskTier,
    RiskTierId,
    ScreeningQuestion,
    Section,
    Source,
    SourceKind,
    Statement,
    WarningSign,
)
from kiosk.session import age_on

TORONTO = ZoneInfo("America/Toronto")
DEFAULT_NAME = "Renée Bélanger-Côté"
DEFAULT_DOB = date(1984, 2, 29)
DEFAULT_REFERENCE = "K7P3-QX9M"
DEFAULT_RECORD_ID = "5f0c6b1e2a7d4c3e9b8a1d2c3e4f5a6b"
DEFAULT_COMPLETED_AT = datetime(2026, 3, 14, 10, 42, 7, tzinfo=TORONTO)
FAKE_CONTENT_SHA = hashlib.sha256(b"synthetic content").hexdigest()

_SRC = ["test-seed"]


def _section(
    section_id: str, title: str, points: Sequence[str], tiers: Sequence[RiskTier] = ()
) -> Section:
    return Section(
        id=section_id,
        title=title,
        blocks=[Block(text=f"Synthetic body text for {title.lower()}.", sources=_SRC)],
        key_points=[KeyPoint(text=text, sources=_SRC) for text in points],
        risk_tiers=list(tiers),
    )


def _complication(item_id: str, name: str, frequency: str | None = None) -> Complication:
    return Complication(id=item_id, name=name, frequency=frequency, sources=_SRC)


def _question(
    question_id: str, topic: str, prompt: str, options: Sequence[str], section: str
) -> QuizQuestion:
    """A quiz question whose first option is the right one."""
    return QuizQuestion(
        id=question_id,
        topic=topic,
        prompt=prompt,
        options=[QuizOption(id=f"o{i}", text=text) for i, text in enumerate(options, 1)],
        correct="o1",
        explanation=f"Synthetic explanation for {topic.lower()}.",
        section=section,
        sources=_SRC,
    )


def make_content() -> ContentBundle:
    """A small valid synthetic bundle (version ``2026.1``, English).

    8 sections (``risks`` holds the three tiers, 9 complications), 6 quiz questions
    (``q-what``, ``q-stop``, ``q-common``, ``q-serious``, ``q-after``, ``q-other``; the right
    option of each is ``o1``), 4 screening questions (``s-pregnant``, ``s-blood-thinners``,
    ``s-fainting``, ``s-lung``), 3 statements, 3 decisions, 2 warning signs and 1 source.
    """
    tiers = [
        RiskTier(
            id=RiskTierId.COMMON,
            title="Common",
            summary="These happen often and pass within a day or two.",
            sources=_SRC,
            complications=[
                _complication("soreness", "Muscle soreness after treatment", "about 1 in 3"),
                _complication("bruising", "Bruising where the needle went in", "about 1 in 10"),
                _complication("tiredness", "Feeling tired"),
            ],
        ),
        RiskTier(
            id=RiskTierId.LESS_COMMON,
            title="Less common",
            summary="These happen to some people.",
            sources=_SRC,
            complications=[
                _complication("fainting", "Fainting or feeling light-headed", "about 1 in 100"),
                _complication("headache", "Headache after treatment"),
                _complication("nausea", "Nausea"),
            ],
        ),
        RiskTier(
            id=RiskTierId.SERIOUS,
            title="Serious but rare",
            summary="These are rare and need care right away.",
            sources=_SRC,
            complications=[
                _complication("pneumothorax", "Collapsed lung (pneumothorax)", "very rare"),
                _complication("infection", "Infection where the needle went in"),
                _complication("nerve-injury", "Nerve injury"),
            ],
        ),
    ]
    sections = [
        _section("what-is-ims", "What IMS is", ["IMS uses a thin needle in tight muscle."]),
        _section("why", "Why it is offered", ["It may ease pain from tight muscles."]),
        _section("during", "During a session", ["You may feel a cramp or twitch."]),
        _section(
            "risks",
            "Risks and side effects",
            ["Most side effects are mild.", "Serious problems are rare."],
            tiers,
        ),
        _section("alternatives", "Other choices", ["You can choose other treatment."]),
        _section("your-rights", "Your rights", ["You can say no or stop at any time."]),
        _section("after", "After treatment", ["Soreness usually fades in a day or two."]),
        _section("questions", "Questions", ["Ask your physiotherapist anything."]),
    ]
    quiz = [
        _question(
            "q-what",
            "What IMS is",
            "What does IMS use?",
            ["A thin needle", "A laser"],
            "what-is-ims",
        ),
        _question(
            "q-stop", "Right to stop", "Can you stop at any time?", ["Yes", "No"], "your-rights"
        ),
        _question(
            "q-common", "Common effects", "What is a common effect?", ["Soreness", "Fever"], "risks"
        ),
        _question(
            "q-serious",
            "Serious risk",
            "What is a rare serious risk?",
            ["Collapsed lung", "Sneezing"],
            "risks",
        ),
        _question(
            "q-after",
            "Aftercare",
            "How long does soreness last?",
            ["A day or two", "A month"],
            "after",
        ),
        _question(
            "q-other",
            "Other choices",
            "Must you have IMS?",
            ["No, there are other choices", "Yes"],
            "alternatives",
        ),
    ]
    screening = [
        ScreeningQuestion(
            id="s-pregnant",
            prompt="Are you pregnant or could you be pregnant?",
            flag_reason="Pregnancy: needling of some areas is avoided; discuss first.",
            sources=_SRC,
        ),
        ScreeningQuestion(
            id="s-blood-thinners",
            prompt="Do you take blood thinners?",
            flag_reason="Blood thinners raise the chance of bruising and bleeding.",
            sources=_SRC,
        ),
        ScreeningQuestion(
            id="s-fainting",
            prompt="Have you ever fainted with needles or blood tests?",
            flag_reason="History of fainting with needles: treat lying down.",
            sources=_SRC,
        ),
        ScreeningQuestion(
            id="s-lung",
            prompt="Do you have a lung condition such as emphysema?",
            flag_reason="Lung condition: higher risk near the chest wall.",
            sources=_SRC,
        ),
    ]
    return ContentBundle(
        version="2026.1",
        language="en",
        title="IMS consent (synthetic test content)",
        sources=[
            Source(
                id="test-seed", kind=SourceKind.SEED, title="Synthetic source", locator="test.md"
            )
        ],
        sections=sections,
        quiz=quiz,
        screening=screening,
        statements=[
            Statement(id="read", text="I read the information about IMS."),
            Statement(id="questions", text="I know I can ask the physiotherapist questions."),
            Statement(id="stop", text="I know I can say no or stop at any time."),
        ],
        decisions=[
            DecisionOption(
                id=DecisionChoice.AGREE,
                text="I agree to IMS, after I talk with my physiotherapist.",
            ),
            DecisionOption(id=DecisionChoice.DECLINE, text="I do not want IMS."),
            DecisionOption(
                id=DecisionChoice.DISCUSS,
                text="I want to talk with my physiotherapist before I decide.",
            ),
        ],
        warning_signs=[
            WarningSign(text="Sudden shortness of breath or chest pain.", sources=_SRC),
            WarningSign(text="Redness, heat or swelling that gets worse.", sources=_SRC),
        ],
    )


def drawn_strokes(pad_width: int = 60, pad_height: int = 12) -> list[list[Point]]:
    """A synthetic scribble in pad cell coordinates: a looping line and a crossing stroke."""
    loop: list[Point] = []
    steps = 160
    for i in range(steps):
        t = i / (steps - 1)
        x = 3 + t * (pad_width * 0.7) + 2.5 * math.sin(t * 28)
        y = pad_height * 0.55 - (pad_height * 0.3) * math.sin(t * 14) * (1 - 0.4 * t)
        loop.append(Point(x=round(x, 2), y=round(y, 2)))
    cross = [Point(x=pad_width * 0.12 + i * 1.5, y=pad_height * 0.78 - i * 0.05) for i in range(30)]
    dot = [Point(x=pad_width * 0.86, y=pad_height * 0.4)]
    return [loop, cross, dot]


def make_record(
    content: ContentBundle,
    *,
    decision: Decision = Decision.AGREE,
    name: str = DEFAULT_NAME,
    date_of_birth: date = DEFAULT_DOB,
    drawn: bool = True,
    substitute: SubstituteDecisionMaker | None = None,
    wrong_first: Collection[str] | None = None,
    flags: Collection[str] | None = None,
    not_sure: Collection[str] = (),
    chart_number: str | None = "C-10442",
    reference: str = DEFAULT_REFERENCE,
    record_id: str = DEFAULT_RECORD_ID,
    completed_at: datetime = DEFAULT_COMPLETED_AT,
    content_sha256: str = FAKE_CONTENT_SHA,
) -> ConsentRecord:
    """A complete synthetic record for ``content``.

    Args:
        decision: the patient's choice; the status at signing follows from it.
        name: the patient's full name (the substitute signs when there is one).
        drawn: a drawn pad signature (True) or a keyboard "typed name" signature (False).
        wrong_first: quiz question ids answered wrong at the first try (then right).
            ``None`` means the content's second question only; ``()`` means none.
        flags: screening question ids answered Yes. ``None`` means the content's first
            screening question only; ``()`` means none.
        not_sure: screening question ids answered Not sure (also flagged).
        content_sha256: the hash stamped on the record (fake unless you pass a real one).
    """
    missed = set(wrong_first) if wrong_first is not None else {content.quiz[1].id}
    yes = set(flags) if flags is not None else {content.screening[0].id}
    unsure = set(not_sure)
    started_at = completed_at - timedelta(minutes=14, seconds=31)

    quiz: list[QuizAnswer] = []
    for question in content.quiz:
        if question.id in missed:
            wrong = next(o.id for o in question.options if o.id != question.correct)
            quiz.append(
                QuizAnswer(
                    question_id=question.id,
                    attempts=[wrong, question.correct],
                    first_correct=False,
                )
            )
        else:
            quiz.append(
                QuizAnswer(question_id=question.id, attempts=[question.correct], first_correct=True)
            )

    screening: list[ScreeningAnswer] = []
    screening_flags: list[ScreeningFlag] = []
    for item in content.screening:
        if item.id in yes:
            value = ScreeningAnswerValue.YES
        elif item.id in unsure:
            value = ScreeningAnswerValue.NOT_SURE
        else:
            value = ScreeningAnswerValue.NO
        screening.append(ScreeningAnswer(question_id=item.id, answer=value))
        if value is not ScreeningAnswerValue.NO:
            screening_flags.append(
                ScreeningFlag(question_id=item.id, answer=value, reason=item.flag_reason)
            )

    signer_name = substitute.full_name if substitute else name
    if drawn:
        signature = Signature(
            method=SignatureMethod.DRAWN,
            typed_name=signer_name,
            signed_at=completed_at,
            strokes=drawn_strokes(60, 12),
            pad_width=60,
            pad_height=12,
            signer="substitute" if substitute else "patient",
        )
    else:
        signature = Signature(
            method=SignatureMethod.TYPED,
            typed_name=signer_name,
            signed_at=completed_at,
            signer="substitute" if substitute else "patient",
        )

    return ConsentRecord(
        id=record_id,
        reference=reference,
        clinic_name="Harbourview Physiotherapy (synthetic)",
        kiosk_id="front-desk-1",
        app_version="0.1.0",
        started_at=started_at,
        completed_at=completed_at,
        physiotherapist=Physiotherapist(id="jlee", name="Jordan Lee"),
        patient=Patient(
            full_name=name,
            date_of_birth=date_of_birth,
            chart_number=chart_number,
            age_years=age_on(date_of_birth, completed_at.date()),
        ),
        substitute=substitute,
        content=ContentStamp(
            version=content.version, language=content.language, sha256=content_sha256
        ),
        engagement=[
            SectionEngagement(
                section_id=section.id,
                seconds_on_screen=25.0 + 13.5 * index,
                reached_end=True,
            )
            for index, section in enumerate(content.sections)
        ],
        quiz=quiz,
        screening=screening,
        flags=screening_flags,
        statements_confirmed=[s.id for s in content.statements],
        decision=decision,
        status=STATUS_AT_SIGNING[decision],
        signature=signature,
    )


def make_event(
    record: ConsentRecord,
    kind: EventKind,
    *,
    minutes_after: float = 20,
    actor: str = "jlee",
    note: str | None = None,
) -> RecordEvent:
    """A later event on ``record``, ``minutes_after`` its completion, with a fixed id."""
    digest = hashlib.sha256(f"{record.id}:{kind.value}:{minutes_after}".encode()).hexdigest()
    return RecordEvent(
        id=digest[:32],
        record_id=record.id,
        kind=kind,
        at=record.completed_at + timedelta(minutes=minutes_after),
        actor=actor,
        note=note,
    )


def _fake_hash(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def make_stored(
    record: ConsentRecord, events: Sequence[RecordEvent] = (), *, seq: int = 41
) -> StoredRecord:
    """``record`` as the store returns it, at chain position ``seq``, with fake chain hashes.

    Events follow the record in the chain; the chain head is a further, later entry, so the
    head always differs from the record's own hash.
    """
    record_hash = _fake_hash(f"record:{record.id}")
    entry = StoredEntry(seq=seq, sha256=record_hash, prev_sha256=_fake_hash(f"prev:{record.id}"))
    stored_events: list[StoredEvent] = []
    previous = record_hash
    for offset, event in enumerate(events, 1):
        event_hash = _fake_hash(f"event:{event.id}:{previous}")
        stored_events.append(
            StoredEvent(
                event=event,
                entry=StoredEntry(seq=seq + offset, sha256=event_hash, prev_sha256=previous),
            )
        )
        previous = event_hash
    return StoredRecord(
        record=record,
        entry=entry,
        events=stored_events,
        chain_head=_fake_hash(f"head-after:{previous}"),
    )
