"""One record as a physiotherapist reads it: "discuss these first", then the timeline.

Pure (no store, no Textual): :func:`build_view` takes the stored record, the content the
patient saw, the clinic's current content version and rules, and the session's role.

Reading-time estimate
=====================
An education section counts as "read far faster than expected" when its time on screen is
below a third of a reading-time estimate of at least 20 seconds. The estimate is the
section's words as the patient saw them (text, risk tiers and key points) at
:data:`READING_WORDS_PER_MINUTE` = 200 words a minute: a little slower than the 238 words a
minute found for adults reading non-fiction silently in their first language (Brysbaert,
*Journal of Memory and Language* 109, 2019), because patients read health information they
have never seen, some in a second language. A third of it is about 600 words a minute:
skimming, not reading. It marks the section for discussion; it proves nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from consent_records.events import (
    AftercarePrinted,
    AnyEvent,
    Countersigned,
    Declined,
    Discussed,
    DiscussItem,
    DiscussItemKind,
    Note,
    NotProceeding,
    PdfExported,
    ReconsentLinked,
    Withdrawn,
    actor_label,
    record_items,
)
from consent_records.lifecycle import (
    STATUS_LABEL,
    Action,
    ConsentRules,
    ConsentStatus,
    Lifecycle,
    Standing,
    TransitionRefused,
    available_actions,
    check,
)
from consent_records.model import ConsentRecord, RecordEvent, StoredRecord
from content.history import ContentRevision, version_key
from content.schema import ContentBundle, Section
from kiosk.auth.permissions import StaffOperation, can
from kiosk.staff.sessions import StaffSession

READING_WORDS_PER_MINUTE = 200
READ_QUICKLY_FRACTION = 1 / 3
MIN_ESTIMATE_SECONDS = 20.0

_WORD = re.compile(r"\w+(?:['’-]\w+)*")

ACTION_OPERATION: dict[Action, StaffOperation] = {
    Action.DISCUSS: StaffOperation.RECORD_DISCUSSION,
    Action.COUNTERSIGN: StaffOperation.COUNTERSIGN,
    Action.DECLINE: StaffOperation.RECORD_DECLINE,
    Action.NOT_PROCEED: StaffOperation.RECORD_NOT_PROCEEDING,
    Action.WITHDRAW: StaffOperation.RECORD_WITHDRAWAL,
    Action.NOTE: StaffOperation.ADD_NOTE,
    Action.LINK_RECONSENT: StaffOperation.LINK_RECONSENT,
    Action.EXPORT_PDF: StaffOperation.EXPORT_PDF,
}
"""The staff operation behind each lifecycle action a screen may offer."""

MEANING = (
    "I discussed IMS (dry needling) with this patient, including every item listed to "
    "discuss first, and answered their questions. The patient gave me their informed "
    "consent to IMS treatment by me. I sign to confirm this consent."
)
"""What a countersignature means, shown above the password field and stored with it."""


def section_words(section: Section) -> int:
    return len(_WORD.findall(section.plain_text()))


def reading_estimate_seconds(section: Section) -> float:
    """Seconds to read ``section`` at :data:`READING_WORDS_PER_MINUTE`."""
    return section_words(section) * 60.0 / READING_WORDS_PER_MINUTE


def read_quickly(seconds_on_screen: float, estimate: float) -> bool:
    return estimate >= MIN_ESTIMATE_SECONDS and seconds_on_screen < estimate * (
        READ_QUICKLY_FRACTION
    )


def shown_content(record: ConsentRecord, bundle: ContentBundle) -> ContentBundle:
    """The content as this patient was shown it (substitute wording, clinic options)."""
    return bundle.as_shown(
        "substitute" if record.substitute else "patient",
        province=record.content.province,
        options=frozenset(record.content.options),
    )


def context_items(
    record: ConsentRecord, shown: ContentBundle, current_version: str | None
) -> tuple[DiscussItem, ...]:
    """Items that need the clinic's context: sections read far faster than the estimate
    (and whose end was reached: an unfinished one is listed already), and a content
    version older than the current one."""
    items: list[DiscussItem] = []
    for engagement in record.engagement:
        if not engagement.reached_end:
            continue
        try:
            section = shown.section(engagement.section_id)
        except KeyError:
            continue
        if read_quickly(engagement.seconds_on_screen, reading_estimate_seconds(section)):
            items.append(DiscussItem(kind=DiscussItemKind.SECTION_READ_QUICKLY, ref=section.id))
    if current_version is not None and version_key(record.content.version) < version_key(
        current_version
    ):
        items.append(DiscussItem(kind=DiscussItemKind.OLDER_CONTENT, ref=record.content.version))
    return tuple(items)


@dataclass(frozen=True, slots=True)
class DiscussPoint:
    """One "discuss these first" item, worded for the physiotherapist."""

    item: DiscussItem
    title: str
    lines: tuple[str, ...]
    """The details: the patient's answer and why it matters, their first answer and the
    right one, time on screen against the estimate, ..."""
    addressed: bool
    """Ticked as addressed in a discussion already recorded."""
    notes: tuple[str, ...] = ()
    """Notes written on it in earlier discussions."""


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    kind: str
    title: str
    who: str
    lines: tuple[str, ...] = ()
    refused: str | None = None
    """Why the lifecycle did not apply this stored event (written by older software or a
    race), or None."""


@dataclass(frozen=True, slots=True)
class ViewToken:
    """What the screen saw; passed back with each action so a stale one is refused."""

    record_id: str
    last_event_id: str
    status: ConsentStatus


@dataclass(frozen=True, slots=True)
class RecordView:
    """Everything the record screen shows, for one session at one moment."""

    stored: StoredRecord
    lifecycle: Lifecycle
    standing: Standing
    discuss_first: tuple[DiscussPoint, ...]
    timeline: tuple[TimelineEntry, ...]
    operations: frozenset[StaffOperation]
    """What this session may do to this record now (role, lifecycle and link together)."""
    countersign_blocker: str | None
    """Why this session cannot countersign yet (one sentence), or None when it can."""
    clinical_problem: str | None
    """Why this physiotherapist's account cannot act clinically (not in the clinic
    settings), or None."""
    token: ViewToken
    material_changes: tuple[ContentRevision, ...]
    """Material content changes since the version the patient saw (re-consent)."""
    content_version_now: str | None
    reading_rate: str = (
        f"Reading time is estimated at {READING_WORDS_PER_MINUTE} words a minute; a section "
        "is listed when its time on screen was under a third of that."
    )

    @property
    def record(self) -> ConsentRecord:
        return self.stored.record

    @property
    def status(self) -> ConsentStatus:
        return self.standing.status

    @property
    def status_label(self) -> str:
        return STATUS_LABEL[self.standing.status]


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{round(seconds)} s"
    return f"{seconds / 60:.1f} min"


def _point(
    item: DiscussItem,
    record: ConsentRecord,
    shown: ContentBundle,
    full: ContentBundle,
    current_version: str | None,
    rules: ConsentRules,
) -> tuple[str, tuple[str, ...]]:
    kind = item.kind
    if kind is DiscussItemKind.SCREENING_FLAG:
        flag = next((f for f in record.flags if f.question_id == item.ref), None)
        try:
            prompt = shown.screening_question(item.ref or "").prompt
        except KeyError:
            try:
                prompt = full.screening_question(item.ref or "").prompt
            except KeyError:
                prompt = f"Screening question {item.ref}"
        said = flag.answer.value.replace("_", " ").capitalize() if flag else "?"
        lines = [f"Patient's answer: {said}"]
        if flag is not None:
            lines.append(f"Why it matters: {flag.reason}")
        return f"Screening: {prompt.strip()}", tuple(lines)
    if kind is DiscussItemKind.MISSED_QUESTION:
        answer = next((a for a in record.quiz if a.question_id == item.ref), None)
        try:
            question = shown.question(item.ref or "")
        except KeyError:
            return f"Understanding check {item.ref}", ()

        def option_text(option_id: str) -> str:
            try:
                return question.option(option_id).text.strip()
            except KeyError:
                return option_id

        lines = []
        if answer is not None:
            lines.append(f"First answer: {option_text(answer.attempts[0])}")
        lines.append(f"Right answer: {option_text(question.correct)}")
        if answer is not None and len(answer.attempts) > 1:
            lines.append(f"Tries before the right answer: {len(answer.attempts) - 1}")
        return f"Understanding check: {question.prompt.strip()}", tuple(lines)
    if kind in (DiscussItemKind.SECTION_NOT_FINISHED, DiscussItemKind.SECTION_READ_QUICKLY):
        engagement = next((e for e in record.engagement if e.section_id == item.ref), None)
        try:
            section = shown.section(item.ref or "")
            title = f"Education: {section.title}"
            estimate = reading_estimate_seconds(section)
        except KeyError:
            title, estimate = f"Education section {item.ref}", 0.0
        on_screen = engagement.seconds_on_screen if engagement else 0.0
        if kind is DiscussItemKind.SECTION_NOT_FINISHED:
            first = "The patient did not reach the end of this section."
        else:
            first = "The patient reached the end far faster than it takes to read."
        lines = [first, f"Time on screen: {_minutes(on_screen)}"]
        if estimate:
            lines.append(
                f"Estimated reading time: {_minutes(estimate)} "
                f"({math.ceil(estimate * READING_WORDS_PER_MINUTE / 60)} words at "
                f"{READING_WORDS_PER_MINUTE} words a minute)"
            )
        return title, tuple(lines)
    if kind is DiscussItemKind.SUBSTITUTE:
        sdm = record.substitute
        if sdm is None:
            return "Substitute decision-maker", ()
        return "Filled in by a substitute decision-maker", (
            f"{sdm.full_name} ({sdm.relationship})",
            "Check their authority to decide for the patient, and involve the patient as "
            "far as they can take part.",
        )
    # An older content version.
    lines = [f"The patient saw content version {record.content.version}."]
    if current_version:
        lines.append(f"The current version is {current_version}.")
    for revision in rules.history.since(record.content.version):
        marker = "material change" if revision.material else "not material"
        lines.append(f"{revision.version} ({marker}): {revision.what_changed}")
    return "Older education content", tuple(lines)


_TITLES: dict[str, str] = {
    "pdf_exported": "PDF exported",
    "aftercare_printed": "Take-home aftercare sheet written",
    "physio_reviewed": "Reviewed by the physiotherapist",
    "discussed": "Discussion recorded",
    "countersigned": "Countersigned: consent given",
    "declined": "Declined after discussion",
    "not_proceeding": "Not proceeding",
    "withdrawn": "Consent withdrawn",
    "note": "Note",
    "reconsent_linked": "Re-consent record linked",
}


def event_title(kind: str) -> str:
    """A record event's kind in words ("Countersigned: consent given")."""
    return _TITLES.get(kind, kind.replace("_", " ").capitalize())


