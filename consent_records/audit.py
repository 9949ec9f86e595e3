"""Staff account and sign-in events: the audited history accounts and throttling fold from.

These are entries of the store's hash chain like record events, but about a staff account
rather than a record (``subject`` is the account's user name). Staff accounts are never kept
as a mutable table of their own: ``kiosk.auth.accounts`` folds them from these events, and
``kiosk.auth.throttle`` derives the sign-in delay and lock from them, so both survive a
restart and both are as tamper-evident as the records.

No event here holds a password or a password hash. :class:`PasswordSet` holds only a
*commitment* (SHA-256 of the argon2id PHC string, which is kept outside the chain: see
docs/staff-accounts.md). Without the PHC string's random salt, the commitment cannot be
used to test password guesses; with it, the credential store can be checked against the
audited history.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import Field, StringConstraints, TypeAdapter

from consent_records.events import AnyEvent, ChainEvent, Role, UserName, actor_key_of
from consent_records.events import actor_key as event_actor_key
from consent_records.model import (
    Identifier,
    Model,
    NoteText,
    PersonName,
    RecordEvent,
    RecordId,
    Sha256Hex,
    ShortText,
)


class AuditKind(StrEnum):
    ACCOUNT_CREATED = "account_created"
    ACCOUNT_CHANGED = "account_changed"
    ACCOUNT_DISABLED = "account_disabled"
    ACCOUNT_ENABLED = "account_enabled"
    ACCOUNT_UNLOCKED = "account_unlocked"
    PASSWORD_SET = "password_set"
    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"
    LOGGED_OUT = "logged_out"
    UNKNOWN_USER_LOGIN = "unknown_user_login"
    RECORD_VIEWED = "record_viewed"
    RECORDS_SEARCHED = "records_searched"
    AUDIT_EXPORTED = "audit_exported"
    STORE_VERIFIED = "store_verified"
    BACKUP_WRITTEN = "backup_written"
    RECORDS_EXPORTED = "records_exported"


class _AuditEvent(ChainEvent):
    """``actor``: the admin (or the ``cli`` / ``os_user`` creating the first admin), or the
    staff member signing in or out."""

    subject: UserName
    """The account concerned."""


class AccountCreated(_AuditEvent):
    kind: Literal[AuditKind.ACCOUNT_CREATED] = AuditKind.ACCOUNT_CREATED
    display_name: PersonName
    role: Role
    physiotherapist_id: Identifier | None = None
    """The clinic settings' ``physiotherapists`` id; required for a physio, None for an admin."""


class AccountChanged(_AuditEvent):
    """A change of name, role or physiotherapist link (fields left None are unchanged)."""

    kind: Literal[AuditKind.ACCOUNT_CHANGED] = AuditKind.ACCOUNT_CHANGED
    display_name: PersonName | None = None
    role: Role | None = None
    physiotherapist_id: Identifier | None = None
    clear_physiotherapist: bool = False
    """True when a physio becomes an admin: the link is removed."""


class AccountDisabled(_AuditEvent):
    kind: Literal[AuditKind.ACCOUNT_DISABLED] = AuditKind.ACCOUNT_DISABLED


class AccountEnabled(_AuditEvent):
    kind: Literal[AuditKind.ACCOUNT_ENABLED] = AuditKind.ACCOUNT_ENABLED


class AccountUnlocked(_AuditEvent):
    """An admin cleared the failed sign-ins (the delay or the lock)."""

    kind: Literal[AuditKind.ACCOUNT_UNLOCKED] = AuditKind.ACCOUNT_UNLOCKED


class PasswordReason(StrEnum):
    CREATED = "created"
    """The first password, with the account."""
    CHANGED = "changed"
    """The staff member changed their own password."""
    RESET = "reset"
    """An admin set a new password (this also clears failed sign-ins)."""
    REHASHED = "rehashed"
    """Same password, hashed again with the current argon2id parameters at sign-in."""


