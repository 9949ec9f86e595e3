"""The one store interface every backend implements (TinyDB now, PostgreSQL later).

Screens never see this: they call kiosk services, which call a :class:`ConsentStore`.
Errors raised here carry messages written for a clinic admin (what happened, which file,
what to do); the kiosk shows patients a gentler message and logs this one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

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


Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]

CHECKPOINT_DOMAIN = b"ims-consent-kiosk checkpoint v1\n"
"""Prefix of every signed checkpoint message (no other signature can be mistaken for one)."""


class Anchor(BaseModel):
    """A prefix of the chain known from outside the store: entry ``seq`` had hash ``head``.

    From ``ims-kiosk verify --expect SEQ:HASH``, a printed PDF (its chain head and entry
    number), a checkpoint line written down, or the high-water mark kept outside the data
    directory. Verify proves the store still holds exactly that prefix.
    """

    model_config = ConfigDict(frozen=True)

    seq: Annotated[int, Field(ge=0)]
    head: Sha256
    source: str = "--expect"
    """Where it came from, for messages."""
    key: str | None = None
    """The checkpoint key's fingerprint when the anchor is a signed checkpoint."""


class Checkpoint(BaseModel):
    """A signed statement that the chain had ``seq`` entries ending in ``head`` at ``at``.

    Signed with the clinic's checkpoint key (Ed25519), which the kiosk cannot use: a chain
    rewritten or cut below a checkpoint no longer matches it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: Annotated[int, Field(ge=0)]
    head: Sha256
    at: Annotated[str, StringConstraints(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")]
    """UTC, to the second."""
    key: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{20}$")]
    """Fingerprint of the public key (the first 20 hex digits of its SHA-256)."""
    signature: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{86}$")]
    """Ed25519 signature of :meth:`message`, base64url without padding."""

    def message(self) -> bytes:
        return CHECKPOINT_DOMAIN + (
            f'{{"at":"{self.at}","head":"{self.head}","seq":{self.seq}}}'.encode("ascii")
        )

    def line(self) -> str:
        """One line a clinic can write down, print or e-mail to itself; ``verify --expect``
        takes it back."""
        return f"checkpoint {self.seq}:{self.head} at {self.at} key {self.key} sig {self.signature}"

    def anchor(self, source: str) -> Anchor:
        return Anchor(seq=self.seq, head=self.head, source=source, key=self.key)


class VerifyReport(BaseModel):
    """The outcome of walking the whole chain."""

    model_config = ConfigDict(frozen=True)

    records: int
    events: int
    chain_head: str
    chain_length: int = 0
    """Entries in the chain (the head's sequence number)."""
    problem: str | None = None
    """The first record or event that was changed, removed or reordered, if any."""
    notes: tuple[str, ...] = ()
    """Things worth knowing that are not tampering (an index behind its entries)."""
    checkpoints: int = 0
    """Signed checkpoints stored with the chain, each checked."""
    last_checkpoint: Checkpoint | None = None
    anchors: int = 0
    """Anchors from outside the store (--expect, the high-water mark) that held."""

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def anchor_text(self) -> str:
        """``SEQ:HASH``: what ``ims-kiosk verify --expect`` takes."""
        return f"{self.chain_length}:{self.chain_head}"

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

    def chain_length(self) -> int:
        """The number of entries in the chain (the head's sequence number)."""
        ...

    def verify(
        self,
        *,
        expect: Sequence[Anchor | Checkpoint] = (),
        progress: Callable[[int, int], None] | None = None,
    ) -> VerifyReport:
        """Re-hash every entry of one consistent state (the chain up to a head taken under
        the lock); check the content archive, the stored checkpoints and ``expect``; name the
        first problem. Never writes anything."""
        ...

    def check_integrity(self, progress: Callable[[int, int], None] | None = None) -> None:
        """The quick start-up check (every entry's hash against the index); raises
        StoreCorrupt."""
        ...

    def probe_writable(self) -> None:
        """Raise StoreUnavailable unless a save could be written now."""
        ...

    def checkpoints(self) -> list[Checkpoint]:
        """The signed checkpoints stored with the chain, oldest first."""
        ...

    def last_checkpoint(self) -> Checkpoint | None: ...

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Store a signed checkpoint of this chain (ValueError if it does not match)."""
        ...

    def backup(
        self, out_dir: Path, *, progress: Callable[[int, int], None] | None = None
    ) -> VerifyReport:
        """Write a consistent copy (taken under the lock) to ``out_dir``; verify it."""
        ...

    def close(self) -> None: ...
