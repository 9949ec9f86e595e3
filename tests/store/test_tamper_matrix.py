"""The tamper matrix: every attack is caught by verify, caught with an anchor, or listed in
docs/storage.md as out of reach.

Each case starts from the same small store: records and events in entries 1 to 8, a
checkpoint signed by the clinic's key at entry 6, a copy of the store taken then (the
"older copy"), and a high-water mark left by a verify after entry 8. Then it tampers, and
runs ``ims-kiosk verify`` at three levels:

1. alone (the hash chain, the content archive, the checkpoints stored with the chain);
2. with the high-water mark (kept apart from the data directory);
3. also with the checkpoint line written down at entry 6 (``--expect``).

The level that first reports it must be the one the case declares (0: none, out of reach).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from consent_records import keys
from consent_records.base import GENESIS_HASH
from consent_records.chain import encode_entry
from consent_records.model import EventKind
from consent_records.store import Row, entry_path, open_store
from consent_records.store.entries import entry_file_bytes
from kiosk.cli import main

from .conftest import CONTENT_JSON, CONTENT_SHA, make_event, make_record, open_new

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "synthetic test passphrase"


@dataclass
class Base:
    data: Path
    older: Path
    line: str
    """The checkpoint line written down at entry 6."""
    record_ids: list[str]


@pytest.fixture(autouse=True)
def _quick_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    # Quick for tests; each key file records the cost it was made with.
    monkeypatch.setattr(keys, "SCRYPT_N", 2**14)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    root = tmp_path_factory.mktemp("matrix")
    data = root / "data"
    store = open_new(data)
    ids = []
    for n in range(4):
        ids.append(store.save_record(make_record(n)).record.id)
    store.append_event(make_event(ids[0], EventKind.PDF_EXPORTED, 1))
    ids.append(store.save_record(make_record(4)).record.id)  # entry 6
    cost = keys.SCRYPT_N
    keys.SCRYPT_N = 2**14
    try:
        keys.create_key(data / "keys", PASSPHRASE)
    finally:
        keys.SCRYPT_N = cost
    signer = keys.unseal(data / "keys" / "checkpoint-key.json", PASSPHRASE)
    checkpoint = signer.sign(6, store.chain_head())
    store.add_checkpoint(checkpoint)
    store.close()
    shutil.copytree(data, root / "older", symlinks=True)
    store = open_store(data)
    store.append_event(make_event(ids[1], EventKind.COUNTERSIGNED, 2))  # entry 7
    ids.append(store.save_record(make_record(5)).record.id)  # entry 8
    store.close()
    return Base(data=data, older=root / "older", line=checkpoint.line(), record_ids=ids)


# -- tools of the trade ---------------------------------------------------------------


def _doc(data: Path, seq: int) -> dict[str, Any]:
    return json.loads(entry_path(data, seq).read_bytes())["entry"]["1"]  # type: ignore[no-any-return]


def _count(data: Path) -> int:
    return len(list((data / "entries").rglob("*.json")))


def _rewrite_index(data: Path) -> None:
    lines = []
    for seq in range(1, _count(data) + 1):
        doc = _doc(data, seq)
        row = Row.of(seq, doc["kind"], doc["prev_sha256"], doc["sha256"], doc["data"])
        lines.append(row.line())
    (data / "index.jsonl").write_bytes(b"".join(lines))


def rewrite_chain(
    data: Path, start: int, edit: Callable[[int, dict[str, Any]], None] | None = None
) -> None:
    """Re-hash entries ``start``.. (after ``edit`` changed their data) and rewrite the index,
    as someone with write access and the source code would."""
    total = _count(data)
    prev = _doc(data, start - 1)["sha256"] if start > 1 else GENESIS_HASH
    for seq in range(start, total + 1):
        doc = _doc(data, seq)
        if edit is not None:
            edit(seq, doc["data"])
        sha, blob = encode_entry(seq, doc["kind"], prev, doc["data"])
        entry_path(data, seq).write_bytes(entry_file_bytes(blob))
        prev = sha
    _rewrite_index(data)


def _edit_name(seq: int, data: dict[str, Any]) -> None:
    if seq == 2:
        data["patient"]["full_name"] = "Other Synthetic Name"


def _edit_actor(seq: int, data: dict[str, Any]) -> None:
    if seq == 7:
        data["actor"] = "someone-else"


def _rehash_single(data: Path, seq: int) -> None:
    """Edit one entry and recompute its own hash only (and its index line)."""
    doc = _doc(data, seq)
    _edit_name(seq, doc["data"])
    _, blob = encode_entry(seq, doc["kind"], doc["prev_sha256"], doc["data"])
    entry_path(data, seq).write_bytes(entry_file_bytes(blob))
    _reindex_line(data, seq, sha256=_doc(data, seq)["sha256"])


def _reindex_line(data: Path, seq: int, **change: object) -> None:
    lines = (data / "index.jsonl").read_bytes().splitlines(keepends=True)
    line = json.loads(lines[seq - 1])
    line.update(change)
    lines[seq - 1] = json.dumps(line, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    (data / "index.jsonl").write_bytes(b"".join(lines))


def _drop_newest(data: Path, keep: int) -> None:
    for seq in range(keep + 1, _count(data) + 1):
        entry_path(data, seq).unlink()
    lines = (data / "index.jsonl").read_bytes().splitlines(keepends=True)
    (data / "index.jsonl").write_bytes(b"".join(lines[:keep]))


def _delete_and_renumber(data: Path) -> None:
    entry_path(data, 4).unlink()
    for seq in range(4, 8):
        os.replace(entry_path(data, seq + 1), entry_path(data, seq))
    lines = (data / "index.jsonl").read_bytes().splitlines(keepends=True)
    del lines[3]
    (data / "index.jsonl").write_bytes(b"".join(lines))


def _swap(data: Path) -> None:
    a, b = entry_path(data, 2), entry_path(data, 3)
    blob_a, blob_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(blob_b)
    b.write_bytes(blob_a)


def _flip(data: Path, seq: int) -> None:
    path = entry_path(data, seq)
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 3] ^= 0x01
    path.write_bytes(bytes(blob))


def _resign(data: Path, key_dir: Path | None) -> None:
    """Sign a checkpoint at entry 6 of the chain as it is now, replacing the stored ones:
    with the store's own key (someone who has its passphrase), or with a new key put in its
    place (``key_dir`` None)."""
    passphrase = PASSPHRASE
    if key_dir is None:
        key_dir = data.parent / "attacker-keys"
        passphrase = "an attacker's passphrase"
        keys.create_key(key_dir, passphrase)
        for name in ("checkpoint-key.json", "checkpoint-key.pub"):
            shutil.copy(key_dir / name, data / "keys" / name)
    signer = keys.unseal(key_dir / "checkpoint-key.json", passphrase)
    checkpoint = signer.sign(6, _doc(data, 6)["sha256"])
    line = json.dumps(checkpoint.model_dump(), sort_keys=True, separators=(",", ":"))
    (data / "checkpoints.jsonl").write_text(line + "\n")


def _forge_withdrawal(data: Path, base: Base, at: int) -> None:
    """Insert a "withdrawn" event for record 1 as entry ``at`` and re-hash what follows."""
    total = _count(data)
    for seq in range(total, at - 1, -1):
        doc = _doc(data, seq)
        doc["seq"] = seq + 1
        entry_path(data, seq + 1).write_text(json.dumps({"entry": {"1": doc}}))
    forged = make_event(base.record_ids[0], EventKind.WITHDRAWN, 9).model_dump(mode="json")
    doc = {"seq": at, "kind": "event", "data": forged, "prev_sha256": "", "sha256": ""}
    entry_path(data, at).write_text(json.dumps({"entry": {"1": doc}}))
    rewrite_chain(data, at)


def _append_forged(data: Path, base: Base) -> None:
    total = _count(data)
    forged = make_event(base.record_ids[1], EventKind.WITHDRAWN, 11).model_dump(mode="json")
    _, blob = encode_entry(total + 1, "event", _doc(data, total)["sha256"], forged)
    entry_path(data, total + 1).write_bytes(entry_file_bytes(blob))
    _rewrite_index(data)


def _edit_high_water(state: Path, data: Path) -> None:
    """What someone who can also write the high-water mark does after rewriting."""
    path = state / "high-water.json"
    doc = json.loads(path.read_text())
    entry = doc["stores"][os.fspath(data.resolve())]
    total = _count(data)
    entry.update(seq=total, head=_doc(data, total)["sha256"])
    entry["key"] = json.loads((data / "keys" / "checkpoint-key.pub").read_text())["fingerprint"]
    path.write_text(json.dumps(doc))


def _symlink_entry(data: Path, seq: int) -> None:
    path = entry_path(data, seq)
    copy = data.parent / "elsewhere.json"
    copy.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(copy)


def _fifo_entry(data: Path, seq: int) -> None:
    path = entry_path(data, seq)
    path.unlink()
    os.mkfifo(path)


def _torn_after_delete(data: Path) -> None:
    entry_path(data, 8).unlink()
    blob = (data / "index.jsonl").read_bytes()
    (data / "index.jsonl").write_bytes(blob[:-40])


def _archive(data: Path) -> Path:
    return data / "content" / f"{CONTENT_SHA}.json"


def _rm_all(data: Path, *names: str) -> None:
    for name in names:
        path = data / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def _new_public_key(data: Path) -> None:
    keys.create_key(data.parent / "k2", "another passphrase 123")
    shutil.copy(data.parent / "k2" / "checkpoint-key.pub", data / "keys" / "checkpoint-key.pub")


def _older_copy(data: Path, base: Base) -> None:
    shutil.rmtree(data)
    shutil.copytree(base.older, data, symlinks=True)


Tamper = Callable[[Path, Base, Path], object]

# name -> (level that first catches it: 1 verify, 2 high-water mark, 3 --expect, 0 none)
CASES: dict[str, tuple[int, Tamper]] = {
    "flip-a-byte-in-a-record": (1, lambda d, b, s: _flip(d, 3)),
    "flip-a-byte-in-an-event": (1, lambda d, b, s: _flip(d, 5)),
    "truncate-an-entry": (
        1, lambda d, b, s: entry_path(d, 4).write_bytes(entry_path(d, 4).read_bytes()[:100])),
    "empty-an-entry": (1, lambda d, b, s: entry_path(d, 4).write_bytes(b"")),
    "delete-a-middle-entry": (1, lambda d, b, s: entry_path(d, 4).unlink()),
    "delete-a-middle-entry-and-renumber": (1, lambda d, b, s: _delete_and_renumber(d)),
    "swap-two-entries": (1, lambda d, b, s: _swap(d)),
    "edit-and-rehash-one-entry": (1, lambda d, b, s: _rehash_single(d, 2)),
    "change-an-index-line": (1, lambda d, b, s: _reindex_line(d, 3, reference="2222-2222")),
    "torn-index-line-of-a-deleted-entry": (1, lambda d, b, s: _torn_after_delete(d)),
    "entry-replaced-by-a-symlink": (1, lambda d, b, s: _symlink_entry(d, 3)),
    "entry-replaced-by-a-fifo": (1, lambda d, b, s: _fifo_entry(d, 3)),
    "change-the-content-archive": (
        1, lambda d, b, s: _archive(d).write_bytes(CONTENT_JSON.replace(b"risks", b"risky"))),
    "delete-the-content-archive": (1, lambda d, b, s: _archive(d).unlink()),
    "forge-a-withdrawal-in-the-middle": (1, lambda d, b, s: _forge_withdrawal(d, b, 3)),
    "rehash-the-whole-chain-after-an-edit": (1, lambda d, b, s: rewrite_chain(d, 2, _edit_name)),
    "cut-below-a-checkpoint": (1, lambda d, b, s: _drop_newest(d, 4)),
    "delete-entries-and-index": (1, lambda d, b, s: _rm_all(d, "entries", "index.jsonl")),
    "replace-the-public-key": (1, lambda d, b, s: _new_public_key(d)),
    "delete-the-newest-entries": (2, lambda d, b, s: _drop_newest(d, 6)),
    "restore-an-older-copy": (2, lambda d, b, s: _older_copy(d, b)),
    "delete-entries-index-and-checkpoints": (
        2, lambda d, b, s: _rm_all(d, "entries", "index.jsonl", "checkpoints.jsonl")),
    "delete-the-checkpoints": (2, lambda d, b, s: _rm_all(d, "checkpoints.jsonl")),
    "rehash-the-chain-and-drop-checkpoints": (
        2, lambda d, b, s: (rewrite_chain(d, 2, _edit_name), _rm_all(d, "checkpoints.jsonl"))),
    "rehash-the-chain-and-resign-with-a-new-key": (
        2, lambda d, b, s: (rewrite_chain(d, 2, _edit_name), _resign(d, None))),
    "rehash-resign-with-a-new-key-and-edit-the-mark": (3, lambda d, b, s: (
        rewrite_chain(d, 2, _edit_name), _resign(d, None), _edit_high_water(s, d))),
    "with-the-key-rehash-resign-and-edit-the-mark": (3, lambda d, b, s: (
        rewrite_chain(d, 2, _edit_name), _resign(d, d / "keys"), _edit_high_water(s, d))),
    "append-a-forged-withdrawal": (0, lambda d, b, s: _append_forged(d, b)),
    "rewrite-after-the-last-anchor-and-edit-the-mark": (
        0, lambda d, b, s: (rewrite_chain(d, 7, _edit_actor), _edit_high_water(s, d))),
}  # fmt: skip


def _verify(capsys: pytest.CaptureFixture[str], data: Path, *extra: str) -> tuple[int, str]:
    code = main(["verify", "--data-dir", str(data), *extra])
    out, err = capsys.readouterr()
    return code, out + err


@pytest.mark.parametrize("case", list(CASES))
def test_tamper_matrix(
    base: Base, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    level, tamper = CASES[case]
    data = tmp_path / "data"
    shutil.copytree(base.data, data, symlinks=True)
    state, no_state = tmp_path / "state", tmp_path / "no-state"
    code, output = _verify(capsys, data, "--state-dir", str(state))
    assert code == 0, output  # leaves the high-water mark at entry 8
    tamper(data, base, state)
    levels = [
        ("--state-dir", str(no_state)),
        ("--state-dir", str(state)),
        ("--state-dir", str(state), "--expect", base.line),
    ]
    caught = 0
    for number, extra in enumerate(levels, 1):
        code, output = _verify(capsys, data, *extra)
        assert "Traceback" not in output
        if code != 0:
            assert "Verification FAILED" in output or "cannot be opened safely" in output
            caught = number
            break
    assert caught == level, f"{case}: caught at level {caught}, expected {level}: {output}"


def test_every_case_is_in_the_documented_table() -> None:
    """docs/storage.md lists each case with what catches it (or that nothing can)."""
    docs = (ROOT / "docs" / "storage.md").read_text(encoding="utf-8")
    table = docs[docs.index("## Attacks and what catches them") :]
    words = {1: "verify", 2: "high-water mark", 3: "written-down checkpoint", 0: "out of reach"}
    for case, (level, _) in CASES.items():
        rows = [line for line in table.splitlines() if f"`{case}`" in line]
        assert rows, f"{case} is not in the table of docs/storage.md"
        assert words[level] in rows[0], f"{case}: the table should say {words[level]!r}"
