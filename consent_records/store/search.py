"""The records browser's search index for the embedded store: fast, private, rebuildable.

What it holds: per record, what :class:`~consent_records.query.SearchRow` holds (patient
name and its folded words, date of birth, chart number, reference, physiotherapist, flags,
missed quiz items, substitute, content version, the status its events led to and when it
was countersigned), in columns, with sorted word, reference and chart lists for prefix
search and the records in newest-first order. A search answers exactly what
:func:`consent_records.query.evaluate` answers (tests/store/test_search_index.py compares
them on random records and queries); it only does less work: the text narrows the
candidates through the sorted lists, statuses are judged from numbers, and whole
``SearchRow`` / ``Standing`` objects are made for the rows of the page alone.

Where it lives: ``search/records.idx`` in the data directory, owner-only (0600 in a 0700
folder, opened through :mod:`~consent_records.store.layout` like every store file), because
it holds patient names. It is a cache of the entries and never trusted over them:

* it names the chain position and entry hash it was built up to; if that entry's hash is
  not what the chain holds now (a restore, another store), or the file is damaged in any
  way, it is rebuilt from the entry files (reporting progress);
* it is caught up from the entries appended since (another process's records and events
  appear on the next search), under the store's lock for the moment it takes to list them;
* opening a record always reads its entry files, never the index; ``backup`` does not copy
  it (the copy builds its own); ``verify`` notes an index that disagrees with the entries.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pydantic_core

from consent_records.base import StoreCorrupt
from consent_records.chain import canonical_json
from consent_records.lifecycle import (
    INITIAL_STATUS,
    ConsentRules,
    ConsentStatus,
    fold,
    judge,
)
from consent_records.model import ConsentRecord, Decision
from consent_records.query import (
    _UNSPACED,
    ListedRecord,
    Page,
    RecordQuery,
    SearchRow,
    SortKey,
    TextSearch,
    fold_chart,
    fold_name,
)
from consent_records.storage import atomic_write_bytes
from consent_records.store.entries import EntryProblem, Row, read_ahead, split_entry
from consent_records.store.layout import (
    FILE_MODE,
    MAX_SEARCH_INDEX_BYTES,
    SEARCH_DIR,
    SEARCH_INDEX_NAME,
    FileRefused,
    check_dir,
    entry_file,
    make_dir,
    read_file,
)
from consent_records.store.messages import RESTORE_HINT, unreadable

if TYPE_CHECKING:
    from consent_records.store.engine import TinyDBStore

log = logging.getLogger("consent_records.store")

Progress = Callable[[int, int], None]
PROGRESS_EVERY = 500
FORMAT = "ims-consent-kiosk-search-index"
VERSION = 1
SAVE_AFTER = 200
"""Write the file again once this many entries were caught up since it was written."""
TAIL_MAX = 2000
"""Keys added since the sorted lists were made, scanned one by one until re-sorted."""

_STATUSES = {status.value: status for status in ConsentStatus}
_STATUS_ORDER = {status: index for index, status in enumerate(ConsentStatus)}
_MICRO = timedelta(microseconds=1)
_DAY_US = 86_400_000_000

# The columns, in the file and in memory (each a list, one item per record).
_STR_COLUMNS = (
    "id",
    "reference",
    "name",
    "words",
    "dob",
    "chart",
    "completed",
    "physio",
    "language",
    "version",
    "base",
)
_INT_COLUMNS = ("flags", "missed")
_BOOL_COLUMNS = ("substitute",)
_OPT_COLUMNS = ("consented",)
COLUMNS = _STR_COLUMNS + _INT_COLUMNS + _BOOL_COLUMNS + _OPT_COLUMNS


def _us(moment: datetime) -> int:
    """An aware time as integer microseconds since the epoch (exact, orderable)."""
    offset = moment.utcoffset()
    naive = moment.replace(tzinfo=None)
    return (naive - datetime(1970, 1, 1)) // _MICRO - (offset // _MICRO if offset else 0)


def _ints(value: Any, count: int, *, optional: bool = False) -> list[Any]:
    """A saved list of ``count`` integers (or None where ``optional``); ValueError if not."""
    allowed = {int, type(None)} if optional else {int}
    if not isinstance(value, list) or len(value) != count or not set(map(type, value)) <= allowed:
        raise ValueError("a saved list has the wrong length or types")
    return value


def _optional_us(text: str | None) -> int | None:
    return None if text is None else _us(datetime.fromisoformat(text))


class _Prefixes:
    """Sorted (key, position) pairs for prefix lookups, plus a short unsorted tail."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.positions: list[int] = []
        self.tail: list[tuple[str, int]] = []

    def load(self, pairs: Iterable[tuple[str, int]]) -> None:
        ordered = sorted(pairs)
        self.keys = [k for k, _ in ordered]
        self.positions = [p for _, p in ordered]
        self.tail = []

    def add(self, key: str, position: int) -> None:
        self.tail.append((key, position))
        if len(self.tail) > TAIL_MAX:
            self.merge()

    def merge(self) -> None:
        if self.tail:
            self.load([*zip(self.keys, self.positions, strict=True), *self.tail])

    def remove_position(self, position: int, keys: Iterable[str]) -> None:
        """Forget ``position`` under ``keys`` (a record's words when its row is replaced)."""
        for key in set(keys):
            start = bisect.bisect_left(self.keys, key)
            end = bisect.bisect_right(self.keys, key)
            for i in range(start, end):
                if self.positions[i] == position:
                    del self.keys[i]
                    del self.positions[i]
                    break
        self.tail = [(k, p) for k, p in self.tail if p != position]

    def starting(self, prefix: str) -> set[int]:
        keys = self.keys
        start = bisect.bisect_left(keys, prefix)
        end = bisect.bisect_left(keys, prefix + "\U0010ffff", start)
        # Every key in [start, end) starts with the prefix (keys are at most a name long).
        found = set(self.positions[start:end])
        found.update(p for k, p in self.tail if k.startswith(prefix))
        return found

    def containing(self, text: str) -> set[int]:
        found = {p for k, p in zip(self.keys, self.positions, strict=True) if text in k}
        found.update(p for k, p in self.tail if text in k)
        return found


