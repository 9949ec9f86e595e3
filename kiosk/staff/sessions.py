"""A signed-in staff session and its time limits.

A session is issued by :meth:`kiosk.staff.services.StaffServices.login` and only sessions
the same services object issued are accepted (a hand-made ``StaffSession`` with an admin
role is refused). It ends when the person signs out, after ``staff_idle_timeout_seconds``
(default 300) without activity, and in any case 12 hours after sign-in (then they sign in
again). The role and physiotherapist link are re-read from the audited account at each
operation, so an admin's change (a disabled account, a new role) applies at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from consent_records.audit import LogoutReason
from consent_records.events import Role, StaffActor, Terminal

SESSION_LIMIT = timedelta(hours=12)
"""A forced sign-in again after this long, however active the session."""


@dataclass(slots=True, eq=False)
class StaffSession:
    """One signed-in person at one terminal (mutable: the services keep it current)."""

    user_name: str
    display_name: str
    role: Role
    physiotherapist_id: str | None
    terminal: Terminal
    started_at: datetime
    last_active: datetime
    id: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    ended: LogoutReason | None = None
    """Why it ended (None while open)."""

    @property
    def is_open(self) -> bool:
        return self.ended is None

    @property
    def actor(self) -> StaffActor:
        """Who this session acts as, for the events it appends."""
        return StaffActor(
            user=self.user_name,
            display_name=self.display_name,
            role=self.role,
            terminal=self.terminal,
        )

    @property
    def expires_at(self) -> datetime:
        """When the 12-hour limit ends it."""
        return self.started_at + SESSION_LIMIT

    def expiry(self, now: datetime, idle: timedelta) -> LogoutReason | None:
        """Why the session must end at ``now`` (idle or the 12-hour limit), or None."""
        if now >= self.expires_at:
            return LogoutReason.SESSION_LIMIT
        if now - self.last_active >= idle:
            return LogoutReason.IDLE
        return None


ENDED_SENTENCE: dict[LogoutReason, str] = {
    LogoutReason.USER: "You have signed out. Sign in again to continue.",
    LogoutReason.IDLE: (
        "You were signed out after a time without activity, and patient details were "
        "cleared from the screen. Sign in again to continue."
    ),
    LogoutReason.SESSION_LIMIT: (
        "You have been signed in for 12 hours, so you were signed out. Sign in again to continue."
    ),
}
