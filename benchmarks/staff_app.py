"""Benchmark of the staff app itself (issue 9): the real StaffApp, headless, on a copy of a
store of 0 / 10,000 / 50,000 records.

Prints (median and 95th percentile over the runs):

- **start**: the app up until Sign in can be pressed (the store opened and every entry
  checked against its hash: ``StaffServices.prepare`` in a worker, while the person types);
- **sign in to a filled list**: from pressing Sign in (argon2id at the test parameters, so
  this is the app and the store, not the password hash: benchmarks/staff_login.py has that)
  to the records table filled with the first page. Target 1 s;
- **keystroke to list**: from one more character in the search box to the table showing
  its result, including the 0.15 s debounce that makes a quick typist cost one search.

The stores are those of benchmarks/search.py (built once in --work, reused); each run copies
one, adds an admin account and runs the app on the copy.

Usage: python benchmarks/staff_app.py [--work DIR] [--sizes 0,10000,50000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from consent_records.events import Role  # noqa: E402
from consent_records.query import Page, RecordQuery  # noqa: E402
from kiosk.auth.passwords import TEST_PARAMETERS, Passwords  # noqa: E402
from kiosk.settings import Settings  # noqa: E402
from kiosk.staff.services import StaffServices  # noqa: E402

PASSWORD = "benchmark passphrase of the admin"


def services_for(data: Path) -> StaffServices:
    return StaffServices(Settings(), data, passwords=Passwords(TEST_PARAMETERS))


def prepare_copy(source: Path, target: Path) -> None:
    shutil.copytree(source, target, symlinks=True)
    services = services_for(target)
    try:
        services.create_account(
            None, "bench", role=Role.ADMIN, password=PASSWORD,
            display_name="Bench Admin", os_actor="bench",
        )  # fmt: skip
    finally:
        services.close()


async def one_run(data: Path) -> tuple[float, float, float]:
    from textual.widgets import Button, Input

    from kiosk.staff_app import StaffApp
    from screens.staff.records import RecordsScreen

    shown: list[tuple[float, str]] = []
    original = RecordsScreen._show

    def timed_show(screen: RecordsScreen, query: RecordQuery, page: Page) -> None:
        original(screen, query, page)
        shown.append((time.perf_counter(), query.text))  # the table is filled

    RecordsScreen._show = timed_show  # type: ignore[method-assign]

    services = services_for(data)
    app = StaffApp(services)
    started = time.perf_counter()
    async with app.run_test(size=(100, 30)):
        while not app.ready:
            await asyncio.sleep(0.005)
        ready = time.perf_counter() - started
        screen = app.screen
        screen.query_one("#user", Input).value = "bench"
        screen.query_one("#password", Input).value = PASSWORD
        pressed = time.perf_counter()
        screen.query_one("#sign-in", Button).press()  # not pilot.click: it waits for idle
        while not shown:
            await asyncio.sleep(0.005)
        listed = shown[0][0] - pressed
        records = app.screen
        assert isinstance(records, RecordsScreen)
        search = records.query_one("#search", Input)
        search.focus()
        typed = time.perf_counter()
        search.value = "ma"
        while not any(text == "ma" for _at, text in shown):
            await asyncio.sleep(0.005)
        keystroke = next(at for at, text in shown if text == "ma") - typed
    RecordsScreen._show = original  # type: ignore[method-assign]
    services.close()
    return ready, listed, keystroke


def fmt(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"median {statistics.median(ms):8.1f} ms   p95 {p95:8.1f} ms"


def main() -> None:
    import search  # benchmarks/search.py: builds (or reuses) the stores

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "ims-search-bench"
    )
    parser.add_argument("--sizes", default="0,10000,50000")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    for size in (int(s) for s in args.sizes.split(",")):
        base = args.work / f"search-{size}"
        print(f"store of {size} records in {base}", flush=True)
        search.build(base, size)
        results = []
        for _run in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                data = Path(tmp) / "data"
                prepare_copy(base, data)
                results.append(asyncio.run(one_run(data)))
        ready, listed, keystroke = (list(column) for column in zip(*results, strict=True))
        print(f"    start (store checked)      {fmt(ready)}")
        print(f"    sign in to a filled list   {fmt(listed)}")
        print(f"    keystroke to list          {fmt(keystroke)}  (with the 150 ms debounce)")
        print(f"    ({args.runs} runs; load average {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main()
