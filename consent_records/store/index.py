"""The index: ``index.jsonl`` held in memory, looked up without decoding every line.

The index is a cache of the entry files, one canonical JSON line per entry (no patient
data). Opening a store reads the file's bytes (about 17 MB at 50,000 entries, a few
milliseconds) and decodes only its last line; a lookup by id or reference searches the
bytes for the one line that can match (``"reference":"K7P3-QX9M"``) and decodes that line.
So opening a store and reading one record takes milliseconds whatever its size. Listing the
newest records needs every line decoded (:meth:`Index.full`): about 0.3 s at 50,000, done
once per process and then kept up to date line by line.

Each line found is checked against its entry file when the entry is read (the store
compares the entry's own index line with the one found), so a damaged index can make a
lookup fail with :class:`StoreCorrupt`, never return the wrong record.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from pathlib import Path

import pydantic_core

from consent_records.base import GENESIS_HASH, StoreCorrupt
from consent_records.store.entries import Row
from consent_records.store.messages import INDEX_HINT


@dataclass
class Parsed:
    """Every line decoded, with the maps a writer and a list need."""

    rows: list[Row] = field(default_factory=list)
    by_id: dict[str, int] = field(default_factory=dict)
    by_ref: dict[str, int] = field(default_factory=dict)
    events_of: dict[str, list[int]] = field(default_factory=dict)
    event_ids: set[str] = field(default_factory=set)
    """Ids of events and audit entries (every id is unique in the chain)."""
    by_time: list[tuple[float, int]] = field(default_factory=list)
    by_subject: dict[str, list[int]] = field(default_factory=dict)
    """Audit entries about each account, in chain order."""
    audit_count: int = 0


class Index:
    """The index lines known to this process (from the file, or caught up from entries)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.buf = bytearray()
        """Complete lines, in seq order: line n is entry n."""
        self.count = 0
        self.head: Row | None = None
        self._parsed: Parsed | None = None

    # -- building ---------------------------------------------------------------------

    def reset(self) -> None:
        self.buf = bytearray()
        self.count = 0
        self.head = None
        self._parsed = None

    def _bad(self, seq: int, what: str) -> StoreCorrupt:
        return StoreCorrupt(
            f"{self.path}: line {seq} of the index (entry {seq}) {what}. {INDEX_HINT}",
            path=self.path,
        )

    def add_lines(self, blob: bytes, where: Path | None = None) -> None:
        """Append complete lines (each ending in a newline) read from the index file.

        Only the last line is decoded here (and its link to the line before it checked);
        every line is decoded when :meth:`full` is first needed, or by verify.
        """
        if not blob:
            return
        lines = blob.count(b"\n")
        if self._parsed is not None:
            for raw in blob.split(b"\n")[:-1]:
                row = self._parse(raw, self.count + 1)
                self._apply(row, where or self.path)
                self.buf += raw + b"\n"
                self.count += 1
                self.head = row
            return
        last_start = blob.rfind(b"\n", 0, len(blob) - 1) + 1
        first_new = self.count + 1
        head = self._parse(blob[last_start:-1], self.count + lines)
        if lines == 1:
            expected = self.head.sha256 if self.head else GENESIS_HASH
            if head.prev_sha256 != expected:
                raise self._bad(head.seq, "does not follow the line before it")
        elif first_new == 1:
            pass  # the links are checked when every line is decoded (verify, full())
        self.buf += blob
        self.count += lines
        self.head = head

    def add_row(self, row: Row, where: Path) -> None:
        """Append a row for an entry just written or caught up from its file."""
        expected = self.head.sha256 if self.head else GENESIS_HASH
        if row.seq != self.count + 1 or row.prev_sha256 != expected:
            raise StoreCorrupt(
                f"{where}: entry {row.seq} ({row.kind} {row.id}) does not follow entry "
                f"{self.count} in the chain (removed, changed or reordered). Stop the kiosk "
                "and run `ims-kiosk verify` (see docs/storage.md).",
                path=where,
            )
        if self._parsed is not None:
            self._apply(row, where)
        else:
            self._check_new(row, where)
        self.buf += row.line()
        self.count += 1
        self.head = row

    def _parse(self, raw: bytes, seq: int) -> Row:
        try:
            row = Row.parse(raw)
        except ValueError as exc:
            raise self._bad(seq, f"is not valid ({exc})") from None
        if row.seq != seq:
            raise self._bad(seq, f"is not valid (it is for entry {row.seq})")
        return row

    def _check_new(self, row: Row, where: Path) -> None:
        """Without the maps: the id and reference of a new row must not be known yet."""
        problem = None
        if row.kind == "record":
            if self.find_id(row.id) is not None:
                problem = f"repeats the id {row.id}"
            elif row.reference is None or self.reference_row(row.reference) is not None:
                problem = f"repeats the reference {row.reference}"
        elif row.record_id is not None and self.record_row(row.record_id) is None:
            problem = f"is an {row.kind} for record {row.record_id}, which is not stored before it"
        elif self.find_id(row.id) is not None:
            problem = f"repeats the id {row.id}"
        if problem:
            raise StoreCorrupt(
                f"{where}: entry {row.seq} {problem}. Stop the kiosk and run "
                "`ims-kiosk verify` (see docs/storage.md).",
                path=where,
            )

    def _apply(self, row: Row, where: Path) -> None:
        parsed = self._parsed
        assert parsed is not None
        expected_prev = parsed.rows[-1].sha256 if parsed.rows else GENESIS_HASH
        if row.seq != len(parsed.rows) + 1 or row.prev_sha256 != expected_prev:
            raise StoreCorrupt(
                f"{where}: entry {row.seq} ({row.kind} {row.id}) does not follow entry "
                f"{len(parsed.rows)} in the chain (removed, changed or reordered). Stop the "
                "kiosk and run `ims-kiosk verify` (see docs/storage.md).",
                path=where,
            )
        if row.kind == "record":
            if row.id in parsed.by_id or row.id in parsed.event_ids:
                problem: str | None = f"repeats the id {row.id}"
            elif row.reference is None or row.reference in parsed.by_ref:
                problem = f"repeats the reference {row.reference}"
            else:
                problem = None
        elif row.record_id is not None and row.record_id not in parsed.by_id:
            problem = f"is an {row.kind} for record {row.record_id}, which is not stored before it"
        elif row.record_id is None and row.kind != "audit":
            problem = "is an event for no record"
        elif row.id in parsed.event_ids or row.id in parsed.by_id:
            problem = f"repeats the id {row.id}"
        else:
            problem = None
        if problem:
            raise StoreCorrupt(
                f"{where}: entry {row.seq} {problem}. Stop the kiosk and run "
                "`ims-kiosk verify` (see docs/storage.md).",
                path=where,
            )
        parsed.rows.append(row)
        if row.kind == "record":
            assert row.reference is not None
            parsed.by_id[row.id] = row.seq
            parsed.by_ref[row.reference] = row.seq
            parsed.events_of[row.id] = []
            bisect.insort(parsed.by_time, (row.timestamp, row.seq))
        elif row.kind == "event":
            assert row.record_id is not None
            parsed.events_of[row.record_id].append(row.seq)
            parsed.event_ids.add(row.id)
        else:
            parsed.event_ids.add(row.id)
            parsed.audit_count += 1
            if row.subject is not None:
                parsed.by_subject.setdefault(row.subject, []).append(row.seq)

    def full(self) -> Parsed:
        """Every line decoded and checked (fields, order, links, unique ids): once."""
        if self._parsed is None:
            parsed = self._parsed = Parsed()
            try:
                body = bytes(self.buf[:-1]).replace(b"\n", b",")
                values = pydantic_core.from_json(b"[" + body + b"]") if body else []
            except (ValueError, RecursionError):
                values = None
            if values is None or len(values) != self.count:
                # Find the line at fault, one by one (slow, and only for a damaged index).
                self._parsed = None
                for seq, raw in enumerate(bytes(self.buf).split(b"\n")[:-1], 1):
                    self._parse(raw, seq)
                raise self._bad(self.count, "is not valid")
            try:
                for seq, value in enumerate(values, 1):
                    try:
                        row = Row.from_json(value)
                    except ValueError as exc:
                        raise self._bad(seq, f"is not valid ({exc})") from None
                    if row.seq != seq:
                        raise self._bad(seq, f"is not valid (it is for entry {row.seq})")
                    self._apply(row, self.path)
            except BaseException:
                self._parsed = None
                raise
            del parsed
        return self._parsed

    @property
    def parsed(self) -> bool:
        return self._parsed is not None

    # -- lookups ----------------------------------------------------------------------

    def _line_at(self, pos: int) -> Row:
        start = self.buf.rfind(b"\n", 0, pos) + 1
        end = self.buf.find(b"\n", pos)
        raw = bytes(self.buf[start:end])
        try:
            return Row.parse(raw)
        except ValueError as exc:
            seq = self.buf.count(b"\n", 0, start) + 1
            raise self._bad(seq, f"is not valid ({exc})") from None

    def _unique(self, needle: bytes, what: str) -> Row | None:
        pos = self.buf.find(needle)
        if pos < 0:
            return None
        if self.buf.find(needle, pos + len(needle)) >= 0:
            raise StoreCorrupt(
                f"{self.path}: the index lists {what} twice. {INDEX_HINT}", path=self.path
            )
        return self._line_at(pos)

    def record_row(self, record_id: str) -> Row | None:
        if self._parsed is not None:
            seq = self._parsed.by_id.get(record_id)
            return None if seq is None else self._parsed.rows[seq - 1]
        row = self._unique(b'"id":"%s","kind":"record"' % record_id.encode(), f"record {record_id}")
        return row if row is not None and row.id == record_id and row.kind == "record" else None

    def reference_row(self, reference: str) -> Row | None:
        if self._parsed is not None:
            seq = self._parsed.by_ref.get(reference)
            return None if seq is None else self._parsed.rows[seq - 1]
        needle = b'"reference":"%s"' % reference.encode("utf-8", "replace")
        row = self._unique(needle, f"reference {reference}")
        return row if row is not None and row.reference == reference else None

    def find_id(self, entry_id: str) -> int | None:
        """The entry (record or event) with that id, if any."""
        if self._parsed is not None:
            seq = self._parsed.by_id.get(entry_id)
            if seq is not None or entry_id not in self._parsed.event_ids:
                return seq
            return next(r.seq for r in self._parsed.rows if r.id == entry_id)
        row = self._unique(b'"id":"%s","kind":' % entry_id.encode(), f"id {entry_id}")
        return row.seq if row is not None and row.id == entry_id else None

    def events_of(self, record_id: str) -> list[Row]:
        if self._parsed is not None:
            rows = self._parsed.rows
            return [rows[seq - 1] for seq in self._parsed.events_of.get(record_id, [])]
        needle = b'"record_id":"%s","reference":null' % record_id.encode()
        found: list[Row] = []
        pos = self.buf.find(needle)
        while pos >= 0:
            row = self._line_at(pos)
            if row.kind == "event" and row.record_id == record_id:
                found.append(row)
            pos = self.buf.find(needle, pos + len(needle))
        return sorted(found, key=lambda r: r.seq)

    def rows_after(self, seq: int) -> list[Row]:
        """Lines ``seq + 1`` to the last, decoded (only those: found from the end)."""
        if self._parsed is not None:
            return list(self._parsed.rows[seq:])
        wanted = self.count - seq
        if wanted <= 0:
            return []
        end = len(self.buf) - 1  # the last newline
        start = end
        for _ in range(wanted):
            start = self.buf.rfind(b"\n", 0, start)
        lines = bytes(self.buf[start + 1 : end]).split(b"\n")
        return [self._parse(raw, seq + n) for n, raw in enumerate(lines, 1)]

    def record_count(self) -> int:
        if self._parsed is not None:
            return len(self._parsed.by_id)
        return self.buf.count(b'"kind":"record"')

    def audit_count(self) -> int:
        if self._parsed is not None:
            return self._parsed.audit_count
        return self.buf.count(b'"kind":"audit"')

    def subject_rows(self, subject: str | None) -> list[Row]:
        """Audit entries about one account (or every account, for None), chain order."""
        parsed = self.full()
        if subject is None:
            seqs = sorted(seq for seqs in parsed.by_subject.values() for seq in seqs)
        else:
            seqs = parsed.by_subject.get(subject, [])
        return [parsed.rows[seq - 1] for seq in seqs]

    def row(self, seq: int) -> Row:
        """Entry ``seq``'s line (decoded on demand)."""
        if self._parsed is not None:
            return self._parsed.rows[seq - 1]
        if seq == self.count and self.head is not None:
            return self.head
        start = 0
        for _ in range(seq - 1):
            start = self.buf.index(b"\n", start) + 1
        return self._parse(bytes(self.buf[start : self.buf.index(b"\n", start)]), seq)
