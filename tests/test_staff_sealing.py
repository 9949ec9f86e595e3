"""The staff app's PDF export goes through the clinic's seal (docs/sealing.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from consent_records import sealkeys
from consent_records.sealing import verify_pdf
from kiosk.staff.errors import ExportProblem
from tests.seal_fixtures import SEAL_PASS
from tests.staff_fixtures import (
    Clinic,
    clinic_fixture,  # noqa: F401 (the "clinic" fixture, staff side)
    sign_in,
)


def test_staff_export_is_sealed_and_never_unsealed(
    clinic: Clinic,
    keys_dir: Path,
    tmp_path: Path,
) -> None:
    keys = clinic.data_dir / "keys"
    keys.mkdir(mode=0o700, exist_ok=True)
    for name in sealkeys.SEAL_FILES:
        shutil.copy(keys_dir / name, keys / name)
    record = clinic.record()
    # No passphrase file for this terminal: a sentence, and no file.
    services = clinic.terminal()
    admin = sign_in(services, "office")
    target = tmp_path / "one.pdf"
    with pytest.raises(ExportProblem, match="seal_passphrase_file"):
        services.export_pdf(admin, record.id, target)
    assert not target.exists()
    # With it: sealed, and the seal leads to the clinic's root.
    secret = tmp_path / "seal-passphrase"
    secret.write_text(SEAL_PASS + "\n")
    secret.chmod(0o600)
    services = clinic.terminal(seal_passphrase_file=str(secret))
    admin = sign_in(services, "office")
    services.export_pdf(admin, record.id, target)
    identity = sealkeys.load_identity(keys)
    assert identity is not None
    verdict = verify_pdf(target.read_bytes(), [identity.root])
    assert verdict.ok, verdict.sentence
    assert verdict.info["Reference"] == record.reference
