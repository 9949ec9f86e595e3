"""The store's public behaviour: save, read, events, uniqueness, archive, backup, logging."""

from __future__ import annotations

import ast
import hashlib
import json
import logging
from pathlib import Path

import pytest

from consent_records.base import (
    GENESIS_HASH,
    ConsentStore,
    RecordNotFound,
    StoreCorrupt,
    StoreError,
)
from consent_records.chain import canonical_json, entry_hash
from consent_records.model import EventKind, RecordStatus
from consent_records.store import TinyDBStore, entry_path, open_store

from .conftest import CONTENT_JSON, CONTENT_SHA, make_event, make_record, open_new

PACKAGE = Path(__file__).resolve().parents[2] / "consent_records"


def test_implements_the_protocol(store: TinyDBStore) -> None:
    assert isinstance(store, ConsentStore)


def test_empty_store(store: TinyDBStore) -> None:
    assert store.count() == (0, 0)
    assert store.chain_head() == GENESIS_HASH
    assert store.recent() == []
    report = store.verify()
    assert report.ok
    assert report.summary_line() == f"0 records, 0 events, chain head {GENESIS_HASH}"


def test_save_and_read_back(store: TinyDBStore) -> None:
    record = make_record(1)
    stored = store.save_record(record)
    assert stored.entry.seq == 1
    assert stored.entry.prev_sha256 == GENESIS_HASH
    assert stored.chain_head == stored.entry.sha256 == store.chain_head()
    assert stored.entry.sha256 == entry_hash(
        1, "record", GENESIS_HASH, record.model_dump(mode="json")
    )
    again = store.get(record.id)
    assert again.record == record
    assert again.entry == stored.entry
    assert store.find_reference(record.reference).record == record
    # Typed at the desk in lower case without the hyphen.
    assert store.find_reference(record.reference.lower().replace("-", "")).record == record
    assert store.reference_exists(record.reference)
    assert not store.reference_exists("2222-2222")


def test_events_fold_status_and_chain(store: TinyDBStore) -> None:
    record = make_record(0)  # decision agree
    first = store.save_record(record)
    assert first.record.status is RecordStatus.AWAITING_PHYSIOTHERAPIST
    event = store.append_event(make_event(record.id, EventKind.COUNTERSIGNED))
    assert event.entry.seq == 2
    assert event.entry.prev_sha256 == first.entry.sha256
    stored = store.get(record.id)
    assert stored.status is RecordStatus.CONSENTED
    assert [e.event.id for e in stored.events] == [event.event.id]
    assert stored.chain_head == event.entry.sha256
    store.append_event(make_event(record.id, EventKind.WITHDRAWN, 1))
    assert store.get(record.id).status is RecordStatus.WITHDRAWN
    assert store.recent()[0].status is RecordStatus.WITHDRAWN
    assert store.count() == (1, 2)


def test_event_for_unknown_record(store: TinyDBStore) -> None:
    with pytest.raises(RecordNotFound):
        store.append_event(make_event("f" * 32))
    assert store.count() == (0, 0)


def test_duplicates_refused(store: TinyDBStore) -> None:
    record = make_record(1)
    store.save_record(record)
    with pytest.raises(ValueError, match="id"):
        store.save_record(record)
    with pytest.raises(ValueError, match="reference"):
        store.save_record(make_record(2, reference=record.reference))
    event = make_event(record.id)
    store.append_event(event)
    with pytest.raises(ValueError):
        store.append_event(event)
    assert store.count() == (1, 1)


def test_not_found(store: TinyDBStore) -> None:
    with pytest.raises(RecordNotFound):
        store.get("a" * 32)
    with pytest.raises(RecordNotFound):
        store.find_reference("2345-6789")


def test_recent_is_newest_first_by_completion(store: TinyDBStore) -> None:
    records = [make_record(n) for n in (5, 1, 9, 3, 7)]
    for record in records:
        store.save_record(record)
    newest = store.recent(limit=3)
    assert [s.id for s in newest] == [
        r.id for r in sorted(records, key=lambda r: r.completed_at, reverse=True)[:3]
    ]
    assert newest[0].patient_name == records[2].patient.full_name
    assert store.recent(limit=0) == []


def test_other_process_writes_are_seen(store_dir: Path) -> None:
    a = open_new(store_dir)
    b = open_store(store_dir)
    ra, rb = make_record(1), make_record(2)
    a.save_record(ra)
    b.save_record(rb)  # b must see a's entry first, or it would fork the chain
    assert a.get(rb.id).entry.seq == 2
    assert a.count() == b.count() == (2, 0)
    assert a.chain_head() == b.chain_head()
    assert a.verify().ok


def test_reopen_keeps_everything(store_dir: Path) -> None:
    store = open_new(store_dir)
    ids = [store.save_record(make_record(n)).record.id for n in range(12)]
    store.append_event(make_event(ids[3]))
    head = store.chain_head()
    store.close()
    with pytest.raises(StoreError):
        store.count()
    again = open_store(store_dir)
    assert again.count() == (12, 1)
    assert again.chain_head() == head
    assert again.verify().ok


