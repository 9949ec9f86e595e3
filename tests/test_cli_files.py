"""Files the admin names (pdf --out, backup --out): never clobbered, never through a link or
into a device, never a new tree for a mistyped path; the export is logged before the file."""

from __future__ import annotations

import io
import os
import stat
import threading
from pathlib import Path
from unittest import mock

import pytest
from pypdf import PdfReader

from consent_records.base import StoreUnavailable
from kiosk.cli import main

CONFIG = """
timezone = "America/Vancouver"
[clinic]
name = "Riverbend Physiotherapy"
address = ["100 Example Street", "Edmonton AB  T5J 0A1"]
phone = "780-555-0100"
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    data = tmp_path / "data"
    config = tmp_path / "clinic.toml"
    config.write_text(CONFIG, encoding="utf-8")
    code, out, err = run(
        capsys, "demo", "--records", "2", "--seed", "4", "--data-dir", str(data),
        "--config", str(config),
    )  # fmt: skip
    assert code == 0, err
    return data, out.splitlines()[0].split("\t")[0]


def _events(data: Path) -> int:
    from consent_records.store import open_store

    store = open_store(data, read_only=True)
    try:
        return store.count()[1]
    finally:
        store.close()


@pytest.mark.parametrize("target", ["device", "symlink", "folder", "fifo"])
def test_pdf_refuses_a_target_that_is_not_a_regular_file(
    store: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str
) -> None:
    """As root, exporting to /dev/full once replaced the device with a PDF. The test uses a
    device node of its own (never the system's: a broken implementation would clobber it)."""
    data, reference = store
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious\n")
    out = tmp_path / "out.pdf"
    if target == "device":
        if os.geteuid() == 0:
            os.mknod(out, stat.S_IFCHR | 0o666, os.makedev(1, 7))  # what /dev/full is
        else:
            out.symlink_to("/dev/full")
    elif target == "symlink":
        out.symlink_to(victim)
    elif target == "folder":
        out.mkdir()
    else:
        os.mkfifo(out)
    kind = out.lstat().st_mode
    for force in ([], ["--force"]):
        code, _, err = run(capsys, "pdf", reference, "--out", str(out), "--data-dir", str(data),
                           *force)  # fmt: skip
        assert code != 0 and str(out) in err and "nothing was written" in err, err
    assert victim.read_bytes() == b"precious\n"
    assert out.lstat().st_mode == kind, "the target was replaced"
    assert _events(data) == 0, "a refused export is not logged as one"


def test_pdf_never_creates_missing_folders(
    store: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, reference = store
    out = tmp_path / "mistyped" / "deeper" / "r.pdf"
    code, _, err = run(capsys, "pdf", reference, "--out", str(out), "--data-dir", str(data))
    assert code != 0 and "does not exist" in err
    assert not (tmp_path / "mistyped").exists()


def test_pdf_overwrites_only_with_force(
    store: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, reference = store
    out = tmp_path / "r.pdf"
    out.write_bytes(b"an earlier export\n")
    code, _, err = run(capsys, "pdf", reference, "--out", str(out), "--data-dir", str(data))
    assert code != 0 and "--force" in err
    assert out.read_bytes() == b"an earlier export\n"
    code, _, err = run(capsys, "pdf", reference, "--out", str(out), "--data-dir", str(data),
                       "--force")  # fmt: skip
    assert code == 0, err
    assert out.read_bytes().startswith(b"%PDF")
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".r.pdf")]


def test_pdf_export_is_logged_before_the_file_is_written(
    store: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """When the export event cannot be stored (a full disk, a read-only backup, the lock),
    no PDF is left behind, unlogged."""
    data, reference = store
    out = tmp_path / "r.pdf"
    failure = StoreUnavailable("The consent record store cannot be written: the disk is full.")
    with mock.patch("consent_records.store.engine.TinyDBStore.append_event", side_effect=failure):
        code, _, err = run(capsys, "pdf", reference, "--out", str(out), "--data-dir", str(data))
    assert code == 1 and "disk is full" in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert _events(data) == 0


def test_pdf_of_a_record_tells_the_truth_about_it(
    store: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Made as Riverbend (Vancouver time), exported without --config and with another
    config: the letterhead, identity and times are the record's."""
    data, reference = store
    other = tmp_path / "other.toml"
    other.write_text('timezone = "Asia/Tokyo"\n[clinic]\nname = "Another Clinic"\n', "utf-8")
    for config in ([], ["--config", str(other)]):
        out = tmp_path / f"r{len(config)}.pdf"
        code, _, err = run(capsys, "pdf", reference, "--out", str(out), "--data-dir", str(data),
                           *config)  # fmt: skip
        assert code == 0, err
        text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(out.read_bytes())).pages)
        assert "Riverbend Physiotherapy" in text and "100 Example Street" in text
        assert "Demo Physiotherapy" not in text and "Another Clinic" not in text
        assert "Sample Avenue" not in text
        assert "PST" in text or "PDT" in text
        assert "JST" not in text and "MST" not in text
        assert "Verified at export" in text
        # entry:hash of the chain head, as verify --expect takes it
        assert ":" in text and "Chain head at export" in text


def test_pdf_of_a_store_that_fails_verification_says_so(
    store: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, reference = store  # the first record: entry 1
    from consent_records.store import entry_path

    assert run(capsys, "demo", "--records", "1", "--data-dir", str(data))[0] == 0
    other = entry_path(data, 2)  # another record, in the middle of the chain
    other.write_bytes(other.read_bytes().replace(b'"decision":"', b'"decision":"x', 1))
    out = tmp_path / "r.pdf"
    code, _, err = run(capsys, "pdf", reference, "--out", str(out), "--data-dir", str(data))
    assert code == 1 and "failed verification" in err
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(out.read_bytes())).pages)
    assert "FAILED at export" in text