class PasswordSet(_AuditEvent):
    kind: Literal[AuditKind.PASSWORD_SET] = AuditKind.PASSWORD_SET
    reason: PasswordReason
    credential_sha256: Sha256Hex
    """SHA-256 of the PHC string now stored for the account (``kiosk.auth.passwords``)."""


class LoginFailure(StrEnum):
    WRONG_PASSWORD = "wrong_password"
    """Counted towards the delay and the lock."""
    THROTTLED = "throttled"
    """Tried while the account had to wait: not checked, not counted."""
    LOCKED = "locked"
    """Tried while the account was locked: not checked, not counted."""
    DISABLED = "disabled"
    """Right password on a disabled account: not counted."""
    CREDENTIAL_MISMATCH = "credential_mismatch"
    """The stored credential does not match the audited commitment (tampering): refused."""


class LoginSucceeded(_AuditEvent):
    kind: Literal[AuditKind.LOGIN_SUCCEEDED] = AuditKind.LOGIN_SUCCEEDED
    purpose: Literal["session", "countersign", "cli"] = "session"
    """A staff app session, the password asked again for a countersignature, or a
    record-reading CLI command run with ``--user``."""


class LoginFailed(_AuditEvent):
    """A failed sign-in on an existing account.

    A user name that names no account is audited by the staff app without the name typed
    (people type passwords into the user name field): see docs/staff-accounts.md.
    """

    kind: Literal[AuditKind.LOGIN_FAILED] = AuditKind.LOGIN_FAILED
    reason: LoginFailure
    purpose: Literal["session", "countersign", "cli"] = "session"


class LogoutReason(StrEnum):
    USER = "user"
    IDLE = "idle"
    SESSION_LIMIT = "session_limit"


class LoggedOut(_AuditEvent):
    kind: Literal[AuditKind.LOGGED_OUT] = AuditKind.LOGGED_OUT
    reason: LogoutReason


AccountEvent: TypeAlias = Annotated[
    AccountCreated
    | AccountChanged
    | AccountDisabled
    | AccountEnabled
    | AccountUnlocked
    | PasswordSet
    | LoginSucceeded
    | LoginFailed
    | LoggedOut,
    Field(discriminator="kind"),
]
"""Any staff account or sign-in event, chosen by its ``kind``."""

ACCOUNT_EVENT: TypeAdapter[AccountEvent] = TypeAdapter(AccountEvent)
"""``ACCOUNT_EVENT.validate_python(data)`` reads one back from stored JSON."""

ACCOUNT_KINDS: frozenset[AuditKind] = frozenset(
    {
        AuditKind.ACCOUNT_CREATED,
        AuditKind.ACCOUNT_CHANGED,
        AuditKind.ACCOUNT_DISABLED,
        AuditKind.ACCOUNT_ENABLED,
        AuditKind.ACCOUNT_UNLOCKED,
        AuditKind.PASSWORD_SET,
        AuditKind.LOGIN_SUCCEEDED,
        AuditKind.LOGIN_FAILED,
        AuditKind.LOGGED_OUT,
    }
)
"""The kinds of :data:`AccountEvent` (each names an account as ``subject``)."""


# ----------------------------------------------------------------------- other audit entries
#
# Acts that change no record and no account but must be audited: a sign-in with a name that
# names no account, a record looked at, a search, an audit export, verify and backup. Like
# account events they are chain entries of their own kind ("audit"), never record events.


class UnknownUserLogin(ChainEvent):
    """A sign-in with a user name that names no account. The typed name is NOT kept (people
    type passwords into the user name field, and a chain entry is forever)."""

    kind: Literal[AuditKind.UNKNOWN_USER_LOGIN] = AuditKind.UNKNOWN_USER_LOGIN
    purpose: Literal["session", "countersign", "cli"] = "session"


