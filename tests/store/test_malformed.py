"""Damaged store files: the store refuses to open, names the file, and never touches it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from consent_records.base import StoreCorrupt
from consent_records.store import entry_path, open_store

from .conftest import make_event, make_record, open_new


def _store(path: Path) -> Path:
    store = open_new(path)
    records = [store.save_record(make_record(n)).record for n in range(3)]
    store.append_event(make_event(records[0].id))
    store.save_record(make_record(3))  # entry 5: the newest
    store.close()
    return path


def _tinydb_doc(blob: bytes) -> dict:  # type: ignore[type-arg]
    return json.loads(blob)["entry"]["1"]  # type: ignore[no-any-return]


def _rehashless_change(blob: bytes) -> bytes:
    tables = json.loads(blob)
    tables["entry"]["1"]["data"]["kiosk_id"] = "kiosk-other"
    return json.dumps(tables).encode()


ENTRY_DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda blob: b"",
    "truncated": lambda blob: blob[: len(blob) // 2],
    "not JSON": lambda blob: b"\x00\x01garbage{",
    "not UTF-8": lambda blob: blob.replace(b"Synthetic", b"Synth\xfftic", 1),
    "wrong schema (not an entry)": lambda blob: b'{"_default": {"1": {"name": "x"}}}',
    "wrong schema (data)": lambda blob: json.dumps(
        {"entry": {"1": {**_tinydb_doc(blob), "data": {"hello": "world"}}}}
    ).encode(),
    "hash failure": _rehashless_change,
}


@pytest.mark.parametrize("damage", list(ENTRY_DAMAGE))
@pytest.mark.parametrize("which", ["newest", "middle"])
def test_damaged_entry(tmp_path: Path, damage: str, which: str) -> None:
    data = _store(tmp_path / "data")
    seq = 5 if which == "newest" else 2
    path = entry_path(data, seq)
    path.write_bytes(ENTRY_DAMAGE[damage](path.read_bytes()))
    before = path.read_bytes()
    stat = path.stat()
    with pytest.raises(StoreCorrupt) as caught:
        # The quick open checks the newest entry; the full check (and verify, and any read
        # of the entry) checks every one.
        open_store(data, full_check=which == "middle")
    error = caught.value
    assert error.path == path
    assert str(path) in str(error)
    assert "backup" in str(error) and "docs/storage.md" in str(error)
    assert path.read_bytes() == before
    assert path.stat().st_mtime_ns == stat.st_mtime_ns
    if which == "middle":
        store = open_store(data)
        report = store.verify()
        assert not report.ok and "entry 2 " in (report.problem or "")
        with pytest.raises(StoreCorrupt):
            store.get(_record_id_at(data, 2))
        assert path.read_bytes() == before


def _record_id_at(data: Path, seq: int) -> str:
    lines = (data / "index.jsonl").read_bytes().splitlines()
    return json.loads(lines[seq - 1])["id"]  # type: ignore[no-any-return]


MARKER_DAMAGE: dict[str, bytes] = {
    "empty": b"",
    "truncated": b'{"block":1000,"form',
    "not JSON": b"\xff\xfe\x00garbage",
    "wrong schema": b'{"format":"something-else","version":1}',
    "newer version": b'{"block":1000,"format":"ims-consent-kiosk-store","version":2}',
}


@pytest.mark.parametrize("damage", list(MARKER_DAMAGE))
def test_damaged_marker(tmp_path: Path, damage: str) -> None:
    data = _store(tmp_path / "data")
    marker = data / "store.json"
    marker.write_bytes(MARKER_DAMAGE[damage])
    with pytest.raises(StoreCorrupt) as caught:
        open_store(data)
    assert caught.value.path == marker
    assert marker.read_bytes() == MARKER_DAMAGE[damage]


def test_missing_marker_with_entries(tmp_path: Path) -> None:
    data = _store(tmp_path / "data")
    (data / "store.json").unlink()
    with pytest.raises(StoreCorrupt):
        open_store(data)
    assert not (data / "store.json").exists()


def _index_line(data: Path, n: int) -> dict:  # type: ignore[type-arg]
    return json.loads((data / "index.jsonl").read_bytes().splitlines()[n - 1])  # type: ignore[no-any-return]


INDEX_DAMAGE: dict[str, Callable[[list[bytes], Path], list[bytes]]] = {
    "not JSON": lambda lines, data: [lines[0], b"{{not json", *lines[2:]],
    "wrong schema": lambda lines, data: [lines[0], b'{"seq": 2}', *lines[2:]],
    "hash failure": lambda lines, data: [
        lines[0],
        json.dumps({**_index_line(data, 2), "sha256": "1" * 64}).encode(),
        *lines[2:],
    ],
    "reordered": lambda lines, data: [lines[1], lines[0], *lines[2:]],
}


@pytest.mark.parametrize("damage", list(INDEX_DAMAGE))
def test_damaged_index(tmp_path: Path, damage: str) -> None:
    data = _store(tmp_path / "data")
    index = data / "index.jsonl"
    lines = index.read_bytes().splitlines()
    blob = b"\n".join(INDEX_DAMAGE[damage](lines, data)) + b"\n"
    index.write_bytes(blob)
    with pytest.raises(StoreCorrupt) as caught:
        # The quick open decodes only the index's last line; the kiosk's start-up check
        # (full_check) decodes every line, as verify does.
        open_store(data, full_check=True)
    assert caught.value.path == index
    assert "index" in str(caught.value)
    assert index.read_bytes() == blob


def test_interrupted_index_append_is_caught_up(tmp_path: Path) -> None:
    """A torn last index line is what a crash mid-append leaves: the entry files decide."""
    data = _store(tmp_path / "data")
    index = data / "index.jsonl"
    blob = index.read_bytes()
    index.write_bytes(blob[:-40])
    store = open_store(data)
    assert store.count() == (4, 1)
    assert store.verify().ok
    assert index.read_bytes() == blob
