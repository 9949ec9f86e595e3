"""The clinic's checkpoint key and checkpoints through ims-kiosk, as an admin uses them:
keys init, checkpoint (one line to keep off the kiosk), verify --expect with that line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from consent_records import keys
from kiosk.cli import main

PASSPHRASE = "a synthetic passphrase for tests"
SEAL_PASSPHRASE = "another synthetic passphrase, for the seal"


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


def test_keys_init_checkpoint_and_verify_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keys, "SCRYPT_N", 2**14)  # quick for tests; the key file records it
    data, state = str(tmp_path / "data"), str(tmp_path / "state")
    assert run(capsys, monkeypatch, "demo", "--records", "2", "--data-dir", data)[0] == 0

    code, out, err = run(
        capsys, monkeypatch, "keys", "init", "--passphrase-stdin", "--data-dir", data,
        stdin=f"{PASSPHRASE}\n{SEAL_PASSPHRASE}\n",  # the clinic's, then the seal's (kept here)
    )  # fmt: skip
    assert code == 0, err
    assert "fingerprint" in out

    code, out, err = run(
        capsys, monkeypatch, "checkpoint", "--passphrase-stdin", "--data-dir", data,
        stdin="not the passphrase\n",
    )  # fmt: skip
    assert code != 0 and "does not open the checkpoint key" in err and "Nothing was signed" in err
    assert not (tmp_path / "data" / "checkpoints.jsonl").exists()

    code, out, err = run(
        capsys, monkeypatch, "checkpoint", "--passphrase-stdin", "--data-dir", data,
        stdin=PASSPHRASE + "\n",
    )  # fmt: skip
    assert code == 0, err
    line = out.splitlines()[0]
    assert line.startswith("checkpoint 2:") and " sig " in line, out

    assert run(capsys, monkeypatch, "demo", "--records", "1", "--data-dir", data)[0] == 0
    code, out, err = run(
        capsys, monkeypatch, "verify", "--data-dir", data, "--state-dir", state, "--expect", line
    )
    assert code == 0, err
    assert "Checkpoints: 1 signed, each matches" in out
    assert f"Holds: {line.split()[1]} (--expect, a signed checkpoint)" in out, out

    forged = line[:-4] + ("AAAA" if not line.endswith("AAAA") else "BBBB")
    code, out, err = run(
        capsys, monkeypatch, "verify", "--data-dir", data, "--state-dir", state,
        "--expect", forged,
    )  # fmt: skip
    assert code != 0 and out == ""
    assert "Traceback" not in err