class RecordViewed(ChainEvent):
    """A staff member opened one record (staff app or ``records show`` / ``pdf``): named by its
    id, never by the patient's name."""

    kind: Literal[AuditKind.RECORD_VIEWED] = AuditKind.RECORD_VIEWED
    record_id: RecordId


class RecordsSearched(ChainEvent):
    """A search or list of records (audit it once the typing settles, not per keystroke)."""

    kind: Literal[AuditKind.RECORDS_SEARCHED] = AuditKind.RECORDS_SEARCHED
    text: ShortText | None = None
    """The search box's text, if any (the chain is protected like the records)."""
    filters: ShortText | None = None
    """The other filters in words, for example ``status=awaiting_discussion physio=ana``."""
    results: Annotated[int, Field(ge=0)]


class AuditExported(ChainEvent):
    kind: Literal[AuditKind.AUDIT_EXPORTED] = AuditKind.AUDIT_EXPORTED
    entries: Annotated[int, Field(ge=0)]
    file_name: ShortText | None = None
    """The file's name only, never its folder."""


class StoreVerified(ChainEvent):
    """``verify`` ran (appended afterwards, when the store can be written)."""

    kind: Literal[AuditKind.STORE_VERIFIED] = AuditKind.STORE_VERIFIED
    ok: bool
    chain_length: Annotated[int, Field(ge=0)]
    chain_head: Sha256Hex
    problem: NoteText | None = None


class BackupWritten(ChainEvent):
    kind: Literal[AuditKind.BACKUP_WRITTEN] = AuditKind.BACKUP_WRITTEN
    ok: bool
    chain_length: Annotated[int, Field(ge=0)]
    target: ShortText | None = None
    """The backup folder's last component only."""


class RecordsExported(ChainEvent):
    """A bulk export of sealed PDFs (``ims-kiosk export``): who, the filter, how many. Each
    record exported also gets its own ``pdf_exported`` event."""

    kind: Literal[AuditKind.RECORDS_EXPORTED] = AuditKind.RECORDS_EXPORTED
    filters: ShortText | None = None
    """The filter in words, for example ``status=active from=2026-01-01``."""
    selected: Annotated[int, Field(ge=0)]
    exported: Annotated[int, Field(ge=0)]
    """PDFs in the folder when it ended (written now or by an earlier run)."""
    finished: bool
    """False when it stopped early (cancelled, disk full): a later run continues it."""
    folder: ShortText | None = None
    """The folder's last component only."""


AuditEvent: TypeAlias = Annotated[
    AccountCreated
    | AccountChanged
    | AccountDisabled
    | AccountEnabled
    | AccountUnlocked
    | PasswordSet
    | LoginSucceeded
    | LoginFailed
    | LoggedOut
    | UnknownUserLogin
    | RecordViewed
    | RecordsSearched
    | AuditExported
    | StoreVerified
    | BackupWritten
    | RecordsExported,
    Field(discriminator="kind"),
]
"""Any audit entry: a chain entry of kind ``audit`` (not a record event)."""

AUDIT_EVENT: TypeAdapter[AuditEvent] = TypeAdapter(AuditEvent)


def parse_audit(data: Any) -> AuditEvent:
    """Stored audit JSON as a model (pydantic.ValidationError if it is not one)."""
    return AUDIT_EVENT.validate_python(data)


def audit_subject(event: AuditEvent) -> str | None:
    """The account an audit entry is about (account and sign-in events), else None."""
    return event.subject if isinstance(event, _AuditEvent) else None


def audit_record_id(event: AuditEvent) -> str | None:
    """The record an audit entry is about (a record view), else None."""
    return event.record_id if isinstance(event, RecordViewed) else None


def actor_key(event: AuditEvent) -> str:
    """Who did it, as an audit query names them (:func:`consent_records.events.actor_key_of`)."""
    return actor_key_of(event.actor)


# ----------------------------------------------------------------------- the audit log query

AUDIT_PAGE_MAX = 500