def test_archive_content(store: TinyDBStore, store_dir: Path) -> None:
    store.archive_content(CONTENT_SHA, CONTENT_JSON)
    store.archive_content(CONTENT_SHA, CONTENT_JSON)  # idempotent
    assert (store_dir / "content" / f"{CONTENT_SHA}.json").read_bytes() == CONTENT_JSON
    with pytest.raises(ValueError):
        store.archive_content("0" * 64, CONTENT_JSON)
    store.save_record(make_record(1))
    assert store.verify().ok


def test_missing_archive_is_not_tampering(store: TinyDBStore) -> None:
    store.save_record(make_record(1))
    assert store.verify().ok


def test_backup_and_restore(store: TinyDBStore, tmp_path: Path) -> None:
    store.archive_content(CONTENT_SHA, CONTENT_JSON)
    for n in range(5):
        stored = store.save_record(make_record(n))
    store.append_event(make_event(stored.record.id))
    out = tmp_path / "backup"
    report = store.backup(out)
    assert report.ok
    assert report.summary_line() == store.verify().summary_line()
    assert (out / "content" / f"{CONTENT_SHA}.json").exists()
    with pytest.raises(StoreError):
        store.backup(out)  # not empty
    # Restore: copy the backup into place and open it.
    restored = open_store(out)
    assert restored.count() == (5, 1)
    assert restored.chain_head() == store.chain_head()
    assert restored.verify().ok


def test_index_is_rebuilt_from_entries(store_dir: Path) -> None:
    store = open_new(store_dir)
    for n in range(7):
        store.save_record(make_record(n))
    head = store.chain_head()
    store.close()
    (store_dir / "index.jsonl").unlink()
    again = open_store(store_dir)
    assert again.count() == (7, 0)
    assert again.chain_head() == head
    assert len((store_dir / "index.jsonl").read_bytes().splitlines()) == 7


def test_entry_files_are_tinydb_databases(store: TinyDBStore, store_dir: Path) -> None:
    from tinydb import TinyDB

    record = make_record(1)
    store.save_record(record)
    with TinyDB(entry_path(store_dir, 1), access_mode="r") as db:
        doc = db.table("entry").get(doc_id=1)
    assert doc is not None
    assert doc["data"]["id"] == record.id
    # The file is the canonical JSON of the TinyDB database.
    blob = entry_path(store_dir, 1).read_bytes()
    assert blob == canonical_json(json.loads(blob))


def test_logs_have_ids_not_names(
    store: TinyDBStore, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    caplog.set_level(logging.DEBUG, logger="consent_records.store")
    record = make_record(4)
    store.save_record(record)

    def full(*args: object, **kwargs: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    second = make_record(5)
    with pytest.raises(StoreError, match="full"):
        store.save_record(second)
    monkeypatch.undo()
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures and second.id in failures[0].getMessage()
    text = "\n".join(r.getMessage() for r in caplog.records)
    for rec in (record, second):
        assert rec.patient.full_name not in text
        assert rec.patient.full_name.split()[0] not in text


def test_full_check_on_open(store_dir: Path) -> None:
    store = open_new(store_dir)
    for n in range(4):
        store.save_record(make_record(n))
    store.close()
    path = entry_path(store_dir, 2)
    path.write_bytes(path.read_bytes().replace(b"Synthetic Test Clinic", b"Synthetic Best Clinic"))
    open_store(store_dir).close()  # the quick open checks only the newest entry
    with pytest.raises(StoreCorrupt) as caught:
        open_store(store_dir, full_check=True)
    assert caught.value.path == path


def test_never_imports_textual() -> None:
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not any(n.split(".")[0] == "textual" for n in names), path


def test_archived_content_read_back(store: TinyDBStore, store_dir: Path) -> None:
    other = canonical_json({"sections": ["other"], "version": "test-2"})
    other_sha = hashlib.sha256(other).hexdigest()
    assert store.archived_content(other_sha) is None
    store.archive_content(other_sha, other)
    assert store.archived_content(other_sha) == other
    path = store_dir / "content" / f"{other_sha}.json"
    path.write_bytes(other + b" ")
    with pytest.raises(StoreCorrupt) as caught:
        store.archived_content(other_sha)
    assert caught.value.path == path


def test_a_record_needs_its_content_archived_first(store_dir: Path) -> None:
    """Verify requires every record's content in the archive, so a save without it is
    refused (the kiosk archives its content at start-up)."""
    bare = open_store(store_dir)
    with pytest.raises(ValueError, match="not archived"):
        bare.save_record(make_record(1))
    assert bare.count() == (0, 0)


def test_lock_timeout_is_unavailable(store_dir: Path) -> None:
    import filelock

    from consent_records.base import StoreUnavailable

    store = open_new(store_dir, lock_timeout=0.2)
    other = filelock.FileLock(str(store_dir / ".lock"))
    with other, pytest.raises(StoreUnavailable, match="locked"):
        store.save_record(make_record(1))
    store.save_record(make_record(1))
    assert store.count() == (1, 0)