class SearchIndex:
    """The search columns of every record up to chain position ``seq`` (entry hash ``head``)."""

    def __init__(self) -> None:
        self.cols: dict[str, list[Any]] = {name: [] for name in COLUMNS}
        self.position: dict[str, int] = {}
        self.seq = 0
        self.head = ""
        self.saved_seq = 0
        """The chain position the file on disk was written at."""
        self._completed_us: list[int] = []
        self._consented_us: list[int | None] = []
        self._newest: list[int] = []
        """Every position, newest first (ties by record id, as evaluate breaks them)."""
        self._words = _Prefixes()
        self._refs = _Prefixes()
        self._charts = _Prefixes()
        self._dob: dict[str, list[int]] | None = None
        """Positions by date of birth, made on the first search by date."""
        self._by_base: dict[str, list[int]] | None = None

    def __len__(self) -> int:
        return len(self.cols["id"])

    # -------------------------------------------------------------- building

    def _derive(self, saved: dict[str, Any] | None = None) -> None:
        """The numbers, order and sorted lists, from the columns (after a bulk add), or as
        saved with them (``saved``, checked for shape: a cache, never trusted over the
        entries, which a record's page always reads)."""
        cols = self.cols
        count = len(cols["id"])
        self.position = {rid: i for i, rid in enumerate(cols["id"])}
        if len(self.position) != count:
            raise ValueError("a record is listed twice")
        self._by_base = None
        if saved is not None:
            self._completed_us = _ints(saved["completed_us"], count)
            self._consented_us = _ints(saved["consented_us"], count, optional=True)
            self._newest = _ints(saved["newest"], count)
            if len(set(self._newest)) != count or (
                count and (max(self._newest) >= count or min(self._newest) < 0)
            ):
                raise ValueError("the order is not a permutation")
            for name, prefixes in self._prefix_lists():
                keys, positions = saved[f"{name}_keys"], saved[f"{name}_positions"]
                if not isinstance(keys, list) or not set(map(type, keys)) <= {str}:
                    raise ValueError(f"{name} keys are not text")
                prefixes.keys = keys
                prefixes.positions = _ints(positions, len(keys))
                if keys and (max(prefixes.positions) >= count or min(prefixes.positions) < 0):
                    raise ValueError(f"{name} points past the records")
                prefixes.tail = []
        else:
            completed = [_us(datetime.fromisoformat(t)) for t in cols["completed"]]
            self._completed_us = completed
            self._consented_us = [_optional_us(t) for t in cols["consented"]]
            ids = cols["id"]
            self._newest = sorted(range(count), key=lambda i: (-completed[i], ids[i]))
            self._words.load(
                (word, i) for i, words in enumerate(cols["words"]) for word in words.split()
            )
            self._refs.load((ref.replace("-", ""), i) for i, ref in enumerate(cols["reference"]))
            self._charts.load((chart, i) for i, chart in enumerate(cols["chart"]) if chart)
        self._dob = None
        if not set(cols["base"]) <= _STATUSES.keys():
            raise ValueError("unknown status")

    def _prefix_lists(self) -> tuple[tuple[str, _Prefixes], ...]:
        return (("words", self._words), ("refs", self._refs), ("charts", self._charts))

    def put(self, values: dict[str, Any]) -> None:
        """Add a record's row, or replace it (its status changed)."""
        cols = self.cols
        self._by_base = None
        record_id = values["id"]
        at = self.position.get(record_id)
        if at is not None:
            old_words = cols["words"][at].split()
            for name in COLUMNS:
                cols[name][at] = values[name]
            self._consented_us[at] = (
                None
                if values["consented"] is None
                else _us(datetime.fromisoformat(values["consented"]))
            )
            new_words = values["words"].split()
            if old_words != new_words:  # (never: a record's name does not change)
                self._words.remove_position(at, old_words)
                for word in new_words:
                    self._words.add(word, at)
            return
        at = len(cols["id"])
        for name in COLUMNS:
            cols[name].append(values[name])
        self.position[record_id] = at
        completed = _us(datetime.fromisoformat(values["completed"]))
        self._completed_us.append(completed)
        self._consented_us.append(
            None
            if values["consented"] is None
            else _us(datetime.fromisoformat(values["consented"]))
        )
        ids, times = cols["id"], self._completed_us
        bisect.insort(self._newest, at, key=lambda i: (-times[i], ids[i]))
        for word in values["words"].split():
            self._words.add(word, at)
        self._refs.add(values["reference"].replace("-", ""), at)
        if values["chart"]:
            self._charts.add(values["chart"], at)
        if self._dob is not None:
            self._dob.setdefault(values["dob"], []).append(at)

    def extend(self, rows: list[dict[str, Any]]) -> None:
        """Add many records' rows at once (a build): one sort instead of one per row."""
        if len(rows) < TAIL_MAX:
            for values in rows:
                self.put(values)
            return
        cols = self.cols
        for values in rows:
            if values["id"] in self.position:
                self.put(values)
                continue
            for name in COLUMNS:
                cols[name].append(values[name])
            self.position[values["id"]] = len(cols["id"]) - 1
        self._derive()

    # -------------------------------------------------------------- the file

    def to_bytes(self) -> bytes:
        doc: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "seq": self.seq,
            "head": self.head,
            "columns": self.cols,
            "completed_us": self._completed_us,
            "consented_us": self._consented_us,
            "newest": self._newest,
        }
        for name, prefixes in self._prefix_lists():
            prefixes.merge()
            doc[f"{name}_keys"] = prefixes.keys
            doc[f"{name}_positions"] = prefixes.positions
        return canonical_json(doc)

    @classmethod
    def from_bytes(cls, blob: bytes) -> SearchIndex:
        """A saved index (ValueError when it is not a complete, well-formed one)."""
        try:
            doc = pydantic_core.from_json(blob)
        except (ValueError, RecursionError):
            raise ValueError("not JSON") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError("not a search index")
        if doc.get("version") != VERSION:
            raise ValueError("another version")
        seq, head, cols = doc.get("seq"), doc.get("head"), doc.get("columns")
        if not isinstance(seq, int) or not isinstance(head, str) or not isinstance(cols, dict):
            raise ValueError("no position")
        if set(cols) != set(COLUMNS) or not all(isinstance(v, list) for v in cols.values()):
            raise ValueError("wrong columns")
        count = len(cols["id"])
        if any(len(v) != count for v in cols.values()):
            raise ValueError("columns of different lengths")
        for names, allowed in (
            (_STR_COLUMNS, {str}),
            (_INT_COLUMNS, {int}),
            (_BOOL_COLUMNS, {bool}),
            (_OPT_COLUMNS, {str, type(None)}),
        ):
            for name in names:
                if not set(map(type, cols[name])) <= allowed:
                    raise ValueError(f"the column {name} holds a wrong type")
        index = cls()
        index.cols = cols
        index.seq = index.saved_seq = seq
        index.head = head
        try:
            index._derive(doc)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"incomplete ({exc})") from None
        return index

    # -------------------------------------------------------------- searching

    def _text_candidates(self, search: TextSearch) -> set[int]:
        found: set[int] = set()
        if search.name_tokens:
            named: set[int] | None = None
            for token in search.name_tokens:
                hits = self._words.starting(token)
                if _UNSPACED.search(token) is not None:
                    hits |= self._words.containing(token)
                named = hits if named is None else named & hits
                if not named:
                    break
            found |= named or set()
        if search.reference_prefix:
            found |= self._refs.starting(search.reference_prefix)
        if search.chart_prefix:
            found |= self._charts.starting(search.chart_prefix)
        if search.date_of_birth is not None:
            if self._dob is None:
                self._dob = {}
                for i, dob in enumerate(self.cols["dob"]):
                    self._dob.setdefault(dob, []).append(i)
            found.update(self._dob.get(search.date_of_birth.isoformat(), ()))
        return found

    def page(self, query: RecordQuery, rules: ConsentRules) -> Page:
        """What :func:`consent_records.query.evaluate` returns over these rows."""
        cols = self.cols
        search = query.search
        candidates: Iterable[int] = (
            self._text_candidates(search) if search is not None else range(len(self))
        )
        # Filters that need no status.
        if query.physiotherapist_ids:
            physio, wanted = cols["physio"], query.physiotherapist_ids
            candidates = [i for i in candidates if physio[i] in wanted]
        if query.completed_from is not None or query.completed_to is not None:
            low = query.completed_from.isoformat() if query.completed_from else ""
            high = query.completed_to.isoformat() if query.completed_to else "\uffff"
            completed = cols["completed"]
            candidates = [i for i in candidates if low <= completed[i][:10] <= high]
        for name, flag in (
            ("flags", query.has_flags),
            ("missed", query.has_missed_questions),
        ):
            if flag is not None:
                column = cols[name]
                candidates = [i for i in candidates if (column[i] > 0) is flag]
        if query.has_substitute is not None:
            column, flag = cols["substitute"], query.has_substitute
            candidates = [i for i in candidates if column[i] is flag]
        # Statuses at as_of: only an active consent can be judged otherwise.
        if isinstance(candidates, range):
            groups = self._groups()
        else:
            groups = {}
            base = cols["base"]
            for i in candidates:
                groups.setdefault(base[i], []).append(i)
        counts: Counter[ConsentStatus] = Counter()
        status_of: dict[int, ConsentStatus] = {}
        kept: list[int] = []
        for value, members in groups.items():
            status = _STATUSES[value]
            if status is ConsentStatus.ACTIVE:
                self._judge_active(members, query, rules, counts, status_of, kept)
                continue
            if query.expiring_soon is True or not members:
                continue  # only an active consent can expire soon
            counts[status] += len(members)
            if not query.statuses or status in query.statuses:
                kept.extend(members)
        total = len(kept)
        end = query.offset + query.limit
        chosen = self._ordered(kept, query, status_of, end)
        window = chosen[query.offset : end]
        return Page(
            items=tuple(self._listed(i, query, rules) for i in window),
            total=total,
            counts={status: counts.get(status, 0) for status in ConsentStatus},
            offset=query.offset,
            limit=query.limit,
        )

    def _groups(self) -> dict[str, list[int]]:
        """Every record's position by base status (kept until a row changes)."""
        if self._by_base is None:
            groups: dict[str, list[int]] = {}
            for i, value in enumerate(self.cols["base"]):
                groups.setdefault(value, []).append(i)
            self._by_base = groups
        return self._by_base

    def _judge_active(
        self,
        members: list[int],
        query: RecordQuery,
        rules: ConsentRules,
        counts: Counter[ConsentStatus],
        status_of: dict[int, ConsentStatus],
        kept: list[int],
    ) -> None:
        """:func:`consent_records.lifecycle.judge` for active consents, on numbers."""
        now = _us(query.as_of)
        valid = rules.valid_days * _DAY_US
        soon_until = now + rules.expiring_within_days * _DAY_US
        changed: dict[str, bool] = {}
        version, consented = self.cols["version"], self._consented_us
        for i in members:
            at = consented[i]
            status = ConsentStatus.ACTIVE
            soon = False
            if at is not None:
                expires = at + valid
                if now >= expires:
                    status = ConsentStatus.EXPIRED
                else:
                    v = version[i]
                    if v not in changed:
                        changed[v] = bool(rules.history.material_since(v))
                    if changed[v]:
                        status = ConsentStatus.RECONSENT_NEEDED
                    soon = expires <= soon_until
            if query.expiring_soon is not None and soon is not query.expiring_soon:
                continue
            counts[status] += 1
            if not query.statuses or status in query.statuses:
                status_of[i] = status
                kept.append(i)

    def _ordered(
        self, kept: list[int], query: RecordQuery, status_of: dict[int, ConsentStatus], end: int
    ) -> list[int]:
        """``kept`` in the query's order (at least its first ``end``); ``status_of``: the
        judged status of active consents (others have their base status)."""
        completed, ids = self._completed_us, self.cols["id"]
        if query.sort is SortKey.COMPLETED_AT and query.descending:
            if len(kept) * 8 < len(self):
                return sorted(kept, key=lambda i: (-completed[i], ids[i]))
            order = self._newest_first()
            if len(kept) == len(self):
                return order[:end]
            wanted = set(kept)
            newest: list[int] = []
            for i in order:
                if i in wanted:
                    newest.append(i)
                    if len(newest) >= end:
                        break
            return newest
        base_order = sorted(kept, key=lambda i: (-completed[i], ids[i]))
        if query.sort is SortKey.COMPLETED_AT:
            base_order.sort(key=lambda i: completed[i], reverse=query.descending)
        elif query.sort is SortKey.PATIENT_NAME:
            words = self.cols["words"]
            base_order.sort(key=lambda i: words[i], reverse=query.descending)
        else:
            base = self.cols["base"]
            base_order.sort(
                key=lambda i: _STATUS_ORDER[status_of.get(i) or _STATUSES[base[i]]],
                reverse=query.descending,
            )
        return base_order

    def _newest_first(self) -> list[int]:
        return self._newest

    def row(self, i: int) -> SearchRow:
        cols = self.cols
        consented = cols["consented"][i]
        return SearchRow(
            record_id=cols["id"][i],
            reference=cols["reference"][i],
            patient_name=cols["name"][i],
            name_words=tuple(cols["words"][i].split()),
            date_of_birth=date.fromisoformat(cols["dob"][i]),
            chart=cols["chart"][i],
            completed_at=datetime.fromisoformat(cols["completed"][i]),
            physiotherapist_id=cols["physio"][i],
            flag_count=cols["flags"][i],
            missed_count=cols["missed"][i],
            has_substitute=cols["substitute"][i],
            content_language=cols["language"][i],
            content_version=cols["version"][i],
            base_status=_STATUSES[cols["base"][i]],
            consented_at=None if consented is None else datetime.fromisoformat(consented),
        )

    def _listed(self, i: int, query: RecordQuery, rules: ConsentRules) -> ListedRecord:
        row = self.row(i)
        standing = judge(row.base_status, row.consented_at, row.content_version, query.as_of, rules)
        return ListedRecord(row, standing)


