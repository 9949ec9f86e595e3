"""Symbolic links, FIFOs, devices, oversized and absurdly nested files in each place of the
data directory: never followed, never a hang, never a traceback; a sentence naming the path,
and the file a link points at is left exactly as it was."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from consent_records import keys
from consent_records.base import StoreError
from consent_records.store import entry_path, open_store
from kiosk.cli import main

from .conftest import CONTENT_JSON, CONTENT_SHA, make_event, make_record, open_new

PLACES = {
    "marker": "store.json",
    "index": "index.jsonl",
    "entry": "entries/000000/000000003.json",
    "content": f"content/{CONTENT_SHA}.json",
    "checkpoints": "checkpoints.jsonl",
    "public key": "keys/checkpoint-key.pub",
    "lock": ".lock",
}
CAPPED = ("marker", "index", "entry", "content", "checkpoints")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("special") / "data"
    store = open_new(data)
    ids = [store.save_record(make_record(n)).record.id for n in range(3)]
    store.append_event(make_event(ids[0]))
    cost = keys.SCRYPT_N
    keys.SCRYPT_N = 2**14
    try:
        keys.create_key(data / "keys", "synthetic passphrase")
    finally:
        keys.SCRYPT_N = cost
    signer = keys.unseal(data / "keys" / "checkpoint-key.json", "synthetic passphrase")
    store.add_checkpoint(signer.sign(4, store.chain_head()))
    store.close()
    return data


class Hung(BaseException):
    """Not an OSError: code under test must not be able to catch it."""


@contextlib.contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail (instead of hanging the suite) if the block takes longer than ``seconds``."""

    def expired(*_: object) -> None:
        raise Hung(f"still running after {seconds} s (a hang)")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _symlink(path: Path, victim: Path) -> None:
    victim.write_bytes(path.read_bytes() if path.exists() else b"victim\n")
    path.unlink(missing_ok=True)
    path.symlink_to(victim)


def _fifo(path: Path, victim: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


def _device(path: Path, victim: Path) -> None:
    path.unlink(missing_ok=True)
    if os.geteuid() == 0:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero itself
    else:
        path.symlink_to("/dev/zero")


def _oversized(path: Path, victim: Path) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(2**31)  # sparse: costs no disk


KINDS: dict[str, Callable[[Path, Path], None]] = {
    "symlink": _symlink,
    "fifo": _fifo,
    "device": _device,
    "oversized": _oversized,
}
CASES = [
    (place, kind) for place in PLACES for kind in KINDS if kind != "oversized" or place in CAPPED
]


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    with deadline(20):
        code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out + err


@pytest.mark.parametrize(("place", "kind"), CASES)
def test_special_file_in_the_data_directory(
    base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], place: str, kind: str
) -> None:
    data = tmp_path / "data"
    shutil.copytree(base, data, symlinks=True)
    path = data / PLACES[place]
    victim = tmp_path / "victim.txt"
    KINDS[kind](path, victim)
    before = victim.read_bytes() if victim.exists() else None
    state = str(tmp_path / "state")
    code, output = _run(capsys, "verify", "--data-dir", str(data), "--state-dir", state)
    assert "Traceback" not in output and "Something went wrong" not in output
    assert code != 0, output
    assert PLACES[place].split("/")[-1] in output, output
    if place in ("checkpoints", "public key"):
        return  # the kiosk never opens these; verify and checkpoint do
    # The kiosk (a writer) refuses too, and writes nothing through a link.
    with deadline(20), pytest.raises(StoreError) as caught:
        store = open_store(data, lock_timeout=1)
        try:  # what the kiosk does at start, then at "Sign and finish"
            store.check_integrity()
            store.archive_content(CONTENT_SHA, CONTENT_JSON)
            store.save_record(make_record(50))
        finally:
            store.close()
    assert PLACES[place].split("/")[-1] in str(caught.value)
    if before is not None:
        assert victim.read_bytes() == before, "a file outside the store was changed"


