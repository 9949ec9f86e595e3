"""The staff browser's search in SQL answers page for page what ``query.evaluate`` answers.

One chain of varied synthetic records (accents, apostrophes, hyphens, scripts without spaces,
substitutes, flags, every status including expired and re-consent needed) is searched with
many queries; each page (items in order, total, counts per status) must equal the
specification's over the same records.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from consent_records.lifecycle import ConsentRules, ConsentStatus, fold
from consent_records.model import (
    ContentStamp,
    Decision,
    Patient,
    QuizAnswer,
    Signature,
    SignatureMethod,
    SubstituteDecisionMaker,
)
from consent_records.query import RecordQuery, SearchRow, SortKey, evaluate
from content.history import ContentHistory, ContentRevision
from tests.event_factories import countersigned, declined, discussed, withdrawn
from tests.store.conftest import CONTENT_JSON, CONTENT_SHA, make_record

pytest.importorskip("psycopg")

NAMES = [
    "Renée Bélanger-Côté",
    "Björn Gagnon",
    "Siobhán O'Brien",
    "Łukasz Nowak",
    "Zoë Tremblay",
    "李小龍",
    "Nguyễn Thị Lan",
    "Ægir Ødegård",
    "Mary-Kate Smith",
    "renee belanger",
    "Ahmad Al-Farsi",
    "José María García",
]
AS_OF = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
RULES = ConsentRules(
    valid_days=365,
    expiring_within_days=30,
    history=ContentHistory(
        revisions=(
            ContentRevision(version="2026.2", material=True, what_changed="Risks rewritten."),
            ContentRevision(version="2026.1", material=False, what_changed="First version."),
        )
    ),
)


def _substitute(n: int, completed: datetime) -> dict[str, Any]:
    """Every sixth record is filled in by a substitute; every fifth had no quiz slip."""
    fields: dict[str, Any] = {}
    if n % 5 == 0:
        fields["quiz"] = [QuizAnswer(question_id="q-needle", attempts=["b"], first_correct=True)]
    if n % 6 == 0:
        fields["substitute"] = SubstituteDecisionMaker(
            full_name="Pat Guardian", relationship="parent"
        )
        fields["signature"] = Signature(
            method=SignatureMethod.TYPED,
            typed_name="Pat Guardian",
            signed_at=completed,
            signer="substitute",
        )
    return fields


@pytest.fixture(scope="module")
def searched(pg_database: Any) -> Any:
    from consent_records.pg.engine import open_pg_store

    store = open_pg_store(pg_database.app_dsn, chain="search")
    store.archive_content(CONTENT_SHA, CONTENT_JSON)
    rng = random.Random(7)
    rows = []
    for n in range(72):
        version = "2026.1" if n % 5 else "2026.2"
        # Some active consents expire within the 30 days after AS_OF, some have expired.
        days = {5: 350, 13: 400}.get(n % 16, rng.randint(0, 500))
        completed = AS_OF - timedelta(days=days, minutes=n)
        record = make_record(
            n,
            patient=Patient(
                full_name=NAMES[n % len(NAMES)],
                date_of_birth=date(1950 + n % 50, 1 + n % 12, 1 + n % 27),
                chart_number=None if n % 7 == 0 else f"AB {n:04d}",
                age_years=40,
            ),
            completed_at=completed,
            started_at=completed - timedelta(minutes=10),
            **_substitute(n, completed),
            physiotherapist={"id": ["physio-1", "physio-2"][n % 2], "name": "Demo Physio"},
            content=ContentStamp(version=version, language="en", sha256=CONTENT_SHA),
        )
        store.save_record(record)
        events: list[Any] = []
        if record.decision is not Decision.DECLINE and n % 4:
            events.append(discussed(record))
            if n % 4 == 1:
                events.append(countersigned(record))
                if n % 8 == 1:
                    events.append(withdrawn(record))
            elif n % 4 == 2:
                events.append(declined(record))
        for event in events:
            store.append_event(event)
        rows.append(SearchRow.of(record, fold(record, events)))
    yield store, rows
    store.close()


QUERIES: list[dict[str, Any]] = [
    {},
    {"limit": 7, "offset": 14},
    {"text": "renee"},
    {"text": "BELANGER cote"},
    {"text": "obrien"},
    {"text": "o'bri"},
    {"text": "lukasz"},
    {"text": "odegard aegir"},
    {"text": "小龍"},
    {"text": "nguyen lan"},
    {"text": "ab 00"},
    {"text": "1951-02-02"},
    {"text": "zz"},
    {"statuses": {ConsentStatus.ACTIVE, ConsentStatus.EXPIRED}},
    {"statuses": {ConsentStatus.RECONSENT_NEEDED}},
    {"statuses": {ConsentStatus.WITHDRAWN}, "sort": SortKey.PATIENT_NAME},
    {"physiotherapist_ids": {"physio-1"}, "has_flags": True},
    {"has_missed_questions": False, "has_substitute": True},
    {"expiring_soon": True},
    {"expiring_soon": False, "limit": 500},
    {"completed_from": date(2025, 6, 1), "completed_to": date(2026, 1, 31)},
    {"sort": SortKey.PATIENT_NAME, "descending": False, "limit": 500},
    {"sort": SortKey.PATIENT_NAME, "limit": 500},
    {"sort": SortKey.STATUS, "limit": 500},
    {"sort": SortKey.STATUS, "descending": False, "limit": 20, "offset": 5},
    {"sort": SortKey.COMPLETED_AT, "descending": False, "limit": 500},
]


@pytest.mark.parametrize("fields", QUERIES, ids=lambda f: repr(sorted(f)) if f else "all")
def test_sql_search_matches_the_specification(searched: Any, fields: dict[str, Any]) -> None:
    store, rows = searched
    query = RecordQuery(as_of=AS_OF, **fields)
    expected = evaluate(rows, query, RULES)
    got = store.search(query, RULES)
    # Every query but the one meant to find nothing finds something (a test of two empty
    # pages would prove nothing).
    assert (expected.total == 0) == (fields.get("text") == "zz")
    assert [i.row.record_id for i in got.items] == [i.row.record_id for i in expected.items]
    assert [i.status for i in got.items] == [i.status for i in expected.items]
    assert (got.total, dict(got.counts)) == (expected.total, dict(expected.counts))
    assert got.items == expected.items


def test_the_parity_data_covers_every_status(searched: Any) -> None:
    store, _ = searched
    counts = store.search(RecordQuery(as_of=AS_OF), RULES).counts
    assert {s for s, n in counts.items() if n} >= {
        ConsentStatus.AWAITING_DISCUSSION,
        ConsentStatus.DECLINED_AT_KIOSK,
        ConsentStatus.ACTIVE,
        ConsentStatus.EXPIRED,
        ConsentStatus.RECONSENT_NEEDED,
        ConsentStatus.WITHDRAWN,
        ConsentStatus.DECLINED_AFTER_DISCUSSION,
    }
