"""How long sealing and verifying a PDF take (pyHanko, PAdES B-B, EC P-256).

Renders the consent summary of a synthetic record with a seal block (tests/factories.py),
then seals it and verifies the result N times each, and prints the first call (imports
included), the median and p95 of the rest, the import cost of pyHanko and the time to open
the seal key (scrypt). No asserts: it only prints figures.

    .venv/bin/python benchmarks/seal.py [--runs 100] [--packaged]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from consent_records.model import EventKind
from tests.factories import make_content, make_event, make_record, make_stored


def _timed(call: Callable[[], object], runs: int) -> tuple[float, float, float]:
    started = time.perf_counter()
    call()
    first = (time.perf_counter() - started) * 1000
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
    return first, statistics.median(timings), p95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--packaged", action="store_true", help="use content/en")
    args = parser.parse_args()

    if args.packaged:
        from content.loader import load_content

        loaded = load_content()
        content = loaded.bundle
        record = make_record(content, content_sha256=loaded.sha256)
    else:
        content = make_content()
        record = make_record(content)
    stored = make_stored(record, [make_event(record, EventKind.PDF_EXPORTED)])
    at = datetime(2026, 3, 14, 11, 30, tzinfo=ZoneInfo("America/Toronto"))

    from consent_records import sealkeys

    started = time.perf_counter()
    from consent_records.sealing import Sealer, verify_pdf

    import_ms = (time.perf_counter() - started) * 1000
    with tempfile.TemporaryDirectory() as tmp:
        keys = Path(tmp) / "keys"
        identity = sealkeys.create_seal(keys, "Harbourview Physiotherapy", "x" * 16, "y" * 16)
        started = time.perf_counter()
        sealer = Sealer.open(identity, "y" * 16)
        open_ms = (time.perf_counter() - started) * 1000

        from consent_records.pdf import ClinicHeader, render_consent_pdf

        clinic = ClinicHeader(
            name="Harbourview Physiotherapy (synthetic)",
            address_lines=("1200 Harbour St, Suite 4", "Halifax, NS  B3H 1A1"),
            phone="902-555-0142",
        )
        stamp = sealer.stamp(at)
        pdf = render_consent_pdf(stored, content, clinic, generated_at=at, seal=stamp)
        info = {"Kind": "consent-summary", "Reference": record.reference}
        sealed = sealer.seal(pdf, info, stamp)
        seal_first, seal_median, seal_p95 = _timed(lambda: sealer.seal(pdf, info, stamp), args.runs)
        check = verify_pdf(sealed, [identity.root])
        assert check.ok, check.sentence
        ver_first, ver_median, ver_p95 = _timed(
            lambda: verify_pdf(sealed, [identity.root]), args.runs
        )
    print(f"Seal (PAdES B-B, EC P-256), {args.runs} runs each, PDF {len(pdf) / 1024:.0f} KiB")
    print(f"  import pyHanko + sealing module:  {import_ms:7.1f} ms")
    print(f"  open the seal key (scrypt):       {open_ms:7.1f} ms")
    print(f"  seal   first / median / p95:      {seal_first:7.1f} / {seal_median:5.1f} / "
          f"{seal_p95:5.1f} ms")  # fmt: skip
    print(f"  verify first / median / p95:      {ver_first:7.1f} / {ver_median:5.1f} / "
          f"{ver_p95:5.1f} ms")  # fmt: skip
    print(f"  sealed size: {len(sealed) / 1024:.1f} KiB (+{(len(sealed) - len(pdf)) / 1024:.1f})")


if __name__ == "__main__":
    main()