# ------------------------------------------------------------------ rows from entries


def values_of_row(row: SearchRow) -> dict[str, Any]:
    """A :class:`SearchRow` as the index's column values."""
    return {
        "id": row.record_id,
        "reference": row.reference,
        "name": row.patient_name,
        "words": " ".join(row.name_words),
        "dob": row.date_of_birth.isoformat(),
        "chart": row.chart,
        "completed": row.completed_at.isoformat(),
        "physio": row.physiotherapist_id,
        "language": row.content_language,
        "version": row.content_version,
        "base": row.base_status.value,
        "flags": row.flag_count,
        "missed": row.missed_count,
        "substitute": row.has_substitute,
        "consented": None if row.consented_at is None else row.consented_at.isoformat(),
    }


def values_of_record_json(data: dict[str, Any]) -> dict[str, Any]:
    """The column values of a record without events, from its hash-checked stored JSON
    (what :func:`SearchRow.of` gives for its model, without validating the whole record:
    the store validated it when it was saved). KeyError/TypeError/ValueError if malformed."""
    patient = data["patient"]
    completed = datetime.fromisoformat(data["completed_at"])
    return {
        "id": data["id"],
        "reference": data["reference"],
        "name": patient["full_name"],
        "words": fold_name(patient["full_name"]),
        "dob": date.fromisoformat(patient["date_of_birth"]).isoformat(),
        "chart": fold_chart(patient.get("chart_number") or ""),
        "completed": completed.isoformat(),
        "physio": data["physiotherapist"]["id"],
        "language": data["content"]["language"],
        "version": data["content"]["version"],
        "base": INITIAL_STATUS[Decision(data["decision"])].value,
        "flags": len(data["flags"]),
        "missed": sum(1 for answer in data["quiz"] if not answer["first_correct"]),
        "substitute": data.get("substitute") is not None,
        "consented": None,
    }


