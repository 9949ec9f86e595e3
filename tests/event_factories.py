"""Builders for version-2 events (consent_records.events) on records from tests.factories."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from consent_records.events import (
    Countersigned,
    Declined,
    Discussed,
    DiscussedItem,
    Note,
    NotProceeding,
    PdfExported,
    ReconsentLinked,
    Role,
    StaffActor,
    SystemActor,
    Terminal,
    TerminalKind,
    Withdrawn,
    record_items,
)
from consent_records.model import ConsentRecord

TERMINAL = Terminal(kind=TerminalKind.KIOSK, id="treatment-room-2")
JLEE = StaffActor(user="jlee", display_name="Jordan Lee", role=Role.PHYSIO, terminal=TERMINAL)
AKIM = StaffActor(user="akim", display_name="Alex Kim", role=Role.PHYSIO, terminal=TERMINAL)
ADMIN = StaffActor(user="office", display_name="Sam Ortiz", role=Role.ADMIN, terminal=TERMINAL)
CLI = SystemActor(type="cli", name="pdf", terminal=Terminal(kind=TerminalKind.HOST, id="srv1"))

MEANING = (
    "I discussed IMS with the patient, answered their questions, and they gave me their "
    "informed consent to IMS."
)


def _id(record: ConsentRecord, label: str, n: int) -> str:
    return hashlib.sha256(f"{record.id}:{label}:{n}".encode()).hexdigest()[:32]


def _base(record: ConsentRecord, label: str, n: int, actor: Any) -> dict[str, Any]:
    return {
        "id": _id(record, label, n),
        "record_id": record.id,
        "at": record.completed_at + timedelta(minutes=30 + n),
        "actor": actor,
    }


def discussed(
    record: ConsentRecord, n: int = 0, *, actor: StaffActor = JLEE, address_all: bool = True
) -> Discussed:
    """A discussion listing the record's own items, all ticked (or none, with a note)."""
    items = [
        DiscussedItem(item=item, addressed=address_all, note="Went over it together.")
        for item in record_items(record)
    ]
    return Discussed(**_base(record, "discussed", n, actor), items=items, other="Aftercare.")


def countersigned(record: ConsentRecord, n: int = 1, *, actor: StaffActor = JLEE) -> Countersigned:
    base = _base(record, "countersigned", n, actor)
    return Countersigned(
        **base,
        physiotherapist_id=actor.user,
        signer_name=actor.display_name,
        registration="PT-04417",
        meaning=MEANING,
        password_confirmed_at=base["at"],
    )


def declined(record: ConsentRecord, n: int = 1, *, actor: Any = JLEE) -> Declined:
    return Declined(**_base(record, "declined", n, actor), reason="Prefers exercise first.")


def not_proceeding(record: ConsentRecord, n: int = 1, *, actor: Any = JLEE) -> NotProceeding:
    return NotProceeding(
        **_base(record, "not_proceeding", n, actor), reason="IMS is not suitable now."
    )


def withdrawn(record: ConsentRecord, n: int = 2, *, actor: Any = JLEE) -> Withdrawn:
    return Withdrawn(**_base(record, "withdrawn", n, actor), reason=None)


def note(record: ConsentRecord, n: int = 3, *, actor: Any = JLEE) -> Note:
    return Note(**_base(record, "note", n, actor), text="Called to confirm the appointment.")


def exported(record: ConsentRecord, n: int = 4, *, actor: Any = CLI) -> PdfExported:
    return PdfExported(**_base(record, "exported", n, actor), file_name="summary.pdf", bytes=4821)


def linked(
    record: ConsentRecord, new_record_id: str, n: int = 5, *, actor: Any = JLEE
) -> ReconsentLinked:
    return ReconsentLinked(
        **_base(record, "linked", n, actor),
        new_record_id=new_record_id,
        new_reference="M4QX-7P3K",
    )
