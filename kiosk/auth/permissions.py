"""Who may do what in the staff app: one deny-by-default table, enforced by the services.

Screens hide what a role cannot do, but the services call :func:`require` before every
staff operation, so a hidden button is never the only guard. An operation missing from a
role's row is refused; no session (``None``) may do nothing at all. Whether an operation
makes sense for a given record (countersigning a withdrawn record, ...) is the lifecycle's
question (:mod:`consent_records.lifecycle`), asked after this one.

``ims-kiosk verify`` and ``backup`` may also run without a staff session: they are then
authorised by the operating system (who can read the data directory) and audited as that
operating-system user, outside this table.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from consent_records.events import Role


class StaffOperation(StrEnum):
    # Records
    BROWSE_RECORDS = "browse_records"
    SEARCH_RECORDS = "search_records"
    VIEW_RECORD = "view_record"
    RECORD_DISCUSSION = "record_discussion"
    COUNTERSIGN = "countersign"
    RECORD_DECLINE = "record_decline"
    RECORD_NOT_PROCEEDING = "record_not_proceeding"
    RECORD_WITHDRAWAL = "record_withdrawal"
    ADD_NOTE = "add_note"
    LINK_RECONSENT = "link_reconsent"
    EXPORT_PDF = "export_pdf"
    """One record's PDF."""
    EXPORT_PDFS = "export_pdfs"
    """Many records' PDFs at once (an audit, a move to other software)."""
    # Staff accounts
    LIST_ACCOUNTS = "list_accounts"
    CREATE_ACCOUNT = "create_account"
    DISABLE_ACCOUNT = "disable_account"
    ENABLE_ACCOUNT = "enable_account"
    RESET_PASSWORD = "reset_password"
    SET_ROLE = "set_role"
    UNLOCK_ACCOUNT = "unlock_account"
    CHANGE_OWN_PASSWORD = "change_own_password"
    # Audit and the store
    VIEW_AUDIT_LOG = "view_audit_log"
    EXPORT_AUDIT_LOG = "export_audit_log"
    VERIFY_STORE = "verify_store"
    BACKUP_STORE = "backup_store"


_O = StaffOperation

PERMISSIONS: Mapping[Role, frozenset[StaffOperation]] = MappingProxyType(
    {
        Role.PHYSIO: frozenset(
            {
                _O.BROWSE_RECORDS,
                _O.SEARCH_RECORDS,
                _O.VIEW_RECORD,
                _O.RECORD_DISCUSSION,
                _O.COUNTERSIGN,
                _O.RECORD_DECLINE,
                _O.RECORD_NOT_PROCEEDING,
                _O.RECORD_WITHDRAWAL,
                _O.ADD_NOTE,
                _O.LINK_RECONSENT,
                _O.EXPORT_PDF,
                _O.CHANGE_OWN_PASSWORD,
            }
        ),
        # Not a clinician: never discusses, countersigns or records an outcome, and does not
        # open a record's detail (issue 9 lists browse, search and PDF export for admins).
        Role.ADMIN: frozenset(
            {
                _O.BROWSE_RECORDS,
                _O.SEARCH_RECORDS,
                _O.EXPORT_PDF,
                _O.EXPORT_PDFS,
                _O.LIST_ACCOUNTS,
                _O.CREATE_ACCOUNT,
                _O.DISABLE_ACCOUNT,
                _O.ENABLE_ACCOUNT,
                _O.RESET_PASSWORD,
                _O.SET_ROLE,
                _O.UNLOCK_ACCOUNT,
                _O.CHANGE_OWN_PASSWORD,
                _O.VIEW_AUDIT_LOG,
                _O.EXPORT_AUDIT_LOG,
                _O.VERIFY_STORE,
                _O.BACKUP_STORE,
            }
        ),
    }
)

_WORDS: Mapping[StaffOperation, str] = MappingProxyType(
    {
        _O.BROWSE_RECORDS: "browse records",
        _O.SEARCH_RECORDS: "search records",
        _O.VIEW_RECORD: "open a record",
        _O.RECORD_DISCUSSION: "record a discussion",
        _O.COUNTERSIGN: "countersign consent",
        _O.RECORD_DECLINE: "record a decline",
        _O.RECORD_NOT_PROCEEDING: "record 'not proceeding'",
        _O.RECORD_WITHDRAWAL: "record a withdrawal",
        _O.ADD_NOTE: "add notes",
        _O.LINK_RECONSENT: "link a re-consent record",
        _O.EXPORT_PDF: "export a PDF",
        _O.EXPORT_PDFS: "export many PDFs at once",
        _O.LIST_ACCOUNTS: "see the staff accounts",
        _O.CREATE_ACCOUNT: "create staff accounts",
        _O.DISABLE_ACCOUNT: "disable staff accounts",
        _O.ENABLE_ACCOUNT: "enable staff accounts",
        _O.RESET_PASSWORD: "reset passwords",
        _O.SET_ROLE: "change roles",
        _O.UNLOCK_ACCOUNT: "unlock accounts",
        _O.CHANGE_OWN_PASSWORD: "change your password",
        _O.VIEW_AUDIT_LOG: "read the audit log",
        _O.EXPORT_AUDIT_LOG: "export the audit log",
        _O.VERIFY_STORE: "verify the store",
        _O.BACKUP_STORE: "back up the store",
    }
)


class PermissionDenied(Exception):
    """``str(error)`` is the sentence to show; the services audit nothing else for it."""

    def __init__(self, sentence: str, role: Role | None, operation: StaffOperation) -> None:
        super().__init__(sentence)
        self.role = role
        self.operation = operation


def can(role: Role | None, operation: StaffOperation) -> bool:
    """Whether a session with ``role`` (None: nobody signed in) may do ``operation``."""
    return role is not None and operation in PERMISSIONS.get(role, frozenset())


def require(role: Role | None, operation: StaffOperation) -> None:
    """Raise :class:`PermissionDenied` unless :func:`can`."""
    if can(role, operation):
        return
    what = _WORDS[operation]
    if role is None:
        sentence = f"Sign in to {what}."
    elif operation is _O.COUNTERSIGN:
        sentence = "Only a physiotherapist can countersign consent; admins cannot."
    elif role is Role.ADMIN:  # "ask a clinic admin" would send an admin to themselves
        sentence = f"Your role (admin) cannot {what}: that is a physiotherapist's work."
    else:
        sentence = f"Your role ({role.value}) cannot {what}. Ask a clinic admin if you need to."
    raise PermissionDenied(sentence, role, operation)
