"""The PostgreSQL store: schema versions, the chain, append-only rights, verify and tamper.

Runs against the session's test cluster (tests/pg_fixtures.py); each module has its own
database and each store its own chain, so the tests stay cheap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from consent_records.base import GENESIS_HASH, RecordNotFound, StoreUnavailable
from consent_records.model import EventKind
from tests.pg_fixtures import PgDatabase, create_database, drop_database
from tests.store.conftest import CONTENT_JSON, CONTENT_SHA, make_event, make_record, open_new

psycopg = pytest.importorskip("psycopg")

Factory = Callable[..., Any]


def _new(factory: Factory, **options: Any) -> Any:
    store = factory(**options)
    store.archive_content(CONTENT_SHA, CONTENT_JSON)
    return store


def test_entries_have_the_embedded_stores_hashes(pg_store_factory: Factory, tmp_path: Path) -> None:
    """The same records and events make the same chain, hash for hash, on both backends."""
    pg = _new(pg_store_factory)
    embedded = open_new(tmp_path / "data")
    try:
        for n in range(3):
            record = make_record(n)
            a, b = pg.save_record(record), embedded.save_record(record)
            assert a.entry == b.entry
            event = make_event(record.id, EventKind.PDF_EXPORTED, n)
            assert pg.append_event(event).entry == embedded.append_event(event).entry
        assert pg.chain_head() == embedded.chain_head()
        assert pg.chain_length() == embedded.chain_length() == 6
        assert pg.count() == embedded.count() == (3, 3)
    finally:
        embedded.close()


def test_reads_return_what_was_saved(pg_store_factory: Factory) -> None:
    store = _new(pg_store_factory)
    assert store.chain_head() == GENESIS_HASH
    records = [store.save_record(make_record(n)).record for n in range(4)]
    store.append_event(make_event(records[1].id, EventKind.NOTE, 1))
    got = store.get(records[1].id)
    assert got.record == records[1]
    assert [e.event.kind for e in got.events] == [EventKind.NOTE]
    assert got.chain_length == 5
    assert store.find_reference(records[2].reference.lower()).record.id == records[2].id
    assert store.reference_exists(records[3].reference)
    assert not store.reference_exists("ZZZZ-ZZZZ")
    assert [s.id for s in store.recent(2)] == [records[3].id, records[2].id]
    with pytest.raises(RecordNotFound):
        store.get("f" * 32)
    with pytest.raises(RecordNotFound):
        store.append_event(make_event("e" * 32))
    with pytest.raises(ValueError, match="already stored"):
        store.save_record(records[0])
    report = store.verify()
    assert report.ok, report.problem
    assert (report.records, report.events, report.chain_length) == (4, 1, 5)
    assert report.chain_head == store.chain_head()


def test_a_terminal_sees_another_terminals_records(pg_store_factory: Factory) -> None:
    kiosk = _new(pg_store_factory)
    staff = pg_store_factory(chain=kiosk.chain)
    saved = kiosk.save_record(make_record(1))
    assert staff.get(saved.record.id).record == saved.record
    assert staff.chain_length() == 1


def test_concurrent_appends_keep_one_chain(pg_store_factory: Factory) -> None:
    first = _new(pg_store_factory, max_connections=8)
    others = [pg_store_factory(chain=first.chain) for _ in range(3)]
    errors: list[BaseException] = []

    def work(store: Any, start: int) -> None:
        try:
            for n in range(start, start + 10):
                store.save_record(make_record(n))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(s, 100 * i)) for i, s in enumerate([first, *others])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = first.verify()
    assert report.ok, report.problem
    assert report.records == report.chain_length == 40


def test_the_application_may_not_change_or_delete(
    pg_store_factory: Factory, pg_database: PgDatabase
) -> None:
    store = _new(pg_store_factory)
    store.save_record(make_record(1))
    attempts = [
        "UPDATE ims.entries SET at = now()",
        "DELETE FROM ims.entries",
        "TRUNCATE ims.entries",
        "UPDATE ims.records SET base_status = 'active'",
        "DELETE FROM ims.content",
        "TRUNCATE ims.checkpoints",
    ]
    with psycopg.connect(pg_database.app_dsn, autocommit=True) as conn:
        for statement in attempts:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    # Even the owner role is stopped by the triggers (only disabling them, which verify
    # then catches, gets past).
    with psycopg.connect(pg_database.admin_dsn, autocommit=True) as conn:
        conn.execute("SET ROLE ims_owner")
        for statement in attempts:
            # (TRUNCATE of a table others refer to stops even before its trigger.)
            with pytest.raises(
                (psycopg.errors.InsufficientPrivilege, psycopg.errors.FeatureNotSupported)
            ):
                conn.execute(statement)
    report = store.verify()
    assert report.ok and report.records == 1


def test_a_privileged_login_is_refused(pg_database: PgDatabase) -> None:
    from consent_records.pg.engine import open_pg_store

    with pytest.raises(StoreUnavailable, match="can change or delete records"):
        open_pg_store(pg_database.admin_dsn, chain="privileged")


def test_tampering_is_named_by_verify(pg_cluster: str) -> None:
    """An owner who disables the triggers and the hash check can change a row; verify,
    which trusts none of the database's own checks, names the entry."""
    from consent_records.pg.engine import open_pg_store

    db = create_database(pg_cluster)  # its own database: the drill disables triggers
    store = open_pg_store(db.app_dsn, chain="tamper")
    store.archive_content(CONTENT_SHA, CONTENT_JSON)
    saved = [store.save_record(make_record(n)) for n in range(3)]
    with psycopg.connect(db.admin_dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE ims.entries DISABLE TRIGGER USER")
        conn.execute(
            "ALTER TABLE ims.entries DROP CONSTRAINT entries_check"
        )  # the hash check at insert
        conn.execute(
            "UPDATE ims.entries SET body = convert_to(replace(convert_from(body, 'UTF8'),"
            " 'Sample', 'Sampla'), 'UTF8') WHERE chain = %s AND seq = 2",
            [store.chain],
        )
    try:
        report = store.verify()
        assert not report.ok
        assert "entry 2" in str(report.problem) and "SHA-256" in str(report.problem)
        assert saved[1].entry.seq == 2
    finally:
        store.close()
        drop_database(pg_cluster, db)


def test_schema_versions_are_checked(pg_cluster: str) -> None:
    from consent_records.pg.engine import open_pg_store
    from consent_records.pg.migrations import latest_version, migrate

    db = create_database(pg_cluster, init=False)
    try:
        with pytest.raises(StoreUnavailable, match=r"ims-kiosk db init"):
            open_pg_store(db.app_dsn.replace("ims_test_app", "ims_test_admin"), read_only=True)
        with psycopg.connect(db.admin_dsn) as conn:
            with pytest.raises(ValueError, match="db init"):
                migrate(conn, app_role="ims_test_app", init=False)
            result = migrate(conn, app_role="ims_test_app", init=True)
            assert result.version == latest_version()
            with pytest.raises(ValueError, match="db migrate"):
                migrate(conn, app_role="ims_test_app", init=True)
            assert migrate(conn, app_role="ims_test_app", init=False).applied == ()
        with psycopg.connect(db.admin_dsn, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO ims.schema_migrations (version, name, sha256) VALUES (%s, 'x', 'y')",
                [latest_version() + 1],
            )
        with pytest.raises(StoreUnavailable, match="newer than this program"):
            open_pg_store(db.app_dsn)
    finally:
        drop_database(pg_cluster, db)


def test_a_dropped_connection_is_replaced(
    pg_store_factory: Factory, pg_database: PgDatabase
) -> None:
    """The database restarting or failing over drops every connection: the next save
    reconnects by itself (the pool checks a connection before lending it)."""
    store = _new(pg_store_factory)
    store.save_record(make_record(1))
    with psycopg.connect(pg_database.admin_dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE usename = 'ims_test_app' AND datname = current_database()"
        )
    saved = store.save_record(make_record(2))
    assert saved.entry.seq == 2
    assert store.verify().ok


def test_a_statement_timeout_is_a_sentence_and_nothing_is_stored(
    pg_store_factory: Factory, pg_database: PgDatabase
) -> None:
    store = _new(pg_store_factory, statement_timeout_ms=300)
    with psycopg.connect(pg_database.admin_dsn, autocommit=True) as blocker:
        # Another session holds the chain's append lock (a stuck writer).
        blocker.execute(
            "SELECT pg_advisory_lock(hashtextextended(%s, 0))", [f"ims-chain:{store.chain}"]
        )
        with pytest.raises(StoreUnavailable, match="took too long") as caught:
            store.save_record(make_record(1))
        assert "Nothing was stored" in str(caught.value)
        assert store.chain_length() == 0
    store.save_record(make_record(1))  # the lock is gone with the session: it works again
    assert store.chain_length() == 1


def test_verify_compares_the_kept_counts_with_the_records(
    pg_store_factory: Factory, pg_database: PgDatabase
) -> None:
    store = _new(pg_store_factory)
    for n in range(3):
        store.save_record(make_record(n))
    assert store.verify().ok
    with psycopg.connect(pg_database.admin_dsn, autocommit=True) as conn:
        conn.execute("UPDATE ims.record_counts SET n = n + 1 WHERE chain = %s", [store.chain])
    report = store.verify()
    assert not report.ok and "counts per status" in str(report.problem)
