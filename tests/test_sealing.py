"""The clinic's seal: keys init/show/import/renew, every PDF sealed (PAdES), verify-pdf and
its tamper drills (docs/sealing.md).

Keys are made once per session (scrypt and EC key generation are the slow parts); each test
copies them into its own data directory.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader, PdfWriter

from consent_records import sealkeys
from consent_records.sealing import Sealer
from tests.seal_fixtures import CLINIC, ROOT_PASS, SEAL_PASS, export, run, verify

# -- keys ---------------------------------------------------------------------------------


def test_keys_init_makes_checkpoint_key_root_and_seal_owner_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    run(capsys, "demo", "--records", "1", "--data-dir", str(data))
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{ROOT_PASS}\n{ROOT_PASS}\n"))
    code, out, err = run(capsys, "keys", "init", "--passphrase-stdin", "--data-dir", str(data))
    assert code != 0 and "must differ" in err  # the seal's passphrase lives on the machine
    assert not (data / "keys" / "seal-key.json").exists()

    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{ROOT_PASS}\n{SEAL_PASS}\n"))
    code, out, err = run(capsys, "keys", "init", "--passphrase-stdin", "--data-dir", str(data))
    assert code == 0, err
    keys = data / "keys"
    for name in (*sealkeys.SEAL_FILES, "checkpoint-key.json"):
        assert (keys / name).stat().st_mode & 0o777 == 0o600, name
    for name in ("clinic-root-key.json", "seal-key.json"):
        assert b"PRIVATE KEY" not in (keys / name).read_bytes()  # sealed, never plain PEM
    identity = sealkeys.load_identity(keys)
    assert identity is not None
    assert identity.clinic == "Demo Physiotherapy Clinic"
    assert 3 * 365 - 2 <= identity.days_left() <= 3 * 365
    assert identity.root.not_valid_after_utc.year - datetime.now(UTC).year >= 24
    assert sealkeys.spaced(identity.root_sha256) in out

    code, out, _ = run(capsys, "keys", "show", "--data-dir", str(data))
    assert code == 0
    assert sealkeys.spaced(identity.root_sha256) in out
    assert f"to {identity.not_after:%Y-%m-%d}" in out
    assert "Checkpoint key fingerprint" in out

    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{ROOT_PASS}\n{SEAL_PASS}\n"))
    code, _, err = run(capsys, "keys", "init", "--passphrase-stdin", "--data-dir", str(data))
    assert code != 0 and "already holds" in err


def test_the_root_key_can_leave_the_machine_and_renew_later(
    clinic: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = clinic["data"] / "keys"
    offline = clinic["tmp"] / "usb"
    offline.mkdir()
    shutil.move(keys / "clinic-root-key.json", offline / "clinic-root-key.json")
    before = export(capsys, clinic, clinic["refs"][0], "before.pdf")
    code, out, _ = run(capsys, "keys", "show", "--data-dir", str(clinic["data"]))
    assert "not on this machine" in out

    old = sealkeys.load_identity(keys)
    assert old is not None
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{ROOT_PASS}\n"))
    code, out, err = run(
        capsys, "keys", "renew-seal", "--passphrase-stdin", "--root-key",
        str(offline / "clinic-root-key.json"), "--data-dir", str(clinic["data"]),
        "--config", str(clinic["config"]),
    )  # fmt: skip
    assert code == 0, err
    new = sealkeys.load_identity(keys)
    assert new is not None and new.seal_sha256 != old.seal_sha256
    assert new.root_sha256 == old.root_sha256
    after = export(capsys, clinic, clinic["refs"][1], "after.pdf")
    code, out = verify(capsys, clinic, before, after)
    assert code == 0, out
    assert old.seal_sha256[:16] in out.splitlines()[0]
    assert new.seal_sha256[:16] in out.splitlines()[1]


def test_the_seal_certificates_end_is_warned_90_days_ahead(keys_dir: Path) -> None:
    identity = sealkeys.load_identity(keys_dir)
    assert identity is not None
    assert identity.expiry_warning() is None
    soon = identity.not_after - timedelta(days=30)
    assert "in 30 days" in (identity.expiry_warning(soon) or "")
    late = identity.not_after + timedelta(days=1)
    assert "expired on" in (identity.expiry_warning(late) or "")


def test_keys_import_p12_uses_the_clinics_own_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

    now = datetime.now(UTC)
    root_key, root = sealkeys.make_root("Provincial Health CA", now)
    key, cert = sealkeys.issue_seal("Riverbend Physiotherapy", root_key, root, now)
    p12 = tmp_path / "seal.p12"
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"seal", key, cert, [root], BestAvailableEncryption(b"p12 passphrase")
        )
    )
    data = tmp_path / "data"
    run(capsys, "demo", "--records", "1", "--data-dir", str(data))
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"wrong\n{SEAL_PASS}\n"))
    code, _, err = run(
        capsys, "keys", "import", str(p12), "--passphrase-stdin", "--data-dir", str(data)
    )
    assert code != 0 and "passphrase is wrong" in err
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"p12 passphrase\n{SEAL_PASS}\n"))
    code, _out, err = run(
        capsys, "keys", "import", str(p12), "--passphrase-stdin", "--data-dir", str(data)
    )
    assert code == 0, err
    identity = sealkeys.load_identity(data / "keys")
    assert identity is not None
    assert identity.root_sha256 == sealkeys.sha256_fingerprint(root)
    assert identity.clinic == "Riverbend Physiotherapy"


# -- sealing ------------------------------------------------------------------------------


def test_pdf_is_sealed_visibly_and_verifies(
    clinic: dict[str, Any], capsys: pytest.CaptureFixture[str], keys_dir: Path
) -> None:
    pdf = export(capsys, clinic, clinic["refs"][0], "summary.pdf")
    identity = sealkeys.load_identity(keys_dir)
    assert identity is not None
    reader = PdfReader(pdf)
    last = reader.pages[-1]
    text = last.extract_text()
    assert "Sealed electronically by" in text and "PAdES B-B" in text
    assert sealkeys.spaced(identity.root_sha256).replace(":", "").lower()[:4] in text
    assert "ims-kiosk verify-pdf" in text
    assert "NOT SEALED" not in "".join(p.extract_text() for p in reader.pages)
    # The seal's visible field lies over the block, inside the page, above the footer.
    (widget,) = [a.get_object() for a in last["/Annots"]]
    x1, y1, x2, y2 = (float(v) for v in widget["/Rect"])
    assert widget["/FT"] == "/Sig" and x2 - x1 > 400 and 70 < y2 - y1 < 90 and y1 > 40

    code, out = verify(capsys, clinic, pdf)
    assert code == 0, out
    assert out.startswith(f"OK: {pdf} is sealed by {CLINIC} document seal")
    assert "not modified since" in out and "PAdES B-B" in out
    assert "its status unchanged" in out

    # pyHanko's own validation, with the root as the only trust anchor.
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    root = asn1_x509.Certificate.load(identity.root.public_bytes(Encoding.DER))
    with pdf.open("rb") as handle:
        status = validate_pdf_signature(
            PdfFileReader(handle).embedded_signatures[0],
            ValidationContext(trust_roots=[root], allow_fetching=False),
        )
        assert status.bottom_line and status.docmdp_ok
    # poppler reads it without complaint.
    result = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stderr == ""
    # qpdf finds no syntax or stream errors (scripts/run-tests installs it).
    if shutil.which("qpdf") is None:
        pytest.skip("qpdf is not installed (scripts/run-tests installs it)")
    result = subprocess.run(["qpdf", "--check", str(pdf)], capture_output=True, text=True)
    assert result.returncode == 0 and "No syntax or stream encoding errors" in result.stdout


def test_aftercare_sheet_is_sealed_on_its_one_page(
    clinic: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    out = clinic["tmp"] / "care.pdf"
    code, _, err = run(
        capsys, "aftercare", clinic["refs"][0], "--out", str(out), "--data-dir",
        str(clinic["data"]), "--config", str(clinic["config"]),
    )  # fmt: skip
    if code != 0 and "no take-home advice" in err:
        pytest.skip("demo content without aftercare")
    assert code == 0, err
    reader = PdfReader(out)
    assert len(reader.pages) == 1
    assert "Sealed electronically by" in reader.pages[0].extract_text()
    code, text = verify(capsys, clinic, out)
    assert code == 0, text


def test_without_a_seal_pdfs_say_not_sealed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], keys_dir: Path
) -> None:
    data = tmp_path / "data"
    _, out, _ = run(capsys, "demo", "--records", "1", "--data-dir", str(data))
    target = tmp_path / "plain.pdf"
    code, _, err = run(
        capsys, "pdf", out.split("\t")[0], "--out", str(target), "--data-dir", str(data)
    )
    assert code == 0 and "NOT SEALED" in err
    assert "NOT SEALED" in PdfReader(target).pages[-1].extract_text()
    code, out, _ = run(
        capsys, "verify-pdf", str(target), "--trust", str(keys_dir / "clinic-root.pem"),
        "--data-dir", str(data),
    )  # fmt: skip
    assert code == 1 and out.startswith("FAILED:") and "NOT SEALED" in out


def test_a_sealing_clinic_never_writes_an_unsealed_pdf(
    clinic: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    target = clinic["tmp"] / "x.pdf"
    # No passphrase file and no terminal to ask on.
    code, _, err = run(
        capsys, "pdf", clinic["refs"][0], "--out", str(target), "--data-dir", str(clinic["data"])
    )
    assert code != 0 and "seal_passphrase_file" in err
    clinic["secret"].chmod(0o640)
    code, _, err = run(
        capsys, "pdf", clinic["refs"][0], "--out", str(target), "--data-dir",
        str(clinic["data"]), "--config", str(clinic["config"]),
    )  # fmt: skip
    assert code != 0 and f"chmod 600 {clinic['secret']}" in err
    clinic["secret"].chmod(0o600)
    clinic["secret"].write_text("not the passphrase\n")
    code, _, err = run(
        capsys, "pdf", clinic["refs"][0], "--out", str(target), "--data-dir",
        str(clinic["data"]), "--config", str(clinic["config"]),
    )  # fmt: skip
    assert code != 0 and "does not open the clinic seal key" in err
    assert "Traceback" not in err
    assert not target.exists()
    assert [p.name for p in target.parent.iterdir() if p.name.startswith(".x.pdf")] == []


# -- tamper drills ------------------------------------------------------------------------


def _edit_byte(data: bytes) -> bytes:
    at = data.index(b"/Producer")
    return data[:at] + b"/Pr0ducer" + data[at + 9 :]


def _incremental_update(data: bytes) -> bytes:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    writer.root["/IMSConsentKiosk"] = generic.DictionaryObject(
        {generic.pdf_name("/Status"): generic.pdf_string("consented")}
    )
    writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _resave(data: bytes) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_tampering_is_detected_and_named(
    clinic: dict[str, Any], capsys: pytest.CaptureFixture[str], sealer: Sealer
) -> None:
    good = export(capsys, clinic, clinic["refs"][0], "good.pdf").read_bytes()
    cases = {
        "byte.pdf": (_edit_byte(good), "is BROKEN"),
        "update.pdf": (_incremental_update(good), "was MODIFIED after sealing"),
        "resaved.pdf": (_resave(good), "is BROKEN"),
        "appended.pdf": (good + b"\n% a note\n", "was MODIFIED after sealing"),
        "text.pdf": (b"hello", "is not a PDF file"),
    }
    paths = []
    for name, (blob, _) in cases.items():
        path = clinic["tmp"] / name
        path.write_bytes(blob)
        paths.append(path)
    code, out = verify(capsys, clinic, *paths)
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == len(cases)
    for line, (name, (_, expected)) in zip(lines, cases.items(), strict=True):
        assert line.startswith("FAILED:") and expected in line, (name, line)


def test_another_key_and_an_expired_certificate_are_refused(
    clinic: dict[str, Any], capsys: pytest.CaptureFixture[str], keys_dir: Path
) -> None:
    from consent_records.seal_block import SealStamp

    now = datetime.now(UTC)
    identity = sealkeys.load_identity(keys_dir)
    assert identity is not None
    # A look-alike clinic with its own root (same name, another key).
    other_root_key, other_root = sealkeys.make_root(CLINIC, now)
    other_key, other_cert = sealkeys.issue_seal(CLINIC, other_root_key, other_root, now)
    other = Sealer(sealkeys.SealIdentity(keys_dir, other_cert, (), other_root), other_key)
    # The clinic's own root, but a seal certificate that ended yesterday.
    root_key = sealkeys.unseal_private(
        keys_dir / "clinic-root-key.json", identity.root, ROOT_PASS, "root"
    )
    old_key, old_cert = sealkeys.issue_seal(
        CLINIC, root_key, identity.root, now - timedelta(days=400), years=1,
        not_before=now - timedelta(days=400),
    )  # fmt: skip
    expired = Sealer(sealkeys.SealIdentity(keys_dir, old_cert, (), identity.root), old_key)
    assert identity.expiry_warning() is None

    services = _services(clinic)
    try:
        stored = services.find(clinic["refs"][0])
        for name, seal_with in (("other.pdf", other), ("expired.pdf", expired)):
            services._sealer = seal_with
            if seal_with is expired:
                # Our own sealer refuses an expired certificate; forge the file past it.
                stamp = SealStamp(CLINIC, "PAdES B-B", "0" * 64, "0" * 64, now, now.date())
                from consent_records.pdf import clinic_header_for, render_consent_pdf

                data = render_consent_pdf(
                    stored, services.content_for(stored.record), clinic_header_for(stored.record),
                    generated_at=services.now(), seal=stamp,
                )  # fmt: skip
                with pytest.raises(Exception, match="expired"):
                    seal_with.seal(data, {}, stamp)
                seal_with.identity = identity  # past our own check, as a forger would
                blob = seal_with.seal(data, {}, stamp)
            else:
                blob = services.render_pdf(stored)
            (clinic["tmp"] / name).write_bytes(blob)
    finally:
        services._sealer = None
        services.close()
    code, out = verify(capsys, clinic, clinic["tmp"] / "other.pdf", clinic["tmp"] / "expired.pdf")
    assert code == 1
    first, second = out.splitlines()
    assert "does NOT lead to a trusted root" in first and "another key sealed it" in first
    assert "NOT VALID" in second and "expired on" in second


def _services(c: dict[str, Any]) -> Any:
    from kiosk.services import KioskServices
    from kiosk.settings import load_settings

    return KioskServices(load_settings(c["config"]), c["data"])


def test_verify_pdf_checks_the_record_against_the_store(
    clinic: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from consent_records.model import EventKind, RecordEvent

    services = _services(clinic)
    try:  # a record the physiotherapist can still discuss (not declined at the kiosk)
        ref = next(r for r in clinic["refs"] if services.find(r).record.decision.value != "decline")
    finally:
        services.close()
    pdf = export(capsys, clinic, ref, "then.pdf")
    services = _services(clinic)
    try:
        stored = services.find(ref)
        services.store.append_event(
            RecordEvent(
                record_id=stored.record.id, kind=EventKind.PHYSIO_REVIEWED, at=services.now(),
                actor="physio",
            )
        )  # fmt: skip
    finally:
        services.close()
    code, out = verify(capsys, clinic, pdf)
    assert code == 1 and "OUTDATED" in out and "is now discussed" in out

    # The same seal over another clinic store: the record is not there.
    other = tmp_path / "other"
    run(capsys, "demo", "--records", "1", "--data-dir", str(other), "--seed", "8")
    (other / "keys").mkdir(mode=0o700, exist_ok=True)
    for name in sealkeys.SEAL_FILES:
        shutil.copy(clinic["data"] / "keys" / name, other / "keys" / name)
    code, out, _ = run(capsys, "verify-pdf", str(pdf), "--data-dir", str(other))
    assert code == 1 and "is NOT in this clinic's store" in out


# -- time-stamps (B-T) --------------------------------------------------------------------


@pytest.fixture
def local_tsa(keys_dir: Path) -> Iterator[tuple[str, Path]]:
    """A local RFC 3161 time-stamping service over HTTP (pyHanko's test stamper), with its
    own root; yields its URL and its root certificate's file."""
    from asn1crypto import keys as asn1_keys
    from asn1crypto import tsp
    from asn1crypto import x509 as asn1_x509
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    from pyhanko.sign.timestamps import DummyTimeStamper

    now = datetime.now(UTC)
    root_key, root = sealkeys.make_root("Clinic time-stamping", now)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # pyHanko's: RSA only
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Local TSA")]))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    der = serialization.Encoding.DER
    stamper = DummyTimeStamper(
        tsa_cert=asn1_x509.Certificate.load(cert.public_bytes(der)),
        tsa_key=asn1_keys.PrivateKeyInfo.load(
            key.private_bytes(der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        ),
    )

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            reply = stamper.request_tsa_response(tsp.TimeStampReq.load(body)).dump()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    root_file = keys_dir.parent / f"tsa-root-{os.getpid()}-{id(server)}.pem"
    root_file.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", root_file
    finally:
        server.shutdown()
        server.server_close()


def test_a_local_time_stamping_service_gives_b_t(
    clinic: dict[str, Any], capsys: pytest.CaptureFixture[str], local_tsa: tuple[str, Path]
) -> None:
    url, tsa_root = local_tsa
    clinic["config"].write_text(f'seal_passphrase_file = "{clinic["secret"]}"\ntsa_url = "{url}"\n')
    pdf = export(capsys, clinic, clinic["refs"][1], "stamped.pdf")
    assert "PAdES B-T" in PdfReader(pdf).pages[-1].extract_text()
    keys = clinic["data"] / "keys"
    code, out, _ = run(
        capsys, "verify-pdf", str(pdf), "--trust", str(keys / "clinic-root.pem"),
        "--trust", str(tsa_root), "--data-dir", str(clinic["data"]),
    )  # fmt: skip
    assert code == 0, out
    assert "PAdES B-T" in out
    # Without trusting the time-stamping authority, the time-stamp proves nothing: B-B.
    code, out = verify(capsys, clinic, pdf)
    assert code == 0 and "PAdES B-B" in out

    # The service down: nothing is written, and the sentence says why.
    clinic["config"].write_text(
        f'seal_passphrase_file = "{clinic["secret"]}"\ntsa_url = "http://127.0.0.1:9/"\n'
    )
    target = clinic["tmp"] / "never.pdf"
    code, _, err = run(
        capsys, "pdf", clinic["refs"][1], "--out", str(target), "--data-dir",
        str(clinic["data"]), "--config", str(clinic["config"]),
    )  # fmt: skip
    assert code != 0 and "time-stamping service" in err and not target.exists()


def test_verify_pdf_trusts_the_root_it_is_given(
    clinic: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pdf = export(capsys, clinic, clinic["refs"][2], "theirs.pdf")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code, _, err = run(capsys, "verify-pdf", str(pdf), "--data-dir", str(elsewhere))
    assert code == 2 and "--trust ROOT.pem" in err
    now = datetime.now(UTC)
    _, stranger = sealkeys.make_root("Stranger", now)
    from cryptography.hazmat.primitives.serialization import Encoding

    (tmp_path / "stranger.pem").write_bytes(stranger.public_bytes(Encoding.PEM))
    code, out, _ = run(
        capsys, "verify-pdf", str(pdf), "--trust", str(tmp_path / "stranger.pem"),
        "--data-dir", str(elsewhere),
    )  # fmt: skip
    assert code == 1 and "does NOT lead to a trusted root" in out
    code, out, _ = run(
        capsys, "verify-pdf", str(pdf), "--trust", str(clinic["data"] / "keys" / "clinic-root.pem"),
        "--data-dir", str(elsewhere),
    )  # fmt: skip
    assert code == 0 and out.startswith("OK:")


def test_a_backup_carries_the_seal(
    clinic: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pdf = export(capsys, clinic, clinic["refs"][0], "kept.pdf")
    copy = tmp_path / "backup"
    code, _, err = run(capsys, "backup", "--out", str(copy), "--data-dir", str(clinic["data"]))
    assert code == 0, err
    for name in sealkeys.SEAL_FILES:
        assert (copy / "keys" / name).read_bytes() == (clinic["data"] / "keys" / name).read_bytes()
    code, out, _ = run(capsys, "verify-pdf", str(pdf), "--data-dir", str(copy))
    assert code == 0 and out.startswith("OK:"), out
