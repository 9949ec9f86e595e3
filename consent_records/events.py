"""Later facts about a consent record: one pydantic model per kind, each with a typed actor.

A signed record is never edited. What happens afterwards (a PDF export, the
physiotherapist's discussion, the countersignature, a decline, a withdrawal, a note, a link
to a later re-consent record) is one of the events below, appended to the store's hash chain.
The record's status is never stored: :mod:`consent_records.lifecycle` folds it from the
record and its events.

Two schema versions live side by side in a store:

* **version 1** (:class:`consent_records.model.RecordEvent`): ``kind``, ``actor`` as a plain
  string (``cli``, ``kiosk:<id>`` or a user id), an optional ``note`` and a ``details``
  dictionary. The kiosk and the CLI wrote these before the staff side existed. They stay
  valid forever: the store hashes the JSON exactly as it was written and never re-serialises
  it, and :func:`parse_event` reads them back as ``RecordEvent``.
* **version 2** (this module): ``schema_version: 2`` and a ``kind`` that selects one model of
  :data:`LifecycleEvent`. New events are always written as version 2.

:func:`parse_event` is the one way to turn stored event JSON into a model (by version, then by
kind). Everything typed by staff passes through :func:`consent_records.sanitize.clean_text`
(the ``NoteText``/``ShortText``/``PersonName`` validators), as patient text does.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import (
    AwareDatetime,
    Field,
    StringConstraints,
    TypeAdapter,
    model_validator,
)

from consent_records.model import (
    ConsentRecord,
    Identifier,
    Model,
    NoteText,
    PersonName,
    RecordEvent,
    RecordId,
    Reference,
    Sha256Hex,
    ShortText,
    _rebuild_stored_models,
    new_record_id,
)

EVENT_SCHEMA_VERSION: Literal[2] = 2

UserName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9._-]{1,31}$")]
"""A staff account's user name: its permanent id (accounts are disabled, never deleted or
renamed, so a name is never reused). Lower case, 2 to 32 characters."""

ItemRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class Role(StrEnum):
    """A staff account's role (see ``kiosk.auth.permissions`` for what each may do)."""

    ADMIN = "admin"
    PHYSIO = "physio"


class TerminalKind(StrEnum):
    KIOSK = "kiosk"
    """A configured kiosk or staff terminal, named by its ``kiosk_id`` setting."""
    HOST = "host"
    """A machine without a kiosk id (a CLI run on a server), named by its host name."""


class Terminal(Model):
    """Where an act happened."""

    kind: TerminalKind
    id: Annotated[ShortText, StringConstraints(min_length=1)]

    def __str__(self) -> str:
        return self.id if self.kind is TerminalKind.KIOSK else f"host {self.id}"


class StaffActor(Model):
    """A logged-in staff member."""

    type: Literal["staff"] = "staff"
    user: UserName
    display_name: PersonName
    role: Role
    terminal: Terminal

    @property
    def label(self) -> str:
        return f"{self.display_name} ({self.user}, {self.role.value}) at {self.terminal}"


class SystemActor(Model):
    """A process acting without a staff login.

    ``kiosk``: the patient kiosk (``name`` is its kiosk id); ``cli``: an ``ims-kiosk`` command
    run without ``--user`` (``name`` is the command); ``os_user``: ``verify`` or ``backup``
    run by an operating-system user (``name`` is that user); ``system``: the software itself
    (for example an automatic checkpoint).
    """

    type: Literal["kiosk", "cli", "os_user", "system"]
    name: Annotated[ShortText, StringConstraints(min_length=1)]
    terminal: Terminal

    @property
    def label(self) -> str:
        return f"{self.type} {self.name} at {self.terminal}"


Actor: TypeAlias = Annotated[StaffActor | SystemActor, Field(discriminator="type")]


class EventKind(StrEnum):
    """The kinds of version-2 events.

    Version-1 events use :class:`consent_records.model.EventKind`; the values they share
    (``pdf_exported``, ``countersigned``, ``withdrawn``, ``note``) mean the same thing.
    """

    PDF_EXPORTED = "pdf_exported"
    AFTERCARE_PRINTED = "aftercare_printed"
    DISCUSSED = "discussed"
    COUNTERSIGNED = "countersigned"
    DECLINED = "declined"
    NOT_PROCEEDING = "not_proceeding"
    WITHDRAWN = "withdrawn"
    NOTE = "note"
    RECONSENT_LINKED = "reconsent_linked"


class ChainEvent(Model):
    """What every version-2 chain entry other than a record has: an id, a time, an actor."""

    schema_version: Literal[2] = EVENT_SCHEMA_VERSION
    id: RecordId = Field(default_factory=new_record_id)
    at: AwareDatetime
    """When it was recorded (with the terminal's UTC offset)."""
    actor: Actor

    @property
    def actor_label(self) -> str:
        return self.actor.label


