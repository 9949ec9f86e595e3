"""Where everything lives in a data directory, and the only way the store touches its files.

Layout (see docs/storage.md)::

    store.json                      marker: format name and version (checked on open)
    .lock                           the cross-process lock (flock; never deleted)
    index.jsonl                     one line per entry; a cache rebuilt from the entries
    checkpoints.jsonl               signed checkpoints of the chain (ims-kiosk checkpoint)
    entries/000000/000000001.json   entry 1: a one-document TinyDB database, written once
    entries/000001/000001000.json   ... 1,000 entries per directory
    content/<sha256>.json           write-once copies of the content patients were shown
    keys/                           the clinic's checkpoint key (ims-kiosk keys init)
    staff/credentials.json          staff password hashes (argon2id PHC strings; outside the
                                    chain, which holds a SHA-256 commitment to each)
    search/records.idx              the records browser's search index: patient names, so
                                    owner-only like the entries; a cache rebuilt from them
    logs/kiosk.log                  the kiosk's log (ids only, never names)

Everything inside the data directory is opened without following a symbolic link
(``O_NOFOLLOW``), without blocking on a FIFO (``O_NONBLOCK``), only if it is a regular file
(``fstat``), and never beyond a size cap: a link planted by the store's owner cannot make a
root-run command read or write another file, and a device or FIFO in place of a store file
gets a sentence instead of a hang or an exhausted memory. Folders are checked with
``lstat``. Files are created owner-only (0600) and folders 0700 whatever the umask.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pwd
import stat
from pathlib import Path

from consent_records.chain import canonical_json

FORMAT_NAME = "ims-consent-kiosk-store"
FORMAT_VERSION = 1
MARKER_NAME = "store.json"
INDEX_NAME = "index.jsonl"
CHECKPOINTS_NAME = "checkpoints.jsonl"
ENTRIES_DIR = "entries"
CONTENT_DIR = "content"
KEYS_DIR = "keys"
LOGS_DIR = "logs"
LOCK_NAME = ".lock"
STAFF_DIR = "staff"
CREDENTIALS_NAME = "staff/credentials.json"
SEARCH_DIR = "search"
SEARCH_INDEX_NAME = "search/records.idx"
ENTRY_TABLE = "entry"
BLOCK = 1000
"""Entries per directory under ``entries/``."""

FILE_MODE = 0o600
DIR_MODE = 0o700

MAX_MARKER_BYTES = 4096
MAX_ENTRY_BYTES = 32 * 2**20
"""Largest entry file read: a record at every model limit (200 strokes of 4,000 points) is
about 20 MiB of JSON; a typical one is 3 KB."""
MAX_CONTENT_BYTES = 16 * 2**20
MAX_INDEX_BYTES = 2**30
"""About three million entries."""
MAX_CHECKPOINTS_BYTES = 64 * 2**20
MAX_CREDENTIALS_BYTES = 16 * 2**20
MAX_SEARCH_INDEX_BYTES = 2**30

MARKER_BYTES = (
    canonical_json({"format": FORMAT_NAME, "version": FORMAT_VERSION, "block": BLOCK}) + b"\n"
)

_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def decode_json(blob: bytes) -> object:
    """JSON from a store file; ValueError for anything that is not JSON (including a
    nesting too deep to decode, which would otherwise be a RecursionError)."""
    import json

    try:
        return json.loads(blob.decode("utf-8"))
    except RecursionError:
        raise ValueError("it is nested too deeply") from None
    except UnicodeDecodeError:
        raise ValueError("it is not UTF-8 text") from None


def entry_path(root: Path, seq: int) -> Path:
    return root / ENTRIES_DIR / f"{seq // BLOCK:06d}" / f"{seq:09d}.json"


def entry_file(root: str, seq: int) -> str:
    """:func:`entry_path` as a string, without pathlib (on every save's path)."""
    return f"{root}{os.sep}{ENTRIES_DIR}{os.sep}{seq // BLOCK:06d}{os.sep}{seq:09d}.json"


def content_path(root: Path, sha256: str) -> Path:
    return root / CONTENT_DIR / f"{sha256}.json"


class FileRefused(OSError):
    """A path in the data directory that the store will not open; ``reason`` says why."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        super().__init__(errno.EPERM, reason, os.fspath(path))
        self.path = Path(path)
        self.reason = reason

    def sentence(self) -> str:
        return f"{self.path} {self.reason}"


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def refuse_special(path: str | os.PathLike[str], mode: int) -> FileRefused:
    what = _kind(mode)
    if what == "a symbolic link":
        reason = (
            "is a symbolic link; the store never follows links inside its data directory. "
            "Replace it with the real file (or remove it if it does not belong there)"
        )
    else:
        reason = f"is {what}, not a regular file; the store opens only regular files here"
    return FileRefused(path, reason)


def open_regular(path: str | os.PathLike[str], flags: int = _READ_FLAGS, mode: int = 0) -> int:
    """Open ``path`` (never through a symbolic link, never blocking on a FIFO) and check that
    it is a regular file; return the descriptor. Raises FileNotFoundError, FileRefused or
    OSError."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise refuse_special(path, stat.S_IFLNK) from None
        if exc.errno in (errno.ENXIO, errno.ENODEV):  # a socket or a device without a driver
            raise FileRefused(path, "is a special file, not a regular file") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise refuse_special(path, info.st_mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_capped(fd: int, limit: int, path: str | os.PathLike[str]) -> bytes:
    """Everything in ``fd`` (a regular file), refusing more than ``limit`` bytes."""
    size = os.fstat(fd).st_size
    too_big = FileRefused(path, f"is more than the {limit:,} bytes this file may hold")
    if size > limit:
        raise too_big
    chunks = []
    total = 0
    while True:
        # One read of the whole file in the usual case: a regular file returns fewer bytes
        # than asked for only at its end.
        wanted = min(max(size - total, 0) + 1, limit + 1 - total)
        chunk = os.read(fd, wanted)
        total += len(chunk)
        if total > limit:
            raise too_big
        chunks.append(chunk)
        if len(chunk) < wanted:
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_file(path: str | os.PathLike[str], limit: int) -> bytes:
    """A regular file's bytes (see :func:`open_regular`), at most ``limit`` of them."""
    fd = open_regular(path)
    try:
        return read_capped(fd, limit, path)
    finally:
        os.close(fd)


def check_dir(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a real folder, False if it does not exist; FileRefused if it is
    a symbolic link or anything else."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(info.st_mode):
        raise refuse_special(path, info.st_mode)
    return True


def make_dir(path: str | os.PathLike[str]) -> None:
    """Create a private folder (0700 whatever the umask); an existing real folder is fine."""
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        check_dir(path)
        return
    os.chmod(path, DIR_MODE, follow_symlinks=False)


def write_new_private(path: str | os.PathLike[str], data: bytes) -> None:
    """Create ``path`` (which must not exist: never through a link) owner-only and write it."""
    fd = os.open(
        path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE
    )
    try:
        os.fchmod(fd, FILE_MODE)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    os.close(fd)


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"user {uid}"


def current_user() -> str:
    return user_name(os.geteuid())


def access_problem(path: str | os.PathLike[str], *, write: bool = False) -> str | None:
    """Why the current user cannot read (or write) ``path``, with the command that fixes it;
    None when owner and mode look right. Never advises restoring a backup: the file is fine,
    only its owner or mode is wrong."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    me = os.geteuid()
    target = Path(path)
    kind = "folder" if stat.S_ISDIR(info.st_mode) else "file"
    mode = stat.S_IMODE(info.st_mode)
    want = DIR_MODE if kind == "folder" else FILE_MODE
    if info.st_uid != me and me != 0:
        owner = user_name(info.st_uid)
        return (
            f"The {kind} {target} belongs to {owner}, not to {current_user()} who runs this "
            f"command (it was probably written by a command run as {owner}). Fix its owner: "
            f"chown {current_user()} '{target}' (as root), then try again."
        )
    needed = {(True, True): 0o700, (True, False): 0o600, (False, True): 0o500}.get(
        (write, kind == "folder"), 0o400
    )
    if mode & needed != needed:
        return (
            f"The {kind} {target} has mode {mode:04o}, which does not let its owner "
            f"{'write' if write else 'read'} it. Fix it: chmod {want:o} '{target}', then try again."
        )
    return None
