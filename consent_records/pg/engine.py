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
    RecordNotFound,
    StoreCorrupt,
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

RESTORE_HINT = (
    "Stop the kiosks, keep the database as it is for investigation, and compare it with the "
    "latest pg_dump backup and your checkpoints (see docs/postgresql.md)."
)


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
        timeout: float = 10.0,
        max_connections: int = 4,
        read_only: bool = False,
        application_name: str = "ims-kiosk",
        statement_timeout_ms: int = STATEMENT_TIMEOUT_MS,
    ) -> None:
        if not CHAIN_PATTERN.match(chain):
            raise ValueError(
                f"the chain name {chain!r} must be lower-case letters, digits, '.', '-' or '_'"
            )
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
        """Take the chain's append lock (until the transaction ends); the head."""
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [self._lock_key])
        return self._head(conn)

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
            with self._connection(doing) as conn, conn.transaction():
                head = self._lock_chain(conn)
                found = conn.execute(
                    "SELECT entry_id, reference FROM ims.entries WHERE chain = %s AND"
                    " (entry_id = %s OR reference = %s) LIMIT 1",
                    [self.chain, record.id, record.reference],
                ).fetchone()
                if found is not None:
                    what = "id" if found[0] == record.id else "reference"
                    value = record.id if what == "id" else record.reference
                    raise ValueError(f"a record with {what} {value} is already stored")
                if not self._content_archived(conn, record.content.sha256):
                    raise ValueError(
                        f"the content {record.content.sha256} that record {record.id} was "
                        "signed with is not archived in the store (archive_content first)"
                    )
                lifecycle = start(record)
                entry = self._insert(conn, head, "record", data, record)
                columns, values = index_row(self.chain, entry.seq, record, lifecycle)
                conn.execute(
                    f"INSERT INTO ims.records ({', '.join(columns)}) VALUES"
                    f" ({', '.join(['%s'] * len(columns))})",
                    values,
                )
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

    def append_event(self, event: RecordEvent) -> StoredEvent:
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
                entry = self._insert_event(conn, head, stored, event, data)
        except StoreError as exc:
            log.error("save of event %s (record %s) failed: %s", event.id, event.record_id, exc)
            raise
        log.info("saved event %s of record %s as entry %d", event.id, event.record_id, entry.seq)
        # (Already validated models: constructed as they are, v1 or v2 events alike.)
        return StoredEvent.model_construct(event=event, entry=entry)

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
            f" WHERE e.chain = %s AND {where_sql} ORDER BY e.seq",
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
                    parsed: Any = parse_event(data)
                    events.append(StoredEvent.model_construct(event=parsed, entry=entry))
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
        with self._connection("counting records") as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM ims.records WHERE chain = %s),"
                " coalesce((SELECT max(seq) FROM ims.entries WHERE chain = %s), 0)",
                [self.chain, self.chain],
            ).fetchone()
        assert row is not None
        records, length = int(row[0]), int(row[1])
        return records, length - records

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
    timeout: float = 10.0,
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


__all__ = ["DEFAULT_CHAIN", "PostgresStore", "describe_dsn", "open_pg_store"]
