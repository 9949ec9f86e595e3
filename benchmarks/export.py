"""How fast a bulk export of sealed PDFs runs, with 1 and with N processes.

Makes a temporary store of synthetic records (``ims-kiosk demo``) and a clinic seal, then
exports every record with 1 worker and with ``--workers`` workers into fresh folders, and
prints the wall time, PDFs per second, the speed-up and the peak memory (parent and the
largest worker, from getrusage). No asserts: it only prints figures.

    .venv/bin/python benchmarks/export.py [--records 1000] [--workers 2]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from consent_records import sealkeys
    from kiosk.demo import generate
    from kiosk.export import ExportFilter, plan_export, run_export
    from kiosk.services import KioskServices
    from kiosk.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "data"
        started = time.perf_counter()
        services = KioskServices(Settings(), data)
        for _ in generate(services, args.records, seed=1):
            pass
        made = time.perf_counter() - started
        sealkeys.create_seal(data / "keys", "Benchmark Clinic", "x" * 16, "y" * 16)
        services.seal_passphrase = lambda: "y" * 16
        print(f"{args.records:,} synthetic records made in {made:.1f} s")
        figures = {}
        for workers in sorted({1, args.workers}):
            out = root / f"out-{workers}"
            plan = plan_export(services, ExportFilter(), out)
            started = time.perf_counter()
            run_export(services, plan, exporter="benchmark", workers=workers)
            wall = time.perf_counter() - started
            figures[workers] = wall
            print(
                f"  {workers} process(es): {wall:7.1f} s, {args.records / wall:6.1f} PDFs/s "
                f"(selection, PDFs, events, register, sums, signed manifest)"
            )
        services.close()
    if len(figures) == 2:
        print(f"  speed-up 1 -> {args.workers}: {figures[1] / figures[args.workers]:.2f}x")
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"  peak memory: parent {parent:.0f} MiB, largest worker {child:.0f} MiB")


if __name__ == "__main__":
    main()
