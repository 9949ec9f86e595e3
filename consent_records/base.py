"""The one store interface every backend implements (TinyDB now, PostgreSQL later).

Screens never see this: they call kiosk services, which call a :class:`ConsentStore`.
Errors raised here carry messages written for a clinic admin (what happened, which file,
what to do); the kiosk shows patients a gentler message and logs this one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from consent_records.model import (
    ConsentRecord,
    RecordEvent,
    RecordSummary,
    StoredEvent,
    StoredRecord,
)

GENESIS_HASH = "0" * 64
"""The ``prev_sha256`` of the first entry in a chain."""


class StoreError(Exception):
    """Base of every store failure. ``str(error)`` is a complete message for an admin."""


class StoreUnavailable(StoreError):
    """The store cannot be written right now (disk full, read-only, locked too long).

    Nothing partial was left behind and everything stored before is intact.
    """


class StoreCorrupt(StoreError):
    """A store file is damaged, of the wrong schema or fails its hash: fail closed.

    Attributes:
        path: the file at fault, never modified by the store.
    """

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


class RecordNotFound(StoreError):
    """No record has that id or reference."""


class VerifyReport(BaseModel):
    """The outcome of walking the whole chain."""

    model_config = ConfigDict(frozen=True)

    records: int
    events: int
    chain_head: str
    problem: str | None = None
    """The first record or event that was changed, removed or reordered, if any."""

    @property
    def ok(self) -> bool:
        return self.problem is None

    def summary_line(self) -> str:
        return f"{self.records} records, {self.events} events, chain head {self.chain_head}"


@runtime_checkable
class ConsentStore(Protocol):
    """Append-only storage of consent records and their events, hash-chained."""

    def save_record(self, record: ConsentRecord) -> StoredRecord:
        """Store a new record durably; return it with its chain entry.

        Raises:
            StoreUnavailable: nothing was stored (disk full, read-only, lock timeout).
            ValueError: a record with that id or reference already exists.
        """
        ...

    def append_event(self, event: RecordEvent) -> StoredEvent:
        """Append a later fact about an existing record.

        Raises:
            RecordNotFound: ``event.record_id`` is not stored.
            StoreUnavailable: nothing was stored.
        """
        ...

    def get(self, record_id: str) -> StoredRecord:
        """A record with its events and the current chain head. Raises RecordNotFound."""
        ...

    def find_reference(self, reference: str) -> StoredRecord:
        """Look a record up by its short reference code. Raises RecordNotFound."""
        ...

    def reference_exists(self, reference: str) -> bool: ...

    def recent(self, limit: int = 50) -> list[RecordSummary]:
        """The newest records first (by completion time)."""
        ...

    def count(self) -> tuple[int, int]:
        """(records, events) stored."""
        ...

    def chain_head(self) -> str:
        """The hash of the newest entry (``GENESIS_HASH`` when empty)."""
        ...

    def archive_content(self, sha256: str, canonical_json: bytes) -> None:
        """Keep a copy of the exact content a record's hash refers to (idempotent)."""
        ...

    def archived_content(self, sha256: str) -> bytes | None:
        """The archived content with that hash, or None when it was never archived."""
        ...

    def verify(self) -> VerifyReport:
        """Re-hash every entry in order; name the first one that is wrong."""
        ...

    def backup(self, out_dir: Path) -> VerifyReport:
        """Write a consistent copy (taken under the lock) to ``out_dir``; verify it."""
        ...

    def close(self) -> None: ...