def test_backup_refuses_a_folder_inside_the_data_directory(
    store: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    data, _ = store
    for inside in (data / "backup", data / "logs" / "b", data):
        code, _, err = run(capsys, "backup", "--out", str(inside), "--data-dir", str(data))
        assert code != 0 and "inside the data directory" in err, err
    assert not (data / "backup").exists()


def test_backup_refuses_a_link_and_a_missing_parent(
    store: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, _ = store
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    code, _, err = run(capsys, "backup", "--out", str(tmp_path / "link"), "--data-dir", str(data))
    assert code != 0 and "symbolic link" in err
    code, _, err = run(
        capsys, "backup", "--out", str(tmp_path / "no" / "such"), "--data-dir", str(data)
    )
    assert code != 0 and "does not exist" in err and not (tmp_path / "no").exists()


def test_two_demos_at_once_on_a_new_directory_both_succeed(tmp_path: Path) -> None:
    """The demo's "no real records here" check and its marker happen under the store's
    lock: a second demo started at the same moment never mistakes the first one's records
    for a patient's. (The first demo is held just after it wrote its first record.)"""
    from kiosk import demo

    data = tmp_path / "data"
    first_saved = threading.Event()
    results: dict[str, int] = {}
    real_generate = demo.generate

    def slow_generate(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        for n, item in enumerate(real_generate(*args, **kwargs)):  # type: ignore[arg-type]
            yield item
            if n == 0 and threading.current_thread().name == "first":
                first_saved.set()

    real_lexists = os.path.lexists

    def late_lexists(path: object) -> bool:
        answer = real_lexists(path)  # type: ignore[arg-type]
        if str(path).endswith("DEMO-DATA.txt") and threading.current_thread().name == "second":
            first_saved.wait(2)  # the first demo saves a record right after this check
        return answer

    def run_demo(name: str) -> None:
        results[name] = main(["demo", "--records", "3", "--data-dir", str(data)])

    with (
        mock.patch("kiosk.demo.generate", slow_generate),
        mock.patch("os.path.lexists", late_lexists),
        mock.patch("pathlib.Path.exists", lambda self: late_lexists(self)),
    ):
        second = threading.Thread(target=run_demo, args=("second",), name="second")
        first = threading.Thread(target=run_demo, args=("first",), name="first")
        second.start()
        first.start()
        first.join(30)
        second.join(30)
    assert results == {"first": 0, "second": 0}
