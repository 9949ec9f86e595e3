"""``ims-kiosk db init | migrate | status`` and ``ims-kiosk store copy``: the PostgreSQL store's
commands (registered by kiosk/cli.py; psycopg is imported only when one of them runs).

    ims-kiosk db init [--admin-dsn DSN] [--app-role NAME]   create the schema and roles
    ims-kiosk db migrate [--admin-dsn DSN] [--app-role NAME] apply newer migrations
    ims-kiosk db status [--dsn DSN]                         the schema version, each chain
    ims-kiosk store copy --from DIR|DSN --to DSN|DIR [--chain NAME]

A DSN is libpq's ``key=value`` form or a ``postgresql://`` URL. The application's DSN comes
from ``--dsn``, ``IMS_KIOSK_DSN`` or the settings' ``dsn``; the administrator's (db init,
db migrate) from ``--admin-dsn`` or ``IMS_KIOSK_ADMIN_DSN``. docs/postgresql.md explains the
roles.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

ENV_DSN = "IMS_KIOSK_DSN"
ENV_ADMIN_DSN = "IMS_KIOSK_ADMIN_DSN"
DEFAULT_APP_ROLE = "ims_kiosk"


def add_commands(commands: Any, common: Any) -> None:
    """Add ``db`` and ``store`` to the ``ims-kiosk`` parser (``common`` adds --data-dir,
    --config)."""
    db = commands.add_parser("db", help="create or upgrade the PostgreSQL schema")
    common(db, suppress=True)
    actions = db.add_subparsers(dest="db_command", metavar="ACTION")
    for name, text in (
        ("init", "create the schema, its owner role and the application's rights"),
        ("migrate", "apply the migrations this database lacks"),
    ):
        action = actions.add_parser(name, help=text)
        common(action, suppress=True)
        action.add_argument(
            "--admin-dsn", default=None, metavar="DSN",
            help="an administrator's connection (a superuser or a member of ims_owner); "
            f"default: {ENV_ADMIN_DSN}",
        )  # fmt: skip
        action.add_argument(
            "--app-role", default=None, metavar="NAME",
            help="the role the terminals log in as (default: the user of IMS_KIOSK_DSN or "
            f"the settings' dsn, else {DEFAULT_APP_ROLE}); created if missing",
        )  # fmt: skip
    status = actions.add_parser("status", help="the schema version and each chain's length")
    common(status, suppress=True)
    status.add_argument("--dsn", default=None, metavar="DSN")

    store = commands.add_parser("store", help="move a clinic's records between stores")
    common(store, suppress=True)
    store_actions = store.add_subparsers(dest="store_command", metavar="ACTION")
    copy = store_actions.add_parser(
        "copy", help="copy the chain from a data directory into PostgreSQL, or back"
    )
    common(copy, suppress=True)
    copy.add_argument("--from", dest="source", required=True, metavar="DIR|DSN")
    copy.add_argument("--to", dest="target", required=True, metavar="DSN|DIR")
    copy.add_argument(
        "--chain", default=None, metavar="NAME",
        help="the clinic's chain in the database (default: the settings' chain, or main)",
    )  # fmt: skip


def open_configured_store(settings: Any, *, read_only: bool = False) -> Any:
    """The PostgreSQL store the settings name (``store = "postgresql"``): the DSN from
    IMS_KIOSK_DSN or the settings, the clinic's ``chain``. StoreUnavailable, as a sentence,
    when psycopg is not installed or no DSN is set."""
    from consent_records.base import StoreUnavailable

    dsn = os.environ.get(ENV_DSN) or settings.dsn
    if not dsn:
        raise StoreUnavailable(
            f'The settings say store = "postgresql" but name no database: set dsn in the '
            f"settings file or {ENV_DSN} (docs/postgresql.md)."
        )
    try:
        from consent_records.pg.engine import open_pg_store
    except ImportError:
        raise StoreUnavailable(
            'The settings say store = "postgresql", but its driver is not installed here: '
            "pip install 'ims-consent-kiosk[postgresql]'."
        ) from None
    return open_pg_store(dsn, chain=settings.chain, read_only=read_only)


def is_dsn(text: str) -> bool:
    return text.startswith(("postgresql://", "postgres://")) or "=" in text


def _settings(args: argparse.Namespace) -> Any:
    from kiosk.settings import load_settings, resolve_config

    return load_settings(resolve_config(args.config))


def app_dsn(args: argparse.Namespace) -> str | None:
    given = getattr(args, "dsn", None) or os.environ.get(ENV_DSN)
    if given:
        return str(given)
    settings = _settings(args)
    dsn = getattr(settings, "dsn", None)
    return str(dsn) if dsn else None


def _chain(args: argparse.Namespace) -> str:
    chosen = getattr(args, "chain", None)
    if chosen:
        return str(chosen)
    settings = _settings(args)
    return str(getattr(settings, "chain", None) or "main")


def _user_of(dsn: str) -> str | None:
    from psycopg.conninfo import conninfo_to_dict

    user = conninfo_to_dict(dsn).get("user")
    return str(user) if user else None


def _connect(dsn: str, what: str) -> Any:
    import psycopg

    from consent_records.pg.engine import describe_dsn

    try:
        return psycopg.connect(dsn, connect_timeout=10)
    except psycopg.Error as exc:
        from kiosk.cli import CommandError

        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CommandError(
            f"Could not connect to {describe_dsn(dsn)} as {what}: {detail}. Check the DSN and "
            "that the database server is running."
        ) from None


def cmd_db(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from kiosk.cli import EXIT_OK, CommandError

    action = getattr(args, "db_command", None)
    if action not in ("init", "migrate", "status"):
        parser.parse_args(["db", "--help"])
        return EXIT_OK
    if action == "status":
        return _db_status(args)
    import psycopg

    from consent_records.pg.engine import describe_dsn
    from consent_records.pg.migrations import WRITER_ROLE, migrate

    admin = args.admin_dsn or os.environ.get(ENV_ADMIN_DSN)
    if not admin:
        raise CommandError(
            f"Name the administrator's connection with --admin-dsn or {ENV_ADMIN_DSN} (a "
            "superuser, or a member of ims_owner); the terminals' own login cannot create "
            "tables."
        )
    terminal = app_dsn(args)
    role = args.app_role or (_user_of(terminal) if terminal else None) or DEFAULT_APP_ROLE
    if terminal and _user_of(terminal) in (None, _user_of(admin)) and not args.app_role:
        role = DEFAULT_APP_ROLE
    with _connect(admin, "the administrator") as conn:
        try:
            result = migrate(conn, app_role=role, init=action == "init")
        except ValueError as exc:
            raise CommandError(f"Nothing was changed: {exc}.") from None
        except psycopg.Error as exc:
            detail = str(exc).strip().splitlines()[0]
            raise CommandError(
                f"Nothing was changed: the database refused the migration ({detail}). Run it "
                "as a superuser or a member of ims_owner."
            ) from None
    where = describe_dsn(admin)
    if result.applied:
        names = ", ".join(f"{m.version} ({m.name})" for m in result.applied)
        print(f"Applied migration {names} to {where}: schema version {result.version}.")
    else:
        print(f"{where} is up to date: schema version {result.version}.")
    print(
        f"The terminals log in as {role} (a member of {WRITER_ROLE}: it may only read and add "
        "records; the tables belong to ims_owner)."
    )
    if role in result.created_roles:
        print(
            f"The role {role} was created without a password: for connections over the "
            f"network give it one (ALTER ROLE {role} PASSWORD '…') and put it in the DSN or "
            "~/.pgpass.",
            file=sys.stderr,
        )
    return EXIT_OK


def _db_status(args: argparse.Namespace) -> int:
    from consent_records.pg.engine import describe_dsn
    from consent_records.pg.migrations import applied_versions, latest_version
    from kiosk.cli import EXIT_OK, EXIT_PROBLEM, CommandError

    dsn = args.dsn or app_dsn(args) or os.environ.get(ENV_ADMIN_DSN)
    if not dsn:
        raise CommandError(f"Name the database with --dsn or {ENV_DSN}.")
    with _connect(dsn, "this login") as conn:
        applied = applied_versions(conn)
        if not applied:
            print(f"{describe_dsn(dsn)} has no IMS Consent Kiosk schema: run `ims-kiosk db init`.")
            return EXIT_PROBLEM
        chains = conn.execute(
            "SELECT c.chain, coalesce(max(e.seq), 0) FROM ims.chains c LEFT JOIN ims.entries e"
            " ON e.chain = c.chain GROUP BY c.chain ORDER BY c.chain"
        ).fetchall()
    version = applied[-1][0]
    print(f"{describe_dsn(dsn)}: schema version {version} (this program: {latest_version()})")
    for chain, length in chains:
        print(f"chain {chain}: {length} entries")
    return EXIT_OK if version == latest_version() else EXIT_PROBLEM


def cmd_store(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from kiosk.cli import EXIT_OK, CommandError, _with_progress

    if getattr(args, "store_command", None) != "copy":
        parser.parse_args(["store", "--help"])
        return EXIT_OK
    source, target = str(args.source), str(args.target)
    if is_dsn(source) == is_dsn(target):
        raise CommandError(
            "store copy moves a chain between a data directory and a PostgreSQL database: "
            "give one of each (--from DIR --to DSN, or --from DSN --to DIR)."
        )
    chain = _chain(args)
    from consent_records.pg.copy import copy_to_embedded, copy_to_postgres
    from consent_records.pg.engine import open_pg_store
    from consent_records.store import open_store, store_exists

    if is_dsn(target):
        data_dir = Path(source)
        if not store_exists(data_dir):
            raise CommandError(f"There is no record store in {data_dir.absolute()}.")
        embedded = open_store(data_dir, read_only=True)
        try:
            pg = open_pg_store(target, chain=chain, allow_privileged=True)
            try:
                report = _with_progress(
                    "Copying", lambda progress: copy_to_postgres(embedded, pg, progress=progress)
                )
            finally:
                pg.close()
        finally:
            embedded.close()
        where = f"chain {chain} of {pg.where}"
    else:
        pg = open_pg_store(source, chain=chain, read_only=True)
        try:
            report = _with_progress(
                "Copying", lambda progress: copy_to_embedded(pg, Path(target), progress=progress)
            )
        finally:
            pg.close()
        where = str(Path(target).absolute())
    print(
        f"Copied {report.records} records, {report.events} events into {where}; both verify, "
        f"chain head {report.chain_length}:{report.chain_head}"
    )
    return EXIT_OK
