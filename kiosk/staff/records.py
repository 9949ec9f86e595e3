"""Record operations of the staff services: browse, search, view, the consent acts, PDF."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from consent_records.audit import (
    RecordsSearched,
    RecordViewed,
)
from consent_records.events import (
    Countersigned,
    Declined,
    Discussed,
    DiscussedItem,
    LifecycleEvent,
    Note,
    NotProceeding,
    PatientQuestion,
    PdfExported,
    ReconsentLinked,
    Role,
    Withdrawn,
)
from consent_records.lifecycle import TransitionRefused
from consent_records.query import ListedRecord, Page, RecordQuery, name_words
from consent_records.sanitize import SHORT_MAX, clean_text
from kiosk.auth.accounts import (
    StaffAccount,
)
from kiosk.auth.permissions import StaffOperation
from kiosk.auth.throttle import (
    GENERIC_FAILURE,
)
from kiosk.staff.errors import (
    ActionRefused,
    ExportProblem,
    LoginRefused,
    NotFound,
    StaleRecord,
)
from kiosk.staff.review import MEANING, RecordView, ViewToken, build_view
from kiosk.staff.sessions import StaffSession

if TYPE_CHECKING:
    from consent_records.base import VerifyReport
    from consent_records.model import StoredRecord
    from kiosk.staff.changes import ContentComparison

from kiosk.staff.core import SEARCH_AUDIT_FILTERS_MAX, StaffCore, _optional, _validation_sentence

log = logging.getLogger("kiosk.staff")


COUNTERSIGN_REFUSED = (
    "That password did not confirm your signature, so nothing was signed. Type the password "
    "you sign in with. After 5 wrong passwords in a row you must wait a little before the "
    "next try, and after 20 your account is locked until a clinic admin unlocks it."
)


@dataclass(frozen=True, slots=True)
class CountersignStatement:
    """What is shown above the password field when a physiotherapist countersigns."""

    signer_name: str
    registration: str | None
    meaning: str
    record_reference: str
    patient_name: str


class RecordServices(StaffCore):
    """What physiotherapists (and, for lists and PDFs, admins) do with records."""

    # ------------------------------------------------------------------ records: lists

    def default_query(self, session: StaffSession) -> RecordQuery:
        """The list a session opens on: for a physiotherapist, their records awaiting
        discussion; for an admin, every record, newest first."""
        self._open(session)
        if session.role is Role.PHYSIO and session.physiotherapist_id:
            return RecordQuery.awaiting_discussion_for(session.physiotherapist_id, self.now())
        return RecordQuery(as_of=self.now())

    def search(
        self,
        session: StaffSession,
        query: RecordQuery,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> Page:
        """One page of records (call it from a worker: the first search may build an index).

        Audited once the typing settles: a search whose text extends or shortens the one
        before (the same filters) replaces it, and the last of such a run is audited when
        the person does something else, signs out or searches for something unrelated.
        """
        operation = StaffOperation.SEARCH_RECORDS if query.text else StaffOperation.BROWSE_RECORDS
        session = self._begin(session, operation)
        page = self.store.search(query, self.rules, progress=progress)
        self._note_search(session, query, page.total)
        return page

    def _note_search(self, session: StaffSession, query: RecordQuery, results: int) -> None:
        entry = RecordsSearched(
            at=self.now(),
            actor=session.actor,
            text=clean_text(query.text, SHORT_MAX) or None,
            filters=_filters_text(query) or None,
            results=results,
        )
        pending = self._pending_search.get(session.id)
        if pending is not None and not _same_run(pending, entry):
            self._flush_search(session)
        self._pending_search[session.id] = entry

    def search_now(self, session: StaffSession, query: RecordQuery) -> Page:
        """A search audited at once (the ``records list`` command)."""
        page = self.search(session, query)
        self._flush_search(session)
        return page

    # ------------------------------------------------------------------ records: one

    def _stored(self, record_id: str) -> StoredRecord:
        from consent_records.base import RecordNotFound

        try:
            return self.store.get(record_id)
        except RecordNotFound:
            raise NotFound("No record has that id; it may have been typed wrong.") from None

    def find_reference(self, session: StaffSession, reference: str) -> str:
        """The record id of a reference code (``K7P3-QX9M``, any case, with or without the
        hyphen). Raises NotFound."""
        from consent_records.base import RecordNotFound
        from consent_records.model import normalise_reference

        self._begin(session, StaffOperation.SEARCH_RECORDS)
        try:
            return self.store.find_reference(normalise_reference(reference)).record.id
        except (RecordNotFound, ValueError):
            raise NotFound(
                f"No record has the reference {clean_text(reference, 20)!r}. Check it on the "
                "patient's Done screen or take-home sheet."
            ) from None

    def _view(self, session: StaffSession, stored: StoredRecord) -> RecordView:
        account_problem = None
        probe: Countersigned | None = None
        if session.role is Role.PHYSIO:
            account = StaffAccount(
                user_name=session.user_name,
                display_name=session.display_name,
                role=session.role,
                physiotherapist_id=session.physiotherapist_id,
                disabled=False,
                created_at=session.started_at,
                credential_sha256=None,
            )
            account_problem = self._link_problem(account)
            if account_problem is None:
                probe = self._countersignature(session, stored, self.now())
        return build_view(
            stored,
            self.kiosk.content_for(stored.record),
            session=session,
            now=self.now(),
            rules=self.rules,
            current_version=self.content.bundle.version
            if self.content.bundle.language == stored.record.content.language
            else None,
            clinical_problem=account_problem,
            countersign_probe=probe,
        )

    def open_record(self, session: StaffSession, record_id: str) -> RecordView:
        """One record with "discuss these first", the timeline and what this session may do
        now. The view is audited (by record id) before anything is returned."""
        session = self._begin(session, StaffOperation.VIEW_RECORD)
        stored = self._stored(record_id)
        self._audit(
            RecordViewed(at=self.now(), actor=session.actor, record_id=stored.record.id),
            what="record view",
        )
        return self._view(session, stored)

    def refresh(self, session: StaffSession, record_id: str) -> RecordView:
        """The record again, as it stands now (after another terminal's act). Not audited
        again: the person is still looking at the record they opened."""
        session = self._begin(session, StaffOperation.VIEW_RECORD)
        return self._view(session, self._stored(record_id))

    def what_changed(self, session: StaffSession, record_id: str) -> ContentComparison:
        """The content the patient saw against today's, section by section."""
        from kiosk.staff.changes import compare_content

        session = self._begin(session, StaffOperation.VIEW_RECORD)
        stored = self._stored(record_id)
        seen = self.kiosk.content_for(stored.record)
        return compare_content(stored.record, seen, self.content.bundle, self.content.history)

    # ------------------------------------------------------------------ records: acts

    def _append(
        self,
        session: StaffSession,
        token: ViewToken,
        event: LifecycleEvent,
        *,
        what: str,
    ) -> RecordView:
        """Append ``event`` only if the record is still as ``token`` saw it."""
        from consent_records.base import ConflictingEvent, Expect

        expect = Expect(last_event_id=token.last_event_id)
        try:
            with self._writing(what):
                self.store.append_event(event, expect=expect)
        except ConflictingEvent as conflict:
            current = self._view(session, self._stored(token.record_id))
            newer = tuple(_newer_label(item.event) for item in conflict.newer)
            raise StaleRecord(
                "This record changed on another terminal while you had it open ("
                + ("; ".join(newer) if newer else "a newer entry arrived")
                + f"). It now reads: {current.status_label}. Nothing you entered was saved; "
                "look at the record again, then try again if it still applies.",
                current,
                newer,
            ) from None
        except TransitionRefused as refusal:
            raise ActionRefused(str(refusal)) from None
        log.info("%s: %s on record %s", session.user_name, what, token.record_id)
        return self._view(session, self._stored(token.record_id))

    def _clinical(self, session: StaffSession, operation: StaffOperation) -> StaffSession:
        session = self._begin(session, operation)
        account = StaffAccount(
            user_name=session.user_name,
            display_name=session.display_name,
            role=session.role,
            physiotherapist_id=session.physiotherapist_id,
            disabled=False,
            created_at=session.started_at,
            credential_sha256=None,
        )
        problem = self._link_problem(account)
        if problem:
            raise ActionRefused(problem)
        return session

    def record_discussion(
        self,
        session: StaffSession,
        token: ViewToken,
        *,
        items: Sequence[DiscussedItem] = (),
        questions: Sequence[PatientQuestion] = (),
        other: str | None = None,
    ) -> RecordView:
        """Record the discussion: each "discuss these first" item shown, ticked or not,
        with an optional note; the patient's questions and the answers given; anything
        else. Returns the record as it now stands."""
        session = self._clinical(session, StaffOperation.RECORD_DISCUSSION)
        try:
            event = Discussed(
                record_id=token.record_id,
                at=self.now(),
                actor=session.actor,
                items=list(items),
                questions=list(questions),
                other=(other or "").strip() or None,
            )
        except ValidationError as exc:
            raise ActionRefused(_validation_sentence(exc)) from None
        return self._append(session, token, event, what="discussion")

    def countersign_statement(self, session: StaffSession, record_id: str) -> CountersignStatement:
        """What to show before the password is asked: the signer's printed name and
        registration number (from the clinic settings), and what the signature means."""
        session = self._clinical(session, StaffOperation.COUNTERSIGN)
        stored = self._stored(record_id)
        name, registration = self._signer(session)
        return CountersignStatement(
            signer_name=name,
            registration=registration,
            meaning=MEANING,
            record_reference=stored.record.reference,
            patient_name=stored.record.patient.full_name,
        )

    def _signer(self, session: StaffSession) -> tuple[str, str | None]:
        try:
            entry = self.settings.physiotherapist(session.physiotherapist_id or "")
        except KeyError:
            return session.display_name, None
        return entry.name, entry.registration

    def _countersignature(
        self, session: StaffSession, stored: StoredRecord, confirmed_at: datetime
    ) -> Countersigned:
        name, registration = self._signer(session)
        return Countersigned(
            record_id=stored.record.id,
            at=self.now(),
            actor=session.actor,
            physiotherapist_id=session.physiotherapist_id or "unknown",
            signer_name=name,
            registration=registration,
            meaning=MEANING,
            password_confirmed_at=confirmed_at,
        )

    def countersign(self, session: StaffSession, token: ViewToken, password: str) -> RecordView:
        """Countersign (consent given) after the signer types their password again.

        The password is checked like a sign-in (throttled, audited with purpose
        ``countersign``); a wrong one refuses with LoginRefused and signs nothing. Then the
        countersignature (printed name, registration, time, meaning) is appended only if
        the record is unchanged since the screen showed it.
        """
        session = self._clinical(session, StaffOperation.COUNTERSIGN)
        stored = self._stored(token.record_id)
        try:
            account, confirmed_at = self._check_password(session.user_name, password, "countersign")
        except LoginRefused as refused:
            if str(refused) == GENERIC_FAILURE:  # the sign-in sentence speaks of user names
                raise LoginRefused(COUNTERSIGN_REFUSED) from None
            raise
        if account.user_name != session.user_name:  # pragma: no cover (same name checked)
            raise LoginRefused(GENERIC_FAILURE)
        event = self._countersignature(session, stored, confirmed_at)
        return self._append(session, token, event, what="countersignature")

    def decline(
        self, session: StaffSession, token: ViewToken, reason: str | None = None
    ) -> RecordView:
        """The patient declined IMS after the discussion (their reason, if they gave one)."""
        session = self._clinical(session, StaffOperation.RECORD_DECLINE)
        event = Declined(
            record_id=token.record_id,
            at=self.now(),
            actor=session.actor,
            reason=_optional(reason),
        )
        return self._append(session, token, event, what="decline")

    def not_proceeding(self, session: StaffSession, token: ViewToken, reason: str) -> RecordView:
        """The physiotherapist decided IMS is not suitable (a reason is required)."""
        session = self._clinical(session, StaffOperation.RECORD_NOT_PROCEEDING)
        text = _optional(reason)
        if text is None:
            raise ActionRefused("Say why IMS is not going ahead (a short reason is enough).")
        event = NotProceeding(
            record_id=token.record_id, at=self.now(), actor=session.actor, reason=text
        )
        return self._append(session, token, event, what="not proceeding")

    def withdraw(
        self, session: StaffSession, token: ViewToken, reason: str | None = None
    ) -> RecordView:
        """The patient withdrew their consent (their reason, if they gave one)."""
        session = self._clinical(session, StaffOperation.RECORD_WITHDRAWAL)
        event = Withdrawn(
            record_id=token.record_id,
            at=self.now(),
            actor=session.actor,
            reason=_optional(reason),
        )
        return self._append(session, token, event, what="withdrawal")

    def add_note(self, session: StaffSession, record_id: str, text: str) -> RecordView:
        """A note on the record, allowed in every state (never stale: it changes nothing)."""
        from consent_records.base import ConflictingEvent

        session = self._begin(session, StaffOperation.ADD_NOTE)
        body = _optional(text)
        if body is None:
            raise ActionRefused("The note is empty; type what you want to record.")
        event = Note(record_id=record_id, at=self.now(), actor=session.actor, text=body)
        self._stored(record_id)
        try:
            with self._writing("note"):
                self.store.append_event(event)
        except (ConflictingEvent, TransitionRefused) as exc:  # pragma: no cover (notes fit all)
            raise ActionRefused(str(exc)) from None
        return self._view(session, self._stored(record_id))

    def reconsent_candidates(self, session: StaffSession, record_id: str) -> list[ListedRecord]:
        """Later kiosk records that may be this patient's re-consent: same date of birth and
        the same name words, signed after this record, not linked yet (newest first)."""
        session = self._begin(session, StaffOperation.LINK_RECONSENT)
        stored = self._stored(record_id)
        record = stored.record
        linked = {link.new_record_id for link in stored.lifecycle.reconsent_links}
        query = RecordQuery(
            text=record.patient.date_of_birth.isoformat(),
            completed_from=record.completed_at.date(),
            as_of=self.now(),
            limit=50,
        )
        words = set(name_words(record.patient.full_name))
        page = self.store.search(query, self.rules)
        return [
            item
            for item in page.items
            if item.row.record_id != record.id
            and item.row.record_id not in linked
            and item.row.completed_at > record.completed_at
            and set(item.row.name_words) == words
        ]

    def link_reconsent(
        self, session: StaffSession, record_id: str, new_reference: str
    ) -> RecordView:
        """Link an earlier record to the patient's later kiosk record (re-consent after a
        withdrawal, an expiry or a material content change)."""
        from consent_records.base import RecordNotFound
        from consent_records.model import normalise_reference

        session = self._begin(session, StaffOperation.LINK_RECONSENT)
        stored = self._stored(record_id)
        try:
            later = self.store.find_reference(normalise_reference(new_reference))
        except (RecordNotFound, ValueError):
            raise NotFound(
                f"No record has the reference {clean_text(new_reference, 20)!r}."
            ) from None
        if later.record.completed_at <= stored.record.completed_at:
            raise ActionRefused(
                f"{later.record.reference} was signed before this record, so it cannot be "
                "its re-consent. Link the newer record to this one."
            )
        if later.record.patient.date_of_birth != stored.record.patient.date_of_birth:
            raise ActionRefused(
                f"{later.record.reference} has another date of birth, so it is not the same "
                "patient's record."
            )
        event = ReconsentLinked(
            record_id=stored.record.id,
            at=self.now(),
            actor=session.actor,
            new_record_id=later.record.id,
            new_reference=later.record.reference,
        )
        token = ViewToken(stored.record.id, stored.last_event_id, stored.lifecycle.status)
        return self._append(session, token, event, what="re-consent link")

    # ------------------------------------------------------------------ PDF

    def export_pdf(
        self,
        session: StaffSession,
        record_id: str,
        out: Path,
        *,
        force: bool = False,
        verification: VerifyReport | None = None,
    ) -> Path:
        """Write one record's PDF (owner-only), logging the export on the record first.

        Run it in a thread worker (sealing runs its own event loop). Raises ExportProblem (the
        target; or the clinic seals and cannot seal now: no passphrase, an expired seal, no
        time-stamp), TryAgain (not logged, so nothing written), NotFound.
        """
        import hashlib

        from consent_records.keys import KeyProblem
        from consent_records.sealing import SealProblem
        from kiosk.services import ExportError, check_output_file, place_file, write_hidden_copy

        session = self._begin(session, StaffOperation.EXPORT_PDF)
        try:
            check_output_file(out, force=force)
        except ExportError as exc:
            raise ExportProblem(str(exc)) from None
        stored = self._stored(record_id)
        try:
            data = self._render_pdf(stored, verification=verification)
        except (KeyProblem, SealProblem) as exc:
            # The clinic seals its PDFs and this one cannot be sealed now: nothing is written.
            raise ExportProblem(str(exc)) from None
        try:
            tmp = write_hidden_copy(out, data)
        except ExportError as exc:
            raise ExportProblem(str(exc)) from None
        event = PdfExported(
            record_id=stored.record.id,
            at=self.now(),
            actor=session.actor,
            file_name=clean_text(out.name, SHORT_MAX) or "export.pdf",
            bytes=len(data),
            pdf_sha256=hashlib.sha256(data).hexdigest(),
        )
        try:
            with self._writing("PDF export"):
                self.store.append_event(event)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        try:
            place_file(tmp, out, force=force)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ExportProblem(
                f"The export of {stored.record.reference} is logged on the record, but {out} "
                f"could not be written ({exc.strerror or exc}). Export it again."
            ) from None
        log.info("%s exported the PDF of record %s", session.user_name, stored.record.id)
        return out

    def _render_pdf(
        self, stored: StoredRecord, *, verification: VerifyReport | None = None
    ) -> bytes:
        """The record's PDF bytes (the lifecycle, discussion and countersignature on it),
        sealed with the clinic's seal when it has one (docs/sealing.md)."""
        return self.kiosk.render_pdf(stored, verification=verification)


def _newer_label(event: object) -> str:
    from consent_records.events import actor_label
    from kiosk.staff.review import event_title

    kind = getattr(event, "kind", None)
    title = event_title(str(getattr(kind, "value", kind)))
    try:
        who = actor_label(event)  # type: ignore[arg-type]
    except AttributeError:
        who = "someone"
    at = getattr(event, "at", None)
    when = f", {at:%H:%M}" if isinstance(at, datetime) else ""
    return f"{title} by {who}{when}"


def _filters_text(query: RecordQuery) -> str:
    parts = []
    if query.statuses:
        parts.append("status=" + ",".join(sorted(s.value for s in query.statuses)))
    if query.physiotherapist_ids:
        parts.append("physio=" + ",".join(sorted(query.physiotherapist_ids)))
    if query.completed_from:
        parts.append(f"from={query.completed_from}")
    if query.completed_to:
        parts.append(f"to={query.completed_to}")
    for name in ("has_flags", "has_missed_questions", "has_substitute", "expiring_soon"):
        value = getattr(query, name)
        if value is not None:
            parts.append(f"{name}={'yes' if value else 'no'}")
    text = " ".join(parts)
    return (
        text
        if len(text) <= SEARCH_AUDIT_FILTERS_MAX
        else text[: SEARCH_AUDIT_FILTERS_MAX - 1] + "…"
    )


def _same_run(before: RecordsSearched, after: RecordsSearched) -> bool:
    """Whether ``after`` continues the typing of ``before`` (same filters, text extended or
    shortened)."""
    if before.filters != after.filters:
        return False
    a, b = (before.text or "").casefold(), (after.text or "").casefold()
    return a.startswith(b) or b.startswith(a)
