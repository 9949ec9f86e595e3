"""Entry files and index lines: their format, how they are read and checked.

An entry file is a one-document TinyDB database in canonical JSON::

    {"entry":{"1":{"data":<record or event>,"kind":"record","prev_sha256":"…","seq":7,
                   "sha256":"…"}}}                               (on one line)

Because it is canonical (sorted keys, no white space), the bytes that were hashed are the
file's bytes with ``,"sha256":"…"`` and the TinyDB wrapping taken off. :func:`split_entry`
uses that to check a file's hash on its raw bytes, without decoding its JSON first: the
fast path of verify and of the start-up check. A file that is valid JSON but not in this
layout (someone re-formatted it) is decoded and re-encoded instead (:func:`read_entry`), so
it still verifies when its content is unchanged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import queue
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pydantic_core
from pydantic import ValidationError

from consent_records.audit import AuditEvent, AuditKind, parse_audit
from consent_records.chain import EntryKind, canonical_json, entry_hash, is_sha256_hex
from consent_records.events import AnyEvent, UnknownEventVersion, parse_event
from consent_records.events import EventKind as V2Kind
from consent_records.model import (
    ConsentRecord,
    EventKind,
    StoredEntry,
)
from consent_records.store.layout import (
    ENTRY_TABLE,
    MAX_ENTRY_BYTES,
    FileRefused,
    entry_file,
    read_file,
)

JSON_KWARGS: dict[str, Any] = {
    "sort_keys": True,
    "separators": (",", ":"),
    "ensure_ascii": False,
    "allow_nan": False,
}
"""json.dumps arguments of the canonical form: TinyDB's insert through
``AtomicJSONStorage(**JSON_KWARGS)`` writes exactly the bytes the store writes."""

ENTRY_KEYS = frozenset({"seq", "kind", "prev_sha256", "sha256", "data"})
ROW_KEYS = frozenset(
    {"seq", "kind", "id", "record_id", "reference", "at", "event_kind", "sha256", "prev_sha256"}
)
V2_EVENT_ROW_KEYS = ROW_KEYS | {"actor"}
"""A version-2 event's line also names who did it (the audit log's person filter)."""
AUDIT_ROW_KEYS = ROW_KEYS | {"actor", "subject"}
"""An audit entry's line: who did it, and the account it is about (or null)."""
_ID = re.compile(r"^[0-9a-f]{32}$")
_EVENT_KINDS = frozenset(kind.value for kind in EventKind) | frozenset(
    kind.value for kind in V2Kind
)
_AUDIT_KINDS = frozenset(kind.value for kind in AuditKind)
_ACTOR_MAX = 300

# An entry file is {"entry": {"1": <doc>}}: TinyDB's table "entry" holding document 1.
ENTRY_FILE_OPEN = b"{" + canonical_json(ENTRY_TABLE) + b':{"1":'
ENTRY_FILE_CLOSE = b"}}"
_DATA_OPEN = ENTRY_FILE_OPEN + b'{"data":'
_TAIL = re.compile(
    rb',"kind":"(record|event|audit)","prev_sha256":"([0-9a-f]{64})","seq":(0|[1-9][0-9]{0,17})'
    rb',"sha256":"([0-9a-f]{64})"\}\}\}\Z'
)
_TAIL_MAX = 256
_KINDS = ("record", "event", "audit")
_KIND_OF: dict[bytes, EntryKind] = {b"record": "record", b"event": "event", b"audit": "audit"}
_SHA_KEY = b',"sha256":"'


