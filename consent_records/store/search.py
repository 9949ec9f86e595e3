"""The records browser's search index for the embedded store.

One :class:`~consent_records.query.SearchRow` per record (patient name, date of birth,
chart number, reference, physiotherapist, flags, the status its events led to), held in
memory and caught up from the entries appended since it was last looked at, so a record
saved by the kiosk in another process is in the next search. A search is
:func:`consent_records.query.evaluate` over those rows: the specification itself.

The rows come from the entries and are never trusted over them: opening a record reads
its entry files, never the index.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from consent_records.lifecycle import ConsentRules, fold
from consent_records.model import ConsentRecord
from consent_records.query import Page, RecordQuery, SearchRow, evaluate
from consent_records.store.entries import Row

if TYPE_CHECKING:
    from consent_records.store.engine import TinyDBStore

Progress = Callable[[int, int], None]
PROGRESS_EVERY = 500


class SearchIndex:
    """Search rows by record id, up to chain position ``seq``."""

    def __init__(self) -> None:
        self.rows: dict[str, SearchRow] = {}
        self.seq = 0

    def catch_up(
        self,
        store: TinyDBStore,
        new: list[Row],
        events_of: dict[str, list[Row]],
        record_rows: dict[str, Row],
        progress: Progress | None,
    ) -> None:
        """Take in the entries ``new`` (chain order, from ``self.seq + 1``).

        ``events_of`` and ``record_rows``: every event and the record row of each record
        that ``new`` touches, as the index held them when ``new`` was taken.
        """
        touched: dict[str, None] = {}
        for row in new:
            if row.kind == "record" or (row.kind == "event" and row.record_id is not None):
                assert row.record_id is not None
                touched[row.record_id] = None
        total = len(touched)
        for done, record_id in enumerate(touched, 1):
            record_row = record_rows[record_id]
            entry = store._load_row(record_row)
            record = entry.model
            assert isinstance(record, ConsentRecord)
            events = [store._stored_event(r).event for r in events_of.get(record_id, [])]
            self.rows[record_id] = SearchRow.of(record, fold(record, events))
            if progress is not None and done % PROGRESS_EVERY == 0:
                progress(done, total)
        if new:
            self.seq = new[-1].seq
        if progress is not None:
            progress(total, total)


def search_store(
    store: TinyDBStore, query: RecordQuery, rules: ConsentRules, progress: Progress | None
) -> Page:
    index = store.search_index
    if not isinstance(index, SearchIndex):
        index = store.search_index = SearchIndex()
    with store._locked(write=False):
        store._refresh()
        parsed = store._index.full()
        new = parsed.rows[index.seq :]
        touched = {r.record_id for r in new if r.kind != "audit" and r.record_id is not None}
        events_of = {
            rid: [parsed.rows[seq - 1] for seq in parsed.events_of.get(rid, [])] for rid in touched
        }
        record_rows = {rid: parsed.rows[parsed.by_id[rid] - 1] for rid in touched}
    # Entry files are written once: read without holding the lock.
    index.catch_up(store, list(new), events_of, record_rows, progress)
    return evaluate(index.rows.values(), query, rules)
