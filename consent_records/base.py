"""The one store interface every backend implements (TinyDB now, PostgreSQL later).

Screens never see this: they call kiosk services, which call a :class:`ConsentStore`.
Errors raised here carry messages written for a clinic admin (what happened, which file,
what to do); the kiosk shows patients a gentler message and logs this one.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from consent_records.audit import AccountEvent, AuditEvent, AuditPage, AuditQuery
from consent_records.events import AnyEvent, actor_label
from consent_records.lifecycle import STATUS_LABEL, ConsentRules, ConsentStatus
from consent_records.model import (
    ConsentRecord,
    RecordSummary,
    StoredEntry,
    StoredEvent,
    StoredRecord,
)
from consent_records.query import Page, RecordQuery

Progress = Callable[[int, int], None]
"""``progress(done, total)``: called by anything slow (verify, backup, building an index)."""

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


class ConflictingEvent(StoreError):
    """Nothing was appended: the record (or account) is no longer as the caller saw it.

    Another terminal appended an event first (two physiotherapists countersigning at once,
    an admin disabling an account being changed elsewhere), or the record's status is not
    one the caller allowed. ``str(error)`` is a sentence for the person at the screen
    ("This record changed on another terminal: a countersignature by ... at ...; it is shown
    now and nothing you entered was saved."). Show ``newer``, refresh, let them retry.

    Attributes:
        record_id: the record concerned (None for an account).
        subject: the account concerned (None for a record).
        newer: the events appended since the caller's view (chain order), if any.
    """

    def __init__(
        self,
        message: str,
        *,
        record_id: str | None = None,
        subject: str | None = None,
        newer: Sequence[StoredEvent | StoredAudit] = (),
        status: ConsentStatus | None = None,
    ) -> None:
        super().__init__(message)
        self.record_id = record_id
        self.subject = subject
        self.newer = tuple(newer)
        self.status = status
        """The record's base status now (records only)."""


@dataclass(frozen=True, slots=True)
class Expect:
    """The condition of a conditional append ("append only if ..."), checked under the
    store's lock (or in the database transaction) against what is stored now.

    ``last_event_id``: the newest event of the record (or account) must still be this one:
    use :meth:`unchanged` with the :class:`StoredRecord` on screen (the record's own id
    stands for "no events yet"), or the id of the newest account event shown. ``statuses``:
    the record's base status (:func:`consent_records.lifecycle.fold`) must be one of these.
    Either left ``None`` is not checked. A failed condition raises :class:`ConflictingEvent`.
    """

    last_event_id: str | None = None
    statuses: frozenset[ConsentStatus] | None = None

    @classmethod
    def unchanged(cls, stored: StoredRecord) -> Expect:
        """Append only if no event was added to the record since ``stored`` was read."""
        return cls(last_event_id=stored.last_event_id)

    @classmethod
    def status_in(cls, statuses: Collection[ConsentStatus]) -> Expect:
        return cls(statuses=frozenset(statuses))


class StoredAudit(BaseModel):
    """An audit entry (account, sign-in, view, search, export, verify, backup) as stored."""

    model_config = ConfigDict(frozen=True)

    event: AuditEvent
    entry: StoredEntry


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
    """Record events (of both versions), not counting audit entries."""
    audit: int = 0
    """Audit entries (accounts, sign-ins, views, searches, exports, verify, backup)."""
    accounts: int = 0
    """Staff accounts whose stored password hash was checked against its audited
    commitment."""
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
        audit = f", {self.audit} audit entries" if self.audit else ""
        return f"{self.records} records, {self.events} events{audit}, chain head {self.chain_head}"


def check_expect(current: StoredRecord, expect: Expect) -> None:
    """Raise :class:`ConflictingEvent` unless ``current`` (the record as stored now, read
    under the lock or in the transaction) meets ``expect``: one wording for every backend."""
    state = current.lifecycle
    newer: list[StoredEvent] = []
    if expect.last_event_id is not None and current.last_event_id != expect.last_event_id:
        ids = [current.record.id, *(e.event.id for e in current.events)]
        seen = ids.index(expect.last_event_id) if expect.last_event_id in ids else None
        newer = current.events[seen:] if seen is not None else current.events[-1:]
    elif expect.statuses is None or state.status in expect.statuses:
        return
    label = STATUS_LABEL[state.status]
    if newer:
        what = "; ".join(
            f"{e.event.kind.value.replace('_', ' ')} by {actor_label(e.event)} at "
            f"{e.event.at:%Y-%m-%d %H:%M}"
            for e in newer[-3:]
        )
        sentence = (
            f"This record was changed on another terminal while it was open ({what}); it is "
            f"now {label}. Nothing you entered was saved: look at the record again, then retry."
        )
    else:
        sentence = (
            f"This record is now {label}, so this can no longer be recorded on it. Nothing was "
            "saved: look at the record again."
        )
    raise ConflictingEvent(sentence, record_id=current.record.id, newer=newer, status=state.status)


def account_conflict(subject: str, newer: Sequence[StoredAudit]) -> ConflictingEvent:
    """The refusal of a stale account change (``newer``: the account events appended since
    the caller's view): one wording for every backend."""
    what = "; ".join(
        f"{s.event.kind.value.replace('_', ' ')} by {s.event.actor.label} at {s.event.at:%H:%M}"
        for s in newer[-3:]
    )
    return ConflictingEvent(
        f"The account {subject} was changed on another terminal meanwhile ({what}). Nothing "
        "was saved: look at it again, then retry.",
        subject=subject,
        newer=newer,
    )


@runtime_checkable
class ConsentStore(Protocol):
    """Append-only storage of consent records, their events and the audit log, hash-chained.

    One chain holds three kinds of entry: **records** (what the kiosk signed), **record
    events** (version 1 :class:`consent_records.model.RecordEvent` or version 2
    :data:`consent_records.events.LifecycleEvent`: exports, discussions, countersignatures,
    declines, withdrawals, notes, re-consent links) and **audit entries**
    (:data:`consent_records.audit.AuditEvent`: staff accounts, sign-ins, record views,
    searches, audit exports, verify, backup). Every method sees what other processes
    appended before it was called (a kiosk and a staff app share one store); nothing is
    cached across calls that another process could have changed.

    Contract tests: ``tests/store/test_contract.py`` runs against every backend.
    """

    # ------------------------------------------------------------------ writing

    def save_record(self, record: ConsentRecord) -> StoredRecord:
        """Store a new record durably; return it with its chain entry.

        Raises:
            StoreUnavailable: nothing was stored (disk full, read-only, lock timeout).
            ValueError: a record with that id or reference already exists.
        """
        ...

    def append_event(self, event: AnyEvent, *, expect: Expect | None = None) -> StoredEvent:
        """Append a later fact about an existing record, atomically with its checks.

        Under the lock (or in one transaction): the record's events are read, ``expect`` is
        checked, and a version-2 event is checked against the consent lifecycle
        (:func:`consent_records.lifecycle.check` on the record folded through its events),
        so two terminals can never both countersign. Version-1 events are appended as they
        are (the kiosk and older commands write them).

        Raises:
            RecordNotFound: ``event.record_id`` is not stored.
            ConflictingEvent: ``expect`` does not hold; nothing was appended.
            consent_records.lifecycle.TransitionRefused: the event makes no sense for the
                record as it stands (a second countersignature); nothing was appended.
            StoreUnavailable: nothing was stored.
            ValueError: an entry with the event's id exists.
        """
        ...

    def append_audit(
        self,
        *events: AuditEvent,
        expect: Expect | None = None,
        credential: str | None = None,
    ) -> list[StoredAudit]:
        """Append audit entries, in order, each checked before any is written.

        Every check (ids, accounts, records, ``expect``) passes for all of them before the
        first is written; if a write then fails (a full disk), the entries written before it
        stand, the error says so, and a credential is put back only when none was written.

        Account events must name an account that exists (``AccountCreated`` one that does
        not), else :class:`ConflictingEvent`. ``expect.last_event_id`` is compared with the
        newest account event of the (single) account the events are about.

        ``credential``: the argon2id PHC string a ``PasswordSet`` among ``events`` commits
        to (its ``credential_sha256`` must be its SHA-256, else ValueError). The store keeps
        it outside the chain (never in an entry), written before the events and put back as
        it was if they cannot be appended, so the credential and the chain always agree.

        Raises:
            ConflictingEvent, StoreUnavailable, ValueError (as :meth:`append_event`).
        """
        ...

    def credential(self, user_name: str) -> str | None:
        """The stored PHC string of an account's password, or None."""
        ...

    # ------------------------------------------------------------------ reading

    def get(self, record_id: str) -> StoredRecord:
        """A record with its events (chain order) and the current chain head; its
        ``lifecycle`` and ``standing(now, rules)`` give the derived status. Raises
        RecordNotFound."""
        ...

    def find_reference(self, reference: str) -> StoredRecord:
        """Look a record up by its short reference code. Raises RecordNotFound."""
        ...

    def reference_exists(self, reference: str) -> bool: ...

    def recent(self, limit: int = 50) -> list[RecordSummary]:
        """The newest records first (by completion time)."""
        ...

    def search(
        self,
        query: RecordQuery,
        rules: ConsentRules | None = None,
        *,
        progress: Progress | None = None,
    ) -> Page:
        """One page of records: exactly :func:`consent_records.query.evaluate` over every
        record's :class:`~consent_records.query.SearchRow`, with statuses judged with
        ``rules`` (defaults: 365 days, no content history). ``progress`` is called while an
        index is built or caught up (the first search of a process may build one)."""
        ...

    def account_events(self, user_name: str | None = None) -> list[AccountEvent]:
        """Staff account and sign-in events in chain order (one account's, or every
        account's): what ``kiosk.auth.accounts.fold_accounts`` and the throttle fold."""
        ...

    def audit(self, query: AuditQuery) -> AuditPage:
        """One page of the audit log: exactly :func:`consent_records.audit.evaluate_audit`
        over every record event and audit entry."""
        ...

    def count(self) -> tuple[int, int]:
        """(records, record events) stored; audit entries are not counted here."""
        ...

    def audit_count(self) -> int:
        """Audit entries stored."""
        ...

    def chain_head(self) -> str:
        """The hash of the newest entry (``GENESIS_HASH`` when empty)."""
        ...

    def chain_length(self) -> int:
        """The number of entries in the chain (the head's sequence number). Cheap: a staff
        app may poll it to notice another terminal's entries."""
        ...

    def archive_content(self, sha256: str, canonical_json: bytes) -> None:
        """Keep a copy of the exact content a record's hash refers to (idempotent)."""
        ...

    def archived_content(self, sha256: str) -> bytes | None:
        """The archived content with that hash, or None when it was never archived."""
        ...

    # ------------------------------------------------------------------ integrity

    def verify(
        self,
        *,
        expect: Sequence[Anchor | Checkpoint] = (),
        progress: Callable[[int, int], None] | None = None,
    ) -> VerifyReport:
        """Re-hash every entry of one consistent state (the chain up to a head taken under
        the lock): records, record events and audit entries; check the content archive,
        the stored credentials against their audited commitments, the stored checkpoints
        and ``expect``; name the first problem. Never writes anything."""
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
        """Write a consistent copy (taken under the lock) to ``out_dir``: everything a
        restore needs (entries, content, credentials, checkpoints, keys); verify it."""
        ...

    def close(self) -> None: ...