# ------------------------------------------------------------------ the store's side


def _load_file(store: TinyDBStore) -> SearchIndex | None:
    """The saved index if it belongs to this chain, else None (it is then rebuilt)."""
    path = store.data_dir / SEARCH_INDEX_NAME
    try:
        blob = read_file(path, MAX_SEARCH_INDEX_BYTES)
    except FileNotFoundError:
        return None
    except OSError as exc:
        reason = exc.sentence() if isinstance(exc, FileRefused) else str(exc)
        log.warning("the search index %s is not used (%s); rebuilding it", path, reason)
        return None
    try:
        index = SearchIndex.from_bytes(blob)
    except (ValueError, TypeError, KeyError) as exc:
        log.warning("the search index %s is damaged (%s); rebuilding it", path, exc)
        return None
    return index


def _save_file(store: TinyDBStore, index: SearchIndex) -> None:
    if store.read_only:
        return
    root = store.data_dir
    try:
        blob = index.to_bytes()  # before taking the lock: only the write is under it
        with store._locked(write=True, doing="saving the search index"):
            if not check_dir(root / SEARCH_DIR):
                make_dir(root / SEARCH_DIR)
            atomic_write_bytes(root / SEARCH_INDEX_NAME, blob, mode=FILE_MODE)
        index.saved_seq = index.seq
    except Exception as exc:  # a cache: the search works without it
        log.warning("the search index could not be saved (%s); it is rebuilt next time", exc)


