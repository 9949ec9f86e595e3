"""The TinyDB-backed consent store: write-once entry files, a rebuildable index, a hash chain.

Layout of a data directory (see docs/storage.md)::

    store.json                      marker: format name and version (checked on open)
    .lock                           the cross-process lock (filelock)
    index.jsonl                     one line per entry; a cache rebuilt from the entries
    entries/000000/000000001.json   entry 1: a one-document TinyDB database, written once
    entries/000001/000001000.json   ... 1,000 entries per directory
    content/<sha256>.json           write-once copies of the content patients were shown

Every entry (a record or an event) is written once, atomically, with the write
:class:`consent_records.storage.AtomicJSONStorage` uses (a TinyDB database in canonical JSON,
its data encoded once for hash and file: :func:`consent_records.chain.encode_entry`), and
never rewritten, so saving costs the same with 50,000 records stored as with none. Its hash
is chained to the previous entry (:func:`consent_records.chain.entry_hash`). The index lets
the store find records without reading every file; it may lag behind the entries after a
crash and is caught up from them.

Every operation takes one cross-process lock and re-reads what other processes appended
before acting, so a kiosk, a staff session and an admin's export can share a directory.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Self

import filelock
from pydantic import ValidationError

from consent_records.base import (
    GENESIS_HASH,
    RecordNotFound,
    StoreCorrupt,
    StoreError,
    StoreUnavailable,
    VerifyReport,
)
from consent_records.chain import (
    EntryKind,
    canonical_json,
    encode_entry,
    entry_hash,
    is_sha256_hex,
    sha256_hex,
)
from consent_records.model import (
    ConsentRecord,
    EventKind,
    RecordEvent,
    RecordSummary,
    StoredEntry,
    StoredEvent,
    StoredRecord,
    normalise_reference,
    status_after,
    summarise,
)
from consent_records.storage import (
    AtomicJSONStorage,
    atomic_write_bytes,
    fsync_dir,
    sweep_temp_files,
    write_all,
)

log = logging.getLogger("consent_records.store")

FORMAT_NAME = "ims-consent-kiosk-store"
FORMAT_VERSION = 1
MARKER_NAME = "store.json"
INDEX_NAME = "index.jsonl"
ENTRIES_DIR = "entries"
CONTENT_DIR = "content"
LOCK_NAME = ".lock"
ENTRY_TABLE = "entry"
BLOCK = 1000
"""Entries per directory under ``entries/``."""

INDEX_FSYNC = False
"""Whether to fsync each index append. Not needed for safety: the entry file (fsynced, with
its directory) is the commit point and the index is a cache that the next start catches up
from the entry files if a power cut loses its last lines. Leaving it out keeps a save
within 3x of one bare atomic file write."""

FILE_MODE = 0o600
DIR_MODE = 0o700

RESTORE_HINT = (
    "Stop the kiosk, keep this directory as it is for investigation, restore the data "
    "directory from the latest backup and run `ims-kiosk verify` (see docs/storage.md)."
)
INDEX_HINT = (
    "The index is only a cache: stop every kiosk and staff session, move index.jsonl aside "
    "and start again to rebuild it from the entry files (see docs/storage.md)."
)

_ENTRY_KEYS = frozenset({"seq", "kind", "prev_sha256", "sha256", "data"})
_ROW_KEYS = frozenset(
    {"seq", "kind", "id", "record_id", "reference", "at", "event_kind", "sha256", "prev_sha256"}
)
_ID = re.compile(r"^[0-9a-f]{32}$")
_EVENT_KINDS = frozenset(kind.value for kind in EventKind)

# json.dumps arguments for entry files: the canonical form, so the file is what was hashed.
_JSON_KWARGS: dict[str, Any] = {
    "sort_keys": True,
    "separators": (",", ":"),
    "ensure_ascii": False,
    "allow_nan": False,
}
# An entry file is {"entry": {"1": <doc>}}: TinyDB's table "entry" holding document 1.
_ENTRY_FILE_OPEN = b"{" + canonical_json(ENTRY_TABLE) + b':{"1":'


def entry_path(root: Path, seq: int) -> Path:
    return root / ENTRIES_DIR / f"{seq // BLOCK:06d}" / f"{seq:09d}.json"


def _entry_file(root: str, seq: int) -> str:
    """:func:`entry_path` as a string, without pathlib (on every save's path)."""
    return f"{root}{os.sep}{ENTRIES_DIR}{os.sep}{seq // BLOCK:06d}{os.sep}{seq:09d}.json"


@dataclass(frozen=True, slots=True)
class _Row:
    """One index line: where an entry sits in the chain and what finds it (no patient data)."""

    seq: int
    kind: EntryKind
    id: str
    record_id: str
    reference: str | None
    at: str
    event_kind: str | None
    sha256: str
    prev_sha256: str

    def to_json(self) -> dict[str, Any]:
        return {
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

    def line(self) -> bytes:
        return canonical_json(self.to_json()) + b"\n"

    @property
    def timestamp(self) -> float:
        return datetime.fromisoformat(self.at).timestamp()

    @classmethod
    def from_json(cls, obj: Any) -> _Row:
        """Validate an index line (raises ValueError saying what is wrong)."""
        if not isinstance(obj, dict) or set(obj) != _ROW_KEYS:
            raise ValueError("it does not have the index line fields")
        seq, kind = obj["seq"], obj["kind"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise ValueError("its seq is not a positive integer")
        if kind not in ("record", "event"):
            raise ValueError("its kind is neither record nor event")
        for key in ("id", "record_id"):
            if not isinstance(obj[key], str) or not _ID.match(obj[key]):
                raise ValueError(f"its {key} is not a record id")
        for key in ("sha256", "prev_sha256"):
            if not is_sha256_hex(obj[key]):
                raise ValueError(f"its {key} is not a SHA-256")
        if not isinstance(obj["at"], str):
            raise ValueError("its time is not a string")
        try:
            datetime.fromisoformat(obj["at"]).timestamp()
        except ValueError:
            raise ValueError("its time is not an ISO date-time") from None
        if kind == "record":
            if obj["id"] != obj["record_id"] or not isinstance(obj["reference"], str):
                raise ValueError("a record line needs its own id and a reference")
            if obj["event_kind"] is not None:
                raise ValueError("a record line has an event kind")
        elif obj["event_kind"] not in _EVENT_KINDS or obj["reference"] is not None:
            raise ValueError("an event line needs a known event kind and no reference")
        return cls(
            seq=seq,
            kind=kind,
            id=obj["id"],
            record_id=obj["record_id"],
            reference=obj["reference"],
            at=obj["at"],
            event_kind=obj["event_kind"],
            sha256=obj["sha256"],
            prev_sha256=obj["prev_sha256"],
        )


@dataclass(frozen=True, slots=True)
class _Entry:
    """An entry file, read and checked against its own hash."""

    seq: int
    kind: EntryKind
    prev_sha256: str
    sha256: str
    data: dict[str, Any]
    model: ConsentRecord | RecordEvent

    def row(self) -> _Row:
        if isinstance(self.model, ConsentRecord):
            return _Row(
                seq=self.seq,
                kind="record",
                id=self.model.id,
                record_id=self.model.id,
                reference=self.model.reference,
                at=self.data["completed_at"],
                event_kind=None,
                sha256=self.sha256,
                prev_sha256=self.prev_sha256,
            )
        return _Row(
            seq=self.seq,
            kind="event",
            id=self.model.id,
            record_id=self.model.record_id,
            reference=None,
            at=self.data["at"],
            event_kind=self.model.kind.value,
            sha256=self.sha256,
            prev_sha256=self.prev_sha256,
        )

    @property
    def stored_entry(self) -> StoredEntry:
        return StoredEntry(seq=self.seq, sha256=self.sha256, prev_sha256=self.prev_sha256)


class _EntryProblem(Exception):
    def __init__(self, path: Path, seq: int, what: str) -> None:
        super().__init__(f"{path}: entry {seq} {what}")
        self.path = path
        self.seq = seq
        self.what = what


def read_entry(path: Path, seq: int) -> _Entry:
    """Read entry ``seq`` from ``path`` through TinyDB and check it; raise _EntryProblem."""
    try:
        storage = AtomicJSONStorage(path, access_mode="r")
        blob = storage.read_bytes()
    except FileNotFoundError:
        raise _EntryProblem(path, seq, "is missing (removed)") from None
    except OSError as exc:
        raise _EntryProblem(path, seq, f"cannot be read ({exc.strerror})") from None
    if blob is None:
        raise _EntryProblem(path, seq, "is missing (removed)")
    if not blob.strip():
        raise _EntryProblem(path, seq, "is empty")
    try:
        tables = json.loads(blob.decode("utf-8"))
    except UnicodeDecodeError:
        raise _EntryProblem(path, seq, "is not UTF-8 text (damaged)") from None
    except ValueError as exc:
        raise _EntryProblem(path, seq, f"is not valid JSON (truncated or damaged: {exc})") from None
    if (
        not isinstance(tables, dict)
        or set(tables) != {ENTRY_TABLE}
        or not isinstance(tables[ENTRY_TABLE], dict)
        or set(tables[ENTRY_TABLE]) != {"1"}
        or not isinstance(tables[ENTRY_TABLE]["1"], dict)
    ):
        raise _EntryProblem(path, seq, "is not a store entry (wrong schema)")
    doc: dict[str, Any] = tables[ENTRY_TABLE]["1"]
    if set(doc) != _ENTRY_KEYS:
        raise _EntryProblem(path, seq, "does not have the entry fields (wrong schema)")
    file_seq, kind, prev, sha, data = (
        doc["seq"],
        doc["kind"],
        doc["prev_sha256"],
        doc["sha256"],
        doc["data"],
    )
    if kind not in ("record", "event") or not is_sha256_hex(prev) or not is_sha256_hex(sha):
        raise _EntryProblem(path, seq, "has a malformed kind or hash (wrong schema)")
    if not isinstance(data, dict) or not isinstance(file_seq, int) or isinstance(file_seq, bool):
        raise _EntryProblem(path, seq, "has malformed data or seq (wrong schema)")
    try:
        actual = entry_hash(file_seq, kind, prev, data)
    except ValueError:
        raise _EntryProblem(path, seq, "holds data that has no canonical JSON form") from None
    if actual != sha:
        raise _EntryProblem(path, seq, "was changed: its content does not match its SHA-256")
    if file_seq != seq:
        raise _EntryProblem(
            path, seq, f"holds entry {file_seq} instead (entries were moved or reordered)"
        )
    try:
        model: ConsentRecord | RecordEvent = (
            ConsentRecord.model_validate(data)
            if kind == "record"
            else RecordEvent.model_validate(data)
        )
    except ValidationError as exc:
        raise _EntryProblem(
            path, seq, f"is not a valid {kind} (wrong schema: {exc.error_count()} errors)"
        ) from None
    return _Entry(seq=seq, kind=kind, prev_sha256=prev, sha256=sha, data=data, model=model)


def _unavailable(root: Path, exc: BaseException, doing: str) -> StoreUnavailable:
    """An admin-facing StoreUnavailable for an OSError (or lock timeout)."""
    if isinstance(exc, filelock.Timeout):
        return StoreUnavailable(
            f"The consent record store at {root} stayed locked by another program while "
            f"{doing}; nothing was stored. Check that no other kiosk, staff session or "
            "backup is stuck, then try again."
        )
    code = exc.errno if isinstance(exc, OSError) else None
    if code in (errno.ENOSPC, errno.EDQUOT):
        what = "the disk holding it is full"
        todo = "Free disk space (records already stored are intact), then try again."
    elif code == errno.EROFS:
        what = "its file system is read-only"
        todo = "Remount the disk read-write or check the disk for errors, then try again."
    elif code in (errno.EACCES, errno.EPERM):
        what = "permission was denied"
        todo = "Check the owner and permissions of the data directory, then try again."
    else:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        what = f"an I/O error occurred ({reason})"
        todo = "Check the disk (records already stored are intact), then try again."
    return StoreUnavailable(
        f"The consent record store at {root} cannot be written: {what} while {doing}; "
        f"nothing was stored. {todo}"
    )


def store_exists(data_dir: Path) -> bool:
    """Whether ``data_dir`` holds a store (commands that only read must not create one)."""
    return (Path(data_dir) / MARKER_NAME).is_file()


def _write_private(path: Path, data: bytes) -> None:
    """Create ``path`` readable by its owner only and write ``data`` to it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _copy_private(source: Path, target: Path) -> None:
    _write_private(target, source.read_bytes())


class TinyDBStore:
    """The :class:`consent_records.base.ConsentStore` on TinyDB files. Use :func:`open_store`."""

    def __init__(self, data_dir: Path, *, lock_timeout: float = 10.0) -> None:
        self._root = Path(data_dir)
        self._lock_timeout = lock_timeout
        self._root_str = os.fspath(self._root)
        self._index_str = os.path.join(self._root_str, INDEX_NAME)
        # One cross-process lock, held across each whole read-modify-write.
        self._lock = filelock.FileLock(
            str(self._root / LOCK_NAME), timeout=lock_timeout, mode=FILE_MODE
        )
        self._rows: list[_Row] = []
        self._by_id: dict[str, int] = {}
        self._by_ref: dict[str, int] = {}
        self._events_of: dict[str, list[int]] = {}
        self._event_ids: set[str] = set()
        self._by_time: list[tuple[float, int]] = []
        self._index_offset = 0
        self._index_inode: tuple[int, int] | None = None
        self._indexed = 0
        self._torn_tail = False
        self._read_only = False
        self._closed = False

    # ----------------------------------------------------------------- opening

    @property
    def data_dir(self) -> Path:
        return self._root

    @property
    def read_only(self) -> bool:
        """True when the data directory could not be locked for writing (e.g. a read-only copy)."""
        return self._read_only

    def _open(self) -> None:
        if self._root.exists() and not self._root.is_dir():
            raise StoreUnavailable(
                f"The consent record data directory {self._root} is a file, not a directory. "
                "Check the data directory setting."
            )
        try:
            self._root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if not self._root.is_dir():
                raise _unavailable(self._root, exc, "creating the data directory") from None
        with self._locked(write=False):
            self._check_marker()
            if not self._read_only:
                self._ensure_dirs()
                for directory in self._sweep_dirs():
                    for path in sweep_temp_files(directory):
                        log.warning(
                            "removed a temporary file left by an interrupted write: %s", path
                        )
            self._refresh()
            if self._rows:
                head = self._rows[-1]
                try:
                    entry = read_entry(entry_path(self._root, head.seq), head.seq)
                except _EntryProblem as problem:
                    raise StoreCorrupt(f"{problem} {RESTORE_HINT}", path=problem.path) from None
                if entry.row() != head:
                    path = entry_path(self._root, head.seq)
                    raise StoreCorrupt(
                        f"{path}: entry {head.seq} does not match the index. {RESTORE_HINT}",
                        path=path,
                    )

    def _ensure_dirs(self) -> None:
        for name in (ENTRIES_DIR, CONTENT_DIR):
            directory = self._root / name
            if not directory.is_dir():
                try:
                    os.mkdir(directory, DIR_MODE)
                    fsync_dir(self._root)
                except FileExistsError:
                    pass
                except OSError as exc:
                    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                        self._read_only = True
                        return
                    raise _unavailable(self._root, exc, "creating a new store") from None

    def _sweep_dirs(self) -> list[Path]:
        dirs = [self._root, self._root / CONTENT_DIR, self._root / ENTRIES_DIR]
        try:
            blocks = sorted(
                d for d in os.listdir(self._root / ENTRIES_DIR) if not d.startswith(".")
            )
        except FileNotFoundError:
            blocks = []
        dirs += [self._root / ENTRIES_DIR / name for name in blocks[-2:]]
        return dirs

    def _check_marker(self) -> None:
        marker = self._root / MARKER_NAME
        try:
            blob = marker.read_bytes()
        except FileNotFoundError:
            blob = None
        except OSError as exc:
            raise _unavailable(self._root, exc, "reading the store marker") from None
        if blob is None:
            index = self._root / INDEX_NAME
            has_entries = any((self._root / ENTRIES_DIR).glob("*/*.json"))
            if has_entries or (index.exists() and index.stat().st_size):
                raise StoreCorrupt(
                    f"{marker}: the store marker is missing although entries exist. {RESTORE_HINT}",
                    path=marker,
                )
            if self._read_only:
                return
            try:
                # The marker first: a crash after it leaves a valid empty store.
                atomic_write_bytes(
                    marker,
                    canonical_json(
                        {"format": FORMAT_NAME, "version": FORMAT_VERSION, "block": BLOCK}
                    )
                    + b"\n",
                    mode=0o644,
                )
            except OSError as exc:
                if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                    self._read_only = True
                    return
                raise _unavailable(self._root, exc, "creating a new store") from None
            log.info("created a new consent record store at %s", self._root)
            return
        what = None
        try:
            meta = json.loads(blob.decode("utf-8")) if blob.strip() else None
        except ValueError:
            what = "is not valid JSON (truncated or damaged)"
            meta = None
        if what is None:
            if meta is None:
                what = "is empty"
            elif not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
                what = "is not a consent store marker (wrong schema)"
            elif meta.get("version") != FORMAT_VERSION or meta.get("block") != BLOCK:
                what = (
                    f"is for store format version {meta.get('version')!r}, this program reads "
                    f"version {FORMAT_VERSION} (wrong schema; use a matching program version)"
                )
        if what is not None:
            raise StoreCorrupt(f"{marker}: the store marker {what}. {RESTORE_HINT}", path=marker)

    # ----------------------------------------------------------------- locking

    @contextlib.contextmanager
    def _locked(self, *, write: bool, doing: str = "reading") -> Iterator[None]:
        if self._closed:
            raise StoreError(f"The consent record store at {self._root} was closed.")
        try:
            self._lock.acquire(poll_interval=0.005)
        except filelock.Timeout as exc:
            raise _unavailable(self._root, exc, doing) from None
        except OSError as exc:
            if write or exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise _unavailable(self._root, exc, doing) from None
            # A read-only copy (a backup on read-only media): nobody can write it, so reading
            # without the lock is safe.
            self._read_only = True
            yield
            return
        try:
            yield
        finally:
            self._lock.release()

    # ----------------------------------------------------------------- index

    def _apply(self, row: _Row, where: Path) -> None:
        """Add a row (from the index, an entry file or a save) to the in-memory index."""
        expected_prev = self._rows[-1].sha256 if self._rows else GENESIS_HASH
        if row.seq != len(self._rows) + 1 or row.prev_sha256 != expected_prev:
            raise StoreCorrupt(
                f"{where}: entry {row.seq} ({row.kind} {row.id}) does not follow entry "
                f"{len(self._rows)} in the chain (removed, changed or reordered). {RESTORE_HINT}",
                path=where,
            )
        if row.kind == "record":
            if row.id in self._by_id or row.id in self._event_ids:
                problem = f"repeats the id {row.id}"
            elif row.reference is None or row.reference in self._by_ref:
                problem = f"repeats the reference {row.reference}"
            else:
                problem = None
        elif row.record_id not in self._by_id:
            problem = f"is an event for record {row.record_id}, which is not stored before it"
        elif row.id in self._event_ids or row.id in self._by_id:
            problem = f"repeats the id {row.id}"
        else:
            problem = None
        if problem:
            raise StoreCorrupt(f"{where}: entry {row.seq} {problem}. {RESTORE_HINT}", path=where)
        self._rows.append(row)
        if row.kind == "record":
            assert row.reference is not None
            self._by_id[row.id] = row.seq
            self._by_ref[row.reference] = row.seq
            self._events_of[row.id] = []
            bisect.insort(self._by_time, (row.timestamp, row.seq))
        else:
            self._events_of[row.record_id].append(row.seq)
            self._event_ids.add(row.id)

    def _refresh(self) -> None:
        """Under the lock: read what other processes appended, then catch up from entries."""
        index = self._root / INDEX_NAME
        try:
            # The common case, nothing appended since last time (same file, same size), costs
            # one stat; anything else is read below.
            known = os.stat(self._index_str)
        except OSError:
            known = None
        if (
            known is not None
            and self._index_inode == (known.st_dev, known.st_ino)
            and known.st_size == self._index_offset
        ):
            tail = b""
        else:
            tail = self._read_index_tail(index)
        self._parse_index_tail(index, tail)

    def _read_index_tail(self, index: Path) -> bytes:
        """The bytes of the index after what was read last time (under the lock)."""
        try:
            with open(index, "rb") as handle:
                stat = os.fstat(handle.fileno())
                inode = (stat.st_dev, stat.st_ino)
                if self._index_inode is not None and inode != self._index_inode:
                    # Replaced (rebuilt) by another process: read it again from the start;
                    # lines for entries we know must agree with them.
                    self._index_offset = 0
                    self._indexed = 0
                if stat.st_size < self._index_offset:
                    raise StoreCorrupt(
                        f"{index}: the index became shorter while in use. {INDEX_HINT}",
                        path=index,
                    )
                handle.seek(self._index_offset)
                tail = handle.read()
            self._index_inode = inode
        except FileNotFoundError:
            if self._index_offset:
                raise StoreCorrupt(
                    f"{index}: the index was removed while in use. {INDEX_HINT}", path=index
                ) from None
            tail = b""
        except OSError as exc:
            raise _unavailable(self._root, exc, "reading the index") from None
        return tail

    def _parse_index_tail(self, index: Path, tail: bytes) -> None:
        """Apply new index lines, then catch up from entry files the index lacks."""
        *lines, torn = tail.split(b"\n")
        for raw in lines:
            seq = self._indexed + 1
            try:
                row = _Row.from_json(json.loads(raw.decode("utf-8")))
                if row.seq != seq:
                    raise ValueError(f"it is for entry {row.seq}")
            except ValueError as exc:
                raise StoreCorrupt(
                    f"{index}: line {seq} of the index (entry {seq}) is not valid ({exc}). "
                    f"{INDEX_HINT}",
                    path=index,
                ) from None
            if seq <= len(self._rows):
                if self._rows[seq - 1] != row:
                    raise StoreCorrupt(
                        f"{index}: line {seq} of the index disagrees with entry {seq}. "
                        f"{INDEX_HINT}",
                        path=index,
                    )
            else:
                self._apply(row, index)
            self._indexed = seq
            self._index_offset += len(raw) + 1
        self._torn_tail = bool(torn)
        # Entries written after the last index line: a save interrupted between writing its
        # entry file (the commit point) and appending its index line, or an index rebuild.
        caught_up = 0
        while True:
            seq = len(self._rows) + 1
            if not os.path.exists(_entry_file(self._root_str, seq)):
                break
            path = entry_path(self._root, seq)
            try:
                entry = read_entry(path, seq)
            except _EntryProblem as problem:
                raise StoreCorrupt(f"{problem} {RESTORE_HINT}", path=path) from None
            self._apply(entry.row(), path)
            caught_up += 1
        if caught_up:
            log.warning(
                "%d entr%s at %s were missing from the index (an interrupted save or a lost "
                "index); taken from the entry files",
                caught_up,
                "y" if caught_up == 1 else "ies",
                self._root,
            )
        if not self._read_only and (self._indexed < len(self._rows) or self._torn_tail):
            try:
                self._sync_index()
            except OSError as exc:
                log.warning("could not bring the index at %s up to date: %s", index, exc)

    def _sync_index(self) -> None:
        """Append index lines for rows the index file lacks (under the lock)."""
        missing = self._rows[self._indexed :]
        blob = b"".join(row.line() for row in missing)
        index = self._index_str
        fd = os.open(index, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, FILE_MODE)
        try:
            stat = os.fstat(fd)
            if stat.st_size != self._index_offset:
                if stat.st_size < self._index_offset:
                    raise OSError(errno.EIO, "the index shrank")
                # An incomplete last line left by an interrupted append.
                log.warning("dropping an incomplete last line of %s", index)
                os.ftruncate(fd, self._index_offset)
            try:
                write_all(fd, blob)
                if INDEX_FSYNC:
                    os.fsync(fd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, self._index_offset)
                raise
        finally:
            os.close(fd)
        self._index_inode = (stat.st_dev, stat.st_ino)
        self._index_offset += len(blob)
        self._indexed = len(self._rows)
        self._torn_tail = False

    # ----------------------------------------------------------------- writing

    def _commit(
        self, kind: EntryKind, data: dict[str, Any], model: ConsentRecord | RecordEvent
    ) -> _Entry:
        """Write the next entry file (the commit point). Under the lock; raises OSError."""
        seq = len(self._rows) + 1
        prev = self._rows[-1].sha256 if self._rows else GENESIS_HASH
        # The data is encoded once: its canonical JSON is both hashed and written, so the
        # file holds exactly the bytes verify() re-hashes. The file is the TinyDB database
        # {"entry": {"1": doc}} in canonical JSON: byte for byte what TinyDB's insert through
        # AtomicJSONStorage(**_JSON_KWARGS) writes (tests/store/test_encode_entry.py).
        sha, doc = encode_entry(seq, kind, prev, data)
        blob = b"".join((_ENTRY_FILE_OPEN, doc, b"}}"))
        path = _entry_file(self._root_str, seq)
        block = os.path.dirname(path)
        if not os.path.exists(block):
            os.mkdir(block, DIR_MODE)
            fsync_dir(os.path.dirname(block))
        if os.path.exists(path):  # refresh() consumed every existing entry: cannot happen
            raise StoreCorrupt(
                f"{path}: entry {seq} exists unexpectedly. {RESTORE_HINT}", Path(path)
            )
        try:
            atomic_write_bytes(path, blob, mode=FILE_MODE)
        except BaseException:
            # Only the final directory fsync can fail after the rename: undo it, since the
            # caller is told that nothing was stored.
            if os.path.exists(path):
                try:
                    os.unlink(path)
                    fsync_dir(block)
                except OSError:
                    log.error("could not undo the unconfirmed entry file %s", path)
            raise
        entry = _Entry(seq=seq, kind=kind, prev_sha256=prev, sha256=sha, data=data, model=model)
        self._apply(entry.row(), Path(path))
        try:
            self._sync_index()
        except OSError as exc:
            # The entry file is durable: the save stands. The index catches up next time.
            log.warning(
                "entry %d (%s %s) is saved but the index at %s could not be updated (%s); "
                "it will be caught up from the entry files",
                seq,
                kind,
                entry.row().id,
                self._root / INDEX_NAME,
                exc,
            )
        return entry

    def _writable_or_raise(self, doing: str) -> None:
        if self._read_only:
            raise _unavailable(self._root, OSError(errno.EROFS, "read-only"), doing)

    def save_record(self, record: ConsentRecord) -> StoredRecord:
        doing = f"saving record {record.id}"
        data = record.model_dump(mode="json")
        try:
            with self._locked(write=True, doing=doing):
                self._writable_or_raise(doing)
                self._refresh()
                if record.id in self._by_id or record.id in self._event_ids:
                    raise ValueError(f"a record with id {record.id} is already stored")
                if record.reference in self._by_ref:
                    raise ValueError(
                        f"a record with reference {record.reference} is already stored"
                    )
                try:
                    entry = self._commit("record", data, record)
                except OSError as exc:
                    raise _unavailable(self._root, exc, doing) from None
                head = self.chain_head_unlocked()
        except StoreError as exc:
            log.error("save of record %s failed: %s", record.id, exc)
            raise
        log.info("saved record %s as entry %d (%s)", record.id, entry.seq, entry.sha256)
        return StoredRecord(record=record, entry=entry.stored_entry, events=[], chain_head=head)

    def append_event(self, event: RecordEvent) -> StoredEvent:
        doing = f"saving event {event.id} of record {event.record_id}"
        data = event.model_dump(mode="json")
        try:
            with self._locked(write=True, doing=doing):
                self._writable_or_raise(doing)
                self._refresh()
                if event.record_id not in self._by_id:
                    raise RecordNotFound(f"No consent record has the id {event.record_id}.")
                if event.id in self._event_ids or event.id in self._by_id:
                    raise ValueError(f"an entry with id {event.id} is already stored")
                try:
                    entry = self._commit("event", data, event)
                except OSError as exc:
                    raise _unavailable(self._root, exc, doing) from None
        except StoreError as exc:
            log.error("save of event %s (record %s) failed: %s", event.id, event.record_id, exc)
            raise
        log.info("saved event %s of record %s as entry %d", event.id, event.record_id, entry.seq)
        return StoredEvent(event=event, entry=entry.stored_entry)

    def archive_content(self, sha256: str, canonical_json: bytes) -> None:
        if sha256_hex(canonical_json) != sha256:
            raise ValueError("the content does not match the SHA-256 it is archived under")
        path = self._root / CONTENT_DIR / f"{sha256}.json"
        doing = f"archiving content {sha256}"
        try:
            with self._locked(write=False, doing=doing):
                try:
                    existing: bytes | None = path.read_bytes()
                except FileNotFoundError:
                    existing = None
                if existing is not None:
                    if existing != canonical_json:
                        raise StoreCorrupt(
                            f"{path}: the archived content does not match its SHA-256 "
                            f"(changed). {RESTORE_HINT}",
                            path=path,
                        )
                    return
                self._writable_or_raise(doing)
                path.parent.mkdir(mode=DIR_MODE, exist_ok=True)
                atomic_write_bytes(path, canonical_json, mode=FILE_MODE)
        except OSError as exc:
            error = _unavailable(self._root, exc, doing)
            log.error("%s", error)
            raise error from None
        except StoreError as exc:
            log.error("archiving content %s failed: %s", sha256, exc)
            raise

    # ----------------------------------------------------------------- reading

    def archived_content(self, sha256: str) -> bytes | None:
        """The archived content with that hash (checked against it), or None if never archived."""
        if self._closed:
            raise StoreError(f"The consent record store at {self._root} was closed.")
        if not is_sha256_hex(sha256):
            return None
        path = self._root / CONTENT_DIR / f"{sha256}.json"
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _unavailable(self._root, exc, f"reading content {sha256}") from None
        if sha256_hex(blob) != sha256:
            raise StoreCorrupt(
                f"{path}: the archived content does not match its SHA-256 (changed). "
                f"{RESTORE_HINT}",
                path=path,
            )
        return blob

    def chain_head_unlocked(self) -> str:
        return self._rows[-1].sha256 if self._rows else GENESIS_HASH

    def _load(self, seq: int) -> _Entry:
        path = entry_path(self._root, seq)
        try:
            entry = read_entry(path, seq)
        except _EntryProblem as problem:
            raise StoreCorrupt(f"{problem} {RESTORE_HINT}", path=path) from None
        if entry.row() != self._rows[seq - 1]:
            raise StoreCorrupt(
                f"{path}: entry {seq} does not match the index (changed). {RESTORE_HINT}",
                path=path,
            )
        return entry

    def _stored_record(self, seq: int, event_seqs: list[int], head: str) -> StoredRecord:
        entry = self._load(seq)
        assert isinstance(entry.model, ConsentRecord)
        events: list[StoredEvent] = []
        for event_seq in event_seqs:
            event_entry = self._load(event_seq)
            assert isinstance(event_entry.model, RecordEvent)
            events.append(StoredEvent(event=event_entry.model, entry=event_entry.stored_entry))
        return StoredRecord(
            record=entry.model, entry=entry.stored_entry, events=events, chain_head=head
        )

    def get(self, record_id: str) -> StoredRecord:
        with self._locked(write=False):
            self._refresh()
            seq = self._by_id.get(record_id)
            if seq is None:
                raise RecordNotFound(f"No consent record has the id {record_id}.")
            event_seqs = list(self._events_of[record_id])
            head = self.chain_head_unlocked()
        # Entry files are written once and never change: read them without the lock.
        return self._stored_record(seq, event_seqs, head)

    def find_reference(self, reference: str) -> StoredRecord:
        wanted = normalise_reference(reference)
        with self._locked(write=False):
            self._refresh()
            seq = self._by_ref.get(wanted)
            if seq is None:
                raise RecordNotFound(f"No consent record has the reference {wanted}.")
            record_id = self._rows[seq - 1].id
            event_seqs = list(self._events_of[record_id])
            head = self.chain_head_unlocked()
        return self._stored_record(seq, event_seqs, head)

    def reference_exists(self, reference: str) -> bool:
        with self._locked(write=False):
            self._refresh()
            return normalise_reference(reference) in self._by_ref

    def recent(self, limit: int = 50) -> list[RecordSummary]:
        if limit <= 0:
            return []
        with self._locked(write=False):
            self._refresh()
            newest = [seq for _, seq in self._by_time[-limit:]][::-1]
            kinds = {
                seq: [self._rows[e - 1].event_kind for e in self._events_of[self._rows[seq - 1].id]]
                for seq in newest
            }
        summaries: list[RecordSummary] = []
        for seq in newest:
            entry = self._load(seq)
            assert isinstance(entry.model, ConsentRecord)
            status = status_after(
                entry.model.status, (EventKind(kind) for kind in kinds[seq] if kind is not None)
            )
            summaries.append(summarise(entry.model).model_copy(update={"status": status}))
        return summaries

    def count(self) -> tuple[int, int]:
        with self._locked(write=False):
            self._refresh()
            return len(self._by_id), len(self._event_ids)

    def chain_head(self) -> str:
        with self._locked(write=False):
            self._refresh()
            return self.chain_head_unlocked()

    # ----------------------------------------------------------------- verify and backup

    def verify(self) -> VerifyReport:
        report, _ = self._verify()
        return report

    def _verify(self) -> tuple[VerifyReport, Path | None]:
        with self._locked(write=False):
            self._refresh()
            rows = list(self._rows)
        records = events = 0
        prev = GENESIS_HASH
        problem: str | None = None
        where: Path | None = None
        content_ok: dict[str, bool] = {}
        for row in rows:
            path = entry_path(self._root, row.seq)
            name = f"entry {row.seq} ({row.kind} {row.id})"
            try:
                entry = read_entry(path, row.seq)
            except _EntryProblem as exc:
                problem, where = f"{name} at {path} {exc.what}", path
                break
            if entry.prev_sha256 != prev:
                problem = (
                    f"{name} at {path} does not follow the entry before it "
                    "(an entry was changed, removed or reordered)"
                )
                where = path
                break
            if entry.row() != row:
                problem = f"{name} at {path} does not match the index (changed or replaced)"
                where = path
                break
            prev = entry.sha256
            if isinstance(entry.model, ConsentRecord):
                records += 1
                content_sha = entry.model.content.sha256
                if content_sha not in content_ok:
                    content_ok[content_sha] = self._content_matches(content_sha)
                if not content_ok[content_sha]:
                    where = self._root / CONTENT_DIR / f"{content_sha}.json"
                    problem = (
                        f"content archive {where} (shown to {name}) does not match its "
                        "SHA-256 (changed)"
                    )
                    break
            else:
                events += 1
        if problem is None:
            problem, where = self._stray_entries(len(rows))
        head = rows[-1].sha256 if rows else GENESIS_HASH
        if problem is not None:
            log.error("verify of %s failed: %s", self._root, problem)
        return VerifyReport(records=records, events=events, chain_head=head, problem=problem), where

    def _content_matches(self, sha: str) -> bool:
        try:
            blob = (self._root / CONTENT_DIR / f"{sha}.json").read_bytes()
        except FileNotFoundError:
            return True  # not archived: not tampering
        return sha256_hex(blob) == sha

    def _stray_entries(self, head: int) -> tuple[str | None, Path | None]:
        """Entry files beyond the chain head (an entry before them was removed)."""
        entries = self._root / ENTRIES_DIR
        try:
            blocks = sorted(os.listdir(entries))
        except FileNotFoundError:
            return None, None
        for block in blocks:
            if not block.isdigit() or int(block) < head // BLOCK:
                continue
            for name in sorted(os.listdir(entries / block)):
                stem = name.removesuffix(".json")
                if stem.isdigit() and int(stem) > head:
                    path = entries / block / name
                    return (
                        f"entry {head + 1} is missing (removed) but {path} exists after it",
                        entry_path(self._root, head + 1),
                    )
        return None, None

    def backup(self, out_dir: Path) -> VerifyReport:
        out = Path(out_dir)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise StoreError(f"The backup directory {out} is not empty; choose a new directory.")
        with self._locked(write=False, doing="taking a backup"):
            self._refresh()
            rows = list(self._rows)
            try:
                contents = sorted(
                    name
                    for name in os.listdir(self._root / CONTENT_DIR)
                    if not name.startswith(".")
                )
            except FileNotFoundError:
                contents = []
        # The snapshot (rows and content names) was taken under the lock. Entry and content
        # files are written once and never change, so they are copied without holding it.
        # A backup holds health records: private like the store (owner only), whatever
        # the umask.
        try:
            out.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            (out / ENTRIES_DIR).mkdir(mode=DIR_MODE, exist_ok=True)
            (out / CONTENT_DIR).mkdir(mode=DIR_MODE, exist_ok=True)
            for row in rows:
                target = entry_path(out, row.seq)
                target.parent.mkdir(mode=DIR_MODE, exist_ok=True)
                _copy_private(entry_path(self._root, row.seq), target)
            for name in contents:
                _copy_private(self._root / CONTENT_DIR / name, out / CONTENT_DIR / name)
            _write_private(out / INDEX_NAME, b"".join(row.line() for row in rows))
            _write_private(
                out / MARKER_NAME,
                canonical_json({"format": FORMAT_NAME, "version": FORMAT_VERSION, "block": BLOCK})
                + b"\n",
            )
            os.sync()
        except OSError as exc:
            raise StoreUnavailable(
                f"The backup to {out} failed ({exc}); the records in {self._root} are "
                "untouched. Check the backup disk and run the backup again into an empty "
                "directory."
            ) from None
        copy = open_store(out, lock_timeout=self._lock_timeout)
        try:
            report = copy.verify()
        finally:
            copy.close()
        log.info("backup of %s to %s: %s", self._root, out, report.summary_line())
        return report

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(
    data_dir: Path, *, lock_timeout: float = 10.0, full_check: bool = False
) -> TinyDBStore:
    """Open (creating if new) the store in ``data_dir``; fail closed on damage.

    Opening checks the marker, the whole index and the newest entry, catches the index up
    with entries an interrupted save left, and sweeps temporary files. With ``full_check``
    it also re-hashes every entry (as ``verify`` does) and raises :class:`StoreCorrupt`
    naming the first bad one.

    Raises:
        StoreCorrupt: a store file is damaged; nothing was changed.
        StoreUnavailable: the directory cannot be created or locked.
    """
    store = TinyDBStore(Path(data_dir), lock_timeout=lock_timeout)
    store._open()
    if full_check:
        report, where = store._verify()
        if report.problem is not None:
            store.close()
            raise StoreCorrupt(f"{report.problem}. {RESTORE_HINT}", path=where)
    return store
