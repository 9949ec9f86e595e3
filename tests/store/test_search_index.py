"""The embedded store's search index answers exactly what query.evaluate answers.

Random synthetic records (names in several scripts, charts, substitutes, every status, active
consents of different ages and content versions) and random queries; the index's file is
private, survives a restart, and is rebuilt when damaged or from another chain.
"""

from __future__ import annotations

import os
import random
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

import consent_records.store.search as search_module
from consent_records.lifecycle import ConsentRules, ConsentStatus
from consent_records.model import (
    ConsentRecord,
    ContentStamp,
    Physiotherapist,
    SubstituteDecisionMaker,
)
from consent_records.query import RecordQuery, SearchRow, SortKey, evaluate
from consent_records.store import TinyDBStore, open_store
from consent_records.store.layout import SEARCH_INDEX_NAME
from content.history import ContentHistory, ContentRevision
from tests.event_factories import AKIM, JLEE, countersigned, discussed, not_proceeding
from tests.store.conftest import BASE_TIME, CONTENT_SHA, make_record, open_new

NAMES = [
    "Björn Gagnon",
    "Renée Bélanger-Côté",
    "Siobhán O'Brien",
    "Đặng Thị Ngọc",
    "王小明",
    "Zoë Łukasiewicz",
    "Jean-François Roy",
    "Ana Sofía Núñez",
    "Ólafur Þórsson",
    "Bjorn Gagne",
]
VERSIONS = ["2026.1", "2026.2", "2026.3"]
HISTORY = ContentHistory(
    revisions=(
        ContentRevision(version="2026.3", material=False, what_changed="Wording."),
        ContentRevision(version="2026.2", material=True, what_changed="A new risk."),
        ContentRevision(version="2026.1", material=False, what_changed="First."),
    )
)
PHYSIOS = [Physiotherapist(id="jlee", name="Jordan Lee"), Physiotherapist(id="akim", name="A K")]


