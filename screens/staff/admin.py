"""The admin's screens: staff accounts, the audit log, and verifying and backing up the store.

Each act goes through the services, which check the admin role again (a hidden button is
never the only guard) and audit it; a refusal is shown as the services' sentence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import (
    Button,
    DataTable,
    Footer,
    Input,
    Label,
    ProgressBar,
    Select,
    Static,
)

from consent_records.events import Role
from kiosk.i18n import _
from screens.staff.common import describe_error, parse_day, plain, when

if TYPE_CHECKING:
    from consent_records.audit import AuditPage, AuditQuery
    from kiosk.staff.admin import StoreStatus
    from kiosk.staff.services import AccountLine, StaffServices
    from kiosk.staff.sessions import StaffSession


class _Base(Screen[None]):
    """A screen with the staff top bar, a message line and the footer."""

    title_text = ""

    def __init__(self, services: StaffServices, session: StaffSession) -> None:
        super().__init__()
        self.services = services
        self.session = session

    def say(self, text: str, *, error: bool = True) -> None:
        message = self.query_one(".screen-message", Static)
        message.update(text)
        message.set_class(error and bool(text), "-error")

    def topbar(self) -> ComposeResult:
        with Horizontal(id="staff-topbar"):
            yield Label(_(self.title_text), id="staff-title")
            yield Label(
                Text(
                    _("{name} ({role})").format(
                        name=self.session.display_name, role=self.session.role
                    )
                ),
                id="staff-who",
            )

    def run_call(
        self,
        call: Callable[[], Any],
        done: Callable[[Any], None],
        *,
        group: str = "admin",
    ) -> None:
        """Run a service call in a thread worker; ``done(result)`` on success, the
        sentence on the message line otherwise."""

        def work_() -> None:
            try:
                result = call()
            except Exception as exc:
                self.app.call_from_thread(self.say, describe_error(exc))
                return
            self.app.call_from_thread(done, result)

        self.run_worker(work_, thread=True, exclusive=True, exit_on_error=False, group=group)


# -- accounts ---------------------------------------------------------------------------


def account_state(line: AccountLine) -> str:
    if line.account.disabled:
        return _("disabled")
    if line.locked:
        return _("locked ({n} failed sign-ins)").format(n=line.failures)
    if line.waiting_until is not None:
        return _("waiting until {at}").format(at=when(line.waiting_until))
    if line.failures:
        return _("active ({n} failed sign-ins)").format(n=line.failures)
    return _("active")


class AccountsScreen(_Base):
    title_text = "Staff accounts"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", _("Back"), id="back"),
        Binding("a", "add", _("Add"), id="add"),
        Binding("d", "disable", _("Disable"), id="disable"),
        Binding("e", "enable", _("Enable"), id="enable"),
        Binding("p", "reset_password", _("Reset password"), id="reset"),
        Binding("o", "set_role", _("Set role"), id="role"),
        Binding("u", "unlock", _("Unlock"), id="unlock"),
    ]

    def compose(self) -> ComposeResult:
        yield from self.topbar()
        table: DataTable[Text] = DataTable(id="accounts", cursor_type="row", zebra_stripes=True)
        for label, key in (
            (_("User name"), "user"),
            (_("Name"), "name"),
            (_("Role"), "role"),
            (_("Physiotherapist id"), "physio"),
            (_("State"), "state"),
            (_("Created"), "created"),
        ):
            table.add_column(label, key=key)
        yield table
        yield Static("", id="account-problems", classes="warning", markup=False)
        with Horizontal(classes="button-row"):
            yield Button(_("Add (a)"), id="add", compact=True)
            yield Button(_("Disable (d)"), id="disable", compact=True)
            yield Button(_("Enable (e)"), id="enable", compact=True)
            yield Button(_("Reset password (p)"), id="reset", compact=True)
            yield Button(_("Set role (o)"), id="role", compact=True)
            yield Button(_("Unlock (u)"), id="unlock", compact=True)
        yield Static("", classes="screen-message", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.reload()
        self.query_one("#accounts", DataTable).focus()

    def reload(self) -> None:
        self.run_call(lambda: self.services.list_accounts(self.session), self._show)

    def _show(self, accounts: list[AccountLine]) -> None:
        table = self.query_one("#accounts", DataTable)
        keep = table.cursor_row
        table.clear()
        problems = []
        for line in accounts:
            account = line.account
            table.add_row(
                plain(account.user_name),
                plain(account.display_name),
                plain(account.role.value),
                plain(account.physiotherapist_id or ""),
                plain(account_state(line)),
                plain(when(account.created_at)),
                key=account.user_name,
            )
            if line.problem:
                problems.append(f"{account.user_name}: {line.problem}")
        if table.row_count:
            table.move_cursor(row=min(keep, table.row_count - 1))
        self.query_one("#account-problems", Static).update("\n".join(problems))

    def _selected(self) -> str | None:
        table = self.query_one("#accounts", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return None if key is None else str(key)

    @on(Button.Pressed, ".button-row Button")
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        action = {
            "add": self.action_add,
            "disable": self.action_disable,
            "enable": self.action_enable,
            "reset": self.action_reset_password,
            "role": self.action_set_role,
            "unlock": self.action_unlock,
        }.get(event.button.id or "")
        if action is not None:
            action()

    def _on_selected(self, act: Callable[[str], Any], done: str) -> None:
        user = self._selected()
        if user is None:
            self.say(_("Choose an account in the list first."))
            return

        def finished(_result: Any) -> None:
            self.say(done.format(user=user), error=False)
            self.reload()

        self.run_call(lambda: act(user), finished)

    def action_disable(self) -> None:
        self._on_selected(
            lambda user: self.services.disable_account(self.session, user),
            _("{user} is disabled; their history is kept."),
        )

    def action_enable(self) -> None:
        self._on_selected(
            lambda user: self.services.enable_account(self.session, user),
            _("{user} is enabled again."),
        )

    def action_unlock(self) -> None:
        self._on_selected(
            lambda user: self.services.unlock_account(self.session, user),
            _("{user} may sign in again now."),
        )

    def action_add(self) -> None:
        self.app.push_screen(
            AccountDialog(self.services, self.session, None), lambda _r: self._refreshed()
        )

    def action_reset_password(self) -> None:
        user = self._selected()
        if user is None:
            self.say(_("Choose an account in the list first."))
            return
        self.app.push_screen(
            PasswordDialog(self.services, self.session, user), lambda _r: self._refreshed()
        )

    def action_set_role(self) -> None:
        user = self._selected()
        if user is None:
            self.say(_("Choose an account in the list first."))
            return
        self.app.push_screen(
            AccountDialog(self.services, self.session, user), lambda _r: self._refreshed()
        )

    def _refreshed(self) -> None:
        self.reload()


class _FormDialog(ModalScreen[bool]):
    """A small form whose Save runs one service call in a worker."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", _("Cancel"))]
    title_text = ""

    def __init__(self, services: StaffServices, session: StaffSession) -> None:
        super().__init__()
        self.services = services
        self.session = session

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield from self.fields()
            yield Static("", classes="dialog-message", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(_("Cancel"), id="cancel", compact=True)
                yield Button(_("Save"), id="submit", variant="primary", compact=True)

    def fields(self) -> ComposeResult:
        yield from ()

    def call(self) -> Callable[[], Any]:
        """The service call for what was entered; raise ValueError with a sentence."""
        raise NotImplementedError

    def say(self, text: str, *, error: bool = True) -> None:
        message = self.query_one(".dialog-message", Static)
        message.update(text)
        message.set_class(error and bool(text), "-error")

    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#cancel")
    def _cancel(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(False)

    @on(Input.Submitted)
    @on(Button.Pressed, "#submit")
    def _submit(self, event: Button.Pressed | Input.Submitted) -> None:
        event.stop()
        try:
            call = self.call()
        except ValueError as exc:
            self.say(str(exc))
            return
        self.query_one("#submit", Button).disabled = True
        self.say(_("Saving…"), error=False)

        def work_() -> None:
            try:
                call()
            except Exception as exc:
                self.app.call_from_thread(self._failed, describe_error(exc))
                return
            self.app.call_from_thread(self.dismiss, True)

        self.run_worker(work_, thread=True, exclusive=True, exit_on_error=False)

    def _failed(self, sentence: str) -> None:
        self.query_one("#submit", Button).disabled = False
        self.say(sentence)
        for field in self.query(Input):
            if field.password:
                field.value = ""


def _two_passwords(first: str, second: str) -> str:
    if not first:
        raise ValueError(_("Type the new password."))
    if first != second:
        raise ValueError(_("The two passwords are not the same; type them again."))
    return first


class AccountDialog(_FormDialog):
    """Add an account (``user`` None), or change an existing account's role."""

    def __init__(self, services: StaffServices, session: StaffSession, user: str | None) -> None:
        super().__init__(services, session)
        self.user = user
        self.title_text = (
            _("Add a staff account")
            if user is None
            else _("Set the role of {user}").format(user=user)
        )

    def fields(self) -> ComposeResult:
        physios = [(f"{p.name} ({p.id})", p.id) for p in self.services.settings.physiotherapists]
        if self.user is None:
            yield Label(
                _("User name (lower case, for signing in; never reused)"), classes="subhead"
            )
            yield Input(id="new-user", max_length=32, compact=True)
            yield Label(_("Full name"), classes="subhead")
            yield Input(id="new-name", max_length=120, compact=True)
        yield Label(_("Role"), classes="subhead")
        yield Select(
            [(_("Physiotherapist"), Role.PHYSIO.value), (_("Admin"), Role.ADMIN.value)],
            id="new-role",
            allow_blank=False,
            value=Role.PHYSIO.value,
            compact=True,
        )
        yield Label(_("Physiotherapist in the clinic settings (for a physio)"), classes="subhead")
        yield Select(physios, id="new-physio", prompt=_("None"), compact=True)
        if self.user is None:
            yield Label(
                _("Password (at least 15 characters; a passphrase of a few words is good)"),
                classes="subhead",
            )
            yield Input(id="new-password", password=True, max_length=1024, compact=True)
            yield Label(_("The same password again"), classes="subhead")
            yield Input(id="new-password2", password=True, max_length=1024, compact=True)

    def call(self) -> Callable[[], Any]:
        role = Role(str(self.query_one("#new-role", Select).value))
        physio_value = self.query_one("#new-physio", Select).value
        physio = None if physio_value is Select.NULL else str(physio_value)
        if role is Role.ADMIN:
            physio = None
        services, session = self.services, self.session
        if self.user is not None:
            user = self.user
            return lambda: services.set_role(session, user, role, physiotherapist_id=physio)
        name = self.query_one("#new-user", Input).value.strip()
        display = self.query_one("#new-name", Input).value.strip()
        if not name or not display:
            raise ValueError(_("Type the user name and the person's full name."))
        password = _two_passwords(
            self.query_one("#new-password", Input).value,
            self.query_one("#new-password2", Input).value,
        )
        return lambda: services.create_account(
            session,
            name,
            role=role,
            password=password,
            display_name=display,
            physiotherapist_id=physio,
        )


class PasswordDialog(_FormDialog):
    """An admin sets a new password for an account (this also clears failed sign-ins)."""

    def __init__(self, services: StaffServices, session: StaffSession, user: str) -> None:
        super().__init__(services, session)
        self.user = user
        self.title_text = _("New password for {user}").format(user=user)

    def fields(self) -> ComposeResult:
        yield Static(
            _(
                "Give the new password to the person privately. At least 15 characters; no "
                "other rules. It also clears failed sign-ins on the account."
            ),
            classes="dialog-explanation",
        )
        yield Label(_("New password"), classes="subhead")
        yield Input(id="new-password", password=True, max_length=1024, compact=True)
        yield Label(_("The same password again"), classes="subhead")
        yield Input(id="new-password2", password=True, max_length=1024, compact=True)

    def call(self) -> Callable[[], Any]:
        password = _two_passwords(
            self.query_one("#new-password", Input).value,
            self.query_one("#new-password2", Input).value,
        )
        services, session, user = self.services, self.session, self.user
        return lambda: services.reset_password(session, user, password)


# -- audit log ---------------------------------------------------------------------------


def audit_kind_options() -> list[tuple[str, str]]:
    """Every kind an audit line can have: staff acts, then record events."""
    from consent_records.audit import AuditKind
    from consent_records.events import EventKind
    from consent_records.model import EventKind as V1Kind

    kinds = [k.value for k in AuditKind]
    kinds += [k.value for k in EventKind if k.value not in kinds]
    kinds += [k.value for k in V1Kind if k.value not in kinds]
    return [(kind.replace("_", " "), kind) for kind in kinds]


@dataclass(frozen=True, slots=True)
class AuditFilters:
    person: str | None
    reference: str | None
    kind: str | None
    date_from: date | None
    date_to: date | None


class AuditScreen(_Base):
    title_text = "Audit log"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", _("Back"), id="back"),
        Binding("f6", "export", _("Export CSV"), id="export"),
        Binding("pagedown,ctrl+n", "page(1)", _("Older"), id="older"),
        Binding("pageup,ctrl+b", "page(-1)", _("Newer"), id="newer"),
    ]

    PAGE = 100

    def __init__(self, services: StaffServices, session: StaffSession) -> None:
        super().__init__(services, session)
        self._offset = 0
        self.page: AuditPage | None = None

    def compose(self) -> ComposeResult:
        yield from self.topbar()
        with Horizontal(classes="filter-row"):
            yield Input(id="audit-person", placeholder=_("Person (user name)"), compact=True)
            yield Input(id="audit-record", placeholder=_("Record reference"), compact=True)
            yield Select(audit_kind_options(), id="audit-kind", prompt=_("Any kind"), compact=True)
        with Horizontal(classes="filter-row"):
            yield Label(_("From"), classes="filter-label")
            yield Input(id="audit-from", placeholder="YYYY-MM-DD", max_length=10, compact=True)
            yield Label(_("to"), classes="filter-label")
            yield Input(id="audit-to", placeholder="YYYY-MM-DD", max_length=10, compact=True)
            yield Button(_("Apply"), id="audit-apply", compact=True)
        table: DataTable[Text] = DataTable(id="audit", cursor_type="row", zebra_stripes=True)
        for label, key in (
            (_("When"), "at"),
            (_("Who"), "who"),
            (_("What"), "what"),
            (_("Account or record"), "about"),
        ):
            table.add_column(label, key=key)
        yield table
        yield Static("", id="audit-paging", markup=False)
        yield Static("", classes="screen-message", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.search()

    def filters(self) -> AuditFilters:
        """What the filter widgets say (main thread). Raises ValueError with a sentence."""
        kind = self.query_one("#audit-kind", Select).value
        start = parse_day(self.query_one("#audit-from", Input).value)
        end = parse_day(self.query_one("#audit-to", Input).value)
        if start and end and start > end:
            raise ValueError(_("The date range ends before it starts."))
        return AuditFilters(
            person=self.query_one("#audit-person", Input).value.strip().casefold() or None,
            reference=self.query_one("#audit-record", Input).value.strip() or None,
            kind=None if kind is Select.NULL else str(kind),
            date_from=start,
            date_to=end,
        )

    def to_query(self, wanted: AuditFilters, offset: int) -> AuditQuery:
        """The typed query (a reference is looked up by the services: call in a worker)."""
        from consent_records.audit import AuditQuery

        record_id = (
            self.services.find_reference(self.session, wanted.reference)
            if wanted.reference
            else None
        )
        return AuditQuery(
            person=wanted.person,
            record_id=record_id,
            kinds=frozenset({wanted.kind}) if wanted.kind else frozenset(),
            date_from=wanted.date_from,
            date_to=wanted.date_to,
            offset=offset,
            limit=self.PAGE,
        )

    @on(Input.Submitted)
    @on(Button.Pressed, "#audit-apply")
    @on(Select.Changed)
    def _apply(self) -> None:
        self._offset = 0
        self.search()

    def search(self) -> None:
        try:
            wanted = self.filters()
        except ValueError as exc:
            self.say(str(exc))
            return
        self.say("", error=False)
        offset = self._offset

        def fetch() -> AuditPage:
            return self.services.audit_log(self.session, self.to_query(wanted, offset))

        self.run_call(fetch, self._show, group="audit")

    def _show(self, page: AuditPage) -> None:
        from kiosk.staff.audit_csv import audit_summary

        self.page = page
        table = self.query_one("#audit", DataTable)
        table.clear()
        for item in page.items:
            table.add_row(
                plain(when(item.at)),
                plain(item.actor_label),
                plain(audit_summary(item)),
                plain(item.subject or item.record_id or ""),
            )
        if page.total:
            text = _("Entries {first}–{last} of {total}, newest first").format(
                first=page.offset + 1, last=page.offset + len(page.items), total=page.total
            )
        else:
            text = _("No audit entries match.")
        self.query_one("#audit-paging", Static).update(text)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "page":
            page = self.page
            if page is None:
                return None
            step = parameters[0] if parameters else 1
            return (page.has_more if step == 1 else page.offset > 0) or None
        return True

    def action_page(self, step: int) -> None:
        self._offset = max(0, self._offset + step * self.PAGE)
        self.search()

    def action_export(self) -> None:
        try:
            wanted = self.filters()
        except ValueError as exc:
            self.say(str(exc))
            return
        self.app.push_screen(CsvDialog(self.services, self.session, self, wanted))


class CsvDialog(_FormDialog):
    """Export every audit entry matching the audit screen's filters as CSV."""

    def __init__(
        self,
        services: StaffServices,
        session: StaffSession,
        audit: AuditScreen,
        wanted: AuditFilters,
    ) -> None:
        super().__init__(services, session)
        self.audit = audit
        self.wanted = wanted
        self.title_text = _("Export the audit log as CSV")

    def fields(self) -> ComposeResult:
        yield Static(
            _(
                "Every entry matching the filters is written to a file only you can read. "
                "The export is itself audited."
            ),
            classes="dialog-explanation",
        )
        yield Label(_("Save as"), classes="subhead")
        yield Input(
            str(Path.home() / f"audit-{date.today().isoformat()}.csv"),
            id="csv-path",
            compact=True,
        )

    def call(self) -> Callable[[], Any]:
        text = self.query_one("#csv-path", Input).value.strip()
        if not text:
            raise ValueError(_("Type where to save the file."))
        path = Path(text).expanduser()
        services, session, audit, wanted = self.services, self.session, self.audit, self.wanted

        def export() -> int:
            return services.export_audit_csv(session, audit.to_query(wanted, 0), path)

        return export


# -- verify and back up ---------------------------------------------------------------------


class StoreScreen(_Base):
    title_text = "Verify and back up the record store"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", _("Back"), id="back"),
    ]

    def compose(self) -> ComposeResult:
        yield from self.topbar()
        with Vertical(id="store-body"):
            yield Static(
                _(
                    "Verify re-hashes every record, event and audit entry of the chain and "
                    "names the first problem. A backup is a consistent copy, verified after "
                    "it is written. Both can run while the kiosk is in use."
                ),
                classes="dialog-explanation",
            )
            yield Static("", id="store-status", markup=False)
            yield Static("", id="seal-warning", classes="warning", markup=False)
            yield Button(_("Verify now"), id="verify", variant="primary")
            yield Label(_("Back up to a new or empty folder"), classes="subhead")
            yield Input(id="backup-path", placeholder=_("/media/usb/ims-backup"), compact=True)
            yield Button(_("Back up"), id="backup")
            yield ProgressBar(id="store-progress", show_eta=False)
            yield Static("", id="store-result", markup=False)
        yield Static("", classes="screen-message", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#store-progress").display = False
        self.query_one("#seal-warning").display = False
        self.load_status()

    def load_status(self) -> None:
        """Records, events and the last signed checkpoint (cheap: nothing re-verified)."""
        self.run_call(
            lambda: self.services.store_status(self.session), self._show_status, group="status"
        )

    def _show_status(self, status: StoreStatus) -> None:
        self.query_one("#store-status", Static).update(
            _("{records} records, {events} events. {checkpoint}").format(
                records=status.records, events=status.events, checkpoint=status.checkpoint_note
            )
        )
        warning = self.query_one("#seal-warning", Static)
        warning.update(status.seal_warning or "")
        warning.display = bool(status.seal_warning)

    def _progress(self, done: int, total: int) -> None:
        self.app.call_from_thread(self._set_progress, done, total)

    def _set_progress(self, done: int, total: int) -> None:
        bar = self.query_one("#store-progress", ProgressBar)
        bar.display = True
        bar.update(total=max(total, 1), progress=done)

    def _busy(self, busy: bool) -> None:
        for button in self.query(Button):
            button.disabled = busy

    @on(Button.Pressed, "#verify")
    def _verify(self, event: Button.Pressed) -> None:
        event.stop()
        self._busy(True)
        self.query_one("#store-result", Static).update(_("Verifying…"))
        self.run_call(
            lambda: self.services.verify(self.session, progress=self._progress),
            self._verified,
            group="store",
        )

    def _verified(self, report: Any) -> None:
        self.load_status()
        self._busy(False)
        self.query_one("#store-progress").display = False
        result = self.query_one("#store-result", Static)
        if report.ok:
            result.update(
                _("Verified: {summary}. Anchor {anchor}").format(
                    summary=report.summary_line(), anchor=report.anchor_text
                )
            )
            result.set_class(False, "-error")
        else:
            result.update(_("Verify found a problem: {problem}").format(problem=report.problem))
            result.set_class(True, "-error")

    @on(Button.Pressed, "#backup")
    @on(Input.Submitted, "#backup-path")
    def _backup(self, event: Button.Pressed | Input.Submitted) -> None:
        event.stop()
        text = self.query_one("#backup-path", Input).value.strip()
        if not text:
            self.say(_("Type the folder to back up to (new or empty)."))
            return
        target = Path(text).expanduser()
        self._busy(True)
        self.query_one("#store-result", Static).update(_("Backing up…"))
        self.run_call(
            lambda: self.services.backup(self.session, target, progress=self._progress),
            lambda report: self._backed_up(target, report),
            group="store",
        )

    def _backed_up(self, target: Path, report: Any) -> None:
        self._busy(False)
        self.query_one("#store-progress").display = False
        self.query_one("#store-result", Static).update(
            _("Backed up to {target} and verified: {summary}.").format(
                target=target, summary=report.summary_line()
            )
        )

    def say(self, text: str, *, error: bool = True) -> None:
        super().say(text, error=error)
        if error and text:
            self._busy(False)
            self.query_one("#store-progress").display = False
