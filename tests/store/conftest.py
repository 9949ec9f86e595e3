"""Synthetic records for the store tests (synthetic names only, never real data)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from consent_records.chain import canonical_json
from consent_records.model import (
    STATUS_AT_SIGNING,
    ConsentRecord,
    ContentStamp,
    Decision,
    EventKind,
    Patient,
    Physiotherapist,
    Point,
    QuizAnswer,
    RecordEvent,
    ScreeningAnswer,
    ScreeningAnswerValue,
    ScreeningFlag,
    SectionEngagement,
    Signature,
    SignatureMethod,
)
from consent_records.store import TinyDBStore, open_store

CONTENT_JSON = canonical_json({"sections": ["what-is-ims", "risks"], "version": "test-1"})
CONTENT_SHA = hashlib.sha256(CONTENT_JSON).hexdigest()

_FIRST = ["Test", "Sample", "Demo", "Fixture", "Synthetic", "Example"]
_LAST = ["Patient", "Person", "Record", "Subject", "Case", "Entry"]
BASE_TIME = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def make_record(n: int = 0, *, rng: random.Random | None = None, **overrides: Any) -> ConsentRecord:
    """A valid synthetic record, about 3 KB of JSON (a drawn signature)."""
    rng = rng or random.Random(n)
    decision = [Decision.AGREE, Decision.DECLINE, Decision.DISCUSS][n % 3]
    completed = BASE_TIME + timedelta(minutes=17 * n)
    screening = [
        ScreeningAnswer(question_id="pacemaker", answer=ScreeningAnswerValue.NO),
        ScreeningAnswer(
            question_id="blood-thinners",
            answer=ScreeningAnswerValue.YES if n % 4 == 0 else ScreeningAnswerValue.NO,
        ),
    ]
    flags = [
        ScreeningFlag(question_id=a.question_id, answer=a.answer, reason="Discuss before needling")
        for a in screening
        if a.flagged
    ]
    strokes = [
        [Point(x=round(rng.uniform(0, 60), 2), y=round(rng.uniform(0, 8), 2)) for _ in range(40)]
        for _ in range(2)
    ]
    fields: dict[str, Any] = {
        "clinic_name": "Synthetic Test Clinic",
        "kiosk_id": "kiosk-test",
        "app_version": "0.1.0",
        "started_at": completed - timedelta(minutes=12),
        "completed_at": completed,
        "physiotherapist": Physiotherapist(id="physio-1", name="Demo Physio"),
        "patient": Patient(
            full_name=f"{_FIRST[n % 6]} {_LAST[(n // 6) % 6]} {n}",
            date_of_birth=date(1960 + n % 40, 1 + n % 12, 1 + n % 28),
            chart_number=f"T-{n:06d}",
            age_years=30 + n % 40,
        ),
        "content": ContentStamp(version="test-1", language="en", sha256=CONTENT_SHA),
        "engagement": [
            SectionEngagement(section_id="what-is-ims", seconds_on_screen=42.5, reached_end=True),
            SectionEngagement(section_id="risks", seconds_on_screen=61.0, reached_end=True),
        ],
        "quiz": [
            QuizAnswer(question_id="q-needle", attempts=["b"], first_correct=True),
            QuizAnswer(question_id="q-risk", attempts=["a", "c"], first_correct=False),
        ],
        "screening": screening,
        "flags": flags,
        "statements_confirmed": ["understood-risks", "may-withdraw"],
        "decision": decision,
        "status": STATUS_AT_SIGNING[decision],
        "signature": Signature(
            method=SignatureMethod.DRAWN,
            typed_name=f"{_FIRST[n % 6]} {_LAST[(n // 6) % 6]} {n}",
            signed_at=completed,
            strokes=strokes,
            pad_width=60,
            pad_height=8,
        ),
    }
    fields.update(overrides)
    return ConsentRecord(**fields)


def make_event(
    record_id: str, kind: EventKind = EventKind.NOTE, n: int = 0, **overrides: Any
) -> RecordEvent:
    fields: dict[str, Any] = {
        "record_id": record_id,
        "kind": kind,
        "at": BASE_TIME + timedelta(days=1, minutes=n),
        "actor": "staff-test",
        "note": f"Synthetic note {n}" if kind is EventKind.NOTE else None,
    }
    fields.update(overrides)
    return RecordEvent(**fields)


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def open_new(data_dir: Path, **options: Any) -> TinyDBStore:
    """Open (or create) a store with the test content archived, as the kiosk does before
    its first save (a record can only be saved once the content it points at is kept)."""
    store = open_store(data_dir, **options)
    store.archive_content(CONTENT_SHA, CONTENT_JSON)
    return store


@pytest.fixture
def store(store_dir: Path) -> Iterator[TinyDBStore]:
    s = open_new(store_dir, lock_timeout=5)
    yield s
    s.close()
