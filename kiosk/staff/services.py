"""The staff services: what the staff app and the staff commands call, and nothing else.

Every public method takes the caller's :class:`~kiosk.staff.sessions.StaffSession` (the
two exceptions, :meth:`StaffServices.has_accounts` and :meth:`StaffServices.login`, start
one) and, in this order:

1. checks the session is one these services issued and is still open (idle limit, 12-hour
   limit, account not disabled), re-reading the person's role from the audited account;
2. checks the role may do the operation (:func:`kiosk.auth.permissions.require`: deny by
   default);
3. for a record act, appends the event **conditionally** (``Expect``: only if the record
   is still as the screen showed it) and lets the store ask the consent lifecycle whether it
   makes sense, so a stale screen or a second terminal never wins twice;
4. audits it (record acts are themselves chain entries; views, searches, sign-ins and
   account changes are audit entries).

Errors are :data:`kiosk.staff.errors.STAFF_ERRORS`, each one sentence. A store that cannot
be written (a full disk) raises :class:`~kiosk.staff.errors.TryAgain`: nothing was
half-written and the person may retry.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import ValidationError

from consent_records.audit import (
    AccountChanged,
    AccountCreated,
    AccountDisabled,
    AccountEnabled,
    AccountEvent,
    AccountUnlocked,
    AuditEvent,
    AuditExported,
    AuditItem,
    AuditPage,
    AuditQuery,
    BackupWritten,
    LoggedOut,
    LoginFailed,
    LoginSucceeded,
    LogoutReason,
    PasswordReason,
    PasswordSet,
    RecordsSearched,
    RecordViewed,
    StoreVerified,
    UnknownUserLogin,
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
    StaffActor,
    SystemActor,
    Terminal,
    TerminalKind,
    Withdrawn,
)
from consent_records.lifecycle import ConsentRules, TransitionRefused
from consent_records.query import Page, RecordQuery
from consent_records.sanitize import SHORT_MAX, clean_text
from kiosk.auth.accounts import (
    AccountProblem,
    StaffAccount,
    check_disable_or_demote,
    check_new_account,
    check_role_link,
    fold_accounts,
    physio_link_problem,
)
from kiosk.auth.permissions import StaffOperation, require
from kiosk.auth.policy import PasswordRejected, check_password, normalise_password
from kiosk.auth.throttle import (
    GENERIC_FAILURE,
    ThrottlePolicy,
    decide_login,
    login_gate,
)
from kiosk.settings import Settings
from kiosk.staff.errors import (
    ActionRefused,
    ExportProblem,
    LoginRefused,
    NotFound,
    SessionEnded,
    StaleRecord,
    StoreProblem,
    TryAgain,
)
from kiosk.staff.review import MEANING, RecordView, ViewToken, build_view
from kiosk.staff.sessions import ENDED_SENTENCE, StaffSession

if TYPE_CHECKING:
    from consent_records.base import ConsentStore, VerifyReport
    from consent_records.model import StoredRecord
    from content.loader import LoadedContent
    from kiosk.auth.passwords import Passwords
    from kiosk.services import KioskServices
    from kiosk.staff.changes import ContentComparison

log = logging.getLogger("kiosk.staff")

ENV_ARGON2_PROFILE = "IMS_KIOSK_ARGON2_PROFILE"
TEST_PROFILE = "test-only-insecure"
"""``IMS_KIOSK_ARGON2_PROFILE=test-only-insecure`` hashes new passwords with argon2-cffi's
cheapest parameters, so the test suite's command-line tests stay fast. Never set it on a
clinic's machine: passwords hashed with it are rehashed with the real parameters at the
next sign-in without it, but until then they are cheap to guess from a stolen copy."""

Purpose = Literal["session", "countersign", "cli"]

SEARCH_AUDIT_FILTERS_MAX = SHORT_MAX


def configured_passwords() -> Passwords:
    """The password hasher: the chosen argon2id parameters (docs/staff-accounts.md), or
    the cheapest ones when the test-only environment setting asks for them."""
    from kiosk.auth.passwords import PARAMETERS, TEST_PARAMETERS, Passwords

    if os.environ.get(ENV_ARGON2_PROFILE) == TEST_PROFILE:
        return Passwords(TEST_PARAMETERS)
    return Passwords(PARAMETERS)


def host_terminal() -> Terminal:
    """This machine, by its host name (a staff terminal has no kiosk id of its own)."""
    name = clean_text(socket.gethostname() or "unknown-host", SHORT_MAX) or "unknown-host"
    return Terminal(kind=TerminalKind.HOST, id=name)


def os_user_name() -> str:
    import getpass

    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = f"uid {os.getuid()}"
    return clean_text(name, SHORT_MAX) or f"uid {os.getuid()}"


@dataclass(frozen=True, slots=True)
class AccountLine:
    """One staff account as the admin screen and ``users list`` show it."""

    account: StaffAccount
    physiotherapist_name: str | None
    """The clinic settings' name for the linked physiotherapist (None: admin, or missing)."""
    registration: str | None
    problem: str | None
    """How the account and the clinic settings disagree, in a sentence, or None."""
    locked: bool
    waiting_until: datetime | None
    failures: int


