"""What argon2id costs on this machine, for choosing the staff password parameters.

Times ``PasswordHasher.verify`` (what a login pays) for OWASP's minimum, a few stronger
settings, argon2-cffi's default (RFC 9106 low-memory) and the parameters kiosk/auth uses
(``kiosk.auth.passwords.PARAMETERS``), and prints the median and p95 of each with the
memory it needs. Run it on the clinic's slowest staff machine before changing the
parameters; docs/staff-accounts.md records the figures that chose them. No asserts.

    .venv/bin/python benchmarks/password_hash.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from argon2 import PasswordHasher

from kiosk.auth.passwords import PARAMETERS

CANDIDATES: list[tuple[str, int, int, int]] = [
    # label, time_cost, memory_cost (KiB), parallelism
    ("OWASP minimum", 2, 19 * 1024, 1),
    ("OWASP alternative", 1, 46 * 1024, 1),
    ("", 3, 19 * 1024, 1),
    ("", 2, 32 * 1024, 1),
    ("", 2, 64 * 1024, 1),
    ("argon2-cffi default (RFC 9106)", 3, 64 * 1024, 4),
]


def measure(hasher: PasswordHasher, runs: int) -> tuple[float, float]:
    password = "correct horse battery staple, twice"
    phc = hasher.hash(password)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        hasher.verify(phc, password)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[max(0, round(0.95 * len(times)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    chosen = (
        "chosen (kiosk.auth.passwords)",
        PARAMETERS.time_cost,
        PARAMETERS.memory_cost,
        PARAMETERS.parallelism,
    )
    print(f"argon2id verify, {args.runs} runs each (ms)")
    for label, t, m, p in [*CANDIDATES, chosen]:
        hasher = PasswordHasher(time_cost=t, memory_cost=m, parallelism=p)
        median, p95 = measure(hasher, args.runs)
        print(f"{label:30} t={t} m={m // 1024:>3} MiB p={p}: median {median:6.1f}  p95 {p95:6.1f}")


if __name__ == "__main__":
    main()
