"""PostgreSQL fixtures: one cluster per test session, one database per test module, one
fresh chain per store (cheap: a chain is a name).

The cluster comes from ``IMS_KIOSK_TEST_PG`` (scripts/run-tests starts one and exports it)
or is started here (tests/pgcluster.py). The tests that need it are skipped, with the reason,
only when no server can be started on this machine.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import pgcluster

APP_ROLE = "ims_test_app"
_chains = itertools.count(1)


@dataclass(frozen=True)
class PgDatabase:
    admin_dsn: str
    """A superuser on this module's database (db init, tampering drills)."""
    app_dsn: str
    """The application's login: may only SELECT and INSERT."""
    name: str

    def admin(self) -> Any:
        import psycopg

        return psycopg.connect(self.admin_dsn, autocommit=True)


def _with(dsn: str, **changes: str) -> str:
    from psycopg.conninfo import make_conninfo

    return make_conninfo(dsn, **changes)


_shared: dict[str, Any] = {}
"""This test process's cluster (``dsn``, and ``base`` when started here), the contract
tests' database (``db``), or why there is none (``error``)."""


def cluster_dsn() -> str:
    """A superuser DSN on the test cluster: IMS_KIOSK_TEST_PG's, or one started here on
    first use (stopped when the session ends); skips, saying why, if none can start."""
    if "error" in _shared:
        pytest.skip(_shared["error"])
    if "dsn" not in _shared:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            _shared["error"] = "psycopg is not installed (pip install -e '.[test]' installs it)"
            pytest.skip(_shared["error"])
        dsn = os.environ.get(pgcluster.ENV_DSN)
        if not dsn:
            try:
                _shared["base"], dsn = pgcluster.start()
            except (pgcluster.ClusterUnavailable, OSError) as exc:
                _shared["error"] = f"no PostgreSQL server could be started here: {exc}"
                pytest.skip(_shared["error"])
        _shared["dsn"] = dsn
    return str(_shared["dsn"])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Drop the contract tests' database and stop a cluster started here."""
    if "db" in _shared:
        with contextlib.suppress(Exception):  # (a cluster going away anyway)
            drop_database(_shared["dsn"], _shared.pop("db"))
    if "base" in _shared:
        pgcluster.stop(Path(_shared.pop("base")))


@pytest.fixture(scope="session")
def pg_cluster() -> str:
    """A superuser DSN on a running test cluster (skips, saying why, if none can start)."""
    return cluster_dsn()


def create_database(cluster_dsn: str, *, init: bool = True) -> PgDatabase:
    import psycopg

    from consent_records.pg.migrations import migrate

    name = f"ims_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(cluster_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    admin = _with(cluster_dsn, dbname=name)
    if init:
        with psycopg.connect(admin) as conn:
            for attempt in range(5):
                try:
                    migrate(conn, app_role=APP_ROLE, init=True)
                    break
                except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateObject):
                    # Another test process created the cluster-wide roles at the same time.
                    if attempt == 4:
                        raise
    return PgDatabase(admin_dsn=admin, app_dsn=_with(cluster_dsn, dbname=name, user=APP_ROLE),
                      name=name)  # fmt: skip


def drop_database(cluster_dsn: str, db: PgDatabase) -> None:
    import psycopg

    with psycopg.connect(cluster_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def pg_database(pg_cluster: str) -> Iterator[PgDatabase]:
    """A database with the schema, for this test module."""
    db = create_database(pg_cluster)
    yield db
    drop_database(pg_cluster, db)


@pytest.fixture
def pg_store_factory(pg_database: PgDatabase) -> Iterator[Callable[..., Any]]:
    """``factory(chain=None, **options)``: a PostgresStore on a fresh chain (or the one
    named, to open a second connection to the same chain, as another terminal would)."""
    from consent_records.pg.engine import open_pg_store

    opened: list[Any] = []

    def factory(chain: str | None = None, **options: Any) -> Any:
        store = open_pg_store(
            options.pop("dsn", pg_database.app_dsn),
            chain=chain or f"t{os.getpid()}-{next(_chains)}",
            **options,
        )
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


def contract_config(tmp: Path) -> Any:
    """A StoreConfig of an empty PostgreSQL store for the contract tests: one database per
    test process (made on first use), a fresh chain per temporary folder. Skips, saying
    why, when no server can start."""
    import hashlib

    from consent_records.backends import StoreConfig

    dsn = cluster_dsn()
    if "db" not in _shared:
        _shared["db"] = create_database(dsn)
    chain = "c" + hashlib.sha256(os.fspath(tmp).encode()).hexdigest()[:16]
    return StoreConfig(
        backend="postgresql", data_dir=tmp / "data", url=_shared["db"].app_dsn, chain=chain
    )
