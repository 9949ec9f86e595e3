"""TinyDB's own test suite, run against AtomicJSONStorage.

The suite is taken from TinyDB's sdist at test time (``pip download``, the installed
version) and never copied into this repository. A conftest written next to it swaps
``JSONStorage`` for :class:`consent_records.storage.AtomicJSONStorage` before the tests
import it. One assertion is adjusted in the downloaded copy: test_tables checks the
storage class's name in ``repr(table)``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CONFTEST = """
import tinydb
import tinydb.database
import tinydb.storages

from consent_records.storage import AtomicJSONStorage

tinydb.storages.JSONStorage = AtomicJSONStorage
tinydb.JSONStorage = AtomicJSONStorage
tinydb.database.JSONStorage = AtomicJSONStorage
tinydb.TinyDB.default_storage_class = AtomicJSONStorage
"""

NO_NETWORK = (
    "Could not resolve",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "No matching distribution",
    "ProxyError",
    "Connection refused",
    "Max retries exceeded",
)


def _download(dest: Path) -> Path:
    wanted = version("tinydb")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-binary",
            ":all:",
            "--no-deps",
            "--disable-pip-version-check",
            f"tinydb=={wanted}",
            "-d",
            str(dest),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        output = result.stdout + result.stderr
        if any(sign in output for sign in NO_NETWORK):
            pytest.skip(f"no network to download TinyDB {wanted}'s sdist: {output.strip()[-300:]}")
        raise AssertionError(f"pip download failed:\n{output}")
    sdists = list(dest.glob("tinydb-*.tar.gz"))
    assert sdists, "pip download produced no sdist"
    return sdists[0]


def test_tinydb_suite_with_atomic_storage(tmp_path: Path) -> None:
    sdist = _download(tmp_path / "dl")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / "src", filter="data")
    (source,) = (tmp_path / "src").iterdir()
    suite = tmp_path / "suite"
    shutil.copytree(source / "tests", suite / "tests")
    (suite / "conftest.py").write_text(CONFTEST)
    (suite / "pytest.ini").write_text("[pytest]\n")
    tables = suite / "tests" / "test_tables.py"
    text = tables.read_text()
    old = r"tinydb\.storages\.(MemoryStorage|JSONStorage)"
    assert old in text
    tables.write_text(
        text.replace(
            old, r"(tinydb\.storages\.MemoryStorage|consent_records\.storage\.AtomicJSONStorage)"
        )
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "-W",
            "ignore::DeprecationWarning",
            "tests",
        ],
        cwd=suite,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    tail = result.stdout[-3000:] + result.stderr[-2000:]
    assert result.returncode == 0, tail
    passed = re.search(r"(\d+) passed", result.stdout)
    assert passed and int(passed.group(1)) >= 200 and "failed" not in result.stdout, tail
    # The swap took effect: JSON-backed tests ran on the atomic storage.
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import conftest, tinydb; print(tinydb.TinyDB.default_storage_class.__name__)",
        ],
        cwd=suite,
        env=env,
        capture_output=True,
        text=True,
    )
    assert check.stdout.strip() == "AtomicJSONStorage", check.stderr