class _Event(ChainEvent):
    record_id: RecordId


class PdfExported(_Event):
    """A PDF of the record was written (one record, or as part of a bulk export)."""

    kind: Literal[EventKind.PDF_EXPORTED] = EventKind.PDF_EXPORTED
    file_name: Annotated[ShortText, StringConstraints(min_length=1)]
    """The file's name only, never its folder (folders can name people)."""
    bytes: Annotated[int, Field(ge=0)]
    pdf_sha256: Sha256Hex | None = None
    """SHA-256 of the PDF's bytes, so a PDF found later can be matched to its export."""


class AftercarePrinted(_Event):
    """The take-home aftercare sheet was written for the patient (safety-net advice given)."""

    kind: Literal[EventKind.AFTERCARE_PRINTED] = EventKind.AFTERCARE_PRINTED
    file_name: Annotated[ShortText, StringConstraints(min_length=1)]
    """The file's name only, never its folder."""
    bytes: Annotated[int, Field(ge=0)]


class DiscussItemKind(StrEnum):
    """What the "discuss these first" list of a record can hold."""

    SCREENING_FLAG = "screening_flag"
    """``ref``: the screening question id answered Yes or Not sure."""
    MISSED_QUESTION = "missed_question"
    """``ref``: the quiz question id not answered right the first time."""
    SECTION_NOT_FINISHED = "section_not_finished"
    """``ref``: the education section id whose end was not reached."""
    SECTION_READ_QUICKLY = "section_read_quickly"
    """``ref``: the section id whose time on screen was far below its reading estimate."""
    SUBSTITUTE = "substitute_decision_maker"
    """No ``ref``: a substitute decision-maker gave the answers."""
    OLDER_CONTENT = "older_content"
    """``ref``: the content version the patient saw, older than the current one."""


_REF_NEEDED = frozenset(DiscussItemKind) - {DiscussItemKind.SUBSTITUTE}


class DiscussItem(Model):
    """One entry of a record's "discuss these first" list."""

    kind: DiscussItemKind
    ref: ItemRef | None = None

    @model_validator(mode="after")
    def _ref_matches_kind(self) -> DiscussItem:
        if (self.ref is None) == (self.kind in _REF_NEEDED):
            needs = "needs" if self.kind in _REF_NEEDED else "takes no"
            raise ValueError(f"a {self.kind.value} item {needs} ref")
        return self

    def __str__(self) -> str:
        return self.kind.value if self.ref is None else f"{self.kind.value} {self.ref}"


def record_items(record: ConsentRecord) -> tuple[DiscussItem, ...]:
    """The "discuss these first" items that follow from the signed record alone.

    Screening flags, quiz questions missed at the first attempt, sections whose end was not
    reached, and a substitute decision-maker. Items that need the clinic's context (a
    section read far faster than its reading estimate, a content version older than the
    current one) are added by the caller.
    """
    items = [
        DiscussItem(kind=DiscussItemKind.SCREENING_FLAG, ref=f.question_id) for f in record.flags
    ]
    items += [
        DiscussItem(kind=DiscussItemKind.MISSED_QUESTION, ref=q) for q in record.missed_questions
    ]
    items += [
        DiscussItem(kind=DiscussItemKind.SECTION_NOT_FINISHED, ref=s.section_id)
        for s in record.engagement
        if not s.reached_end
    ]
    if record.substitute is not None:
        items.append(DiscussItem(kind=DiscussItemKind.SUBSTITUTE))
    return tuple(items)


class DiscussedItem(Model):
    item: DiscussItem
    addressed: bool
    note: NoteText | None = None


class PatientQuestion(Model):
    question: NoteText
    answer: NoteText


class Discussed(_Event):
    """The physiotherapist's discussion with the patient (one of several, if need be)."""

    kind: Literal[EventKind.DISCUSSED] = EventKind.DISCUSSED
    items: list[DiscussedItem] = Field(default_factory=list, max_length=200)
    """Each "discuss these first" item shown, ticked (addressed) or not, with a note."""
    questions: list[PatientQuestion] = Field(default_factory=list, max_length=100)
    """The patient's questions and the answers given."""
    other: NoteText | None = None
    """Anything else discussed."""

    @model_validator(mode="after")
    def _says_something(self) -> Discussed:
        seen = [entry.item for entry in self.items]
        if len(set(seen)) != len(seen):
            raise ValueError("each discussion item may appear only once")
        if not any(e.addressed for e in self.items) and not self.questions and not self.other:
            raise ValueError(
                "a discussion needs at least one item addressed, a question answered, "
                "or a note of what was discussed"
            )
        return self

    @property
    def addressed(self) -> frozenset[DiscussItem]:
        return frozenset(entry.item for entry in self.items if entry.addressed)


