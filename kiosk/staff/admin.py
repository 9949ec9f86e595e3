"""Account, audit-log and store operations of the staff services (admins)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from consent_records.audit import (
    AccountChanged,
    AccountCreated,
    AccountDisabled,
    AccountEnabled,
    AccountUnlocked,
    AuditEvent,
    AuditExported,
    AuditItem,
    AuditPage,
    AuditQuery,
    BackupWritten,
    PasswordReason,
    PasswordSet,
    StoreVerified,
)
from consent_records.events import (
    Role,
    SystemActor,
)
from consent_records.sanitize import SHORT_MAX, clean_text
from kiosk.auth.accounts import (
    AccountProblem,
    StaffAccount,
    check_disable_or_demote,
    check_new_account,
    check_role_link,
    fold_accounts,
)
from kiosk.auth.permissions import StaffOperation
from kiosk.auth.policy import PasswordRejected, check_password
from kiosk.auth.throttle import (
    login_gate,
)
from kiosk.staff.errors import (
    ActionRefused,
    ExportProblem,
    NotFound,
)
from kiosk.staff.sessions import StaffSession

if TYPE_CHECKING:
    from consent_records.base import VerifyReport

from kiosk.staff.core import StaffCore, _actor, _valid_user_name

log = logging.getLogger("kiosk.staff")


CHECKPOINT_STALE_DAYS = 7


@dataclass(frozen=True, slots=True)
class StoreStatus:
    """The store at a glance, for an admin (:meth:`AdminServices.store_status`)."""

    records: int
    events: int
    last_checkpoint_at: datetime | None
    """When the newest signed checkpoint was made, in the clinic's time zone."""
    last_checkpoint_seq: int | None
    checkpoint_note: str
    """One sentence: when the last checkpoint was made, or that there is none (and what to do)."""
    sealed: bool
    """Whether the clinic seals its PDFs."""
    seal_warning: str | None
    """A sentence when the seal ends within 90 days or has ended, or cannot be read."""


@dataclass(frozen=True, slots=True)
class AccountLine:
    """One staff account as the admin screen and ``users list`` show it."""

    account: StaffAccount
    physiotherapist_name: str | None
    """The clinic settings' name for the linked physiotherapist (None: admin, or missing)."""
    registration: str | None
    problem: str | None
    """How the account and the clinic settings disagree, in a sentence, or None."""
    locked: bool
    waiting_until: datetime | None
    failures: int


@dataclass(frozen=True, slots=True)
class ClinicCheck:
    """Physiotherapists in the settings with no account, and accounts not in the settings."""

    without_account: tuple[str, ...]
    without_settings: tuple[str, ...]


