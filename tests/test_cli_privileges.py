"""Owners, modes and the umask: the store is private whatever the umask, a writer run as
another user is refused, a wrong owner or mode is named with its fix (never "restore a
backup"), and a data directory that cannot be written stops the kiosk before any patient.

The other user is ``nobody``, reached with setpriv when the tests run as root (CI does);
without root those tests are skipped, saying why.
"""

from __future__ import annotations

import errno
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from consent_records.base import StoreUnavailable
from kiosk.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXE = Path(sys.executable).with_name("ims-kiosk")

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to act as another user (CI runs as root)",
)


def _nobody() -> pwd.struct_passwd:
    return pwd.getpwnam("nobody")


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder another user can reach (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="ims-priv-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _as_nobody(*argv: str) -> subprocess.CompletedProcess[str]:
    user = _nobody()
    return subprocess.run(
        ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
         str(EXE), *argv],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        env={**os.environ, "HOME": "/tmp", "IMS_KIOSK_STATE_DIR": "/tmp/ims-priv-state"},
    )  # fmt: skip


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    for item in [path, *path.rglob("*")]:
        os.chown(item, uid, gid, follow_symlinks=False)


def _snapshot(path: Path) -> dict[str, tuple[int, int, int]]:
    return {
        str(p): (p.stat().st_uid, p.stat().st_mtime_ns, p.stat().st_size)
        for p in [path, *path.rglob("*")]
    }


@needs_root
def test_a_writer_run_as_another_user_is_refused(
    shared_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = shared_tmp / "data"
    assert main(["demo", "--records", "2", "--data-dir", str(data)]) == 0
    capsys.readouterr()
    user = _nobody()
    _chown_tree(data, user.pw_uid, user.pw_gid)
    before = _snapshot(data)
    for argv in (["demo", "--records", "1"], ["pdf", "AAAA-BBBB", "--out",
                 str(shared_tmp / "x.pdf")], ["reindex"]):  # fmt: skip
        code = main([*argv, "--data-dir", str(data)])
        err = capsys.readouterr().err
        assert code != 0
        assert "This store belongs to nobody; run as nobody (for example sudo -u nobody" in err
        assert "backup" not in err
    assert _snapshot(data) == before, "nothing may be written as root into nobody's store"
    # Reading is allowed: an admin may verify the kiosk's store as root.
    assert main(["verify", "--data-dir", str(data), "--state-dir", str(shared_tmp / "s")]) == 0


@needs_root
@pytest.mark.parametrize("problem", ["owner", "mode"])
def test_a_wrong_owner_or_mode_is_named_with_its_fix(
    shared_tmp: Path, capsys: pytest.CaptureFixture[str], problem: str
) -> None:
    data = shared_tmp / "data"
    assert main(["demo", "--records", "3", "--data-dir", str(data)]) == 0
    capsys.readouterr()
    user = _nobody()
    _chown_tree(data, user.pw_uid, user.pw_gid)
    entry = next(iter(sorted((data / "entries").rglob("*.json"))))
    if problem == "owner":  # what a command run as root wrote before
        os.chown(entry, 0, 0)
    else:
        entry.chmod(0)
    result = _as_nobody("verify", "--data-dir", str(data))
    assert result.returncode != 0
    if problem == "owner":
        assert "belongs to root, not to nobody" in result.stderr
        assert f"chown nobody '{entry}'" in result.stderr
    else:
        assert "mode 0000" in result.stderr and f"chmod 600 '{entry}'" in result.stderr
    assert "restore" not in result.stderr.lower()
    assert "Traceback" not in result.stderr


@pytest.fixture
def own_log() -> Iterator[None]:
    """This test's own kiosk log (the log handler is set up once per process)."""
    import contextlib
    import logging

    root = logging.getLogger()
    saved = [h for h in root.handlers if getattr(h, "_ims_kiosk", False)]
    for handler in saved:
        root.removeHandler(handler)
    yield
    for handler in [h for h in root.handlers if getattr(h, "_ims_kiosk", False)]:
        root.removeHandler(handler)
        with contextlib.suppress(OSError):
            handler.close()
    for handler in saved:
        root.addHandler(handler)


@pytest.mark.parametrize("umask", [0o000, 0o077, 0o022])
def test_modes_do_not_depend_on_the_umask(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], umask: int, own_log: None
) -> None:
    data = tmp_path / "data"
    old = os.umask(umask)
    try:
        assert main(["demo", "--records", "2", "--data-dir", str(data)]) == 0
        assert main(["backup", "--out", str(tmp_path / "b"), "--data-dir", str(data)]) == 0
    finally:
        os.umask(old)
    capsys.readouterr()
    for root in (data, tmp_path / "b"):
        for path in [root, *root.rglob("*")]:
            mode = stat.S_IMODE(path.lstat().st_mode)
            want = 0o700 if path.is_dir() else 0o600
            assert mode == want, f"{path} has mode {mode:o}, not {want:o} (umask {umask:03o})"
    assert (data / "logs" / "kiosk.log").is_file()


def test_an_earlier_loose_store_is_made_private(tmp_path: Path) -> None:
    """Stores written before (0755 folder, 0644 marker and log) are tightened on open."""
    from consent_records.store import open_store

    data = tmp_path / "data"
    open_store(data).close()
    data.chmod(0o755)
    (data / "store.json").chmod(0o644)
    open_store(data).close()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "store.json").stat().st_mode) == 0o600


def test_the_kiosk_will_not_start_on_a_data_directory_it_cannot_write(
    tmp_path: Path,
) -> None:
    """The start-up probe: refuse before any patient starts, not at "Sign and finish" after
    their ten minutes (the content is archived already, so nothing else would write)."""
    from kiosk.services import KioskServices, describe_startup_error
    from kiosk.settings import Settings

    data = tmp_path / "data"
    first = KioskServices(Settings(), data)
    first.prepare()
    first.close()
    real_open = os.open
    rofs = OSError(errno.EROFS, os.strerror(errno.EROFS))

    def read_only_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and not str(path).endswith(".lock"):
            raise rofs
        return real_open(path, flags, *args, **kwargs)

    services = KioskServices(Settings(), data)
    with mock.patch("os.open", read_only_open), pytest.raises(StoreUnavailable) as caught:
        services.prepare()
    services.close()
    message = describe_startup_error(caught.value)
    assert "read-only" in message and str(data) in message


@needs_root
def test_the_kiosk_will_not_start_when_its_user_cannot_write(shared_tmp: Path) -> None:
    data = shared_tmp / "data"
    probe = (
        "import sys; from pathlib import Path; from kiosk.services import KioskServices, "
        "describe_startup_error; from kiosk.settings import Settings\n"
        "s = KioskServices(Settings(), Path(sys.argv[1]))\n"
        "try:\n    s.prepare()\nexcept Exception as e:\n"
        "    print(describe_startup_error(e)); sys.exit(1)\n"
    )
    assert main(["demo", "--records", "1", "--data-dir", str(data)]) == 0
    user = _nobody()
    _chown_tree(data, user.pw_uid, user.pw_gid)
    (data / "entries" / "000000").chmod(0o500)
    result = subprocess.run(
        ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
         sys.executable, "-c", probe, str(data)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "HOME": "/tmp"},
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "000000" in result.stdout and "chmod 700" in result.stdout
