"""What the staff services raise: each error's ``str()`` is one sentence for staff.

Catch :data:`STAFF_ERRORS` around every service call and show ``str(error)``; nothing else
needs to be caught (anything else is a bug: log it and say so in a sentence).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiosk.auth.permissions import PermissionDenied

if TYPE_CHECKING:
    from consent_records.audit import LogoutReason
    from kiosk.staff.review import RecordView


class StaffError(Exception):
    """Base of the staff services' errors; ``str(error)`` is the sentence to show."""


class LoginRefused(StaffError):
    """The sign-in failed. The sentence never says whether the user name exists."""


class SessionEnded(StaffError):
    """The session is over (signed out, idle too long, the 12-hour limit, account disabled):
    clear every patient detail from the screen and return to sign-in."""

    def __init__(self, sentence: str, reason: LogoutReason | None = None) -> None:
        super().__init__(sentence)
        self.reason = reason


class NotFound(StaffError):
    """No record (or account) by that reference, id or name."""


class ActionRefused(StaffError):
    """The act makes no sense as things stand (a second countersignature, a discussion on a
    record declined at the kiosk, a password the policy refuses, a physiotherapist not in
    the clinic settings). Nothing was written."""


class StaleRecord(StaffError):
    """Another terminal changed the record first; nothing was written.

    ``current`` is the record as it stands now (show it: what arrived first is in its
    timeline, ``newer`` lists those entries' one-line labels). What the person entered is
    still on their screen; they may look again and retry.
    """

    def __init__(self, sentence: str, current: RecordView, newer: tuple[str, ...] = ()) -> None:
        super().__init__(sentence)
        self.current = current
        self.newer = newer


class TryAgain(StaffError):
    """The store cannot be written right now (a full disk, a read-only disk, the lock held
    too long). Nothing was half-written; what the person entered is kept; they may retry."""


class StoreProblem(StaffError):
    """The record store cannot be opened safely (a damaged or tampered file, named in the
    sentence) or used at all; the staff app shows it and exits."""


class ExportProblem(StaffError):
    """A file the person named cannot be written as asked (nothing was written)."""


STAFF_ERRORS: tuple[type[Exception], ...] = (StaffError, PermissionDenied)
"""Everything a staff service raises on purpose."""

__all__ = [
    "STAFF_ERRORS",
    "ActionRefused",
    "ExportProblem",
    "LoginRefused",
    "NotFound",
    "PermissionDenied",
    "SessionEnded",
    "StaffError",
    "StaleRecord",
    "StoreProblem",
    "TryAgain",
]
