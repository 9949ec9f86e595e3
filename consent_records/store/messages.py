"""The sentences the store's errors carry: what happened, which file, what to do.

One place turns an ``OSError``, a refused file or a lock timeout into a
:class:`~consent_records.base.StoreError` for an admin, so that a wrong owner or mode is
never mistaken for damage (and never answered with "restore from a backup", which would lose
the records saved since).
"""

from __future__ import annotations

import errno
from pathlib import Path

from consent_records.base import StoreCorrupt, StoreError, StoreUnavailable
from consent_records.store.layout import FileRefused, access_problem
from consent_records.store.lock import LockTimeout

RESTORE_HINT = (
    "Stop the kiosk, keep this directory as it is for investigation, restore the data "
    "directory from the latest backup and run `ims-kiosk verify` (see docs/storage.md)."
)
INDEX_HINT = (
    "The index is only a cache: stop every kiosk and staff session and run "
    "`ims-kiosk reindex` to rebuild it from the entry files (see docs/storage.md)."
)


def refused(exc: FileRefused) -> StoreCorrupt:
    return StoreCorrupt(f"{exc.sentence()}. Nothing was changed.", path=exc.path)


def unavailable(
    root: Path, exc: BaseException, doing: str, *, path: Path | str | None = None
) -> StoreError:
    """An admin-facing error for an OSError, a refused file or a lock timeout."""
    if isinstance(exc, FileRefused):
        return refused(exc)
    if isinstance(exc, LockTimeout):
        who = exc.holder or "another program"
        return StoreUnavailable(
            f"The consent record store at {root} stayed locked by {who} while {doing}; "
            "nothing was stored. Another kiosk, staff session, backup or reindex holds it: "
            "wait for it to finish, or check that it is not stuck (for example with "
            "`ps -fp PID`), then try again."
        )
    code = exc.errno if isinstance(exc, OSError) else None
    where = path if path is not None else (exc.filename if isinstance(exc, OSError) else None)
    if code in (errno.EACCES, errno.EPERM):
        problem = access_problem(where, write=True) if where else None
        if problem is None:
            problem = access_problem(root, write=True)
        if problem is not None:
            return StoreUnavailable(f"{problem} (while {doing}; nothing was stored)")
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


def unreadable(root: Path, path: Path | str, exc: OSError) -> StoreError:
    """An error for a store file that exists but cannot be read (not damage)."""
    if isinstance(exc, FileRefused):
        return refused(exc)
    if exc.errno in (errno.EACCES, errno.EPERM):
        problem = access_problem(path)
        if problem is not None:
            return StoreUnavailable(problem)
    reason = exc.strerror or str(exc)
    return StoreUnavailable(
        f"{path} cannot be read ({reason}). Check the disk and the file's owner and mode; "
        "nothing was changed."
    )