class Countersigned(_Event):
    """Consent given: the physiotherapist countersigns after their discussion.

    The signer's printed name, registration and the meaning are stored as they were shown
    on the screen when the physiotherapist entered their password again; ``at`` is the time
    of signing.
    """

    kind: Literal[EventKind.COUNTERSIGNED] = EventKind.COUNTERSIGNED
    physiotherapist_id: Identifier
    """The clinic settings' ``physiotherapists`` id of the signer."""
    signer_name: PersonName
    registration: ShortText | None = None
    """Registration number with their college, as configured; None when not configured."""
    meaning: NoteText
    """The statement shown above the signature, word for word."""
    password_confirmed_at: AwareDatetime
    """When the signer re-entered their password for this signature."""


class Declined(_Event):
    """The patient declined IMS after the discussion."""

    kind: Literal[EventKind.DECLINED] = EventKind.DECLINED
    reason: NoteText | None = None
    """The patient's reason, if they gave one."""


class NotProceeding(_Event):
    """The physiotherapist decided IMS is not suitable, or the consent is otherwise closed."""

    kind: Literal[EventKind.NOT_PROCEEDING] = EventKind.NOT_PROCEEDING
    reason: NoteText


class Withdrawn(_Event):
    """The patient withdrew their consent; ``actor`` recorded it, ``at`` is when."""

    kind: Literal[EventKind.WITHDRAWN] = EventKind.WITHDRAWN
    reason: NoteText | None = None
    """The patient's reason, if they gave one."""


class Note(_Event):
    kind: Literal[EventKind.NOTE] = EventKind.NOTE
    text: NoteText


class ReconsentLinked(_Event):
    """On an earlier record: a later kiosk record is this patient's re-consent."""

    kind: Literal[EventKind.RECONSENT_LINKED] = EventKind.RECONSENT_LINKED
    new_record_id: RecordId
    new_reference: Reference


LifecycleEvent: TypeAlias = Annotated[
    PdfExported
    | AftercarePrinted
    | Discussed
    | Countersigned
    | Declined
    | NotProceeding
    | Withdrawn
    | Note
    | ReconsentLinked,
    Field(discriminator="kind"),
]
"""Any version-2 event, chosen by its ``kind``."""

AnyEvent: TypeAlias = RecordEvent | LifecycleEvent
"""What a store holds: a version-1 :class:`RecordEvent` or a version-2 event."""

_LIFECYCLE_ADAPTER: TypeAdapter[LifecycleEvent] = TypeAdapter(LifecycleEvent)


class UnknownEventVersion(ValueError):
    """Stored event JSON has a schema version this software does not know."""


def parse_event(data: Any) -> AnyEvent:
    """Stored event JSON (as the store read it) as a model, by schema version.

    Raises:
        UnknownEventVersion: ``schema_version`` is missing or not 1 or 2.
        pydantic.ValidationError: the JSON is not a valid event of its version.
    """
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version == 1 and not isinstance(version, bool):
        return RecordEvent.model_validate(data)
    if version == EVENT_SCHEMA_VERSION and not isinstance(version, bool):
        return _LIFECYCLE_ADAPTER.validate_python(data)
    raise UnknownEventVersion(f"unknown event schema version {version!r}")


def event_kind(event: AnyEvent) -> str:
    """The kind's value, for either version (what the store's index keeps)."""
    return event.kind.value


def actor_label(event: AnyEvent) -> str:
    """Who did it, for a timeline or the audit log."""
    return event.actor if isinstance(event, RecordEvent) else event.actor.label


def actor_key(event: AnyEvent) -> str:
    """Who did it, as an audit query names them: a staff user name, ``<type>:<name>`` for a
    process without a staff login (``kiosk:front-desk``, ``os_user:alice``), or a version-1
    event's actor string."""
    if isinstance(event, RecordEvent):
        return event.actor
    return actor_key_of(event.actor)


def actor_key_of(actor: StaffActor | SystemActor) -> str:
    return actor.user if isinstance(actor, StaffActor) else f"{actor.type}:{actor.name}"


_rebuild_stored_models()

__all__ = [
    "EVENT_SCHEMA_VERSION",
    "Actor",
    "AftercarePrinted",
    "AnyEvent",
    "ChainEvent",
    "Countersigned",
    "Declined",
    "DiscussItem",
    "DiscussItemKind",
    "Discussed",
    "DiscussedItem",
    "EventKind",
    "LifecycleEvent",
    "NotProceeding",
    "Note",
    "PatientQuestion",
    "PdfExported",
    "ReconsentLinked",
    "Role",
    "StaffActor",
    "SystemActor",
    "Terminal",
    "TerminalKind",
    "UnknownEventVersion",
    "UserName",
    "Withdrawn",
    "actor_key",
    "actor_key_of",
    "actor_label",
    "event_kind",
    "parse_event",
    "record_items",
]
