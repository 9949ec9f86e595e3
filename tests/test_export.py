"""Bulk export (`ims-kiosk export`, kiosk/export.py): sealed PDFs, register, sums, signed
manifest, resumable, stopped cleanly by a full disk or Cancel (docs/exports.md)."""

from __future__ import annotations

import csv
import errno
import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.seal_fixtures import run


def _export(capsys: pytest.CaptureFixture[str], c: dict[str, Any], out: Path, *extra: str) -> str:
    code, stdout, err = run(
        capsys, "export", "--out", str(out), "--data-dir", str(c["data"]),
        "--config", str(c["config"]), "--workers", "1", *extra,
    )  # fmt: skip
    assert code == 0, err
    assert "Traceback" not in err
    return stdout


def _events(c: dict[str, Any]) -> int:
    from consent_records.store import open_store

    store = open_store(c["data"], read_only=True)
    try:
        return store.count()[1]
    finally:
        store.close()


def test_export_writes_sealed_pdfs_register_sums_and_a_signed_manifest(
    clinic: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    out = clinic["tmp"] / "audit"
    before = _events(clinic)
    said = _export(capsys, clinic, out)
    assert "Exported 3 records" in said and "3 written" in said
    pdfs = sorted(out.glob("*.pdf"))
    assert [p.stem for p in pdfs] == sorted(clinic["refs"])
    assert _events(clinic) == before + 3  # each record's export is an event on its chain
    from consent_records.audit import AuditQuery
    from consent_records.store import open_store

    store = open_store(clinic["data"], read_only=True)
    try:
        page = store.audit(AuditQuery(kinds=frozenset({"records_exported"})))
    finally:
        store.close()
    (item,) = page.items
    assert (item.event.selected, item.event.exported, item.event.finished) == (3, 3, True)
    assert item.actor.startswith("os_user:")
    # sha256sum -c accepts the sums, run in the folder as a recipient would.
    check = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count(": OK") == 4
    # The manifest says who, when, the filter, the count and the chain head, and its
    # signature verifies with the seal certificate shipped beside it (as openssl would).
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["count"] == 3 and manifest["exported_by"].startswith("cli:")
    assert manifest["filter"]["statuses"] == [] and ":" in manifest["chain_head"]
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    cert = x509.load_pem_x509_certificate((out / "seal-cert.pem").read_bytes())
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(
        (out / "manifest.json.sig").read_bytes(),
        (out / "manifest.json").read_bytes(),
        ec.ECDSA(hashes.SHA256()),
    )
    if shutil.which("openssl"):
        pub = subprocess.run(
            ["openssl", "x509", "-in", "seal-cert.pem", "-pubkey", "-noout"],
            cwd=out, capture_output=True, check=True,
        ).stdout  # fmt: skip
        (clinic["tmp"] / "seal.pub").write_bytes(pub)
        verified = subprocess.run(
            ["openssl", "dgst", "-sha256", "-verify", str(clinic["tmp"] / "seal.pub"),
             "-signature", "manifest.json.sig", "manifest.json"],
            cwd=out, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert "Verified OK" in verified.stdout
    # Every PDF verifies, against the store too.
    code, text, _ = run(capsys, "verify-pdf", *map(str, pdfs), "--data-dir", str(clinic["data"]))
    assert code == 0 and text.count("OK:") == 3

    # A second run into the same folder skips them all and logs nothing more.
    said = _export(capsys, clinic, out)
    assert "0 written, 3 already there" in said
    assert _events(clinic) == before + 3


def test_register_is_safe_to_open_in_a_spreadsheet(
    clinic: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from consent_records.model import new_reference
    from kiosk.services import KioskServices
    from kiosk.settings import load_settings
    from tests.factories import make_record

    services = KioskServices(load_settings(clinic["config"]), clinic["data"])
    try:
        loaded = services.content
        services.store.archive_content(loaded.sha256, loaded.canonical_json)
        for name in ('=HYPERLINK("http://x","y") Smith', "+1 Jones", "@SUM Lee", "-2 Roy"):
            record = make_record(loaded.bundle, content_sha256=loaded.sha256)
            record = record.model_copy(
                update={"id": uuid.uuid4().hex, "reference": new_reference()}
            )
            record = record.model_copy(
                update={"patient": record.patient.model_copy(update={"full_name": name})}
            )
            services.store.save_record(record)
    finally:
        services.close()
    out = clinic["tmp"] / "sheet"
    _export(capsys, clinic, out)
    with (out / "register.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:4] == ["reference", "patient name", "date of birth", "status"]
    assert len(rows) == 1 + 3 + 4
    cells = [cell for row in rows[1:] for cell in row]
    # What a spreadsheet program reads: no cell starts a formula.
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    names = {row[1] for row in rows[1:]}
    assert '\'=HYPERLINK("http://x","y") Smith' in names and "'-2 Roy" in names


def test_a_full_disk_stops_the_export_cleanly_and_the_next_run_continues(
    clinic: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import kiosk.services

    real = kiosk.services.place_file
    calls = {"n": 0}

    def full_after_one(tmp: Path, out: Path, *, force: bool) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(tmp, out, force=force)

    monkeypatch.setattr(kiosk.services, "place_file", full_after_one)
    out = clinic["tmp"] / "full"
    code, _, err = run(
        capsys, "export", "--out", str(out), "--data-dir", str(clinic["data"]),
        "--config", str(clinic["config"]), "--workers", "1",
    )  # fmt: skip
    assert code == 1 and "disk is full" in err and "of 3 PDFs are in" in err
    assert "Run the same command again" in err and "Traceback" not in err
    assert len(list(out.glob("*.pdf"))) == 1
    assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")] == []
    assert not (out / "manifest.json").exists()
    monkeypatch.setattr(kiosk.services, "place_file", real)
    said = _export(capsys, clinic, out)
    assert "2 written, 1 already there" in said


def test_cancel_stops_with_what_was_done(clinic: dict[str, Any]) -> None:
    from kiosk.export import ExportFilter, ExportStopped, plan_export, run_export
    from kiosk.services import KioskServices
    from kiosk.settings import load_settings

    services = KioskServices(load_settings(clinic["config"]), clinic["data"])
    seen: list[int] = []
    try:
        plan = plan_export(services, ExportFilter(), clinic["tmp"] / "cancel")
        with pytest.raises(ExportStopped, match="was cancelled"):
            run_export(
                services, plan, exporter="test", workers=1,
                progress=lambda done, total: seen.append(done), cancelled=lambda: True,
            )  # fmt: skip
    finally:
        services.close()
    assert seen[0] == 0
    assert [p.name for p in (clinic["tmp"] / "cancel").iterdir() if p.suffix == ".tmp"] == []


def test_filters_and_bad_input(clinic: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    out = clinic["tmp"] / "filtered"
    said = _export(capsys, clinic, out, "--status", "declined_at_kiosk")
    assert "Exported 1 records" in said
    code, _, err = run(
        capsys, "export", "--out", str(out), "--data-dir", str(clinic["data"]),
        "--status", "cancelled",
    )  # fmt: skip
    assert code == 2 and "Unknown status cancelled" in err
    code, _, err = run(
        capsys, "export", "--out", str(clinic["tmp"] / "no" / "such"), "--data-dir",
        str(clinic["data"]), "--config", str(clinic["config"]),
    )  # fmt: skip
    assert code != 0 and "does not exist" in err


def test_evidence_bundle_checks_out_with_its_own_readme(
    clinic: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    import sys
    import zipfile

    reference = clinic["refs"][0]
    target = clinic["tmp"] / "evidence.zip"
    code, _, err = run(
        capsys, "evidence", reference, "--out", str(target), "--data-dir", str(clinic["data"]),
        "--config", str(clinic["config"]),
    )  # fmt: skip
    assert code == 0, err
    with zipfile.ZipFile(target) as archive:
        archive.extractall(clinic["tmp"] / "unzipped")
    folder = clinic["tmp"] / "unzipped" / f"evidence-{reference}"
    readme = (folder / "README.txt").read_text()
    # Step 1, as written.
    assert "sha256sum -c SHA256SUMS" in readme
    sums = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True, check=False
    )
    assert sums.returncode == 0, sums.stdout
    # Step 2: the root's fingerprint is the one keys show prints.
    from consent_records import sealkeys

    identity = sealkeys.load_identity(clinic["data"] / "keys")
    assert identity is not None and f"Root SHA-256: {identity.root_sha256}" in readme
    # Step 3: the script quoted in the README is the file, and it passes.
    quoted = readme.split("The script (standard library only) is:\n\n", 1)[1].split("\n  4.")[0]
    unindented = "".join(line[4:] + "\n" for line in quoted.splitlines())
    assert unindented.strip() == (folder / "check_chain.py").read_text().strip()
    checked = subprocess.run(
        [sys.executable, "-I", "check_chain.py"], cwd=folder, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert checked.returncode == 0 and checked.stdout.startswith("OK: the record"), checked.stdout
    # Step 4: the seal, with the bundle's root as the trust anchor.
    code, out, _ = run(
        capsys, "verify-pdf", str(folder / f"{reference}.pdf"), "--trust",
        str(folder / "clinic-root.pem"), "--data-dir", str(clinic["data"]),
    )  # fmt: skip
    assert code == 0, out
    # The bundle holds no other patient's data.
    others = [line for line in (folder / "chain.tsv").read_text().splitlines() if "other" in line]
    assert others and len(list((folder / "record").iterdir())) >= 2
    # A changed byte in the record is caught by both checks.
    (record_file,) = [p for p in (folder / "record").iterdir() if p.name.endswith("-record.json")]
    record_file.write_bytes(record_file.read_bytes().replace(b'"seq":', b'"seq": ', 1))
    checked = subprocess.run(
        [sys.executable, "-I", "check_chain.py"], cwd=folder, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert checked.returncode == 1 and "FAILED" in checked.stdout


def test_fhir_bundles_validate_and_map_every_status(
    clinic: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    import base64
    import hashlib

    from fhir.resources.R4B.bundle import Bundle

    from consent_records.model import EventKind, RecordEvent
    from kiosk.services import KioskServices
    from kiosk.settings import load_settings

    out = clinic["tmp"] / "fhir"

    def consent_statuses() -> dict[str, str]:
        found = {}
        for path in sorted(out.glob("*.fhir.json")):
            Bundle.model_validate_json(path.read_text())  # FHIR (R4B models) accepts it
            bundle = json.loads(path.read_text())
            kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
            by_kind = {e["resource"]["resourceType"]: e["resource"] for e in bundle["entry"]}
            assert {"Patient", "DocumentReference", "Consent", "QuestionnaireResponse"} <= set(
                kinds
            )
            consent = by_kind["Consent"]
            assert consent["scope"]["coding"][0]["code"] == "treatment"
            doc = by_kind["DocumentReference"]
            assert doc["type"]["coding"][0]["code"] == "59284-0"
            pdf = (out / path.name.replace(".fhir.json", ".pdf")).read_bytes()
            attachment = doc["content"][0]["attachment"]
            assert base64.b64decode(attachment["data"]) == pdf
            assert attachment["hash"] == base64.b64encode(hashlib.sha1(pdf).digest()).decode()
            found[path.name.split(".")[0]] = consent["status"]
            found[path.name.split(".")[0] + "/provenance"] = str(kinds.count("Provenance"))
        return found

    agree, decline, discuss = clinic["refs"]
    _export(capsys, clinic, out, "--fhir")
    first = consent_statuses()
    assert (first[agree], first[decline], first[discuss]) == ("proposed", "rejected", "proposed")
    services = KioskServices(load_settings(clinic["config"]), clinic["data"])
    try:
        for reference, kinds in (
            (agree, ["countersigned"]),
            (discuss, ["countersigned", "withdrawn"]),
        ):
            record_id = services.find(reference).record.id
            for kind in kinds:
                services.store.append_event(
                    RecordEvent(
                        record_id=record_id, kind=EventKind(kind), at=services.now(), actor="physio"
                    )
                )
    finally:
        services.close()
    said = _export(capsys, clinic, out, "--fhir")
    assert "2 written, 1 already there" in said  # the changed ones only
    then = consent_statuses()
    assert (then[agree], then[decline], then[discuss]) == ("active", "rejected", "inactive")
    assert then[f"{discuss}/provenance"] == "3"  # signed, countersigned, withdrawn
    check = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True, check=False
    )
    assert check.returncode == 0 and check.stdout.count(": OK") == 7


def test_the_staff_browsers_query_chooses_the_records(clinic: dict[str, Any]) -> None:
    """An export from the staff app takes the browser's query as it stands."""
    from datetime import UTC, datetime

    from consent_records.query import RecordQuery
    from kiosk.export import ExportFilter, plan_export
    from kiosk.services import KioskServices
    from kiosk.settings import load_settings

    services = KioskServices(load_settings(clinic["config"]), clinic["data"])
    try:
        now = datetime.now(UTC)
        everything = plan_export(
            services, ExportFilter(browser=RecordQuery(as_of=now, limit=1)), clinic["tmp"] / "a"
        )
        assert len(everything.record_ids) == 3  # the browser's page size does not cut it
        stored = services.find(clinic["refs"][1])
        name = stored.record.patient.full_name.split()[-1]
        searched = ExportFilter(browser=RecordQuery(as_of=now, text=name))
        plan = plan_export(services, searched, clinic["tmp"] / "b")
        assert stored.record.id in plan.record_ids
        assert searched.describe()["search_text"] == "yes"
        assert name not in json.dumps(searched.describe())  # never the typed text
    finally:
        services.close()
