"""Versioned SQL migrations: ``migrations/NNNN_name.sql``, applied in one transaction.

``ims-kiosk db init`` creates the roles and applies every migration to an empty database;
``ims-kiosk db migrate`` applies the ones a database lacks. Each file runs as the owner
role :data:`OWNER_ROLE` (``SET LOCAL ROLE``), so the tables belong to a role nobody logs in
as, and its row in ``ims.schema_migrations`` (number, name, SHA-256 of the file) is written
in the same transaction: a database is at a version completely or not at all.

The application checks the version when it connects (:func:`check_schema`) and refuses a
database it does not know, with a sentence naming the command to run.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from consent_records.base import StoreUnavailable

if TYPE_CHECKING:
    import psycopg

OWNER_ROLE = "ims_owner"
"""Owns every table; NOLOGIN. Only an administrator (a superuser or a member) acts as it."""
WRITER_ROLE = "ims_writer"
"""Granted SELECT and INSERT; the application's login role is made a member of it."""
_LOCK = 0x1A5C0_DB
"""The advisory lock that keeps two ``db migrate`` runs from interleaving."""
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def migrations() -> list[Migration]:
    """Every migration shipped with this program, in order (package data)."""
    found = []
    for item in resources.files("consent_records.pg").joinpath("migrations").iterdir():
        match = _NAME.match(item.name)
        if match:
            found.append(Migration(int(match[1]), match[2], item.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError("the migration files are not numbered 1, 2, 3 … without gaps")
    return found


def latest_version() -> int:
    return migrations()[-1].version


def applied_versions(conn: psycopg.Connection[tuple[object, ...]]) -> list[tuple[int, str, str]]:
    """``(version, name, sha256)`` of each migration applied; [] for a database without
    the schema."""
    row = conn.execute("SELECT to_regclass('ims.schema_migrations') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return []
    rows = conn.execute(
        "SELECT version, name, sha256 FROM ims.schema_migrations ORDER BY version"
    ).fetchall()
    return [(int(str(v)), str(n), str(s)) for v, n, s in rows]


def check_schema(conn: psycopg.Connection[tuple[object, ...]], where: str) -> None:
    """Refuse a database whose schema this program does not know (StoreUnavailable)."""
    applied = applied_versions(conn)
    latest = latest_version()
    if not applied:
        raise StoreUnavailable(
            f"The PostgreSQL database {where} has no IMS Consent Kiosk schema yet. Run "
            "`ims-kiosk db init` (as the database's administrator) to create it."
        )
    version = applied[-1][0]
    if version > latest:
        raise StoreUnavailable(
            f"The PostgreSQL database {where} has schema version {version}, newer than this "
            f"program knows ({latest}). Upgrade IMS Consent Kiosk on this terminal; nothing "
            "was changed."
        )
    known = {m.version: m for m in migrations()}
    for number, name, sha in applied:
        if known[number].sha256 != sha or known[number].name != name:
            raise StoreUnavailable(
                f"The PostgreSQL database {where} has a migration {number} ({name}) that is "
                "not this program's. Use the program version that made the database; nothing "
                "was changed."
            )
    if version < latest:
        raise StoreUnavailable(
            f"The PostgreSQL database {where} has schema version {version}; this program needs "
            f"version {latest}. Run `ims-kiosk db migrate` (as the database's administrator)."
        )


@dataclass(frozen=True, slots=True)
class MigrateResult:
    applied: tuple[Migration, ...]
    version: int
    created_roles: tuple[str, ...]


def _role_exists(conn: psycopg.Connection[tuple[object, ...]], role: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone() is not None


def _create_role(conn: psycopg.Connection[tuple[object, ...]], role: str, *, login: bool) -> bool:
    """Create ``role`` unless it exists (roles belong to the whole cluster: another
    database's ``db init`` may be creating it at the same moment)."""
    from psycopg import errors, sql

    if _role_exists(conn, role):
        return False
    try:
        with conn.transaction():
            conn.execute(
                sql.SQL("CREATE ROLE {} {}").format(
                    sql.Identifier(role), sql.SQL("LOGIN" if login else "NOLOGIN")
                )
            )
    except (errors.DuplicateObject, errors.UniqueViolation):
        return False
    return True


def _current_database(conn: psycopg.Connection[tuple[object, ...]]) -> str:
    row = conn.execute("SELECT current_database()").fetchone()
    assert row is not None
    return str(row[0])


def _is_superuser(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    return bool(row and row[0])


def migrate(
    conn: psycopg.Connection[tuple[object, ...]],
    *,
    app_role: str | None,
    init: bool,
) -> MigrateResult:
    """Create the roles if missing and apply every migration the database lacks, in one
    transaction. ``init`` refuses a database that already has the schema; otherwise one
    without it is refused (``db migrate`` never creates a store by mistake).

    ``conn`` is an administrator's connection (a superuser, or a member of the owner role
    able to create roles). ``app_role`` is made a member of :data:`WRITER_ROLE`.
    """
    from psycopg import sql

    created: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
        for role in (OWNER_ROLE, WRITER_ROLE):
            if _create_role(conn, role, login=False):
                created.append(role)
        if app_role is not None:
            if app_role in (OWNER_ROLE, WRITER_ROLE):
                raise ValueError(f"the application cannot log in as {app_role}")
            if _create_role(conn, app_role, login=True):
                created.append(app_role)
            conn.execute(
                sql.SQL("GRANT {} TO {}").format(
                    sql.Identifier(WRITER_ROLE), sql.Identifier(app_role)
                )
            )
        applied = applied_versions(conn)
        if init and applied:
            raise ValueError(
                f"this database already has the IMS Consent Kiosk schema (version "
                f"{applied[-1][0]}); use `ims-kiosk db migrate` to bring it up to date"
            )
        if not init and not applied:
            raise ValueError(
                "this database has no IMS Consent Kiosk schema; create it with `ims-kiosk db init`"
            )
        have = applied[-1][0] if applied else 0
        if have > latest_version():
            raise ValueError(
                f"this database has schema version {have}, newer than this program knows "
                f"({latest_version()}); upgrade IMS Consent Kiosk"
            )
        if not init:
            # The same refusal as the application's for a migration that is not ours.
            known = {m.version: m for m in migrations()}
            for number, name, sha in applied:
                if known[number].sha256 != sha or known[number].name != name:
                    raise ValueError(
                        f"migration {number} ({name}) in this database is not this program's"
                    )
        if init:
            # The owner creates the schema; an administrator who is not a superuser must be
            # able to act as it.
            conn.execute(
                sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
                    sql.Identifier(_current_database(conn)), sql.Identifier(OWNER_ROLE)
                )
            )
            if not _is_superuser(conn):
                conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(OWNER_ROLE)))
        todo = [m for m in migrations() if m.version > have]
        conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(OWNER_ROLE)))
        for migration in todo:
            conn.execute(migration.sql.encode("utf-8"))
            conn.execute(
                "INSERT INTO ims.schema_migrations (version, name, sha256) VALUES (%s, %s, %s)",
                [migration.version, migration.name, migration.sha256],
            )
        conn.execute("RESET ROLE")
    return MigrateResult(tuple(todo), latest_version(), tuple(created))
