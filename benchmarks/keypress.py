"""Benchmark of key press to next screen, in a real terminal.

Runs ``ims-kiosk`` in tmux (100x30) and measures, from ``send-keys`` of the final key to
the new screen's title being visible in ``capture-pane`` (polled every 10 ms):
- Welcome -> Who is filling this in (Enter on Start): the first time in a process, then
  for each new patient (Back, "Yes, leave and erase", Enter on Start again);
- the forms: Who -> About you, and About you (filled in) -> the first education section;
- each education section -> the next one (End to reach the section's end, then the timed
  Enter, which continues once the section has been read);
- the same Enter -> next screen for a bare Textual app, as this machine's floor.

Usage: python benchmarks/keypress.py [--runs 3] [--repeats 5]

Targets: forms 50 ms, education text 100 ms. The numbers include tmux passing the key
and the screen update, and the 10 ms polling.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from startup import KIOSK, PYTHON, WELCOME, Pane, fmt

from content.loader import load_content

# A person's keystrokes are tens of milliseconds apart; keys sent faster than the kiosk
# moves focus land in the field being left (Textual queues a key to the widget that was
# focused when it arrived). Pauses between the untimed keys, never before a timed one
# beyond letting the screen settle.
GAP = 0.1
SETTLE = 0.3

TWO_SCREENS_APP = """\
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import Button, Static


class Second(Screen[None]):
    def compose(self) -> ComposeResult:
        yield Static("Second screen")
        yield Button("Back", id="back")

    def on_mount(self) -> None:
        self.query_one(Button).focus()

    def on_button_pressed(self) -> None:
        self.app.pop_screen()


class First(Screen[None]):
    def compose(self) -> ComposeResult:
        yield Static("First screen")
        yield Button("Next", id="next")

    def on_mount(self) -> None:
        self.query_one(Button).focus()

    def on_screen_resume(self) -> None:
        self.query_one(Button).focus()

    def on_button_pressed(self) -> None:
        self.app.push_screen(Second())


class TwoScreens(App[None]):
    def on_mount(self) -> None:
        self.push_screen(First())


TwoScreens().run()
"""


def press_and_time(pane: Pane, key: str, title: str, *, gone: str = "") -> float:
    """Milliseconds from sending ``key`` to ``title`` showing (and ``gone`` gone)."""
    time.sleep(SETTLE)
    started = time.perf_counter()
    pane.keys(key)
    return (pane.wait(title, absent=gone) - started) * 1000


def slow_keys(pane: Pane, *keys: str) -> None:
    for key in keys:
        pane.keys(key)
        time.sleep(GAP)


WHO = "Who is filling this in?"
ABOUT = "About you"


def kiosk_run(work: Path, run: int, repeats: int, titles: list[str]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {
        "first": [], "repeat": [], "who": [], "about": [], "education": []
    }  # fmt: skip
    with Pane(100, 30) as pane:
        pane.start([str(KIOSK), "--data-dir", str(work / f"data-{run}")])
        pane.wait(WELCOME, absent="One moment")
        times["first"].append(press_and_time(pane, "Enter", WHO, gone=WELCOME))
        for _ in range(repeats):
            # Back is last in the focus order (Shift+Tab from the choices), then "Yes,
            # leave and erase" on the question it asks: a new patient's Start.
            time.sleep(SETTLE)
            slow_keys(pane, "BTab", "Enter")
            pane.wait("Leave and erase your answers?")
            slow_keys(pane, "Tab", "Enter")
            pane.wait(WELCOME, absent="One moment")
            times["repeat"].append(press_and_time(pane, "Enter", WHO, gone=WELCOME))

        # Who: Enter chooses "I am the patient" and moves to Continue; Enter continues.
        time.sleep(SETTLE)
        slow_keys(pane, "Enter")
        times["who"].append(press_and_time(pane, "Enter", ABOUT, gone=WHO))

        # About you: name, date of birth, (chart left empty), the first physiotherapist.
        time.sleep(SETTLE)
        pane.type("Renée Bélanger")
        for text in ("1980", "5", "17"):
            slow_keys(pane, "Tab")
            pane.type(text)
        slow_keys(pane, "Tab", "Tab", "Enter", "Down", "Enter")
        pane.wait("Alex Kim", absent="Marie Tremblay")
        time.sleep(SETTLE)  # choosing the physiotherapist moves focus to Continue
        times["about"].append(press_and_time(pane, "Enter", titles[0], gone=ABOUT))

        for here, following in pairwise(titles):
            # End within ~50 ms of a section appearing stops short of its end (the
            # text rewraps once the scrollbar appears), so let the section settle first.
            time.sleep(SETTLE)
            pane.keys("End")  # to the end of the section, which enables Continue
            pane.wait(here, absent="Please read to the end")
            time.sleep(SETTLE)
            # Enter continues once the section has been read (the reader does not use it).
            times["education"].append(press_and_time(pane, "Enter", following, gone=here))
    return times


def bare_run(work: Path, repeats: int) -> list[float]:
    script = work / "two_screens.py"
    script.write_text(TWO_SCREENS_APP)
    times = []
    with Pane(100, 30) as pane:
        pane.start([str(PYTHON), str(script)])
        pane.wait("First screen")
        for _ in range(repeats + 1):
            times.append(
                press_and_time(pane, "Enter", "Second screen", gone="First screen")
            )  # fmt: skip
            time.sleep(SETTLE)
            pane.keys("Enter")
            pane.wait("First screen")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="kiosk processes to start")
    parser.add_argument("--repeats", type=int, default=5, help="Welcome->About repeats a run")
    args = parser.parse_args()
    titles = [section.title for section in load_content("en").bundle.sections]

    with tempfile.TemporaryDirectory(prefix="ims-keypress-") as tmp:
        work = Path(tmp)
        times: dict[str, list[float]] = {}
        for run in range(args.runs):
            for key, values in kiosk_run(work, run, args.repeats, titles).items():
                times.setdefault(key, []).extend(values)
        bare = bare_run(work, args.repeats * args.runs)

    floor = statistics.median(bare)
    print("Key press to the next screen's title visible in tmux 100x30 "
          f"(capture-pane every 10 ms), {args.runs} kiosk runs:")  # fmt: skip
    rows = [
        ("Welcome -> Who, first in a run", "first", 50),
        ("Welcome -> Who, new patient", "repeat", 50),
        ("Who -> About you (form)", "who", 50),
        ("About you -> 1st section (form)", "about", 50),
        ("education section -> next section", "education", 100),
    ]
    for label, key, target in rows:
        values = times[key]
        ratio = statistics.median(values) / floor
        print(f"  {label:<36} {fmt(values)}   {ratio:4.1f}x bare   target {target} ms")
    print(f"  {'bare Textual app, Enter -> 2nd screen':<36} {fmt(bare)}")
    education = times["education"]
    per_section = len(titles) - 1
    for index in range(per_section):
        values = education[index::per_section]
        print(f"    {titles[index][:38]:<38} -> next: median "
              f"{statistics.median(values):5.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