def item_title(item: DiscussItem, points: Sequence[DiscussPoint]) -> str:
    for point in points:
        if point.item == item:
            return point.title
    return str(item)


def _event_lines(event: AnyEvent, points: Sequence[DiscussPoint]) -> tuple[str, ...]:
    if isinstance(event, RecordEvent):
        lines = [f"{k}: {v}" for k, v in event.details.items() if v is not None]
        if event.note:
            lines.append(event.note)
        return tuple(lines)
    match event:
        case Discussed():
            lines = []
            for entry in event.items:
                tick = "addressed" if entry.addressed else "not addressed"
                line = f"{item_title(entry.item, points)}: {tick}"
                if entry.note:
                    line += f". {entry.note}"
                lines.append(line)
            for qa in event.questions:
                lines.append(f"Question: {qa.question}")
                lines.append(f"Answer: {qa.answer}")
            if event.other:
                lines.append(f"Also discussed: {event.other}")
            return tuple(lines)
        case Countersigned():
            registration = event.registration or "not recorded"
            return (
                f"Signed by {event.signer_name}, registration {registration}",
                f"Meaning: {event.meaning}",
                f"Password confirmed at {event.password_confirmed_at:%Y-%m-%d %H:%M}",
            )
        case Declined() | Withdrawn():
            return (f"Reason: {event.reason}",) if event.reason else ("No reason given",)
        case NotProceeding():
            return (f"Reason: {event.reason}",)
        case Note():
            return (event.text,)
        case ReconsentLinked():
            return (f"Later record: {event.new_reference}",)
        case PdfExported() | AftercarePrinted():
            return (f"File: {event.file_name} ({event.bytes:,} bytes)",)
    return ()


