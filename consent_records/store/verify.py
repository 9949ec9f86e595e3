"""Verify: prove that one consistent state of the store is what was written.

1. Under the lock, and only for as long as it takes to read a few small things, take a
   snapshot: the index's bytes, the chain's length (index lines plus entry files an
   interrupted save left beyond them), entry files lying past a gap, the content archive's
   names, the checkpoints and the public key. Saves then continue; entries appended after
   the snapshot are not looked at, so a concurrent save never raises an alarm.
2. Without the lock, walk entries 1 to n: each file must exist, be a regular file, be the
   entry its name says, match its hash, follow the previous entry, and match its index line;
   ids and references must be unique and every event must follow its record.
3. Check the content archive (every record's content is archived and hashes to its name),
   the stored checkpoints (each signed by the clinic's key and matching the chain), and the
   anchors given from outside (``--expect``, the high-water mark).

Nothing is written, swept, truncated or rebuilt: repairs are ``ims-kiosk reindex``'s.

The walk checks each entry's hash on its raw bytes (:func:`~consent_records.store.entries.
split_entry`) and decodes its data once, with pydantic-core's JSON parser, for the index
comparison: 3.5 to 4 s of CPU at 50,000 entries, most of it that decoding (benchmarks/store.py
prints it with the floor, reading and hashing alone). So a chain of 4,000 entries or more is
walked in two halves at once, the second in a forked process, on a machine with two cores and
in a process with no other thread (the command line; the staff app walks in one go). The
halves are joined in chain order; if the second half holds any problem, alone or with the
first, this process walks it again after the first, so the problem reported is always the
one, in the same words, that a walk from entry 1 finds (tests/store/test_verify_split.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from consent_records.base import (
    GENESIS_HASH,
    Anchor,
    Checkpoint,
    StoreCorrupt,
    VerifyReport,
)
from consent_records.chain import is_sha256_hex, sha256_hex
from consent_records.store.checkpoints import parse_checkpoints
from consent_records.store.entries import EntryProblem, Row, raw_row, read_ahead, split_entry
from consent_records.store.layout import (
    BLOCK,
    CHECKPOINTS_NAME,
    CONTENT_DIR,
    CREDENTIALS_NAME,
    ENTRIES_DIR,
    INDEX_NAME,
    KEYS_DIR,
    MAX_CHECKPOINTS_BYTES,
    MAX_CONTENT_BYTES,
    MAX_CREDENTIALS_BYTES,
    MAX_INDEX_BYTES,
    MAX_SEARCH_INDEX_BYTES,
    SEARCH_INDEX_NAME,
    FileRefused,
    access_problem,
    content_path,
    entry_file,
    entry_path,
    read_file,
)

if TYPE_CHECKING:
    from consent_records.keys import PublicKey
    from consent_records.store.engine import TinyDBStore

Progress = Callable[[int, int], None]
PROGRESS_EVERY = 500

log_name = "consent_records.store"


class _Failed(Exception):
    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


@dataclass
class Snapshot:
    length: int = 0
    index_lines: list[bytes] = field(default_factory=list)
    index_missing: bool = False
    torn: bool = False
    stray: str | None = None
    content_names: list[str] = field(default_factory=list)
    checkpoints: bytes | None = None
    public_key: bytes | None = None
    credentials: bytes | None = None
    search_index: bytes | None = None
    problem: str | None = None


def _read_optional(path: Path, limit: int) -> bytes | None:
    try:
        return read_file(path, limit)
    except FileNotFoundError:
        return None


def _describe(exc: OSError, path: Path) -> str:
    if isinstance(exc, FileRefused):
        return exc.sentence()
    return access_problem(path) or f"{path} cannot be read ({exc.strerror or exc})"


def take_snapshot(root: Path) -> Snapshot:
    """What the store holds right now (call under the lock; reads only)."""
    snap = Snapshot()
    index = root / INDEX_NAME
    try:
        blob = _read_optional(index, MAX_INDEX_BYTES)
    except OSError as exc:
        snap.problem = _describe(exc, index)
        return snap
    if blob is None:
        snap.index_missing = True
        blob = b""
    end = blob.rfind(b"\n") + 1
    snap.index_lines = blob[: end - 1].split(b"\n") if end else []
    snap.torn = end < len(blob)
    length = len(snap.index_lines)
    root_str = os.fspath(root)
    while os.path.lexists(entry_file(root_str, length + 1)):
        length += 1
    snap.length = length
    snap.stray = _stray_entry(root, length)
    try:
        snap.content_names = sorted(
            name for name in os.listdir(root / CONTENT_DIR) if not name.startswith(".")
        )
    except FileNotFoundError:
        pass
    except OSError as exc:
        snap.problem = _describe(exc, root / CONTENT_DIR)
    for name, limit, attr in (
        (CHECKPOINTS_NAME, MAX_CHECKPOINTS_BYTES, "checkpoints"),
        (f"{KEYS_DIR}/checkpoint-key.pub", 65536, "public_key"),
        (CREDENTIALS_NAME, MAX_CREDENTIALS_BYTES, "credentials"),
        (SEARCH_INDEX_NAME, MAX_SEARCH_INDEX_BYTES, "search_index"),
    ):
        try:
            setattr(snap, attr, _read_optional(root / name, limit))
        except OSError as exc:
            snap.problem = snap.problem or _describe(exc, root / name)
    return snap


def _stray_entry(root: Path, head: int) -> str | None:
    """An entry file beyond the chain's end (an entry before it was removed)."""
    entries = root / ENTRIES_DIR
    try:
        blocks = sorted(os.listdir(entries))
    except (FileNotFoundError, NotADirectoryError):
        return None
    for block in blocks:
        if not block.isdigit() or int(block) < head // BLOCK:
            continue
        try:
            names = sorted(os.listdir(entries / block))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            stem = name.removesuffix(".json")
            if stem.isdigit() and int(stem) > head:
                path = entries / block / name
                return (
                    f"entry {head + 1} at {entry_path(root, head + 1)} is missing (removed) "
                    f"but {path} exists after it"
                )
    return None


