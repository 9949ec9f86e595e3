"""Every public staff service operation against every role and no session: allow or deny.

The permission table (kiosk.auth.permissions) is enforced by the services, not only by
hidden buttons. This test lists every public method of ``StaffServices``; a new method that
is missing here fails the test, so nothing reaches a record or an account unchecked.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from consent_records.audit import AuditQuery
from consent_records.events import Role
from consent_records.query import RecordQuery
from kiosk.auth.permissions import PermissionDenied, StaffOperation, can
from kiosk.staff.errors import SessionEnded, StaffError
from kiosk.staff.review import ViewToken
from kiosk.staff.services import StaffServices
from kiosk.staff.sessions import StaffSession
from tests.staff_fixtures import (
    JLEE_PASSWORD,
    Clinic,
    clinic_fixture,  # noqa: F401 (the clinic fixture)
    sign_in,
)

Op = StaffOperation
Call = Callable[[StaffServices, Any, dict[str, Any]], object]


def _new(context: dict[str, Any], suffix: str) -> Path:
    """A new name in the test's output folder."""
    out: Path = context["out"]
    return out / f"{len(list(out.iterdir()))}{suffix}"


OPEN: set[str] = {"has_accounts", "login", "any_admin", "now", "close", "prepare"}
"""Before any session (they say nothing about a person or a record), or plumbing."""

SESSION_ONLY: set[str] = {"logout", "touch", "session_state", "default_query"}
"""One's own session, whatever the role."""

OPERATIONS: dict[str, tuple[StaffOperation, Call]] = {
    "search": (
        Op.SEARCH_RECORDS,
        lambda s, x, c: s.search(x, RecordQuery(as_of=c["now"], text="k")),
    ),
    "search_now": (Op.BROWSE_RECORDS, lambda s, x, c: s.search_now(x, RecordQuery(as_of=c["now"]))),
    "find_reference": (Op.SEARCH_RECORDS, lambda s, x, c: s.find_reference(x, c["ref"])),
    "open_record": (Op.VIEW_RECORD, lambda s, x, c: s.open_record(x, c["id"])),
    "refresh": (Op.VIEW_RECORD, lambda s, x, c: s.refresh(x, c["id"])),
    "what_changed": (Op.VIEW_RECORD, lambda s, x, c: s.what_changed(x, c["id"])),
    "record_discussion": (
        Op.RECORD_DISCUSSION,
        lambda s, x, c: s.record_discussion(x, c["token"], other="Talked."),
    ),
    "countersign_statement": (Op.COUNTERSIGN, lambda s, x, c: s.countersign_statement(x, c["id"])),
    "countersign": (Op.COUNTERSIGN, lambda s, x, c: s.countersign(x, c["token"], JLEE_PASSWORD)),
    "decline": (Op.RECORD_DECLINE, lambda s, x, c: s.decline(x, c["token"])),
    "not_proceeding": (
        Op.RECORD_NOT_PROCEEDING,
        lambda s, x, c: s.not_proceeding(x, c["token"], "No."),
    ),
    "withdraw": (Op.RECORD_WITHDRAWAL, lambda s, x, c: s.withdraw(x, c["token"])),
    "add_note": (Op.ADD_NOTE, lambda s, x, c: s.add_note(x, c["id"], "A note.")),
    "reconsent_candidates": (
        Op.LINK_RECONSENT,
        lambda s, x, c: s.reconsent_candidates(x, c["id"]),
    ),
    "link_reconsent": (Op.LINK_RECONSENT, lambda s, x, c: s.link_reconsent(x, c["id"], c["ref"])),
    "export_pdf": (Op.EXPORT_PDF, lambda s, x, c: s.export_pdf(x, c["id"], _new(c, ".pdf"))),
    "list_accounts": (Op.LIST_ACCOUNTS, lambda s, x, c: s.list_accounts(x)),
    "clinic_check": (Op.LIST_ACCOUNTS, lambda s, x, c: s.clinic_check(x)),
    "create_account": (
        Op.CREATE_ACCOUNT,
        lambda s, x, c: s.create_account(x, "tmp", role=Role.ADMIN, password="x", display_name="T"),
    ),
    "disable_account": (Op.DISABLE_ACCOUNT, lambda s, x, c: s.disable_account(x, "akim")),
    "enable_account": (Op.ENABLE_ACCOUNT, lambda s, x, c: s.enable_account(x, "akim")),
    "unlock_account": (Op.UNLOCK_ACCOUNT, lambda s, x, c: s.unlock_account(x, "akim")),
    "reset_password": (Op.RESET_PASSWORD, lambda s, x, c: s.reset_password(x, "akim", "short")),
    "set_role": (Op.SET_ROLE, lambda s, x, c: s.set_role(x, "akim", Role.PHYSIO)),
    "change_own_password": (
        Op.CHANGE_OWN_PASSWORD,
        lambda s, x, c: s.change_own_password(x, "wrong", "short"),
    ),
    "audit_log": (Op.VIEW_AUDIT_LOG, lambda s, x, c: s.audit_log(x, AuditQuery())),
    "export_audit_csv": (
        Op.EXPORT_AUDIT_LOG,
        lambda s, x, c: s.export_audit_csv(x, AuditQuery(), _new(c, ".csv")),
    ),
    "verify": (Op.VERIFY_STORE, lambda s, x, c: s.verify(x)),
    "store_status": (Op.VERIFY_STORE, lambda s, x, c: s.store_status(x)),
    "backup": (Op.BACKUP_STORE, lambda s, x, c: s.backup(x, _new(c, ""))),
}


