"""Tampering: verify names the first entry that was changed, removed or reordered."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from consent_records.base import StoreCorrupt
from consent_records.chain import entry_hash
from consent_records.store import TinyDBStore, entry_path, open_store

from .conftest import CONTENT_JSON, CONTENT_SHA, make_event, make_record


@pytest.fixture
def filled(tmp_path: Path) -> tuple[TinyDBStore, Path, list[str]]:
    """Entries 1..8: records r0 r1 r2, event on r0, records r3 r4, event on r2, record r5."""
    data = tmp_path / "data"
    store = open_store(data)
    store.archive_content(CONTENT_SHA, CONTENT_JSON)
    ids: list[str] = []
    for n in range(3):
        ids.append(store.save_record(make_record(n)).record.id)
    ids.append(store.append_event(make_event(ids[0])).event.id)
    for n in range(3, 5):
        ids.append(store.save_record(make_record(n)).record.id)
    ids.append(store.append_event(make_event(ids[2], n=1)).event.id)
    ids.append(store.save_record(make_record(5)).record.id)
    assert store.verify().ok
    return store, data, ids  # ids[i] is the id of entry i + 1


def _problem(store: TinyDBStore) -> str:
    report = store.verify()
    assert not report.ok
    return report.problem or ""


def test_summary_line(filled: tuple[TinyDBStore, Path, list[str]]) -> None:
    store, _, _ = filled
    report = store.verify()
    assert report.summary_line() == f"6 records, 2 events, chain head {store.chain_head()}"


@pytest.mark.parametrize("offset", [0.3, 0.5, 0.8])
def test_flip_a_byte(filled: tuple[TinyDBStore, Path, list[str]], offset: float) -> None:
    store, data, ids = filled
    path = entry_path(data, 3)
    blob = bytearray(path.read_bytes())
    at = int(len(blob) * offset)
    blob[at] ^= 0x01
    path.write_bytes(bytes(blob))
    problem = _problem(store)
    assert problem.startswith(f"entry 3 (record {ids[2]})"), problem
    # A fresh process sees it too.
    assert f"entry 3 (record {ids[2]})" in (open_store(data).verify().problem or "")


def test_flip_a_byte_in_an_event(filled: tuple[TinyDBStore, Path, list[str]]) -> None:
    store, data, ids = filled
    path = entry_path(data, 4)
    path.write_bytes(path.read_bytes().replace(b"Synthetic note", b"Synthetic nose"))
    assert _problem(store).startswith(f"entry 4 (event {ids[3]})")


def test_delete_one(filled: tuple[TinyDBStore, Path, list[str]]) -> None:
    store, data, ids = filled
    entry_path(data, 5).unlink()
    problem = _problem(store)
    assert problem.startswith(f"entry 5 (record {ids[4]})") and "removed" in problem


def test_delete_one_and_its_index_line(filled: tuple[TinyDBStore, Path, list[str]]) -> None:
    """Removing an entry cleanly (its index line too, later files renumbered) still shows."""
    store, data, _ = filled
    store.close()
    for seq in range(5, 8):
        os.replace(entry_path(data, seq + 1), entry_path(data, seq))
    lines = (data / "index.jsonl").read_bytes().splitlines()
    del lines[4]
    (data / "index.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(StoreCorrupt) as caught:
        open_store(data, full_check=True)
    # The last index line no longer matches its position (the quick open sees it at once).
    assert "line 7 of the index (entry 7) is not valid" in str(caught.value)


def test_swap_two(filled: tuple[TinyDBStore, Path, list[str]]) -> None:
    store, data, ids = filled
    a, b = entry_path(data, 2), entry_path(data, 6)
    blob_a, blob_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(blob_b)
    b.write_bytes(blob_a)
    problem = _problem(store)
    assert problem.startswith(f"entry 2 (record {ids[1]})") and "reordered" in problem


def test_rewritten_with_a_fresh_hash(filled: tuple[TinyDBStore, Path, list[str]]) -> None:
    """Changing a record and recomputing its own hash breaks the link to the next entry."""
    store, data, ids = filled
    path = entry_path(data, 3)
    tables = json.loads(path.read_bytes())
    doc = tables["entry"]["1"]
    doc["data"]["patient"]["full_name"] = "Other Synthetic Name"
    doc["sha256"] = entry_hash(doc["seq"], doc["kind"], doc["prev_sha256"], doc["data"])
    path.write_text(json.dumps(tables))
    assert _problem(store).startswith(f"entry 3 (record {ids[2]})")
    # Even with the index line rewritten to match, the next entry no longer follows.
    lines = (data / "index.jsonl").read_bytes().splitlines()
    line = json.loads(lines[2])
    line["sha256"] = doc["sha256"]
    lines[2] = json.dumps(line).encode()
    (data / "index.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    assert _problem(store).startswith(f"entry 4 (event {ids[3]})")
    with pytest.raises(StoreCorrupt) as caught:
        open_store(data, full_check=True)
    assert "entry 4" in str(caught.value)


def test_changed_content_archive(filled: tuple[TinyDBStore, Path, list[str]]) -> None:
    store, data, ids = filled
    path = data / "content" / f"{CONTENT_SHA}.json"
    path.write_bytes(CONTENT_JSON.replace(b"risks", b"risky"))
    problem = _problem(store)
    assert str(path) in problem and f"entry 1 (record {ids[0]})" in problem


def test_removed_last_entry(filled: tuple[TinyDBStore, Path, list[str]]) -> None:
    store, data, ids = filled
    entry_path(data, 8).unlink()
    assert _problem(store).startswith(f"entry 8 (record {ids[7]})")
