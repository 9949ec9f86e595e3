"""``ims-kiosk store copy``: move a clinic's chain between the embedded store and PostgreSQL.

Both directions copy the exact bytes that were hashed, entry by entry, so the chain keeps
its hashes: the anchors printed on PDFs, written-down checkpoint lines and ``verify
--expect`` still hold after the move. The source is verified first, the target must be
empty (a chain never gets a second beginning), and the copy is verified afterwards and
compared with the source's head. Into PostgreSQL everything goes in one transaction: a
failed copy leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from consent_records.base import StoreError, StoreUnavailable, VerifyReport
from consent_records.model import ConsentRecord
from consent_records.pg.body import document_of, encode_body

if TYPE_CHECKING:
    from consent_records.lifecycle import Lifecycle
    from consent_records.pg.engine import PostgresStore
    from consent_records.store.engine import TinyDBStore

Progress = Callable[[int, int], None]
BATCH = 500


class CopyRefused(StoreError):
    """The copy was not started (nothing was written); the message says why."""


def _model(kind: str, data: dict[str, Any]) -> Any:
    from consent_records.events import parse_event

    if kind == "record":
        return ConsentRecord.model_validate(data)
    if kind == "event":
        return parse_event(data)
    from consent_records.audit import parse_audit

    return parse_audit(data)


def copy_to_postgres(
    source: TinyDBStore, target: PostgresStore, *, progress: Progress | None = None
) -> VerifyReport:
    """Copy the embedded store ``source`` into the empty chain of ``target``; verify both."""
    from consent_records.lifecycle import TransitionRefused, apply, start
    from consent_records.pg.engine import INSERT_ENTRY, entry_columns
    from consent_records.pg.search import index_row
    from consent_records.store.entries import EntryProblem, read_entry_bytes, split_entry
    from consent_records.store.layout import (
        MAX_CONTENT_BYTES,
        content_path,
        entry_path,
        read_file,
    )

    report = source.verify(progress=progress)
    if not report.ok:
        raise CopyRefused(
            f"The store in {source.data_dir} does not verify, so it was not copied: "
            f"{report.problem}"
        )
    if target.chain_length():
        raise CopyRefused(
            f"The chain {target.chain} in {target.where} already holds entries; a copy goes "
            "only into an empty chain. Nothing was copied."
        )
    root = source.data_dir
    length = report.chain_length
    states: dict[str, Lifecycle] = {}
    content: set[str] = set()
    password_seq: dict[str, int] = {}
    """Account -> the entry of its newest PasswordSet (its credential's commitment)."""
    with target._connection("copying the chain") as conn, conn.transaction():
        conn.execute("SET LOCAL statement_timeout = 0")
        head = target._lock_chain(conn)
        if head[0]:
            raise CopyRefused(
                f"The chain {target.chain} in {target.where} already holds entries; nothing "
                "was copied."
            )
        batch: list[list[Any]] = []
        records: list[list[Any]] = []
        prev = head[1]
        for seq in range(1, length + 1):
            path = entry_path(root, seq)
            try:
                raw = split_entry(read_entry_bytes(path, seq), path, seq)
                data = raw.data()
            except (EntryProblem, OSError, ValueError) as exc:
                raise CopyRefused(f"{path} could not be read for the copy: {exc}") from None
            kind = raw.kind
            sha, body = encode_body(seq, kind, prev, data)
            if sha != raw.sha256:
                raise CopyRefused(f"{path} has no canonical form with the same hash")
            model = _model(kind, data)
            status: tuple[Any, Any] = (None, None)
            if kind == "record":
                state = states[model.id] = start(model)
                content.add(model.content.sha256)
                records.append(index_row(target.chain, seq, model, state)[1])
            elif kind == "event":
                state = states[model.record_id]
                with contextlib.suppress(TransitionRefused):
                    state = apply(state, model)
                states[model.record_id] = state
                status = (state.status.value, state.consented_at)
            elif getattr(model, "kind", None) == "password_set":
                password_seq[model.subject] = seq
            batch.append(
                [target.chain, seq, kind, *entry_columns(kind, model), prev, sha, body, *status]
            )
            prev = sha
            if len(batch) >= BATCH or seq == length:
                _flush(conn, batch, records, INSERT_ENTRY)
                if progress is not None:
                    progress(seq, length)
        for sha in sorted(content):
            blob = read_file(content_path(root, sha), MAX_CONTENT_BYTES)
            conn.execute(
                "INSERT INTO ims.content (sha256, body) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                [sha, blob],
            )
        for checkpoint in source.checkpoints():
            from consent_records.store.checkpoints import checkpoint_line

            conn.execute(
                "INSERT INTO ims.checkpoints (chain, n, line) SELECT %s,"
                " coalesce(max(n), 0) + 1, %s FROM ims.checkpoints WHERE chain = %s",
                [target.chain, checkpoint_line(checkpoint), target.chain],
            )
        from consent_records.store.credentials import read_credentials

        for user, phc in sorted(read_credentials(root).items()):
            if user not in password_seq:
                raise CopyRefused(
                    f"The stored password of account {user} has no PasswordSet entry in the "
                    "chain; nothing was copied (run `ims-kiosk verify` on the source)."
                )
            conn.execute(
                "INSERT INTO ims.credentials (chain, user_name, n, phc, entry_seq)"
                " VALUES (%s, %s, 1, %s, %s)",
                [target.chain, user, phc, password_seq[user]],
            )
        public = _embedded_public_key(root)
        if public is not None:
            conn.execute(
                "INSERT INTO ims.checkpoint_keys (chain, n, fingerprint, public_key)"
                " VALUES (%s, 1, %s, %s)",
                [target.chain, public[0], public[1]],
            )
    copied = target.verify(progress=progress)
    _same(report, copied, f"the copy in {target.where}")
    return copied


def _flush(conn: Any, batch: list[list[Any]], records: list[list[Any]], insert: str) -> None:
    from consent_records.pg.search import INDEX_COLUMNS

    with conn.cursor() as cursor:
        # Entries first (a record's index row refers to its entry), in chain order.
        pending = list(records)
        records.clear()
        if batch:
            cursor.executemany(insert, batch)
            batch.clear()
        if pending:
            cursor.executemany(
                f"INSERT INTO ims.records ({', '.join(INDEX_COLUMNS)}) VALUES"
                f" ({', '.join(['%s'] * len(INDEX_COLUMNS))})",
                pending,
            )


def _embedded_public_key(root: Path) -> tuple[str, bytes] | None:
    from consent_records.keys import KeyProblem, PublicKey, public_raw_of
    from consent_records.store.layout import KEYS_DIR, decode_json, read_file

    path = root / KEYS_DIR / "checkpoint-key.pub"
    try:
        blob = read_file(path, 65536)
    except FileNotFoundError:
        return None
    try:
        doc = decode_json(blob)
        if not isinstance(doc, dict):
            raise ValueError
        key = PublicKey(raw=public_raw_of(doc, path), path=path)
    except (ValueError, KeyProblem):
        raise CopyRefused(f"The checkpoint key {path} is damaged; nothing was copied.") from None
    return key.fingerprint, blob


def _same(source: VerifyReport, copy: VerifyReport, where: str) -> None:
    if not copy.ok:
        raise StoreUnavailable(f"The copy was written but {where} does not verify: {copy.problem}")
    if (copy.chain_length, copy.chain_head) != (source.chain_length, source.chain_head):
        raise StoreUnavailable(
            f"The copy was written but {where} ends at entry {copy.chain_length} "
            f"({copy.chain_head}) instead of {source.chain_length} ({source.chain_head})."
        )


def copy_to_embedded(
    source: PostgresStore, out: Path, *, progress: Progress | None = None
) -> VerifyReport:
    """Write ``source``'s chain as an embedded store in ``out`` (new or empty); verify it."""
    from consent_records.store.backup import check_backup_target
    from consent_records.store.engine import open_store
    from consent_records.store.entries import entry_file_bytes
    from consent_records.store.layout import (
        CHECKPOINTS_NAME,
        CONTENT_DIR,
        ENTRIES_DIR,
        KEYS_DIR,
        MARKER_BYTES,
        MARKER_NAME,
        FileRefused,
        content_path,
        entry_path,
        make_dir,
        write_new_private,
    )
    from consent_records.store.reindex import rebuild_index

    report = source.verify(progress=progress)
    if not report.ok:
        raise CopyRefused(
            f"The chain {source.chain} in {source.where} does not verify, so it was not "
            f"copied: {report.problem}"
        )
    check_backup_target(Path(os.path.abspath(out)) / ".never-inside", out)
    length = report.chain_length
    try:
        make_dir(out)
        make_dir(out / ENTRIES_DIR)
        make_dir(out / CONTENT_DIR)
        with source.snapshot("copying the chain") as conn:
            with conn.cursor(name="ims_copy", binary=True) as cursor:
                cursor.itersize = 2000
                cursor.execute(
                    "SELECT seq, sha256, body FROM ims.entries WHERE chain = %s AND seq <= %s"
                    " ORDER BY seq",
                    [source.chain, length],
                )
                for seq, sha, body in cursor:
                    target = entry_path(out, seq)
                    if not target.parent.is_dir():
                        make_dir(target.parent)
                    write_new_private(target, entry_file_bytes(document_of(bytes(body), sha)))
                    if progress is not None and seq % 500 == 0:
                        progress(seq, length)
            rows = conn.execute("SELECT sha256, body FROM ims.content ORDER BY sha256").fetchall()
            for sha, blob in rows:
                write_new_private(content_path(out, str(sha)), bytes(blob))
            lines = conn.execute(
                "SELECT line FROM ims.checkpoints WHERE chain = %s ORDER BY n", [source.chain]
            ).fetchall()
            if lines:
                write_new_private(out / CHECKPOINTS_NAME, b"".join(bytes(r[0]) for r in lines))
            credentials = {
                str(user): str(phc)
                for user, phc in conn.execute(
                    "SELECT DISTINCT ON (user_name) user_name, phc FROM ims.credentials"
                    " WHERE chain = %s AND entry_seq <= %s ORDER BY user_name, n DESC",
                    [source.chain, length],
                ).fetchall()
            }
            if credentials:
                from consent_records.store.credentials import write_credentials

                write_credentials(out, credentials)
            key = conn.execute(
                "SELECT public_key FROM ims.checkpoint_keys WHERE chain = %s ORDER BY n DESC"
                " LIMIT 1",
                [source.chain],
            ).fetchone()
            if key is not None:
                make_dir(out / KEYS_DIR)
                write_new_private(out / KEYS_DIR / "checkpoint-key.pub", bytes(key[0]))
        write_new_private(out / MARKER_NAME, MARKER_BYTES)
        os.sync()
    except FileRefused as exc:
        raise CopyRefused(f"{exc.sentence()}. The copy was not finished.") from None
    except OSError as exc:
        raise StoreUnavailable(
            f"The copy to {out} failed ({exc.strerror or exc}); the database is untouched. "
            "Delete the partial copy and run it again into an empty directory."
        ) from None
    rebuild_index(out)
    copy = open_store(out, read_only=True)
    try:
        copied = copy.verify(progress=progress)
    finally:
        copy.close()
    _same(report, copied, f"the copy in {out}")
    return copied