def test_every_public_operation_is_listed() -> None:
    public = {
        name
        for name, member in inspect.getmembers(StaffServices)
        if not name.startswith("_") and callable(member) and not isinstance(member, property)
    }
    assert public == OPEN | SESSION_ONLY | set(OPERATIONS), (
        "a public StaffServices method must be listed here with its operation"
    )


@pytest.mark.parametrize("role", [Role.PHYSIO, Role.ADMIN, None], ids=["physio", "admin", "none"])
def test_every_operation_for_every_role(clinic: Clinic, tmp_path: Path, role: Role | None) -> None:
    record = clinic.record()
    services = clinic.terminal()
    out = tmp_path / "out"
    out.mkdir()
    session: StaffSession | None = None
    if role is not None:
        session = sign_in(services, "jlee" if role is Role.PHYSIO else "office")
    context = {
        "now": clinic.clock(),
        "id": record.id,
        "ref": record.reference,
        "token": ViewToken(record.id, record.id, record_status(services, record.id)),
        "out": out,
    }
    outcomes = {}
    for name, (operation, call) in OPERATIONS.items():
        try:
            call(services, session, context)
            outcome = "allowed"
        except PermissionDenied:
            outcome = "denied"
        except SessionEnded:
            outcome = "denied" if session is None else "ended"
        except StaffError:
            outcome = "allowed"  # past the role check: the act itself was refused
        outcomes[name] = outcome
        expected = "allowed" if can(role, operation) else "denied"
        assert outcome == expected, f"{name} for {role}: {outcome}, expected {expected}"
    if session is None:
        for name in ("touch", "default_query"):
            with pytest.raises(SessionEnded):
                getattr(services, name)(None)
        assert services.session_state(None) is not None
        services.logout(None)
    if role is None:
        assert set(outcomes.values()) == {"denied"}


def record_status(services: StaffServices, record_id: str) -> Any:
    return services.store.get(record_id).lifecycle.status


def test_a_refused_admin_is_not_told_to_ask_a_clinic_admin() -> None:
    # h9qa: `records show --user ADMIN` said "Your role (admin) cannot open a record. Ask a
    # clinic admin if you need to."
    from consent_records.events import Role
    from kiosk.auth.permissions import PermissionDenied, StaffOperation, require

    with pytest.raises(PermissionDenied) as refused:
        require(Role.ADMIN, StaffOperation.VIEW_RECORD)
    assert "admin" in str(refused.value) and "Ask a clinic admin" not in str(refused.value)
    with pytest.raises(PermissionDenied, match="Ask a clinic admin"):
        require(Role.PHYSIO, StaffOperation.DISABLE_ACCOUNT)
