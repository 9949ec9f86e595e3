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

from enum import StrEnum
from typing import Annotated, Literal, TypeAlias

from pydantic import Field, TypeAdapter

from consent_records.events import ChainEvent, Role, UserName
from consent_records.model import Identifier, PersonName, Sha256Hex


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
