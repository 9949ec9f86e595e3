"""The core of the staff services: settings, store, clock, sign-in and sessions.

Record operations are in :mod:`.records`, account and audit operations in :mod:`.admin`;
:class:`kiosk.staff.services.StaffServices` is all three.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import ValidationError

from consent_records.audit import (
    AccountEvent,
    AuditEvent,
    LoggedOut,
    LoginFailed,
    LoginSucceeded,
    LogoutReason,
    PasswordReason,
    PasswordSet,
    RecordsSearched,
    UnknownUserLogin,
)
from consent_records.events import (
    StaffActor,
    SystemActor,
    Terminal,
    TerminalKind,
)
from consent_records.lifecycle import ConsentRules
from consent_records.sanitize import SHORT_MAX, clean_text
from kiosk.auth.accounts import (
    StaffAccount,
    fold_accounts,
    physio_link_problem,
)
from kiosk.auth.permissions import StaffOperation, require
from kiosk.auth.policy import normalise_password
from kiosk.auth.throttle import (
    GENERIC_FAILURE,
    ThrottlePolicy,
    decide_login,
    login_gate,
)
from kiosk.settings import Settings
from kiosk.staff.errors import (
    LoginRefused,
    SessionEnded,
    StoreProblem,
    TryAgain,
)
from kiosk.staff.sessions import ENDED_SENTENCE, StaffSession

if TYPE_CHECKING:
    from consent_records.base import ConsentStore
    from content.loader import LoadedContent
    from kiosk.auth.passwords import Passwords
    from kiosk.services import KioskServices

log = logging.getLogger("kiosk.staff")

ENV_ARGON2_PROFILE = "IMS_KIOSK_ARGON2_PROFILE"
TEST_PROFILE = "test-only-insecure"
"""``IMS_KIOSK_ARGON2_PROFILE=test-only-insecure`` hashes new passwords with argon2-cffi's
cheapest parameters, so the test suite's command-line tests stay fast. It is honoured only
while pytest runs a test (``PYTEST_CURRENT_TEST`` is set), never on a clinic's machine; and a
password hashed with it is rehashed with the real parameters at its next sign-in."""

Purpose = Literal["session", "countersign", "cli"]

SEARCH_AUDIT_FILTERS_MAX = SHORT_MAX


def configured_passwords() -> Passwords:
    """The password hasher: the chosen argon2id parameters (docs/staff-accounts.md), or
    the cheapest ones when the test-only environment setting asks for them."""
    from kiosk.auth.passwords import PARAMETERS, TEST_PARAMETERS, Passwords

    testing = "PYTEST_CURRENT_TEST" in os.environ
    if testing and os.environ.get(ENV_ARGON2_PROFILE) == TEST_PROFILE:
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


class StaffCore:
    """Settings, store, clock and the sessions these services issued; sign-in, sign-out
    and the checks every operation starts with (:meth:`_begin`).

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
        """The configured store (the embedded one in ``data_dir``, or PostgreSQL when the
        settings say ``store = "postgresql"``), opened on first use."""
        if self._store is None:
            if self.settings.store == "postgresql":
                from kiosk.pg_cli import open_configured_store

                self._store = open_configured_store(self.settings, read_only=self.read_only)
            else:
                from consent_records.backends import StoreConfig, open_store

                self._store = open_store(
                    StoreConfig(data_dir=self.data_dir), read_only=self.read_only
                )
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

    def _flush_search(self, session: StaffSession) -> None:
        pending = self._pending_search.pop(session.id, None)
        if pending is not None:
            self._audit(pending, what="search audit")


def _actor(session: StaffSession | None, actor: SystemActor | None) -> SystemActor | StaffActor:
    if session is not None:
        return session.actor
    assert actor is not None
    return actor


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
