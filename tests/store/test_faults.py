"""I/O faults and crashes at every file system call; full disk; read-only data directory."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from consent_records.base import StoreError, StoreUnavailable
from consent_records.model import EventKind
from consent_records.store import TinyDBStore, open_store

from .conftest import CONTENT_JSON, CONTENT_SHA, make_event, make_record, open_new
from .harness import SimulatedCrash, inject, state_of, temp_files

NEW_RECORD = make_record(100)
BASE_RECORDS = [make_record(n) for n in range(3)]
NEW_EVENT = make_event(BASE_RECORDS[1].id, EventKind.COUNTERSIGNED, 7)

Op = Callable[[TinyDBStore], Any]
OPS: dict[str, tuple[Op, Callable[[dict[str, list[str]]], dict[str, list[str]]]]] = {
    "save_record": (
        lambda s: s.save_record(NEW_RECORD),
        lambda before: {**before, NEW_RECORD.id: []},
    ),
    "append_event": (
        lambda s: s.append_event(NEW_EVENT),
        lambda before: {
            **before,
            NEW_EVENT.record_id: [*before[NEW_EVENT.record_id], NEW_EVENT.id],
        },
    ),
}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with three records and an event, built once and copied for each case."""
    path = tmp_path_factory.mktemp("baseline") / "data"
    store = open_new(path)
    for record in BASE_RECORDS:
        store.save_record(record)
    store.append_event(make_event(BASE_RECORDS[0].id))
    store.close()
    return path


def _fresh(baseline: Path, target: Path) -> Path:
    shutil.copytree(baseline, target)
    return target


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO])
@pytest.mark.parametrize("op_name", list(OPS))
def test_fault_at_every_call(baseline: Path, tmp_path: Path, op_name: str, code: int) -> None:
    op, expected = OPS[op_name]
    before = state_of(baseline)
    after_ok = expected(before)
    outcomes: list[str] = []
    k = 0
    while True:
        k += 1
        data = _fresh(baseline, tmp_path / f"k{k}")
        store = open_store(data, lock_timeout=1)
        with inject(k, code=code) as fault:
            try:
                op(store)
                completed = True
            except StoreError as exc:
                completed = False
                assert os.strerror(code).lower()[:8] in str(exc).lower() or "full" in str(exc)
        store.close()
        state = state_of(data)  # opens afresh: must open, verify, and sweep temporaries
        assert state in (before, after_ok), f"mixed state after a fault at call {k}"
        if completed:
            assert state == after_ok, f"call {k}: completed but not stored"
        assert not temp_files(data)
        outcomes.append(f"{k}:{fault.fired_at or '-'}:{'ok' if completed else 'raised'}")
        if not fault.fired:
            assert completed
            break
        shutil.rmtree(data)
    assert k > 8, outcomes  # the save path really went through several calls


@pytest.mark.parametrize("op_name", list(OPS))
def test_crash_before_every_call(baseline: Path, tmp_path: Path, op_name: str) -> None:
    """Power cut / kill -9 just before each call: the store opens with the old or new state."""
    op, expected = OPS[op_name]
    before = state_of(baseline)
    after_ok = expected(before)
    k = 0
    seen_new = seen_old = 0
    while True:
        k += 1
        data = _fresh(baseline, tmp_path / f"k{k}")
        store = open_store(data, lock_timeout=1)
        crashed = tmp_path / f"crash{k}"
        with inject(k, crash_copy=(data, crashed)) as crash, contextlib.suppress(SimulatedCrash):
            op(store)
        store.close()
        if not crash.fired:
            assert state_of(data) == after_ok
            break
        state = state_of(crashed)
        assert state in (before, after_ok), f"mixed state after a crash before call {k}"
        seen_new += state == after_ok
        seen_old += state == before
        assert not temp_files(crashed)
        # The crashed store takes the next save and still verifies.
        reopened = open_store(crashed)
        reopened.save_record(make_record(200))
        assert reopened.verify().ok
        reopened.close()
        shutil.rmtree(data)
        shutil.rmtree(crashed)
    assert seen_old and seen_new


def test_fault_while_creating_a_store(tmp_path: Path) -> None:
    k = 0
    while True:
        k += 1
        data = tmp_path / f"k{k}"
        with inject(k, code=errno.EIO) as fault, contextlib.suppress(StoreError):
            open_store(data).close()
        store = open_new(data)
        store.save_record(make_record(1))
        assert store.verify().ok
        assert not temp_files(data)
        store.close()
        if not fault.fired:
            break