@dataclass(frozen=True, slots=True)
class CountersignStatement:
    """What is shown above the password field when a physiotherapist countersigns."""

    signer_name: str
    registration: str | None
    meaning: str
    record_reference: str
    patient_name: str


@dataclass(frozen=True, slots=True)
class ClinicCheck:
    """Physiotherapists in the settings with no account, and accounts not in the settings."""

    without_account: tuple[str, ...]
    without_settings: tuple[str, ...]


class StaffServices:
    """One staff app (or one staff command) on one store.

    Args:
        settings: the clinic settings (physiotherapists, registration numbers,
            ``consent_valid_days``, ``staff_idle_timeout_seconds``).
        data_dir: the data directory.
        store: an open store (tests); otherwise opened on first use with the factory.
        content: the current content (tests); otherwise loaded on first use.
        clock: wall-clock time (tests); otherwise ``datetime.now`` in the clinic's zone.
        passwords: the password hasher (tests pass cheap parameters); default
            :func:`configured_passwords`.
        terminal: where acts happen; default this machine's host name.
        throttle: the sign-in delay and lock policy.
    """

    def __init__(
        self,
        settings: Settings,
        data_dir: Path,
        *,
        store: ConsentStore | None = None,
        content: LoadedContent | None = None,
        clock: Callable[[], datetime] | None = None,
        passwords: Passwords | None = None,
        terminal: Terminal | None = None,
        throttle: ThrottlePolicy | None = None,
        read_only: bool = False,
    ) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self._store = store
        self._content = content
        self._clock = clock
        self._passwords = passwords
        self.terminal = terminal or host_terminal()
        self.throttle = throttle or ThrottlePolicy()
        self.read_only = read_only
        self._sessions: dict[str, StaffSession] = {}
        self._pending_search: dict[str, RecordsSearched] = {}
        self._kiosk: KioskServices | None = None

    # ------------------------------------------------------------------ plumbing

    def now(self) -> datetime:
        if self._clock is not None:
            return self._clock().astimezone(self.settings.zone)
        return datetime.now(self.settings.zone)

    @property
    def store(self) -> ConsentStore:
        if self._store is None:
            from consent_records.backends import StoreConfig, open_store

            self._store = open_store(StoreConfig(data_dir=self.data_dir), read_only=self.read_only)
        return self._store

    @property
    def passwords(self) -> Passwords:
        if self._passwords is None:
            self._passwords = configured_passwords()
        return self._passwords

    @property
    def kiosk(self) -> KioskServices:
        """The shared services (content, the content archive, PDF rendering)."""
        if self._kiosk is None:
            from kiosk.services import KioskServices

            self._kiosk = KioskServices(
                self.settings,
                self.data_dir,
                content=self._content,
                clock=self._clock,
                store=self.store,
            )
        return self._kiosk

    def prepare(self) -> None:
        """Load the content, open the store and check every entry against its hash (the
        staff app's start-up, in a worker; about a second at 50,000 records).

        Raises:
            StoreProblem: a damaged or tampered store (the sentence names the file), or one
                that cannot be opened at all. Nothing is repaired or written.
        """
        from consent_records.base import StoreError
        from content.loader import ContentError
        from kiosk.services import describe_startup_error

        try:
            _ = self.content
            self.store.check_integrity()
        except (StoreError, ContentError, OSError) as exc:
            log.error("staff start-up failed: %s", exc)
            raise StoreProblem(describe_startup_error(exc)) from None

    @property
    def content(self) -> LoadedContent:
        return self.kiosk.content

    @property
    def rules(self) -> ConsentRules:
        return ConsentRules(
            valid_days=self.settings.consent_valid_days, history=self.content.history
        )

    @property
    def idle_timeout(self) -> timedelta:
        return timedelta(seconds=self.settings.staff_idle_timeout_seconds)

    def close(self) -> None:
        for session in list(self._sessions.values()):
            if session.is_open:
                try:
                    self._flush_search(session)
                except Exception:  # closing must not fail on a full disk
                    log.exception("flushing a search audit on close failed")
        if self._store is not None:
            self._store.close()
            self._store = None
        self._kiosk = None

    def _system_actor(self, kind: Literal["cli", "os_user", "system"], name: str) -> SystemActor:
        return SystemActor(
            type=kind, name=clean_text(name, SHORT_MAX) or kind, terminal=self.terminal
        )

    @contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """Turn a store that cannot be written now into :class:`TryAgain`."""
        from consent_records.base import StoreUnavailable

        try:
            yield
        except StoreUnavailable as exc:
            log.error("%s: store unavailable: %s", what, exc)
            raise TryAgain(
                f"Nothing was saved: the record store cannot be written right now ({exc}). "
                "What you entered is kept; try again in a moment, or ask a clinic admin to "
                "check the disk."
            ) from None

    def _audit(self, *events: AuditEvent, what: str, credential: str | None = None) -> None:
        with self._writing(what):
            self.store.append_audit(*events, credential=credential)

    # ------------------------------------------------------------------ accounts: reading

    def _accounts(self) -> dict[str, StaffAccount]:
        return fold_accounts(self.store.account_events())

    def has_accounts(self) -> bool:
        """Whether any staff account exists (the staff app explains how to make the first
        admin when none does). Needs no session: it says nothing about any person."""
        return bool(self._accounts())

    def _physio_ids(self) -> list[str]:
        return [p.id for p in self.settings.physiotherapists]

    def _link_problem(self, account: StaffAccount) -> str | None:
        return physio_link_problem(account, self._physio_ids())

    # ------------------------------------------------------------------ sign-in

    def login(self, user_name: str, password: str, *, purpose: Purpose = "session") -> StaffSession:
        """Sign in (``purpose="cli"`` for a record-reading command run with ``--user``).

        Raises:
            LoginRefused: the same sentence for an unknown name, a wrong password, a
                waiting or locked account (only the right password on a disabled account
                says it is disabled).
            TryAgain: the sign-in could not be audited (nothing else happened).
        """
        account, _ = self._check_password(user_name, password, purpose)
        session = StaffSession(
            user_name=account.user_name,
            display_name=account.display_name,
            role=account.role,
            physiotherapist_id=account.physiotherapist_id,
            terminal=self.terminal,
            started_at=self.now(),
            last_active=self.now(),
        )
        self._sessions[session.id] = session
        log.info("%s signed in (%s, %s)", account.user_name, account.role.value, purpose)
        return session

    def _check_password(
        self, user_name: str, password: str, purpose: Purpose
    ) -> tuple[StaffAccount, datetime]:
        """Check a password with throttling, audit the attempt; the account on success."""
        from kiosk.auth.passwords import credential_commitment

        name = clean_text(user_name, 64).casefold()
        events: list[AccountEvent] = []
        if _valid_user_name(name):
            events = self.store.account_events(name)
        account = fold_accounts(events).get(name)
        now = self.now()
        gate = login_gate(events, now, self.throttle)
        phc = self.store.credential(name) if account is not None else None
        verification = self.passwords.verify(phc, normalise_password(password))
        matches = (
            phc is not None
            and account is not None
            and account.credential_sha256 == credential_commitment(phc)
        )
        decision = decide_login(account, gate, verification.ok, credential_matches=matches)
        actor = self._system_actor("cli" if purpose == "cli" else "system", "sign-in")
        if account is None:
            self._audit(UnknownUserLogin(at=now, actor=actor, purpose=purpose), what="sign-in")
            raise LoginRefused(GENERIC_FAILURE)
        if not decision.ok:
            assert decision.failure is not None
            self._audit(
                LoginFailed(
                    at=now, actor=actor, subject=name, reason=decision.failure, purpose=purpose
                ),
                what="sign-in",
            )
            log.info("sign-in refused for %s: %s", name, decision.failure.value)
            raise LoginRefused(decision.message or GENERIC_FAILURE)
        staff_actor = StaffActor(
            user=account.user_name,
            display_name=account.display_name,
            role=account.role,
            terminal=self.terminal,
        )
        succeeded = LoginSucceeded(at=now, actor=staff_actor, subject=name, purpose=purpose)
        if verification.needs_rehash:
            # The parameters changed since this password was hashed: hash it again now,
            # atomically with the audited sign-in (the commitment changes with it).
            new_phc = self.passwords.hash(normalise_password(password))
            rehashed = PasswordSet(
                at=now,
                actor=staff_actor,
                subject=name,
                reason=PasswordReason.REHASHED,
                credential_sha256=credential_commitment(new_phc),
            )
            self._audit(succeeded, rehashed, what="sign-in", credential=new_phc)
        else:
            self._audit(succeeded, what="sign-in")
        return account, now

    def logout(
        self, session: StaffSession | None, reason: LogoutReason = LogoutReason.USER
    ) -> None:
        """End the session (the person signed out, or the app's idle timer fired) and audit
        it. Ending an ended session (or none) does nothing."""
        if session is None:
            return
        if self._sessions.get(session.id) is not session or not session.is_open:
            return
        try:
            self._flush_search(session)
        except TryAgain:
            log.error("the last search of %s could not be audited", session.user_name)
        session.ended = reason
        del self._sessions[session.id]
        actor = session.actor
        try:
            self._audit(
                LoggedOut(at=self.now(), actor=actor, subject=session.user_name, reason=reason),
                what="sign-out",
            )
        except TryAgain:
            log.error("the sign-out of %s could not be audited", session.user_name)

    def touch(self, session: StaffSession) -> None:
        """The person is active (a key or a click): push the idle limit back. Cheap; the
        app calls it on input, at most every few seconds. Raises SessionEnded when it has
        already ended."""
        self._open(session)

    def session_state(self, session: StaffSession | None) -> LogoutReason | None:
        """Why the session has ended or must end now (None: still open). Ends it (and
        audits it) when a time limit has passed, so the app can poll this on a timer."""
        if session is None:
            return LogoutReason.USER
        if self._sessions.get(session.id) is not session or not session.is_open:
            return session.ended or LogoutReason.USER
        reason = session.expiry(self.now(), self.idle_timeout)
        if reason is not None:
            self.logout(session, reason)
        return reason

    def _open(self, session: StaffSession | None) -> StaffSession:
        """The session if open; SessionEnded (after auditing an automatic sign-out)."""
        if session is None:
            raise SessionEnded("Sign in first.")
        if self._sessions.get(session.id) is not session or not session.is_open:
            raise SessionEnded(ENDED_SENTENCE[session.ended or LogoutReason.USER], session.ended)
        now = self.now()
        reason = session.expiry(now, self.idle_timeout)
        if reason is not None:
            self.logout(session, reason)
            raise SessionEnded(ENDED_SENTENCE[reason], reason)
        session.last_active = now
        return session

    def _begin(self, session: StaffSession | None, operation: StaffOperation) -> StaffSession:
        """Check the session (open, account still enabled, current role) and the role."""
        if session is None:
            require(None, operation)
        session = self._open(session)
        account = fold_accounts(self.store.account_events(session.user_name)).get(session.user_name)
        if account is None or account.disabled:
            session.ended = LogoutReason.USER
            self._sessions.pop(session.id, None)
            raise SessionEnded(
                "Your account has been disabled by a clinic admin, so you were signed out."
            )
        session.role = account.role
        session.display_name = account.display_name
        session.physiotherapist_id = account.physiotherapist_id
        require(session.role, operation)
        if operation not in (StaffOperation.SEARCH_RECORDS, StaffOperation.BROWSE_RECORDS):
            self._flush_search(session)
        return session

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

    def _flush_search(self, session: StaffSession) -> None:
        pending = self._pending_search.pop(session.id, None)
        if pending is not None:
            self._audit(pending, what="search audit")

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
        account, confirmed_at = self._check_password(session.user_name, password, "countersign")
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

        Run it in a worker. Raises ExportProblem (the target), TryAgain (not logged, so
        nothing written), NotFound.
        """
        import hashlib

        from kiosk.services import ExportError, check_output_file, place_file, write_hidden_copy

        session = self._begin(session, StaffOperation.EXPORT_PDF)
        try:
            check_output_file(out, force=force)
        except ExportError as exc:
            raise ExportProblem(str(exc)) from None
        stored = self._stored(record_id)
        data = self._render_pdf(stored, verification=verification)
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
        """The record's PDF bytes (the lifecycle, discussion and countersignature on it)."""
        return self.kiosk.render_pdf(stored, verification=verification)

    # ------------------------------------------------------------------ accounts: admin

    def list_accounts(self, session: StaffSession | None) -> list[AccountLine]:
        """Every account (disabled ones too: they keep their history), with how each one
        agrees with the clinic settings, and its sign-in lock or wait."""
        self._begin(session, StaffOperation.LIST_ACCOUNTS)
        return self._account_lines()

    def _account_lines(self) -> list[AccountLine]:
        from kiosk.auth.throttle import Locked, Wait

        events = self.store.account_events()
        accounts = fold_accounts(events)
        now = self.now()
        lines = []
        for account in sorted(accounts.values(), key=lambda a: a.user_name):
            history = [e for e in events if e.subject == account.user_name]
            gate = login_gate(history, now, self.throttle)
            name = registration = None
            if account.physiotherapist_id is not None:
                try:
                    entry = self.settings.physiotherapist(account.physiotherapist_id)
                    name, registration = entry.name, entry.registration
                except KeyError:
                    pass
            lines.append(
                AccountLine(
                    account=account,
                    physiotherapist_name=name,
                    registration=registration,
                    problem=self._disagreement(account, name),
                    locked=isinstance(gate, Locked),
                    waiting_until=gate.until if isinstance(gate, Wait) else None,
                    failures=gate.failures,
                )
            )
        return lines

    def _disagreement(self, account: StaffAccount, settings_name: str | None) -> str | None:
        if account.role is not Role.PHYSIO:
            return None
        if settings_name is None:
            return (
                f"Linked to physiotherapist id {account.physiotherapist_id}, which the clinic "
                "settings do not list: this account can sign in and read records but cannot "
                "discuss or countersign until the settings list it again or an admin links it "
                "to another id."
            )
        if clean_text(settings_name).casefold() != clean_text(account.display_name).casefold():
            return (
                f"The account's name ({account.display_name}) differs from the clinic "
                f"settings ({settings_name}); countersignatures print the settings' name."
            )
        return None

    def clinic_check(self, session: StaffSession | None) -> ClinicCheck:
        """Physiotherapists the kiosk lists with no account (nobody can countersign their
        records), and physio accounts whose id the settings no longer list."""
        self._begin(session, StaffOperation.LIST_ACCOUNTS)
        accounts = self._accounts()
        linked = {a.physiotherapist_id for a in accounts.values() if not a.disabled}
        ids = set(self._physio_ids())
        return ClinicCheck(
            without_account=tuple(p for p in self._physio_ids() if p not in linked),
            without_settings=tuple(
                sorted(
                    a.user_name
                    for a in accounts.values()
                    if a.role is Role.PHYSIO and a.physiotherapist_id not in ids
                )
            ),
        )

    def _new_password(self, password: str, context: Sequence[str]) -> str:
        try:
            return check_password(password, context=[*context, self.settings.clinic.name])
        except PasswordRejected as exc:
            raise ActionRefused(str(exc)) from None

    def create_account(
        self,
        session: StaffSession | None,
        user_name: str,
        *,
        role: Role,
        password: str,
        display_name: str | None = None,
        physiotherapist_id: str | None = None,
        os_actor: str | None = None,
    ) -> StaffAccount:
        """Create an account with its first password (checked against the policy).

        A physio account names a ``physiotherapists`` id of the settings (default: the
        same as the user name, when the settings list it) and takes its display name from
        there; an admin account needs a display name. ``os_actor`` (the operating-system
        user running ``ims-kiosk users add``) may create accounts without a session only
        while the store has no admin: the first admin is made this way.
        """
        actor_session, actor = self._account_actor(session, StaffOperation.CREATE_ACCOUNT, os_actor)
        name = clean_text(user_name, 64)
        if not _valid_user_name(name):
            raise ActionRefused(
                f"{name!r} cannot be a user name: use 2 to 32 lower-case letters, digits, "
                "dots, hyphens or underscores, starting with a letter (for example akim)."
            )
        if role is Role.PHYSIO and physiotherapist_id is None and name in self._physio_ids():
            physiotherapist_id = name
        if role is Role.PHYSIO and display_name is None and physiotherapist_id is not None:
            with suppress(KeyError):
                display_name = self.settings.physiotherapist(physiotherapist_id).name
        shown = clean_text(display_name or "")
        if not shown:
            raise ActionRefused("Give the person's full name (--name), as staff know them.")
        accounts = self._accounts()
        try:
            check_new_account(accounts, name, role, physiotherapist_id, self._physio_ids())
        except AccountProblem as exc:
            raise ActionRefused(str(exc)) from None
        if role is Role.PHYSIO:
            taken = [
                a.user_name
                for a in accounts.values()
                if a.physiotherapist_id == physiotherapist_id and not a.disabled
            ]
            if taken:
                raise ActionRefused(
                    f"The physiotherapist {physiotherapist_id} already has an account "
                    f"({taken[0]}). One person, one account: disable that one first if it "
                    "should be replaced."
                )
        normalised = self._new_password(password, [name, shown])
        phc = self.passwords.hash(normalised)
        from kiosk.auth.passwords import credential_commitment

        who = actor_session.actor if actor_session is not None else actor
        assert who is not None
        now = self.now()
        created = AccountCreated(
            at=now,
            actor=who,
            subject=name,
            display_name=shown,
            role=role,
            physiotherapist_id=physiotherapist_id if role is Role.PHYSIO else None,
        )
        password_set = PasswordSet(
            at=now,
            actor=who,
            subject=name,
            reason=PasswordReason.CREATED,
            credential_sha256=credential_commitment(phc),
        )
        self._account_write(created, password_set, credential=phc, what="account creation")
        return fold_accounts(self.store.account_events(name))[name]

    def _account_actor(
        self, session: StaffSession | None, operation: StaffOperation, os_actor: str | None
    ) -> tuple[StaffSession | None, SystemActor | None]:
        """The admin's session, or (only with no admin yet, or for recovery) the OS user."""
        if session is not None or os_actor is None:
            return self._begin(session, operation), None
        return None, self._system_actor("os_user", os_actor)

    def _account_write(self, *events: AuditEvent, credential: str | None = None, what: str) -> None:
        from consent_records.base import ConflictingEvent

        try:
            self._audit(*events, credential=credential, what=what)
        except ConflictingEvent as exc:
            raise ActionRefused(str(exc)) from None

    def _existing(self, user_name: str) -> tuple[dict[str, StaffAccount], StaffAccount]:
        accounts = self._accounts()
        account = accounts.get(clean_text(user_name, 64))
        if account is None:
            raise NotFound(f"There is no account named {clean_text(user_name, 64)!r}.")
        return accounts, account

    def disable_account(
        self, session: StaffSession | None, user_name: str, *, os_actor: str | None = None
    ) -> StaffAccount:
        """Disable an account (it keeps its history; its sessions end at their next act)."""
        admin, actor = self._account_actor(session, StaffOperation.DISABLE_ACCOUNT, os_actor)
        accounts, account = self._existing(user_name)
        if account.disabled:
            return account
        try:
            check_disable_or_demote(accounts, account.user_name)
        except AccountProblem as exc:
            raise ActionRefused(str(exc)) from None
        if admin is not None and admin.user_name == account.user_name:
            raise ActionRefused("You cannot disable your own account; ask another admin.")
        self._account_write(
            AccountDisabled(at=self.now(), actor=_actor(admin, actor), subject=account.user_name),
            what="account disable",
        )
        return self._reread(account.user_name)

    def enable_account(
        self, session: StaffSession | None, user_name: str, *, os_actor: str | None = None
    ) -> StaffAccount:
        admin, actor = self._account_actor(session, StaffOperation.ENABLE_ACCOUNT, os_actor)
        _, account = self._existing(user_name)
        if not account.disabled:
            return account
        if account.role is Role.PHYSIO and account.physiotherapist_id not in self._physio_ids():
            log.info("enabling %s, whose physiotherapist id is not in the settings", user_name)
        self._account_write(
            AccountEnabled(at=self.now(), actor=_actor(admin, actor), subject=account.user_name),
            what="account enable",
        )
        return self._reread(account.user_name)

    def unlock_account(
        self, session: StaffSession | None, user_name: str, *, os_actor: str | None = None
    ) -> StaffAccount:
        """Clear an account's failed sign-ins (its wait or lock)."""
        admin, actor = self._account_actor(session, StaffOperation.UNLOCK_ACCOUNT, os_actor)
        _, account = self._existing(user_name)
        self._account_write(
            AccountUnlocked(at=self.now(), actor=_actor(admin, actor), subject=account.user_name),
            what="account unlock",
        )
        return self._reread(account.user_name)

    def reset_password(
        self,
        session: StaffSession | None,
        user_name: str,
        password: str,
        *,
        os_actor: str | None = None,
    ) -> StaffAccount:
        """An admin sets a new password for an account (also clears its failed sign-ins)."""
        from kiosk.auth.passwords import credential_commitment

        admin, actor = self._account_actor(session, StaffOperation.RESET_PASSWORD, os_actor)
        _, account = self._existing(user_name)
        normalised = self._new_password(password, [account.user_name, account.display_name])
        phc = self.passwords.hash(normalised)
        self._account_write(
            PasswordSet(
                at=self.now(),
                actor=_actor(admin, actor),
                subject=account.user_name,
                reason=PasswordReason.RESET,
                credential_sha256=credential_commitment(phc),
            ),
            credential=phc,
            what="password reset",
        )
        return self._reread(account.user_name)

    def change_own_password(self, session: StaffSession, current: str, new: str) -> None:
        """The signed-in person changes their password (the current one is asked again)."""
        from kiosk.auth.passwords import credential_commitment

        session = self._begin(session, StaffOperation.CHANGE_OWN_PASSWORD)
        self._check_password(session.user_name, current, "session")
        normalised = self._new_password(new, [session.user_name, session.display_name])
        phc = self.passwords.hash(normalised)
        self._account_write(
            PasswordSet(
                at=self.now(),
                actor=session.actor,
                subject=session.user_name,
                reason=PasswordReason.CHANGED,
                credential_sha256=credential_commitment(phc),
            ),
            credential=phc,
            what="password change",
        )

    def set_role(
        self,
        session: StaffSession | None,
        user_name: str,
        role: Role,
        *,
        physiotherapist_id: str | None = None,
        os_actor: str | None = None,
    ) -> StaffAccount:
        """Change an account's role (a physio needs a physiotherapist id of the settings:
        default the user name when listed; an admin's link is removed)."""
        admin, actor = self._account_actor(session, StaffOperation.SET_ROLE, os_actor)
        accounts, account = self._existing(user_name)
        if role is Role.PHYSIO:
            if physiotherapist_id is None:
                physiotherapist_id = account.physiotherapist_id or (
                    account.user_name if account.user_name in self._physio_ids() else None
                )
            try:
                check_role_link(role, physiotherapist_id, self._physio_ids())
            except AccountProblem as exc:
                raise ActionRefused(str(exc)) from None
        if account.role is role and (
            role is Role.ADMIN or physiotherapist_id == account.physiotherapist_id
        ):
            return account
        if account.role is Role.ADMIN and role is not Role.ADMIN:
            try:
                check_disable_or_demote(accounts, account.user_name)
            except AccountProblem as exc:
                raise ActionRefused(str(exc)) from None
        change = AccountChanged(
            at=self.now(),
            actor=_actor(admin, actor),
            subject=account.user_name,
            role=role,
            physiotherapist_id=physiotherapist_id if role is Role.PHYSIO else None,
            clear_physiotherapist=role is Role.ADMIN,
        )
        self._account_write(change, what="role change")
        return self._reread(account.user_name)

    def _reread(self, user_name: str) -> StaffAccount:
        return fold_accounts(self.store.account_events(user_name))[user_name]

    def any_admin(self) -> bool:
        return any(a.role is Role.ADMIN and not a.disabled for a in self._accounts().values())

    # ------------------------------------------------------------------ audit log

    def audit_log(self, session: StaffSession, query: AuditQuery) -> AuditPage:
        """One page of the audit log (newest first), with the query's filters."""
        self._begin(session, StaffOperation.VIEW_AUDIT_LOG)
        return self.store.audit(query)

    def export_audit_csv(
        self, session: StaffSession, query: AuditQuery, out: Path, *, force: bool = False
    ) -> int:
        """Write every entry matching ``query`` (all pages) to ``out`` as CSV, owner-only;
        audited first. Returns the number of entries written."""
        from consent_records.audit import AUDIT_PAGE_MAX
        from kiosk.services import ExportError, check_output_file, place_file, write_hidden_copy
        from kiosk.staff.audit_csv import audit_csv

        session = self._begin(session, StaffOperation.EXPORT_AUDIT_LOG)
        try:
            check_output_file(out, force=force)
        except ExportError as exc:
            raise ExportProblem(str(exc)) from None
        items: list[AuditItem] = []
        offset = 0
        while True:
            page = self.store.audit(
                query.model_copy(update={"offset": offset, "limit": AUDIT_PAGE_MAX})
            )
            items += page.items
            offset += len(page.items)
            if not page.has_more or not page.items:
                break
        data = audit_csv(items, self.settings.zone).encode("utf-8")
        try:
            tmp = write_hidden_copy(out, data)
        except ExportError as exc:
            raise ExportProblem(str(exc)) from None
        try:
            self._audit(
                AuditExported(
                    at=self.now(),
                    actor=session.actor,
                    entries=len(items),
                    file_name=clean_text(out.name, SHORT_MAX) or None,
                ),
                what="audit export",
            )
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        try:
            place_file(tmp, out, force=force)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ExportProblem(f"{out} could not be written ({exc.strerror or exc}).") from None
        return len(items)

    # ------------------------------------------------------------------ store checks

    def verify(
        self, session: StaffSession, *, progress: Callable[[int, int], None] | None = None
    ) -> VerifyReport:
        """Verify the whole store (in a worker), audited with its outcome."""
        session = self._begin(session, StaffOperation.VERIFY_STORE)
        report = self.store.verify(progress=progress)
        self._audit(
            StoreVerified(
                at=self.now(),
                actor=session.actor,
                ok=report.ok,
                chain_length=report.chain_length,
                chain_head=report.chain_head,
                problem=(report.problem or "")[:1900] or None,
            ),
            what="verify audit",
        )
        return report

    def backup(
        self,
        session: StaffSession,
        out_dir: Path,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> VerifyReport:
        """Write a consistent, verified copy of the store (in a worker), audited."""
        from consent_records.base import StoreError

        session = self._begin(session, StaffOperation.BACKUP_STORE)
        try:
            report = self.store.backup(out_dir, progress=progress)
        except (StoreError, OSError) as exc:
            raise ExportProblem(str(exc)) from None
        self._audit(
            BackupWritten(
                at=self.now(),
                actor=session.actor,
                ok=report.ok,
                chain_length=report.chain_length,
                target=clean_text(out_dir.name, SHORT_MAX) or None,
            ),
            what="backup audit",
        )
        return report


# ---------------------------------------------------------------------- helpers


def _actor(session: StaffSession | None, actor: SystemActor | None) -> SystemActor | StaffActor:
    if session is not None:
        return session.actor
    assert actor is not None
    return actor


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


def _valid_user_name(name: str) -> bool:
    import re

    return re.fullmatch(r"[a-z][a-z0-9._-]{1,31}", name) is not None


def _optional(text: str | None) -> str | None:
    if text is None:
        return None
    cleaned = clean_text(text, 2000)
    return cleaned or None


def _validation_sentence(exc: ValidationError) -> str:
    for error in exc.errors():
        message = str(error.get("msg", ""))
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
            return message[0].upper() + message[1:] + "."
    return "Some of what was entered cannot be stored; check each field and try again."


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


__all__ = [
    "ENV_ARGON2_PROFILE",
    "TEST_PROFILE",
    "AccountLine",
    "ClinicCheck",
    "CountersignStatement",
    "StaffServices",
    "configured_passwords",
    "host_terminal",
]
