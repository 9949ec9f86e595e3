"""The TinyDB-format consent store: write-once entry files, a rebuildable index, a hash chain.

Every entry (a record or an event) is written once, atomically, in TinyDB's file format
(a one-document database in canonical JSON, its data encoded once for hash and file:
:func:`consent_records.chain.encode_entry`), and never rewritten, so saving costs the same
with 50,000 records stored as with none. Its hash is chained to the previous entry. The
index lets the store find records without reading every file; it may lag behind the
entries after a crash and is caught up from them.

Every operation takes one cross-process lock and re-reads what other processes appended
before acting, so a kiosk, a staff session and an admin's export can share a directory.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Self

from consent_records.audit import (
    ACCOUNT_KINDS,
    AccountEvent,
    AuditEvent,
    AuditItem,
    AuditKind,
    AuditPage,
    AuditQuery,
    PasswordSet,
    audit_item,
    audit_matches,
    audit_record_id,
    audit_subject,
)
from consent_records.base import (
    GENESIS_HASH,
    Anchor,
    Checkpoint,
    ConflictingEvent,
    Expect,
    RecordNotFound,
    StoreCorrupt,
    StoredAudit,
    StoreError,
    StoreUnavailable,
    VerifyReport,
    account_conflict,
    check_expect,
)
from consent_records.chain import EntryKind, encode_entry, is_sha256_hex, sha256_hex
from consent_records.events import AnyEvent
from consent_records.lifecycle import ConsentRules, check
from consent_records.model import (
    ConsentRecord,
    RecordEvent,
    RecordSummary,
    StoredEntry,
    StoredEvent,
    StoredRecord,
    normalise_reference,
    status_after,
    summarise,
)
from consent_records.query import Page, RecordQuery
from consent_records.storage import atomic_write_bytes, fsync_dir, sweep_temp_files, write_all
from consent_records.store import checkpoints as checkpoint_file
from consent_records.store.credentials import (
    CredentialProblem,
    read_credentials,
    write_credentials,
)
from consent_records.store.entries import (
    Entry,
    EntryProblem,
    Row,
    entry_file_bytes,
    read_ahead,
    read_entry,
    split_entry,
)
from consent_records.store.index import Index
from consent_records.store.layout import (
    BLOCK,
    CHECKPOINTS_NAME,
    CONTENT_DIR,
    CREDENTIALS_NAME,
    DIR_MODE,
    ENTRIES_DIR,
    FILE_MODE,
    FORMAT_NAME,
    FORMAT_VERSION,
    INDEX_NAME,
    KEYS_DIR,
    LOCK_NAME,
    LOGS_DIR,
    MARKER_BYTES,
    MARKER_NAME,
    MAX_CONTENT_BYTES,
    MAX_INDEX_BYTES,
    MAX_MARKER_BYTES,
    SEARCH_DIR,
    STAFF_DIR,
    FileRefused,
    check_dir,
    content_path,
    current_user,
    decode_json,
    entry_file,
    entry_path,
    make_dir,
    open_regular,
    read_capped,
    read_file,
    refuse_special,
    user_name,
)
from consent_records.store.lock import LockTimeout, StoreLock
from consent_records.store.messages import (
    INDEX_HINT,
    RESTORE_HINT,
    refused,
    unavailable,
    unreadable,
)

log = logging.getLogger("consent_records.store")

INDEX_FSYNC = False
"""Whether to fsync each index append. Not needed for safety: the entry file (fsynced, with
its directory) is the commit point and the index is a cache that the next start catches up
from the entry files if a power cut loses its last lines. Leaving it out keeps a save
within 3x of one bare atomic file write."""

CATCH_UP_LIMIT = 200
"""Entries beyond the index that an open catches up under the lock; more (a lost index) are
rebuilt without holding it (see :func:`consent_records.store.reindex.rebuild_index`)."""

Progress = Callable[[int, int], None]


class IndexFarBehind(Exception):
    """More entry files lie beyond the index than an open catches up under the lock."""


_ACCOUNT_KIND_VALUES = frozenset(kind.value for kind in ACCOUNT_KINDS)


def store_exists(data_dir: Path) -> bool:
    """Whether ``data_dir`` holds a store (commands that only read must not create one)."""
    return os.path.lexists(Path(data_dir) / MARKER_NAME)


class TinyDBStore:
    """The :class:`consent_records.base.ConsentStore` on TinyDB files. Use :func:`open_store`."""

    def __init__(
        self, data_dir: Path, *, lock_timeout: float = 10.0, read_only: bool = False
    ) -> None:
        self._root = Path(data_dir)
        self._lock_timeout = lock_timeout
        self._root_str = os.fspath(self._root)
        self._index_str = os.path.join(self._root_str, INDEX_NAME)
        self._lock = StoreLock(os.path.join(self._root_str, LOCK_NAME), lock_timeout)
        self._index = Index(self._root / INDEX_NAME)
        self._index_offset = 0
        """Bytes of the index file read (complete lines)."""
        self._index_lines = 0
        """Lines of the index file (the in-memory index may hold more, caught up)."""
        self._index_inode: tuple[int, int] | None = None
        self._torn_tail = 0
        self._read_only = read_only
        self._opened_read_only = read_only
        self._archived: set[str] = set()
        self._closed = False
        self._models: dict[int, tuple[ConsentRecord | AnyEvent | AuditEvent, str]] = {}
        """Events and audit entries read so far, by chain position (with their hash)."""
        self.search_index: Any = None
        """The records browser's index (consent_records.store.search), loaded on first use."""

    # ----------------------------------------------------------------- opening

    @property
    def data_dir(self) -> Path:
        return self._root

    @property
    def read_only(self) -> bool:
        """True when the store is opened for reading only, or cannot be written."""
        return self._read_only

    def _open(self) -> None:
        root = self._root
        try:
            info = os.stat(root)
        except FileNotFoundError:
            info = None
        except OSError as exc:
            raise unreadable(root, root, exc) from None
        if info is not None and not stat.S_ISDIR(info.st_mode):
            raise StoreUnavailable(
                f"The consent record data directory {root} is not a directory. "
                "Check the data directory setting."
            )
        if info is None:
            if self._read_only:
                raise StoreUnavailable(f"There is no record store in {root}.")
            if not root.parent.is_dir():
                raise StoreUnavailable(
                    f"The folder {root.parent} that should hold the data directory {root.name} "
                    "does not exist. Check the data directory setting (a mistyped path is "
                    "never created)."
                )
            try:
                make_dir(root)
            except OSError as exc:
                raise unavailable(root, exc, "creating the data directory") from None
            info = os.stat(root)
        if not self._read_only and info.st_uid != os.geteuid():
            owner = user_name(info.st_uid)
            raise StoreUnavailable(
                f"This store belongs to {owner}; run as {owner} (for example "
                f"sudo -u {owner} ims-kiosk …). Running it as {current_user()} would write "
                f"files that {owner}'s kiosk cannot read. Nothing was changed."
            )
        with self._locked(write=False, doing="opening the store"):
            self._check_marker()
            self._check_dirs()
            if not self._read_only:
                self._tighten_modes()
                for directory in self._sweep_dirs():
                    for path in sweep_temp_files(directory):
                        log.warning(
                            "removed a temporary file left by an interrupted write: %s", path
                        )
            self._refresh()
            head = self._index.head
            if head is not None:
                self._load_row(head)

    def _check_dirs(self) -> None:
        try:
            for name in (ENTRIES_DIR, CONTENT_DIR, KEYS_DIR, LOGS_DIR, STAFF_DIR, SEARCH_DIR):
                check_dir(self._root / name)
            entries = self._root / ENTRIES_DIR
            if entries.is_dir():
                for name in os.listdir(entries):
                    if not name.startswith("."):
                        check_dir(entries / name)
        except FileRefused as exc:
            raise refused(exc) from None
        if self._read_only:
            return
        for name in (ENTRIES_DIR, CONTENT_DIR):
            try:
                if not check_dir(self._root / name):
                    make_dir(self._root / name)
                    fsync_dir(self._root)
            except OSError as exc:
                if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                    self._read_only = True
                    return
                raise unavailable(self._root, exc, "creating a new store") from None

    def _tighten_modes(self) -> None:
        """Stores made by earlier versions (or under a loose umask) had 0755/0644 here."""
        for path, mode in (
            (self._root, DIR_MODE),
            (self._root / MARKER_NAME, FILE_MODE),
            (self._root / LOGS_DIR, DIR_MODE),
            (self._root / LOGS_DIR / "kiosk.log", FILE_MODE),
        ):
            try:
                info = os.lstat(path)
                if stat.S_ISLNK(info.st_mode) or info.st_uid != os.geteuid():
                    continue
                if stat.S_IMODE(info.st_mode) & 0o077:
                    os.chmod(path, mode, follow_symlinks=False)
                    log.info("made %s private to its owner (mode %o)", path, mode)
            except OSError:
                continue

    def _sweep_dirs(self) -> list[Path]:
        dirs = [self._root, self._root / CONTENT_DIR, self._root / ENTRIES_DIR]
        dirs += [
            self._root / name for name in (STAFF_DIR, SEARCH_DIR) if check_dir(self._root / name)
        ]
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
            blob: bytes | None = read_file(marker, MAX_MARKER_BYTES)
        except FileNotFoundError:
            blob = None
        except FileRefused as exc:
            raise refused(exc) from None
        except OSError as exc:
            raise unreadable(self._root, marker, exc) from None
        if blob is None:
            index = self._root / INDEX_NAME
            entries = self._root / ENTRIES_DIR
            has_entries = entries.is_dir() and any(
                name.endswith(".json")
                for block in os.listdir(entries)
                if (entries / block).is_dir()
                for name in os.listdir(entries / block)
            )
            if has_entries or (os.path.lexists(index) and os.lstat(index).st_size):
                raise StoreCorrupt(
                    f"{marker}: the store marker is missing although entries exist. {RESTORE_HINT}",
                    path=marker,
                )
            if self._read_only:
                raise StoreUnavailable(f"There is no record store in {self._root}.")
            try:
                # The marker first: a crash after it leaves a valid empty store.
                atomic_write_bytes(marker, MARKER_BYTES, mode=FILE_MODE)
            except OSError as exc:
                if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                    raise unavailable(self._root, exc, "creating a new store") from None
                raise unavailable(self._root, exc, "creating a new store") from None
            log.info("created a new consent record store at %s", self._root)
            return
        what = None
        try:
            meta = decode_json(blob) if blob.strip() else None
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
        stack = contextlib.ExitStack()
        try:
            held = stack.enter_context(self._lock.hold(create=not self._read_only))
        except LockTimeout as exc:
            raise unavailable(self._root, exc, doing) from None
        except OSError as exc:
            if write or isinstance(exc, FileRefused):
                raise unavailable(self._root, exc, doing) from None
            if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise unavailable(self._root, exc, doing) from None
            # A read-only copy (a backup on read-only media): nobody can write it, so
            # reading without the lock is safe.
            self._read_only = True
            held = False
        with stack:
            if write and not held:
                raise unavailable(self._root, OSError(errno.EROFS, "read-only"), doing)
            yield

    @contextlib.contextmanager
    def exclusive(self, doing: str = "an admin command") -> Iterator[None]:
        """Hold the store's lock across several calls (re-entrant): no other process can
        save meanwhile. For admin commands that must check and act in one step."""
        with self._locked(write=True, doing=doing):
            self._refresh()
            yield

    # ----------------------------------------------------------------- index

    def _refresh(self) -> None:
        """Under the lock: read what other processes appended, then catch up from entries."""
        try:
            known = os.stat(self._index_str, follow_symlinks=False)
        except FileNotFoundError:
            known = None
        except OSError as exc:
            raise unreadable(self._root, self._index_str, exc) from None
        if known is not None and not stat.S_ISREG(known.st_mode):
            raise refused(refuse_special(self._index_str, known.st_mode))
        if (
            known is None
            or self._index_inode != (known.st_dev, known.st_ino)
            or known.st_size != self._index_offset + self._torn_tail
        ):
            tail = self._read_index_tail(known is not None)
            end = tail.rfind(b"\n") + 1
            if end:
                self._index.add_lines(tail[:end])
                self._index_offset += end
                self._index_lines += tail.count(b"\n", 0, end)
            self._torn_tail = len(tail) - end
        self._catch_up()

    def _read_index_tail(self, exists: bool) -> bytes:
        index = self._root / INDEX_NAME
        if not exists:
            if self._index_offset:
                raise StoreCorrupt(
                    f"{index}: the index was removed while in use. {INDEX_HINT}", path=index
                )
            return b""
        try:
            fd = open_regular(index)
        except FileNotFoundError:
            return b""
        except FileRefused as exc:
            raise refused(exc) from None
        except OSError as exc:
            raise unreadable(self._root, index, exc) from None
        try:
            info = os.fstat(fd)
            inode = (info.st_dev, info.st_ino)
            if self._index_inode is not None and inode != self._index_inode:
                # Replaced (rebuilt by `ims-kiosk reindex`): read it again from the start.
                self._index.reset()
                self._index_offset = 0
                self._index_lines = 0
                self._torn_tail = 0
            if info.st_size < self._index_offset:
                raise StoreCorrupt(
                    f"{index}: the index became shorter while in use. {INDEX_HINT}", path=index
                )
            os.lseek(fd, self._index_offset, os.SEEK_SET)
            tail = read_capped(fd, MAX_INDEX_BYTES, index)
        except FileRefused as exc:
            raise refused(exc) from None
        except OSError as exc:
            raise unreadable(self._root, index, exc) from None
        finally:
            os.close(fd)
        self._index_inode = inode
        return tail

    def _catch_up(self) -> None:
        """Entries written after the last index line: a save interrupted between writing its
        entry file (the commit point) and appending its index line."""
        caught = 0
        while os.path.lexists(entry_file(self._root_str, self._index.count + 1)):
            seq = self._index.count + 1
            if caught >= CATCH_UP_LIMIT:
                raise IndexFarBehind(seq)
            entry = self._read(seq)
            self._index.add_row(entry.row(), entry_path(self._root, seq))
            caught += 1
        if self._torn_tail and not caught and not self._opened_read_only:
            # (Read-only, for verify: it reports this itself, with the rest.)
            seq = self._index.count + 1
            raise StoreCorrupt(
                f"{self._root / INDEX_NAME}: the index's last line (entry {seq}) is incomplete "
                f"and entry {seq} does not exist at {entry_path(self._root, seq)}: an entry was "
                "removed after it was saved. Run `ims-kiosk verify` and see docs/storage.md.",
                path=entry_path(self._root, seq),
            )
        if caught:
            log.warning(
                "%d entr%s at %s were missing from the index (an interrupted save); taken "
                "from the entry files",
                caught,
                "y" if caught == 1 else "ies",
                self._root,
            )
        if not self._read_only and (self._index_lines < self._index.count or self._torn_tail):
            try:
                self._sync_index()
            except OSError as exc:
                log.warning("could not bring the index at %s up to date: %s", self._index_str, exc)

    def _sync_index(self) -> None:
        """Append index lines for entries the index file lacks (under the lock)."""
        start = self._index_offset
        blob = bytes(self._index.buf[start:]) if self._index_lines < self._index.count else b""
        fd = os.open(
            self._index_str,
            os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC,
            FILE_MODE,
        )
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise OSError(errno.EINVAL, "the index is not a regular file")
            if info.st_size != self._index_offset:
                if info.st_size < self._index_offset:
                    raise OSError(errno.EIO, "the index shrank")
                # An incomplete last line left by an interrupted append.
                log.warning("dropping an incomplete last line of %s", self._index_str)
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
        self._index_inode = (info.st_dev, info.st_ino)
        self._index_offset += len(blob)
        self._index_lines = self._index.count
        self._torn_tail = 0

    # ----------------------------------------------------------------- writing

    def _commit(
        self,
        kind: EntryKind,
        data: dict[str, Any],
        model: ConsentRecord | AnyEvent | AuditEvent,
    ) -> Entry:
        """Write the next entry file (the commit point). Under the lock; raises OSError."""
        seq = self._index.count + 1
        head = self._index.head
        prev = head.sha256 if head is not None else GENESIS_HASH
        # The data is encoded once: its canonical JSON is both hashed and written, so the
        # file holds exactly the bytes verify() re-hashes. The file is the TinyDB database
        # {"entry": {"1": doc}} in canonical JSON: byte for byte what TinyDB's insert through
        # AtomicJSONStorage(sort_keys=True, ...) writes (tests/store/test_encode_entry.py).
        sha, doc = encode_entry(seq, kind, prev, data)
        blob = entry_file_bytes(doc)
        path = entry_file(self._root_str, seq)
        block = os.path.dirname(path)
        if not os.path.isdir(block) or os.path.islink(block):
            make_dir(block)
            fsync_dir(os.path.dirname(block))
        if os.path.lexists(path):  # refresh() consumed every existing entry: cannot happen
            raise StoreCorrupt(
                f"{path}: entry {seq} exists unexpectedly. {RESTORE_HINT}", Path(path)
            )
        try:
            atomic_write_bytes(path, blob, mode=FILE_MODE)
        except BaseException:
            # Only the final directory fsync can fail after the rename: undo it, since the
            # caller is told that nothing was stored.
            if os.path.lexists(path):
                try:
                    os.unlink(path)
                    fsync_dir(block)
                except OSError:
                    log.error("could not undo the unconfirmed entry file %s", path)
            raise
        entry = Entry(seq=seq, kind=kind, prev_sha256=prev, sha256=sha, data=data, model=model)
        self._index.add_row(entry.row(), Path(path))
        try:
            self._sync_index()
        except OSError as exc:
            # The entry file is durable: the save stands. The index catches up next time.
            log.warning(
                "entry %d (%s %s) is saved but the index at %s could not be updated (%s); "
                "it will be caught up from the entry files",
                seq,
                kind,
                model.id,
                self._index_str,
                exc,
            )
        return entry

    def _writable_or_raise(self, doing: str) -> None:
        if self._read_only:
            raise unavailable(self._root, OSError(errno.EROFS, "read-only"), doing)

    def _content_archived(self, sha: str) -> bool:
        if sha in self._archived:
            return True
        path = content_path(self._root, sha)
        try:
            info = os.stat(path, follow_symlinks=False)
        except OSError:
            return False
        if not stat.S_ISREG(info.st_mode):
            raise refused(refuse_special(path, info.st_mode))
        self._archived.add(sha)
        return True

    def save_record(self, record: ConsentRecord) -> StoredRecord:
        doing = f"saving record {record.id}"
        data = record.model_dump(mode="json")
        try:
            with self._locked(write=True, doing=doing):
                self._writable_or_raise(doing)
                self._refresh()
                index = self._index
                index.full()
                if index.find_id(record.id) is not None:
                    raise ValueError(f"a record with id {record.id} is already stored")
                if index.reference_row(record.reference) is not None:
                    raise ValueError(
                        f"a record with reference {record.reference} is already stored"
                    )
                if not self._content_archived(record.content.sha256):
                    raise ValueError(
                        f"the content {record.content.sha256} that record {record.id} was "
                        "signed with is not archived in the store (archive_content first)"
                    )
                try:
                    entry = self._commit("record", data, record)
                except OSError as exc:
                    raise unavailable(self._root, exc, doing) from None
                head, length = self._head()
        except StoreError as exc:
            log.error("save of record %s failed: %s", record.id, exc)
            raise
        log.info("saved record %s as entry %d (%s)", record.id, entry.seq, entry.sha256)
        return StoredRecord(
            record=record, entry=entry.stored_entry, events=[], chain_head=head, chain_length=length
        )

    def append_event(self, event: AnyEvent, *, expect: Expect | None = None) -> StoredEvent:
        doing = f"saving event {event.id} of record {event.record_id}"
        data = event.model_dump(mode="json")
        try:
            with self._locked(write=True, doing=doing):
                self._writable_or_raise(doing)
                self._refresh()
                row = self._index.record_row(event.record_id)
                if row is None:
                    raise RecordNotFound(f"No consent record has the id {event.record_id}.")
                if self._index.find_id(event.id) is not None:
                    raise ValueError(f"an entry with id {event.id} is already stored")
                if expect is not None or not isinstance(event, RecordEvent):
                    current = self._stored_record(row, self._index.events_of(row.id), self._head())
                    if expect is not None:
                        check_expect(current, expect)
                    if not isinstance(event, RecordEvent):
                        check(current.lifecycle, event)
                try:
                    entry = self._commit("event", data, event)
                except OSError as exc:
                    raise unavailable(self._root, exc, doing) from None
        except StoreError as exc:
            log.error("save of event %s (record %s) failed: %s", event.id, event.record_id, exc)
            raise
        log.info("saved event %s of record %s as entry %d", event.id, event.record_id, entry.seq)
        return StoredEvent(event=event, entry=entry.stored_entry)

    def append_audit(
        self,
        *events: AuditEvent,
        expect: Expect | None = None,
        credential: str | None = None,
    ) -> list[StoredAudit]:
        if not events:
            return []
        password_sets = [e for e in events if isinstance(e, PasswordSet)]
        if credential is not None and (
            len(password_sets) != 1
            or password_sets[0].credential_sha256 != sha256_hex(credential.encode("utf-8"))
        ):
            raise ValueError(
                "a credential is stored with exactly one PasswordSet that commits to it"
            )
        subjects = {audit_subject(e) for e in events}
        if expect is not None and (len(subjects) != 1 or None in subjects):
            raise ValueError("an expectation applies to the events of one account")
        doing = f"saving {len(events)} audit entr{'y' if len(events) == 1 else 'ies'}"
        datas = [event.model_dump(mode="json") for event in events]
        stored: list[StoredAudit] = []
        try:
            with self._locked(write=True, doing=doing):
                self._writable_or_raise(doing)
                self._refresh()
                self._check_audit(events, expect)
                restore: dict[str, str] | None = None
                if credential is not None:
                    subject = password_sets[0].subject
                    restore = self._credentials()
                    updated = {**restore, subject: credential}
                    try:
                        write_credentials(self._root, updated)
                    except OSError as exc:
                        raise unavailable(self._root, exc, doing) from None
                try:
                    for event, data in zip(events, datas, strict=True):
                        entry = self._commit("audit", data, event)
                        stored.append(StoredAudit(event=event, entry=entry.stored_entry))
                except OSError as exc:
                    if restore is not None and not stored:
                        try:
                            write_credentials(self._root, restore)
                        except OSError:
                            log.error("could not put the staff credential file back")
                    raise unavailable(self._root, exc, doing) from None
        except StoreError as exc:
            log.error("%s failed: %s", doing, exc)
            raise
        for item in stored:
            log.info("saved audit %s as entry %d", item.event.kind.value, item.entry.seq)
        return stored

    def _check_audit(self, events: Sequence[AuditEvent], expect: Expect | None) -> None:
        """Under the lock: every id new, every account named exists (or is being created),
        every record named exists, and ``expect`` holds."""
        index = self._index
        created: set[str] = set()
        for event in events:
            if index.find_id(event.id) is not None:
                raise ValueError(f"an entry with id {event.id} is already stored")
            record_id = audit_record_id(event)
            if record_id is not None and index.record_row(record_id) is None:
                raise RecordNotFound(f"No consent record has the id {record_id}.")
            subject = audit_subject(event)
            if subject is None:
                continue
            exists = subject in created or any(
                row.event_kind == AuditKind.ACCOUNT_CREATED for row in index.subject_rows(subject)
            )
            if event.kind is AuditKind.ACCOUNT_CREATED:
                if exists:
                    raise ConflictingEvent(
                        f"There is already an account named {subject} (accounts are never "
                        "deleted, so a name is never reused). Choose another user name.",
                        subject=subject,
                    )
                created.add(subject)
            elif not exists:
                raise ConflictingEvent(f"There is no account named {subject}.", subject=subject)
        if expect is not None and expect.last_event_id is not None:
            subject = audit_subject(events[0])
            assert subject is not None
            rows = [r for r in index.subject_rows(subject) if r.event_kind in _ACCOUNT_KIND_VALUES]
            last = rows[-1].id if rows else None
            if last != expect.last_event_id:
                seen = next((i for i, r in enumerate(rows) if r.id == expect.last_event_id), None)
                newer = rows[seen + 1 :] if seen is not None else rows[-1:]
                raise account_conflict(subject, [self._stored_audit(r) for r in newer])

    def credential(self, user_name: str) -> str | None:
        with self._locked(write=False, doing="reading staff credentials"):
            return self._credentials().get(user_name)

    def _credentials(self) -> dict[str, str]:
        try:
            return read_credentials(self._root)
        except CredentialProblem as exc:
            path = self._root / CREDENTIALS_NAME
            raise StoreCorrupt(f"{exc}. {RESTORE_HINT}", path=path) from None
        except FileRefused as exc:
            raise refused(exc) from None
        except OSError as exc:
            raise unreadable(self._root, self._root / CREDENTIALS_NAME, exc) from None

    def archive_content(self, sha256: str, canonical_json: bytes) -> None:
        if sha256_hex(canonical_json) != sha256:
            raise ValueError("the content does not match the SHA-256 it is archived under")
        path = content_path(self._root, sha256)
        doing = f"archiving content {sha256}"
        try:
            with self._locked(write=False, doing=doing):
                try:
                    existing: bytes | None = read_file(path, MAX_CONTENT_BYTES)
                except FileNotFoundError:
                    existing = None
                if existing is not None:
                    if existing != canonical_json:
                        raise StoreCorrupt(
                            f"{path}: the archived content does not match its SHA-256 "
                            f"(changed). {RESTORE_HINT}",
                            path=path,
                        )
                    self._archived.add(sha256)
                    return
                self._writable_or_raise(doing)
                make_dir(path.parent)
                atomic_write_bytes(path, canonical_json, mode=FILE_MODE)
                self._archived.add(sha256)
        except OSError as exc:
            error = unavailable(self._root, exc, doing)
            log.error("%s", error)
            raise error from None
        except StoreError as exc:
            log.error("archiving content %s failed: %s", sha256, exc)
            raise

    def probe_writable(self) -> None:
        """Prove that a save could be written now (the kiosk checks before any patient
        starts): create, write, fsync and remove a small file where entries go.

        Raises StoreUnavailable with the reason (read-only, full disk, owner or mode).
        """
        doing = "checking that the data directory can be written"
        with self._locked(write=True, doing=doing):
            self._writable_or_raise(doing)
            block = os.path.dirname(entry_file(self._root_str, self._index.count + 1))
            for directory in (self._root_str, os.path.join(self._root_str, ENTRIES_DIR), block):
                if not os.path.isdir(directory):
                    continue
                probe = os.path.join(directory, f".tmp-probe-{os.getpid()}")
                try:
                    fd = os.open(
                        probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE
                    )
                    try:
                        write_all(fd, b"probe\n" * 512)
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                        with contextlib.suppress(OSError):
                            os.unlink(probe)
                except OSError as exc:
                    raise unavailable(self._root, exc, doing, path=directory) from None

    # ----------------------------------------------------------------- reading

    def archived_content(self, sha256: str) -> bytes | None:
        """The archived content with that hash (checked against it), or None if never archived."""
        if self._closed:
            raise StoreError(f"The consent record store at {self._root} was closed.")
        if not is_sha256_hex(sha256):
            return None
        path = content_path(self._root, sha256)
        try:
            blob = read_file(path, MAX_CONTENT_BYTES)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise unreadable(self._root, path, exc) from None
        if sha256_hex(blob) != sha256:
            raise StoreCorrupt(
                f"{path}: the archived content does not match its SHA-256 (changed). "
                f"{RESTORE_HINT}",
                path=path,
            )
        return blob

    def _head(self) -> tuple[str, int]:
        head = self._index.head
        return (head.sha256, head.seq) if head is not None else (GENESIS_HASH, 0)

    def chain_head_unlocked(self) -> str:
        return self._head()[0]

    def _read(self, seq: int) -> Entry:
        path = entry_path(self._root, seq)
        try:
            return read_entry(path, seq)
        except EntryProblem as problem:
            raise StoreCorrupt(f"{problem} {RESTORE_HINT}", path=path) from None
        except OSError as exc:
            raise unreadable(self._root, path, exc) from None

    def _load_row(self, row: Row) -> Entry:
        entry = self._read(row.seq)
        if entry.row() != row:
            path = entry_path(self._root, row.seq)
            raise StoreCorrupt(
                f"{path}: entry {row.seq} does not match the index (changed). {RESTORE_HINT}",
                path=path,
            )
        return entry

    def _stored_record(self, row: Row, events: list[Row], head: tuple[str, int]) -> StoredRecord:
        entry = self._load_row(row)
        assert isinstance(entry.model, ConsentRecord)
        stored_events = [self._stored_event(event_row) for event_row in events]
        return StoredRecord(
            record=entry.model,
            entry=entry.stored_entry,
            events=stored_events,
            chain_head=head[0],
            chain_length=head[1],
        )

    def _cached_model(self, row: Row) -> tuple[ConsentRecord | AnyEvent | AuditEvent, str]:
        """An event or audit entry's model (entries never change: kept once read)."""
        found = self._models.get(row.seq)
        if found is None or found[1] != row.sha256:
            entry = self._load_row(row)
            found = self._models[row.seq] = (entry.model, entry.sha256)
        return found

    def _stored_event(self, row: Row) -> StoredEvent:
        model, _ = self._cached_model(row)
        assert row.kind == "event" and not isinstance(model, ConsentRecord)
        return StoredEvent(
            event=model,
            entry=StoredEntry(seq=row.seq, sha256=row.sha256, prev_sha256=row.prev_sha256),
        )

    def _stored_audit(self, row: Row) -> StoredAudit:
        model, _ = self._cached_model(row)
        assert row.kind == "audit"
        return StoredAudit(
            event=model,
            entry=StoredEntry(seq=row.seq, sha256=row.sha256, prev_sha256=row.prev_sha256),
        )

    def get(self, record_id: str) -> StoredRecord:
        with self._locked(write=False):
            self._refresh()
            row = self._index.record_row(record_id)
            if row is None:
                raise RecordNotFound(f"No consent record has the id {record_id}.")
            events, head = self._index.events_of(row.id), self._head()
        # Entry files are written once and never change: read them without the lock.
        return self._stored_record(row, events, head)

    def find_reference(self, reference: str) -> StoredRecord:
        wanted = normalise_reference(reference)
        with self._locked(write=False):
            self._refresh()
            row = self._index.reference_row(wanted)
            if row is None:
                raise RecordNotFound(f"No consent record has the reference {wanted}.")
            events, head = self._index.events_of(row.id), self._head()
        return self._stored_record(row, events, head)

    def reference_exists(self, reference: str) -> bool:
        with self._locked(write=False):
            self._refresh()
            return self._index.reference_row(normalise_reference(reference)) is not None

    def recent(self, limit: int = 50) -> list[RecordSummary]:
        if limit <= 0:
            return []
        with self._locked(write=False):
            self._refresh()
            parsed = self._index.full()
            newest = [parsed.rows[seq - 1] for _, seq in parsed.by_time[-limit:]][::-1]
            kinds = {
                row.seq: [parsed.rows[e - 1].event_kind for e in parsed.events_of[row.id]]
                for row in newest
            }
        summaries: list[RecordSummary] = []
        for row in newest:
            entry = self._load_row(row)
            assert isinstance(entry.model, ConsentRecord)
            status = status_after(
                entry.model.status, (kind for kind in kinds[row.seq] if kind is not None)
            )
            summaries.append(summarise(entry.model).model_copy(update={"status": status}))
        return summaries

    def count(self) -> tuple[int, int]:
        with self._locked(write=False):
            self._refresh()
            records = self._index.record_count()
            return records, self._index.count - records - self._index.audit_count()

    def audit_count(self) -> int:
        with self._locked(write=False):
            self._refresh()
            return self._index.audit_count()

    def account_events(self, user_name: str | None = None) -> list[AccountEvent]:
        with self._locked(write=False):
            self._refresh()
            rows = [
                row
                for row in self._index.subject_rows(user_name)
                if row.event_kind in _ACCOUNT_KIND_VALUES
            ]
        return [self._stored_audit(row).event for row in rows]  # type: ignore[misc]

    def search(
        self,
        query: RecordQuery,
        rules: ConsentRules | None = None,
        *,
        progress: Progress | None = None,
    ) -> Page:
        from consent_records.store.search import search_store

        return search_store(self, query, rules or ConsentRules(), progress)

    def rebuild_search_index(self, progress: Progress | None = None) -> int:
        """Build the records browser's search index again from the entry files (``ims-kiosk
        reindex``) and save it; return the number of records it holds."""
        from consent_records.store.search import rebuild

        return rebuild(self, progress)

    def audit(self, query: AuditQuery) -> AuditPage:
        with self._locked(write=False):
            self._refresh()
            rows = [row for row in self._index.full().rows if row.kind != "record"]
        # Filter on the index lines (they carry kind, record, time and, for version-2 events
        # and audit entries, who); read entry files only for version-1 events when a person
        # is asked for, and for the page shown.
        low = query.date_from.isoformat() if query.date_from else ""
        high = query.date_to.isoformat() if query.date_to else "\uffff"
        matching: list[Row] = []
        for row in reversed(rows):
            if not query.include_record_events and row.kind != "audit":
                continue
            if query.record_id is not None and row.record_id != query.record_id:
                continue
            if query.kinds and row.event_kind not in query.kinds:
                continue
            if not low <= row.at[:10] <= high:
                continue
            if query.person is not None:
                if row.kind == "event" and row.actor is None:
                    item = self._audit_line(row)
                    if item is None or not audit_matches(item, query):
                        continue
                elif query.person not in (row.actor, row.subject):
                    continue
            matching.append(row)
        window = matching[query.offset : query.offset + query.limit]
        items = [item for item in map(self._audit_line, window) if item is not None]
        return AuditPage(
            items=tuple(items), total=len(matching), offset=query.offset, limit=query.limit
        )

    def _audit_line(self, row: Row) -> AuditItem | None:
        model, _ = self._cached_model(row)
        if isinstance(model, ConsentRecord):
            return None
        return audit_item(row.seq, row.sha256, model)

    def chain_head(self) -> str:
        with self._locked(write=False):
            self._refresh()
            return self._head()[0]

    def chain_length(self) -> int:
        with self._locked(write=False):
            self._refresh()
            return self._head()[1]

    # ----------------------------------------------------------------- integrity

    def check_integrity(self, progress: Progress | None = None) -> None:
        """The kiosk's start-up check: every entry file is present, a regular file, and
        hashes to the value the index records for it, every link holds, and every index
        line is valid. Raw bytes only (no JSON decoding): about 1 s at 50,000 entries.
        Raises StoreCorrupt naming the first bad entry."""
        with self._locked(write=False, doing="checking the store"):
            self._refresh()
            rows = list(self._index.full().rows)
        total = len(rows)
        for (seq, got), row in zip(read_ahead(self._root_str, total), rows, strict=True):
            path = entry_file(self._root_str, seq)
            try:
                if isinstance(got, FileNotFoundError):
                    raise EntryProblem(path, seq, "is missing (removed)")
                if isinstance(got, FileRefused):
                    raise EntryProblem(path, seq, got.reason)
                if isinstance(got, OSError):
                    raise unreadable(self._root, path, got)
                raw = split_entry(got, path, seq)
            except EntryProblem as problem:
                raise StoreCorrupt(f"{problem} {RESTORE_HINT}", path=Path(path)) from None
            if (raw.sha256, raw.prev_sha256, raw.kind) != (row.sha256, row.prev_sha256, row.kind):
                raise StoreCorrupt(
                    f"{path}: entry {seq} does not match the index (changed, removed or "
                    f"replaced). {RESTORE_HINT}",
                    path=Path(path),
                )
            if progress is not None and seq % 512 == 0:
                progress(seq, total)
        if progress is not None:
            progress(total, total)

    def verify(
        self,
        *,
        expect: Sequence[Anchor | Checkpoint] = (),
        progress: Progress | None = None,
    ) -> VerifyReport:
        from consent_records.store.verify import verify_store

        return verify_store(self, expect=expect, progress=progress)

    def checkpoints(self) -> list[Checkpoint]:
        """The signed checkpoints stored with the chain, oldest first (not re-checked:
        :meth:`verify` checks them)."""
        with self._locked(write=False):
            return checkpoint_file.read_checkpoints(self._root / CHECKPOINTS_NAME)

    def last_checkpoint(self) -> Checkpoint | None:
        found = self.checkpoints()
        return found[-1] if found else None

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Append a signed checkpoint; it must describe this chain as it is now or was."""
        doing = "storing a checkpoint"
        with self._locked(write=True, doing=doing):
            self._writable_or_raise(doing)
            self._refresh()
            if checkpoint.seq > self._index.count:
                raise ValueError("the checkpoint is beyond the chain's head")
            if checkpoint.seq:
                row = self._index.row(checkpoint.seq)
                if row.sha256 != checkpoint.head:
                    raise ValueError("the checkpoint does not match the chain")
            try:
                checkpoint_file.append_checkpoint(self._root / CHECKPOINTS_NAME, checkpoint)
            except FileRefused as exc:
                raise refused(exc) from None
            except OSError as exc:
                raise unavailable(self._root, exc, doing) from None
        log.info("stored checkpoint at entry %d (%s)", checkpoint.seq, checkpoint.head)

    def backup(self, out_dir: Path, *, progress: Progress | None = None) -> VerifyReport:
        from consent_records.store.backup import backup_store

        return backup_store(self, Path(out_dir), progress=progress)

    def close(self) -> None:
        if self.search_index is not None and not self._closed:
            from consent_records.store.search import save_on_close

            save_on_close(self)
        self._closed = True
        self._lock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(
    data_dir: Path,
    *,
    lock_timeout: float = 10.0,
    full_check: bool = False,
    read_only: bool = False,
) -> TinyDBStore:
    """Open (creating if new, unless ``read_only``) the store in ``data_dir``; fail closed.

    Opening checks the marker, the folders, the index's last line and the newest entry,
    catches the index up with entries an interrupted save left, and (unless ``read_only``)
    sweeps temporary files; a lost index is rebuilt without blocking other writers. With
    ``full_check`` it also checks every entry against the index
    (:meth:`TinyDBStore.check_integrity`).

    ``read_only`` never writes anything (verify, backup): the store may then belong to
    another user (an admin checking the kiosk's store) or sit on read-only media.

    Raises:
        StoreCorrupt: a store file is damaged; nothing was changed.
        StoreUnavailable: the directory cannot be created, locked, or belongs to another
            user (for a writer).
    """
    store = TinyDBStore(Path(data_dir), lock_timeout=lock_timeout, read_only=read_only)
    try:
        store._open()
    except IndexFarBehind:
        if read_only:
            store.close()
            raise StoreCorrupt(
                f"{Path(data_dir) / INDEX_NAME}: the index is missing or far behind the entry "
                f"files. {INDEX_HINT}",
                path=Path(data_dir) / INDEX_NAME,
            ) from None
        from consent_records.store.reindex import rebuild_index

        store.close()
        rebuild_index(Path(data_dir), lock_timeout=lock_timeout)
        store = TinyDBStore(Path(data_dir), lock_timeout=lock_timeout)
        store._open()
    except BaseException:
        store.close()
        raise
    if full_check:
        try:
            store.check_integrity()
        except BaseException:
            store.close()
            raise
    return store


__all__ = [
    "BLOCK",
    "CATCH_UP_LIMIT",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "Progress",
    "TinyDBStore",
    "entry_path",
    "open_store",
    "store_exists",
]
