"""Verify a PostgreSQL chain: the same walk, the same answers as the embedded store's.

In one repeatable-read snapshot (saves go on meanwhile; entries after it are not looked
at), every entry of the chain is read in order from a server-side cursor and, in Python,
re-hashed from its stored bytes, checked to follow the entry before it, to be the entry its
columns say, and to carry unique ids and references, every event after its record. Then the
content archive, the staff credentials against their audited commitments, the search index
against the entries, the stored checkpoints (signed by the chain's key) and the anchors
given from outside. The database's own checks (hash and link at insert) are not trusted:
an owner could have dropped them.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from consent_records.base import GENESIS_HASH, Anchor, Checkpoint, StoreCorrupt, VerifyReport
from consent_records.chain import is_sha256_hex
from consent_records.pg.body import BodyProblem, read_body

if TYPE_CHECKING:
    from consent_records.keys import PublicKey
    from consent_records.pg.engine import Conn, PostgresStore

Progress = Callable[[int, int], None]
PROGRESS_EVERY = 2000
log = logging.getLogger("consent_records.pg")


class _Failed(Exception):
    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


@dataclass
class _Walk:
    chain: str
    where: str
    length: int
    wanted: set[int]
    records: int = 0
    events: int = 0
    audit: int = 0
    head: str = GENESIS_HASH
    last: int = 0
    hashes: dict[int, str] = field(default_factory=lambda: {0: GENESIS_HASH})
    ids: set[str] = field(default_factory=set)
    record_ids: set[str] = field(default_factory=set)
    references: set[str] = field(default_factory=set)
    content: dict[str, str] = field(default_factory=dict)
    commitments: dict[str, str] = field(default_factory=dict)
    """Account -> the credential SHA-256 its newest PasswordSet committed to."""

    def fail(self, seq: int, what: str) -> _Failed:
        return _Failed(f"entry {seq} of chain {self.chain} in {self.where} {what}")

    def entry(self, row: Sequence[Any]) -> None:
        seq, kind, entry_id, record_id, reference, event_kind, prev, sha, blob = row
        expected = self.last + 1
        if seq != expected:
            raise self.fail(expected, "is missing (removed)")
        try:
            body = read_body(bytes(blob), sha)
            data = body.data()
        except BodyProblem as exc:
            raise self.fail(seq, str(exc)) from None
        except (ValueError, RecursionError):
            raise self.fail(seq, "holds data that is not valid JSON") from None
        name = f"entry {seq} ({kind} {entry_id})"
        if body.seq != seq or body.kind != kind or body.prev_sha256 != prev:
            raise self.fail(seq, "does not match the columns that find it (changed)")
        if prev != self.head:
            raise _Failed(
                f"{name} of chain {self.chain} does not follow the entry before it (an entry "
                "was changed, removed or reordered)"
            )
        if data.get("id") != entry_id:
            raise _Failed(f"{name} does not match the columns that find it (changed)")
        if entry_id in self.ids:
            raise _Failed(f"{name} repeats the id {entry_id} of an earlier entry")
        self.ids.add(entry_id)
        if kind == "record":
            self.records += 1
            if data.get("reference") != reference or reference in self.references:
                raise _Failed(f"{name} repeats or changes the reference {reference}")
            self.references.add(reference)
            self.record_ids.add(entry_id)
            content = data.get("content")
            content_sha = content.get("sha256") if isinstance(content, dict) else None
            if not is_sha256_hex(content_sha):
                raise _Failed(f"{name} does not name the content it was shown")
            assert isinstance(content_sha, str)
            self.content.setdefault(content_sha, name)
        else:
            if data.get("kind") != event_kind:
                raise _Failed(f"{name} does not match the columns that find it (changed)")
            stored_record = data.get("record_id")
            if kind == "event":
                self.events += 1
                if stored_record != record_id or record_id not in self.record_ids:
                    raise _Failed(
                        f"{name} is an event for record {stored_record}, which is not stored "
                        "before it"
                    )
            else:
                self.audit += 1
                if stored_record is not None and stored_record not in self.record_ids:
                    raise _Failed(f"{name} names record {stored_record}, which is not stored")
                if event_kind == "password_set":
                    subject, commitment = data.get("subject"), data.get("credential_sha256")
                    if isinstance(subject, str) and isinstance(commitment, str):
                        self.commitments[subject] = commitment
        self.head = sha
        self.last = seq
        if seq in self.wanted:
            self.hashes[seq] = sha


def _anchor(walk: _Walk, anchor: Anchor) -> None:
    if anchor.seq > walk.length:
        raise _Failed(
            f"the chain was cut or rolled back: {anchor.source} says entry {anchor.seq} had "
            f"hash {anchor.head}, but the chain holds only {walk.length} entries (entries "
            "were removed, or an older copy was restored)"
        )
    actual = walk.hashes.get(anchor.seq)
    if actual != anchor.head:
        raise _Failed(
            f"the chain was rewritten: entry {anchor.seq} has hash {actual}, but "
            f"{anchor.source} recorded {anchor.head} (entries before it were changed and "
            "re-hashed, or another store was put in this one's place)"
        )


def _public_key(blob: bytes | None, where: str) -> PublicKey | None:
    from consent_records.keys import KeyProblem, PublicKey, public_raw_of
    from consent_records.store.layout import decode_json

    if blob is None:
        return None
    try:
        doc = decode_json(blob)
        if not isinstance(doc, dict):
            raise ValueError
        from pathlib import Path

        path = Path(f"{where} checkpoint key")
        return PublicKey(raw=public_raw_of(doc, path), path=path)
    except (ValueError, KeyProblem):
        raise _Failed(f"the checkpoint key stored in {where} is damaged") from None


def _walk_entries(conn: Conn, walk: _Walk, progress: Progress | None) -> None:
    with conn.cursor(name="ims_verify", binary=True) as cursor:
        cursor.itersize = 2000
        cursor.execute(
            "SELECT seq, kind, entry_id, record_id, reference, event_kind, prev_sha256,"
            " sha256, body FROM ims.entries WHERE chain = %s AND seq <= %s ORDER BY seq",
            [walk.chain, walk.length],
        )
        seen = 0
        for row in cursor:
            walk.entry(row)
            seen += 1
            if progress is not None and seen % PROGRESS_EVERY == 0:
                progress(seen, walk.length)
    if seen != walk.length:
        raise walk.fail(seen + 1, "is missing (removed)")
    if progress is not None:
        progress(walk.length, walk.length)


def _check_content(conn: Conn, walk: _Walk) -> None:
    rows = conn.execute(
        "SELECT sha256, body FROM ims.content WHERE sha256 = ANY(%s)", [sorted(walk.content)]
    ).fetchall()
    found = {str(sha): bytes(body) for sha, body in rows}
    for sha, name in walk.content.items():
        blob = found.get(sha)
        if blob is None:
            raise _Failed(f"the content {sha} shown to {name} is not archived (removed)")
        if hashlib.sha256(blob).hexdigest() != sha:
            raise _Failed(
                f"the archived content {sha} (shown to {name}) does not match its SHA-256 (changed)"
            )


def _check_credentials(conn: Conn, walk: _Walk) -> int:
    rows = conn.execute(
        "SELECT DISTINCT ON (user_name) user_name, phc FROM ims.credentials"
        " WHERE chain = %s AND entry_seq <= %s ORDER BY user_name, n DESC",
        [walk.chain, walk.length],
    ).fetchall()
    for user, phc in rows:
        commitment = walk.commitments.get(user)
        if commitment != hashlib.sha256(str(phc).encode("utf-8")).hexdigest():
            raise _Failed(
                f"the stored password hash of account {user} does not match the one its "
                "audited PasswordSet committed to (changed or replaced outside the program)"
            )
    return len(rows)


def _check_index(conn: Conn, walk: _Walk) -> None:
    row = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE e.seq IS NULL OR e.kind <> 'record'"
        " OR e.entry_id <> r.record_id OR e.reference <> r.reference)"
        " FROM ims.records r LEFT JOIN ims.entries e ON e.chain = r.chain AND e.seq = r.seq"
        " WHERE r.chain = %s AND r.seq <= %s",
        [walk.chain, walk.length],
    ).fetchone()
    assert row is not None
    if int(row[0]) != walk.records or int(row[1]):
        raise _Failed(
            f"the search index of chain {walk.chain} does not match its entries ({row[0]} "
            f"rows for {walk.records} records, {row[1]} differing): the entries are intact, "
            "but the staff browser could list records wrongly"
        )


def _differ(conn: Conn, derived: str, kept: str, chain: str) -> bool:
    """Whether the kept rows and those derived from the records differ (either way)."""
    row = conn.execute(
        f"SELECT (SELECT count(*) FROM (({derived}) EXCEPT ({kept})) x)"
        f" + (SELECT count(*) FROM (({kept}) EXCEPT ({derived})) y)",
        {"chain": chain},
    ).fetchone()
    return row is None or int(row[0]) != 0


def _check_counts(conn: Conn, walk: _Walk) -> None:
    """The kept counts (the staff browser's tabs) are the records' own."""
    by_status = _differ(
        conn,
        "SELECT physiotherapist_id, base_status, flag_count > 0, missed_count > 0,"
        " has_substitute, count(*) FROM ims.records WHERE chain = %(chain)s"
        " GROUP BY 1, 2, 3, 4, 5",
        "SELECT physiotherapist_id, base_status, has_flags, has_missed, has_substitute, n"
        " FROM ims.record_counts WHERE chain = %(chain)s AND n > 0",
        walk.chain,
    )
    by_day = _differ(
        conn,
        "SELECT physiotherapist_id, content_version_key, (consented_at AT TIME ZONE 'UTC')::date,"
        " count(*) FROM ims.records WHERE chain = %(chain)s AND base_status = 'active'"
        " AND consented_at IS NOT NULL GROUP BY 1, 2, 3",
        "SELECT physiotherapist_id, content_version_key, consented_day, n FROM ims.active_days"
        " WHERE chain = %(chain)s AND n > 0",
        walk.chain,
    )
    if by_status or by_day:
        raise _Failed(
            f"the counts per status kept for chain {walk.chain} do not match its records: the "
            "entries are intact, but the staff browser's tabs could show wrong numbers"
        )


def verify_chain(
    store: PostgresStore,
    *,
    expect: Sequence[Anchor | Checkpoint] = (),
    progress: Progress | None = None,
) -> VerifyReport:
    from consent_records.store.checkpoints import parse_checkpoints

    problem: str | None = None
    found: list[Checkpoint] = []
    notes: list[str] = []
    accounts = 0
    with store.snapshot("verifying the chain") as conn:
        length, _ = store._head(conn)
        lines = conn.execute(
            "SELECT line FROM ims.checkpoints WHERE chain = %s ORDER BY n", [store.chain]
        ).fetchall()
        key_row = conn.execute(
            "SELECT public_key FROM ims.checkpoint_keys WHERE chain = %s ORDER BY n DESC LIMIT 1",
            [store.chain],
        ).fetchone()
        try:
            found = parse_checkpoints(
                b"".join(bytes(r[0]) for r in lines), f"{store.where} checkpoints"
            )
        except StoreCorrupt as exc:
            problem = str(exc)
        wanted = {c.seq for c in found} | {a.seq for a in expect}
        walk = _Walk(store.chain, store.where, length, wanted)
        if problem is None:
            try:
                _walk_entries(conn, walk, progress)
                _check_content(conn, walk)
                accounts = _check_credentials(conn, walk)
                _check_index(conn, walk)
                _check_counts(conn, walk)
                public = _public_key(bytes(key_row[0]) if key_row else None, store.where)
                if found and public is None:
                    raise _Failed(
                        f"the chain holds {len(found)} signed checkpoint(s) but no checkpoint "
                        "key is stored with it (removed)"
                    )
                previous = 0
                for number, checkpoint in enumerate(found, 1):
                    what = f"checkpoint {number} (entry {checkpoint.seq}, signed {checkpoint.at})"
                    assert public is not None
                    if not public.verifies(checkpoint):
                        raise _Failed(
                            f"{what} does not carry a valid signature by the chain's key "
                            f"{public.fingerprint} (changed, forged, or the key was replaced)"
                        )
                    if checkpoint.seq < previous:
                        raise _Failed(f"{what} goes back below the checkpoint before it")
                    previous = checkpoint.seq
                    _anchor(walk, checkpoint.anchor(what))
                for given in expect:
                    if isinstance(given, Checkpoint):
                        what = f"the checkpoint line given (entry {given.seq}, signed {given.at})"
                        if public is None or not public.verifies(given):
                            raise _Failed(
                                f"{what} does not carry a valid signature by the chain's "
                                "checkpoint key: the line was mistyped, belongs to another "
                                "store, or the key was replaced"
                            )
                        _anchor(walk, given.anchor(what))
                        continue
                    _anchor(walk, given)
                    if given.key is not None and (
                        public is None or public.fingerprint != given.key
                    ):
                        raise _Failed(
                            f"the checkpoint key was replaced: {given.source} was signed by "
                            f"key {given.key}, but the chain's key is "
                            f"{public.fingerprint if public else 'missing'}"
                        )
            except _Failed as failed:
                problem = failed.problem
    if problem is None and not found:
        notes.append(
            "No signed checkpoint yet: run `ims-kiosk checkpoint` regularly so that cutting "
            "or rewriting the chain is caught (docs/postgresql.md)."
        )
    report = VerifyReport(
        records=walk.records,
        events=walk.events,
        chain_head=walk.head,
        chain_length=length if problem is None else 0,
        problem=problem,
        notes=tuple(notes),
        checkpoints=len(found),
        last_checkpoint=found[-1] if found else None,
        anchors=len(expect) if problem is None else 0,
        **_extra(walk.audit, accounts),
    )
    if problem is not None:
        log.error("verify of %s failed: %s", store.description, problem)
    else:
        log.info("verify of %s: %s", store.description, report.summary_line())
    return report


def _extra(audit: int, accounts: int) -> dict[str, int]:
    """The report's audit and account counts, where this version's VerifyReport has them."""
    fields = VerifyReport.model_fields
    extra = {}
    if "audit" in fields:
        extra["audit"] = audit
    if "accounts" in fields:
        extra["accounts"] = accounts
    return extra
