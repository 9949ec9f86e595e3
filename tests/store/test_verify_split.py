"""A long chain is verified in two halves on two cores (consent_records.store.verify,
_split_entries). Every attack of the tamper matrix, and problems placed on either side of the
split, must give exactly the same result, in the same words, as a walk from entry 1."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from consent_records.store import entry_path, open_store
from consent_records.store import verify as verify_module
from kiosk.cli import main

from .conftest import make_event, make_record, open_new
from .test_tamper_matrix import CASES, Base, _quick_keys, base  # noqa: F401  (fixtures)


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
    return re.sub(r"mark-\d-(True|False)", "mark", text.replace(str(root), "ROOT"))


@pytest.mark.parametrize("case", WALKED)
def test_split_walk_reports_what_the_whole_walk_reports(
    base: Base,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    case: str,
) -> None:
    _level, tamper = CASES[case]
    data, state = tmp_path / "data", tmp_path / "state"
    shutil.copytree(base.data, data, symlinks=True)
    assert _run(capsys, data, "--state-dir", str(state))[0] == 0
    tamper(data, base, state)
    for n, anchors in enumerate((False, True)):
        results = []
        for split in (False, True):
            monkeypatch.setattr(verify_module, "_split_worthwhile", lambda total, s=split: s)
            extra = ("--expect", base.line) if anchors else ()
            # A fresh copy of the mark each time: a verify that passes raises it.
            mark = tmp_path / f"mark-{n}-{split}"
            if anchors and state.exists():
                shutil.copytree(state, mark)
            code, output = _run(capsys, data, "--state-dir", str(mark), *extra)
            results.append((code, _words(output, tmp_path)))
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
