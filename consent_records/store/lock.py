"""The store's one cross-process lock: an exclusive ``flock`` on ``<data dir>/.lock``.

This is the lock ``filelock.FileLock`` takes on Linux (an exclusive ``flock`` on the same
file), so every version of the kiosk excludes every other. It is taken here directly so that
the lock file is opened the way every other file in the data directory is: never through a
symbolic link, never a FIFO or device, owner-only. (filelock opens and may create the file
by path; a link planted in its place would be followed.)

Within one process the lock is re-entrant for the thread holding it and excludes other
threads (an ``RLock`` around the ``flock``), so one store object can serve a worker thread
and the main thread.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
import time
from collections.abc import Iterator

from consent_records.store.layout import FILE_MODE, open_regular


class LockTimeout(Exception):
    """The lock stayed held by someone else; ``holder`` describes them when known."""

    def __init__(self, holder: str | None) -> None:
        super().__init__(holder or "another process")
        self.holder = holder


def lock_holder(path: str) -> str | None:
    """Which process holds a ``flock`` on ``path``, from /proc/locks: ``process 123
    (ims-kiosk backup --out /media/usb)``, or None when that cannot be told."""
    try:
        info = os.stat(path, follow_symlinks=False)
        with open("/proc/locks", encoding="ascii", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    device = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    for line in lines:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (blocked waiters have "->").
        if "->" in fields or len(fields) < 6 or fields[1] != "FLOCK" or fields[5] != device:
            continue
        pid = fields[4]
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                raw = handle.read(4096)
        except OSError:
            return f"process {pid}"
        command = " ".join(
            part.decode("utf-8", "backslashreplace") for part in raw.split(b"\0") if part
        )
        command = "".join(ch if ch.isprintable() else "?" for ch in command)[:200]
        return f"process {pid} ({command})" if command else f"process {pid}"
    return None


class StoreLock:
    """``with lock.hold(write=...)``: the store's lock for one read-modify-write."""

    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._threads = threading.RLock()
        self._fd: int | None = None
        self._depth = 0

    def _open(self, *, create: bool) -> int | None:
        """The lock file's descriptor; None when it does not exist and ``create`` is false
        (a store no writer has opened yet) or cannot be opened for lack of permission by a
        reader (a copy on read-only media, or someone else's store read by an admin)."""
        flags = os.O_RDWR | (os.O_CREAT if create else 0)
        try:
            fd = open_regular(self.path, flags, FILE_MODE)
        except FileNotFoundError:
            if create:
                raise
            return None
        except OSError as exc:
            if create or exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise
            try:
                fd = open_regular(self.path)  # flock works on a read-only descriptor too
            except (FileNotFoundError, PermissionError):
                return None
        if create:
            with contextlib.suppress(OSError):
                info = os.fstat(fd)
                if info.st_mode & 0o777 != FILE_MODE and info.st_uid == os.geteuid():
                    os.fchmod(fd, FILE_MODE)
        return fd

    @contextlib.contextmanager
    def hold(self, *, create: bool = True) -> Iterator[bool]:
        """Hold the lock; yields False when a reader proceeds without it (see :meth:`_open`).

        Raises LockTimeout, FileRefused (the lock file is a link or special file) or OSError.
        """
        deadline = time.monotonic() + self.timeout
        if not self._threads.acquire(timeout=max(self.timeout, 0.0)):
            raise LockTimeout("another thread of this program")
        try:
            if self._depth:
                self._depth += 1
                try:
                    yield self._fd is not None
                finally:
                    self._depth -= 1
                return
            fd = self._fd
            if fd is None:
                fd = self._fd = self._open(create=create)
            if fd is None:
                self._depth = 1
                try:
                    yield False
                finally:
                    self._depth = 0
                    self._fd = None
                return
            self._flock(fd, deadline)
            self._depth = 1
            try:
                yield True
            finally:
                self._depth = 0
                with contextlib.suppress(OSError):
                    fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _flock(self, fd: int, deadline: float) -> None:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(lock_holder(self.path)) from None
                time.sleep(0.005)
                continue
            # The file we locked must still be the one at the path (it is never deleted,
            # but if someone did, the next holder would lock a new inode and not exclude us).
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path, follow_symlinks=False))
            except OSError:
                same = False
            if same:
                return
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            reopened = self._open(create=True)
            assert reopened is not None
            fd = self._fd = reopened

    def close(self) -> None:
        with self._threads:
            if self._fd is not None and not self._depth:
                with contextlib.suppress(OSError):
                    os.close(self._fd)
                self._fd = None