def _same_patient(expected: tuple[object, ...], stored: tuple[str, ...]) -> bool:
    """The search index's reference, name, birth date and completion time are the entry's."""
    from datetime import datetime

    if tuple(expected[:3]) != stored[:3] or not isinstance(expected[3], str):
        return False
    try:
        return datetime.fromisoformat(expected[3]) == datetime.fromisoformat(stored[3])
    except ValueError:
        return False


class _Walk:
    """Step 2 and 3, over a snapshot."""

    def __init__(self, root: Path, snap: Snapshot, wanted: set[int]) -> None:
        self.root = root
        self.snap = snap
        self.records = 0
        self.events = 0
        self.audit = 0
        self.patients: dict[str, tuple[object, ...]] = {}
        """Per record: reference, name, birth date, completion time (to check the search
        index, a cache that holds them)."""
        self.commitments: dict[str, str | None] = {}
        """Each account's newest password commitment (None: created, no password yet)."""
        self.head = GENESIS_HASH
        self.wanted = wanted
        self.hashes: dict[int, str] = {0: GENESIS_HASH}
        self.ids: set[str] = set()
        self.record_ids: set[str] = set()
        self.references: set[str] = set()
        self.content: dict[str, str] = {}
        """Content hash -> the first entry shown it (its name for messages)."""
        self.part: _Part | None = None
        """Set when this walk checks only a later part of the chain (see _split_entries)."""

    def _name(self, seq: int) -> str:
        """``entry 7 (record <id>)`` from its index line when it has a valid one."""
        lines = self.snap.index_lines
        if seq <= len(lines):
            try:
                line = Row.parse(lines[seq - 1])
            except ValueError:
                return f"entry {seq}"
            return f"entry {seq} ({line.kind} {line.id})"
        return f"entry {seq}"

    def _index_line_differs(self, seq: int, row: Row) -> bool:
        """The index line for ``seq`` is not byte for byte what the entry implies: decode
        it; True if it says something else, _Failed if it is not a valid line at all."""
        try:
            line = Row.parse(self.snap.index_lines[seq - 1])
            if line.seq != seq:
                raise ValueError(f"it is for entry {line.seq}")
        except ValueError as exc:
            raise _Failed(
                f"line {seq} of the index {self.root / INDEX_NAME} is not valid ({exc}); the "
                "index is only a cache: `ims-kiosk reindex` rebuilds it"
            ) from None
        return line != row

    def entries(self, progress: Progress | None, first: int = 1, last: int | None = None) -> None:
        """Walk entries ``first``..``last`` (default: the whole chain). A walk that starts
        past entry 1 (:attr:`part` set) takes the chain's link, ids, references and records
        before it as unknown and leaves those checks to :meth:`_Part.join`."""
        root_str = os.fspath(self.root)
        total = self.snap.length if last is None else last
        lines = self.snap.index_lines
        in_index = len(lines)
        ids, references, record_ids = self.ids, self.references, self.record_ids
        part = self.part
        for seq, got in read_ahead(root_str, total, first):
            if part is not None:
                part.seq = seq
            path = entry_file(root_str, seq)
            if isinstance(got, BaseException):
                if isinstance(got, FileNotFoundError):
                    what = "is missing (removed)"
                elif isinstance(got, FileRefused):
                    what = got.reason
                else:
                    what = f"cannot be read: {_describe(got, Path(path))}"
                raise _Failed(f"{self._name(seq)} at {path} {what}")
            try:
                raw = split_entry(got, path, seq)
                data = raw.data()
                line = Row.line_of(seq, raw.kind, raw.prev_sha256, raw.sha256, data)
                entry_id, kind = data["id"], raw.kind
                hash(entry_id)
            except EntryProblem as exc:
                raise _Failed(f"{self._name(seq)} at {path} {exc.what}") from None
            except (ValueError, RecursionError, KeyError, TypeError):
                raise _Failed(
                    f"{self._name(seq)} at {path} holds data that is not a valid entry"
                ) from None
            name = f"entry {seq} ({kind} {entry_id})"
            if part is not None and seq == first:
                part.first_prev = raw.prev_sha256
                self.head = raw.prev_sha256
            if raw.prev_sha256 != self.head:
                raise _Failed(
                    f"{name} at {path} does not follow the entry before it "
                    "(an entry was changed, removed or reordered)"
                )
            if seq <= in_index and lines[seq - 1] != line:
                try:
                    row = raw_row(raw, Path(path))
                except EntryProblem as exc:
                    raise _Failed(f"{name} at {path} {exc.what}") from None
                if self._index_line_differs(seq, row):
                    raise _Failed(
                        f"{name} at {path} does not match the index (changed or replaced)"
                    )
            if entry_id in ids:
                raise _Failed(f"{name} at {path} repeats the id {entry_id} of an earlier entry")
            ids.add(entry_id)
            if part is not None:
                part.ids[entry_id] = (seq, f"{name} at {path}")
            if kind == "record":
                self.records += 1
                reference = data.get("reference")
                if not isinstance(reference, str) or reference in references:
                    raise _Failed(f"{name} at {path} repeats the reference {reference}")
                references.add(reference)
                patient = data.get("patient")
                if isinstance(patient, dict):
                    self.patients[entry_id] = (
                        reference,
                        patient.get("full_name"),
                        patient.get("date_of_birth"),
                        data.get("completed_at"),
                    )
                if part is not None:
                    part.references[reference] = (seq, f"{name} at {path}")
                record_ids.add(entry_id)
                content = data.get("content")
                sha = content.get("sha256") if isinstance(content, dict) else None
                if not is_sha256_hex(sha):
                    raise _Failed(f"{name} at {path} does not name the content it was shown")
                assert isinstance(sha, str)
                if sha not in self.content:
                    self.content[sha] = name
            else:
                record_id = data.get("record_id")
                if kind == "event":
                    self.events += 1
                    known = isinstance(record_id, str) and record_id in record_ids
                else:
                    self.audit += 1
                    known = record_id is None or (
                        isinstance(record_id, str) and record_id in record_ids
                    )
                    self._account(data)
                if not known:
                    problem = (
                        f"{name} at {path} is an {kind} for record {record_id}, which is not "
                        "stored before it"
                    )
                    if part is None:
                        raise _Failed(problem)
                    part.unknown.append((seq, record_id, problem))
            self.head = raw.sha256
            if seq in self.wanted:
                self.hashes[seq] = raw.sha256
            if progress is not None and seq % PROGRESS_EVERY == 0:
                progress(seq, total)
        if progress is not None:
            progress(total, total)

    def _account(self, data: dict[str, object]) -> None:
        kind, subject = data.get("kind"), data.get("subject")
        if not isinstance(subject, str):
            return
        if self.part is not None:
            self.part.accounts.append(
                {
                    "kind": kind,
                    "subject": subject,
                    "credential_sha256": data.get("credential_sha256"),
                }
            )
        if kind == "account_created":
            self.commitments.setdefault(subject, None)
        elif kind == "password_set":
            sha = data.get("credential_sha256")
            self.commitments[subject] = sha if isinstance(sha, str) else None

    def credentials(self) -> int:
        """Every stored password hash matches its account's audited commitment; returns the
        number checked. A hash is never printed."""
        from consent_records.store.credentials import CredentialProblem, parse_credentials

        path = self.root / CREDENTIALS_NAME
        blob = self.snap.credentials
        if blob is None:
            with_password = sorted(u for u, sha in self.commitments.items() if sha)
            if with_password:
                raise _Failed(
                    f"the staff credential file {path} is missing (removed) although "
                    f"{len(with_password)} account(s) have a password "
                    f"({', '.join(with_password[:5])}): staff cannot sign in"
                )
            return 0
        try:
            stored = parse_credentials(blob, path)
        except CredentialProblem as exc:
            raise _Failed(str(exc)) from None
        for user, phc in sorted(stored.items()):
            if user not in self.commitments:
                raise _Failed(
                    f"the staff credential file {path} holds a password for {user}, an "
                    "account the chain does not have (added outside the software)"
                )
            if self.commitments[user] != sha256_hex(phc.encode("utf-8")):
                raise _Failed(
                    f"the password hash stored for {user} in {path} is not the one the audit "
                    "chain recorded for that account (replaced outside the software, or "
                    "restored from another store)"
                )
        missing = sorted(u for u, sha in self.commitments.items() if sha and u not in stored)
        if missing:
            raise _Failed(
                f"the staff credential file {path} has no password for "
                f"{', '.join(missing[:5])}, although the chain recorded one (removed)"
            )
        return len(stored)

    def search_index(self) -> list[str]:
        """Notes when the staff search index disagrees with the entries (it is a cache, never
        trusted over them: the next search or `ims-kiosk reindex` rebuilds it)."""
        from consent_records.store.search import SearchIndex

        blob = self.snap.search_index
        if blob is None:
            return []
        path = self.root / SEARCH_INDEX_NAME
        fix = "it is rebuilt from the entries by the next search or `ims-kiosk reindex`"
        try:
            index = SearchIndex.from_bytes(blob)
        except (ValueError, TypeError, KeyError):
            return [f"the search index {path} is damaged; {fix}."]
        cols = index.cols
        for i, record_id in enumerate(cols["id"]):
            expected = self.patients.get(record_id)
            stored = (cols["reference"][i], cols["name"][i], cols["dob"][i], cols["completed"][i])
            if expected is None or not _same_patient(expected, stored):
                return [
                    f"the search index {path} disagrees with the entries about record "
                    f"{record_id} (changed outside the software, or from another store); "
                    f"{fix}. The records themselves are intact."
                ]
        return []

    def tail(self) -> list[str]:
        """The index's end, stray files; notes for what is not a problem."""
        snap, root = self.snap, self.root
        notes = []
        lines = len(snap.index_lines)
        if snap.torn and snap.length == lines:
            seq = lines + 1
            raise _Failed(
                f"the index's last line (entry {seq}) is incomplete and entry {seq} does not "
                f"exist at {entry_path(root, seq)}: an entry was removed after it was saved"
            )
        if snap.stray:
            raise _Failed(snap.stray)
        if snap.index_missing and snap.length:
            notes.append(
                "index.jsonl is missing: the kiosk rebuilds it when it starts, or run "
                "`ims-kiosk reindex`."
            )
        elif snap.length > lines:
            behind = snap.length - lines
            notes.append(
                f"the index lacks its last {behind} entr{'y' if behind == 1 else 'ies'} (an "
                "interrupted save); the next save or `ims-kiosk reindex` adds "
                f"{'it' if behind == 1 else 'them'}."
            )
        return notes

    def archive(self) -> None:
        """Every record's content is archived and every archived file hashes to its name."""
        root = self.root
        for sha, name in self.content.items():
            path = content_path(root, sha)
            try:
                blob = read_file(path, MAX_CONTENT_BYTES)
            except FileNotFoundError:
                raise _Failed(
                    f"content archive {path} (shown to {name}) is missing (removed)"
                ) from None
            except OSError as exc:
                raise _Failed(
                    f"content archive {path} (shown to {name}) cannot be read: "
                    f"{_describe(exc, path)}"
                ) from None
            if sha256_hex(blob) != sha:
                raise _Failed(
                    f"content archive {path} (shown to {name}) does not match its SHA-256 (changed)"
                )
        for file_name in self.snap.content_names:
            sha = file_name.removesuffix(".json")
            if sha in self.content:
                continue
            path = root / CONTENT_DIR / file_name
            if not (file_name.endswith(".json") and is_sha256_hex(sha)):
                raise _Failed(f"{path} does not belong in the content archive")
            try:
                blob = read_file(path, MAX_CONTENT_BYTES)
            except OSError as exc:
                raise _Failed(
                    f"content archive {path} cannot be read: {_describe(exc, path)}"
                ) from None
            if sha256_hex(blob) != sha:
                raise _Failed(f"content archive {path} does not match its SHA-256 (changed)")


