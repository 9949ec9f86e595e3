"""Benchmark of the staff records browser on the embedded store (issue 9).

Prints, at 0, 10,000 and 50,000 records (median and 95th percentile):

- **open**: opening the store and getting the first filled page of the browser (newest
  first, 50 rows, counts per status), as the staff app does at start, in a fresh process
  state (a new store object: the index and the search index are read from disk). Target 1 s.
- **first build**: the same when the search index file is missing (built from the entry
  files, with progress): what the first start after an upgrade or a restore costs, once.
Each also with its CPU time (this process's), since on a shared machine the wall time
mostly measures the other programs.

- **keystroke**: one search as a person types (names, accents left out, a reference, a chart
  number, a date of birth; one character more each time), with a physiotherapist filter on
  some and a status tab on others. Target 50 ms.

The stores are built once through the store's own API (``save_record``, ``append_event``:
the files the kiosk and the staff app write), with synthetic names (kiosk.demo), a few
physiotherapists and a fifth of the records discussed or countersigned, and kept in --work.

Usage: python benchmarks/search.py [--work DIR] [--sizes 0,10000,50000] [--runs 5]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from consent_records.backends import StoreConfig, open_store  # noqa: E402
from consent_records.lifecycle import ConsentStatus  # noqa: E402
from consent_records.model import ContentStamp, Physiotherapist  # noqa: E402
from consent_records.query import RecordQuery  # noqa: E402
from consent_records.store.layout import SEARCH_INDEX_NAME  # noqa: E402
from kiosk.demo import synthetic_name  # noqa: E402
from tests.event_factories import AKIM, JLEE, countersigned, discussed  # noqa: E402
from tests.store.conftest import CONTENT_JSON, CONTENT_SHA, make_record  # noqa: E402

AS_OF = datetime(2027, 1, 1, tzinfo=UTC)
PHYSIOS = [
    Physiotherapist(id="jlee", name="Jordan Lee"),
    Physiotherapist(id="akim", name="Alex Kim"),
    Physiotherapist(id="mtremblay", name="Marie Tremblay"),
]
STAMP = ContentStamp(version="2026.1", language="en", sha256=CONTENT_SHA)


def build(path: Path, count: int) -> None:
    store = open_store(StoreConfig(data_dir=path, lock_timeout=60))
    store.archive_content(CONTENT_SHA, CONTENT_JSON)
    have = store.count()[0]
    started = time.perf_counter()
    for n in range(have, count):
        rng = random.Random(n)
        name = synthetic_name(rng)
        record = make_record(
            n,
            rng=rng,
            content=STAMP,
            physiotherapist=PHYSIOS[n % 3],
            patient=make_record(n).patient.model_copy(update={"full_name": name}),
        )
        store.save_record(record)
        if n % 3 == 0 and n % 5 == 0:  # agreed: discussed, half of them countersigned
            actor = JLEE if n % 2 else AKIM
            store.append_event(discussed(record, actor=actor))
            if n % 10 == 0:
                store.append_event(countersigned(record, actor=actor))
        if n and n % 5000 == 0:
            print(f"  built {n} records ({time.perf_counter() - started:.0f} s)", flush=True)
    store.close()


def typed_queries(names: list[str], references: list[str]) -> list[RecordQuery]:
    """What a person types, one character at a time, with the filters a browser keeps."""
    rng = random.Random(7)
    texts: list[str] = []
    for name in rng.sample(names, min(4, len(names))) or ["Björn Gagnon"]:
        first, *rest = name.split()
        typed = first.lower()[:5] + (" " + rest[-1][:3] if rest else "")
        texts += [typed[: i + 1] for i in range(len(typed))]
    for reference in rng.sample(references, min(2, len(references))) or ["K7P3-QX9M"]:
        texts += [reference[: i + 1] for i in range(len(reference))]
    texts += ["T-0", "T-00", "T-001", "T-0012", "1984-02-29", "gagnon", "bjorn"]
    queries = []
    for i, text in enumerate(texts):
        extra: dict[str, object] = {}
        if i % 3 == 1:
            extra["physiotherapist_ids"] = frozenset({"jlee"})
        if i % 3 == 2:
            extra["statuses"] = frozenset({ConsentStatus.AWAITING_DISCUSSION})
        queries.append(RecordQuery(as_of=AS_OF, text=text, **extra))  # type: ignore[arg-type]
    return queries


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def fmt(values: list[float]) -> str:
    return f"median {statistics.median(values):7.1f} ms   p95 {pct(values, 0.95):7.1f} ms"


def measure(path: Path, runs: int) -> None:
    config = StoreConfig(data_dir=path, lock_timeout=60)
    first_page = RecordQuery(as_of=AS_OF)
    # A first build from the entry files (search index missing), then opens that read it.
    builds, opens, open_cpu = [], [], []
    for run in range(runs + 2):
        if run < 2:
            (path / SEARCH_INDEX_NAME).unlink(missing_ok=True)
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        store = open_store(config)
        page = store.search(first_page)
        elapsed = (time.perf_counter() - t0) * 1000
        cpu = (time.process_time() - c0) * 1000
        store.close()
        (builds if run < 2 else opens).append(elapsed)
        if run >= 2:
            open_cpu.append(cpu)
        shown = len(page.items)
    total = page.total
    store = open_store(config)
    page = store.search(first_page.model_copy(update={"limit": 500}))
    names = [item.row.patient_name for item in page.items]
    references = [item.row.reference for item in page.items]
    queries = typed_queries(names, references)
    keystrokes, key_cpu = [], []
    for _ in range(runs):
        for query in queries:
            t0, c0 = time.perf_counter(), time.process_time()
            store.search(query)
            keystrokes.append((time.perf_counter() - t0) * 1000)
            key_cpu.append((time.process_time() - c0) * 1000)
    store.close()
    print(f"  {total:>6} records, first page {shown} rows")
    print(f"    open to a filled list  {fmt(opens)}   cpu {fmt(open_cpu)}")
    print(f"    first build (no index) {fmt(builds)}")
    print(f"    keystroke search       {fmt(keystrokes)}   cpu {fmt(key_cpu)}")
    print(f"    ({len(queries)} typed queries x {runs}; load average {os.getloadavg()[0]:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "ims-search-bench"
    )
    parser.add_argument("--sizes", default="0,10000,50000")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    for size in (int(s) for s in args.sizes.split(",")):
        base = work / f"search-{size}"
        if size == 0:
            shutil.rmtree(base, ignore_errors=True)
        print(f"store of {size} records in {base}", flush=True)
        build(base, size)
        measure(base, max(args.runs, 3))


if __name__ == "__main__":
    main()
