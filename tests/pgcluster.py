"""A throwaway PostgreSQL cluster for the tests: private, on a Unix socket, no TCP.

``scripts/run-tests`` starts one for the whole run (``python -m tests.pgcluster start``) and
exports its DSN as ``IMS_KIOSK_TEST_PG``; the fixtures in ``tests/pg_fixtures.py`` start one
themselves when that is not set (a developer running ``pytest tests/pg`` alone) and skip,
naming the reason, only when no server can be started here.

``initdb`` refuses to run as root: as root the cluster is made and run as the ``postgres``
user (``runuser``), in a directory it owns. The server's settings trade durability for speed
(fsync off): the cluster holds nothing but test data and is deleted afterwards.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ENV_DSN = "IMS_KIOSK_TEST_PG"
"""The DSN of a superuser on the test cluster (set by scripts/run-tests)."""
SUPERUSER = "ims_test_admin"


class ClusterUnavailable(Exception):
    """No PostgreSQL server can be started here; the message says why."""


def find_bindir() -> Path | None:
    """The newest installed PostgreSQL's binaries (Debian keeps them off PATH)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _runner() -> tuple[list[str], int | None, int | None]:
    """The prefix that runs a command as the cluster's owner, and that owner's uid, gid."""
    if os.geteuid() != 0:
        return [], None, None
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise ClusterUnavailable(
            "running as root and there is no postgres user to run the test cluster as "
            "(install the postgresql package)"
        ) from None
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--"], user.pw_uid, user.pw_gid
    if shutil.which("setpriv"):
        return (
            ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups"],
            user.pw_uid,
            user.pw_gid,
        )
    raise ClusterUnavailable("running as root and neither runuser nor setpriv is available")


def _run(prefix: list[str], argv: list[str], what: str) -> None:
    result = subprocess.run(
        [*prefix, *argv], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise ClusterUnavailable(f"{what} failed: {' / '.join(detail)}")


def dsn_for(directory: Path, user: str = SUPERUSER, dbname: str = "postgres") -> str:
    return f"host={directory} port=5432 user={user} dbname={dbname}"


def start(directory: Path | None = None) -> tuple[Path, str]:
    """Make and start a cluster in a new private directory; return it and a superuser DSN."""
    bindir = find_bindir()
    if bindir is None:
        raise ClusterUnavailable(
            "PostgreSQL is not installed (no initdb); scripts/run-tests installs it with "
            "apt-get when run as root"
        )
    prefix, uid, gid = _runner()
    base = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="ims-pg-"))
    base.mkdir(parents=True, exist_ok=True)
    if uid is not None and gid is not None:
        os.chown(base, uid, gid)
    os.chmod(base, 0o700 if uid is None else 0o711)
    data = base / "data"
    _run(
        prefix,
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ],
        "initdb",
    )
    options = (
        f"-k {base} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
        "-c full_page_writes=off -c max_connections=200 -c shared_buffers=128MB"
    )
    _run(
        prefix,
        [
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(base / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        ],
        "starting the server",
    )
    return base, dsn_for(base)


def stop(base: Path) -> None:
    """Stop the cluster in ``base`` and delete it."""
    bindir = find_bindir()
    prefix, _, _ = _runner()
    if bindir is not None and (base / "data" / "postmaster.pid").exists():
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(base / "data"), "-m", "immediate", "stop"],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )
    shutil.rmtree(base, ignore_errors=True)


def main(argv: list[str]) -> int:
    """``start`` prints ``DIR<TAB>DSN``; ``stop DIR`` stops and deletes it."""
    if argv[:1] == ["start"]:
        try:
            base, dsn = start()
        except (ClusterUnavailable, OSError, subprocess.SubprocessError) as exc:
            print(f"PostgreSQL test cluster not started: {exc}", file=sys.stderr)
            return 1
        print(f"{base}\t{dsn}")
        return 0
    if argv[:1] == ["stop"] and len(argv) == 2:
        stop(Path(argv[1]))
        return 0
    print("usage: python -m tests.pgcluster start | stop DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
