"""``ims-kiosk backup --out DIR``: a consistent, verified copy of the store.

Under the lock (a moment) it takes the chain's length, the index lines, the content names,
the checkpoints and the public key; then, without the lock, it copies those write-once files
and the staff credential file (opened without following links, created owner-only), writes
a fresh index and marker,
syncs, and verifies the copy. Saves continue meanwhile; they are not in this backup.

The target must be a new or empty folder whose parent exists (a mistyped path is an error,
not a new tree), must not be a symbolic link, and must not lie inside the data directory.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from consent_records.base import StoreError, StoreUnavailable, VerifyReport
from consent_records.sealkeys import SEAL_FILES
from consent_records.store.layout import (
    CHECKPOINTS_NAME,
    CONTENT_DIR,
    CREDENTIALS_NAME,
    ENTRIES_DIR,
    INDEX_NAME,
    KEYS_DIR,
    MARKER_BYTES,
    MARKER_NAME,
    MAX_CHECKPOINTS_BYTES,
    MAX_CONTENT_BYTES,
    MAX_CREDENTIALS_BYTES,
    MAX_ENTRY_BYTES,
    STAFF_DIR,
    FileRefused,
    entry_path,
    make_dir,
    read_file,
    write_new_private,
)
from consent_records.store.messages import refused

if TYPE_CHECKING:
    from consent_records.store.engine import TinyDBStore

Progress = Callable[[int, int], None]


def check_backup_target(root: Path, out: Path) -> None:
    """Refuse a target that would not make a safe, separate backup (StoreError)."""
    absolute = Path(os.path.abspath(out))
    nearest = absolute
    while not nearest.exists() and nearest != nearest.parent:
        nearest = nearest.parent
    resolved = nearest.resolve() / absolute.relative_to(nearest)
    resolved_root = root.resolve()
    if resolved == resolved_root or resolved_root in resolved.parents:
        raise StoreError(
            f"The backup target {out} is inside the data directory {root}; a backup must "
            "live apart from the store (another disk, a USB drive, the clinic's server)."
        )
    try:
        info = os.lstat(out)
    except FileNotFoundError:
        info = None
    if info is not None:
        if stat.S_ISLNK(info.st_mode):
            raise StoreError(f"The backup target {out} is a symbolic link; name a real folder.")
        if not stat.S_ISDIR(info.st_mode):
            raise StoreError(f"The backup target {out} exists and is not a folder.")
        if any(os.scandir(out)):
            raise StoreError(f"The backup directory {out} is not empty; choose a new directory.")
    elif not out.parent.is_dir():
        raise StoreError(
            f"The folder {out.parent} does not exist, so the backup cannot go in it. Check "
            "the path (a mistyped path is never created) or create the folder first."
        )


def _copy(source: Path, target: Path, limit: int) -> None:
    write_new_private(target, read_file(source, limit))


def backup_store(
    store: TinyDBStore, out: Path, *, progress: Progress | None = None
) -> VerifyReport:
    root = store.data_dir
    check_backup_target(root, out)
    with store._locked(write=False, doing="taking a backup"):
        store._refresh()
        length = store._index.count
        lines = bytes(store._index.buf)
        try:
            contents = sorted(
                name for name in os.listdir(root / CONTENT_DIR) if not name.startswith(".")
            )
        except FileNotFoundError:
            contents = []
        extras = [
            name
            for name in (CHECKPOINTS_NAME, f"{KEYS_DIR}/checkpoint-key.pub",
                         f"{KEYS_DIR}/checkpoint-key.json",
                         # The clinic's seal (certificates, and its keys sealed with their
                         # passphrases), so a restored store seals and checks PDFs as before.
                         *(f"{KEYS_DIR}/{seal_file}" for seal_file in SEAL_FILES))
            if os.path.lexists(root / name)
        ]  # fmt: skip
        checkpoint_bytes = (
            read_file(root / CHECKPOINTS_NAME, MAX_CHECKPOINTS_BYTES)
            if CHECKPOINTS_NAME in extras
            else None
        )
        # The staff password hashes change in place (a reset, a rehash): copied under the
        # lock, so they match the chain copied (verify checks each against the chain).
        try:
            credential_bytes: bytes | None = read_file(
                root / CREDENTIALS_NAME, MAX_CREDENTIALS_BYTES
            )
        except FileNotFoundError:
            credential_bytes = None
    # Entry and content files are written once and never change: copied without the lock.
    try:
        make_dir(out)
        make_dir(out / ENTRIES_DIR)
        make_dir(out / CONTENT_DIR)
        for seq in range(1, length + 1):
            target = entry_path(out, seq)
            if not target.parent.is_dir():
                make_dir(target.parent)
            _copy(entry_path(root, seq), target, MAX_ENTRY_BYTES)
            if progress is not None and seq % 500 == 0:
                progress(seq, length)
        for name in contents:
            _copy(root / CONTENT_DIR / name, out / CONTENT_DIR / name, MAX_CONTENT_BYTES)
        if checkpoint_bytes is not None:
            write_new_private(out / CHECKPOINTS_NAME, checkpoint_bytes)
        if credential_bytes is not None:
            make_dir(out / STAFF_DIR)
            write_new_private(out / CREDENTIALS_NAME, credential_bytes)
        for name in extras:
            if name.startswith(KEYS_DIR):
                make_dir(out / KEYS_DIR)
                _copy(root / name, out / name, 65536)
        write_new_private(out / INDEX_NAME, lines)
        write_new_private(out / MARKER_NAME, MARKER_BYTES)
        os.sync()
    except FileRefused as exc:
        raise refused(exc) from None
    except OSError as exc:
        raise StoreUnavailable(
            f"The backup to {out} failed ({exc.strerror or exc}); the records in {root} are "
            "untouched. Check the backup disk and run the backup again into an empty "
            "directory."
        ) from None
    if progress is not None:
        progress(length, length)
    from consent_records.store.engine import open_store

    copy = open_store(out, lock_timeout=store._lock_timeout, read_only=True)
    try:
        return copy.verify(progress=progress)
    finally:
        copy.close()
