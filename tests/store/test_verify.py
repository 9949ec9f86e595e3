"""Verify you can trust: one consistent state, read-only, the content archive, the output."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from consent_records.store import TinyDBStore, entry_path, open_store
from kiosk.cli import main

from .conftest import CONTENT_SHA, make_event, make_record, open_new

WRITER = Path(__file__).with_name("writer.py")
ROOT = Path(__file__).resolve().parents[2]


def _filled(data: Path, records: int = 5) -> TinyDBStore:
    store = open_new(data)
    ids = [store.save_record(make_record(n)).record.id for n in range(records)]
    store.append_event(make_event(ids[0]))
    return store


def test_verify_while_a_writer_saves_never_raises_a_false_alarm(tmp_path: Path) -> None:
    """100 verifies of a store another process is appending to: zero false alarms (a save
    after the snapshot is simply not looked at)."""
    data = tmp_path / "data"
    _filled(data, 3).close()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    writer = subprocess.Popen(
        [sys.executable, str(WRITER), "trickle", str(data), "600"],
        stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "ready"
    store = open_store(data, read_only=True)
    alarms: list[str] = []
    lengths = []
    try:
        for _ in range(100):
            report = store.verify()
            if not report.ok:
                alarms.append(report.problem or "")
            lengths.append(report.chain_length)
    finally:
        writer.kill()
        writer.wait()
        store.close()
    assert alarms == []
    assert lengths[-1] > lengths[0], "the writer saved nothing meanwhile: the test proves nothing"


def test_verify_writes_nothing_and_reports_a_torn_index_line(tmp_path: Path) -> None:
    """A deleted newest entry with its index line torn, as if by a crash: verify reports it
    (the entry never existed only if it was removed) and changes nothing, not even the
    temporary files or the index; reindex is the repair, and says what it did."""
    data = tmp_path / "data"
    _filled(data).close()
    entry_path(data, 6).unlink()
    index = data / "index.jsonl"
    index.write_bytes(index.read_bytes()[:-40])
    (data / "entries" / "000000" / ".tmp-000000007.json.abc").write_bytes(b"partial")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in data.rglob("*") if p.is_file()}
    store = open_store(data, read_only=True)
    report = store.verify()
    store.close()
    assert not report.ok
    assert "entry 6" in (report.problem or "") and "removed" in (report.problem or "")
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in data.rglob("*") if p.is_file()}
    assert after == before


def test_verify_of_a_copy_without_a_lock_file_creates_none(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _filled(data).close()
    (data / ".lock").unlink()
    store = open_store(data, read_only=True)
    assert store.verify().ok
    store.close()
    assert not (data / ".lock").exists()


def test_reindex_repairs_and_says_what_changed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    _filled(data).close()
    index = data / "index.jsonl"
    good = index.read_bytes()
    index.write_bytes(good.splitlines(keepends=True)[0] + b'{"broken')
    assert main(["reindex", "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert "5 line(s) added" in out and "incomplete last line dropped" in out
    assert index.read_bytes() == good
    # The staff browser's search index is rebuilt too, owner-only.
    assert "search index rebuilt" in out
    assert (data / "search" / "records.idx").stat().st_mode & 0o777 == 0o600
    assert list(data.glob("index-replaced-*.jsonl.old"))
    assert main(["reindex", "--data-dir", str(data)]) == 0
    assert "unchanged" in capsys.readouterr().out


def test_a_missing_or_changed_content_archive_fails_verify(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _filled(data).close()
    archive = data / "content" / f"{CONTENT_SHA}.json"
    archive.unlink()
    report = open_store(data, read_only=True).verify()
    assert (
        not report.ok
        and "missing" in (report.problem or "")
        and str(archive) in (report.problem or "")
    )
    (data / "content" / f"{'a' * 64}.json").write_bytes(b"{}")
    archive.write_bytes(b"{}")
    report = open_store(data, read_only=True).verify()
    assert not report.ok and "does not match its SHA-256" in (report.problem or "")


def test_failed_verify_prints_no_head_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    _filled(data).close()
    path = entry_path(data, 2)
    path.write_bytes(path.read_bytes().replace(b"Synthetic", b"Synthetiq", 1))
    code = main(["verify", "--data-dir", str(data), "--state-dir", str(tmp_path / "s")])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert "FAILED" in err and "entry 2" in err


def test_verify_head_one_exits_zero_when_verify_succeeds(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _filled(data, 30).close()
    exe = Path(sys.executable).with_name("ims-kiosk")
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c",
         f"'{exe}' verify --data-dir '{data}' --state-dir '{tmp_path / 's'}' | head -1"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("30 records, 1 events, chain head ")
    assert result.stderr == ""


def test_progress_bar_on_a_terminal_only(tmp_path: Path) -> None:
    import io

    from kiosk.cli import ProgressBar

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen, pipe = Terminal(), io.StringIO()
    for stream in (screen, pipe):
        bar = ProgressBar("Verifying", stream)
        for done in range(0, 50_001, 10_000):
            bar(done, 50_000)
            time.sleep(0.11)
        bar.close()
    assert "Verifying [" in screen.getvalue() and "100%" in screen.getvalue()
    assert pipe.getvalue() == ""


def test_verify_says_which_given_anchors_held(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An admin who checks a PDF's anchor is told that it held, not only that the chain is
    sound (entries saved after it are fine)."""
    data = tmp_path / "data"
    store = _filled(data, 3)
    given = f"{store.chain_length()}:{store.chain_head()}"
    store.save_record(make_record(10))
    store.close()
    code = main(["verify", "--data-dir", str(data), "--state-dir", str(tmp_path / "s"),
                 "--expect", given])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"Holds: {given} (--expect): the store still has exactly this prefix." in out, out
