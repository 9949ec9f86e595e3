"""``ims-kiosk db init | migrate | status`` and ``store copy`` both ways, as an admin runs them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from consent_records.model import EventKind
from consent_records.pg.migrations import latest_version
from consent_records.store import open_store
from kiosk.cli import main
from tests.pg_fixtures import APP_ROLE, PgDatabase, create_database, drop_database
from tests.store.conftest import make_event, make_record, open_new
from tests.store.test_contract import PHC, _account, _password

pytest.importorskip("psycopg")


@pytest.fixture(scope="module")
def bare_database(pg_cluster: str) -> Iterator[PgDatabase]:
    db = create_database(pg_cluster, init=False)
    yield db
    drop_database(pg_cluster, db)


def test_db_init_migrate_status_and_copy_both_ways(
    bare_database: PgDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    admin, app = bare_database.admin_dsn, bare_database.app_dsn
    assert main(["db", "status", "--dsn", admin]) == 1
    assert "ims-kiosk db init" in capsys.readouterr().out

    assert main(["db", "init", "--admin-dsn", admin, "--app-role", APP_ROLE]) == 0
    out = capsys.readouterr().out
    assert f"schema version {latest_version()}" in out and f"log in as {APP_ROLE}" in out
    assert main(["db", "init", "--admin-dsn", admin, "--app-role", APP_ROLE]) == 2
    assert "ims-kiosk db migrate" in capsys.readouterr().err
    assert main(["db", "migrate", "--admin-dsn", admin, "--app-role", APP_ROLE]) == 0
    assert "up to date" in capsys.readouterr().out

    source = tmp_path / "data"
    store = open_new(source)
    records = [store.save_record(make_record(n)).record for n in range(5)]
    store.append_event(make_event(records[0].id, EventKind.COUNTERSIGNED, 1))
    # Staff accounts travel too: audit entries and the credential kept beside the chain.
    store.append_audit(_account("jlee"), _password("jlee"), credential=PHC)
    head = store.chain_head()
    store.close()

    assert main(["store", "copy", "--from", str(source), "--to", app, "--chain", "riverbend"]) == 0
    assert f"chain head 8:{head}" in capsys.readouterr().out
    # A chain never gets a second beginning.
    assert main(["store", "copy", "--from", str(source), "--to", app, "--chain", "riverbend"]) == 1
    assert "already holds entries" in capsys.readouterr().err

    back = tmp_path / "back"
    assert main(["store", "copy", "--from", app, "--to", str(back), "--chain", "riverbend"]) == 0
    assert f"chain head 8:{head}" in capsys.readouterr().out
    copied = open_store(back, read_only=True)
    try:
        assert copied.chain_head() == head
        assert copied.get(records[0].id).events[0].event.kind == EventKind.COUNTERSIGNED
        assert copied.credential("jlee") == PHC
        assert copied.verify().accounts == 1
    finally:
        copied.close()
    # Not into a folder that holds anything.
    assert main(["store", "copy", "--from", app, "--to", str(back), "--chain", "riverbend"]) == 1
    assert "not empty" in capsys.readouterr().err

    assert main(["db", "status", "--dsn", app]) == 0
    assert "chain riverbend: 8 entries" in capsys.readouterr().out


def test_copy_needs_one_directory_and_one_database(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["store", "copy", "--from", "a", "--to", "b"]) == 2
    assert "give one of each" in capsys.readouterr().err
