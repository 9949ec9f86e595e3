"""Crash-safe file writes and an atomic TinyDB Storage.

TinyDB's stock ``JSONStorage`` rewrites its file in place (seek, write, truncate): a crash or
a full disk in the middle leaves a file that no longer parses. :class:`AtomicJSONStorage`
behaves like ``JSONStorage`` (same arguments, same file format, same errors) but every write
serialises first, writes a temporary file in the same directory, fsyncs it, renames it over
the target with ``os.replace`` and fsyncs the directory. A reader therefore always sees the
old file or the new one, never a mix.

All file system calls go through the ``os`` module (``os.open``, ``os.write``, ``os.fsync``,
``os.replace``) so tests can inject faults at each of them.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import warnings
from pathlib import Path
from typing import Any

from tinydb.storages import Storage

TEMP_PREFIX = ".tmp-"
"""Every temporary file starts with this; :func:`sweep_temp_files` removes leftovers."""

_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def fsync_dir(directory: Path | str) -> None:
    """Make a rename or a new file in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, blob: bytes) -> None:
    """``os.write`` until every byte is written (a short write is not an error)."""
    view = memoryview(blob)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def atomic_write_bytes(path: Path | str, blob: bytes, *, mode: int = 0o600) -> None:
    """Replace ``path`` with ``blob`` atomically and durably.

    On any failure the temporary file is removed and the error propagates; ``path`` then
    holds its old content (or, if only the final directory fsync failed, the new content,
    which may not survive a power cut: the caller decides whether to undo it).
    """
    # os.path on strings rather than pathlib: this is on every save's path.
    directory, name = os.path.split(os.fspath(path))
    directory = directory or os.curdir
    tmp = os.path.join(directory, f"{TEMP_PREFIX}{name}.{secrets.token_hex(6)}")
    fd = os.open(tmp, _TEMP_FLAGS, mode)
    try:
        try:
            write_all(fd, blob)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


def sweep_temp_files(directory: Path) -> list[Path]:
    """Remove temporary files a crashed writer left in ``directory``; return what was removed.

    Call only while holding the store's lock (no writer can be using them then).
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return removed
    for entry in entries:
        if entry.name.startswith(TEMP_PREFIX) and entry.is_file(follow_symlinks=False):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


class _HandleState:
    """Stands in for ``JSONStorage._handle``: only whether the storage was closed."""

    closed = False


class AtomicJSONStorage(Storage):
    """A drop-in replacement for TinyDB's ``JSONStorage`` whose writes are atomic.

    Arguments are those of ``JSONStorage`` (``path``, ``create_dirs``, ``encoding``,
    ``access_mode``, and ``**kwargs`` passed to ``json.dumps``), plus ``create``: when false
    the file is not created empty on open (the first :meth:`write` creates it atomically),
    so a crash can never leave an empty file behind.

    The file is re-read on every :meth:`read` (no handle is kept open: each write puts a new
    inode in place), so several processes can share a file as long as they hold one lock
    across each read-modify-write.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        create_dirs: bool = False,
        encoding: str | None = None,
        access_mode: str = "r+",
        *,
        create: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self._path = Path(path)
        self._mode = access_mode
        self._encoding = encoding
        self.kwargs = kwargs
        if access_mode not in ("r", "rb", "r+", "rb+"):
            warnings.warn(
                "Using an `access_mode` other than 'r', 'rb', 'r+' or 'rb+' can cause data "
                "loss or corruption",
                stacklevel=2,
            )
        self._writable = any(ch in access_mode for ch in "+wa")
        # JSONStorage keeps a file handle open; this storage opens the file per call and
        # keeps only its closed state, under the same name (TinyDB's tests look at it).
        self._handle = _HandleState()
        if self._writable:
            if create_dirs:
                self._path.parent.mkdir(parents=True, exist_ok=True)
            if create and not self._path.exists():
                # Like JSONStorage, an empty file is a valid empty database.
                atomic_write_bytes(self._path, b"")
            elif not self._path.parent.is_dir():
                raise FileNotFoundError(f"No such directory: {self._path.parent}")
        elif not self._path.exists():
            raise FileNotFoundError(f"No such file: {self._path}")

    @property
    def path(self) -> Path:
        return self._path

    def close(self) -> None:
        self._handle.closed = True

    def _check_open(self) -> None:
        if self._handle.closed:
            raise ValueError(f"I/O operation on closed storage {self._path}")

    def read_bytes(self) -> bytes | None:
        """The file's bytes, or None when it does not exist."""
        self._check_open()
        try:
            with open(self._path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def read(self) -> dict[str, dict[str, Any]] | None:
        blob = self.read_bytes()
        if not blob:
            return None
        text = blob.decode(self._encoding or "utf-8")
        data: dict[str, dict[str, Any]] = json.loads(text)
        return data

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        self._check_open()
        if not self._writable:
            raise OSError(f'Cannot write to the database. Access mode is "{self._mode}"')
        # Serialise first: an unserialisable value raises before anything touches the disk.
        serialized = json.dumps(data, **self.kwargs)
        atomic_write_bytes(self._path, serialized.encode(self._encoding or "utf-8"))
