"""Benchmark of the kiosk's start-up time in a real terminal.

Prints, as medians over repeated runs, the time from launching a program in tmux (100x30)
to its first screen's text being visible in ``capture-pane`` (polled every 10 ms):
- ``ims-kiosk --data-dir <fresh tmp>`` until "Welcome to <clinic>" shows;
- a minimal Textual app (an App with one Static "Hello"), with the same Python;
- the floors: tmux starting ``sh`` and ``python`` that print one line.

Then the slowest imports on the kiosk's start path, from ``python -X importtime`` of the
same start (headless, until the Welcome screen is mounted), so we can see what to make lazy.

Usage: python benchmarks/startup.py [--runs 7] [--size 100x30]

``keypress.py`` reuses :class:`Pane` from here.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = VENV_BIN / "python" if (VENV_BIN / "python").exists() else Path(sys.executable)
KIOSK = PYTHON.with_name("ims-kiosk")
CLINIC = "Demo Physiotherapy Clinic"
WELCOME = f"Welcome to {CLINIC}"
POLL = 0.010

HELLO_APP = """\
from textual.app import App, ComposeResult
from textual.widgets import Static


class Hello(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("Hello")


Hello().run()
"""

# Runs the kiosk's own start path (kiosk.cli.main -> cmd_run) but headless, and exits
# once Start is ready, so that -X importtime output does not mix with the terminal output
# (Textual draws on stderr).
HEADLESS_START = """\
import sys

import kiosk.cli as cli
from textual.app import App

run = App.run


def headless(self, *args, **kwargs):
    async def until_ready(pilot):
        # Until Start is ready, so the imports the start-up worker makes are counted too.
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        pilot.app.exit()

    return run(self, headless=True, size=(100, 30), auto_pilot=until_ready)


App.run = headless  # cmd_run, the kiosk's own start path, then runs headless
sys.exit(cli.main(sys.argv[1:]))
"""


class Pane:
    """One private tmux server (``tmux -L``) running one command in one pane."""

    def __init__(self, width: int = 100, height: int = 30) -> None:
        tmux = shutil.which("tmux")
        if tmux is None:
            sys.exit("tmux is not on PATH")
        self.width, self.height = width, height
        self.socket = f"ims-bench-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._dir = Path(tempfile.mkdtemp(prefix="ims-bench-tmux-"))
        conf = self._dir / "tmux.conf"
        # No status line: the pane is the whole window, the size the program is given.
        conf.write_text("set -g status off\nset -g remain-on-exit on\n")
        self._base = [tmux, "-L", self.socket, "-f", str(conf)]

    def tmux(self, *args: str) -> str:
        done = subprocess.run([*self._base, *args], capture_output=True, text=True, timeout=10)
        if done.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def start(self, argv: Sequence[str]) -> float:
        """Launch ``argv``; return the perf_counter time just before launching."""
        command = shlex.join(["env", "TERM=xterm-256color", *argv])
        started = time.perf_counter()
        self.tmux(
            "new-session", "-d", "-x", str(self.width), "-y", str(self.height), command
        )  # fmt: skip
        return started

    def capture(self) -> str:
        return self.tmux("capture-pane", "-p")

    def dead(self) -> bool:
        return self.tmux("display-message", "-p", "#{pane_dead}").strip() == "1"

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-l", text)

    def wait(self, present: str, *, absent: str = "", timeout: float = 20.0) -> float:
        """Poll every 10 ms until ``present`` shows (and ``absent`` does not).

        Returns the perf_counter time of the capture that first showed it.
        """
        deadline = time.perf_counter() + timeout
        polls = 0
        while True:
            screen = self.capture()
            seen = time.perf_counter()
            if present in screen and not (absent and absent in screen):
                return seen
            polls += 1
            if polls % 20 == 0 and self.dead():
                raise RuntimeError(f"the program ended before showing {present!r}:\n{screen}")
            if seen > deadline:
                raise RuntimeError(f"{present!r} did not show within {timeout} s:\n{screen}")
            time.sleep(POLL)

    def close(self) -> None:
        try:
            socket_path = self.tmux("display-message", "-p", "#{socket_path}").strip()
        except (RuntimeError, subprocess.TimeoutExpired):
            socket_path = ""
        subprocess.run([*self._base, "kill-server"], capture_output=True, timeout=10)
        if socket_path:
            Path(socket_path).unlink(missing_ok=True)
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Pane:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def time_to_text(
    argv: Sequence[str], text: str, size: tuple[int, int], *, absent: str = ""
) -> float:
    """Milliseconds from launching ``argv`` in tmux to ``text`` being on screen (and
    ``absent`` not being on it)."""
    with Pane(*size) as pane:
        started = pane.start(argv)
        return (pane.wait(text, absent=absent) - started) * 1000


def fmt(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):7.0f} ms   "
        f"(min {min(values):5.0f}, max {max(values):5.0f}, n={len(values)})"
    )


IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def import_times(work: Path) -> list[tuple[str, int, int, int]]:
    """(module, self us, cumulative us, depth) for every import on the start path."""
    script = work / "headless_start.py"
    script.write_text(HEADLESS_START)
    done = subprocess.run(
        [str(PYTHON), "-X", "importtime", str(script), "--data-dir", str(work / "importtime")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=work,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the headless start failed:\n{done.stderr[-3000:]}")
    rows = []
    for line in done.stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if match:
            own, cumulative, indent, name = match.groups()
            rows.append((name, int(own), int(cumulative), len(indent) // 2))
    return rows


def print_imports(rows: list[tuple[str, int, int, int]]) -> None:
    total = sum(own for _name, own, _cum, _depth in rows)
    print(f"\nImports on the start path (python -X importtime, headless, one run): "
          f"{len(rows)} modules, {total / 1000:.0f} ms in all")  # fmt: skip
    cumulative = {name: cum for name, _own, cum, _depth in rows}
    for name in ("kiosk.cli", "kiosk.services", "kiosk.settings", "kiosk.app", "textual.app"):
        if name in cumulative:
            print(f"  import {name:<16} {cumulative[name] / 1000:7.1f} ms (cumulative)")

    by_package: dict[str, int] = defaultdict(int)
    for name, own, _cum, _depth in rows:
        by_package[name.split(".")[0]] += own
    print("\n  Top 10 packages by time spent importing their modules:")
    for package, own in sorted(by_package.items(), key=lambda kv: -kv[1])[:10]:
        print(f"    {own / 1000:7.1f} ms  {package}")

    print("\n  Top 10 single imports by cumulative time (the module and what it imports):")
    # Skip a module whose time is almost all one child's, to show distinct culprits.
    shown = 0
    for name, _own, cum, _depth in sorted(rows, key=lambda r: -r[2]):
        if name.startswith(("encodings", "_")) or shown >= 10:
            continue
        print(f"    {cum / 1000:7.1f} ms  {name}")
        shown += 1

    print("\n  Top 10 single modules by their own (self) time:")
    for name, own, _cum, _depth in sorted(rows, key=lambda r: -r[1])[:10]:
        print(f"    {own / 1000:7.1f} ms  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--size", default="100x30", help="terminal size, WIDTHxHEIGHT")
    parser.add_argument("--no-imports", action="store_true", help="skip the import table")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.split("x"))
    size = (width, height)

    with tempfile.TemporaryDirectory(prefix="ims-startup-") as tmp:
        work = Path(tmp)
        hello = work / "hello_textual.py"
        hello.write_text(HELLO_APP)
        rows: dict[str, list[float]] = defaultdict(list)
        # One untimed start of each, so the first timed run does not pay for cold
        # file caches and .pyc compilation.
        time_to_text([str(KIOSK), "--data-dir", str(work / "warm")], WELCOME, size)
        time_to_text([str(PYTHON), str(hello)], "Hello", size)
        for run in range(args.runs):
            data_dir = work / f"data-{run}"  # a fresh store each time, as on a new kiosk
            rows["ims-kiosk (to Welcome)"].append(
                time_to_text([str(KIOSK), "--data-dir", str(data_dir)], WELCOME, size)
            )
            # Start reads "One moment…" until the content is loaded and the store open.
            rows["ims-kiosk (Start ready)"].append(
                time_to_text(
                    [str(KIOSK), "--data-dir", str(data_dir)], WELCOME, size, absent="One moment"
                )
            )
            rows["minimal Textual app"].append(
                time_to_text([str(PYTHON), str(hello)], "Hello", size)
            )
            rows["floor: tmux + sh"].append(
                time_to_text(["sh", "-c", "echo Ready; exec sleep 60"], "Ready", size)
            )
            rows["floor: tmux + python"].append(
                time_to_text(
                    [str(PYTHON), "-c", "print('Ready'); import time; time.sleep(60)"],
                    "Ready",
                    size,
                )
            )
        print(f"Launch to first screen visible in tmux {width}x{height} "
              f"(capture-pane every {POLL * 1000:.0f} ms), {args.runs} runs:")  # fmt: skip
        for name, values in rows.items():
            print(f"  {name:<24} {fmt(values)}")
        kiosk = statistics.median(rows["ims-kiosk (to Welcome)"])
        bare = statistics.median(rows["minimal Textual app"])
        print(f"  kiosk - minimal Textual app: {kiosk - bare:+.0f} ms ({kiosk / bare:.2f}x)")
        print(f"  (each includes starting tmux; Python at {PYTHON})")

        if not args.no_imports:
            print_imports(import_times(work))


if __name__ == "__main__":
    main()