def _rows_since(store: TinyDBStore, seq: int) -> list[Row]:
    """Index rows after ``seq`` (under the lock), decoding only those."""
    index = store._index
    if index.parsed or index.count - seq > 5000:
        return list(index.full().rows[seq:])
    return index.rows_after(seq)


def _catch_up(store: TinyDBStore, index: SearchIndex, progress: Progress | None) -> None:
    """Bring ``index`` up to the chain's head: new records, and records with new events."""
    with store._locked(write=False):
        store._refresh()
        if index.seq and (
            index.seq > store._index.count or store._index.row(index.seq).sha256 != index.head
        ):
            raise ValueError("the index is not of this chain")
        new = _rows_since(store, index.seq)
        touched = dict.fromkeys(
            r.record_id for r in new if r.kind == "event" and r.record_id is not None
        )
        if len(touched) > 20:
            store._index.full()  # then each lookup below is a dictionary's, not a byte scan
        events_of = {rid: store._index.events_of(rid) for rid in touched}
        record_rows: dict[str, Row] = {}
        for rid in events_of:
            found = store._index.record_row(rid)
            assert found is not None
            record_rows[rid] = found
    if not new:
        return
    # Entry files are written once: read without the lock. New records first (fast path:
    # their JSON, hash-checked), then every record that has events (folded from models).
    root = os.fspath(store.data_dir)
    records = [r for r in new if r.kind == "record"]
    total = len({r.id for r in records} | set(events_of))
    done = 0
    first = records[0].seq if records else 0
    by_seq = {r.seq: r for r in records}
    added: list[dict[str, Any]] = []
    if records:
        for seq, got in read_ahead(root, records[-1].seq, first):
            row = by_seq.get(seq)
            if row is None:
                continue
            path = entry_file(root, seq)
            if isinstance(got, BaseException):
                what = (
                    "is missing (removed)"
                    if isinstance(got, FileNotFoundError)
                    else got.reason
                    if isinstance(got, FileRefused)
                    else None
                )
                if what is not None:
                    problem = EntryProblem(path, seq, what)
                    raise StoreCorrupt(f"{problem} {RESTORE_HINT}", path=problem.path)
                raise unreadable(store.data_dir, path, got)
            try:
                raw = split_entry(got, path, seq)
                if raw.sha256 != row.sha256:
                    raise EntryProblem(path, seq, "does not match the index (changed)")
            except EntryProblem as problem:
                raise StoreCorrupt(f"{problem} {RESTORE_HINT}", path=problem.path) from None
            if row.record_id not in events_of:
                added.append(values_of_record_json(raw.data()))
                done += 1
                if progress is not None and done % PROGRESS_EVERY == 0:
                    progress(done, total)
    for record_id, event_rows in events_of.items():
        entry = store._load_row(record_rows[record_id])
        record = entry.model
        assert isinstance(record, ConsentRecord)
        events = [store._stored_event(r).event for r in event_rows]
        added.append(values_of_row(SearchRow.of(record, fold(record, events))))
        done += 1
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(done, total)
    index.extend(added)
    index.seq, index.head = new[-1].seq, new[-1].sha256
    if progress is not None:
        progress(total, total)


