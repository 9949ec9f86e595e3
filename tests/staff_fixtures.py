"""Fixtures for the staff services: a clinic, its accounts and records, built directly.

Passwords are hashed with argon2-cffi's cheapest parameters here (``TEST_PARAMETERS``);
``tests/test_auth_passwords.py`` covers the real ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from consent_records.events import DiscussedItem, Role
from consent_records.model import ConsentRecord, Decision
from content.loader import LoadedContent, cached_content
from kiosk.auth.passwords import TEST_PARAMETERS, Passwords
from kiosk.settings import Settings
from kiosk.staff.review import RecordView
from kiosk.staff.services import StaffServices
from kiosk.staff.sessions import StaffSession
from tests.factories import DEFAULT_COMPLETED_AT, make_record

ADMIN_PASSWORD = "violet tugboat marmalade 42"
JLEE_PASSWORD = "copper kettle harbour lanterns"
AKIM_PASSWORD = "seven quiet orchards in march"

CLINIC = {
    "clinic": {"name": "Harbourview Physiotherapy (synthetic)"},
    "physiotherapists": [
        {"id": "jlee", "name": "Jordan Lee", "registration": "PT-04417"},
        {"id": "akim", "name": "Alex Kim"},
    ],
    "timezone": "America/Toronto",
}


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: DEFAULT_COMPLETED_AT + timedelta(hours=2))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Clinic:
    """One data directory with accounts: open as many terminals on it as a test needs."""

    data_dir: Path
    clock: Clock
    settings: Settings
    content: LoadedContent
    opened: list[StaffServices] = field(default_factory=list)

    def terminal(self, **overrides: Any) -> StaffServices:
        settings = Settings.model_validate({**CLINIC, **overrides}) if overrides else self.settings
        services = StaffServices(
            settings,
            self.data_dir,
            content=self.content,
            clock=self.clock,
            passwords=Passwords(TEST_PARAMETERS),
        )
        self.opened.append(services)
        return services

    def save(self, record: ConsentRecord) -> ConsentRecord:
        services = self.opened[0] if self.opened else self.terminal()
        services.store.archive_content(self.content.sha256, self.content.canonical_json)
        services.store.save_record(record)
        return record

    def record(self, **kwargs: Any) -> ConsentRecord:
        """A record made with today's content, saved."""
        n = len(self.saved)
        kwargs.setdefault("record_id", f"{n + 1:032x}")
        alphabet = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
        kwargs.setdefault("reference", f"KQ{alphabet[n // 30]}{alphabet[n % 30]}-MPRT")
        kwargs.setdefault("completed_at", DEFAULT_COMPLETED_AT + timedelta(minutes=n))
        record = make_record(self.content.bundle, content_sha256=self.content.sha256, **kwargs)
        self.saved.append(record)
        return self.save(record)

    saved: list[ConsentRecord] = field(default_factory=list)


@pytest.fixture(name="clinic")
def clinic_fixture(tmp_path: Path) -> Iterator[Clinic]:
    """A clinic with an admin (office), two physiotherapists' accounts (jlee, akim)."""
    content = cached_content("en")
    made = Clinic(
        data_dir=tmp_path / "data",
        clock=Clock(),
        settings=Settings.model_validate(CLINIC),
        content=content,
    )
    services = made.terminal()
    services.create_account(
        None, "office", role=Role.ADMIN, password=ADMIN_PASSWORD,
        display_name="Sam Ortiz", os_actor="root",
    )  # fmt: skip
    admin = services.login("office", ADMIN_PASSWORD)
    services.create_account(admin, "jlee", role=Role.PHYSIO, password=JLEE_PASSWORD)
    services.create_account(admin, "akim", role=Role.PHYSIO, password=AKIM_PASSWORD)
    services.logout(admin)
    yield made
    for opened in made.opened:
        opened.close()


def sign_in(services: StaffServices, user: str) -> StaffSession:
    password = {"office": ADMIN_PASSWORD, "jlee": JLEE_PASSWORD, "akim": AKIM_PASSWORD}[user]
    return services.login(user, password)


def discuss_all(services: StaffServices, session: StaffSession, view: RecordView) -> RecordView:
    """Record a discussion that addresses every "discuss these first" item."""
    return services.record_discussion(
        session,
        view.token,
        items=[
            DiscussedItem(item=point.item, addressed=True, note="Went over it together.")
            for point in view.discuss_first
        ],
        other="Talked about what to expect after the first session.",
    )


RecordMaker = Callable[..., ConsentRecord]
__all__ = [
    "ADMIN_PASSWORD",
    "AKIM_PASSWORD",
    "CLINIC",
    "JLEE_PASSWORD",
    "Clinic",
    "Clock",
    "Decision",
    "clinic_fixture",
    "discuss_all",
    "sign_in",
]
