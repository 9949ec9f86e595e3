"""What a staff sign-in costs end to end: the median and p95 of ``StaffServices.login``.

A sign-in reads the account's audited history (throttling and the account itself are
folded from it), verifies the password with the production argon2id parameters
(``kiosk.auth.passwords.PARAMETERS``), checks the stored credential against its audited
commitment and appends the audited ``login_succeeded`` entry. Also timed: a wrong password
(the same work, plus the audited failure) and an unknown user name (a dummy verification:
it must cost about the same, so timing does not say whether a name exists), on a store
with ``--records`` synthetic records. No asserts; figures for the README and the issue.

    .venv/bin/python benchmarks/staff_login.py [--runs 20] [--records 1000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import contextlib

from consent_records.events import Role
from kiosk.auth.passwords import PARAMETERS, Passwords
from kiosk.auth.throttle import ThrottlePolicy
from kiosk.settings import Settings
from kiosk.staff.errors import LoginRefused
from kiosk.staff.services import StaffServices

PASSWORD = "copper kettle harbour lanterns"


def timed(runs: int, cases: dict[str, Callable[[], object]]) -> dict[str, tuple[float, float]]:
    """Median and p95 (ms) of each case, run in turn (so load changes touch all alike)."""
    times: dict[str, list[float]] = {label: [] for label in cases}
    for _ in range(runs):
        for label, work in cases.items():
            start = time.perf_counter()
            work()
            times[label].append((time.perf_counter() - start) * 1000)
    result = {}
    for label, values in times.items():
        values.sort()
        result[label] = (statistics.median(values), values[max(0, round(0.95 * len(values)) - 1)])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--records", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        settings = Settings.model_validate(
            {"physiotherapists": [{"id": "jlee", "name": "Jordan Lee"}]}
        )
        # A throttle that never waits: the benchmark fails on purpose many times.
        services = StaffServices(
            settings,
            data,
            passwords=Passwords(PARAMETERS),
            throttle=ThrottlePolicy(delay_after=10**6, lock_after=10**6 + 1),
        )
        if args.records:
            from kiosk.demo import generate
            from kiosk.services import KioskServices

            kiosk = KioskServices(settings, data, store=services.store)
            for _ in generate(kiosk, args.records, seed=1):
                pass
        services.create_account(None, "jlee", role=Role.PHYSIO, password=PASSWORD, os_actor="bench")

        def wrong() -> None:
            with contextlib.suppress(LoginRefused):
                services.login("jlee", "not the right password at all")

        def unknown() -> None:
            with contextlib.suppress(LoginRefused):
                services.login("nobody", "not the right password at all")

        print(
            f"staff sign-in, argon2id t={PARAMETERS.time_cost} "
            f"m={PARAMETERS.memory_cost // 1024} MiB p={PARAMETERS.parallelism}, "
            f"{args.records} records stored, {args.runs} runs each (ms)"
        )
        cases: dict[str, Callable[[], object]] = {
            "right password": lambda: services.login("jlee", PASSWORD),
            "wrong password": wrong,
            "unknown user name": unknown,
        }
        for label, (median, p95) in timed(args.runs, cases).items():
            print(f"  {label:<20} median {median:7.1f}   p95 {p95:7.1f}")
        services.close()


if __name__ == "__main__":
    main()
