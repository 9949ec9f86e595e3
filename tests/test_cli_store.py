"""The admin's view of the store through ims-kiosk: verify, backup, and a damaged store."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def store_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    data = tmp_path / "data"
    code, _, _ = run(capsys, "demo", "--records", "4", "--seed", "5", "--data-dir", str(data))
    assert code == 0
    return data


def entry_files(data: Path) -> list[Path]:
    return sorted((data / "entries").rglob("*.json"))


def test_verify_names_the_first_changed_record(
    store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    second = entry_files(store_dir)[1]
    text = second.read_text(encoding="utf-8")
    # Change the patient's date of birth inside the stored record, as a forger might.
    match = re.search(r'"date_of_birth":"(\d{4})', text)
    assert match is not None
    year = match.group(1)
    changed = text.replace(f'"date_of_birth":"{year}', f'"date_of_birth":"{int(year) - 1}', 1)
    second.write_text(changed, encoding="utf-8")
    code, _out, err = run(capsys, "verify", "--data-dir", str(store_dir))
    assert code == 1
    assert "FAILED" in err
    assert "entry 2" in err or "000000002" in err, err
    assert "Traceback" not in err


def test_verify_notices_a_deleted_record(
    store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entry_files(store_dir)[2].unlink()
    code, out, err = run(capsys, "verify", "--data-dir", str(store_dir))
    assert code == 1
    assert "Traceback" not in out + err


def test_a_damaged_store_stops_the_kiosk_with_a_clear_message(store_dir: Path) -> None:
    newest = entry_files(store_dir)[-1]
    newest.write_bytes(newest.read_bytes()[:40])  # truncated, as after a bad disk
    before = newest.read_bytes()
    exe = Path(sys.executable).with_name("ims-kiosk")
    result = subprocess.run(
        [str(exe), "--data-dir", str(store_dir)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 1
    assert "cannot be opened safely" in result.stderr
    assert newest.name in result.stderr
    assert "docs/storage.md" in result.stderr
    assert "Traceback" not in result.stderr
    assert newest.read_bytes() == before, "a damaged file must never be rewritten"


def test_backup_is_consistent_and_verifies(
    store_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, head_out, _ = run(capsys, "verify", "--data-dir", str(store_dir))
    assert code == 0
    backup = tmp_path / "backup"
    code, out, err = run(capsys, "backup", "--out", str(backup), "--data-dir", str(store_dir))
    assert code == 0, err
    assert "4 records" in out
    anchor = next(line for line in out.splitlines() if line.startswith("Anchor: "))
    code, out, _ = run(capsys, "verify", "--data-dir", str(backup))
    assert code == 0
    # The copy holds the chain as it was (with the first verify's audit entry).
    assert out.splitlines()[1].startswith(anchor)
    assert out.splitlines()[0].startswith(head_out.split(", chain head")[0])
    # The copy serves a record's PDF like the original.
    reference = json.loads(entry_files(backup)[0].read_text(encoding="utf-8"))
    reference = next(iter(reference["entry"].values()))["data"]["reference"]
    code, _, err = run(
        capsys, "pdf", reference, "--out", str(tmp_path / "r.pdf"), "--data-dir", str(backup)
    )
    assert code == 0, err
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize(
    "command", [["verify"], ["backup", "--out", "B"], ["pdf", "AAAA-BBBB", "--out", "x.pdf"]]
)
def test_admin_commands_refuse_a_directory_without_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    wrong = tmp_path / "not-the-store"
    argv = [str(tmp_path / a) if a in {"B", "x.pdf"} else a for a in command]
    code, _out, err = run(capsys, *argv, "--data-dir", str(wrong))
    assert code == 2
    assert "There is no record store in" in err and str(wrong) in err
    assert not wrong.exists(), "nothing may be created at a mistyped path"


def test_backup_and_pdf_are_private_to_their_owner(
    store_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os
    import stat

    old = os.umask(0o022)
    try:
        backup = tmp_path / "b"
        assert run(capsys, "backup", "--out", str(backup), "--data-dir", str(store_dir))[0] == 0
        _, out, _ = run(capsys, "demo", "--records", "1", "--data-dir", str(store_dir))
        pdf = tmp_path / "one.pdf"
        code, _, err = run(capsys, "pdf", out.split("\t")[0], "--out", str(pdf),
                           "--data-dir", str(store_dir))  # fmt: skip
        assert code == 0, err
    finally:
        os.umask(old)
    for path in [pdf, *backup.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is readable by others ({oct(mode)})"
