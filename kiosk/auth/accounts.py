"""Staff accounts, folded from their audited events (no store, no Textual).

An account is never a mutable row: it is what its :mod:`consent_records.audit` events say,
in chain order. Accounts are disabled, never deleted, so their history stays readable and
a user name is never reused.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from consent_records.audit import (
    AccountChanged,
    AccountCreated,
    AccountDisabled,
    AccountEnabled,
    AccountEvent,
    PasswordSet,
)
from consent_records.events import Role


class AccountProblem(Exception):
    """An account change that cannot be made; ``str(error)`` is the sentence to show."""


@dataclass(frozen=True, slots=True)
class StaffAccount:
    user_name: str
    """The sign-in name and permanent id (lower case)."""
    display_name: str
    role: Role
    physiotherapist_id: str | None
    """For a physio: the clinic settings' ``physiotherapists`` id. None for an admin."""
    disabled: bool
    created_at: datetime
    credential_sha256: str | None
    """Commitment to the current password hash (from the latest ``PasswordSet``)."""

    @property
    def is_physio(self) -> bool:
        return self.role is Role.PHYSIO


def fold_accounts(events: Iterable[AccountEvent]) -> dict[str, StaffAccount]:
    """Every account, by user name, after its events in chain order.

    Sign-in events do not change an account (throttling reads them separately). An event
    for an account that does not exist, or a second ``AccountCreated`` for a name, is
    ignored: the services never append one (they check with :func:`check_new_account`).
    """
    accounts: dict[str, StaffAccount] = {}
    for event in events:
        current = accounts.get(event.subject)
        if isinstance(event, AccountCreated):
            if current is None:
                accounts[event.subject] = StaffAccount(
                    user_name=event.subject,
                    display_name=event.display_name,
                    role=event.role,
                    physiotherapist_id=event.physiotherapist_id,
                    disabled=False,
                    created_at=event.at,
                    credential_sha256=None,
                )
            continue
        if current is None:
            continue
        if isinstance(event, AccountChanged):
            link = current.physiotherapist_id
            if event.clear_physiotherapist:
                link = None
            elif event.physiotherapist_id is not None:
                link = event.physiotherapist_id
            accounts[event.subject] = replace(
                current,
                display_name=event.display_name or current.display_name,
                role=event.role or current.role,
                physiotherapist_id=link,
            )
        elif isinstance(event, AccountDisabled | AccountEnabled):
            accounts[event.subject] = replace(current, disabled=isinstance(event, AccountDisabled))
        elif isinstance(event, PasswordSet):
            accounts[event.subject] = replace(current, credential_sha256=event.credential_sha256)
    return accounts


def _enabled_admins(accounts: Mapping[str, StaffAccount]) -> set[str]:
    return {a.user_name for a in accounts.values() if a.role is Role.ADMIN and not a.disabled}


def check_new_account(
    accounts: Mapping[str, StaffAccount],
    user_name: str,
    role: Role,
    physiotherapist_id: str | None,
    physiotherapist_ids: Collection[str],
) -> None:
    """Raise :class:`AccountProblem` unless this account may be created."""
    if user_name in accounts:
        raise AccountProblem(
            f"There is already an account named {user_name} (accounts are never deleted, so "
            "a name is never reused). Choose another user name."
        )
    check_role_link(role, physiotherapist_id, physiotherapist_ids)


def check_role_link(
    role: Role, physiotherapist_id: str | None, physiotherapist_ids: Collection[str]
) -> None:
    """A physio account names a physiotherapist of the clinic settings; an admin names none."""
    if role is Role.ADMIN:
        if physiotherapist_id is not None:
            raise AccountProblem(
                "An admin account is not linked to a physiotherapist: admins do not "
                "countersign. Give the physiotherapist a physio account of their own."
            )
        return
    if physiotherapist_id is None:
        raise AccountProblem(
            "A physio account must name the physiotherapist it belongs to (their id in the "
            "clinic settings), so the kiosk's list and the staff accounts agree."
        )
    if physiotherapist_id not in physiotherapist_ids:
        known = ", ".join(sorted(physiotherapist_ids)) or "none"
        raise AccountProblem(
            f"The clinic settings list no physiotherapist with the id {physiotherapist_id} "
            f"(they list: {known}). Add them under [[physiotherapists]] first."
        )


def check_disable_or_demote(accounts: Mapping[str, StaffAccount], user_name: str) -> None:
    """Refuse to disable, or make a physio of, the last admin who can sign in."""
    if _enabled_admins(accounts) == {user_name}:
        raise AccountProblem(
            f"{user_name} is the only admin who can sign in; the clinic would have nobody to "
            "manage accounts. Make another admin first."
        )


def physio_link_problem(account: StaffAccount, physiotherapist_ids: Collection[str]) -> str | None:
    """Why a physio account cannot act clinically with these settings, or None if it can.

    A physiotherapist removed from the clinic settings keeps their account and history, and
    may still sign in and read records, but cannot discuss or countersign until an admin
    links them again (or the settings list them again).
    """
    if account.role is not Role.PHYSIO:
        return None
    if account.physiotherapist_id is None or account.physiotherapist_id not in (
        physiotherapist_ids
    ):
        return (
            f"Your account is linked to the physiotherapist id {account.physiotherapist_id}, "
            "which the clinic settings no longer list, so you cannot record a discussion or "
            "countersign. Ask a clinic admin to fix the settings or your account."
        )
    return None
