"""``ims-kiosk init``, ``users`` and ``records``, and ``pdf --user`` (in-process, cheap hashing)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from consent_records.audit import AuditQuery
from kiosk.cli import main
from kiosk.staff.services import ENV_ARGON2_PROFILE, TEST_PROFILE

ADMIN_PW = "violet tugboat marmalade 42"
PHYSIO_PW = "copper kettle harbour lanterns"

CONFIG = """
timezone = "America/Toronto"
province = "ON"

[clinic]
name = "Riverbend Physiotherapy"

[[physiotherapists]]
id = "pgagnon"
name = "Pat Gagnon"
registration = "PT-1234"
"""


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_ARGON2_PROFILE, TEST_PROFILE)


def run(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *argv: str,
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def clinic_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    """A configured clinic with an admin (office) and a physio (pgagnon), and 3 records."""
    config = tmp_path / "clinic.toml"
    config.write_text(CONFIG, encoding="utf-8")
    data = tmp_path / "data"
    monkeypatch.setenv("IMS_KIOSK_CONFIG", str(config))
    monkeypatch.setenv("IMS_KIOSK_DATA_DIR", str(data))
    code, out, err = run(
        capsys,
        monkeypatch,
        "users",
        "add",
        "office",
        "--role",
        "admin",
        "--name",
        "Sam Ortiz",
        "--password-stdin",
        stdin=f"{ADMIN_PW}\n{ADMIN_PW}\n",
    )
    assert code == 0, err
    assert "Account office created (Sam Ortiz, admin)" in out
    code, out, err = run(
        capsys,
        monkeypatch,
        "users",
        "add",
        "pgagnon",
        "--role",
        "physio",
        "--user",
        "office",
        "--password-stdin",
        stdin=f"{ADMIN_PW}\n{PHYSIO_PW}\n{PHYSIO_PW}\n",
    )
    assert code == 0, err
    assert "Account pgagnon created (Pat Gagnon, physio, physiotherapist pgagnon)" in out
    _save_records(config, data, 3)
    return config, data


def _save_records(config: Path, data: Path, n: int) -> list[str]:
    import random

    from kiosk.demo import fill_session
    from kiosk.services import KioskServices
    from kiosk.settings import load_settings

    services = KioskServices(load_settings(config), data)
    refs = []
    try:
        for seed in range(n):
            session = services.new_session()
            signature = fill_session(session, random.Random(seed))
            refs.append(services.save(session, signature).reference)
    finally:
        services.close()
    return refs


def test_the_first_admin_needs_no_sign_in_but_later_changes_do(
    clinic_dir: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _, err = run(capsys, monkeypatch, "users", "disable", "pgagnon")
    assert code == 2 and "--user ADMIN" in err
    code, out, err = run(
        capsys,
        monkeypatch,
        "users",
        "list",
        "--user",
        "office",
        "--password-stdin",
        stdin=f"{ADMIN_PW}\n",
    )
    assert code == 0, err
    assert "pgagnon  Pat Gagnon  physio  pgagnon    PT-1234" in out
    code, _, err = run(
        capsys,
        monkeypatch,
        "users",
        "disable",
        "pgagnon",
        "--user",
        "office",
        "--password-stdin",
        stdin="wrong password for office\n",
    )
    assert code == 1 and "do not let you sign in" in err
    code, out, err = run(capsys, monkeypatch, "users", "disable", "pgagnon", "--os-user")
    assert code == 0 and "disabled" in out, err


def test_a_weak_password_is_refused_with_a_sentence(
    clinic_dir: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _, err = run(
        capsys,
        monkeypatch,
        "users",
        "add",
        "helper",
        "--role",
        "admin",
        "--name",
        "Hel Per",
        "--user",
        "office",
        "--password-stdin",
        stdin=f"{ADMIN_PW}\npassword123\npassword123\n",
    )
    assert code == 1 and "at least 15 characters" in err and "Traceback" not in err


def test_records_list_and_show_need_a_staff_sign_in_and_are_audited(
    clinic_dir: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _, err = run(capsys, monkeypatch, "records", "list")
    assert code == 2 and "--user NAME" in err
    code, out, err = run(
        capsys,
        monkeypatch,
        "records",
        "list",
        "--format",
        "json",
        "--user",
        "pgagnon",
        "--password-stdin",
        stdin=f"{PHYSIO_PW}\n",
    )
    assert code == 0, err
    listed = json.loads(out)
    assert listed["total"] == 3
    reference = listed["records"][0]["reference"]
    code, out, err = run(
        capsys,
        monkeypatch,
        "records",
        "show",
        reference.lower().replace("-", ""),
        "--user",
        "pgagnon",
        "--password-stdin",
        stdin=f"{PHYSIO_PW}\n",
    )
    assert code == 0, err
    assert f"Record {reference}" in out and "Discuss these first:" in out and "Timeline:" in out
    assert "\n  Nothing flagged." in out or "\n  [ ] " in out, "items are indented under it"
    code, out, err = run(
        capsys,
        monkeypatch,
        "records",
        "list",
        "--format",
        "csv",
        "--status",
        "declined_at_kiosk",
        "--user",
        "pgagnon",
        "--password-stdin",
        stdin=f"{PHYSIO_PW}\n",
    )
    assert code == 0 and out.startswith("reference,patient,"), err
    from kiosk.settings import load_settings
    from kiosk.staff.services import StaffServices

    config, data = clinic_dir
    services = StaffServices(load_settings(config), data)
    try:
        page = services.store.audit(AuditQuery(person="pgagnon", include_record_events=False))
        kinds = [item.kind for item in reversed(page.items)]
    finally:
        services.close()
    assert kinds.count("login_succeeded") == 3
    assert "record_viewed" in kinds and kinds.count("records_searched") == 2


def test_pdf_needs_a_sign_in_outside_a_demo_store_and_logs_who(
    clinic_dir: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config, data = clinic_dir
    code, out, _ = run(
        capsys,
        monkeypatch,
        "records",
        "list",
        "--format",
        "json",
        "--user",
        "pgagnon",
        "--password-stdin",
        stdin=f"{PHYSIO_PW}\n",
    )
    reference = json.loads(out)["records"][0]["reference"]
    pdf = tmp_path / "summary.pdf"
    code, _, err = run(capsys, monkeypatch, "pdf", reference, "--out", str(pdf))
    assert code == 2 and "--user NAME" in err and not pdf.exists()
    code, out, err = run(
        capsys,
        monkeypatch,
        "pdf",
        reference,
        "--out",
        str(pdf),
        "--user",
        "office",
        "--password-stdin",
        stdin=f"{ADMIN_PW}\n",
    )
    assert code == 0, err
    assert pdf.read_bytes().startswith(b"%PDF")
    from kiosk.settings import load_settings
    from kiosk.staff.services import StaffServices

    services = StaffServices(load_settings(config), data)
    try:
        record = services.store.find_reference(reference)
    finally:
        services.close()
    export = record.events[-1].event
    assert export.kind.value == "pdf_exported" and export.actor.user == "office"  # type: ignore[union-attr]


def test_init_sets_up_a_clinic_every_command_then_finds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IMS_KIOSK_CONFIG", raising=False)
    monkeypatch.delenv("IMS_KIOSK_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    answers = "\n".join(
        [
            "Côté & Fils Physio",  # clinic name
            "12 rue Principale",  # address line 1
            "",  # done
            "",  # phone: skip
            "qc",  # province
            "America/Toronto",  # time zone
            "Renée Côté",  # physiotherapist
            "",  # id: default rcote
            "OPPQ 12345",  # registration
            "",  # no more physiotherapists
            "",  # kiosk id: default
            "",  # data dir: default
            "",  # admin user name: default admin
            "Sam Ortiz",  # admin's full name
            ADMIN_PW,
            ADMIN_PW,
        ]
    )
    code, out, err = run(capsys, monkeypatch, "init", "--password-stdin", stdin=answers + "\n")
    assert code == 0, err
    written = tmp_path / "config" / "ims-kiosk" / "clinic.toml"
    assert f"Settings written to {written}" in out
    assert "ims-kiosk users add rcote --role physio --user admin" in out
    from kiosk.settings import load_settings, resolve_config, resolve_data_dir

    settings = load_settings(resolve_config(None))
    assert settings.clinic.name == "Côté & Fils Physio" and settings.province == "QC"
    assert settings.physiotherapists[0].registration == "OPPQ 12345"
    assert not settings.is_demo
    assert resolve_data_dir(None, settings) == tmp_path / "share" / "ims-kiosk" / "clinic"
    code, out, err = run(
        capsys,
        monkeypatch,
        "users",
        "add",
        "rcote",
        "--role",
        "physio",
        "--user",
        "admin",
        "--password-stdin",
        stdin=f"{ADMIN_PW}\n{PHYSIO_PW}\n{PHYSIO_PW}\n",
    )
    assert code == 0, err
    assert "(Renée Côté, physio, physiotherapist rcote)" in out
    code, _, err = run(capsys, monkeypatch, "init", stdin="")
    assert code == 2 and "already set up" in err


def test_without_a_clinic_the_demo_clinic_keeps_its_records_apart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kiosk.settings import load_settings, resolve_config, resolve_data_dir

    monkeypatch.delenv("IMS_KIOSK_CONFIG", raising=False)
    monkeypatch.delenv("IMS_KIOSK_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    settings = load_settings(resolve_config(None))
    assert settings.is_demo
    assert resolve_data_dir(None, settings) == tmp_path / "share" / "ims-kiosk" / "demo"


def test_bulk_export_needs_an_admin_sign_in_outside_a_demo_store(
    clinic_dir: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "export"
    code, _, err = run(capsys, monkeypatch, "export", "--out", str(out))
    assert code == 2 and "--user NAME" in err
    code, _, err = run(
        capsys, monkeypatch, "export", "--out", str(out), "--user", "pgagnon",
        "--password-stdin", stdin=f"{PHYSIO_PW}\n",
    )  # fmt: skip
    assert code == 1 and "cannot export many PDFs" in err
    code, out_text, err = run(
        capsys, monkeypatch, "export", "--out", str(out), "--user", "office",
        "--password-stdin", stdin=f"{ADMIN_PW}\n",
    )  # fmt: skip
    assert code == 0, err
    assert "Exported 3 records" in out_text


def test_init_from_a_script_stops_at_a_wrong_answer_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IMS_KIOSK_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    answers = "Riverbend\n\n\nON\nAmerica/Nowhere\n"
    code, _, err = run(capsys, monkeypatch, "init", "--password-stdin", stdin=answers)
    assert code == 2 and "'America/Nowhere' is not a time zone name" in err
    assert "Nothing was written" in err and not (tmp_path / "config").exists()


def test_the_cheap_test_hashing_is_never_used_outside_a_test(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kiosk.auth.passwords import PARAMETERS, TEST_PARAMETERS
    from kiosk.staff.services import configured_passwords

    assert configured_passwords().parameters == TEST_PARAMETERS
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    assert configured_passwords().parameters == PARAMETERS


def test_a_wrong_records_list_option_is_named_not_shown_as_a_regex() -> None:
    # h9qa: `records list --physio 'ESC[2Jx'` printed pydantic's "String should match
    # pattern '^[a-z0-9][a-z0-9-]*$'." and a reversed range "the date range ends ...".
    from datetime import date
    from types import SimpleNamespace

    from kiosk.cli_staff import StaffCommandError, _records_query

    def query(**kw: object) -> str:
        args = {"search": "", "status": [], "physio": [], "date_from": None}
        args |= {"date_to": None, "limit": 50, **kw}
        services = SimpleNamespace(now=lambda: datetime.now(UTC))
        with pytest.raises(StaffCommandError) as refused:
            _records_query(SimpleNamespace(**args), services)  # type: ignore[arg-type]
        return str(refused.value)

    said = query(physio=["\x1b[2Jx"])
    assert said.startswith("--physio: use a physiotherapist's id") and "pattern" not in said
    said = query(date_from=date(2027, 1, 1), date_to=date(2026, 1, 1))
    assert said[0].isupper() and "range" in said
