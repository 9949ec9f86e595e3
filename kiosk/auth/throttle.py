"""Sign-in throttling, derived from an account's audited history (so it survives restarts).

After 5 wrong passwords in a row an account must wait before the next password is checked,
15 seconds at first, doubling with each further failure up to 15 minutes; after 20 in a
row it is locked until an admin unlocks it. A successful sign-in, an admin's unlock or an
admin's password reset starts the count again. (NIST SP 800-63B allows at most 100
consecutive failures; 20 keeps an online guesser to a handful of guesses a day per
account, while a staff member who mistypes a few times waits seconds, not hours.)

Only ``wrong_password`` failures count: a try while waiting or locked is not checked at all
(so guessing during the wait gains nothing), and is not counted (so an attacker cannot turn
a delay into a lock faster). :func:`decide_login` puts the order of checks in one place,
and gives the same sentence for an unknown user name, a wrong password, a wait and a lock,
so the sign-in screen never says whether a user name exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from consent_records.audit import (
    AccountEvent,
    AccountUnlocked,
    LoginFailed,
    LoginFailure,
    LoginSucceeded,
    PasswordReason,
    PasswordSet,
)
from kiosk.auth.accounts import StaffAccount


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    delay_after: int = 5
    lock_after: int = 20
    first_delay: timedelta = timedelta(seconds=15)
    max_delay: timedelta = timedelta(minutes=15)

    def __post_init__(self) -> None:
        if not 0 < self.delay_after < self.lock_after:
            raise ValueError("the delay must start before the lock")

    def delay(self, failures: int) -> timedelta:
        """The wait after ``failures`` wrong passwords in a row (zero below the threshold)."""
        if failures < self.delay_after:
            return timedelta(0)
        doublings = min(failures - self.delay_after, 32)
        delay: timedelta = self.first_delay * (2**doublings)
        return min(delay, self.max_delay)


@dataclass(frozen=True, slots=True)
class Open:
    """The password may be checked now."""

    failures: int


@dataclass(frozen=True, slots=True)
class Wait:
    """Too many failures in a row: no password is checked before ``until``."""

    failures: int
    until: datetime


@dataclass(frozen=True, slots=True)
class Locked:
    """Locked until an admin unlocks it (or resets the password)."""

    failures: int
    since: datetime


Gate = Open | Wait | Locked

_RESETS = (LoginSucceeded, AccountUnlocked)


def failures_in_a_row(history: Iterable[AccountEvent]) -> tuple[int, datetime | None]:
    """Wrong passwords since the last reset, and the time of the last one."""
    count, last = 0, None
    for event in history:
        if isinstance(event, _RESETS) or (
            isinstance(event, PasswordSet) and event.reason is PasswordReason.RESET
        ):
            count, last = 0, None
        elif isinstance(event, LoginFailed) and event.reason is LoginFailure.WRONG_PASSWORD:
            count, last = count + 1, event.at
    return count, last


def login_gate(
    history: Iterable[AccountEvent], now: datetime, policy: ThrottlePolicy | None = None
) -> Gate:
    """Whether a password for this account may be checked at ``now``.

    ``history`` is the account's events (any kinds; those of other accounts must be left
    out by the caller), in chain order.
    """
    policy = policy or ThrottlePolicy()
    failures, last = failures_in_a_row(history)
    if last is None:
        return Open(failures)
    if failures >= policy.lock_after:
        return Locked(failures, last)
    until = last + policy.delay(failures)
    return Wait(failures, until) if now < until else Open(failures)


GENERIC_FAILURE = (
    "That user name and password do not let you sign in now. Check them and try again. "
    "After 5 failed tries in a row an account must wait a little before the next try, and "
    "after 20 it is locked until a clinic admin unlocks it."
)
DISABLED = "This account is disabled. Ask a clinic admin if you need it again."
CREDENTIAL_MISMATCH = (
    "This account's stored password does not match the audit log, so it cannot be used. "
    "A clinic admin should run `ims-kiosk verify` and reset this account's password."
)


@dataclass(frozen=True, slots=True)
class LoginDecision:
    ok: bool
    failure: LoginFailure | None
    """What to audit for an existing account (None on success or for an unknown name)."""
    message: str | None
    """What the sign-in screen says (None on success)."""


def decide_login(
    account: StaffAccount | None,
    gate: Gate,
    password_ok: bool,
    *,
    credential_matches: bool = True,
) -> LoginDecision:
    """The outcome of one sign-in attempt.

    The services always run the password check (against a dummy hash for an unknown name,
    or while waiting or locked), so every attempt takes the same time, and pass its result
    as ``password_ok``; it is used only when the account exists and may be checked now.
    ``credential_matches`` says whether the stored hash's commitment is the one the audit
    chain last recorded for the account (a swapped hash is refused even with its password).
    """
    if account is None:
        return LoginDecision(False, None, GENERIC_FAILURE)
    if isinstance(gate, Locked):
        return LoginDecision(False, LoginFailure.LOCKED, GENERIC_FAILURE)
    if isinstance(gate, Wait):
        return LoginDecision(False, LoginFailure.THROTTLED, GENERIC_FAILURE)
    if not password_ok:
        return LoginDecision(False, LoginFailure.WRONG_PASSWORD, GENERIC_FAILURE)
    if not credential_matches:
        return LoginDecision(False, LoginFailure.CREDENTIAL_MISMATCH, CREDENTIAL_MISMATCH)
    if account.disabled:
        return LoginDecision(False, LoginFailure.DISABLED, DISABLED)
    return LoginDecision(True, None, None)