class AdminServices(StaffCore):
    """Staff accounts, the audit log, verify and backup."""

    # ------------------------------------------------------------------ accounts: admin

    def list_accounts(self, session: StaffSession | None) -> list[AccountLine]:
        """Every account (disabled ones too: they keep their history), with how each one
        agrees with the clinic settings, and its sign-in lock or wait."""
        self._begin(session, StaffOperation.LIST_ACCOUNTS)
        return self._account_lines()

    def _account_lines(self) -> list[AccountLine]:
        from kiosk.auth.throttle import Locked, Wait

        events = self.store.account_events()
        accounts = fold_accounts(events)
        now = self.now()
        lines = []
        for account in sorted(accounts.values(), key=lambda a: a.user_name):
            history = [e for e in events if e.subject == account.user_name]
            gate = login_gate(history, now, self.throttle)
            name = registration = None
            if account.physiotherapist_id is not None:
                try:
                    entry = self.settings.physiotherapist(account.physiotherapist_id)
                    name, registration = entry.name, entry.registration
                except KeyError:
                    pass
            lines.append(
                AccountLine(
                    account=account,
                    physiotherapist_name=name,
                    registration=registration,
                    problem=self._disagreement(account, name),
                    locked=isinstance(gate, Locked),
                    waiting_until=gate.until if isinstance(gate, Wait) else None,
                    failures=gate.failures,
                )
            )
        return lines

    def _disagreement(self, account: StaffAccount, settings_name: str | None) -> str | None:
        if account.role is not Role.PHYSIO:
            return None
        if settings_name is None:
            return (
                f"Linked to physiotherapist id {account.physiotherapist_id}, which the clinic "
                "settings do not list: this account can sign in and read records but cannot "
                "discuss or countersign until the settings list it again or an admin links it "
                "to another id."
            )
        if clean_text(settings_name).casefold() != clean_text(account.display_name).casefold():
            return (
                f"The account's name ({account.display_name}) differs from the clinic "
                f"settings ({settings_name}); countersignatures print the settings' name."
            )
        return None

    def clinic_check(self, session: StaffSession | None) -> ClinicCheck:
        """Physiotherapists the kiosk lists with no account (nobody can countersign their
        records), and physio accounts whose id the settings no longer list."""
        self._begin(session, StaffOperation.LIST_ACCOUNTS)
        accounts = self._accounts()
        linked = {a.physiotherapist_id for a in accounts.values() if not a.disabled}
        ids = set(self._physio_ids())
        return ClinicCheck(
            without_account=tuple(p for p in self._physio_ids() if p not in linked),
            without_settings=tuple(
                sorted(
                    a.user_name
                    for a in accounts.values()
                    if a.role is Role.PHYSIO and a.physiotherapist_id not in ids
                )
            ),
        )

    def _new_password(self, password: str, context: Sequence[str]) -> str:
        try:
            return check_password(password, context=[*context, self.settings.clinic.name])
        except PasswordRejected as exc:
            raise ActionRefused(str(exc)) from None

    def create_account(
        self,
        session: StaffSession | None,
        user_name: str,
        *,
        role: Role,
        password: str,
        display_name: str | None = None,
        physiotherapist_id: str | None = None,
        os_actor: str | None = None,
    ) -> StaffAccount:
        """Create an account with its first password (checked against the policy).

        A physio account names a ``physiotherapists`` id of the settings (default: the
        same as the user name, when the settings list it) and takes its display name from
        there; an admin account needs a display name. ``os_actor`` (the operating-system
        user running ``ims-kiosk users add``) may create accounts without a session only
        while the store has no admin: the first admin is made this way.
        """
        actor_session, actor = self._account_actor(session, StaffOperation.CREATE_ACCOUNT, os_actor)
        name = clean_text(user_name, 64)
        if not _valid_user_name(name):
            raise ActionRefused(
                f"{name!r} cannot be a user name: use 2 to 32 lower-case letters, digits, "
                "dots, hyphens or underscores, starting with a letter (for example akim)."
            )
        if role is Role.PHYSIO and physiotherapist_id is None and name in self._physio_ids():
            physiotherapist_id = name
        if role is Role.PHYSIO and display_name is None and physiotherapist_id is not None:
            with suppress(KeyError):
                display_name = self.settings.physiotherapist(physiotherapist_id).name
        if role is Role.PHYSIO and physiotherapist_id is None:
            listed = ", ".join(sorted(self._physio_ids())) or "none"
            raise ActionRefused(
                f"{name} is not a physiotherapist's id in the clinic settings (listed: "
                f"{listed}). Add the physiotherapist to the settings first, or name their id "
                "(--physio ID)."
            )
        accounts = self._accounts()
        try:  # first: a physio id missing from the settings is the real problem, not --name
            check_new_account(accounts, name, role, physiotherapist_id, self._physio_ids())
        except AccountProblem as exc:
            raise ActionRefused(str(exc)) from None
        shown = clean_text(display_name or "")
        if not shown:
            raise ActionRefused("Give the person's full name (--name), as staff know them.")
        if role is Role.PHYSIO:
            _one_account_per_physiotherapist(accounts, physiotherapist_id, name)
        normalised = self._new_password(password, [name, shown])
        phc = self.passwords.hash(normalised)
        from kiosk.auth.passwords import credential_commitment

        who = actor_session.actor if actor_session is not None else actor
        assert who is not None
        now = self.now()
        created = AccountCreated(
            at=now,
            actor=who,
            subject=name,
            display_name=shown,
            role=role,
            physiotherapist_id=physiotherapist_id if role is Role.PHYSIO else None,
        )
        password_set = PasswordSet(
            at=now,
            actor=who,
            subject=name,
            reason=PasswordReason.CREATED,
            credential_sha256=credential_commitment(phc),
        )
        self._account_write(created, password_set, credential=phc, what="account creation")
        return fold_accounts(self.store.account_events(name))[name]

    def _account_actor(
        self, session: StaffSession | None, operation: StaffOperation, os_actor: str | None
    ) -> tuple[StaffSession | None, SystemActor | None]:
        """The admin's session, or (only with no admin yet, or for recovery) the OS user."""
        if session is not None or os_actor is None:
            return self._begin(session, operation), None
        return None, self._system_actor("os_user", os_actor)

    def _account_write(self, *events: AuditEvent, credential: str | None = None, what: str) -> None:
        from consent_records.base import ConflictingEvent

        try:
            self._audit(*events, credential=credential, what=what)
        except ConflictingEvent as exc:
            raise ActionRefused(str(exc)) from None

    def _existing(self, user_name: str) -> tuple[dict[str, StaffAccount], StaffAccount]:
        accounts = self._accounts()
        account = accounts.get(clean_text(user_name, 64))
        if account is None:
            raise NotFound(f"There is no account named {clean_text(user_name, 64)!r}.")
        return accounts, account

    def disable_account(
        self, session: StaffSession | None, user_name: str, *, os_actor: str | None = None
    ) -> StaffAccount:
        """Disable an account (it keeps its history; its sessions end at their next act)."""
        admin, actor = self._account_actor(session, StaffOperation.DISABLE_ACCOUNT, os_actor)
        accounts, account = self._existing(user_name)
        if account.disabled:
            return account
        try:
            check_disable_or_demote(accounts, account.user_name)
        except AccountProblem as exc:
            raise ActionRefused(str(exc)) from None
        if admin is not None and admin.user_name == account.user_name:
            raise ActionRefused("You cannot disable your own account; ask another admin.")
        self._account_write(
            AccountDisabled(at=self.now(), actor=_actor(admin, actor), subject=account.user_name),
            what="account disable",
        )
        return self._reread(account.user_name)

    def enable_account(
        self, session: StaffSession | None, user_name: str, *, os_actor: str | None = None
    ) -> StaffAccount:
        admin, actor = self._account_actor(session, StaffOperation.ENABLE_ACCOUNT, os_actor)
        _, account = self._existing(user_name)
        if not account.disabled:
            return account
        if account.role is Role.PHYSIO:
            _one_account_per_physiotherapist(
                self._accounts(), account.physiotherapist_id, account.user_name
            )
        if account.role is Role.PHYSIO and account.physiotherapist_id not in self._physio_ids():
            log.info("enabling %s, whose physiotherapist id is not in the settings", user_name)
        self._account_write(
            AccountEnabled(at=self.now(), actor=_actor(admin, actor), subject=account.user_name),
            what="account enable",
        )
        return self._reread(account.user_name)

    def unlock_account(
        self, session: StaffSession | None, user_name: str, *, os_actor: str | None = None
    ) -> StaffAccount:
        """Clear an account's failed sign-ins (its wait or lock)."""
        admin, actor = self._account_actor(session, StaffOperation.UNLOCK_ACCOUNT, os_actor)
        _, account = self._existing(user_name)
        self._account_write(
            AccountUnlocked(at=self.now(), actor=_actor(admin, actor), subject=account.user_name),
            what="account unlock",
        )
        return self._reread(account.user_name)

    def reset_password(
        self,
        session: StaffSession | None,
        user_name: str,
        password: str,
        *,
        os_actor: str | None = None,
    ) -> StaffAccount:
        """An admin sets a new password for an account (also clears its failed sign-ins)."""
        from kiosk.auth.passwords import credential_commitment

        admin, actor = self._account_actor(session, StaffOperation.RESET_PASSWORD, os_actor)
        _, account = self._existing(user_name)
        normalised = self._new_password(password, [account.user_name, account.display_name])
        phc = self.passwords.hash(normalised)
        self._account_write(
            PasswordSet(
                at=self.now(),
                actor=_actor(admin, actor),
                subject=account.user_name,
                reason=PasswordReason.RESET,
                credential_sha256=credential_commitment(phc),
            ),
            credential=phc,
            what="password reset",
        )
        return self._reread(account.user_name)

    def change_own_password(self, session: StaffSession, current: str, new: str) -> None:
        """The signed-in person changes their password (the current one is asked again)."""
        from kiosk.auth.passwords import credential_commitment

        session = self._begin(session, StaffOperation.CHANGE_OWN_PASSWORD)
        self._check_password(session.user_name, current, "session")
        normalised = self._new_password(new, [session.user_name, session.display_name])
        phc = self.passwords.hash(normalised)
        self._account_write(
            PasswordSet(
                at=self.now(),
                actor=session.actor,
                subject=session.user_name,
                reason=PasswordReason.CHANGED,
                credential_sha256=credential_commitment(phc),
            ),
            credential=phc,
            what="password change",
        )

    def set_role(
        self,
        session: StaffSession | None,
        user_name: str,
        role: Role,
        *,
        physiotherapist_id: str | None = None,
        os_actor: str | None = None,
    ) -> StaffAccount:
        """Change an account's role (a physio needs a physiotherapist id of the settings:
        default the user name when listed; an admin's link is removed)."""
        admin, actor = self._account_actor(session, StaffOperation.SET_ROLE, os_actor)
        accounts, account = self._existing(user_name)
        if role is Role.PHYSIO:
            if physiotherapist_id is None:
                physiotherapist_id = account.physiotherapist_id or (
                    account.user_name if account.user_name in self._physio_ids() else None
                )
            try:
                check_role_link(role, physiotherapist_id, self._physio_ids())
            except AccountProblem as exc:
                raise ActionRefused(str(exc)) from None
            _one_account_per_physiotherapist(accounts, physiotherapist_id, account.user_name)
        if account.role is role and (
            role is Role.ADMIN or physiotherapist_id == account.physiotherapist_id
        ):
            return account
        if account.role is Role.ADMIN and role is not Role.ADMIN:
            try:
                check_disable_or_demote(accounts, account.user_name)
            except AccountProblem as exc:
                raise ActionRefused(str(exc)) from None
        change = AccountChanged(
            at=self.now(),
            actor=_actor(admin, actor),
            subject=account.user_name,
            role=role,
            physiotherapist_id=physiotherapist_id if role is Role.PHYSIO else None,
            clear_physiotherapist=role is Role.ADMIN,
        )
        self._account_write(change, what="role change")
        return self._reread(account.user_name)

    def _reread(self, user_name: str) -> StaffAccount:
        return fold_accounts(self.store.account_events(user_name))[user_name]

    def any_admin(self) -> bool:
        return any(a.role is Role.ADMIN and not a.disabled for a in self._accounts().values())

    # ------------------------------------------------------------------ audit log

    def audit_log(self, session: StaffSession, query: AuditQuery) -> AuditPage:
        """One page of the audit log (newest first), with the query's filters."""
        self._begin(session, StaffOperation.VIEW_AUDIT_LOG)
        return self.store.audit(query)

    def export_audit_csv(
        self, session: StaffSession, query: AuditQuery, out: Path, *, force: bool = False
    ) -> int:
        """Write every entry matching ``query`` (all pages) to ``out`` as CSV, owner-only;
        audited first. Returns the number of entries written."""
        from consent_records.audit import AUDIT_PAGE_MAX
        from kiosk.services import ExportError, check_output_file, place_file, write_hidden_copy
        from kiosk.staff.audit_csv import audit_csv

        session = self._begin(session, StaffOperation.EXPORT_AUDIT_LOG)
        try:
            check_output_file(out, force=force)
        except ExportError as exc:
            raise ExportProblem(str(exc)) from None
        items: list[AuditItem] = []
        offset = 0
        while True:
            page = self.store.audit(
                query.model_copy(update={"offset": offset, "limit": AUDIT_PAGE_MAX})
            )
            items += page.items
            offset += len(page.items)
            if not page.has_more or not page.items:
                break
        data = audit_csv(items, self.settings.zone).encode("utf-8")
        try:
            tmp = write_hidden_copy(out, data)
        except ExportError as exc:
            raise ExportProblem(str(exc)) from None
        try:
            self._audit(
                AuditExported(
                    at=self.now(),
                    actor=session.actor,
                    entries=len(items),
                    file_name=clean_text(out.name, SHORT_MAX) or None,
                ),
                what="audit export",
            )
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        try:
            place_file(tmp, out, force=force)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ExportProblem(f"{out} could not be written ({exc.strerror or exc}).") from None
        return len(items)

    # ------------------------------------------------------------------ store checks

    def store_status(self, session: StaffSession) -> StoreStatus:
        """What an admin's home screen shows about the store: records and events, when the
        last signed checkpoint was made (issue 6: write one down regularly), and a warning
        when the clinic's PDF seal ends soon. Cheap (nothing is re-verified here)."""
        session = self._begin(session, StaffOperation.VERIFY_STORE)
        now = self.now()
        records, events = self.store.count()
        checkpoint = self.store.last_checkpoint()
        made: datetime | None = None
        if checkpoint is not None:
            made = datetime.strptime(checkpoint.at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            made = made.astimezone(self.settings.zone)
        seal_warning: str | None
        sealed = False
        try:
            from consent_records.sealkeys import load_identity
            from consent_records.store.layout import KEYS_DIR

            identity = load_identity(self.data_dir / KEYS_DIR)
            sealed = identity is not None
            seal_warning = identity.expiry_warning(now) if identity is not None else None
        except Exception as exc:  # a damaged seal file: say so, do not fail the screen
            seal_warning = f"The clinic's seal cannot be read: {exc}"
        if made is None:
            checkpoint_note = (
                "No signed checkpoint yet: run `ims-kiosk checkpoint` and keep the line it "
                "prints off this machine (docs/storage.md)."
            )
        else:
            days = max((now - made).days, 0)  # a clock set back never reads as negative
            checkpoint_note = (
                f"Last checkpoint: entry {checkpoint.seq:,}, made {made:%Y-%m-%d %H:%M}"  # type: ignore[union-attr]
                f" ({days} day{'s' if days != 1 else ''} ago)."
            )
            if days >= CHECKPOINT_STALE_DAYS:
                checkpoint_note += " Make a new one with `ims-kiosk checkpoint`."
        return StoreStatus(
            records=records,
            events=events,
            last_checkpoint_at=made,
            last_checkpoint_seq=checkpoint.seq if checkpoint is not None else None,
            checkpoint_note=checkpoint_note,
            sealed=sealed,
            seal_warning=seal_warning,
        )

    def verify(
        self, session: StaffSession, *, progress: Callable[[int, int], None] | None = None
    ) -> VerifyReport:
        """Verify the whole store (in a worker), audited with its outcome."""
        session = self._begin(session, StaffOperation.VERIFY_STORE)
        report = self.store.verify(progress=progress)
        self._audit(
            StoreVerified(
                at=self.now(),
                actor=session.actor,
                ok=report.ok,
                chain_length=report.chain_length,
                chain_head=report.chain_head,
                problem=(report.problem or "")[:1900] or None,
            ),
            what="verify audit",
        )
        return report

    def backup(
        self,
        session: StaffSession,
        out_dir: Path,
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> VerifyReport:
        """Write a consistent, verified copy of the store (in a worker), audited."""
        from consent_records.base import StoreError

        session = self._begin(session, StaffOperation.BACKUP_STORE)
        try:
            report = self.store.backup(out_dir, progress=progress)
        except (StoreError, OSError) as exc:
            raise ExportProblem(str(exc)) from None
        self._audit(
            BackupWritten(
                at=self.now(),
                actor=session.actor,
                ok=report.ok,
                chain_length=report.chain_length,
                target=clean_text(out_dir.name, SHORT_MAX) or None,
            ),
            what="backup audit",
        )
        return report


def _one_account_per_physiotherapist(
    accounts: Mapping[str, StaffAccount], physiotherapist_id: str | None, user_name: str
) -> None:
    """Refuse a second enabled account for one physiotherapist (create, set-role, enable):
    their countersignatures must name one person's one account."""
    taken = [
        a.user_name
        for a in accounts.values()
        if a.physiotherapist_id == physiotherapist_id
        and a.role is Role.PHYSIO
        and not a.disabled
        and a.user_name != user_name
    ]
    if physiotherapist_id is not None and taken:
        raise ActionRefused(
            f"The physiotherapist {physiotherapist_id} already has an account "
            f"({taken[0]}). One person, one account: disable that one first if it "
            "should be replaced."
        )
