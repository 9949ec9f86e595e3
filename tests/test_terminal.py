"""The real kiosk in a real terminal: ``ims-kiosk`` runs inside tmux and the tests read
the screen with ``capture-pane``, the way a person at the front desk would see it.

Pilot tests (``test_patient_path.py``) drive the app object; these catch what only shows
up in a terminal: the console command itself, the window size, keys that reach the app
as control characters, and what is left on screen when the process ends.

Each test runs its own tmux server on a private socket (``tmux -L``) and always kills it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not on PATH (CI installs it)")

_BESIDE = Path(sys.executable).with_name("ims-kiosk")
KIOSK = _BESIDE if _BESIDE.exists() else Path(shutil.which("ims-kiosk") or "ims-kiosk")
CLINIC = "Demo Physiotherapy Clinic"
NAME = "Renée Bélanger"
POLL = 0.02
# A person's keystrokes are tens of milliseconds apart. Keys sent faster than the kiosk
# moves focus can land in the field being left (Textual queues a key to the widget that
# was focused when the key arrived), which no one at a keyboard would do.
TYPING_GAP = 0.1
TIMEOUT = 20.0

# The whole Welcome text must be readable, not cut off at the right or the bottom.
WELCOME_LINES = (
    f"Welcome to {CLINIC}",
    "Before your IMS (dry needling) treatment",
    "4. Tell us your choice and sign.",
    "you can always say no.",
    "Press Enter or touch Start to begin.",
    "Start",
)

# Without a status line the pane is exactly the window: the size the kiosk is given.
TMUX_CONF = "set -g status off\nset -g remain-on-exit on\nset -g default-shell /bin/sh\n"

# The pane's shell prints the kiosk's exit status and exits with it. tmux 3.3a now and
# then leaves an ended pane process unreaped (a zombie), and then #{pane_dead_status}
# never arrives; a shell that waits for the kiosk always sees the status.
EXITED = "[ims-kiosk exited with status"


@dataclass
class Terminal:
    """One tmux server with one pane running the kiosk."""

    socket: str
    conf: Path
    data_dir: Path
    screens: list[str] = field(default_factory=list)

    def tmux(self, *args: str, check: bool = True) -> str:
        assert TMUX is not None
        done = subprocess.run(
            [TMUX, "-L", self.socket, "-f", str(self.conf), *args],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def start(self, width: int, height: int, *args: str) -> None:
        kiosk = shlex.join(
            ["env", "TERM=xterm-256color", str(KIOSK), "--data-dir", str(self.data_dir), *args]
        )
        command = f'{kiosk}; status=$?; echo "{EXITED} $status]"; exit $status'
        self.tmux("new-session", "-d", "-x", str(width), "-y", str(height), command)
        size = self.tmux("display-message", "-p", "#{pane_width}x#{pane_height}").strip()
        assert size == f"{width}x{height}", f"tmux gave a {size} pane, not {width}x{height}"

    def state(self) -> tuple[str, bool, str]:
        """The screen text, whether the process has ended, and its exit status."""
        out = self.tmux(
            "capture-pane", "-p", ";", "display-message", "-p", "#{pane_dead} #{pane_dead_status}"
        )
        screen, _sep, status = out.rstrip("\n").rpartition("\n")
        dead, _sep, code = status.partition(" ")
        self.screens.append(screen)
        return screen, dead == "1", code

    def screen(self) -> str:
        return self.state()[0]

    def everything(self) -> str:
        """The screen and the pane's scrollback, for what ended up above the fold."""
        return self.tmux("capture-pane", "-p", "-S", "-")

    def shown(self) -> str:
        """The pane with its scrollback, blank lines dropped, for a failure message."""
        return "\n".join(line for line in self.everything().splitlines() if line.strip())

    def wait_for(self, *texts: str, absent: str = "", timeout: float = TIMEOUT) -> str:
        """Poll the pane until every text is on screen (and ``absent`` is not); fail
        early if the kiosk ends."""
        deadline = time.monotonic() + timeout
        while True:
            screen, dead, code = self.state()
            if all(text in screen for text in texts) and not (absent and absent in screen):
                return screen
            missing = [text for text in texts if text not in screen]
            if dead:
                pytest.fail(
                    f"the kiosk ended (exit status {code}) before showing {missing}:\n"
                    f"{self.shown()}{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"after {timeout:.0f} s the screen still lacks {missing}:\n{screen}")
            time.sleep(POLL)

    def wait_until_ended(self, timeout: float = TIMEOUT) -> tuple[str, str]:
        """Wait for the kiosk to end; return the screen and its exit status."""
        deadline = time.monotonic() + timeout
        while True:
            _screen, dead, code = self.state()
            # The line can end up above the fold once the kiosk leaves the alternate screen.
            everything = self.everything()
            shown = re.search(rf"{re.escape(EXITED)} (\d+)\]", everything)
            if shown:
                status = shown.group(1)
                assert code in ("", status), f"tmux says {code}, the shell says {status}"
                return everything, status
            if time.monotonic() > deadline:
                state = "ended without an exit status" if dead else "was still running"
                pytest.fail(f"after {timeout:.0f} s the kiosk {state}:\n{self.shown()}")
            time.sleep(POLL)

    def keys(self, *keys: str) -> None:
        """Press keys by tmux name: Enter, Tab, C-c, ..."""
        self.tmux("send-keys", *keys)

    def type(self, text: str) -> None:
        """Type text literally, as a keyboard would."""
        self.tmux("send-keys", "-l", text)

    def ended(self) -> bool:
        """Whether the kiosk has ended (its shell printed the status, or the pane died)."""
        dead = self.tmux("list-panes", "-F", "#{pane_dead}").strip() == "1"
        return dead or EXITED in self.everything()

    def log_tail(self) -> str:
        logs = sorted((self.data_dir / "logs").glob("*"))
        text = "".join(p.read_text(errors="replace") for p in logs if p.is_file())
        return f"\n--- kiosk log ---\n{text[-3000:]}" if text else ""

    def stop(self) -> None:
        socket_path = self.tmux("display-message", "-p", "#{socket_path}", check=False).strip()
        self.tmux("kill-server", check=False)
        if socket_path:
            Path(socket_path).unlink(missing_ok=True)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    conf = tmp_path / "tmux.conf"
    conf.write_text(TMUX_CONF)
    term = Terminal(
        socket=f"ims-kiosk-test-{os.getpid()}-{uuid.uuid4().hex[:8]}",
        conf=conf,
        data_dir=tmp_path / "data",
    )
    try:
        yield term
    finally:
        term.stop()


@pytest.mark.parametrize(("width", "height"), [(100, 30), (80, 24)])
def test_welcome_then_about_you_fit_the_terminal(
    terminal: Terminal, width: int, height: int
) -> None:
    terminal.start(width, height)
    # Start reads "One moment…" until the content is loaded and the store is open.
    welcome = terminal.wait_for(*WELCOME_LINES, absent="One moment")
    assert CLINIC in welcome.splitlines()[0], "the top bar names the clinic"

    terminal.keys("Enter")
    terminal.wait_for("Who is filling this in?", "I am the patient", "Back", "Continue")
    time.sleep(TYPING_GAP)
    terminal.keys("Enter")  # choose "I am the patient"; focus moves to Continue
    time.sleep(TYPING_GAP)
    terminal.keys("Enter")
    about = terminal.wait_for("About you", "Your full name", "Back", "Continue")
    assert "Welcome to" not in about

    terminal.type(NAME)
    terminal.wait_for(NAME, "Back", "Continue")

    # Tab through the date of birth and the chart number to the physiotherapist list:
    # the form scrolls so that the list is on screen, with Back and Continue still there.
    for text in ("1980", "5", "17"):
        terminal.keys("Tab")
        time.sleep(TYPING_GAP)
        terminal.type(text)
        time.sleep(TYPING_GAP)
    terminal.keys("Tab")
    time.sleep(TYPING_GAP)
    terminal.keys("Tab")
    screen = terminal.wait_for(
        "Your physiotherapist", "Choose the physiotherapist", "Back", "Continue"
    )
    assert re.search(r"Year\W+1980\W+Month\W+5\W+Day\W+17\W", screen), (
        f"the date of birth is not shown as typed:\n{screen}"
    )
    assert not terminal.ended()


def test_a_patient_cannot_quit_suspend_or_open_a_palette(terminal: Terminal) -> None:
    terminal.start(100, 30)  # no --dev: the kiosk as a patient meets it
    terminal.wait_for(f"Welcome to {CLINIC}", "Start", absent="One moment")
    terminal.keys("Enter")
    terminal.wait_for("Who is filling this in?")
    time.sleep(TYPING_GAP)
    terminal.keys("Enter")
    time.sleep(TYPING_GAP)
    terminal.keys("Enter")
    terminal.wait_for("About you")
    terminal.type("Renée")
    before = terminal.wait_for("Renée")

    for key in ("C-c", "C-q", "C-p", "C-z", "C-\\"):
        terminal.keys(key)
    time.sleep(1.0)  # give a quit, suspend or palette time to show

    assert not terminal.ended(), f"the kiosk ended:\n{terminal.shown()}"
    after = terminal.screen()
    assert after == before, f"the screen changed after control keys:\n{after}"
    assert "Search for commands" not in after

    # Still running and still listening, not suspended behind a frozen picture: typing
    # continues.
    terminal.type(" Bélanger")
    terminal.wait_for(NAME)


def test_developer_mode_ctrl_q_quits_cleanly(terminal: Terminal) -> None:
    terminal.start(100, 30, "--dev")
    terminal.wait_for(f"Welcome to {CLINIC}", "Start", absent="One moment")
    terminal.keys("C-q")
    _screen, status = terminal.wait_until_ended()
    shown = "\n".join([*terminal.screens, terminal.everything()])
    assert "Traceback" not in shown, f"a traceback was shown:\n{terminal.shown()}"
    assert status == "0", f"exit status {status}:\n{terminal.shown()}{terminal.log_tail()}"
    assert "Traceback" not in terminal.log_tail(), terminal.log_tail()


def test_bad_config_names_the_field_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text('age_of_majority = "old"\n', encoding="utf-8")
    done = subprocess.run(
        [str(KIOSK), "--data-dir", str(tmp_path / "data"), "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "age_of_majority" in done.stderr
    assert str(config) in done.stderr, "the message names the file"
    assert "Traceback" not in output


# The Done screen in a real terminal: the kiosk's own app class, given a finished session
# the way tests/steps.py builds one (walking all nineteen steps here would cost a minute).
DONE_APP = """
import sys
from pathlib import Path
from kiosk.app import KioskApp
from kiosk.services import KioskServices, SavedConsent
from kiosk.session import Position, Step
from kiosk.settings import Settings
from tests.steps import REFERENCE, fill_session

class DoneApp(KioskApp):
    def _became_ready(self):
        super()._became_ready()
        session = self.services.new_session()
        fill_session(session, "done")
        self.session = session
        self._show(Position(Step.DONE), SavedConsent(REFERENCE, "0" * 32))

services = KioskServices(Settings.model_validate({}), Path(sys.argv[1]))
DoneApp(services).run()
services.close()
"""


def test_done_screen_read_to_the_last_warning_sign_with_the_keyboard(
    terminal: Terminal,
) -> None:
    from content.loader import cached_content
    from tests.steps import REFERENCE, flat

    bundle = cached_content("en").bundle.as_shown("patient")
    signs = bundle.warning_signs_by_urgency()
    last = signs[max(signs)][-1].text
    repo = Path(__file__).resolve().parent.parent
    command = shlex.join(
        ["env", "TERM=xterm-256color", sys.executable, "-c", DONE_APP, str(terminal.data_dir)]
    )
    terminal.tmux(
        "new-session", "-d", "-x", "80", "-y", "24", "-c", str(repo),
        f'{command}; status=$?; echo "{EXITED} $status]"; exit $status',
    )  # fmt: skip
    screen = terminal.wait_for(f"Your reference code: {REFERENCE}", "Finish")
    shown_at = time.monotonic()
    read = flat(screen)
    for _ in range(30):
        if last[-40:] in flat(screen):
            break
        terminal.keys("PageDown")
        before, deadline = screen, time.monotonic() + 2

        def text(shown: str) -> list[str]:  # the screen but its countdown, which ticks
            return [line for line in shown.splitlines() if "closes by itself" not in line]

        while text(screen) == text(before) and time.monotonic() < deadline:  # scrolled?
            time.sleep(POLL)
            screen = terminal.screen()
        settled = time.monotonic()
        while time.monotonic() - settled < 0.25 and time.monotonic() < deadline:
            time.sleep(POLL)  # the scroll is smooth: wait until it has come to rest
            now = terminal.screen()
            if text(now) != text(screen):
                screen, settled = now, time.monotonic()
        read += " " + flat(screen)
    assert last[-40:] in flat(screen), f"the last warning sign never came into view:\n{screen}"
    assert REFERENCE in screen, f"the reference code scrolled away:\n{screen}"
    for sign in bundle.warning_signs:
        assert flat(sign.text) in read, f"never readable whole: {sign.text}"
    assert not any(len(line) > 80 for line in screen.splitlines())
    countdown = [line for line in screen.splitlines() if "closes by itself" in line]
    assert len(countdown) == 1 and countdown[0].rstrip().endswith("s."), screen
    # Finish takes an Enter once the screen has been up a second (an Enter pressed twice
    # on "Sign and finish" must not skip the reference code).
    time.sleep(max(0.0, shown_at + 1.2 - time.monotonic()))
    terminal.keys("Enter")  # Finish
    terminal.wait_for("Welcome to", absent=REFERENCE)
