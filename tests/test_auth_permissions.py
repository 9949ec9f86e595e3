"""The role permission table: every staff operation against every role and no session."""

from __future__ import annotations

import pytest

from consent_records.events import Role
from kiosk.auth.permissions import (
    PERMISSIONS,
    PermissionDenied,
    StaffOperation,
    can,
    require,
)

Op = StaffOperation

# Written out from issue 9 ("Roles, enforced in the services layer"), not from the table.
EXPECTED: dict[StaffOperation, set[Role]] = {
    Op.BROWSE_RECORDS: {Role.PHYSIO, Role.ADMIN},
    Op.SEARCH_RECORDS: {Role.PHYSIO, Role.ADMIN},
    Op.VIEW_RECORD: {Role.PHYSIO},
    Op.RECORD_DISCUSSION: {Role.PHYSIO},
    Op.COUNTERSIGN: {Role.PHYSIO},
    Op.RECORD_DECLINE: {Role.PHYSIO},
    Op.RECORD_NOT_PROCEEDING: {Role.PHYSIO},
    Op.RECORD_WITHDRAWAL: {Role.PHYSIO},
    Op.ADD_NOTE: {Role.PHYSIO},
    Op.LINK_RECONSENT: {Role.PHYSIO},
    Op.EXPORT_PDF: {Role.PHYSIO, Role.ADMIN},
    Op.EXPORT_PDFS: {Role.ADMIN},
    Op.LIST_ACCOUNTS: {Role.ADMIN},
    Op.CREATE_ACCOUNT: {Role.ADMIN},
    Op.DISABLE_ACCOUNT: {Role.ADMIN},
    Op.ENABLE_ACCOUNT: {Role.ADMIN},
    Op.RESET_PASSWORD: {Role.ADMIN},
    Op.SET_ROLE: {Role.ADMIN},
    Op.UNLOCK_ACCOUNT: {Role.ADMIN},
    Op.CHANGE_OWN_PASSWORD: {Role.PHYSIO, Role.ADMIN},
    Op.VIEW_AUDIT_LOG: {Role.ADMIN},
    Op.EXPORT_AUDIT_LOG: {Role.ADMIN},
    Op.VERIFY_STORE: {Role.ADMIN},
    Op.BACKUP_STORE: {Role.ADMIN},
}


def test_every_operation_is_in_the_expected_table() -> None:
    assert set(EXPECTED) == set(StaffOperation)
    assert set(PERMISSIONS) == set(Role)


@pytest.mark.parametrize("operation", list(StaffOperation))
@pytest.mark.parametrize("role", [None, *Role])
def test_role_by_operation(role: Role | None, operation: StaffOperation) -> None:
    allowed = role in EXPECTED[operation]
    assert can(role, operation) is allowed
    if allowed:
        require(role, operation)
    else:
        with pytest.raises(PermissionDenied) as info:
            require(role, operation)
        assert (info.value.role, info.value.operation) == (role, operation)
        assert str(info.value).endswith(".")


def test_refusals_read_well() -> None:
    with pytest.raises(PermissionDenied, match=r"^Sign in to open a record\.$"):
        require(None, Op.VIEW_RECORD)
    with pytest.raises(PermissionDenied, match="Only a physiotherapist can countersign"):
        require(Role.ADMIN, Op.COUNTERSIGN)
    with pytest.raises(PermissionDenied, match=r"Your role \(physio\) cannot reset passwords"):
        require(Role.PHYSIO, Op.RESET_PASSWORD)


def test_an_unknown_role_value_gets_nothing() -> None:
    assert not any(can("receptionist", op) for op in StaffOperation)  # type: ignore[arg-type]
