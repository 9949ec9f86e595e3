"""The consent lifecycle: one transition table, one fold, a status never stored.

A record's status is derived, every time, from the signed kiosk record plus its appended
events (:func:`fold`), and then from a clock and the content's change history
(:meth:`Lifecycle.standing`). Nothing here touches a store or a screen: services call
:func:`check` before appending an event ("append only if the record is still in this
state") and turn :class:`TransitionRefused` into the sentence a person sees.

States
======

From the kiosk (the patient's decision when signing):

* ``awaiting_discussion``: the patient intends to have IMS once they have talked with the
  physiotherapist (kiosk decision *agree*);
* ``wants_discussion``: the patient wants to talk before deciding (*discuss*);
* ``declined_at_kiosk``: the patient does not want IMS (*decline*). Final.

After the physiotherapist:

* ``discussed``: a discussion is recorded; the outcome is not (yet): the patient may want
  time to think, or a second discussion may follow;
* ``active``: consent given, countersigned by the physiotherapist who discussed it;
* ``declined_after_discussion``: final;
* ``not_proceeding``: the physiotherapist closed it (IMS not suitable, or the patient never
  came back), with a reason. Final;
* ``withdrawn``: the patient withdrew an active consent. Final.

Derived from an active consent with a clock and the content history (never from events):

* ``expired``: ``consent_valid_days`` (default 365) have passed since the countersignature;
* ``reconsent_needed``: the content changed materially since the version the patient saw.

Decisions (the transition table is :data:`TRANSITIONS`)
=======================================================

* "Wants to talk first" goes straight to a discussion, and from there to any outcome,
  countersignature included: the consent is given to the physiotherapist in the discussion,
  and the countersignature attests it.
* Every outcome follows a discussion, except *not proceeding*, which may also close a record
  that never got one (the physiotherapist judged IMS unsuitable on review, or the patient did
  not return).
* Countersigning needs a discussion recorded by the same physiotherapist, with every
  "discuss these first" item addressed: the items that follow from the record itself
  (:func:`consent_records.events.record_items`) and any item listed in a discussion.
* Only a physiotherapist records a discussion, countersignature, decline, *not proceeding*
  or withdrawal. An admin never does (the permission table refuses first; this is the second
  line).
* A record takes one countersignature. A final state takes no other outcome.
* Withdrawal applies to an active consent only (expired or needing re-consent included: it
  still records the patient's wish). Before consent there is nothing to withdraw: record the
  patient's decline after the discussion instead.
* A patient who declined at the kiosk, or after discussion, and changes their mind fills in a
  **new kiosk record**; a signed record is never reopened. So does a patient whose consent
  was withdrawn, expired or needs re-consent. Staff link the earlier record to the new one
  (``reconsent_linked``); the link does not change either record's status.
* A PDF export, a note and a re-consent link are allowed in every state.

Events written before the staff side existed (schema version 1) fold through the same
table: ``physio_reviewed`` is a discussion, ``countersigned`` is a *legacy countersignature*
(allowed where the old rules allowed it: the old review step was implied), ``withdrawn`` a
withdrawal, ``note`` and ``pdf_exported`` as today.

A stored event that the table refuses (one written by older software, or by a race that a
backend failed to serialise) never makes the fold fail: it leaves the status unchanged and
is listed in :attr:`Lifecycle.refused` with the reason, for the staff app to show.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from consent_records.events import (
    AftercarePrinted,
    AnyEvent,
    Countersigned,
    Declined,
    Discussed,
    DiscussItem,
    EventKind,
    LifecycleEvent,
    Note,
    NotProceeding,
    PdfExported,
    ReconsentLinked,
    Role,
    StaffActor,
    Withdrawn,
    record_items,
)
from consent_records.model import ConsentRecord, Decision, RecordEvent
from consent_records.model import EventKind as V1Kind
from content.history import ContentHistory, ContentRevision

DEFAULT_VALID_DAYS = 365
DEFAULT_EXPIRING_WITHIN_DAYS = 30


class ConsentStatus(StrEnum):
    AWAITING_DISCUSSION = "awaiting_discussion"
    WANTS_DISCUSSION = "wants_discussion"
    DECLINED_AT_KIOSK = "declined_at_kiosk"
    DISCUSSED = "discussed"
    ACTIVE = "active"
    DECLINED_AFTER_DISCUSSION = "declined_after_discussion"
    NOT_PROCEEDING = "not_proceeding"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    RECONSENT_NEEDED = "reconsent_needed"


STATUS_LABEL: Mapping[ConsentStatus, str] = MappingProxyType(
    {
        ConsentStatus.AWAITING_DISCUSSION: "awaiting discussion",
        ConsentStatus.WANTS_DISCUSSION: "wants to talk first",
        ConsentStatus.DECLINED_AT_KIOSK: "declined at the kiosk",
        ConsentStatus.DISCUSSED: "discussed, decision pending",
        ConsentStatus.ACTIVE: "active consent",
        ConsentStatus.DECLINED_AFTER_DISCUSSION: "declined after discussion",
        ConsentStatus.NOT_PROCEEDING: "not proceeding",
        ConsentStatus.WITHDRAWN: "withdrawn",
        ConsentStatus.EXPIRED: "expired",
        ConsentStatus.RECONSENT_NEEDED: "re-consent needed",
    }
)
"""English labels (the staff app translates them with ``kiosk.i18n``)."""

BASE_STATUSES: frozenset[ConsentStatus] = frozenset(ConsentStatus) - {
    ConsentStatus.EXPIRED,
    ConsentStatus.RECONSENT_NEEDED,
}
"""The statuses events lead to; expired and re-consent needed are derived from ``active``."""

CONSENT_COMPLETE: frozenset[ConsentStatus] = frozenset(
    {ConsentStatus.ACTIVE, ConsentStatus.EXPIRED, ConsentStatus.RECONSENT_NEEDED}
)
"""Countersigned consent (the PDF drops its "not consent by itself" banner)."""

FINAL: frozenset[ConsentStatus] = frozenset(
    {
        ConsentStatus.DECLINED_AT_KIOSK,
        ConsentStatus.DECLINED_AFTER_DISCUSSION,
        ConsentStatus.NOT_PROCEEDING,
        ConsentStatus.WITHDRAWN,
    }
)

INITIAL_STATUS: Mapping[Decision, ConsentStatus] = MappingProxyType(
    {
        Decision.AGREE: ConsentStatus.AWAITING_DISCUSSION,
        Decision.DISCUSS: ConsentStatus.WANTS_DISCUSSION,
        Decision.DECLINE: ConsentStatus.DECLINED_AT_KIOSK,
    }
)

FhirConsentStatus = Literal["proposed", "active", "rejected", "inactive"]

FHIR_R4_CONSENT_STATUS: Mapping[ConsentStatus, FhirConsentStatus] = MappingProxyType(
    {
        # "proposed": not yet agreed to by all parties.
        ConsentStatus.AWAITING_DISCUSSION: "proposed",
        ConsentStatus.WANTS_DISCUSSION: "proposed",
        ConsentStatus.DISCUSSED: "proposed",
        ConsentStatus.ACTIVE: "active",
        # "rejected": refused by one of the parties (the patient, or the physiotherapist).
        ConsentStatus.DECLINED_AT_KIOSK: "rejected",
        ConsentStatus.DECLINED_AFTER_DISCUSSION: "rejected",
        ConsentStatus.NOT_PROCEEDING: "rejected",
        # "inactive": terminated. Expired and re-consent needed are not in force for a new
        # treatment, so a receiving system must not read them as active.
        ConsentStatus.WITHDRAWN: "inactive",
        ConsentStatus.EXPIRED: "inactive",
        ConsentStatus.RECONSENT_NEEDED: "inactive",
    }
)
"""FHIR R4 ``Consent.status`` (ConsentState 4.0.1) for each state, for the FHIR export."""


class Action(StrEnum):
    """What an event does to the lifecycle (the transition table's rows)."""

    EXPORT_PDF = "export_pdf"
    PRINT_AFTERCARE = "print_aftercare"
    NOTE = "note"
    LINK_RECONSENT = "link_reconsent"
    DISCUSS = "discuss"
    COUNTERSIGN = "countersign"
    LEGACY_COUNTERSIGN = "legacy_countersign"
    DECLINE = "decline"
    NOT_PROCEED = "not_proceed"
    WITHDRAW = "withdraw"


_S = ConsentStatus
_PENDING = (_S.AWAITING_DISCUSSION, _S.WANTS_DISCUSSION)
_EVERY = {status: status for status in BASE_STATUSES}

TRANSITIONS: Mapping[Action, Mapping[ConsentStatus, ConsentStatus]] = MappingProxyType(
    {
        Action.EXPORT_PDF: _EVERY,
        Action.PRINT_AFTERCARE: _EVERY,
        Action.NOTE: _EVERY,
        Action.LINK_RECONSENT: _EVERY,
        Action.DISCUSS: {**{s: _S.DISCUSSED for s in _PENDING}, _S.DISCUSSED: _S.DISCUSSED},
        Action.COUNTERSIGN: {_S.DISCUSSED: _S.ACTIVE},
        Action.LEGACY_COUNTERSIGN: {s: _S.ACTIVE for s in (*_PENDING, _S.DISCUSSED)},
        Action.DECLINE: {_S.DISCUSSED: _S.DECLINED_AFTER_DISCUSSION},
        Action.NOT_PROCEED: {s: _S.NOT_PROCEEDING for s in (*_PENDING, _S.DISCUSSED)},
        Action.WITHDRAW: {_S.ACTIVE: _S.WITHDRAWN},
    }
)
"""``TRANSITIONS[action][from] == to``; a pair that is missing is refused."""

CLINICAL_ACTIONS: frozenset[Action] = frozenset(
    {Action.DISCUSS, Action.COUNTERSIGN, Action.DECLINE, Action.NOT_PROCEED, Action.WITHDRAW}
)
"""Recorded by a physiotherapist only (checked on version-2 events)."""

_ACTION_OF_KIND: Mapping[str, Action] = MappingProxyType(
    {
        EventKind.PDF_EXPORTED: Action.EXPORT_PDF,
        EventKind.AFTERCARE_PRINTED: Action.PRINT_AFTERCARE,
        EventKind.NOTE: Action.NOTE,
        EventKind.RECONSENT_LINKED: Action.LINK_RECONSENT,
        EventKind.DISCUSSED: Action.DISCUSS,
        EventKind.COUNTERSIGNED: Action.COUNTERSIGN,
        EventKind.DECLINED: Action.DECLINE,
        EventKind.NOT_PROCEEDING: Action.NOT_PROCEED,
        EventKind.WITHDRAWN: Action.WITHDRAW,
    }
)
_ACTION_OF_V1: Mapping[V1Kind, Action] = MappingProxyType(
    {
        V1Kind.PDF_EXPORTED: Action.EXPORT_PDF,
        V1Kind.AFTERCARE_PRINTED: Action.PRINT_AFTERCARE,
        V1Kind.NOTE: Action.NOTE,
        V1Kind.PHYSIO_REVIEWED: Action.DISCUSS,
        V1Kind.COUNTERSIGNED: Action.LEGACY_COUNTERSIGN,
        V1Kind.WITHDRAWN: Action.WITHDRAW,
    }
)


def action_of(event: AnyEvent) -> Action:
    """The table row an event (of either schema version) belongs to."""
    if isinstance(event, RecordEvent):
        return _ACTION_OF_V1[event.kind]
    return _ACTION_OF_KIND[event.kind]


class TransitionRefused(Exception):
    """An event that makes no sense for the record as it stands.

    ``str(error)`` is a complete sentence for the physiotherapist or admin; ``action`` and
    ``status`` say which table cell refused it (for translation or tests).
    """

    def __init__(self, sentence: str, action: Action, status: ConsentStatus) -> None:
        super().__init__(sentence)
        self.action = action
        self.status = status


@dataclass(frozen=True, slots=True)
class Refusal:
    """A stored event the fold did not apply, and why."""

    event_id: str
    action: Action
    reason: str


@dataclass(frozen=True, slots=True)
class ConsentRules:
    """The clinic's settings and the content history a standing is judged against."""

    valid_days: int = DEFAULT_VALID_DAYS
    history: ContentHistory = field(default_factory=ContentHistory)
    """The change history of the record's content language (``LoadedContent.history``)."""
    expiring_within_days: int = DEFAULT_EXPIRING_WITHIN_DAYS

    def __post_init__(self) -> None:
        if self.valid_days < 1 or self.expiring_within_days < 0:
            raise ValueError("consent_valid_days must be at least 1")


@dataclass(frozen=True, slots=True)
class Standing:
    """A lifecycle judged at one moment."""

    status: ConsentStatus
    """The status to show: ``base``, or expired / re-consent needed for an active consent."""
    base: ConsentStatus
    expires_at: datetime | None
    expiring_soon: bool
    """Active, not yet expired, and expiring within ``expiring_within_days``."""
    material_changes: tuple[ContentRevision, ...]
    """Material content changes since the version the patient saw (active consents only)."""

    @property
    def fhir_status(self) -> FhirConsentStatus:
        return FHIR_R4_CONSENT_STATUS[self.status]


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """A record folded through its events. Immutable: :func:`apply` returns a new one."""

    record_id: str
    initial: ConsentStatus
    status: ConsentStatus
    content_version: str
    required_items: tuple[DiscussItem, ...]
    """The "discuss these first" items that follow from the record itself."""
    discussions: tuple[Discussed, ...] = ()
    legacy_reviews: int = 0
    countersignature: Countersigned | RecordEvent | None = None
    """The event that made consent active (a version-1 ``countersigned`` for old records)."""
    outcome: Declined | NotProceeding | Withdrawn | RecordEvent | None = None
    """The event that closed the record after the kiosk, if any."""
    reconsent_links: tuple[ReconsentLinked, ...] = ()
    exports: int = 0
    notes: int = 0
    refused: tuple[Refusal, ...] = ()

    @property
    def consented_at(self) -> datetime | None:
        return None if self.countersignature is None else self.countersignature.at

    @property
    def addressed(self) -> frozenset[DiscussItem]:
        return frozenset().union(*(d.addressed for d in self.discussions))

    @property
    def outstanding_items(self) -> tuple[DiscussItem, ...]:
        """Items still to address before countersigning, in the order they were listed."""
        listed = [*self.required_items, *(e.item for d in self.discussions for e in d.items)]
        done = self.addressed
        return tuple(dict.fromkeys(item for item in listed if item not in done))

    def discussed_by(self, user: str) -> bool:
        return any(
            isinstance(d.actor, StaffActor) and d.actor.user == user for d in self.discussions
        )

    def standing(self, now: datetime, rules: ConsentRules | None = None) -> Standing:
        """The status at ``now``: expiry and re-consent are judged here, never stored."""
        return judge(self.status, self.consented_at, self.content_version, now, rules)


def judge(
    base: ConsentStatus,
    consented_at: datetime | None,
    content_version: str,
    now: datetime,
    rules: ConsentRules | None = None,
) -> Standing:
    """The standing of a record whose events led to ``base`` (what an index row keeps)."""
    rules = rules or ConsentRules()
    if base is not ConsentStatus.ACTIVE or consented_at is None:
        return Standing(base, base, None, False, ())
    expires_at = consented_at + timedelta(days=rules.valid_days)
    changes = rules.history.material_since(content_version)
    if now >= expires_at:
        status = ConsentStatus.EXPIRED
    elif changes:
        status = ConsentStatus.RECONSENT_NEEDED
    else:
        status = ConsentStatus.ACTIVE
    soon = now < expires_at <= now + timedelta(days=rules.expiring_within_days)
    return Standing(status, base, expires_at, soon, changes)


def start(record: ConsentRecord) -> Lifecycle:
    """The lifecycle of a record with no events yet."""
    status = INITIAL_STATUS[record.decision]
    return Lifecycle(
        record_id=record.id,
        initial=status,
        status=status,
        content_version=record.content.version,
        required_items=record_items(record),
    )


def available_actions(state: Lifecycle) -> frozenset[Action]:
    """Actions the table allows from the current status (what a screen may offer)."""
    return frozenset(a for a, row in TRANSITIONS.items() if state.status in row)


_ACTION_WORDS: Mapping[Action, str] = MappingProxyType(
    {
        Action.EXPORT_PDF: "a PDF export",
        Action.PRINT_AFTERCARE: "an aftercare sheet",
        Action.NOTE: "a note",
        Action.LINK_RECONSENT: "a re-consent link",
        Action.DISCUSS: "a discussion",
        Action.COUNTERSIGN: "a countersignature",
        Action.LEGACY_COUNTERSIGN: "a countersignature",
        Action.DECLINE: "a decline after discussion",
        Action.NOT_PROCEED: "'not proceeding'",
        Action.WITHDRAW: "a withdrawal",
    }
)

_NEW_RECORD = "If the patient has changed their mind, they fill in a new kiosk record."


def _when(event: AnyEvent | None) -> str:
    return "" if event is None else f" on {event.at:%Y-%m-%d at %H:%M}"


def _table_refusal(state: Lifecycle, action: Action) -> str:
    """The sentence for a (status, action) pair the table does not allow."""
    status, label = state.status, STATUS_LABEL[state.status]
    if action in (Action.COUNTERSIGN, Action.LEGACY_COUNTERSIGN):
        if status is _S.ACTIVE:
            return (
                f"This consent was already countersigned{_when(state.countersignature)}; "
                "a record takes one countersignature."
            )
        if status in _PENDING:
            return (
                "Record your discussion with the patient first: consent is given in the "
                "discussion, and the countersignature confirms it."
            )
        if status is _S.WITHDRAWN:
            return (
                f"The patient withdrew their consent{_when(state.outcome)}, so this record "
                f"cannot be countersigned. {_NEW_RECORD}"
            )
        return f"This record is closed ({label}), so it cannot be countersigned. {_NEW_RECORD}"
    if action is Action.DISCUSS:
        if status is _S.DECLINED_AT_KIOSK:
            return (
                "The patient declined IMS at the kiosk, so there is no consent to discuss on "
                f"this record. {_NEW_RECORD} Add a note to record a conversation."
            )
        if status is _S.ACTIVE:
            return (
                "Consent on this record is already given. Add a note to record a later "
                "conversation; a new treatment needs a new kiosk record."
            )
        return (
            f"This record is closed ({label}). Add a note to record a conversation. {_NEW_RECORD}"
        )
    if action is Action.WITHDRAW:
        if status in (*_PENDING, _S.DISCUSSED):
            return (
                "Consent has not been given on this record, so there is nothing to withdraw. "
                "If the patient no longer wants IMS, record their decline after your discussion."
            )
        if status is _S.WITHDRAWN:
            return f"Consent on this record was already withdrawn{_when(state.outcome)}."
        return f"This record is closed ({label}): there is no consent to withdraw."
    if action is Action.DECLINE and status in _PENDING:
        return "Record your discussion with the patient first, then their decline."
    if status is _S.ACTIVE:
        return (
            "Consent on this record is active. If the patient no longer wants IMS, record "
            "their withdrawal."
        )
    if status in FINAL:
        return f"This record is closed ({label}), so it cannot take {_ACTION_WORDS[action]}."
    return f"A record that is {label} cannot take {_ACTION_WORDS[action]}."


def check(state: Lifecycle, event: AnyEvent) -> Action:
    """Whether ``event`` may be appended to the record in ``state``; returns its action.

    Raises:
        TransitionRefused: with a sentence saying why not.
    """
    action = action_of(event)

    def refuse(sentence: str) -> TransitionRefused:
        return TransitionRefused(sentence, action, state.status)

    if event.record_id != state.record_id:
        raise refuse("This event belongs to another record.")
    if state.status not in TRANSITIONS[action]:
        raise refuse(_table_refusal(state, action))
    if isinstance(event, RecordEvent):
        return action  # version 1: the old rules had no actor or discussion checks
    if action in CLINICAL_ACTIONS and not (
        isinstance(event.actor, StaffActor) and event.actor.role is Role.PHYSIO
    ):
        raise refuse(f"Only a physiotherapist can record {_ACTION_WORDS[action]}.")
    if isinstance(event, Countersigned):
        assert isinstance(event.actor, StaffActor)
        if not state.discussed_by(event.actor.user):
            raise refuse(
                "You have not recorded a discussion with this patient. Consent follows your "
                "own discussion: record it first, then countersign."
            )
        outstanding = state.outstanding_items
        if outstanding:
            names = ", ".join(str(item) for item in outstanding)
            raise refuse(
                f"Before countersigning, go over every item to discuss first ({names}) and "
                "record it as addressed."
            )
    if isinstance(event, ReconsentLinked):
        if event.new_record_id == state.record_id:
            raise refuse("A record cannot be its own re-consent.")
        if any(link.new_record_id == event.new_record_id for link in state.reconsent_links):
            raise refuse(f"This record is already linked to {event.new_reference}.")
    return action


def apply(state: Lifecycle, event: AnyEvent) -> Lifecycle:
    """``state`` after ``event``.

    Raises:
        TransitionRefused: the event makes no sense here; ``state`` is unchanged.
    """
    action = check(state, event)
    after = replace(state, status=TRANSITIONS[action][state.status])
    match event:
        case Discussed():
            return replace(after, discussions=(*state.discussions, event))
        case Countersigned():
            return replace(after, countersignature=event)
        case Declined() | NotProceeding() | Withdrawn():
            return replace(after, outcome=event)
        case ReconsentLinked():
            return replace(after, reconsent_links=(*state.reconsent_links, event))
        case PdfExported():
            return replace(after, exports=state.exports + 1)
        case AftercarePrinted():
            return after
        case Note():
            return replace(after, notes=state.notes + 1)
    assert isinstance(event, RecordEvent)
    if action is Action.DISCUSS:
        return replace(after, legacy_reviews=state.legacy_reviews + 1)
    if action is Action.LEGACY_COUNTERSIGN:
        return replace(after, countersignature=event)
    if action is Action.WITHDRAW:
        return replace(after, outcome=event)
    if action is Action.EXPORT_PDF:
        return replace(after, exports=state.exports + 1)
    if action is Action.PRINT_AFTERCARE:
        return after
    return replace(after, notes=state.notes + 1)


def fold(record: ConsentRecord, events: Iterable[AnyEvent]) -> Lifecycle:
    """The record's lifecycle after its events, in chain order. Never raises on an event.

    An event the table refuses leaves the lifecycle as it was and is listed in
    ``refused`` with its reason.
    """
    state = start(record)
    for event in events:
        try:
            state = apply(state, event)
        except TransitionRefused as refusal:
            state = replace(
                state, refused=(*state.refused, Refusal(event.id, refusal.action, str(refusal)))
            )
    return state


def standing(
    record: ConsentRecord,
    events: Iterable[AnyEvent],
    now: datetime,
    rules: ConsentRules | None = None,
) -> Standing:
    """Shortcut: ``fold(record, events).standing(now, rules)``."""
    return fold(record, events).standing(now, rules)


__all__ = [
    "BASE_STATUSES",
    "CLINICAL_ACTIONS",
    "CONSENT_COMPLETE",
    "FHIR_R4_CONSENT_STATUS",
    "FINAL",
    "INITIAL_STATUS",
    "STATUS_LABEL",
    "TRANSITIONS",
    "Action",
    "ConsentRules",
    "ConsentStatus",
    "FhirConsentStatus",
    "Lifecycle",
    "LifecycleEvent",
    "Refusal",
    "Standing",
    "TransitionRefused",
    "action_of",
    "apply",
    "available_actions",
    "check",
    "fold",
    "judge",
    "standing",
    "start",
]