def _record(n: int, rng: random.Random) -> ConsentRecord:
    base = make_record(n, rng=rng)
    substitute = (
        SubstituteDecisionMaker(full_name="Guardian Person", relationship="parent")
        if n % 7 == 3
        else None
    )
    patient = base.patient.model_copy(
        update={
            "full_name": f"{rng.choice(NAMES)}{'' if n % 2 else f' {n}'}",
            "chart_number": rng.choice([None, f"C-{n % 13:03d}", f"ab {n % 5}"]),
            "date_of_birth": date(1980 + n % 3, 1 + n % 2, 1 + n % 3),
        }
    )
    signature = base.signature.model_copy(
        update={"signer": "substitute" if substitute else "patient"}
    )
    completed = BASE_TIME + timedelta(hours=n // 2)
    record = base.model_copy(
        update={
            "patient": patient,
            "substitute": substitute,
            "signature": signature,
            "physiotherapist": PHYSIOS[n % 2],
            "content": ContentStamp(version=VERSIONS[n % 3], language="en", sha256=CONTENT_SHA),
            # Equal times for some, to test the tie-break on the record id.
            "completed_at": completed,
            "started_at": completed - timedelta(minutes=12),
        }
    )
    return ConsentRecord.model_validate(record.model_dump())


def _fill(store: TinyDBStore, start: int, count: int, rng: random.Random) -> list[ConsentRecord]:
    records = []
    for n in range(start, start + count):
        record = _record(n, rng)
        store.save_record(record)
        records.append(record)
        actor = JLEE if n % 2 else AKIM
        if record.decision.value != "decline" and n % 4 != 1:
            store.append_event(discussed(record, actor=actor))
            if n % 4 == 0:
                store.append_event(countersigned(record, actor=actor))
            elif n % 4 == 2:
                store.append_event(not_proceeding(record, actor=actor))
    return records


def _queries(rng: random.Random, count: int) -> list[RecordQuery]:
    texts = ["", "b", "bj", "bjorn g", "BELANGER", "cote", "o'b", "obr", "王", "小明", "ł", "thor",
             "ab", "c-00", "1981-02-02", "1980/1/1", "K", "23", "gagn bj", "zz", " - "]  # fmt: skip
    queries = []
    for _ in range(count):
        as_of = BASE_TIME + timedelta(days=rng.choice([1, 20, 200, 400]))
        fields: dict[str, object] = {"as_of": as_of, "text": rng.choice(texts)}
        if rng.random() < 0.3:
            fields["statuses"] = frozenset(rng.sample(list(ConsentStatus), rng.randint(1, 3)))
        if rng.random() < 0.3:
            fields["physiotherapist_ids"] = frozenset({rng.choice(["jlee", "akim", "x"])})
        if rng.random() < 0.2:
            start = date(2025, 1, 6) + timedelta(days=rng.randint(0, 3))
            fields["completed_from"] = start
            fields["completed_to"] = start + timedelta(days=rng.randint(0, 2))
        for name in ("has_flags", "has_missed_questions", "has_substitute", "expiring_soon"):
            if rng.random() < 0.15:
                fields[name] = rng.random() < 0.5
        fields["sort"] = rng.choice(list(SortKey))
        fields["descending"] = rng.random() < 0.7
        fields["offset"] = rng.choice([0, 0, 3, 20])
        fields["limit"] = rng.choice([5, 50])
        queries.append(RecordQuery.model_validate(fields))
    return queries


def _expected(store: TinyDBStore, records: list[ConsentRecord]) -> list[SearchRow]:
    return [SearchRow.of(r, store.get(r.id).lifecycle) for r in records]


@pytest.mark.parametrize("tail", [2000, 7])
def test_the_index_answers_what_evaluate_answers(
    store: TinyDBStore, store_dir: Path, tail: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # tail=7: builds take the bulk path, and catching up re-sorts the prefix lists often.
    monkeypatch.setattr(search_module, "TAIL_MAX", tail)
    rng = random.Random(9)
    records = _fill(store, 0, 40, rng)
    rules = ConsentRules(valid_days=300, history=HISTORY, expiring_within_days=120)
    queries = _queries(random.Random(3), 100)
    rows = _expected(store, records)
    for query in queries:
        assert store.search(query, rules) == evaluate(rows, query, rules), query
    # Saved privately; a new process reads it and catches up another writer's entries.
    writer = open_new(store_dir)
    records += _fill(writer, 40, 15, rng)
    writer.append_event(countersigned(records[3], actor=JLEE))  # discussed earlier by jlee
    store.close()
    path = store_dir / SEARCH_INDEX_NAME
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(path.parent).st_mode & 0o777 == 0o700
    again = open_store(store_dir)
    try:
        rows = _expected(again, records)
        for query in queries[:40]:
            assert again.search(query, rules) == evaluate(rows, query, rules), query
    finally:
        again.close()
        writer.close()


def test_a_damaged_or_foreign_index_file_is_rebuilt_from_the_entries(
    store: TinyDBStore, store_dir: Path, tmp_path: Path
) -> None:
    records = _fill(store, 0, 12, random.Random(1))
    query = RecordQuery(as_of=datetime(2026, 1, 1, tzinfo=BASE_TIME.tzinfo))
    expected = evaluate(_expected(store, records), query, ConsentRules())
    assert store.search(query) == expected
    store.close()
    path = store_dir / SEARCH_INDEX_NAME
    good = path.read_bytes()
    other = tmp_path / "other"
    foreign = open_new(other)
    _fill(foreign, 100, 12, random.Random(2))
    foreign.search(query)
    foreign.close()
    for blob in (b"{not json", good.replace(b'"flags":[', b'"flags":["x",'), b"",
                 (other / SEARCH_INDEX_NAME).read_bytes()):  # fmt: skip
        path.write_bytes(blob)
        progress: list[tuple[int, int]] = []
        reopened = open_store(store_dir)
        try:
            assert reopened.search(query, progress=lambda d, t, p=progress: p.append((d, t))) == (
                expected
            )
            assert progress and progress[-1][0] == progress[-1][1] == 12
        finally:
            reopened.close()


def test_verify_notes_a_search_index_that_disagrees_with_the_entries(
    store: TinyDBStore, store_dir: Path
) -> None:
    records = _fill(store, 0, 6, random.Random(4))
    query = RecordQuery(as_of=datetime(2026, 1, 1, tzinfo=BASE_TIME.tzinfo))
    store.search(query)
    store.close()
    path = store_dir / SEARCH_INDEX_NAME
    reopened = open_store(store_dir)
    try:
        report = reopened.verify()
        assert report.ok and not any("search index" in note for note in report.notes)
        name = records[2].patient.full_name
        path.write_bytes(path.read_bytes().replace(name.encode(), b"Someone Else", 1))
        report = reopened.verify()
        assert report.ok, "a cache is not the records: they are intact"
        note = next(note for note in report.notes if "search index" in note)
        assert "disagrees" in note and "reindex" in note and name not in note
        path.write_bytes(b"{damaged")
        assert any("damaged" in note for note in reopened.verify().notes)
    finally:
        reopened.close()