@dataclass(frozen=True, slots=True)
class Row:
    """One index line: where an entry sits in the chain and what finds it (no patient data).

    ``actor`` (version-2 events and audit entries): who did it, as
    :func:`consent_records.events.actor_key` names them; ``subject`` (audit entries): the
    account concerned. ``record_id`` is None for an audit entry about no record.
    """

    seq: int
    kind: EntryKind
    id: str
    record_id: str | None
    reference: str | None
    at: str
    event_kind: str | None
    sha256: str
    prev_sha256: str
    actor: str | None = None
    subject: str | None = None

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "seq": self.seq,
            "kind": self.kind,
            "id": self.id,
            "record_id": self.record_id,
            "reference": self.reference,
            "at": self.at,
            "event_kind": self.event_kind,
            "sha256": self.sha256,
            "prev_sha256": self.prev_sha256,
        }
        if self.actor is not None:
            obj["actor"] = self.actor
        if self.kind == "audit":
            obj["subject"] = self.subject
        return obj

    def line(self) -> bytes:
        return canonical_json(self.to_json()) + b"\n"

    @property
    def timestamp(self) -> float:
        return datetime.fromisoformat(self.at).timestamp()

    @classmethod
    def from_json(cls, obj: Any) -> Row:
        """Validate an index line (raises ValueError saying what is wrong)."""
        if not isinstance(obj, dict) or not isinstance(obj.get("kind"), str):
            raise ValueError("it does not have the index line fields")
        kind = obj["kind"]
        keys = set(obj)
        if kind == "record":
            fits = keys == ROW_KEYS
        elif kind == "event":
            fits = keys in (ROW_KEYS, V2_EVENT_ROW_KEYS)
        elif kind == "audit":
            fits = keys == AUDIT_ROW_KEYS
        else:
            raise ValueError("its kind is not record, event or audit")
        if not fits:
            raise ValueError("it does not have the index line fields")
        seq = obj["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise ValueError("its seq is not a positive integer")
        if not isinstance(obj["id"], str) or not _ID.match(obj["id"]):
            raise ValueError("its id is not a record id")
        record_id = obj["record_id"]
        if not (
            (isinstance(record_id, str) and _ID.match(record_id))
            or (record_id is None and kind == "audit")
        ):
            raise ValueError("its record_id is not a record id")
        for key in ("sha256", "prev_sha256"):
            if not is_sha256_hex(obj[key]):
                raise ValueError(f"its {key} is not a SHA-256")
        if not isinstance(obj["at"], str):
            raise ValueError("its time is not a string")
        try:
            datetime.fromisoformat(obj["at"]).timestamp()
        except ValueError:
            raise ValueError("its time is not an ISO date-time") from None
        actor, subject = obj.get("actor"), obj.get("subject")
        if "actor" in obj and (not isinstance(actor, str) or not 0 < len(actor) <= _ACTOR_MAX):
            raise ValueError("its actor is not a name")
        if subject is not None and (not isinstance(subject, str) or len(subject) > _ACTOR_MAX):
            raise ValueError("its subject is not a name")
        if kind == "record":
            if obj["id"] != record_id or not isinstance(obj["reference"], str):
                raise ValueError("a record line needs its own id and a reference")
            if obj["event_kind"] is not None:
                raise ValueError("a record line has an event kind")
        elif kind == "event":
            if obj["event_kind"] not in _EVENT_KINDS or obj["reference"] is not None:
                raise ValueError("an event line needs a known event kind and no reference")
        elif obj["event_kind"] not in _AUDIT_KINDS or obj["reference"] is not None:
            raise ValueError("an audit line needs a known audit kind and no reference")
        return cls(
            seq=seq,
            kind=kind,
            id=obj["id"],
            record_id=record_id,
            reference=obj["reference"],
            at=obj["at"],
            event_kind=obj["event_kind"],
            sha256=obj["sha256"],
            prev_sha256=obj["prev_sha256"],
            actor=actor,
            subject=subject,
        )

    @classmethod
    def parse(cls, line: bytes) -> Row:
        """An index line's bytes (without the newline) as a Row; ValueError if malformed."""
        try:
            obj = pydantic_core.from_json(line)
        except (ValueError, RecursionError):
            raise ValueError("it is not valid JSON") from None
        return cls.from_json(obj)

    @staticmethod
    def fields_of(
        seq: int, kind: EntryKind, prev: str, sha: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        """The index line's fields an entry's data implies, without validating them
        (KeyError or TypeError when the data lacks one)."""
        if kind == "record":
            obj = {
                "at": data["completed_at"],
                "event_kind": None,
                "id": data["id"],
                "kind": kind,
                "prev_sha256": prev,
                "record_id": data["id"],
                "reference": data["reference"],
                "seq": seq,
                "sha256": sha,
            }
        elif kind == "event":
            obj = {
                "at": data["at"],
                "event_kind": data["kind"],
                "id": data["id"],
                "kind": kind,
                "prev_sha256": prev,
                "record_id": data["record_id"],
                "reference": None,
                "seq": seq,
                "sha256": sha,
            }
            if data.get("schema_version") == 2:
                obj["actor"] = _actor_key(data["actor"])
        else:
            obj = {
                "actor": _actor_key(data["actor"]),
                "at": data["at"],
                "event_kind": data["kind"],
                "id": data["id"],
                "kind": kind,
                "prev_sha256": prev,
                "record_id": data.get("record_id"),
                "reference": None,
                "seq": seq,
                "sha256": sha,
                "subject": data.get("subject"),
            }
        return obj

    @staticmethod
    def line_of(seq: int, kind: EntryKind, prev: str, sha: str, data: dict[str, Any]) -> bytes:
        """The canonical index line (without its newline) an entry's data implies, built
        without validating it (KeyError when a field is missing): verify compares it with
        the stored line byte for byte, and decodes only a line that differs."""
        return canonical_json(Row.fields_of(seq, kind, prev, sha, data))

    @staticmethod
    def of(seq: int, kind: EntryKind, prev: str, sha: str, data: dict[str, Any]) -> Row:
        """The index line of an entry, from its (hash-checked) data; ValueError if the data
        lacks what an index line needs."""
        try:
            obj = Row.fields_of(seq, kind, prev, sha, data)
        except (KeyError, TypeError, AttributeError):
            raise ValueError(f"it is not a valid {kind} (wrong schema)") from None
        try:
            return Row.from_json(obj)
        except ValueError as exc:
            raise ValueError(f"it is not a valid {kind} (wrong schema: {exc})") from None


def _actor_key(actor: Any) -> str:
    """:func:`consent_records.events.actor_key_of` on an actor's JSON (TypeError if it is
    not one)."""
    if not isinstance(actor, dict):
        raise TypeError("not an actor")
    if actor.get("type") == "staff":
        user = actor["user"]
        if not isinstance(user, str):
            raise TypeError("not an actor")
        return user
    kind, name = actor["type"], actor["name"]
    if not isinstance(kind, str) or not isinstance(name, str):
        raise TypeError("not an actor")
    return f"{kind}:{name}"


class EntryProblem(Exception):
    """An entry file that is missing, refused, damaged or not the entry its name says."""

    def __init__(self, path: Path | str, seq: int, what: str) -> None:
        super().__init__(f"{path}: entry {seq} {what}")
        self.path = Path(path)
        self.seq = seq
        self.what = what


@dataclass(frozen=True, slots=True)
class RawEntry:
    """An entry file whose hash was checked, with its data still undecoded or decoded."""

    seq: int
    kind: EntryKind
    prev_sha256: str
    sha256: str
    data_json: bytes | None
    """The data's canonical JSON (the fast path), or None when it was decoded already."""
    decoded: dict[str, Any] | None

    def data(self) -> dict[str, Any]:
        if self.decoded is not None:
            return self.decoded
        assert self.data_json is not None
        value = pydantic_core.from_json(self.data_json)
        if not isinstance(value, dict):
            raise ValueError("its data is not an object")
        return value


@dataclass(frozen=True, slots=True)
class Entry:
    """An entry file, read, checked against its own hash and validated as a model."""

    seq: int
    kind: EntryKind
    prev_sha256: str
    sha256: str
    data: dict[str, Any]
    model: ConsentRecord | AnyEvent | AuditEvent

    def row(self) -> Row:
        return Row.of(self.seq, self.kind, self.prev_sha256, self.sha256, self.data)

    @property
    def stored_entry(self) -> StoredEntry:
        return StoredEntry(seq=self.seq, sha256=self.sha256, prev_sha256=self.prev_sha256)


def entry_file_bytes(doc: bytes) -> bytes:
    """The entry file holding the canonical document ``doc`` (see chain.encode_entry)."""
    return b"".join((ENTRY_FILE_OPEN, doc, ENTRY_FILE_CLOSE))


def read_entry_bytes(path: Path, seq: int) -> bytes:
    """An entry file's bytes; EntryProblem when missing or refused (a link, a special file,
    too large); OSError when it exists but cannot be read (its owner or mode, the disk)."""
    try:
        return read_file(path, MAX_ENTRY_BYTES)
    except FileNotFoundError:
        raise EntryProblem(path, seq, "is missing (removed)") from None
    except FileRefused as exc:
        raise EntryProblem(path, seq, exc.reason) from None


def split_entry(blob: bytes, path: Path | str, seq: int) -> RawEntry:
    """Check an entry file's bytes against its own hash; EntryProblem if it fails.

    In the canonical layout the hash is checked on the raw bytes; otherwise the JSON is
    decoded and re-encoded (slower, same answer for an unchanged entry).
    """
    if blob.startswith(_DATA_OPEN):
        tail = _TAIL.search(blob, max(len(_DATA_OPEN), len(blob) - _TAIL_MAX))
        if tail is not None:
            sha = tail.group(4).decode("ascii")
            body_end = tail.start(4) - len(_SHA_KEY)
            hasher = hashlib.sha256(blob[len(ENTRY_FILE_OPEN) : body_end])
            hasher.update(b"}")
            if hasher.hexdigest() == sha:
                kind: EntryKind = _KIND_OF[tail.group(1)]
                file_seq = int(tail.group(3))
                if file_seq != seq:
                    raise EntryProblem(
                        path,
                        seq,
                        f"holds entry {file_seq} instead (entries were moved or reordered)",
                    )
                return RawEntry(
                    seq=seq,
                    kind=kind,
                    prev_sha256=tail.group(2).decode("ascii"),
                    sha256=sha,
                    data_json=blob[len(_DATA_OPEN) : tail.start()],
                    decoded=None,
                )
    return _split_slowly(blob, path, seq)


def _split_slowly(blob: bytes, path: Path | str, seq: int) -> RawEntry:
    if not blob.strip():
        raise EntryProblem(path, seq, "is empty")
    try:
        tables = json.loads(blob.decode("utf-8"))
    except UnicodeDecodeError:
        raise EntryProblem(path, seq, "is not UTF-8 text (damaged)") from None
    except RecursionError:
        raise EntryProblem(path, seq, "is nested too deeply to be an entry (damaged)") from None
    except ValueError as exc:
        raise EntryProblem(path, seq, f"is not valid JSON (truncated or damaged: {exc})") from None
    if (
        not isinstance(tables, dict)
        or set(tables) != {ENTRY_TABLE}
        or not isinstance(tables[ENTRY_TABLE], dict)
        or set(tables[ENTRY_TABLE]) != {"1"}
        or not isinstance(tables[ENTRY_TABLE]["1"], dict)
    ):
        raise EntryProblem(path, seq, "is not a store entry (wrong schema)")
    doc: dict[str, Any] = tables[ENTRY_TABLE]["1"]
    if set(doc) != ENTRY_KEYS:
        raise EntryProblem(path, seq, "does not have the entry fields (wrong schema)")
    file_seq, kind, prev, sha, data = (
        doc["seq"],
        doc["kind"],
        doc["prev_sha256"],
        doc["sha256"],
        doc["data"],
    )
    if kind not in _KINDS or not is_sha256_hex(prev) or not is_sha256_hex(sha):
        raise EntryProblem(path, seq, "has a malformed kind or hash (wrong schema)")
    if not isinstance(data, dict) or not isinstance(file_seq, int) or isinstance(file_seq, bool):
        raise EntryProblem(path, seq, "has malformed data or seq (wrong schema)")
    try:
        actual = entry_hash(file_seq, kind, prev, data)
    except (ValueError, RecursionError):
        raise EntryProblem(path, seq, "holds data that has no canonical JSON form") from None
    if actual != sha:
        raise EntryProblem(path, seq, "was changed: its content does not match its SHA-256")
    if file_seq != seq:
        raise EntryProblem(
            path, seq, f"holds entry {file_seq} instead (entries were moved or reordered)"
        )
    return RawEntry(seq=seq, kind=kind, prev_sha256=prev, sha256=sha, data_json=None, decoded=data)


def raw_row(raw: RawEntry, path: Path) -> Row:
    """The index line a hash-checked entry implies; EntryProblem if its data cannot say."""
    try:
        return Row.of(raw.seq, raw.kind, raw.prev_sha256, raw.sha256, raw.data())
    except (ValueError, RecursionError) as exc:
        what = str(exc) if isinstance(exc, ValueError) else "it is nested too deeply"
        raise EntryProblem(path, raw.seq, f"holds data that is not usable: {what}") from None


def read_ahead(root: str, last: int, first: int = 1) -> Iterator[tuple[int, bytes | OSError]]:
    """Entries ``first``..``last`` of the store at ``root`` as ``(seq, bytes or the error
    reading them)``, read by a helper thread a batch ahead of the caller, so that waiting
    for the disk overlaps with checking what was read (verify, the start-up check)."""
    batch = 256
    ready: queue.Queue[list[bytes | OSError] | None] = queue.Queue(maxsize=4)
    stop = threading.Event()

    def read() -> None:
        for start in range(first, last + 1, batch):
            if stop.is_set():
                return
            chunk: list[bytes | OSError] = []
            for seq in range(start, min(start + batch, last + 1)):
                try:
                    chunk.append(read_file(entry_file(root, seq), MAX_ENTRY_BYTES))
                except OSError as exc:
                    chunk.append(exc)
            ready.put(chunk)
        ready.put(None)

    reader = threading.Thread(target=read, name="entry-reader", daemon=True)
    reader.start()
    seq = first
    try:
        while (chunk := ready.get()) is not None:
            for item in chunk:
                yield seq, item
                seq += 1
    finally:
        stop.set()
        while reader.is_alive():
            with contextlib.suppress(queue.Empty):
                ready.get(timeout=0.05)


def read_entry(path: Path, seq: int) -> Entry:
    """Read entry ``seq`` from ``path``, check its hash and validate it; raise EntryProblem."""
    raw = split_entry(read_entry_bytes(path, seq), path, seq)
    try:
        data = raw.data()
    except (ValueError, RecursionError):
        raise EntryProblem(path, seq, "holds data that is not valid JSON") from None
    try:
        model: ConsentRecord | AnyEvent | AuditEvent
        if raw.kind == "record":
            model = ConsentRecord.model_validate(data)
        elif raw.kind == "event":
            model = parse_event(data)
        else:
            model = parse_audit(data)
    except UnknownEventVersion:
        raise EntryProblem(
            path, seq, "is an event of a schema version this program does not know"
        ) from None
    except ValidationError as exc:
        raise EntryProblem(
            path, seq, f"is not a valid {raw.kind} (wrong schema: {exc.error_count()} errors)"
        ) from None
    return Entry(
        seq=seq,
        kind=raw.kind,
        prev_sha256=raw.prev_sha256,
        sha256=raw.sha256,
        data=data,
        model=model,
    )
