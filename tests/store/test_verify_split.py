"""A long chain is verified in two halves on two cores (consent_records.store.verify,
_split_entries). Every attack of the tamper matrix, and problems placed on either side of the
split, must give exactly the same result, in the same words, as a walk from entry 1."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from consent_records.chain import encode_entry
from consent_records.store import entry_path, open_store
from consent_records.store import verify as verify_module
from consent_records.store.entries import entry_file_bytes
from kiosk.cli import main

from .conftest import make_event, make_record, open_new
from .test_tamper_matrix import (  # noqa: F401  (fixtures)
    CASES,
    Base,
    _doc,
    _quick_keys,
    base,
    rewrite_chain,
)


def _run(capsys: pytest.CaptureFixture[str], data: Path, *extra: str) -> tuple[int, str]:
    code = main(["verify", "--data-dir", str(data), *extra])
    out, err = capsys.readouterr()
    return code, out + err


# Attacks on entries in either half of the 8-entry chain (split after entry 4), and on the
# links and ids across the split; the rest of the matrix does not reach the walk differently.
WALKED = [
    "flip-a-byte-in-a-record",
    "flip-a-byte-in-an-event",
    "delete-a-middle-entry-and-renumber",
    "swap-two-entries",
    "change-an-index-line",
    "torn-index-line-of-a-deleted-entry",
    "entry-replaced-by-a-fifo",
    "forge-a-withdrawal-in-the-middle",
    "rehash-the-whole-chain-after-an-edit",
    "delete-the-newest-entries",
    "append-a-forged-withdrawal",
]


def _words(output: str, root: Path) -> str:
    """Tampering makes fresh ids, hashes and times in each copy; the words must be the same."""
    text = re.sub(r"[0-9a-f]{20,}|[0-9a-f]{8}-[0-9a-f-]{27}|\d{4}-\d\d-\d\dT[\d:]{8}Z", "X", output)
    return text.replace(str(root), "ROOT")


@pytest.mark.parametrize("case", WALKED)
def test_split_walk_reports_what_the_whole_walk_reports(
    base: Base,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    case: str,
) -> None:
    _level, tamper = CASES[case]
    results = []
    for split in (False, True):
        # Each way on its own copy, tampered alike: a verify that passes, run by the store's
        # owner, adds an entry to the store's audit log.
        root = tmp_path / ("split" if split else "whole")
        data, state = root / "data", root / "state"
        shutil.copytree(base.data, data, symlinks=True)
        assert _run(capsys, data, "--state-dir", str(state))[0] == 0
        tamper(data, base, state)
        monkeypatch.setattr(verify_module, "_split_worthwhile", lambda total, s=split: s)
        outputs = []
        for extra in (
            ("--state-dir", str(root / "none")),
            ("--state-dir", str(state), "--expect", base.line),
        ):
            code, output = _run(capsys, data, *extra)
            outputs.append((code, _words(output, root)))
        results.append(outputs)
    assert results[1] == results[0]


def test_split_walk_across_the_middle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Events for records in the other half, and an id repeated across the halves."""
    data = tmp_path / "data"
    store = open_new(data)
    ids = [store.save_record(make_record(n)).record.id for n in range(6)]
    for n, record_id in enumerate(ids):  # entries 7..12: each event's record in half one
        store.append_event(make_event(record_id, n=n))
    store.close()
    monkeypatch.setattr(verify_module, "_split_worthwhile", lambda total: True)
    walked_by = tmp_path / "walked-by"
    real_part = verify_module._walk_part

    def part(walk: object, first: int) -> object:
        with open(walked_by, "a") as handle:
            handle.write(f"{os.getpid()}\n")
        return real_part(walk, first)  # type: ignore[arg-type]

    monkeypatch.setattr(verify_module, "_walk_part", part)
    split = open_store(data, read_only=True)
    whole_report = None
    try:
        report = split.verify()
        monkeypatch.setattr(verify_module, "_split_worthwhile", lambda total: False)
        whole_report = split.verify()
    finally:
        split.close()
    assert report.ok and report == whole_report
    assert walked_by.read_text().split() != [str(os.getpid())], "the second half was not forked"
    assert walked_by.read_text().split(), "no second half was walked"
    assert (report.records, report.events) == (6, 6)
    # Entry 10 made a copy of entry 2 (same id, re-linked by hand): the same words both ways.
    entry_path(data, 10).write_bytes(entry_path(data, 2).read_bytes())
    problems = []
    for split_it in (True, False):
        monkeypatch.setattr(verify_module, "_split_worthwhile", lambda total, s=split_it: s)
        again = open_store(data, read_only=True)
        try:
            problems.append(again.verify().problem)
        finally:
            again.close()
    assert problems[0] is not None and problems[0] == problems[1]


def _relink_first_of_second_half(data: Path) -> None:
    """Entry 7 re-hashed onto a wrong previous hash, index rebuilt: only the link breaks."""
    doc = _doc(data, 7)
    _, blob = encode_entry(7, doc["kind"], "0" * 64, doc["data"])
    entry_path(data, 7).write_bytes(entry_file_bytes(blob))
    rewrite_chain(data, 8)


def _edit(seq: int, change: Callable[[dict[str, Any], Path], None]) -> Callable[[Path], None]:
    def tamper(data: Path) -> None:
        rewrite_chain(data, seq, lambda at, doc: change(doc, data) if at == seq else None)

    return tamper


def _other_id(record_id: str) -> str:
    """A well-formed record id that no entry has."""
    return record_id[:-1] + ("0" if record_id[-1] != "0" else "1")


JOINS: dict[str, Callable[[Path], None]] = {
    "broken-link-at-the-split": _relink_first_of_second_half,
    "id-repeated-across-the-split": _edit(
        9, lambda d, data: d.update(id=_doc(data, 2)["data"]["id"])
    ),
    "reference-repeated-across-the-split": _edit(
        8, lambda d, data: d.update(reference=_doc(data, 2)["data"]["reference"])
    ),
    "event-for-a-record-never-stored": _edit(
        11, lambda d, data: d.update(record_id=_other_id(d["record_id"]))
    ),
}


@pytest.mark.parametrize("join", list(JOINS))
def test_split_walk_checks_the_join(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, join: str
) -> None:
    """Problems only the join can see: each half is sound alone (links re-hashed, index
    rebuilt). Entries 1-8 records, 9-12 events; the split is after entry 6."""
    data = tmp_path / "data"
    store = open_new(data)
    ids = [store.save_record(make_record(n)).record.id for n in range(8)]
    for n in range(4):
        store.append_event(make_event(ids[n], n=n))
    store.close()
    JOINS[join](data)
    problems = []
    for split in (True, False):
        monkeypatch.setattr(verify_module, "_split_worthwhile", lambda total, s=split: s)
        store = open_store(data, read_only=True)
        try:
            problems.append(store.verify().problem)
        finally:
            store.close()
    assert problems[1] is not None, "the whole walk must catch it"
    assert problems[0] == problems[1]
