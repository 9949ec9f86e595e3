"""The PostgreSQL consent store: one hash chain per clinic, append-only in the database.

Every terminal of a clinic (kiosks, staff workstations, an admin's laptop) connects to one
database. An append takes a transaction-scoped advisory lock on its chain, reads the head,
and inserts the next entry: appends to one chain are serialised, while the primary key
``(chain, seq)``, the unique ``(chain, prev_sha256)`` and the link trigger keep the chain
whole even against a client that skips the lock. Each entry stores the exact canonical
bytes that were hashed (:mod:`consent_records.pg.body`), so entry format, hashes, verify,
checkpoints and the anchors printed on PDFs mean the same thing as in the embedded store.

The application logs in as a role that may only SELECT and INSERT (the tables belong to
``ims_owner``, and triggers refuse UPDATE, DELETE and TRUNCATE); opening refuses a login
that could change records. docs/postgresql.md has the roles, migrations and backups.

psycopg is imported only here, and this module only when the settings say
``store = "postgresql"``.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow

from consent_records.base import (
    GENESIS_HASH,
    Anchor,
    Checkpoint,
    ConflictingEvent,
    Expect,
    RecordNotFound,
    StoreCorrupt,
    StoredAudit,
    StoreError,
    StoreUnavailable,
    VerifyReport,
)
from consent_records.chain import EntryKind, is_sha256_hex, sha256_hex
from consent_records.model import (
    ConsentRecord,
    RecordEvent,
    RecordSummary,
    StoredEntry,
    StoredEvent,
    StoredRecord,
    normalise_reference,
    status_after,
    summarise,
)
from consent_records.pg.body import BodyProblem, encode_body, read_body
from consent_records.pg.migrations import OWNER_ROLE, check_schema

if TYPE_CHECKING:
    from consent_records.audit import AccountEvent, AuditEvent, AuditPage, AuditQuery
    from consent_records.backends import StoreConfig
    from consent_records.events import AnyEvent
    from consent_records.lifecycle import ConsentRules
    from consent_records.query import Page, RecordQuery

log = logging.getLogger("consent_records.pg")

Conn = psycopg.Connection[TupleRow]
Progress = Callable[[int, int], None]

DEFAULT_CHAIN = "main"
CHAIN_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
STATEMENT_TIMEOUT_MS = 15_000
"""A statement running longer is cancelled (the caller gets StoreUnavailable, nothing
stored); verify and copies lift it for their long reads."""

POOL_TIMEOUT = 5.0
"""Seconds to wait for a connection before telling the caller the database cannot be
reached (the kiosk then asks the patient to fetch the front desk, keeping their answers)."""

RESTORE_HINT = (
    "Stop the kiosks, keep the database as it is for investigation, and compare it with the "
    "latest pg_dump backup and your checkpoints (see docs/postgresql.md)."
)


def _duplicate(exc: pg_errors.UniqueViolation, record: ConsentRecord) -> ValueError:
    constraint = exc.diag.constraint_name or ""
    if "reference" in constraint:
        return ValueError(f"a record with reference {record.reference} is already stored")
    if "entry_id" in constraint or constraint == "records_pkey":
        return ValueError(f"a record with id {record.id} is already stored")
    return ValueError(f"record {record.id} could not be stored: {constraint} already holds it")


def describe_dsn(dsn: str) -> str:
    """Where a DSN points, for messages: never its password."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(an unreadable DSN)"
    host = str(parts.get("host") or "localhost")
    port = parts.get("port")
    name = str(parts.get("dbname") or parts.get("user") or "")
    return f"{name} on {host}{f':{port}' if port else ''}"


def _unavailable(where: str, exc: BaseException, doing: str) -> StoreUnavailable:
    if isinstance(exc, pg_errors.QueryCanceled):
        why = "the database took too long to answer (a statement timeout)"
    elif isinstance(exc, psycopg_pool.PoolTimeout):
        why = "no connection to it could be made in time"
    else:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        why = f"it cannot be reached right now ({detail})"
    return StoreUnavailable(
        f"The PostgreSQL database {where} could not be used while {doing}: {why}. Nothing "
        "was stored and everything stored before is intact. Check that the database server "
        "is running and reachable from this terminal, then try again."
    )