class AuditQuery(Model):
    """One page of the audit log: every chain entry except the records themselves (record
    events of both versions and audit entries), newest (highest chain position) first."""

    person: Annotated[str, StringConstraints(min_length=1, max_length=80)] | None = None
    """Entries done by this person (a staff user name, or a process key such as
    ``os_user:alice``: :func:`consent_records.events.actor_key`) or about this account."""
    record_id: RecordId | None = None
    """Entries about this record (its events and its views)."""
    kinds: frozenset[str] = frozenset()
    """Any of these kinds (audit kinds, record event kinds of either version); empty: all."""
    date_from: date | None = None
    """On or after this day (in the entry's own UTC offset)."""
    date_to: date | None = None
    include_record_events: bool = True
    """False: audit entries only (accounts, sign-ins, views, searches, exports, verify)."""
    offset: Annotated[int, Field(ge=0)] = 0
    limit: Annotated[int, Field(ge=1, le=AUDIT_PAGE_MAX)] = 100


@dataclass(frozen=True, slots=True)
class AuditItem:
    """One line of the audit log, with the entry it comes from."""

    seq: int
    sha256: str
    at: datetime
    kind: str
    actor: str
    """:func:`consent_records.events.actor_key` of the entry."""
    subject: str | None
    """The account concerned (account and sign-in events)."""
    record_id: str | None
    """The record concerned (record events and record views)."""
    event: AnyEvent | AuditEvent

    @property
    def is_record_event(self) -> bool:
        return not isinstance(self.event, _AUDIT_TYPES)

    @property
    def actor_label(self) -> str:
        """Who, for people: "Ana Silva (ana, physio) at front-desk"."""
        if isinstance(self.event, RecordEvent):
            return self.event.actor
        return self.event.actor.label


_AUDIT_TYPES: tuple[type, ...] = typing.get_args(typing.get_args(AuditEvent)[0])


def audit_item(seq: int, sha256: str, event: AnyEvent | AuditEvent) -> AuditItem:
    """The audit log line of a stored event or audit entry."""
    if isinstance(event, _AUDIT_TYPES):
        audit = typing.cast(AuditEvent, event)
        return AuditItem(
            seq=seq,
            sha256=sha256,
            at=audit.at,
            kind=audit.kind.value,
            actor=actor_key(audit),
            subject=audit_subject(audit),
            record_id=audit_record_id(audit),
            event=audit,
        )
    record_event = typing.cast(AnyEvent, event)
    return AuditItem(
        seq=seq,
        sha256=sha256,
        at=record_event.at,
        kind=record_event.kind.value,
        actor=event_actor_key(record_event),
        subject=None,
        record_id=record_event.record_id,
        event=record_event,
    )


@dataclass(frozen=True, slots=True)
class AuditPage:
    items: tuple[AuditItem, ...]
    total: int
    """Entries matching the query (across all pages)."""
    offset: int
    limit: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.items) < self.total


def audit_matches(item: AuditItem, query: AuditQuery) -> bool:
    """Whether one audit line matches ``query``'s filters (the specification)."""
    if not query.include_record_events and item.is_record_event:
        return False
    if query.person is not None and query.person not in (item.actor, item.subject):
        return False
    if query.record_id is not None and item.record_id != query.record_id:
        return False
    if query.kinds and item.kind not in query.kinds:
        return False
    day = item.at.date()
    if query.date_from is not None and day < query.date_from:
        return False
    return query.date_to is None or day <= query.date_to


def evaluate_audit(items: Iterable[AuditItem], query: AuditQuery) -> AuditPage:
    """The page ``query`` asks for over ``items``: what every store's ``audit()`` returns."""
    chosen = sorted((i for i in items if audit_matches(i, query)), key=lambda i: -i.seq)
    return AuditPage(
        items=tuple(chosen[query.offset : query.offset + query.limit]),
        total=len(chosen),
        offset=query.offset,
        limit=query.limit,
    )
