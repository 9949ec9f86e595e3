"""Staff accounts folded from audited events; checks on account changes; no hash in audit."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from consent_records.audit import (
    ACCOUNT_EVENT,
    AccountChanged,
    AccountCreated,
    AccountDisabled,
    AccountEnabled,
    AccountEvent,
    LoginFailed,
    LoginFailure,
    LoginSucceeded,
    PasswordReason,
    PasswordSet,
)
from consent_records.events import Role, SystemActor, Terminal, TerminalKind
from kiosk.auth.accounts import (
    AccountProblem,
    check_disable_or_demote,
    check_new_account,
    check_role_link,
    fold_accounts,
    physio_link_problem,
)
from kiosk.auth.passwords import TEST_PARAMETERS, Passwords, credential_commitment
from tests.event_factories import ADMIN

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=ZoneInfo("America/Edmonton"))
SETUP = SystemActor(type="cli", name="users add", terminal=Terminal(kind=TerminalKind.HOST, id="s"))
PHYSIOS = {"jlee", "akim"}


def at(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def created(user: str, role: Role, n: int, physio: str | None = None) -> AccountCreated:
    actor = SETUP if n == 0 else ADMIN
    return AccountCreated(
        at=at(n),
        actor=actor,
        subject=user,
        display_name=user.title(),
        role=role,
        physiotherapist_id=physio,
    )


def history() -> list[AccountEvent]:
    return [
        created("office", Role.ADMIN, 0),
        PasswordSet(
            at=at(0),
            actor=SETUP,
            subject="office",
            reason=PasswordReason.CREATED,
            credential_sha256="1" * 64,
        ),
        created("jlee", Role.PHYSIO, 1, "jlee"),
        LoginSucceeded(at=at(2), actor=ADMIN, subject="office"),
        AccountChanged(at=at(3), actor=ADMIN, subject="jlee", display_name="Jordan Lee"),
        AccountDisabled(at=at(4), actor=ADMIN, subject="jlee"),
        created("jlee", Role.ADMIN, 5),  # a second creation of one name is ignored
        AccountChanged(at=at(6), actor=ADMIN, subject="ghost", role=Role.ADMIN),
    ]


def test_accounts_fold_from_their_events() -> None:
    accounts = fold_accounts(history())
    assert set(accounts) == {"office", "jlee"}
    jlee = accounts["jlee"]
    assert (jlee.display_name, jlee.role, jlee.physiotherapist_id, jlee.disabled) == (
        "Jordan Lee",
        Role.PHYSIO,
        "jlee",
        True,
    )
    assert accounts["office"].credential_sha256 == "1" * 64
    enabled = fold_accounts([*history(), AccountEnabled(at=at(9), actor=ADMIN, subject="jlee")])
    assert not enabled["jlee"].disabled


def test_a_physio_made_admin_loses_the_link() -> None:
    change = AccountChanged(
        at=at(9), actor=ADMIN, subject="jlee", role=Role.ADMIN, clear_physiotherapist=True
    )
    jlee = fold_accounts([*history(), change])["jlee"]
    assert (jlee.role, jlee.physiotherapist_id) == (Role.ADMIN, None)


def test_new_accounts_are_checked() -> None:
    accounts = fold_accounts(history())
    with pytest.raises(AccountProblem, match="already an account named jlee"):
        check_new_account(accounts, "jlee", Role.PHYSIO, "jlee", PHYSIOS)
    check_new_account(accounts, "akim", Role.PHYSIO, "akim", PHYSIOS)
    with pytest.raises(AccountProblem, match="must name the physiotherapist"):
        check_role_link(Role.PHYSIO, None, PHYSIOS)
    with pytest.raises(AccountProblem, match="no physiotherapist with the id mlopez"):
        check_role_link(Role.PHYSIO, "mlopez", PHYSIOS)
    with pytest.raises(AccountProblem, match="admins do not countersign"):
        check_role_link(Role.ADMIN, "jlee", PHYSIOS)


def test_the_last_admin_stays() -> None:
    accounts = fold_accounts(history())
    with pytest.raises(AccountProblem, match="only admin who can sign in"):
        check_disable_or_demote(accounts, "office")
    check_disable_or_demote(accounts, "jlee")
    two = fold_accounts([*history(), created("boss", Role.ADMIN, 9)])
    check_disable_or_demote(two, "office")


def test_a_physio_removed_from_the_settings_cannot_act_clinically() -> None:
    jlee = fold_accounts(history())["jlee"]
    assert physio_link_problem(jlee, PHYSIOS) is None
    problem = physio_link_problem(jlee, {"akim"})
    assert problem is not None and "no longer list" in problem
    assert physio_link_problem(fold_accounts(history())["office"], set()) is None


def test_audit_entries_never_hold_a_password_or_its_hash() -> None:
    passwords = Passwords(TEST_PARAMETERS)
    secret = "correct horse battery staple"
    phc = passwords.hash(secret)
    events: list[AccountEvent] = [
        *history(),
        PasswordSet(
            at=at(9),
            actor=ADMIN,
            subject="jlee",
            reason=PasswordReason.RESET,
            credential_sha256=credential_commitment(phc),
        ),
        LoginFailed(at=at(10), actor=ADMIN, subject="jlee", reason=LoginFailure.WRONG_PASSWORD),
    ]
    for event in events:
        data = event.model_dump(mode="json")
        text = repr(data)
        assert secret not in text
        assert phc not in text and phc.split("$")[-1] not in text and "$argon2" not in text
        assert not {k for k in data if "password" in k or k == "hash"}
        assert ACCOUNT_EVENT.validate_python(data) == event
    # The models cannot be given a password field by mistake.
    with pytest.raises(ValueError, match="Extra inputs"):
        PasswordSet(
            at=at(9),
            actor=ADMIN,
            subject="jlee",
            reason=PasswordReason.RESET,
            credential_sha256="1" * 64,
            phc=phc,  # type: ignore[call-arg]
        )
