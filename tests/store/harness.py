"""Fault and crash injection for the store tests.

``inject(k, ...)`` patches ``os.open``, ``builtins.open``, ``os.write``, ``os.fsync`` and
``os.replace`` so that their k-th call (counted together) either raises an OSError (an I/O
fault) or copies the data directory as it is at that instant and raises
:class:`SimulatedCrash` (a crash just before that call: what kill -9 or a power cut would
leave, with everything before it on disk).
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from consent_records.storage import TEMP_PREFIX
from consent_records.store import TinyDBStore, open_store

PATCHED = ("open", "write", "fsync", "replace")


class SimulatedCrash(BaseException):
    """The process 'died' (BaseException, so the store's error handling does not catch it)."""


@dataclass
class Injection:
    k: int
    calls: int = 0
    fired: bool = False
    fired_at: str = ""
    snapshot: Path | None = None
    counts: dict[str, int] = field(default_factory=dict)


@contextlib.contextmanager
def inject(
    k: int,
    *,
    code: int = errno.EIO,
    crash_copy: tuple[Path, Path] | None = None,
) -> Iterator[Injection]:
    """Fail (or crash at) the k-th file system call inside the block; k=0 only counts calls."""
    state = Injection(k=k)
    originals: dict[str, Callable[..., Any]] = {
        "os.open": os.open,
        "builtins.open": builtins.open,
        "os.write": os.write,
        "os.fsync": os.fsync,
        "os.replace": os.replace,
    }
    busy = False

    def wrap(name: str) -> Callable[..., Any]:
        original = originals[name]

        def patched(*args: Any, **kwargs: Any) -> Any:
            nonlocal busy
            if busy:
                return original(*args, **kwargs)
            state.calls += 1
            state.counts[name] = state.counts.get(name, 0) + 1
            if state.calls == state.k and not state.fired:
                state.fired = True
                state.fired_at = name
                if crash_copy is not None:
                    source, target = crash_copy
                    busy = True
                    try:
                        shutil.copytree(source, target, symlinks=True)
                    finally:
                        busy = False
                    state.snapshot = target
                    raise SimulatedCrash(f"crash before call {k} ({name})")
                raise OSError(code, os.strerror(code))
            return original(*args, **kwargs)

        return patched

    with contextlib.ExitStack() as stack:
        for name in originals:
            stack.enter_context(mock.patch(name, wrap(name)))
        yield state


def state_of(data_dir: Path) -> dict[str, list[str]]:
    """What a freshly opened store holds: {record id: [event ids]} (checked to verify)."""
    store = open_store(data_dir, lock_timeout=5)
    try:
        report = store.verify()
        assert report.ok, report.problem
        result: dict[str, list[str]] = {}
        for summary in store.recent(limit=10**9):
            stored = store.get(summary.id)
            result[summary.id] = [e.event.id for e in stored.events]
        assert store.count() == (len(result), sum(len(v) for v in result.values()))
        return result
    finally:
        store.close()


def temp_files(data_dir: Path) -> list[Path]:
    return [p for p in data_dir.rglob(f"{TEMP_PREFIX}*")]


def reopen(store: TinyDBStore) -> TinyDBStore:
    store.close()
    return open_store(store.data_dir, lock_timeout=5)
