"""The audit log in words and as CSV.

:func:`audit_summary` says in one line what an entry records (never a password, a password
hash or its commitment; a record is named by its id, never by the patient's name).
:func:`audit_csv` writes entries as CSV that is safe to open in a spreadsheet: a cell that
starts like a formula (``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is prefixed
with an apostrophe, so a name typed as ``=HYPERLINK(...)`` stays text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import tzinfo

from consent_records.audit import (
    AccountChanged,
    AccountCreated,
    AuditExported,
    AuditItem,
    BackupWritten,
    LoggedOut,
    LoginFailed,
    LoginSucceeded,
    PasswordSet,
    RecordsSearched,
    StoreVerified,
    UnknownUserLogin,
)
from consent_records.events import (
    Countersigned,
    Declined,
    Discussed,
    NotProceeding,
    PdfExported,
    ReconsentLinked,
    StaffActor,
    Withdrawn,
)
from consent_records.model import RecordEvent

COLUMNS = (
    "entry",
    "time",
    "kind",
    "who",
    "role",
    "terminal",
    "account",
    "record_id",
    "what",
)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def audit_summary(item: AuditItem) -> str:
    """One line saying what the entry records."""
    event = item.event
    match event:
        case LoginSucceeded():
            return f"signed in ({event.purpose})"
        case LoginFailed():
            return f"sign-in refused: {event.reason.value.replace('_', ' ')} ({event.purpose})"
        case UnknownUserLogin():
            return f"sign-in with a user name that names no account ({event.purpose})"
        case LoggedOut():
            return f"signed out ({event.reason.value.replace('_', ' ')})"
        case AccountCreated():
            link = (
                f", physiotherapist {event.physiotherapist_id}" if event.physiotherapist_id else ""
            )
            return f"account created: {event.display_name}, {event.role.value}{link}"
        case AccountChanged():
            parts = []
            if event.display_name:
                parts.append(f"name {event.display_name}")
            if event.role:
                parts.append(f"role {event.role.value}")
            if event.physiotherapist_id:
                parts.append(f"physiotherapist {event.physiotherapist_id}")
            if event.clear_physiotherapist:
                parts.append("physiotherapist link removed")
            return "account changed: " + ", ".join(parts)
        case PasswordSet():
            return f"password set ({event.reason.value})"
        case RecordsSearched():
            bits = []
            if event.text:
                bits.append(f"text {event.text!r}")
            if event.filters:
                bits.append(event.filters)
            return f"searched ({'; '.join(bits) or 'no filter'}): {event.results} found"
        case AuditExported():
            return f"audit log exported: {event.entries} entries"
        case StoreVerified():
            outcome = "passed" if event.ok else f"FAILED: {event.problem}"
            return f"verify {outcome} (entry {event.chain_length})"
        case BackupWritten():
            return f"backup {'verified' if event.ok else 'FAILED'} (entry {event.chain_length})"
        case Discussed():
            ticked = sum(1 for e in event.items if e.addressed)
            return (
                f"discussion: {ticked} of {len(event.items)} items addressed, "
                f"{len(event.questions)} questions answered"
            )
        case Countersigned():
            return (
                f"countersigned by {event.signer_name}, registration "
                f"{event.registration or 'not recorded'}"
            )
        case Declined() | Withdrawn():
            return f"{event.kind.value.replace('_', ' ')}" + (
                f": {event.reason}" if event.reason else ""
            )
        case NotProceeding():
            return f"not proceeding: {event.reason}"
        case ReconsentLinked():
            return f"re-consent record linked: {event.new_reference}"
        case PdfExported():
            return f"PDF exported: {event.file_name}"
        case RecordEvent():
            return event.kind.value.replace("_", " ")
    return item.kind.replace("_", " ")


def _role_terminal(item: AuditItem) -> tuple[str, str]:
    event = item.event
    if isinstance(event, RecordEvent):
        return "", ""
    actor = event.actor
    role = actor.role.value if isinstance(actor, StaffActor) else actor.type
    return role, str(actor.terminal)


def audit_csv(items: Iterable[AuditItem], zone: tzinfo) -> str:
    """The entries as CSV (a header row, then one row per entry, in the order given)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for item in items:
        role, terminal = _role_terminal(item)
        writer.writerow(
            [
                safe_cell(value)
                for value in (
                    item.seq,
                    item.at.astimezone(zone).isoformat(timespec="seconds"),
                    item.kind,
                    item.actor,
                    role,
                    terminal,
                    item.subject or "",
                    item.record_id or "",
                    audit_summary(item),
                )
            ]
        )
    return buffer.getvalue()
