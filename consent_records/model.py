"""The consent record: what the kiosk stores when a patient finishes the consent path.

A record is written once and never edited. Everything that happens later (an export, the
physiotherapist's review and countersignature, a withdrawal, a note) is an appended
:class:`RecordEvent` that points at the record. The record's *current* status is the
status it was signed with, folded forward through its events (:func:`current_status`).

Free text typed by a patient passes through :func:`consent_records.sanitize.clean_text`
in the validators below, so no path into the store can skip it.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
    model_validator,
)

from consent_records.sanitize import NAME_MAX, NOTE_MAX, SHORT_MAX, clean_text

if TYPE_CHECKING:
    from datetime import datetime

    from consent_records.events import AnyEvent
    from consent_records.lifecycle import ConsentRules, Lifecycle, Standing

SCHEMA_VERSION: Literal[1] = 1

# Crockford-style alphabet without look-alikes (no 0/O, 1/I/L, U): easy to read aloud.
REFERENCE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
REFERENCE_PATTERN = r"^[2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{4}$"


def _clean_name(value: str) -> str:
    return clean_text(value, NAME_MAX)


def _clean_short(value: str) -> str:
    return clean_text(value, SHORT_MAX)


def _clean_note(value: str) -> str:
    return clean_text(value, NOTE_MAX)


PersonName = Annotated[
    str, AfterValidator(_clean_name), StringConstraints(min_length=1, max_length=NAME_MAX)
]
ShortText = Annotated[str, AfterValidator(_clean_short), StringConstraints(max_length=SHORT_MAX)]
NoteText = Annotated[
    str, AfterValidator(_clean_note), StringConstraints(min_length=1, max_length=NOTE_MAX)
]
Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)]
ClinicLine = Annotated[
    str, AfterValidator(_clean_name), StringConstraints(min_length=1, max_length=NAME_MAX)
]
ZoneName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$", max_length=64)
]
Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Reference = Annotated[str, StringConstraints(pattern=REFERENCE_PATTERN)]
RecordId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]


def new_record_id() -> str:
    """A random 128-bit id (never TinyDB's integer ids: they are per-process counters)."""
    return uuid.uuid4().hex


def new_reference() -> str:
    """A short code a patient can read out at the desk, for example ``K7P3-QX9M``."""
    chars = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
    return f"{chars[:4]}-{chars[4:]}"


def normalise_reference(text: str) -> str:
    """Accept a reference typed with lower case, spaces or without the hyphen."""
    compact = "".join(ch for ch in text.upper() if ch.isalnum())
    return f"{compact[:4]}-{compact[4:]}" if len(compact) == 8 else text.strip().upper()


class Model(BaseModel):
    """Base: immutable, unknown fields are errors, validated on construction."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Decision(StrEnum):
    """The patient's choice at the kiosk (matches ``content.schema.DecisionChoice``)."""

    AGREE = "agree"
    DECLINE = "decline"
    DISCUSS = "discuss"


class RecordStatus(StrEnum):
    AWAITING_PHYSIOTHERAPIST = "awaiting_physiotherapist"
    """Agreed at the kiosk; the physiotherapist must still discuss and countersign."""
    DECLINED = "declined"
    """The patient does not want IMS."""
    WANTS_DISCUSSION = "wants_discussion"
    """The patient wants to talk with the physiotherapist before deciding."""
    CONSENTED = "consented"
    """Countersigned by the physiotherapist after their discussion (a later event)."""
    WITHDRAWN = "withdrawn"
    """Consent withdrawn by the patient (a later event)."""


STATUS_AT_SIGNING: dict[Decision, RecordStatus] = {
    Decision.AGREE: RecordStatus.AWAITING_PHYSIOTHERAPIST,
    Decision.DECLINE: RecordStatus.DECLINED,
    Decision.DISCUSS: RecordStatus.WANTS_DISCUSSION,
}


class Physiotherapist(Model):
    id: Identifier
    name: PersonName


class Patient(Model):
    full_name: PersonName
    date_of_birth: date
    chart_number: ShortText | None = None
    age_years: Annotated[int, Field(ge=0, le=130)]
    """Age on the day of signing, in whole years."""


class SubstituteDecisionMaker(Model):
    """Who filled the form in and signs on the patient's behalf (a parent, a guardian or
    another substitute decision-maker); with one, the patient's questions and statements
    were worded for them ("the patient" rather than "you")."""

    full_name: PersonName
    relationship: ShortText


class SectionEngagement(Model):
    section_id: Identifier
    seconds_on_screen: Annotated[float, Field(ge=0)]
    reached_end: bool
    visits: Annotated[int, Field(ge=1)] = 1


class QuizAnswer(Model):
    """One question of the understanding check: first attempt first, then any retries."""

    question_id: Identifier
    attempts: Annotated[list[Identifier], Field(min_length=1)]
    """Option ids chosen, in order; the last one is the correct answer."""
    first_correct: bool

    @property
    def first_attempt(self) -> str:
        return self.attempts[0]


class ScreeningAnswerValue(StrEnum):
    YES = "yes"
    NO = "no"
    NOT_SURE = "not_sure"


class ScreeningAnswer(Model):
    question_id: Identifier
    answer: ScreeningAnswerValue

    @property
    def flagged(self) -> bool:
        return self.answer is not ScreeningAnswerValue.NO


class ScreeningFlag(Model):
    """A screening answer the physiotherapist must discuss. Flags never refuse treatment."""

    question_id: Identifier
    answer: ScreeningAnswerValue
    reason: Annotated[str, StringConstraints(min_length=1, max_length=400)]


class SignatureMethod(StrEnum):
    DRAWN = "drawn"
    """Drawn on the signature pad with mouse or touch, plus the typed name."""
    TYPED = "typed"
    """Keyboard-only: the patient confirmed that their typed name is their signature."""


class Point(Model):
    """A point on the signature pad, in cells from the pad's top left, as the terminal
    reported it (see :attr:`Signature.precision`)."""

    x: float
    y: float


MAX_STROKES = 200
"""Most strokes a drawn signature may have (the pad stops adding more)."""
MAX_STROKE_POINTS = 4000
"""Most points one stroke may have (the pad stops adding more)."""

Stroke = Annotated[list[Point], Field(min_length=1, max_length=MAX_STROKE_POINTS)]

SignaturePrecision = Literal["cell", "pixel"]


def stroke_precision(strokes: Iterable[Iterable[tuple[float, float]]]) -> SignaturePrecision:
    """``pixel`` when the terminal reported the pointer within cells (a fraction in any
    point: SGR-pixels mouse mode), ``cell`` when every point is a whole cell."""
    for stroke in strokes:
        for x, y in stroke:
            if x != int(x) or y != int(y):
                return "pixel"
    return "cell"


class Signature(Model):
    method: SignatureMethod
    typed_name: PersonName
    signed_at: AwareDatetime
    strokes: Annotated[list[Stroke], Field(max_length=MAX_STROKES)] = Field(default_factory=list)
    pad_width: Annotated[int, Field(ge=0, le=1000)] = 0
    pad_height: Annotated[int, Field(ge=0, le=1000)] = 0
    signer: Literal["patient", "substitute"] = "patient"
    precision: SignaturePrecision | None = None
    """How finely the terminal reported the pointer, the points being stored as captured:
    ``cell``, whole character cells (a point is the top-left corner of the cell touched);
    ``pixel``, fractions of a cell. None for a typed signature, and in records written
    before this was kept, whose points were stored at the centre of each cell touched."""

    @model_serializer(mode="wrap")
    def _leave_out_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Records made before ``precision`` keep their exact stored form (and hash)."""
        data: dict[str, Any] = handler(self)
        if data.get("precision") is None:
            data.pop("precision", None)
        return data

    def drawn_points(self) -> list[list[tuple[float, float]]]:
        """The strokes as points to draw through, in cells: a whole-cell point is drawn at
        the centre of its cell (where the finger or pointer most likely was)."""
        shift = 0.5 if self.precision == "cell" else 0.0
        return [[(p.x + shift, p.y + shift) for p in stroke] for stroke in self.strokes]

    @model_validator(mode="after")
    def _strokes_match_method(self) -> Signature:
        if self.method is SignatureMethod.DRAWN and not self.strokes:
            raise ValueError("a drawn signature needs at least one stroke")
        if self.method is SignatureMethod.TYPED and self.strokes:
            raise ValueError("a typed signature has no strokes")
        return self


class ContentStamp(Model):
    """Which content the patient saw: version and the hash of exactly what was shown, and
    the clinic settings that chose among its variants."""

    version: str
    language: str
    sha256: Sha256Hex
    province: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    """The clinic's province: its rule for young patients was shown and flagged."""
    options: list[Identifier] = Field(default_factory=list)
    """Clinic settings that added content, for example ``electrical-stimulation``."""

    @model_serializer(mode="wrap")
    def _leave_out_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Records made without these fields keep their exact stored form (and hash)."""
        data: dict[str, Any] = handler(self)
        if data.get("province") is None:
            data.pop("province", None)
        if not data.get("options"):
            data.pop("options", None)
        return data


_ADDED_OPTIONAL = ("clinic_address", "clinic_phone", "timezone", "elapsed_seconds")
"""Record fields added after stores were first written (omitted from JSON when None)."""


class ConsentRecord(Model):
    """One patient's pass through the kiosk. Written once; never edited."""

    schema_version: Literal[1] = SCHEMA_VERSION
    id: RecordId = Field(default_factory=new_record_id)
    reference: Reference = Field(default_factory=new_reference)
    clinic_name: PersonName
    clinic_address: Annotated[list[ClinicLine], Field(max_length=4)] | None = None
    """The clinic's address as it was when the patient signed (None in records made before
    the record carried it: a PDF then prints the name alone, never today's settings)."""
    clinic_phone: ClinicLine | None = None
    timezone: ZoneName | None = None
    """The clinic's IANA time zone at signing; a PDF prints every time in it."""
    kiosk_id: ShortText
    app_version: ShortText
    started_at: AwareDatetime
    completed_at: AwareDatetime
    """Wall-clock times as the kiosk's clock read them (see ``elapsed_seconds``)."""
    elapsed_seconds: Annotated[float, Field(ge=0)] | None = None
    """Start to signing on the monotonic clock, which a clock change cannot move. When the
    wall clock was stepped during the session the two disagree, and both are kept."""
    physiotherapist: Physiotherapist
    patient: Patient
    substitute: SubstituteDecisionMaker | None = None
    content: ContentStamp
    engagement: list[SectionEngagement]
    quiz: list[QuizAnswer]
    screening: list[ScreeningAnswer]
    flags: list[ScreeningFlag]
    statements_confirmed: list[Identifier]
    decision: Decision
    status: RecordStatus
    """Status at signing; see :func:`current_status` for the status after later events."""
    signature: Signature

    @model_serializer(mode="wrap")
    def _omit_absent_additions(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Fields added after the first stores were written are left out when absent, so a
        record that does not use them is the same bytes (and hash) as before."""
        data: dict[str, Any] = handler(self)
        for key in _ADDED_OPTIONAL:
            if key in data and data[key] is None:
                del data[key]
        return data

    @model_validator(mode="after")
    def _consistent(self) -> ConsentRecord:
        if self.status is not STATUS_AT_SIGNING[self.decision]:
            raise ValueError(
                f"status {self.status.value} does not follow from decision {self.decision.value}"
            )
        if self.completed_at < self.started_at and self.elapsed_seconds is None:
            # Allowed only with the measured duration: the kiosk's clock was set back
            # during the session, and the record says so rather than inventing times.
            raise ValueError("completed_at is before started_at")
        if (self.signature.signer == "substitute") != (self.substitute is not None):
            raise ValueError("the signer must be the substitute decision-maker when there is one")
        flagged = [a.question_id for a in self.screening if a.flagged]
        if [f.question_id for f in self.flags] != flagged:
            raise ValueError("flags must match the Yes and Not sure screening answers")
        return self

    @property
    def signer_name(self) -> str:
        return self.substitute.full_name if self.substitute else self.patient.full_name

    @property
    def clock_step_seconds(self) -> float:
        """How far the wall clock moved against the measured duration (0 when it did not,
        or when the record does not say)."""
        if self.elapsed_seconds is None:
            return 0.0
        wall = (self.completed_at - self.started_at).total_seconds()
        return wall - self.elapsed_seconds

    @property
    def missed_questions(self) -> list[str]:
        """Quiz questions not answered right the first time: what to go over."""
        return [answer.question_id for answer in self.quiz if not answer.first_correct]


class EventKind(StrEnum):
    """Kinds of version-1 events; new events are version 2 (consent_records/events.py)."""

    PDF_EXPORTED = "pdf_exported"
    AFTERCARE_PRINTED = "aftercare_printed"
    """The take-home aftercare sheet was written for the patient (safety-net advice given)."""
    PHYSIO_REVIEWED = "physio_reviewed"
    COUNTERSIGNED = "countersigned"
    WITHDRAWN = "withdrawn"
    NOTE = "note"


EVENT_STATUS: dict[EventKind, RecordStatus] = {
    EventKind.COUNTERSIGNED: RecordStatus.CONSENTED,
    EventKind.WITHDRAWN: RecordStatus.WITHDRAWN,
}


class RecordEvent(Model):
    """A later fact about a record. Appended; never edited."""

    schema_version: Literal[1] = SCHEMA_VERSION
    id: RecordId = Field(default_factory=new_record_id)
    record_id: RecordId
    kind: EventKind
    at: AwareDatetime
    actor: ShortText
    """Who did it: a staff user id, or ``kiosk:<id>`` / ``cli`` for the system."""
    note: NoteText | None = None
    details: dict[str, str | int | float | bool | None] = Field(default_factory=dict)


def status_after(status: RecordStatus, kinds: Iterable[str]) -> RecordStatus:
    """``status`` folded forward through event kinds (either schema version), in order.

    The version-1 status (kept for the kiosk's PDF); the consent lifecycle is
    :func:`consent_records.lifecycle.fold`.
    """
    for kind in kinds:
        if kind in _V1_KINDS:
            status = EVENT_STATUS.get(EventKind(kind), status)
    return status


_V1_KINDS = frozenset(kind.value for kind in EventKind)


def current_status(record: ConsentRecord, events: Iterable[RecordEvent | AnyEvent]) -> RecordStatus:
    """The record's version-1 status after its events, in order."""
    return status_after(record.status, (event.kind.value for event in events))


class StoredEntry(Model):
    """Where an entry sits in the store's hash chain."""

    seq: Annotated[int, Field(ge=1)]
    """Position in the chain, from 1."""
    sha256: Sha256Hex
    """SHA-256 of the entry's canonical JSON chained to the previous entry's hash."""
    prev_sha256: Sha256Hex


class StoredRecord(Model):
    record: ConsentRecord
    entry: StoredEntry
    events: list[StoredEvent] = Field(default_factory=list)
    chain_head: Sha256Hex
    """The hash of the chain's newest entry when this was read."""
    chain_length: Annotated[int, Field(ge=0)] | None = None
    """That newest entry's sequence number (with ``chain_head``, an anchor for
    ``ims-kiosk verify --expect``); None when the backend did not say."""

    @property
    def status(self) -> RecordStatus:
        """The version-1 status (see :attr:`lifecycle` for the consent lifecycle)."""
        return current_status(self.record, (e.event for e in self.events))

    @property
    def lifecycle(self) -> Lifecycle:
        """The record folded through its events (:func:`consent_records.lifecycle.fold`)."""
        from consent_records.lifecycle import fold

        return fold(self.record, (e.event for e in self.events))

    def standing(self, now: datetime, rules: ConsentRules | None = None) -> Standing:
        """The derived status at ``now`` (expiry and re-consent judged with ``rules``)."""
        return self.lifecycle.standing(now, rules)

    @property
    def last_event_id(self) -> str:
        """The newest event's id, or the record's own id when it has none: what
        :class:`consent_records.base.Expect` compares to refuse a stale action."""
        return self.events[-1].event.id if self.events else self.record.id


class StoredEvent(Model):
    event: AnyEvent
    """A version-1 :class:`RecordEvent` or a version-2 event (:mod:`consent_records.events`)."""
    entry: StoredEntry


class RecordSummary(Model):
    """What a list of records shows, without loading whole records."""

    id: RecordId
    reference: Reference
    patient_name: str
    date_of_birth: date
    completed_at: AwareDatetime
    decision: Decision
    status: RecordStatus
    flag_count: int
    missed_count: int


def summarise(record: ConsentRecord, events: Iterable[RecordEvent] = ()) -> RecordSummary:
    return RecordSummary(
        id=record.id,
        reference=record.reference,
        patient_name=record.patient.full_name,
        date_of_birth=record.patient.date_of_birth,
        completed_at=record.completed_at,
        decision=record.decision,
        status=current_status(record, events),
        flag_count=len(record.flags),
        missed_count=len(record.missed_questions),
    )


def record_from_json(data: Any) -> ConsentRecord:
    return ConsentRecord.model_validate(data)


def _rebuild_stored_models() -> None:
    """Resolve ``StoredEvent.event`` (a union defined in consent_records.events, which
    imports this module): called at the end of that module."""
    from consent_records.events import AnyEvent

    StoredEvent.model_rebuild(_types_namespace={"AnyEvent": AnyEvent})
    StoredRecord.model_rebuild(_types_namespace={"AnyEvent": AnyEvent})


# consent_records.events imports this module; importing it here (after every name it needs
# exists) makes sure StoredEvent is complete whichever module is imported first.
import consent_records.events  # noqa: E402, F401
