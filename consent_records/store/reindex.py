"""``ims-kiosk reindex``: rebuild ``index.jsonl`` from the entry files, saying what changed.

The index is a cache, so it may be rebuilt; nothing else in the store ever is. The rebuild
reads and checks every entry (hash, link, fields) *without* holding the store's lock, since
entries are written once and never change, and writes the new index to a temporary file.
Only then does it take the lock, for a few milliseconds: read the entries saved meanwhile,
append their lines, and rename the new index into place. A kiosk saving at the same time is
held up for those milliseconds at most (at 50,000 entries the whole rebuild takes seconds,
the lock a fraction of one). Other processes notice the new file and read it again.

A damaged entry stops the rebuild with :class:`StoreCorrupt` and leaves the old index as it
was: restore the store from a backup.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from consent_records.base import GENESIS_HASH, StoreCorrupt, StoreUnavailable
from consent_records.storage import TEMP_PREFIX, fsync_dir, sweep_temp_files, write_all
from consent_records.store.entries import EntryProblem, raw_row, read_entry_bytes, split_entry
from consent_records.store.layout import (
    ENTRIES_DIR,
    FILE_MODE,
    INDEX_NAME,
    LOCK_NAME,
    MARKER_NAME,
    MAX_INDEX_BYTES,
    MAX_MARKER_BYTES,
    FileRefused,
    check_dir,
    current_user,
    entry_file,
    entry_path,
    read_file,
    user_name,
)
from consent_records.store.lock import LockTimeout, StoreLock
from consent_records.store.messages import RESTORE_HINT, refused, unavailable, unreadable

log = logging.getLogger("consent_records.store")

Progress = Callable[[int, int], None]


class _Builder:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root_str = os.fspath(root)
        self.lines: list[bytes] = []
        self.head = GENESIS_HASH
        self.ids: set[str] = set()
        self.references: set[str] = set()
        self.records: set[str] = set()

    def more(self, progress: Progress | None, total: int) -> None:
        """Read entries after the last one read, while their files exist."""
        while os.path.lexists(entry_file(self.root_str, len(self.lines) + 1)):
            seq = len(self.lines) + 1
            path = entry_path(self.root, seq)
            try:
                raw = split_entry(read_entry_bytes(path, seq), path, seq)
                row = raw_row(raw, path)
            except EntryProblem as problem:
                raise StoreCorrupt(
                    f"{problem} The index was not rebuilt. {RESTORE_HINT}", path=path
                ) from None
            except OSError as exc:
                raise unreadable(self.root, path, exc) from None
            bad = None
            if raw.prev_sha256 != self.head:
                bad = "does not follow the entry before it (changed, removed or reordered)"
            elif row.id in self.ids:
                bad = f"repeats the id {row.id}"
            elif row.kind == "record" and row.reference in self.references:
                bad = f"repeats the reference {row.reference}"
            elif (
                row.kind != "record"
                and row.record_id is not None
                and (row.record_id not in self.records)
            ):
                bad = f"is an {row.kind} for record {row.record_id}, which is not stored before it"
            if bad:
                raise StoreCorrupt(
                    f"{path}: entry {seq} {bad}. The index was not rebuilt. {RESTORE_HINT}",
                    path=path,
                )
            self.ids.add(row.id)
            if row.kind == "record":
                assert row.reference is not None
                self.references.add(row.reference)
                self.records.add(row.id)
            self.head = raw.sha256
            self.lines.append(row.line())
            if progress is not None and seq % 500 == 0:
                progress(seq, max(total, seq))


def _changes(old: bytes | None, new: list[bytes]) -> list[str]:
    if old is None:
        return [f"index.jsonl was missing: written with {len(new)} lines"]
    end = old.rfind(b"\n") + 1
    old_lines = [line + b"\n" for line in old[: end - 1].split(b"\n")] if end else []
    changes = []
    same = sum(1 for a, b in zip(old_lines, new, strict=False) if a == b)
    replaced = min(len(old_lines), len(new)) - same
    if replaced:
        changes.append(f"{replaced} line(s) replaced (they disagreed with their entry files)")
    if len(new) > len(old_lines):
        changes.append(f"{len(new) - len(old_lines)} line(s) added (missing for existing entries)")
    if len(old_lines) > len(new):
        changes.append(
            f"{len(old_lines) - len(new)} line(s) dropped (their entry files do not exist)"
        )
    if end < len(old):
        changes.append("an incomplete last line dropped")
    return changes


def _check_layout(root: Path) -> None:
    """Refuse a marker or a folder that is a link or a special file, as opening the store
    does: the rebuild must never read entries through a link (nor drop the index lines of
    a linked block as "missing")."""
    try:
        read_file(root / MARKER_NAME, MAX_MARKER_BYTES)
        check_dir(root / ENTRIES_DIR)
        entries = root / ENTRIES_DIR
        if entries.is_dir():
            for name in sorted(os.listdir(entries)):
                if not name.startswith("."):
                    check_dir(entries / name)
    except FileRefused as exc:
        raise refused(exc) from None
    except OSError as exc:
        raise unreadable(root, exc.filename or root, exc) from None


def rebuild_index(
    root: Path, *, lock_timeout: float = 10.0, progress: Progress | None = None
) -> list[str]:
    """Rebuild the index of the store in ``root``; return what changed, one line each."""
    root = Path(root)
    info = os.stat(root)
    if info.st_uid != os.geteuid():
        owner = user_name(info.st_uid)
        raise StoreUnavailable(
            f"This store belongs to {owner}; run as {owner} (for example sudo -u {owner} "
            f"ims-kiosk reindex …), not as {current_user()}. Nothing was changed."
        )
    if not os.path.lexists(root / MARKER_NAME):
        raise StoreUnavailable(f"There is no record store in {root}.")
    _check_layout(root)
    index = root / INDEX_NAME
    builder = _Builder(root)
    total = 0
    with contextlib.suppress(OSError):
        total = read_file(index, MAX_INDEX_BYTES).count(b"\n")
    builder.more(progress, total)  # the bulk, without the lock
    tmp = root / f"{TEMP_PREFIX}{INDEX_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, FILE_MODE)
        try:
            os.fchmod(fd, FILE_MODE)
            write_all(fd, b"".join(builder.lines))
            os.fsync(fd)
            written = len(builder.lines)
            lock = StoreLock(os.fspath(root / LOCK_NAME), lock_timeout)
            try:
                with lock.hold(create=True):
                    builder.more(None, 0)  # saved meanwhile: a few at most
                    from consent_records.store.verify import _stray_entry

                    stray = _stray_entry(root, len(builder.lines))
                    if stray:
                        raise StoreCorrupt(
                            f"{stray}. The index was not rebuilt. {RESTORE_HINT}",
                            path=entry_path(root, len(builder.lines) + 1),
                        )
                    write_all(fd, b"".join(builder.lines[written:]))
                    os.fsync(fd)
                    try:
                        old: bytes | None = read_file(index, MAX_INDEX_BYTES)
                    except FileNotFoundError:
                        old = None
                    changes = _changes(old, builder.lines)
                    if changes:
                        if old is not None:
                            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
                            kept = root / f"index-replaced-{stamp}.jsonl.old"
                            os.link(index, kept, follow_symlinks=False)
                            changes.append(f"the old index is kept as {kept.name}")
                        os.replace(tmp, index)
                        fsync_dir(root)
                    else:
                        os.unlink(tmp)
                    for directory in (root, root / ENTRIES_DIR):
                        for path in sweep_temp_files(directory):
                            changes.append(f"removed {path.name}, left by an interrupted write")
            except LockTimeout as exc:
                raise unavailable(root, exc, "rebuilding the index") from None
            finally:
                lock.close()
        finally:
            os.close(fd)
    except OSError as exc:
        raise unavailable(root, exc, "rebuilding the index") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    if not changes:
        changes = [f"index.jsonl already matched all {len(builder.lines)} entries: unchanged"]
    for line in changes:
        log.warning("reindex of %s: %s", root, line)
    return changes