def test_fault_while_archiving_content(tmp_path: Path) -> None:
    k = 0
    while True:
        k += 1
        data = tmp_path / f"k{k}"
        open_store(data).close()
        store = open_store(data)
        with inject(k, code=errno.ENOSPC) as fault, contextlib.suppress(StoreUnavailable):
            store.archive_content(CONTENT_SHA, CONTENT_JSON)
        store.close()
        store = open_store(data)
        archived = store.archived_content(CONTENT_SHA)
        assert archived in (None, CONTENT_JSON)
        assert not temp_files(data)
        store.close()
        if not fault.fired:
            assert archived == CONTENT_JSON
            break


# ---------------------------------------------------------------- full disk / read-only


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str = "256k") -> Iterator[bool]:
    """Mount a small tmpfs at ``path`` when allowed (root); yield whether it is mounted."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = False
    if os.geteuid() == 0 and shutil.which("mount"):
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
            capture_output=True,
        )
        mounted = result.returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], check=False)


def _fill_until_full(store: TinyDBStore, limit: int) -> tuple[list[str], StoreUnavailable | None]:
    saved: list[str] = []
    for n in range(limit):
        record = make_record(1000 + n)
        try:
            store.save_record(record)
        except StoreUnavailable as exc:
            return saved, exc
        saved.append(record.id)
    return saved, None


def test_disk_full(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="consent_records.store")
    mountpoint = tmp_path / "small"
    with small_tmpfs(mountpoint) as mounted:
        data = mountpoint / "data"
        store = open_store(data)
        store.archive_content(CONTENT_SHA, CONTENT_JSON)
        if mounted:
            saved, error = _fill_until_full(store, 1000)
        else:  # no mount permission: the disk fills up after 20 records
            saved, _ = _fill_until_full(store, 20)
            full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            with mock.patch("os.write", side_effect=full):
                saved_more, error = _fill_until_full(store, 5)
            saved += saved_more
        assert error is not None, "the disk never filled up"
        assert "full" in str(error) and str(data) in str(error)
        assert any("full" in r.getMessage() for r in caplog.records)
        # Events also fail cleanly; what was stored before is intact.
        with contextlib.suppress(StoreUnavailable):
            for n in range(50):
                store.append_event(make_event(saved[0], n=n))
        store.close()
        assert not temp_files(data)
        state = state_of(data)
        assert set(saved) <= set(state)
        assert len(state) == len(saved)


def _remount_ro(path: Path) -> bool:
    result = subprocess.run(["mount", "-o", "remount,ro", str(path)], capture_output=True)
    return result.returncode == 0


def test_read_only_data_directory(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="consent_records.store")
    mountpoint = tmp_path / "ro"
    with small_tmpfs(mountpoint, "4m") as mounted:
        data = mountpoint / "data"
        store = open_new(data)
        ids = [store.save_record(make_record(n)).record.id for n in range(3)]
        store.close()
        patches: contextlib.ExitStack = contextlib.ExitStack()
        if mounted and _remount_ro(mountpoint):
            pass
        elif os.geteuid() != 0:
            for p in [data, *data.rglob("*")]:
                if p.is_dir():
                    p.chmod(0o555)
        else:  # root without mount permission: the kernel's answer, simulated
            real_open = os.open
            rofs = OSError(errno.EROFS, os.strerror(errno.EROFS))

            def ro_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
                if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                    raise rofs
                return real_open(path, flags, *args, **kwargs)

            patches.enter_context(mock.patch("os.open", ro_open))
            patches.enter_context(mock.patch("os.mkdir", side_effect=rofs))
        with patches:
            before = sorted(p.name for p in data.rglob("*"))
            store = open_store(data)
            assert store.count() == (3, 0)
            assert store.get(ids[0]).record.id == ids[0]
            assert store.verify().ok
            with pytest.raises(StoreUnavailable, match=r"read-only|permission"):
                store.save_record(make_record(9))
            with pytest.raises(StoreUnavailable):
                store.append_event(make_event(ids[0]))
            store.close()
            assert sorted(p.name for p in data.rglob("*")) == before
        assert any(r.levelno >= logging.ERROR for r in caplog.records)
        if not mounted and os.geteuid() != 0:
            for p in [data, *data.rglob("*")]:
                if p.is_dir():
                    p.chmod(0o755)