@pytest.mark.parametrize("name", ["entries", "content", "logs", "keys", "entries/000000"])
def test_a_linked_folder_is_refused(
    base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    data = tmp_path / "data"
    shutil.copytree(base, data, symlinks=True)
    real = data / name
    elsewhere = tmp_path / "elsewhere"
    if real.exists():
        shutil.move(real, elsewhere)
    else:
        elsewhere.mkdir()
    real.symlink_to(elsewhere, target_is_directory=True)
    code, output = _run(
        capsys, "verify", "--data-dir", str(data), "--state-dir", str(tmp_path / "s")
    )
    assert code != 0 and "symbolic link" in output and name.split("/")[-1] in output


@pytest.fixture
def own_log() -> Iterator[None]:
    """setup_logging installs its handler once per process: a command run earlier in this
    worker (reindex, demo) would keep logging to its own data directory."""
    import logging

    root = logging.getLogger()

    def drop() -> list[logging.Handler]:
        ours = [h for h in root.handlers if getattr(h, "_ims_kiosk", False)]
        for handler in ours:
            root.removeHandler(handler)
        return ours

    saved = drop()
    yield
    for handler in drop():
        handler.close()
    for handler in saved:
        root.addHandler(handler)


@pytest.mark.parametrize("name", ["logs/kiosk.log", "DEMO-DATA.txt"])
def test_demo_never_writes_through_a_planted_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, own_log: None
) -> None:
    data = tmp_path / "data"
    (data / "logs").mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious\n")
    (data / name).symlink_to(victim)
    code, output = _run(capsys, "demo", "--records", "1", "--data-dir", str(data))
    assert "Traceback" not in output
    assert victim.read_bytes() == b"precious\n"
    assert name.split("/")[-1] in output
    if name == "DEMO-DATA.txt":
        assert code != 0


NESTED = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize("place", ["entry", "index", "marker", "checkpoints"])
def test_absurdly_nested_json_gets_a_sentence(
    base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], place: str
) -> None:
    data = tmp_path / "data"
    shutil.copytree(base, data, symlinks=True)
    path = data / PLACES[place]
    if place == "index":
        lines = path.read_bytes().splitlines(keepends=True)
        path.write_bytes(b"".join(lines[:2]) + NESTED + b"\n" + b"".join(lines[3:]))
    else:
        path.write_bytes(NESTED)
    code, output = _run(
        capsys, "verify", "--data-dir", str(data), "--state-dir", str(tmp_path / "s")
    )
    assert code != 0
    assert "Traceback" not in output and "Something went wrong" not in output
    assert PLACES[place].split("/")[-1] in output


def test_entry_path_helper_matches_layout(base: Path) -> None:
    assert entry_path(base, 3).relative_to(base).as_posix() == PLACES["entry"]


@pytest.mark.parametrize("name", ["store.json", "entries", "entries/000000"])
def test_reindex_never_works_through_a_link(
    base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """The one repair command refuses a linked marker or folder and changes nothing (it
    used to read through the link, or drop every index line of a linked block)."""
    data = tmp_path / "data"
    shutil.copytree(base, data, symlinks=True)
    index = (data / "index.jsonl").read_bytes()
    real = data / name
    elsewhere = tmp_path / "elsewhere"
    shutil.move(real, elsewhere)
    if name == "entries/000000":
        (elsewhere / "000000001.json").unlink()  # a different folder: not the store's entries
    real.symlink_to(elsewhere, target_is_directory=elsewhere.is_dir())
    code, output = _run(capsys, "reindex", "--data-dir", str(data))
    assert code != 0, output
    assert "symbolic link" in output and name.split("/")[-1] in output, output
    assert (data / "index.jsonl").read_bytes() == index
    assert not list(data.glob("index-replaced-*")), "reindex replaced the index"


@pytest.mark.parametrize("place", ["checkpoints", "public key"])
def test_backup_names_a_linked_file_in_a_sentence(
    base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], place: str
) -> None:
    data = tmp_path / "data"
    shutil.copytree(base, data, symlinks=True)
    _symlink(data / PLACES[place], tmp_path / "victim.txt")
    code, output = _run(capsys, "backup", "--data-dir", str(data), "--out", str(tmp_path / "b"))
    assert code != 0
    name = PLACES[place].split("/")[-1]
    assert f"{name} is a symbolic link" in output, output
    assert "Traceback" not in output