PARALLEL_MIN = 4000
"""Chains at least this long are walked in two halves, the second in a forked process (on a
machine with two or more cores, in a process with no other thread): about half the time."""


@dataclass
class _Part:
    """What a walk of the chain's later part learned, for the earlier part to check.

    Everything a check needs from before the part (the previous entry's hash, earlier ids,
    references and records, account commitments) is left open here and settled by
    :meth:`join` in chain order, so the first problem reported is the one a walk of the whole
    chain from entry 1 would report, with the same words."""

    first: int
    seq: int = 0
    """The entry being checked (where a problem found in the part lies)."""
    first_prev: str | None = None
    ids: dict[str, tuple[int, str]] = field(default_factory=dict)
    references: dict[str, tuple[int, str]] = field(default_factory=dict)
    unknown: list[tuple[int, object, str]] = field(default_factory=list)
    """Events (or audit entries) whose record is not in the part: checked against before."""
    accounts: list[dict[str, object]] = field(default_factory=list)
    failed: tuple[int, str] | None = None
    records: int = 0
    events: int = 0
    audit: int = 0
    head: str = GENESIS_HASH
    record_ids: set[str] = field(default_factory=set)
    content: dict[str, str] = field(default_factory=dict)
    hashes: dict[int, str] = field(default_factory=dict)

    def join(self, walk: _Walk) -> bool:
        """Continue ``walk`` (which has checked entries 1..first-1) with this part, if the
        part holds no problem, alone or with what came before; False (``walk`` unchanged)
        when it does: the caller then walks the part again itself, so that the problem
        reported is exactly the one, in the same words, a walk from entry 1 reports."""
        if (
            self.failed is not None
            or self.first_prev != walk.head
            or not walk.ids.isdisjoint(self.ids)
            or not walk.references.isdisjoint(self.references)
            or any(
                not (isinstance(record_id, str) and record_id in walk.record_ids)
                for _seq, record_id, _problem in self.unknown
            )
        ):
            return False
        walk.records += self.records
        walk.events += self.events
        walk.audit += self.audit
        walk.ids.update(self.ids)
        walk.references.update(self.references)
        walk.record_ids |= self.record_ids
        for sha, name in self.content.items():
            walk.content.setdefault(sha, name)
        walk.hashes.update(self.hashes)
        for account in self.accounts:
            walk._account(account)
        walk.head = self.head
        return True


