"""Sign-in delay and lock, derived from the audited history; the sign-in decision."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from consent_records.audit import (
    AccountEvent,
    AccountUnlocked,
    LoginFailed,
    LoginFailure,
    LoginSucceeded,
    PasswordReason,
    PasswordSet,
)
from consent_records.events import Role
from kiosk.auth.accounts import StaffAccount
from kiosk.auth.throttle import (
    CREDENTIAL_MISMATCH,
    DISABLED,
    GENERIC_FAILURE,
    Locked,
    Open,
    ThrottlePolicy,
    Wait,
    decide_login,
    failures_in_a_row,
    login_gate,
)
from tests.event_factories import ADMIN, JLEE

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=ZoneInfo("America/Edmonton"))


def failed(n: int, reason: LoginFailure = LoginFailure.WRONG_PASSWORD) -> LoginFailed:
    return LoginFailed(at=T0 + timedelta(seconds=n), actor=JLEE, subject="jlee", reason=reason)


def fails(count: int, start: int = 0) -> list[AccountEvent]:
    return [failed(start + i) for i in range(count)]


def test_delay_doubles_from_the_fifth_failure_and_is_capped() -> None:
    policy = ThrottlePolicy()
    assert [policy.delay(n).total_seconds() for n in range(4, 12)] == [
        0,
        15,
        30,
        60,
        120,
        240,
        480,
        900,
    ]
    assert policy.delay(19) == timedelta(minutes=15)
    with pytest.raises(ValueError, match="before the lock"):
        ThrottlePolicy(delay_after=20, lock_after=20)


def test_four_failures_keep_the_account_open() -> None:
    assert login_gate(fails(4), T0 + timedelta(seconds=4)) == Open(4)


def test_five_failures_make_it_wait_then_open_again() -> None:
    history = fails(5)
    last = history[-1].at
    assert login_gate(history, last) == Wait(5, last + timedelta(seconds=15))
    assert login_gate(history, last + timedelta(seconds=14)) == Wait(
        5, last + timedelta(seconds=15)
    )
    assert login_gate(history, last + timedelta(seconds=15)) == Open(5)


def test_twenty_in_a_row_lock_until_an_admin_unlocks() -> None:
    history = fails(20)
    assert login_gate(history, T0 + timedelta(days=30)) == Locked(20, history[-1].at)
    unlock = AccountUnlocked(at=T0 + timedelta(days=1), actor=ADMIN, subject="jlee")
    assert login_gate([*history, unlock], T0 + timedelta(days=1)) == Open(0)
    reset = PasswordSet(
        at=T0 + timedelta(days=1),
        actor=ADMIN,
        subject="jlee",
        reason=PasswordReason.RESET,
        credential_sha256="a" * 64,
    )
    assert login_gate([*history, reset], T0 + timedelta(days=1)) == Open(0)
    own_change = reset.model_copy(update={"reason": PasswordReason.CHANGED})
    assert isinstance(login_gate([*history, own_change], T0 + timedelta(days=1)), Locked)


def test_a_success_resets_the_count() -> None:
    ok = LoginSucceeded(at=T0 + timedelta(seconds=30), actor=JLEE, subject="jlee")
    history = [*fails(19), ok, *fails(3, start=40)]
    assert failures_in_a_row(history)[0] == 3
    assert login_gate(history, T0 + timedelta(minutes=5)) == Open(3)


def test_uncounted_failures_neither_lock_nor_extend() -> None:
    history = [
        *fails(5),
        *(failed(10 + i, LoginFailure.THROTTLED) for i in range(50)),
        failed(99, LoginFailure.LOCKED),
        failed(100, LoginFailure.DISABLED),
    ]
    assert failures_in_a_row(history) == (5, T0 + timedelta(seconds=4))


def test_the_gate_survives_a_restart_because_it_is_only_the_history() -> None:
    history = fails(7)
    first = login_gate(history, T0 + timedelta(seconds=10))
    again = login_gate(list(history), T0 + timedelta(seconds=10))  # a new process, same events
    assert first == again == Wait(7, history[-1].at + timedelta(seconds=60))


ACCOUNT = StaffAccount(
    user_name="jlee",
    display_name="Jordan Lee",
    role=Role.PHYSIO,
    physiotherapist_id="jlee",
    disabled=False,
    created_at=T0,
    credential_sha256="a" * 64,
)


@pytest.mark.parametrize(
    ("account", "gate", "password_ok", "failure", "message"),
    [
        (None, Open(0), False, None, GENERIC_FAILURE),
        (None, Open(0), True, None, GENERIC_FAILURE),
        (ACCOUNT, Open(0), False, LoginFailure.WRONG_PASSWORD, GENERIC_FAILURE),
        (ACCOUNT, Wait(5, T0), True, LoginFailure.THROTTLED, GENERIC_FAILURE),
        (ACCOUNT, Locked(20, T0), True, LoginFailure.LOCKED, GENERIC_FAILURE),
        (ACCOUNT, Locked(20, T0), False, LoginFailure.LOCKED, GENERIC_FAILURE),
    ],
)
def test_failures_look_the_same_whether_or_not_the_user_exists(
    account: StaffAccount | None,
    gate: Open | Wait | Locked,
    password_ok: bool,
    failure: LoginFailure | None,
    message: str,
) -> None:
    decision = decide_login(account, gate, password_ok)
    assert (decision.ok, decision.failure, decision.message) == (False, failure, message)


def test_success_disabled_and_a_swapped_hash() -> None:
    assert decide_login(ACCOUNT, Open(3), True).ok
    disabled = decide_login(replace(ACCOUNT, disabled=True), Open(0), True)
    assert (disabled.ok, disabled.failure, disabled.message) == (
        False,
        LoginFailure.DISABLED,
        DISABLED,
    )
    swapped = decide_login(ACCOUNT, Open(0), True, credential_matches=False)
    assert (swapped.failure, swapped.message) == (
        LoginFailure.CREDENTIAL_MISMATCH,
        CREDENTIAL_MISMATCH,
    )