def timeline(
    stored: StoredRecord, lifecycle: Lifecycle, points: Sequence[DiscussPoint]
) -> tuple[TimelineEntry, ...]:
    record = stored.record
    refused = {r.event_id: r.reason for r in lifecycle.refused}
    who = record.substitute.full_name if record.substitute else record.patient.full_name
    entries = [
        TimelineEntry(
            at=record.completed_at,
            kind="signed",
            title=f"Signed at the kiosk: {STATUS_LABEL[lifecycle.initial]}",
            who=f"{who} at kiosk {record.kiosk_id}",
        )
    ]
    for stored_event in stored.events:
        event = stored_event.event
        kind = event.kind.value
        entries.append(
            TimelineEntry(
                at=event.at,
                kind=kind,
                title=event_title(kind),
                who=actor_label(event),
                lines=_event_lines(event, points),
                refused=refused.get(event.id),
            )
        )
    return tuple(entries)


def countersign_blocker(
    lifecycle: Lifecycle, session: StaffSession, probe: Countersigned
) -> str | None:
    """Why ``session`` cannot countersign now (the lifecycle's own sentence), or None."""
    try:
        check(lifecycle, probe)
    except TransitionRefused as refusal:
        return str(refusal)
    return None


def build_view(
    stored: StoredRecord,
    content: ContentBundle,
    *,
    session: StaffSession,
    now: datetime,
    rules: ConsentRules,
    current_version: str | None,
    clinical_problem: str | None,
    countersign_probe: Countersigned | None,
) -> RecordView:
    """The record screen's data for ``session`` at ``now``.

    ``countersign_probe``: a countersignature this session would make (to ask the
    lifecycle whether it may), or None when the session cannot countersign at all.
    """
    record = stored.record
    lifecycle = stored.lifecycle
    standing = lifecycle.standing(now, rules)
    shown = shown_content(record, content)
    items = [*record_items(record), *context_items(record, shown, current_version)]
    items += [entry.item for d in lifecycle.discussions for entry in d.items]
    ordered = tuple(dict.fromkeys(items))
    addressed = lifecycle.addressed
    notes: dict[DiscussItem, list[str]] = {}
    for discussion in lifecycle.discussions:
        for entry in discussion.items:
            if entry.note:
                notes.setdefault(entry.item, []).append(entry.note)
    points = []
    for item in ordered:
        title, lines = _point(item, record, shown, content, current_version, rules)
        points.append(
            DiscussPoint(item, title, lines, item in addressed, tuple(notes.get(item, ())))
        )
    operations: set[StaffOperation] = set()
    for action in available_actions(lifecycle):
        operation = ACTION_OPERATION.get(action)
        if operation is None or not can(session.role, operation):
            continue
        if clinical_problem and action in (
            Action.DISCUSS,
            Action.COUNTERSIGN,
            Action.DECLINE,
            Action.NOT_PROCEED,
            Action.WITHDRAW,
        ):
            continue
        operations.add(operation)
    blocker: str | None
    if countersign_probe is None:
        blocker = "Only a physiotherapist can countersign consent."
    elif clinical_problem:
        blocker = clinical_problem
    else:
        blocker = countersign_blocker(lifecycle, session, countersign_probe)
    if blocker is not None:
        operations.discard(StaffOperation.COUNTERSIGN)
    return RecordView(
        stored=stored,
        lifecycle=lifecycle,
        standing=standing,
        discuss_first=tuple(points),
        timeline=timeline(stored, lifecycle, points),
        operations=frozenset(operations),
        countersign_blocker=blocker,
        clinical_problem=clinical_problem,
        token=ViewToken(record.id, stored.last_event_id, lifecycle.status),
        material_changes=standing.material_changes,
        content_version_now=current_version,
    )