def prepare(store: TinyDBStore, progress: Progress | None = None) -> SearchIndex:
    """The store's search index, loaded or built, caught up to the chain's head."""
    index = store.search_index
    if not isinstance(index, SearchIndex):
        index = _load_file(store) or SearchIndex()
    try:
        _catch_up(store, index, progress)
    except (ValueError, KeyError, TypeError, AssertionError) as exc:
        if index.seq == 0 and not len(index):
            raise
        log.warning("the search index does not match the entries (%s); rebuilding it", exc)
        index = SearchIndex()
        _catch_up(store, index, progress)
    store.search_index = index
    if index.seq - index.saved_seq >= SAVE_AFTER or (index.saved_seq == 0 and index.seq):
        _save_file(store, index)
    return index


def save_on_close(store: TinyDBStore) -> None:
    with _THREADS:
        index = store.search_index
        if isinstance(index, SearchIndex) and index.seq != index.saved_seq:
            with contextlib.suppress(Exception):
                _save_file(store, index)


_THREADS = threading.Lock()


def rebuild(store: TinyDBStore, progress: Progress | None) -> int:
    """A new index from the entries alone (the saved one is not read), saved."""
    with _THREADS:
        index = SearchIndex()
        _catch_up(store, index, progress)
        store.search_index = index
        _save_file(store, index)
        return len(index)


def search_store(
    store: TinyDBStore, query: RecordQuery, rules: ConsentRules, progress: Progress | None
) -> Page:
    # One thread at a time builds, catches up or reads an index (a staff app searches from
    # worker threads); another process is kept out by the store's lock where it matters.
    with _THREADS:
        return prepare(store, progress).page(query, rules)