INSERT_ENTRY = (
    "INSERT INTO ims.entries (chain, seq, kind, entry_id, record_id, reference, event_kind,"
    " at, at_day, actor, subject, prev_sha256, sha256, body, status_after, consented_at_after)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def actor_key(model: Any) -> str:
    """Who appended an event or audit entry, as the audit log names them: a staff user
    name, ``<type>:<name>`` for a process, or a version-1 event's actor string."""
    actor = model.actor
    if isinstance(actor, str):
        return actor
    user = getattr(actor, "user", None)
    return user if isinstance(user, str) else f"{actor.type}:{actor.name}"


def entry_columns(kind: EntryKind, model: Any) -> list[Any]:
    """entry_id, record_id, reference, event_kind, at, at_day, actor, subject of an entry."""
    if kind == "record":
        at = model.completed_at
        return [model.id, model.id, model.reference, None, at, at.date(), None, None]
    record_id = getattr(model, "record_id", None)
    subject = None if kind == "event" else getattr(model, "subject", None)
    return [
        model.id,
        record_id,
        None,
        model.kind.value,
        model.at,
        model.at.date(),
        actor_key(model),
        subject,
    ]


class PostgresStore:
    """The :class:`consent_records.base.ConsentStore` on PostgreSQL. Use :func:`open_pg_store`."""

    backend = "postgresql"

    def __init__(
        self,
        dsn: str,
        *,
        chain: str = DEFAULT_CHAIN,
        timeout: float | None = None,
        max_connections: int = 4,
        read_only: bool = False,
        application_name: str = "ims-kiosk",
        statement_timeout_ms: int = STATEMENT_TIMEOUT_MS,
    ) -> None:
        if not CHAIN_PATTERN.match(chain):
            raise ValueError(
                f"the chain name {chain!r} must be lower-case letters, digits, '.', '-' or '_'"
            )
        timeout = POOL_TIMEOUT if timeout is None else timeout
        self._dsn = dsn
        self.where = describe_dsn(dsn)
        self.chain = chain
        self._read_only = read_only
        self._lock_key = f"ims-chain:{chain}"
        conninfo = make_conninfo(
            dsn,
            application_name=application_name,
            # No parallel workers: a clinic's queries are short, and starting workers costs
            # more than they save on a small server.
            options=f"-c statement_timeout={statement_timeout_ms} -c TimeZone=UTC"
            " -c max_parallel_workers_per_gather=0",
            connect_timeout=max(1, int(timeout)),
        )
        self._pool: psycopg_pool.ConnectionPool[Conn] = psycopg_pool.ConnectionPool(
            conninfo,
            min_size=1,
            max_size=max_connections,
            timeout=timeout,
            open=False,
            check=psycopg_pool.ConnectionPool.check_connection,
            name=f"ims-{chain}",
        )
        self._archived: set[str] = set()
        self._closed = False

    # ----------------------------------------------------------------- opening

    @property
    def read_only(self) -> bool:
        return self._read_only

    @property
    def data_dir(self) -> Path:
        """Not a folder: a stable name for this chain, under which ``verify`` keeps its
        high-water mark (``/postgresql/<host>/<database>/<chain>``)."""
        parts = conninfo_to_dict(self._dsn)
        host = str(parts.get("host") or "localhost").replace("/", "_")
        port = str(parts.get("port") or "5432")
        return Path("/postgresql") / f"{host}:{port}" / str(parts.get("dbname") or "") / self.chain

    @property
    def description(self) -> str:
        return f"the PostgreSQL database {self.where} (chain {self.chain})"

    def _open(self, *, allow_privileged: bool) -> None:
        try:
            self._pool.open(wait=True, timeout=self._pool.timeout)
        except psycopg_pool.PoolTimeout as exc:
            cause = exc.__cause__ or exc.__context__ or exc
            raise _unavailable(self.where, cause, "connecting") from None
        with self._connection("checking the database") as conn:
            check_schema(conn, self.where)
            row = conn.execute(
                "SELECT current_user, rolsuper, pg_has_role(current_user, %s, 'MEMBER'),"
                " has_table_privilege('ims.entries', 'UPDATE'),"
                " has_table_privilege('ims.entries', 'INSERT')"
                " FROM pg_roles WHERE rolname = current_user",
                [OWNER_ROLE],
            ).fetchone()
            assert row is not None
            user, superuser, owner, can_update, can_insert = row
            if (superuser or owner or can_update) and not allow_privileged:
                raise StoreUnavailable(
                    f"This terminal logs in to {self.where} as {user}, a role that can change "
                    "or delete records (a superuser, the owner role or one granted UPDATE). "
                    "Set the DSN to the application's role, which may only read and add "
                    "(docs/postgresql.md); nothing was changed."
                )
            if not can_insert:
                self._read_only = True
            if not self._read_only:
                with conn.transaction():
                    conn.execute(
                        "INSERT INTO ims.chains (chain) VALUES (%s) ON CONFLICT DO NOTHING",
                        [self.chain],
                    )
            elif (
                conn.execute("SELECT 1 FROM ims.chains WHERE chain = %s", [self.chain]).fetchone()
                is None
            ):
                raise StoreUnavailable(
                    f"There is no record chain named {self.chain} in {self.where}."
                )

    @contextlib.contextmanager
    def _connection(self, doing: str) -> Iterator[Conn]:
        if self._closed:
            raise StoreError(f"The consent record store {self.description} was closed.")
        try:
            with self._pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            error = _unavailable(self.where, exc, doing)
            log.error("%s", error)
            raise error from None
        except pg_errors.InsufficientPrivilege as exc:
            raise StoreUnavailable(
                f"{self.where} refused {doing}: {str(exc).strip().splitlines()[0]}. The "
                "application's role may only read and add; nothing was changed."
            ) from None

    @contextlib.contextmanager
    def exclusive(self, doing: str = "an admin command") -> Iterator[None]:
        """Hold the chain's append lock across several reads (an admin command that must
        check and act in one step): no terminal can append meanwhile. Only reads inside:
        an append of this process would wait for the lock itself."""
        with self._connection(doing) as conn:
            conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [self._lock_key])
            conn.commit()
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [self._lock_key])
                conn.commit()

    def _writable_or_raise(self, doing: str) -> None:
        if self._read_only:
            raise StoreUnavailable(
                f"The store {self.description} is open for reading only; {doing} is not possible."
            )

    # ----------------------------------------------------------------- writing

    def _lock_chain(self, conn: Conn) -> tuple[int, str]:
        """Take the chain's append lock (until the transaction ends) and read its head, in
        one round trip (``ims.lock_chain``)."""
        row = conn.execute("SELECT * FROM ims.lock_chain(%s)", [self.chain]).fetchone()
        if row is None or row[0] is None:
            return (0, GENESIS_HASH)
        return int(row[0]), str(row[1])

    def _head(self, conn: Conn) -> tuple[int, str]:
        row = conn.execute(
            "SELECT seq, sha256 FROM ims.entries WHERE chain = %s ORDER BY seq DESC LIMIT 1",
            [self.chain],
        ).fetchone()
        return (int(row[0]), str(row[1])) if row else (0, GENESIS_HASH)

    def _insert(
        self,
        conn: Conn,
        head: tuple[int, str],
        kind: EntryKind,
        data: dict[str, Any],
        model: Any,
        *,
        status: tuple[str, Any] | None = None,
    ) -> StoredEntry:
        seq, prev = head[0] + 1, head[1]
        sha, body = encode_body(seq, kind, prev, data)
        conn.execute(
            INSERT_ENTRY,
            [
                self.chain,
                seq,
                kind,
                *entry_columns(kind, model),
                prev,
                sha,
                body,
                *(status or (None, None)),
            ],
        )
        return StoredEntry(seq=seq, sha256=sha, prev_sha256=prev)

    def save_record(self, record: ConsentRecord) -> StoredRecord:
        from consent_records.lifecycle import start
        from consent_records.pg.search import index_row

        doing = f"saving record {record.id}"
        self._writable_or_raise(doing)
        data = record.model_dump(mode="json")
        try:
            with self._connection(doing) as conn, conn.pipeline(), conn.transaction():
                if not self._content_archived(conn, record.content.sha256):
                    raise ValueError(
                        f"the content {record.content.sha256} that record {record.id} was "
                        "signed with is not archived in the store (archive_content first)"
                    )
                head = self._lock_chain(conn)
                lifecycle = start(record)
                # The entry and its index row go in one round trip with the commit; an id
                # or reference already stored is refused by the unique constraints.
                entry = self._insert(conn, head, "record", data, record)
                columns, values = index_row(self.chain, entry.seq, record, lifecycle)
                conn.execute(
                    f"INSERT INTO ims.records ({', '.join(columns)}) VALUES"
                    f" ({', '.join(['%s'] * len(columns))})",
                    values,
                )
        except pg_errors.UniqueViolation as exc:
            error = _duplicate(exc, record)
            log.error("save of record %s failed: %s", record.id, error)
            raise error from None
        except StoreError as exc:
            log.error("save of record %s failed: %s", record.id, exc)
            raise
        log.info("saved record %s as entry %d (%s)", record.id, entry.seq, entry.sha256)
        return StoredRecord(
            record=record,
            entry=entry,
            events=[],
            chain_head=entry.sha256,
            chain_length=entry.seq,
        )

    def append_event(self, event: AnyEvent, *, expect: Expect | None = None) -> StoredEvent:
        from consent_records.base import check_expect
        from consent_records.lifecycle import check

        doing = f"saving event {event.id} of record {event.record_id}"
        self._writable_or_raise(doing)
        data = event.model_dump(mode="json")
        try:
            with self._connection(doing) as conn, conn.transaction():
                head = self._lock_chain(conn)
                stored = self._load_record(conn, "entry_id", event.record_id, head)
                if stored is None:
                    raise RecordNotFound(f"No consent record has the id {event.record_id}.")
                if conn.execute(
                    "SELECT 1 FROM ims.entries WHERE chain = %s AND entry_id = %s",
                    [self.chain, event.id],
                ).fetchone():
                    raise ValueError(f"an entry with id {event.id} is already stored")
                # Checked in the append's own transaction, under the chain's lock: two
                # terminals can never both act on what they saw.
                if expect is not None:
                    check_expect(stored, expect)
                if not isinstance(event, RecordEvent):
                    check(stored.lifecycle, event)
                entry = self._insert_event(conn, head, stored, event, data)
        except StoreError as exc:
            log.error("save of event %s (record %s) failed: %s", event.id, event.record_id, exc)
            raise
        log.info("saved event %s of record %s as entry %d", event.id, event.record_id, entry.seq)
        return StoredEvent(event=event, entry=entry)

    def append_audit(
        self,
        *events: AuditEvent,
        expect: Expect | None = None,
        credential: str | None = None,
    ) -> list[StoredAudit]:
        from consent_records.audit import PasswordSet, audit_subject

        if not events:
            return []
        password_sets = [e for e in events if isinstance(e, PasswordSet)]
        if credential is not None and (
            len(password_sets) != 1
            or password_sets[0].credential_sha256 != sha256_hex(credential.encode("utf-8"))
        ):
            raise ValueError(
                "a credential is stored with exactly one PasswordSet that commits to it"
            )
        subjects = {audit_subject(e) for e in events}
        if expect is not None and (len(subjects) != 1 or None in subjects):
            raise ValueError("an expectation applies to the events of one account")
        doing = f"saving {len(events)} audit entr{'y' if len(events) == 1 else 'ies'}"
        self._writable_or_raise(doing)
        stored: list[StoredAudit] = []
        try:
            with self._connection(doing) as conn, conn.transaction():
                head = self._lock_chain(conn)
                self._check_audit(conn, events, expect)
                for event in events:
                    entry = self._insert(conn, head, "audit", event.model_dump(mode="json"), event)
                    head = (entry.seq, entry.sha256)
                    stored.append(StoredAudit(event=event, entry=entry))
                    if credential is not None and isinstance(event, PasswordSet):
                        conn.execute(
                            "INSERT INTO ims.credentials (chain, user_name, n, phc, entry_seq)"
                            " SELECT %s, %s, coalesce(max(n), 0) + 1, %s, %s"
                            " FROM ims.credentials WHERE chain = %s AND user_name = %s",
                            [self.chain, event.subject, credential, entry.seq, self.chain,
                             event.subject],
                        )  # fmt: skip
        except StoreError as exc:
            log.error("%s failed: %s", doing, exc)
            raise
        for item in stored:
            log.info("saved audit %s as entry %d", item.event.kind.value, item.entry.seq)
        return stored

    def _check_audit(self, conn: Conn, events: Sequence[AuditEvent], expect: Expect | None) -> None:
        """In the append's transaction: every id new, every account named exists (or is
        being created), every record named exists, and ``expect`` holds."""
        from consent_records.audit import AuditKind, audit_record_id, audit_subject
        from consent_records.base import account_conflict

        ids = [e.id for e in events]
        taken = conn.execute(
            "SELECT entry_id FROM ims.entries WHERE chain = %s AND entry_id = ANY(%s) LIMIT 1",
            [self.chain, ids],
        ).fetchone()
        if taken is not None:
            raise ValueError(f"an entry with id {taken[0]} is already stored")
        subjects = sorted({s for e in events if (s := audit_subject(e)) is not None})
        existing = {
            str(row[0])
            for row in conn.execute(
                "SELECT DISTINCT subject FROM ims.entries WHERE chain = %s AND kind = 'audit'"
                " AND subject = ANY(%s) AND event_kind = 'account_created'",
                [self.chain, subjects],
            ).fetchall()
        }
        for event in events:
            record_id = audit_record_id(event)
            if (
                record_id is not None
                and not conn.execute(
                    "SELECT 1 FROM ims.entries WHERE chain = %s AND entry_id = %s"
                    " AND kind = 'record'",
                    [self.chain, record_id],
                ).fetchone()
            ):
                raise RecordNotFound(f"No consent record has the id {record_id}.")
            subject = audit_subject(event)
            if subject is None:
                continue
            if event.kind is AuditKind.ACCOUNT_CREATED:
                if subject in existing:
                    raise ConflictingEvent(
                        f"There is already an account named {subject} (accounts are never "
                        "deleted, so a name is never reused). Choose another user name.",
                        subject=subject,
                    )
                existing.add(subject)
            elif subject not in existing:
                raise ConflictingEvent(f"There is no account named {subject}.", subject=subject)
        if expect is not None and expect.last_event_id is not None:
            subject = audit_subject(events[0])
            assert subject is not None
            history = self._account_rows(conn, subject)
            last = history[-1].event.id if history else None
            if last != expect.last_event_id:
                seen = next(
                    (i for i, s in enumerate(history) if s.event.id == expect.last_event_id),
                    None,
                )
                newer = history[seen + 1 :] if seen is not None else history[-1:]
                raise account_conflict(subject, newer)

    def _account_rows(self, conn: Conn, subject: str | None) -> list[StoredAudit]:
        """Account and sign-in events (one account's, or all), in chain order."""
        from consent_records.audit import ACCOUNT_KINDS, parse_audit

        kinds = sorted(kind.value for kind in ACCOUNT_KINDS)
        if subject is None:
            sql = (
                "SELECT seq, prev_sha256, sha256, body FROM ims.entries WHERE chain = %s"
                " AND kind = 'audit' AND subject IS NOT NULL AND event_kind = ANY(%s)"
                " ORDER BY seq"
            )
            params: list[Any] = [self.chain, kinds]
        else:
            sql = (
                "SELECT seq, prev_sha256, sha256, body FROM ims.entries WHERE chain = %s"
                " AND kind = 'audit' AND subject = %s AND event_kind = ANY(%s) ORDER BY seq"
            )
            params = [self.chain, subject, kinds]
        found = []
        for seq, prev, sha, blob in conn.execute(sql, params).fetchall():
            data = self._checked_data(seq, bytes(blob), sha)
            try:
                event = parse_audit(data)
            except ValueError:
                raise self._entry_problem(
                    seq, "is not a valid audit entry (wrong schema)"
                ) from None
            found.append(
                StoredAudit(event=event, entry=StoredEntry(seq=seq, sha256=sha, prev_sha256=prev))
            )
        return found

    def _checked_data(self, seq: int, blob: bytes, sha: str) -> dict[str, Any]:
        try:
            return read_body(blob, sha).data()
        except BodyProblem as exc:
            raise self._entry_problem(seq, str(exc)) from None
        except ValueError:
            raise self._entry_problem(seq, "holds data that is not valid JSON") from None

    def credential(self, user_name: str) -> str | None:
        with self._connection("reading staff credentials") as conn:
            row = conn.execute(
                "SELECT phc FROM ims.credentials WHERE chain = %s AND user_name = %s"
                " ORDER BY n DESC LIMIT 1",
                [self.chain, user_name],
            ).fetchone()
        return str(row[0]) if row else None

    def account_events(self, user_name: str | None = None) -> list[AccountEvent]:
        with self._connection("reading staff accounts") as conn:
            rows = self._account_rows(conn, user_name)
        return [row.event for row in rows]  # type: ignore[misc]

    def audit(self, query: AuditQuery) -> AuditPage:
        """One page of the audit log in SQL (``audit.evaluate_audit`` is the specification)."""
        from consent_records.audit import AuditPage, audit_item, parse_audit
        from consent_records.events import parse_event

        where = ["chain = %(chain)s", "kind <> 'record'"]
        params: dict[str, Any] = {"chain": self.chain}
        if not query.include_record_events:
            where.append("kind = 'audit'")
        if query.person is not None:
            where.append("(actor = %(person)s OR subject = %(person)s)")
            params["person"] = query.person
        if query.record_id is not None:
            where.append("record_id = %(record_id)s")
            params["record_id"] = query.record_id
        if query.kinds:
            where.append("event_kind = ANY(%(kinds)s)")
            params["kinds"] = sorted(query.kinds)
        if query.date_from is not None:
            where.append("at_day >= %(day_from)s")
            params["day_from"] = query.date_from
        if query.date_to is not None:
            where.append("at_day <= %(day_to)s")
            params["day_to"] = query.date_to
        params["limit"], params["offset"] = query.limit, query.offset
        condition = " AND ".join(where)
        with self._connection("reading the audit log") as conn:
            total_row = conn.execute(
                f"SELECT count(*) FROM ims.entries WHERE {condition}", params
            ).fetchone()
            rows = conn.execute(
                f"SELECT seq, kind, sha256, body FROM ims.entries WHERE {condition}"
                " ORDER BY seq DESC LIMIT %(limit)s OFFSET %(offset)s",
                params,
            ).fetchall()
        items = []
        for seq, kind, sha, blob in rows:
            data = self._checked_data(seq, bytes(blob), sha)
            try:
                model: Any = parse_audit(data) if kind == "audit" else parse_event(data)
            except ValueError:
                raise self._entry_problem(seq, f"is not a valid {kind} (wrong schema)") from None
            items.append(audit_item(seq, sha, model))
        assert total_row is not None
        return AuditPage(
            items=tuple(items), total=int(total_row[0]), offset=query.offset, limit=query.limit
        )

    def audit_count(self) -> int:
        with self._connection("counting audit entries") as conn:
            row = conn.execute(
                "SELECT count(*) FROM ims.entries WHERE chain = %s AND kind = 'audit'",
                [self.chain],
            ).fetchone()
        return int(row[0]) if row else 0

    def _insert_event(
        self,
        conn: Conn,
        head: tuple[int, str],
        stored: StoredRecord,
        event: Any,
        data: dict[str, Any],
    ) -> StoredEntry:
        from consent_records.lifecycle import fold

        after = fold(stored.record, [*(e.event for e in stored.events), event])
        return self._insert(
            conn, head, "event", data, event, status=(after.status.value, after.consented_at)
        )

    def _content_archived(self, conn: Conn, sha256: str) -> bool:
        if sha256 in self._archived:
            return True
        if conn.execute("SELECT 1 FROM ims.content WHERE sha256 = %s", [sha256]).fetchone():
            self._archived.add(sha256)
            return True
        return False

    def archive_content(self, sha256: str, canonical_json: bytes) -> None:
        if sha256_hex(canonical_json) != sha256:
            raise ValueError("the content does not match the SHA-256 it is archived under")
        if sha256 in self._archived:
            return
        doing = f"archiving content {sha256}"
        with self._connection(doing) as conn, conn.transaction():
            row = conn.execute(
                "SELECT body FROM ims.content WHERE sha256 = %s", [sha256]
            ).fetchone()
            if row is None:
                self._writable_or_raise(doing)
                conn.execute(
                    "INSERT INTO ims.content (sha256, body) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                    [sha256, canonical_json],
                )
            elif bytes(row[0]) != canonical_json:
                raise StoreCorrupt(
                    f"The archived content {sha256} in {self.where} does not match its SHA-256 "
                    f"(changed). {RESTORE_HINT}"
                )
        self._archived.add(sha256)

    def archived_content(self, sha256: str) -> bytes | None:
        if not is_sha256_hex(sha256):
            return None
        with self._connection(f"reading content {sha256}") as conn:
            row = conn.execute(
                "SELECT body FROM ims.content WHERE sha256 = %s", [sha256]
            ).fetchone()
        if row is None:
            return None
        blob = bytes(row[0])
        if sha256_hex(blob) != sha256:
            raise StoreCorrupt(
                f"The archived content {sha256} in {self.where} does not match its SHA-256 "
                f"(changed). {RESTORE_HINT}"
            )
        return blob

    def probe_writable(self) -> None:
        """Prove that a save could be made now: the database answers, the schema is ours,
        and this login may add entries (nothing is written)."""
        doing = "checking that records can be saved"
        self._writable_or_raise(doing)
        with self._connection(doing) as conn:
            row = conn.execute(
                "SELECT has_table_privilege('ims.entries', 'INSERT'),"
                " has_table_privilege('ims.records', 'INSERT'), pg_is_in_recovery()"
            ).fetchone()
        if row is None or not (row[0] and row[1]):
            raise StoreUnavailable(
                f"This terminal's login may not add records to {self.where}. Grant it the "
                "ims_writer role (docs/postgresql.md)."
            )
        if row[2]:
            raise StoreUnavailable(
                f"{self.where} is a read-only standby; point the DSN at the primary server."
            )

    # ----------------------------------------------------------------- reading

    def _entry_problem(self, seq: int, what: str) -> StoreCorrupt:
        return StoreCorrupt(
            f"Entry {seq} of chain {self.chain} in {self.where} {what}. {RESTORE_HINT}"
        )

    def _load_record(
        self, conn: Conn, column: str, value: str, head: tuple[int, str] | None = None
    ) -> StoredRecord | None:
        """A record and its events, each hash checked, with the chain head (one snapshot)."""
        from consent_records.events import parse_event

        assert column in ("entry_id", "reference")
        if column == "entry_id":
            where_sql = "e.record_id = %s"
        else:
            where_sql = (
                "e.record_id = (SELECT record_id FROM ims.entries"
                " WHERE chain = %s AND reference = %s)"
            )
        params: list[Any] = [self.chain]
        if column == "reference":
            params.append(self.chain)
        params.append(value)
        rows = conn.execute(
            "SELECT e.seq, e.kind, e.prev_sha256, e.sha256, e.body,"
            " h.seq, h.sha256 FROM ims.entries e,"
            " LATERAL (SELECT seq, sha256 FROM ims.entries WHERE chain = e.chain"
            "  ORDER BY seq DESC LIMIT 1) h"
            f" WHERE e.chain = %s AND {where_sql} AND e.kind <> 'audit' ORDER BY e.seq",
            params,
        ).fetchall()
        if not rows or rows[0][1] != "record":
            return None
        record: ConsentRecord | None = None
        events: list[StoredEvent] = []
        for seq, kind, prev, sha, blob, _, _ in rows:
            try:
                body = read_body(bytes(blob), sha)
                if body.seq != seq or body.prev_sha256 != prev or body.kind != kind:
                    raise BodyProblem("does not match the columns that find it (changed)")
                data = body.data()
                entry = StoredEntry(seq=seq, sha256=sha, prev_sha256=prev)
                if kind == "record":
                    record = ConsentRecord.model_validate(data)
                else:
                    events.append(StoredEvent(event=parse_event(data), entry=entry))
            except BodyProblem as exc:
                raise self._entry_problem(seq, str(exc)) from None
            except ValueError:
                raise self._entry_problem(seq, "is not a valid entry (wrong schema)") from None
        assert record is not None
        first = rows[0]
        chain_head = head if head is not None else (int(first[5]), str(first[6]))
        return StoredRecord(
            record=record,
            entry=StoredEntry(seq=first[0], sha256=first[3], prev_sha256=first[2]),
            events=events,
            chain_head=chain_head[1],
            chain_length=chain_head[0],
        )

    def get(self, record_id: str) -> StoredRecord:
        with self._connection("reading a record") as conn:
            stored = self._load_record(conn, "entry_id", record_id)
        if stored is None:
            raise RecordNotFound(f"No consent record has the id {record_id}.")
        return stored

    def find_reference(self, reference: str) -> StoredRecord:
        wanted = normalise_reference(reference)
        with self._connection("finding a record") as conn:
            stored = self._load_record(conn, "reference", wanted)
        if stored is None:
            raise RecordNotFound(f"No consent record has the reference {wanted}.")
        return stored

    def reference_exists(self, reference: str) -> bool:
        with self._connection("looking up a reference") as conn:
            return (
                conn.execute(
                    "SELECT 1 FROM ims.entries WHERE chain = %s AND reference = %s",
                    [self.chain, normalise_reference(reference)],
                ).fetchone()
                is not None
            )

    def recent(self, limit: int = 50) -> list[RecordSummary]:
        if limit <= 0:
            return []
        with self._connection("listing records") as conn:
            rows = conn.execute(
                "SELECT e.seq, e.sha256, e.body,"
                " ARRAY(SELECT v.event_kind FROM ims.entries v WHERE v.chain = r.chain"
                "  AND v.record_id = r.record_id AND v.kind = 'event' ORDER BY v.seq)"
                " FROM (SELECT chain, record_id, seq, completed_at FROM ims.records"
                "  WHERE chain = %s ORDER BY completed_at DESC, record_id LIMIT %s) r"
                " JOIN ims.entries e ON e.chain = r.chain AND e.seq = r.seq"
                " ORDER BY r.completed_at DESC, r.record_id",
                [self.chain, limit],
            ).fetchall()
        summaries = []
        for seq, sha, blob, kinds in rows:
            try:
                record = ConsentRecord.model_validate(read_body(bytes(blob), sha).data())
            except BodyProblem as exc:
                raise self._entry_problem(seq, str(exc)) from None
            except ValueError:
                raise self._entry_problem(seq, "is not a valid record (wrong schema)") from None
            status = status_after(record.status, kinds)
            summaries.append(summarise(record).model_copy(update={"status": status}))
        return summaries

    def search(
        self,
        query: RecordQuery,
        rules: ConsentRules | None = None,
        *,
        progress: Progress | None = None,
    ) -> Page:
        """One page of the records browser, answered in SQL with indexes
        (:mod:`consent_records.pg.search`); the same page as ``query.evaluate``."""
        from consent_records.lifecycle import ConsentRules
        from consent_records.pg.search import search

        with self._connection("searching records") as conn:
            page = search(conn, self.chain, query, rules or ConsentRules())
        if progress is not None:
            progress(1, 1)
        return page

    def count(self) -> tuple[int, int]:
        """(records, record events); audit entries are counted by :meth:`audit_count`."""
        with self._connection("counting records") as conn:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE kind = 'record'),"
                " count(*) FILTER (WHERE kind = 'event') FROM ims.entries WHERE chain = %s",
                [self.chain],
            ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def chain_head(self) -> str:
        with self._connection("reading the chain head") as conn:
            return self._head(conn)[1]

    def chain_length(self) -> int:
        with self._connection("reading the chain head") as conn:
            return self._head(conn)[0]

    # ----------------------------------------------------------------- integrity

    def check_integrity(self, progress: Progress | None = None) -> None:
        """The start-up check: the newest entries hash to their stored SHA-256 and link up
        (the database checks every hash and link as it inserts; ``verify`` walks it all)."""
        with self._connection("checking the store") as conn:
            rows = conn.execute(
                "SELECT seq, kind, prev_sha256, sha256, body FROM ims.entries WHERE chain = %s"
                " ORDER BY seq DESC LIMIT 50",
                [self.chain],
            ).fetchall()
        after: str | None = None
        for seq, kind, prev, sha, blob in rows:
            try:
                body = read_body(bytes(blob), sha)
            except BodyProblem as exc:
                raise self._entry_problem(seq, str(exc)) from None
            if body.seq != seq or body.prev_sha256 != prev or body.kind != kind:
                raise self._entry_problem(seq, "does not match the columns that find it")
            if after is not None and after != sha:
                raise self._entry_problem(seq + 1, "does not follow the entry before it")
            after = prev
        if progress is not None:
            progress(1, 1)

    def verify(
        self,
        *,
        expect: Sequence[Anchor | Checkpoint] = (),
        progress: Progress | None = None,
    ) -> VerifyReport:
        from consent_records.pg.verify import verify_chain

        return verify_chain(self, expect=expect, progress=progress)

    @contextlib.contextmanager
    def snapshot(self, doing: str) -> Iterator[Conn]:
        """A read-only, repeatable-read transaction without the statement timeout: one
        consistent state for verify and copies, while saves go on."""
        with self._connection(doing) as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            conn.execute("SET LOCAL statement_timeout = 0")
            yield conn

    def checkpoints(self) -> list[Checkpoint]:
        from consent_records.store.checkpoints import parse_checkpoints

        with self._connection("reading checkpoints") as conn:
            rows = conn.execute(
                "SELECT line FROM ims.checkpoints WHERE chain = %s ORDER BY n", [self.chain]
            ).fetchall()
        return parse_checkpoints(b"".join(bytes(r[0]) for r in rows), f"{self.where} checkpoints")

    def last_checkpoint(self) -> Checkpoint | None:
        found = self.checkpoints()
        return found[-1] if found else None

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        from consent_records.store.checkpoints import checkpoint_line

        doing = "storing a checkpoint"
        self._writable_or_raise(doing)
        with self._connection(doing) as conn, conn.transaction():
            length, _ = self._lock_chain(conn)
            if checkpoint.seq > length:
                raise ValueError("the checkpoint is beyond the chain's head")
            if checkpoint.seq:
                row = conn.execute(
                    "SELECT sha256 FROM ims.entries WHERE chain = %s AND seq = %s",
                    [self.chain, checkpoint.seq],
                ).fetchone()
                if row is None or row[0] != checkpoint.head:
                    raise ValueError("the checkpoint does not match the chain")
            conn.execute(
                "INSERT INTO ims.checkpoints (chain, n, line) SELECT %s, coalesce(max(n), 0) + 1,"
                " %s FROM ims.checkpoints WHERE chain = %s",
                [self.chain, checkpoint_line(checkpoint), self.chain],
            )
        log.info("stored checkpoint at entry %d (%s)", checkpoint.seq, checkpoint.head)

    def public_key(self) -> bytes | None:
        """The chain's checkpoint public key (the newest added), as its JSON file's bytes."""
        with self._connection("reading the checkpoint key") as conn:
            row = conn.execute(
                "SELECT public_key FROM ims.checkpoint_keys WHERE chain = %s ORDER BY n DESC"
                " LIMIT 1",
                [self.chain],
            ).fetchone()
        return bytes(row[0]) if row else None

    def keep_public_key(self, fingerprint: str, public_key: bytes) -> None:
        """Keep the checkpoint key's public half with the chain, once (``checkpoint``):
        every terminal's verify then checks the checkpoints. A chain already checkpointed
        with another key is refused (StoreError)."""
        stored = self.public_key()
        if stored is None:
            self.add_public_key(fingerprint, public_key)
            return
        from consent_records.keys import PublicKey, public_raw_of
        from consent_records.store.layout import decode_json

        doc = decode_json(stored)
        current = (
            PublicKey(raw=public_raw_of(doc, Path("db")), path=Path("db"))
            if isinstance(doc, dict)
            else None
        )
        if current is None or current.fingerprint != fingerprint:
            raise StoreError(
                f"The chain {self.chain} in {self.where} is checkpointed with another key "
                f"({current.fingerprint if current else 'unreadable'}); this key "
                f"({fingerprint}) is not it. Nothing was signed."
            )

    def add_public_key(self, fingerprint: str, public_key: bytes) -> None:
        """Keep the clinic's checkpoint public key with the chain (``keys init``)."""
        doing = "storing the checkpoint key"
        self._writable_or_raise(doing)
        with self._connection(doing) as conn, conn.transaction():
            self._lock_chain(conn)
            conn.execute(
                "INSERT INTO ims.checkpoint_keys (chain, n, fingerprint, public_key)"
                " SELECT %s, coalesce(max(n), 0) + 1, %s, %s FROM ims.checkpoint_keys"
                " WHERE chain = %s",
                [self.chain, fingerprint, public_key, self.chain],
            )

    def backup(self, out_dir: Path, *, progress: Progress | None = None) -> VerifyReport:
        """Write the chain as an embedded store in ``out_dir`` (new or empty) and verify it
        (for a database, pg_dump is the usual backup: docs/postgresql.md)."""
        from consent_records.pg.copy import copy_to_embedded

        return copy_to_embedded(self, Path(out_dir), progress=progress)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_pg_store(
    dsn: str,
    *,
    chain: str = DEFAULT_CHAIN,
    timeout: float | None = None,
    read_only: bool = False,
    allow_privileged: bool = False,
    full_check: bool = False,
    max_connections: int = 4,
    statement_timeout_ms: int = STATEMENT_TIMEOUT_MS,
) -> PostgresStore:
    """Connect to the database, check its schema version and the login's rights, and
    register the chain (unless ``read_only``).

    ``allow_privileged`` lets an administrator's tools (verify, copy, backup) read as a
    role that could change records; the application never runs so.

    Raises:
        StoreUnavailable: the database cannot be reached, has no or another schema version
            (naming the command to run), or the login may change records.
    """
    store = PostgresStore(
        dsn,
        chain=chain,
        timeout=timeout,
        read_only=read_only,
        max_connections=max_connections,
        statement_timeout_ms=statement_timeout_ms,
    )
    try:
        store._open(allow_privileged=allow_privileged or read_only)
        if full_check:
            store.check_integrity()
    except BaseException:
        store.close()
        raise
    return store


def open_backend(config: StoreConfig, *, read_only: bool, full_check: bool) -> PostgresStore:
    """The ``postgresql`` backend of :func:`consent_records.backends.open_store` (registered
    as an entry point): ``config.url`` is the DSN, ``config.chain`` the clinic's chain."""
    if not config.url:
        raise StoreUnavailable(
            'The settings say store = "postgresql" but name no database: set dsn in the '
            "settings file or IMS_KIOSK_DSN (docs/postgresql.md)."
        )
    return open_pg_store(
        config.url,
        chain=config.chain,
        timeout=min(config.lock_timeout, POOL_TIMEOUT),
        read_only=read_only,
        full_check=full_check,
    )


__all__ = ["DEFAULT_CHAIN", "PostgresStore", "describe_dsn", "open_backend", "open_pg_store"]


if TYPE_CHECKING:
    from consent_records.base import ConsentStore

    def _is_a_consent_store(store: PostgresStore) -> ConsentStore:
        """mypy checks here that PostgresStore implements the whole store interface."""
        return store
