"""How long the PDF consent summary takes to render.

Renders the summary of a synthetic record (tests/factories.py) 200 times and prints the first
render (imports and font parsing included), the median and p95 of the rest, the page count
and the size. With ``--packaged`` it uses the packaged content (content/en) instead of the
small synthetic bundle. No asserts: it only prints figures.

    .venv/bin/python benchmarks/pdf.py [--runs 200] [--packaged]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from consent_records.model import EventKind
from tests.factories import make_content, make_event, make_record, make_stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--packaged", action="store_true", help="use content/en")
    args = parser.parse_args()

    if args.packaged:
        from content.loader import load_content

        loaded = load_content()
        content, sha = loaded.bundle, loaded.sha256
    else:
        content, sha = make_content(), None
    record = make_record(content, content_sha256=sha) if sha else make_record(content)
    stored = make_stored(record, [make_event(record, EventKind.PDF_EXPORTED)])
    generated_at = datetime(2026, 3, 14, 11, 30, tzinfo=ZoneInfo("America/Toronto"))

    started = time.perf_counter()
    from consent_records.pdf import ClinicHeader, render_consent_pdf

    clinic = ClinicHeader(
        name="Harbourview Physiotherapy (synthetic)",
        address_lines=("1200 Harbour St, Suite 4", "Halifax, NS  B3H 1A1"),
        phone="902-555-0142",
    )
    data = render_consent_pdf(stored, content, clinic, generated_at=generated_at)
    first_ms = (time.perf_counter() - started) * 1000

    timings: list[float] = []
    for _ in range(args.runs):
        started = time.perf_counter()
        render_consent_pdf(stored, content, clinic, generated_at=generated_at)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()

    import pypdf

    pages = len(pypdf.PdfReader(io.BytesIO(data)).pages)
    p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
    label = "packaged content/en" if args.packaged else "synthetic content"
    print(f"PDF consent summary, {label}, {args.runs} renders")
    print(f"  first render (imports, fonts): {first_ms:7.1f} ms")
    print(f"  median:                        {statistics.median(timings):7.1f} ms")
    print(f"  p95:                           {p95:7.1f} ms")
    print(f"  pages: {pages}, size: {len(data) / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
