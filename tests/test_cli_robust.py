"""No tracebacks, ever: a full disk while logging, a non-UTF-8 path, hostile config files,
a lock held by someone else; each gets one sentence and a non-zero exit."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.cli import main

EXE = Path(sys.executable).with_name("ims-kiosk")


@pytest.fixture
def fresh_logging() -> Iterator[None]:
    """setup_logging installs one handler per process: start and end without it."""
    root = logging.getLogger()
    saved = list(root.handlers)
    raise_exceptions = logging.raiseExceptions
    for handler in saved:
        root.removeHandler(handler)
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        with contextlib.suppress(OSError):
            handler.close()
    for handler in saved:
        root.addHandler(handler)
    logging.raiseExceptions = raise_exceptions


class _FullDisk:
    def write(self, text: str) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def flush(self) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def close(self) -> None:
        pass


def test_a_full_disk_while_logging_prints_no_traceback(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], fresh_logging: None
) -> None:
    from kiosk.services import setup_logging

    data = tmp_path / "data"
    data.mkdir()
    setup_logging(data)
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_ims_kiosk", False))
    handler.stream = _FullDisk()  # type: ignore[attr-defined]
    for n in range(40):
        logging.getLogger("kiosk").error("a record %d could not be logged", n)
    assert main(["demo", "--records", "1", "--data-dir", str(data)]) == 0
    err = capfd.readouterr().err
    assert "Logging error" not in err and "Traceback" not in err


def _run(*argv: str | bytes, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [os.fsencode(EXE), *(os.fsencode(a) if isinstance(a, str) else a for a in argv)],
        capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
        env={**os.environ, "LC_ALL": "C.UTF-8", "IMS_KIOSK_STATE_DIR": "/nonexistent/s"},
    )  # fmt: skip


def test_a_non_utf8_data_dir_gets_sentences(tmp_path: Path) -> None:
    odd = os.fsencode(tmp_path) + b"/donn\xe9es"
    made = _run("demo", "--records", "1", "--data-dir", odd)
    assert made.returncode == 0, made.stderr
    for argv in (["verify"], ["backup", "--out", os.fsencode(tmp_path) + b"/b\xe9"]):
        result = _run(*argv, "--data-dir", odd)
        assert b"Traceback" not in result.stderr + result.stdout
        assert result.returncode == 0, result.stderr
    missing = _run("verify", "--data-dir", odd + b"-missing")
    assert missing.returncode == 2 and b"There is no record store" in missing.stderr
    assert b"Traceback" not in missing.stderr


class Hung(BaseException):
    """Not an OSError: code under test must not be able to catch it."""


def _deadline(seconds: int) -> None:
    def expired(*_: object) -> None:
        raise Hung("still running after the deadline (a hang)")

    signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)


@pytest.mark.parametrize("kind", ["nested", "huge", "dev-zero", "fifo", "folder", "not-utf8"])
def test_a_hostile_config_gets_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    config = tmp_path / "clinic.toml"
    if kind == "nested":
        config.write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    elif kind == "huge":
        config.write_text('# padding\nkiosk_id = "x"\n' + "# " + "x" * (2 << 20) + "\n")
    elif kind == "dev-zero":
        config = Path("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(config)
    elif kind == "folder":
        config.mkdir()
    else:
        config.write_bytes(b'kiosk_id = "caf\xe9"\n')
    _deadline(20)
    try:
        code = main(["verify", "--config", str(config), "--data-dir", str(tmp_path / "d")])
    finally:
        signal.alarm(0)
    err = capsys.readouterr().err
    assert code == 2
    assert str(config) in err and len(err.strip().splitlines()) <= 2, err
    assert "Traceback" not in err and "Something went wrong" not in err


def test_a_lock_timeout_names_who_holds_the_store(tmp_path: Path) -> None:
    from consent_records.base import StoreUnavailable
    from consent_records.store import open_store

    data = tmp_path / "data"
    open_store(data).close()
    holder = subprocess.Popen(
        ["flock", str(data / ".lock"), "sleep", "30"], stdin=subprocess.DEVNULL
    )
    try:
        from consent_records.store.lock import lock_holder

        for _ in range(500):  # until flock(1) holds it
            if lock_holder(str(data / ".lock")):
                break
            time.sleep(0.01)
        with pytest.raises(StoreUnavailable) as caught:
            open_store(data, lock_timeout=0.3)
        message = str(caught.value)
    finally:
        holder.kill()
        holder.wait()
    assert "stayed locked by process" in message and "sleep 30" in message
    assert "ps -fp" in message
