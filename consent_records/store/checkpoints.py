"""``checkpoints.jsonl``: the signed checkpoints of a chain, one canonical JSON line each.

Appended (``O_APPEND``, fsynced) and never rewritten, apart from the entries: deleting the
entries and the index leaves the checkpoints that say how long the chain was. Signatures
are made and checked by :mod:`consent_records.keys` (``cryptography``, imported only then).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from pydantic import ValidationError

from consent_records.base import Checkpoint, StoreCorrupt
from consent_records.chain import canonical_json
from consent_records.storage import fsync_dir, write_all
from consent_records.store.layout import (
    FILE_MODE,
    MAX_CHECKPOINTS_BYTES,
    FileRefused,
    decode_json,
    read_file,
    refuse_special,
)


def checkpoint_line(checkpoint: Checkpoint) -> bytes:
    return canonical_json(checkpoint.model_dump()) + b"\n"


def parse_checkpoints(blob: bytes, path: os.PathLike[str] | str) -> list[Checkpoint]:
    """The checkpoints in a checkpoints file's bytes; StoreCorrupt naming a bad line."""
    found: list[Checkpoint] = []
    lines = blob.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for number, raw in enumerate(lines, 1):
        try:
            found.append(Checkpoint.model_validate(decode_json(raw)))
        except (ValueError, ValidationError):
            raise StoreCorrupt(
                f"{path}: line {number} is not a checkpoint (damaged or changed). Keep the "
                "file for investigation; see docs/storage.md.",
                path=Path(path),
            ) from None
    return found


def read_checkpoints(path: os.PathLike[str] | str) -> list[Checkpoint]:
    try:
        blob = read_file(path, MAX_CHECKPOINTS_BYTES)
    except FileNotFoundError:
        return []
    except FileRefused as exc:
        raise StoreCorrupt(f"{exc.sentence()}. Nothing was changed.", path=exc.path) from None
    return parse_checkpoints(blob, path)


def append_checkpoint(path: os.PathLike[str] | str, checkpoint: Checkpoint) -> None:
    """Append one checkpoint durably (the file is created owner-only)."""
    fd = os.open(
        path,
        os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
        FILE_MODE,
    )
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise refuse_special(path, info.st_mode)
        if info.st_size:
            os.lseek(fd, -1, os.SEEK_END)
            if os.read(fd, 1) != b"\n":
                raise StoreCorrupt(
                    f"{path}: its last line is incomplete (damaged or changed); no checkpoint "
                    "was added. Keep the file for investigation; see docs/storage.md."
                )
        write_all(fd, checkpoint_line(checkpoint))
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(os.path.dirname(os.fspath(path)) or ".")
