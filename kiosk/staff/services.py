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

from kiosk.staff.admin import AccountLine, AdminServices, ClinicCheck, StoreStatus
from kiosk.staff.core import (
    ENV_ARGON2_PROFILE,
    TEST_PROFILE,
    configured_passwords,
    host_terminal,
    os_user_name,
)
from kiosk.staff.records import CountersignStatement, RecordServices


class StaffServices(RecordServices, AdminServices):
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


__all__ = [
    "ENV_ARGON2_PROFILE",
    "TEST_PROFILE",
    "AccountLine",
    "ClinicCheck",
    "CountersignStatement",
    "StaffServices",
    "StoreStatus",
    "configured_passwords",
    "host_terminal",
    "os_user_name",
]
