"""The save path's shortcuts: one JSON encoding per entry, the flock lock, the index stat.

Entry files must stay byte for byte what the store wrote before these (TinyDB's insert
through AtomicJSONStorage in canonical JSON), so that stores and backups written by earlier
versions verify, and hashes printed on PDFs match.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from datetime import date
from pathlib import Path
from typing import Any

import filelock
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tinydb import TinyDB
from tinydb.table import Document

from consent_records.base import StoreUnavailable
from consent_records.chain import canonical_json, encode_entry, entry_hash
from consent_records.model import EventKind, Patient
from consent_records.storage import AtomicJSONStorage
from consent_records.store import ENTRY_TABLE, TinyDBStore, entry_path, open_store
from consent_records.store.entries import JSON_KWARGS as _JSON_KWARGS

from .conftest import make_event, make_record, open_new

GENESIS = "0" * 64

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
json_objects = st.dictionaries(st.text(), json_values, max_size=6)


def _spec_doc(seq: int, kind: Any, prev: str, data: dict[str, Any]) -> tuple[str, bytes]:
    sha = entry_hash(seq, kind, prev, data)
    doc = {"seq": seq, "kind": kind, "prev_sha256": prev, "sha256": sha, "data": data}
    return sha, canonical_json(doc)


@settings(max_examples=300, deadline=None)
@given(
    data=json_objects,
    seq=st.integers(min_value=1, max_value=10**12),
    kind=st.sampled_from(["record", "event"]),
    prev=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
)
def test_encode_entry_is_entry_hash_and_canonical_json(
    data: dict[str, Any], seq: int, kind: Any, prev: str
) -> None:
    assert encode_entry(seq, kind, prev, data) == _spec_doc(seq, kind, prev, data)


@pytest.mark.parametrize("n", range(12))
def test_encode_entry_on_records_and_events(n: int) -> None:
    record = make_record(n).model_dump(mode="json")
    event = make_event("0" * 32, list(EventKind)[n % len(EventKind)], n).model_dump(mode="json")
    prev = hashlib.sha256(bytes([n])).hexdigest()
    assert encode_entry(n + 1, "record", prev, record) == _spec_doc(n + 1, "record", prev, record)
    assert encode_entry(n + 2, "event", prev, event) == _spec_doc(n + 2, "event", prev, event)


def test_encode_entry_refuses_what_has_no_canonical_form() -> None:
    with pytest.raises(ValueError):
        encode_entry(1, "record", GENESIS, {"x": math.nan})
    with pytest.raises(TypeError):
        encode_entry(1, "record", GENESIS, {"x": object()})
    with pytest.raises(TypeError):
        encode_entry(True, "record", GENESIS, {})
    with pytest.raises(TypeError):
        encode_entry(1, "record", GENESIS, [])  # type: ignore[arg-type]


def test_entry_file_is_what_tinydb_writes(
    store: TinyDBStore, store_dir: Path, tmp_path: Path
) -> None:
    record = make_record(3)
    store.save_record(record)
    store.append_event(make_event(record.id, EventKind.NOTE, 1, note="Ünïcode ✓ \u2028 note"))
    for seq in (1, 2):
        written = entry_path(store_dir, seq).read_bytes()
        doc = json.loads(written)[ENTRY_TABLE]["1"]
        # What the store wrote before: TinyDB's insert through AtomicJSONStorage.
        legacy = tmp_path / f"legacy-{seq}.json"
        db = TinyDB(legacy, storage=AtomicJSONStorage, create=False, **_JSON_KWARGS)
        try:
            db.table(ENTRY_TABLE, cache_size=0).insert(Document(doc, doc_id=1))
        finally:
            db.close()
        assert written == legacy.read_bytes()


def test_on_disk_format_unchanged(store: TinyDBStore, store_dir: Path) -> None:
    """SHA-256 of entry files as the store wrote them before the single-encoding save path."""
    first = make_record(0, id="0123456789abcdef0123456789abcdef", reference="FGQS-NTJP")
    second = make_record(
        7,
        id="fedcba9876543210fedcba9876543210",
        reference="S5JP-EX2A",
        patient=Patient(
            full_name='Zoë Ñandú-测试 "quoted" \\ back',
            date_of_birth=date(1970, 5, 6),
            chart_number="T-000007",
            age_years=55,
        ),
    )
    store.save_record(first)
    store.save_record(second)
    store.append_event(
        make_event(
            first.id,
            EventKind.NOTE,
            1,
            id="00000000000000000000000000000abc",
            note="Note with ✓ and \u2028 line sep",
        )
    )
    files = {
        n: hashlib.sha256(entry_path(store_dir, n).read_bytes()).hexdigest() for n in (1, 2, 3)
    }
    assert files == {
        1: "f99c26258192f7f61d824baac25662b68e99b9ed3673c07a9c7fdaab9b2714f1",
        2: "b3c1df493446af45fd6dc599f5b93189a3938545c16fffc7eca76d7a1ca1f93b",
        3: "a84bde8edb46c9d3f28c4e65856b90e5c7a2841518cd0c2d9131e03eb6ee83fd",
    }
    assert store.chain_head() == "b428eaca9f6c64f5ca14a49785e095d876ce0a9c986d737607ddf7ea25cf0a47"
    assert store.verify().ok


# ----------------------------------------------------------------- the lock


def test_store_lock_excludes_filelock(store: TinyDBStore, store_dir: Path) -> None:
    other = filelock.FileLock(str(store_dir / ".lock"), timeout=0.1)
    with store._locked(write=True), pytest.raises(filelock.Timeout):
        other.acquire()
    with other:
        pass


def test_store_lock_excludes_another_store_in_this_process(store_dir: Path) -> None:
    first = open_new(store_dir, lock_timeout=5)
    second = open_store(store_dir, lock_timeout=0.2)
    with first._locked(write=True), pytest.raises(StoreUnavailable, match="locked"):
        second.save_record(make_record(1))
    second.save_record(make_record(1))
    assert first.count() == (1, 0)


def test_store_lock_is_reentrant_and_excludes_other_threads(store_dir: Path) -> None:
    store = open_new(store_dir, lock_timeout=0.2)
    failures: list[BaseException] = []

    def save() -> None:
        try:
            store.save_record(make_record(2))
        except BaseException as exc:
            failures.append(exc)

    with store._locked(write=True), store._locked(write=True):
        thread = threading.Thread(target=save)
        thread.start()
        thread.join()
    assert len(failures) == 1 and isinstance(failures[0], StoreUnavailable)
    save()  # the lock was released once, fully
    assert len(failures) == 1
    assert store.count() == (1, 0)


def test_threads_saving_through_one_store(store: TinyDBStore) -> None:
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for n in range(offset, offset + 15):
                stored = store.save_record(make_record(n))
                store.append_event(make_event(stored.record.id, EventKind.NOTE, n))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(100 * t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.count() == (60, 60)
    report = store.verify()
    assert report.ok, report.problem


# ----------------------------------------------------------------- the index


def test_two_stores_see_each_others_saves(store_dir: Path) -> None:
    first = open_new(store_dir, lock_timeout=5)
    second = open_store(store_dir, lock_timeout=5)
    for n in range(6):
        (first if n % 2 else second).save_record(make_record(n))
        assert first.count() == second.count() == (n + 1, 0)
        assert first.chain_head() == second.chain_head()


def test_index_replaced_while_open_is_read_again(store_dir: Path) -> None:
    first = open_new(store_dir, lock_timeout=5)
    for n in range(3):
        first.save_record(make_record(n))
    # An index rebuilt by another process: a new file with the same content.
    index = store_dir / "index.jsonl"
    blob = index.read_bytes()
    index.unlink()
    (store_dir / "rebuilt").write_bytes(blob)
    (store_dir / "rebuilt").replace(index)
    assert first.count() == (3, 0)
    first.save_record(make_record(3))
    assert open_store(store_dir).count() == (4, 0)
    assert first.verify().ok
