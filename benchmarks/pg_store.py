"""Benchmark: the PostgreSQL store's appends and verify (the embedded store's: benchmarks/store.py).

Prints, as medians:
- one save (record, with its search-index row, under the chain's advisory lock) into an
  empty chain and into one holding --records records;
- saves per second with 1, 4 and 8 writer processes on one chain (each its own connection);
- verify of the --records chain, with its rate in entries per second.

The big chain is bulk-loaded with COPY (the same rows save_record writes: the entries'
exact hashed bytes, checked by the database's hash CHECK and link trigger as they go in),
from the tests' synthetic records (about 3 KB each).

Usage: python benchmarks/pg_store.py [--dsn SUPERUSER_DSN] [--records 50000] [--saves 100]
Without --dsn (or IMS_KIOSK_TEST_PG) a private cluster is started and deleted afterwards.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "store"))

import psycopg  # noqa: E402
from psycopg.conninfo import make_conninfo  # noqa: E402

from consent_records.base import GENESIS_HASH  # noqa: E402
from consent_records.lifecycle import start  # noqa: E402
from consent_records.pg.body import encode_body  # noqa: E402
from consent_records.pg.engine import entry_columns, open_pg_store  # noqa: E402
from consent_records.pg.migrations import migrate  # noqa: E402
from consent_records.pg.search import INDEX_COLUMNS, index_row  # noqa: E402
from tests import pgcluster  # noqa: E402
from tests.store.conftest import CONTENT_JSON, CONTENT_SHA, make_record  # noqa: E402

ENTRY_COLUMNS = (
    "chain, seq, kind, entry_id, record_id, reference, event_kind, at, at_day, actor, subject,"
    " prev_sha256, sha256, body, status_after, consented_at_after"
)


def new_database(admin_dsn: str) -> tuple[str, str, str]:
    name = f"ims_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    admin = make_conninfo(admin_dsn, dbname=name)
    with psycopg.connect(admin) as conn:
        migrate(conn, app_role="ims_bench_app", init=True)
    return name, admin, make_conninfo(admin_dsn, dbname=name, user="ims_bench_app")


def bulk_load(admin_dsn: str, app_dsn: str, chain: str, count: int) -> None:
    store = open_pg_store(app_dsn, chain=chain)
    store.archive_content(CONTENT_SHA, CONTENT_JSON)
    store.close()
    prev = GENESIS_HASH
    with psycopg.connect(app_dsn) as conn:
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"ims-chain:{chain}"]
        )
        index = []
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY ims.entries ({ENTRY_COLUMNS}) FROM STDIN") as copy,
        ):
            for n in range(count):
                record = make_record(n + 10_000_000)
                seq = n + 1
                sha, body = encode_body(seq, "record", prev, record.model_dump(mode="json"))
                copy.write_row(
                    [chain, seq, "record", *entry_columns("record", record), prev, sha, body,
                     None, None]
                )  # fmt: skip
                index.append(index_row(chain, seq, record, start(record))[1])
                prev = sha
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY ims.records ({', '.join(INDEX_COLUMNS)}) FROM STDIN") as copy,
        ):
            for row in index:
                copy.write_row(row)
        conn.commit()
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) ims.entries, ims.records")


def save_latency(app_dsn: str, chain: str, saves: int, first: int) -> float:
    store = open_pg_store(app_dsn, chain=chain)
    store.archive_content(CONTENT_SHA, CONTENT_JSON)
    records = [make_record(first + n) for n in range(saves)]
    times = []
    try:
        for record in records:
            started = time.perf_counter()
            store.save_record(record)
            times.append((time.perf_counter() - started) * 1000)
    finally:
        store.close()
    return statistics.median(times)


def _writer(args: tuple[str, str, int, int, Any]) -> None:
    app_dsn, chain, first, saves, barrier = args
    store = open_pg_store(app_dsn, chain=chain, max_connections=1)
    store.archive_content(CONTENT_SHA, CONTENT_JSON)
    records = [make_record(first + n) for n in range(saves)]
    barrier.wait()
    for record in records:
        store.save_record(record)
    store.close()


def throughput(app_dsn: str, writers: int, saves: int) -> float:
    chain = f"w{writers}-{uuid.uuid4().hex[:6]}"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Manager().Barrier(writers + 1)
    jobs = [(app_dsn, chain, 20_000_000 + w * 100_000, saves, barrier) for w in range(writers)]
    processes = [ctx.Process(target=_writer, args=(job,)) for job in jobs]
    for process in processes:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - started
    store = open_pg_store(app_dsn, chain=chain)
    report = store.verify()
    store.close()
    assert report.ok and report.records == writers * saves, report.problem
    return writers * saves / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default=os.environ.get(pgcluster.ENV_DSN))
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--saves", type=int, default=100)
    args = parser.parse_args()
    base: Path | None = None
    dsn = args.dsn
    if not dsn:
        base, dsn = pgcluster.start()
    name = None
    try:
        name, admin, app = new_database(dsn)
        print(f"PostgreSQL store ({args.saves} saves per figure):")
        empty = save_latency(app, "empty", args.saves, 0)
        print(f"  save into an empty chain      median {empty:6.2f} ms")
        started = time.perf_counter()
        bulk_load(admin, app, "big", args.records)
        print(f"  (bulk-loaded {args.records:,} records in {time.perf_counter() - started:.0f} s)")
        latency = save_latency(app, "big", args.saves, 30_000_000)
        print(f"  save at {args.records:,}               median {latency:6.2f} ms")
        for writers in (1, 4, 8):
            rate = throughput(app, writers, max(20, args.saves // writers * 2))
            print(f"  {writers} writer(s) on one chain     {rate:7.0f} saves/s")
        store = open_pg_store(app, chain="big")
        started = time.perf_counter()
        report = store.verify()
        elapsed = time.perf_counter() - started
        store.close()
        assert report.ok, report.problem
        print(
            f"  verify {report.chain_length:,} entries   {elapsed:6.2f} s "
            f"({report.chain_length / elapsed:,.0f} entries/s)"
        )
    finally:
        if name is not None:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if base is not None:
            pgcluster.stop(base)


if __name__ == "__main__":
    main()
