"""Benchmark: the staff browser's search on the PostgreSQL store at 50,000 and 1,000,000 records.

Prints, per size, the median and 95th percentile of ``PostgresStore.search`` (one page of
50 with the counts per status, as the browser asks) for typical queries: the default view
(newest first, no filter), a physiotherapist's "awaiting discussion" tab, a name typed in
part (accents and case ignored), a reference prefix, a date of birth, a sort by name, and a
page deep in the list. Target: 50 ms at 1,000,000.

Only ``ims.records`` (the search index, which is all a search reads) is filled, by COPY with
triggers off in a throwaway database, from synthetic rows made the way ``index_row`` makes
them (names from kiosk.demo, folded by query.fold_name); the entries are not written, so the
1,000,000 load takes a minute rather than hours. Appends and verify are measured by
benchmarks/store.py.

Usage: python benchmarks/pg_search.py [--dsn SUPERUSER_DSN] [--sizes 50000,1000000] [--runs 30]
Without --dsn (or IMS_KIOSK_TEST_PG) a private cluster is started and deleted afterwards.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg
from psycopg.conninfo import make_conninfo

from consent_records.lifecycle import ConsentRules, ConsentStatus
from consent_records.pg.engine import open_pg_store
from consent_records.pg.migrations import migrate
from consent_records.pg.search import INDEX_COLUMNS, name_terms
from consent_records.query import RecordQuery, SortKey, name_words
from kiosk.demo import synthetic_name
from tests import pgcluster

AS_OF = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
PHYSIOS = [f"physio-{n}" for n in range(8)]
BASES = [
    (ConsentStatus.AWAITING_DISCUSSION, 20),
    (ConsentStatus.WANTS_DISCUSSION, 8),
    (ConsentStatus.DECLINED_AT_KIOSK, 6),
    (ConsentStatus.DISCUSSED, 6),
    (ConsentStatus.ACTIVE, 45),
    (ConsentStatus.DECLINED_AFTER_DISCUSSION, 5),
    (ConsentStatus.NOT_PROCEEDING, 4),
    (ConsentStatus.WITHDRAWN, 6),
]


def rows(count: int, chain: str, seed: int = 1) -> Any:
    rng = random.Random(seed)
    statuses = [s for s, w in BASES for _ in range(w)]
    folded: dict[str, tuple[str, list[str]]] = {}
    alphabet = "ACDEFGHJKMNPQRSTVWXYZ23456789"
    for n in range(count):
        name = synthetic_name(rng)
        if n % 5 == 0:
            name = f"{name.split()[0]} {synthetic_name(rng)}"
        if name not in folded:
            words = name_words(name)
            folded[name] = (" ".join(words), name_terms(words))
        key, terms = folded[name]
        completed = AS_OF - timedelta(minutes=n * 2.6 + rng.random())
        base = rng.choice(statuses)
        consented = (
            completed + timedelta(days=rng.randint(0, 20)) if base is ConsentStatus.ACTIVE else None
        )
        ref = "".join(rng.choice(alphabet) for _ in range(8))
        yield [
            chain,
            f"{n:032x}",
            n + 1,
            f"{ref[:4]}-{ref[4:]}",
            ref,
            name,
            key,
            terms,
            date(1930 + rng.randint(0, 80), rng.randint(1, 12), rng.randint(1, 28)),
            f"c{n:07d}" if n % 3 else "",
            completed,
            completed.date(),
            PHYSIOS[n % len(PHYSIOS)],
            rng.choice((0, 0, 0, 1, 2)),
            rng.choice((0, 0, 1)),
            n % 9 == 0,
            "en",
            "2026.1" if n % 4 else "2025.3",
            [2026, 1, 0] if n % 4 else [2025, 3, 0],
            base.value,
            consented,
            n + 1,
        ]


def load(admin_dsn: str, count: int) -> tuple[str, str]:
    """A new database with ``count`` search rows in chain "bench"; its admin and app DSNs."""
    name = f"ims_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    admin = make_conninfo(admin_dsn, dbname=name)
    with psycopg.connect(admin) as conn:
        migrate(conn, app_role="ims_bench_app", init=True)
    started = time.perf_counter()
    with psycopg.connect(admin) as conn:
        conn.execute("SET session_replication_role = replica")  # no triggers, no FK checks
        conn.execute("INSERT INTO ims.chains (chain) VALUES ('bench')")
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY ims.records ({', '.join(INDEX_COLUMNS)}) FROM STDIN") as copy,
        ):
            for row in rows(count, "bench"):
                copy.write_row(row)
        # (The triggers that keep the counts were off during the load.)
        conn.execute(
            "INSERT INTO ims.record_counts SELECT chain, physiotherapist_id, base_status,"
            " flag_count > 0, missed_count > 0, has_substitute, count(*) FROM ims.records"
            " GROUP BY 1, 2, 3, 4, 5, 6"
        )
        conn.execute(
            "INSERT INTO ims.active_days SELECT chain, physiotherapist_id, content_version_key,"
            " (consented_at AT TIME ZONE 'UTC')::date, count(*) FROM ims.records"
            " WHERE base_status = 'active' AND consented_at IS NOT NULL GROUP BY 1, 2, 3, 4"
        )
        conn.commit()
    with psycopg.connect(admin, autocommit=True) as conn:
        # As autovacuum does in time: the visibility map set, so counts scan the index only.
        conn.execute("VACUUM (FREEZE, ANALYZE) ims.records, ims.record_counts, ims.active_days")
    print(f"  loaded {count:,} rows in {time.perf_counter() - started:.1f} s", flush=True)
    return admin, make_conninfo(admin_dsn, dbname=name, user="ims_bench_app")


QUERIES: dict[str, dict[str, Any]] = {
    "default view (newest 50, counts)": {},
    "physio's awaiting-discussion tab": {
        "physiotherapist_ids": {"physio-3"},
        "statuses": {ConsentStatus.AWAITING_DISCUSSION, ConsentStatus.WANTS_DISCUSSION},
    },
    'name typed "bel"': {"text": "bel"},
    'name typed "renee cote"': {"text": "renee cote"},
    'name typed "Zoë Ångs"': {"text": "Zoë Ångs"},
    "reference prefix": {"text": "K7P"},
    "date of birth": {"text": "1961-02-14"},
    "active, expiring soon": {"statuses": {ConsentStatus.ACTIVE}, "expiring_soon": True},
    "sort by name": {"sort": SortKey.PATIENT_NAME},
    "page 100 (offset 4950)": {"offset": 4950},
}


def bench(app_dsn: str, runs: int) -> list[tuple[str, float, float, int]]:
    rules = ConsentRules(valid_days=365, expiring_within_days=30)
    store = open_pg_store(app_dsn, chain="bench")
    results = []
    try:
        for label, fields in QUERIES.items():
            query = RecordQuery(as_of=AS_OF, **fields)
            store.search(query, rules)  # warm
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                page = store.search(query, rules)
                times.append((time.perf_counter() - started) * 1000)
            times.sort()
            p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
            results.append((label, statistics.median(times), p95, page.total))
    finally:
        store.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default=os.environ.get(pgcluster.ENV_DSN))
    parser.add_argument("--sizes", default="50000,1000000")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    base: Path | None = None
    dsn = args.dsn
    if not dsn:
        base, dsn = pgcluster.start()
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            print(f"PostgreSQL search at {size:,} records ({args.runs} runs each, ms):")
            admin, app = load(dsn, size)
            for label, median, p95, total in bench(app, args.runs):
                print(f"  {label:36s} median {median:7.1f}  p95 {p95:7.1f}  ({total:,} found)")
            with psycopg.connect(dsn, autocommit=True) as conn:
                name = psycopg.conninfo.conninfo_to_dict(admin)["dbname"]
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        if base is not None:
            pgcluster.stop(base)


if __name__ == "__main__":
    main()
