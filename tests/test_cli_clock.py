"""A wall clock stepped back during a session (NTP, an admin fixing the time): the record
is saved, with both wall-clock stamps as read, the duration measured on the monotonic clock,
a log line, and a PDF that says what happened."""

from __future__ import annotations

import io
import logging
import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader

from kiosk.demo import fill_session
from kiosk.services import KioskServices
from kiosk.settings import Settings
from tests.conftest import FIXED_NOW


def test_a_clock_stepped_back_mid_session_still_saves(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wall = [FIXED_NOW]
    ticks = [1000.0]
    services = KioskServices(Settings(), tmp_path / "data", clock=lambda: wall[0])
    services.prepare()
    session = services.new_session()
    session.monotonic = lambda: ticks[0]
    session._started_monotonic = ticks[0]
    signature = fill_session(session, random.Random(3))
    ticks[0] += 600  # ten minutes on the path ...
    wall[0] = FIXED_NOW - timedelta(hours=1) + timedelta(minutes=10)  # ... and NTP stepped back
    caplog.set_level(logging.WARNING, logger="kiosk.session")
    for _attempt in range(2):  # not "a raw validation error on every retry"
        saved = services.save(session, signature)
        stored = services.find(saved.reference)
        session = services.new_session()
        session.monotonic = lambda: ticks[0]
        session._started_monotonic = ticks[0] - 600
        session.started_at = FIXED_NOW
        signature = fill_session(session, random.Random(4))
    record = stored.record
    assert record.completed_at < record.started_at
    assert record.elapsed_seconds == pytest.approx(600)
    assert record.clock_step_seconds == pytest.approx(-3600)
    assert any("wall clock moved -3600 s" in r.getMessage() for r in caplog.records)
    pdf = services.render_pdf(stored)
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "clock was set back by 60 min 00 s" in " ".join(text.split())
    assert "10 min 00 s" in text
    services.close()
    assert isinstance(FIXED_NOW, datetime)