def _walk_part(walk: _Walk, first: int) -> _Part:
    """Walk entries ``first``..n as a part; never raises for a problem (it is recorded)."""
    part = _Part(first=first)
    walk.part = part
    try:
        walk.entries(None, first)
    except _Failed as failed:
        part.failed = (part.seq, failed.problem)
    part.records, part.events, part.audit = walk.records, walk.events, walk.audit
    part.head, part.record_ids = walk.head, walk.record_ids
    part.content, part.hashes = walk.content, walk.hashes
    return part


def _split_worthwhile(total: int) -> bool:
    """A long chain, two cores, and no other thread here (a fork copies only this one)."""
    import threading

    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return total >= PARALLEL_MIN and cores >= 2 and threading.active_count() == 1


def _split_entries(walk: _Walk, progress: Progress | None) -> None:
    """Walk every entry: in two halves on two cores for a long chain, else in one go."""
    total = walk.snap.length
    if total < 2 or not _split_worthwhile(total):
        walk.entries(progress)
        return
    import multiprocessing
    import pickle

    middle = total // 2
    receive, send = multiprocessing.Pipe(duplex=False)
    later = _Walk(walk.root, walk.snap, walk.wanted)

    def child() -> None:
        try:
            send.send_bytes(pickle.dumps(_walk_part(later, middle + 1)))
        finally:
            send.close()

    process = multiprocessing.get_context("fork").Process(target=child, daemon=True)
    try:
        process.start()
    except OSError:  # no process to spare: walk it all here
        send.close()
        receive.close()
        walk.entries(progress)
        return
    send.close()
    try:
        scaled = (
            None if progress is None else lambda done, _of: progress(done * total // middle, total)
        )
        walk.entries(scaled, 1, middle)
        try:
            part: _Part = pickle.loads(receive.recv_bytes())
        except (EOFError, OSError, pickle.UnpicklingError):
            part = _walk_part(later, middle + 1)  # the helper died: do its half here
    finally:
        receive.close()
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
    if not part.join(walk):
        walk.entries(None, middle + 1)  # a problem in the second half: find it in order
    if progress is not None:
        progress(total, total)


def _checkpoints(walk: _Walk, found: list[Checkpoint]) -> None:
    """Every stored checkpoint is signed by the store's key and matches the chain."""
    root = walk.root
    public = _public_key(walk)
    if public is None:
        raise _Failed(
            f"the store holds {len(found)} signed checkpoint(s) but its public key "
            f"{root / KEYS_DIR / 'checkpoint-key.pub'} is missing (removed)"
        )
    previous = 0
    for number, checkpoint in enumerate(found, 1):
        what = f"checkpoint {number} (entry {checkpoint.seq}, signed {checkpoint.at})"
        if not public.verifies(checkpoint):
            raise _Failed(
                f"{what} in {root / CHECKPOINTS_NAME} does not carry a valid signature by the "
                f"store's key {public.fingerprint} (changed, forged, or the key was replaced)"
            )
        if checkpoint.seq < previous:
            raise _Failed(f"{what} goes back below the checkpoint before it (reordered)")
        previous = checkpoint.seq
        _anchor(walk, checkpoint.anchor(what))


def _anchor(walk: _Walk, anchor: Anchor) -> None:
    length = walk.snap.length
    if anchor.seq > length:
        raise _Failed(
            f"the chain was cut or rolled back: {anchor.source} says entry {anchor.seq} had "
            f"hash {anchor.head}, but the store holds only {length} entries (entries were "
            "removed, or an older copy was restored)"
        )
    actual = walk.hashes.get(anchor.seq)
    if actual != anchor.head:
        raise _Failed(
            f"the chain was rewritten: entry {anchor.seq} has hash {actual}, but "
            f"{anchor.source} recorded {anchor.head} (entries before it were changed and "
            "re-hashed, or another store was put in this one's place)"
        )


def _anchor_key(walk: _Walk, anchor: Anchor) -> None:
    if anchor.key is None:
        return
    public = _public_key(walk)
    current = public.fingerprint if public is not None else None
    if current != anchor.key:
        raise _Failed(
            f"the checkpoint key was replaced: {anchor.source} was signed by key "
            f"{anchor.key}, but the store's key is {current or 'missing'}"
        )


def _given_checkpoint(walk: _Walk, checkpoint: Checkpoint) -> None:
    """A checkpoint line given from outside: signed by the store's key, and still true."""
    what = f"the checkpoint line given (entry {checkpoint.seq}, signed {checkpoint.at})"
    public = _public_key(walk)
    if public is None or not public.verifies(checkpoint):
        raise _Failed(
            f"{what} does not carry a valid signature by the store's checkpoint key "
            f"{public.fingerprint if public else '(missing)'}: the line was mistyped, "
            "belongs to another store, or the store's key was replaced"
        )
    _anchor(walk, checkpoint.anchor(what))


def _public_key(walk: _Walk) -> PublicKey | None:
    from consent_records.keys import KeyProblem, PublicKey, public_raw_of
    from consent_records.store.layout import decode_json

    if walk.snap.public_key is None:
        return None
    path = walk.root / KEYS_DIR / "checkpoint-key.pub"
    try:
        doc = decode_json(walk.snap.public_key)
        if not isinstance(doc, dict):
            raise ValueError
        return PublicKey(raw=public_raw_of(doc, path), path=path)
    except (ValueError, KeyProblem):
        raise _Failed(f"the public key {path} is damaged or not a checkpoint key") from None


def verify_store(
    store: TinyDBStore,
    *,
    expect: Sequence[Anchor | Checkpoint] = (),
    progress: Progress | None = None,
) -> VerifyReport:
    import logging

    log = logging.getLogger(log_name)
    root = store.data_dir
    with store._locked(write=False, doing="taking a consistent snapshot to verify"):
        snap = take_snapshot(root)
    found: list[Checkpoint] = []
    problem = snap.problem
    if problem is None and snap.checkpoints:
        try:
            found = parse_checkpoints(snap.checkpoints, root / CHECKPOINTS_NAME)
        except StoreCorrupt as exc:
            problem = str(exc)
    wanted = {c.seq for c in found} | {a.seq for a in expect}
    walk = _Walk(root, snap, wanted)
    notes: list[str] = []
    accounts = 0
    if problem is None:
        try:
            _split_entries(walk, progress)
            notes += walk.tail()
            notes += walk.search_index()
            walk.archive()
            accounts = walk.credentials()
            if found:
                _checkpoints(walk, found)
            for given in expect:
                if isinstance(given, Checkpoint):
                    _given_checkpoint(walk, given)
                    continue
                _anchor(walk, given)
                _anchor_key(walk, given)
        except _Failed as failed:
            problem = failed.problem
    if problem is None and not found:
        notes.append(
            "No signed checkpoint yet: run `ims-kiosk checkpoint` regularly so that cutting "
            "or rewriting the chain is caught (docs/storage.md)."
        )
    report = VerifyReport(
        records=walk.records,
        events=walk.events,
        audit=walk.audit,
        accounts=accounts,
        chain_head=walk.head,
        chain_length=snap.length if problem is None else 0,
        problem=problem,
        notes=tuple(notes),
        checkpoints=len(found),
        last_checkpoint=found[-1] if found else None,
        anchors=len(expect) if problem is None else 0,
    )
    if problem is not None:
        log.error("verify of %s failed: %s", root, problem)
    else:
        log.info("verify of %s: %s", root, report.summary_line())
    return report
