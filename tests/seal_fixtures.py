"""Fixtures shared by the seal and export tests: the clinic's keys made once per session."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from consent_records import sealkeys
from consent_records.sealing import Sealer
from kiosk.cli import main

ROOT_PASS = "offline passphrase for tests"
SEAL_PASS = "seal passphrase for tests"
CLINIC = "Clinique Évangéline Physiothérapie"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clinic root and seal, made once (as `keys init` makes them)."""
    keys = tmp_path_factory.mktemp("seal") / "keys"
    sealkeys.create_seal(keys, CLINIC, ROOT_PASS, SEAL_PASS)
    return keys


@pytest.fixture(scope="session")
def sealer(keys_dir: Path) -> Sealer:
    identity = sealkeys.load_identity(keys_dir)
    assert identity is not None
    return Sealer.open(identity, SEAL_PASS)


@pytest.fixture
def clinic(tmp_path: Path, keys_dir: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """A store with three demo records, the session's seal and a passphrase file."""
    data = tmp_path / "data"
    _, out, _ = run(capsys, "demo", "--records", "3", "--data-dir", str(data), "--seed", "5")
    refs = [line.split("\t")[0] for line in out.splitlines()]
    (data / "keys").mkdir(mode=0o700, exist_ok=True)
    for name in sealkeys.SEAL_FILES:
        shutil.copy(keys_dir / name, data / "keys" / name)
    secret = tmp_path / "seal-passphrase"
    secret.write_text(SEAL_PASS + "\n")
    secret.chmod(0o600)
    config = tmp_path / "clinic.toml"
    config.write_text(f'seal_passphrase_file = "{secret}"\n')
    return {"data": data, "refs": refs, "config": config, "secret": secret, "tmp": tmp_path}


def export(capsys: pytest.CaptureFixture[str], c: dict[str, Any], ref: str, name: str) -> Path:
    out = c["tmp"] / name
    code, _, err = run(
        capsys, "pdf", ref, "--out", str(out), "--data-dir", str(c["data"]),
        "--config", str(c["config"]),
    )  # fmt: skip
    assert code == 0, err
    return out


def verify(capsys: pytest.CaptureFixture[str], c: dict[str, Any], *files: Path) -> tuple[int, str]:
    code, out, err = run(capsys, "verify-pdf", *map(str, files), "--data-dir", str(c["data"]))
    assert "Traceback" not in out + err
    return code, out
