"""The ims-kiosk command as an admin uses it (in-process for speed, one real subprocess)."""

from __future__ import annotations

import io
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader

from kiosk.cli import main
from kiosk.demo import fill_session
from kiosk.services import KioskServices

ROOT = Path(__file__).resolve().parents[1]

CONFIG = """
kiosk_id = "desk-2"
timezone = "America/Toronto"
idle_timeout_seconds = 90
province = "ON"
electrical_stimulation = true

[clinic]
name = "Riverbend Physiotherapy"
address = ["100 Example Street", "Toronto ON  M5V 0A1"]

[[physiotherapists]]
id = "pgagnon"
name = "Pat Gagnon"
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_demo_prints_reference_and_name_per_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "demo", "--records", "6", "--data-dir", str(tmp_path), "--seed", "3"
    )
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 6
    for line in lines:
        reference, name = line.split("\t")
        assert len(reference) == 9 and reference[4] == "-"
        assert len(name.split()) >= 2
    code, out, _ = run(capsys, "verify", "--data-dir", str(tmp_path))
    assert code == 0
    assert out.startswith("6 records, 0 events, chain head ")


def test_demo_covers_every_decision(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from kiosk.services import KioskServices
    from kiosk.settings import Settings

    run(capsys, "demo", "--records", "3", "--data-dir", str(tmp_path))
    services = KioskServices(Settings(), tmp_path)
    try:
        decisions = {summary.decision.value for summary in services.store.recent(10)}
    finally:
        services.close()
    assert decisions == {"agree", "decline", "discuss"}


def test_pdf_for_a_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    _, out, _ = run(capsys, "demo", "--records", "2", "--data-dir", str(data), "--seed", "9")
    reference, name = out.splitlines()[1].split("\t")
    target = tmp_path / "exports" / "one.pdf"
    target.parent.mkdir()  # a missing folder is an error, never created (test_cli_files.py)
    # Lower case and no hyphen, as someone might type it at the desk.
    code, out, err = run(
        capsys,
        "pdf",
        reference.lower().replace("-", ""),
        "--out",
        str(target),
        "--data-dir",
        str(data),
    )
    assert code == 0, err
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(target.read_bytes())).pages)
    assert name in text
    assert reference in text
    # The export is itself recorded as an event on the chain.
    code, out, _ = run(capsys, "verify", "--data-dir", str(data))
    assert out.startswith("2 records, 1 events")


def test_aftercare_sheet_for_a_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The take-home sheet: name, date, reference and the advice, and no health answers."""
    data = tmp_path / "data"
    _, out, _ = run(capsys, "demo", "--records", "1", "--data-dir", str(data), "--seed", "3")
    reference, name = out.splitlines()[0].split("\t")
    target = tmp_path / "take-home.pdf"
    code, out, err = run(
        capsys, "aftercare", reference, "--out", str(target), "--data-dir", str(data)
    )
    assert code == 0, err
    reader = PdfReader(io.BytesIO(target.read_bytes()))
    assert len(reader.pages) == 1
    text = " ".join(" ".join(p.extract_text() for p in reader.pages).split())
    assert name in text and reference in text
    assert "Call 911 now" in text and "Call the clinic" in text
    assert "do not drive" in text
    for private in ("Flag", "screening", "Yes", "Not sure", "signature", "Decision"):
        assert private not in text, private
    # The sheet is logged on the record; a mistyped reference is a clear sentence.
    code, out, _ = run(capsys, "verify", "--data-dir", str(data))
    assert out.startswith("1 records, 1 events")
    code, _, err = run(
        capsys, "aftercare", "ZZZZ-ZZZZ", "--out", str(tmp_path / "x.pdf"), "--data-dir", str(data)
    )
    assert code == 1 and "No record found" in err and "Traceback" not in err
    # Printing it again never replaces the first copy silently.
    before = target.read_bytes()
    code, _, err = run(
        capsys, "aftercare", reference, "--out", str(target), "--data-dir", str(data)
    )
    assert code != 0 and "--force" in err and target.read_bytes() == before


def test_pdf_for_an_unknown_reference_is_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "demo", "--records", "1", "--data-dir", str(tmp_path))
    code, _out, err = run(
        capsys, "pdf", "ZZZZ-ZZZZ", "--out", str(tmp_path / "x.pdf"), "--data-dir", str(tmp_path)
    )
    assert code == 1
    assert "No record found" in err and "ZZZZ-ZZZZ" in err
    assert "Traceback" not in err
    assert not (tmp_path / "x.pdf").exists()


def test_config_and_data_dir_work_before_or_after_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "clinic.toml"
    config.write_text(CONFIG, encoding="utf-8")
    code, _out, _ = run(
        capsys, "--data-dir", str(tmp_path / "a"), "--config", str(config), "demo", "--records", "1"
    )
    assert code == 0
    monkeypatch.setenv("IMS_KIOSK_DATA_DIR", str(tmp_path / "b"))
    monkeypatch.setenv("IMS_KIOSK_CONFIG", str(config))
    code, _out, _ = run(capsys, "demo", "--records", "2")
    assert code == 0
    from kiosk.services import KioskServices
    from kiosk.settings import load_settings

    services = KioskServices(load_settings(config), tmp_path / "b")
    try:
        stored = services.store.get(services.store.recent(1)[0].id)
    finally:
        services.close()
    assert stored.record.clinic_name == "Riverbend Physiotherapy"
    assert stored.record.kiosk_id == "demo", "synthetic records say so"
    assert stored.record.physiotherapist.name == "Pat Gagnon"
    # Times are in the clinic's zone, whatever the machine's zone is.
    completed = stored.record.completed_at
    assert completed.utcoffset() == ZoneInfo("America/Toronto").utcoffset(
        completed.replace(tzinfo=None)
    )
    assert (tmp_path / "a").is_dir()


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('age_of_majority = "old"', "age_of_majority is no longer a setting"),
        ('province = "XX"', "province"),
        ('timezone = "Mars/Olympus"', "unknown time zone 'Mars/Olympus'"),
        ("idle_timeout = 5", "idle_timeout: is not a known setting"),
        ('[clinic]\nname = ""', "clinic.name"),
        ("physiotherapists = []", "physiotherapists"),
        ("kiosk_id = [", "not valid TOML"),
    ],
)
def test_bad_config_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, expected: str
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(toml, encoding="utf-8")
    code, _out, err = run(
        capsys, "demo", "--records", "1", "--config", str(config), "--data-dir", str(tmp_path / "d")
    )
    assert code == 2
    assert str(config) in err
    assert expected in err
    assert "Traceback" not in err


def test_missing_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "verify", "--config", str(tmp_path / "nope.toml"))
    assert code == 2 and "does not exist" in err


def test_content_check_prints_reading_grades(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "content", "check")
    assert code == 0
    assert "is valid" in out
    assert "what-is-ims" in out and "FK" in out and "SMOG" in out
    assert "aftercare-sheet" in out


def test_entry_point_is_installed(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("ims-kiosk")
    result = subprocess.run(
        [str(exe), "demo", "--records", "1", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert "\t" in result.stdout


def test_demo_never_mixes_synthetic_patients_into_a_real_store(
    capsys: pytest.CaptureFixture[str], make_services: Callable[..., KioskServices]
) -> None:
    services = make_services()
    session = services.new_session()  # one "real" record, saved as the kiosk saves
    services.save(session, fill_session(session, random.Random(1)))
    real_dir = services.data_dir
    services.close()
    code, out, err = run(capsys, "demo", "--records", "1", "--data-dir", str(real_dir))
    assert code == 2
    assert "already holds records that demo did not make" in err
    assert out == ""
