"""The patient kiosk and the staff app at once, in real terminals, on one data directory.

A patient signs at the kiosk (its own process: the kiosk's app, given a session filled up to
the Sign step as tests/steps.py builds one, so the test does not walk nineteen screens), the
record appears in the physiotherapist's list in the staff app (another process), they record
the discussion and countersign, and ``ims-kiosk verify`` passes on the store both wrote.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from consent_records.events import Role
from kiosk.auth.passwords import TEST_PARAMETERS, Passwords
from kiosk.settings import Settings
from kiosk.staff.services import StaffServices
from tests.test_terminal import EXITED, KIOSK, TMUX, TMUX_CONF, TYPING_GAP, Terminal

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not on PATH (CI installs it)")

PHYSIO_PASSWORD = "seven quiet orchards in march"
ADMIN_PASSWORD = "violet tugboat marmalade 42"

SIGN_APP = """
import sys
from pathlib import Path
from kiosk.app import KioskApp
from kiosk.services import KioskServices
from kiosk.session import Position, Step
from kiosk.settings import Settings
from tests.steps import fill_session

class SignApp(KioskApp):
    def _became_ready(self):
        super()._became_ready()
        session = self.services.new_session()
        fill_session(session, "sign")
        self.session = session
        self._show(Position(Step.SIGN))

services = KioskServices(Settings.model_validate({}), Path(sys.argv[1]))
SignApp(services).run()
services.close()
"""


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    conf = tmp_path / "tmux.conf"
    conf.write_text(TMUX_CONF)
    term = Terminal(
        socket=f"ims-staff-test-{os.getpid()}-{uuid.uuid4().hex[:8]}",
        conf=conf,
        data_dir=tmp_path / "data",
    )
    try:
        yield term
    finally:
        term.stop()


def _accounts(data_dir: Path) -> None:
    """An admin and the physiotherapist the kiosk's first choice names (demo-akim)."""
    services = StaffServices(Settings(), data_dir, passwords=Passwords(TEST_PARAMETERS))
    try:
        services.create_account(
            None, "office", role=Role.ADMIN, password=ADMIN_PASSWORD,
            display_name="Sam Ortiz", os_actor="root",
        )  # fmt: skip
        admin = services.login("office", ADMIN_PASSWORD)
        services.create_account(
            admin, "akim", role=Role.PHYSIO, password=PHYSIO_PASSWORD,
            physiotherapist_id="demo-akim",
        )  # fmt: skip
        services.logout(admin)
    finally:
        services.close()


def _items_to_discuss(data_dir: Path) -> int:
    services = StaffServices(Settings(), data_dir, passwords=Passwords(TEST_PARAMETERS))
    try:
        session = services.login("akim", PHYSIO_PASSWORD)
        page = services.search(session, services.default_query(session))
        view = services.open_record(session, page.items[0].row.record_id)
        services.logout(session)
        return len(view.discuss_first)
    finally:
        services.close()


def test_kiosk_and_staff_app_on_one_store(terminal: Terminal, tmp_path: Path) -> None:
    from tests.steps import NAME

    data = terminal.data_dir
    _accounts(data)
    repo = Path(__file__).resolve().parent.parent
    env = ["env", "TERM=xterm-256color", "IMS_KIOSK_ARGON2_PROFILE=test-only-insecure"]
    kiosk = shlex.join([*env, sys.executable, "-c", SIGN_APP, str(data)])
    staff = shlex.join([*env, str(KIOSK), "--data-dir", str(data), "staff"])
    terminal.tmux(
        "new-session", "-d", "-x", "100", "-y", "30", "-c", str(repo), "-n", "kiosk",
        f'{kiosk}; status=$?; echo "{EXITED} $status]"; exit $status',
    )  # fmt: skip
    terminal.tmux(
        "new-window", "-d", "-n", "staff", "-c", str(repo),
        f'{staff}; status=$?; echo "{EXITED} $status]"; exit $status',
    )  # fmt: skip
    terminal.tmux("resize-window", "-t", "staff", "-x", "100", "-y", "30", check=False)

    # The patient signs with their typed name and finishes.
    terminal.tmux("select-window", "-t", "kiosk")
    terminal.wait_for("Sign and finish", "Type your answer", timeout=30)
    terminal.type(NAME)
    terminal.wait_for(NAME)
    terminal.keys("Tab")
    terminal.wait_for("Space: tick or untick")
    terminal.keys("Space")
    terminal.wait_for("▐✓▌")
    terminal.keys("Tab")
    terminal.wait_for("Enter: Sign and finish")
    terminal.keys("Enter")
    terminal.wait_for("Your reference code", timeout=30)

    # The physiotherapist signs in to the staff app, running all along.
    terminal.tmux("select-window", "-t", "staff")
    terminal.wait_for("User name", "Sign in", timeout=30)
    terminal.type("akim")
    time.sleep(TYPING_GAP)
    terminal.keys("Enter")
    time.sleep(TYPING_GAP)
    terminal.type(PHYSIO_PASSWORD)
    time.sleep(TYPING_GAP)
    terminal.keys("Enter")
    terminal.wait_for(NAME, "awaiting discussion", timeout=30)
    terminal.keys("C-t")  # to the list
    time.sleep(5 * TYPING_GAP)
    terminal.keys("Enter")
    terminal.wait_for("Discuss these first", "d Discussion", timeout=30)

    # The discussion: every item ticked (Space, then Tab past its note), then saved.
    time.sleep(5 * TYPING_GAP)
    terminal.keys("d")
    terminal.wait_for("Record your discussion", "Save the discussion", timeout=30)
    time.sleep(5 * TYPING_GAP)
    for _ in range(_items_to_discuss(data)):
        for key in ("Space", "Tab", "Tab"):
            terminal.keys(key)
            time.sleep(3 * TYPING_GAP)
    terminal.keys("C-s")
    terminal.wait_for("Discussion recorded", timeout=30)

    # The countersignature: the password again.
    terminal.keys("c")
    terminal.wait_for("Countersign", "Your password, to sign", timeout=30)
    terminal.type(PHYSIO_PASSWORD)
    time.sleep(TYPING_GAP)
    terminal.keys("Enter")
    terminal.wait_for("active consent", timeout=30)

    terminal.keys("C-q")
    everything = terminal.tmux("capture-pane", "-p", "-S", "-", "-t", "staff")
    assert "Traceback" not in everything

    done = subprocess.run(
        [str(KIOSK), "--data-dir", str(data), "verify"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "TERM": "dumb"},
    )
    assert done.returncode == 0, done.stderr
    assert "1 records" in done.stdout or "1 record" in done.stdout
