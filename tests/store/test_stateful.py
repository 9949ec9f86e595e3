"""A Hypothesis state machine drives the store against an in-memory model."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from consent_records.base import GENESIS_HASH, RecordNotFound
from consent_records.model import EventKind
from consent_records.store import TinyDBStore, open_store

from .conftest import make_event, make_record, open_new
from .harness import SimulatedCrash, inject, temp_files

EVENT_KINDS = list(EventKind)


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="store-machine-"))
        self.data = self.tmp / "data"
        self.store: TinyDBStore = open_new(self.data, lock_timeout=5)
        self.records: dict[str, list[str]] = {}  # record id -> event ids, in order
        self.order: list[str] = []  # every entry id in chain order
        self.heads: list[str] = [GENESIS_HASH]
        self.n = 0

    @initialize()
    def empty(self) -> None:
        assert self.store.count() == (0, 0)

    def _next(self) -> int:
        self.n += 1
        return self.n

    @rule()
    def add_record(self) -> None:
        record = make_record(self._next())
        stored = self.store.save_record(record)
        assert stored.entry.seq == len(self.order) + 1
        assert stored.entry.prev_sha256 == self.heads[-1]
        self.records[record.id] = []
        self.order.append(record.id)
        self.heads.append(stored.entry.sha256)

    @precondition(lambda self: bool(self.records))
    @rule(pick=st.integers(min_value=0), kind=st.sampled_from(EVENT_KINDS))
    def append_event(self, pick: int, kind: EventKind) -> None:
        record_id = sorted(self.records)[pick % len(self.records)]
        event = make_event(record_id, kind, self._next())
        stored = self.store.append_event(event)
        assert stored.entry.prev_sha256 == self.heads[-1]
        self.records[record_id].append(event.id)
        self.order.append(event.id)
        self.heads.append(stored.entry.sha256)

    @rule()
    def event_for_unknown_record(self) -> None:
        try:
            self.store.append_event(make_event("e" * 32, n=self._next()))
        except RecordNotFound:
            return
        raise AssertionError("an event for an unknown record was stored")

    @rule()
    def reopen(self) -> None:
        self.store.close()
        self.store = open_store(self.data, lock_timeout=5)

    @rule(k=st.integers(min_value=1, max_value=40), event=st.booleans())
    def crash_during_save(self, k: int, event: bool) -> None:
        """Power cut just before the k-th file system call of a save, then restart."""
        crashed = self.tmp / "crashed"
        if event and self.records:
            record_id = sorted(self.records)[k % len(self.records)]
            item = make_event(record_id, EventKind.NOTE, self._next())
            save = lambda: self.store.append_event(item)  # noqa: E731
        else:
            record_id = None
            item = make_record(self._next())  # type: ignore[assignment]
            save = lambda: self.store.save_record(item)  # type: ignore[arg-type]  # noqa: E731
        with inject(k, crash_copy=(self.data, crashed)) as crash:
            try:
                stored = save()
            except SimulatedCrash:
                stored = None
        self.store.close()
        if crash.fired:
            shutil.rmtree(self.data)
            crashed.rename(self.data)
        self.store = open_store(self.data, lock_timeout=5)
        assert not temp_files(self.data)
        records, events = self.store.count()
        expected = len(self.order)
        present = records + events
        assert present in (expected, expected + 1)
        if stored is not None:
            assert present == expected + 1
        if present == expected + 1:  # the save reached its commit point before the crash
            if record_id is None:
                self.records[item.id] = []
            else:
                self.records[record_id].append(item.id)
            self.order.append(item.id)
            self.heads.append(self.store.chain_head())

    @invariant()
    def matches_model(self) -> None:
        assert self.store.count() == (
            len(self.records),
            sum(len(v) for v in self.records.values()),
        )
        assert self.store.chain_head() == self.heads[-1]
        for record_id, events in list(self.records.items())[-3:]:
            stored = self.store.get(record_id)
            assert [e.event.id for e in stored.events] == events
            assert stored.chain_head == self.heads[-1]

    def teardown(self) -> None:
        try:
            report = self.store.verify()
            assert report.ok, report.problem
            assert report.records == len(self.records)
            self.store.close()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


StoreMachine.TestCase.settings = settings(
    max_examples=50,  # the store is real (files, fsync): 50 runs of 20 steps each
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestStoreMachine = StoreMachine.TestCase
