"""The records browser: newest first, a page at a time, with counts per status, search as
you type and filters.

Every change of the search text or a filter builds a typed
:class:`~consent_records.query.RecordQuery` and hands it to the services in a thread worker
(exclusive: a newer query cancels the older one, whose page is then dropped). Typing is
debounced, so a quick typist costs one search, not one per key. A physiotherapist starts
on the records that name them and wait for their discussion; an admin on every record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Checkbox, DataTable, Footer, Input, Label, Select, Static
from textual.worker import get_current_worker

from consent_records.events import Role
from consent_records.lifecycle import ConsentStatus
from consent_records.query import Page, RecordQuery
from kiosk.auth.permissions import StaffOperation, can
from kiosk.i18n import _, ngettext
from screens.staff.common import day, describe_error, plain, status_text, when

if TYPE_CHECKING:
    from kiosk.staff.services import StaffServices
    from kiosk.staff.sessions import StaffSession

SEARCH_DEBOUNCE_SECONDS = 0.15
REFRESH_SECONDS = 10.0
"""How often the list is searched again for records saved at the kiosk meanwhile."""
PAGE_SIZE = 50

_S = ConsentStatus
WAITING = frozenset({_S.AWAITING_DISCUSSION, _S.WANTS_DISCUSSION, _S.DISCUSSED})
RECONSENT = frozenset({_S.EXPIRED, _S.RECONSENT_NEEDED})

STATUS_CHOICES: dict[str, frozenset[ConsentStatus]] = {
    "waiting": WAITING,
    "reconsent": RECONSENT,
    **{status.value: frozenset({status}) for status in ConsentStatus},
}


def _status_options() -> list[tuple[str, str]]:
    return [
        (_("Waiting for a discussion"), "waiting"),
        (_("Expired or re-consent needed"), "reconsent"),
        *((status_text(status), status.value) for status in ConsentStatus),
    ]


def to_discuss(flags: int, missed: int) -> str:
    parts = []
    if flags:
        parts.append(ngettext("{n} flag", "{n} flags", flags).format(n=flags))
    if missed:
        parts.append(ngettext("{n} missed", "{n} missed", missed).format(n=missed))
    return ", ".join(parts)


class RecordsScreen(Screen[None]):
    """The staff app's home: every record the signed-in person may see."""

    AUTO_FOCUS = "#search"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+f", "focus_search", _("Search"), id="search"),
        Binding("ctrl+t", "focus_table", _("List"), id="list", show=False),
        Binding("pagedown,ctrl+n", "page(1)", _("Older"), id="older"),
        Binding("pageup,ctrl+b", "page(-1)", _("Newer"), id="newer"),
        Binding("f6", "export", _("Export PDF"), id="export"),
        Binding("ctrl+r", "clear_filters", _("Clear filters"), id="clear-filters"),
        Binding("f2", "accounts", _("Accounts"), id="accounts"),
        Binding("f3", "audit", _("Audit log"), id="audit"),
        Binding("f4", "store", _("Verify and back up"), id="store"),
    ]

    @dataclass
    class Shown(Message):
        """A page was put on screen (tests wait for it)."""

        page: Page

    def __init__(self, services: StaffServices, session: StaffSession) -> None:
        super().__init__()
        self.services = services
        self.session = session
        self._timer: Timer | None = None
        self._offset = 0
        self.page: Page | None = None
        self.query_shown: RecordQuery | None = None

    # -- layout -----------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        session = self.session
        physio_options = [(p.name, p.id) for p in self.services.settings.physiotherapists]
        mine = session.physiotherapist_id if session.role is Role.PHYSIO else None
        with Horizontal(id="staff-topbar"):
            yield Label(_("Records"), id="staff-title")
            yield Label(
                Text(
                    _("{name} ({role})").format(name=session.display_name, role=session.role),
                ),
                id="staff-who",
            )
        with Horizontal(classes="filter-row"):
            yield Input(
                id="search",
                placeholder=_("Search: name, reference, chart number or birth date"),
                max_length=120,
                compact=True,
            )
            yield Select(
                _status_options(),
                id="status",
                prompt=_("Any status"),
                value="waiting" if mine else Select.NULL,
                compact=True,
            )
        with Horizontal(classes="filter-row"):
            yield Select(
                physio_options,
                id="physio",
                prompt=_("Any physiotherapist"),
                value=mine if mine in {p[1] for p in physio_options} else Select.NULL,
                compact=True,
            )
            yield Label(_("From"), classes="filter-label")
            yield Input(id="from", placeholder="YYYY-MM-DD", max_length=10, compact=True)
            yield Label(_("to"), classes="filter-label")
            yield Input(id="to", placeholder="YYYY-MM-DD", max_length=10, compact=True)
        with Horizontal(classes="filter-row"):
            yield Checkbox(_("Flags"), id="has-flags", compact=True)
            yield Checkbox(_("Missed quiz"), id="missed", compact=True)
            yield Checkbox(_("Substitute"), id="substitute", compact=True)
            yield Checkbox(_("Expiring soon"), id="expiring", compact=True)
        yield Static("", id="counts", markup=False)
        table: DataTable[Text] = DataTable(id="records", cursor_type="row", zebra_stripes=True)
        table.add_column(_("Signed"), key="signed")
        table.add_column(_("Reference"), key="reference")
        table.add_column(_("Patient"), key="patient")
        table.add_column(_("Born"), key="born")
        table.add_column(_("Status"), key="status")
        table.add_column(_("To discuss"), key="discuss")
        table.add_column(_("Physiotherapist"), key="physio")
        yield table
        with Horizontal(id="records-bottom"):
            yield Static("", id="paging", markup=False)
            yield Static("", id="records-message", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self._search_now()
        # Records saved at the kiosk (another process) appear without a search being typed.
        self.set_interval(REFRESH_SECONDS, self._refresh_quietly, name="records-refresh")

    def _refresh_quietly(self) -> None:
        if self._timer is None and self.app.screen is self and self.query_shown is not None:
            self._search(self.query_shown.model_copy(update={"as_of": self.services.now()}))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        role = self.session.role
        if action in ("accounts", "audit", "store"):
            operation = {
                "accounts": StaffOperation.LIST_ACCOUNTS,
                "audit": StaffOperation.VIEW_AUDIT_LOG,
                "store": StaffOperation.VERIFY_STORE,
            }[action]
            return can(role, operation)
        if action == "export":
            return can(role, StaffOperation.EXPORT_PDF)
        if action == "page":
            page = self.page
            if page is None:
                return None
            step = parameters[0] if parameters else 1
            return (page.has_more if step == 1 else page.offset > 0) or None
        return True

    # -- building the query -----------------------------------------------------------

    def build_query(self) -> RecordQuery:
        """The query the widgets describe. Raises ValueError with a sentence."""
        from screens.staff.common import parse_day

        status = self.query_one("#status", Select).value
        physio = self.query_one("#physio", Select).value

        def checked(widget_id: str) -> bool | None:
            return True if self.query_one(f"#{widget_id}", Checkbox).value else None

        start: date | None = parse_day(self.query_one("#from", Input).value)
        end: date | None = parse_day(self.query_one("#to", Input).value)
        if start and end and start > end:
            raise ValueError(_("The date range ends before it starts."))
        return RecordQuery(
            text=self.query_one("#search", Input).value,
            statuses=STATUS_CHOICES.get(str(status), frozenset())
            if status is not Select.NULL
            else frozenset(),
            physiotherapist_ids=frozenset({str(physio)})
            if physio is not Select.NULL
            else frozenset(),
            completed_from=start,
            completed_to=end,
            has_flags=checked("has-flags"),
            has_missed_questions=checked("missed"),
            has_substitute=checked("substitute"),
            expiring_soon=checked("expiring"),
            as_of=self.services.now(),
            offset=self._offset,
            limit=PAGE_SIZE,
        )

    # -- searching --------------------------------------------------------------------

    @on(Input.Changed, "#search")
    def _typed(self) -> None:
        self._offset = 0
        self._schedule(SEARCH_DEBOUNCE_SECONDS)

    @on(Input.Changed, "#from, #to")
    def _dates_typed(self, event: Input.Changed) -> None:
        # Wait for a whole date: a half-typed one is not an error yet.
        value = event.value.strip()
        if not value or len(value) == 10:
            self._offset = 0
            self._schedule(SEARCH_DEBOUNCE_SECONDS)

    @on(Select.Changed)
    @on(Checkbox.Changed)
    def _filter_changed(self) -> None:
        # A widget set to its first value while mounting also says it changed: a search
        # for what is already listed would only clear and refill the table.
        try:
            wanted = self.build_query().model_copy(update={"offset": 0})
        except ValueError:
            wanted = None
        shown = self.query_shown
        if (
            wanted is not None
            and shown is not None
            and wanted.model_dump(exclude={"as_of"}) == shown.model_dump(exclude={"as_of"})
        ):
            return
        self._offset = 0
        self._schedule(0)

    @on(Input.Submitted, "#search")
    def _search_submitted(self) -> None:
        self.action_focus_table()

    def _schedule(self, delay: float) -> None:
        if self._timer is not None:
            self._timer.stop()
        if delay <= 0:
            self._timer = None
            self._search_now()
        else:
            self._timer = self.set_timer(delay, self._search_now, name="search-debounce")

    def _search_now(self) -> None:
        self._timer = None
        try:
            query = self.build_query()
        except ValueError as exc:
            self._say(str(exc), error=True)
            return
        self._say("", error=False)
        self._search(query)

    @work(thread=True, exclusive=True, exit_on_error=False, group="search")
    def _search(self, query: RecordQuery) -> None:
        try:
            page = self.services.search(self.session, query)
        except Exception as exc:
            if not get_current_worker().is_cancelled:
                self.app.call_from_thread(self._say, describe_error(exc), error=True)
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show, query, page)

    def _show(self, query: RecordQuery, page: Page) -> None:
        before = self.page
        self.page, self.query_shown = page, query
        if (
            before is not None
            and before.items == page.items
            and before.counts == page.counts
            and before.total == page.total
        ):
            return  # a refresh that found nothing new: leave the table (and cursor) alone
        names = {p.id: p.name for p in self.services.settings.physiotherapists}
        table = self.query_one("#records", DataTable)
        selected = self._selected_record_id()
        table.clear()
        for item in page.items:
            row = item.row
            status = status_text(item.status)
            if item.standing.expiring_soon:
                status += " " + _("(expiring)")
            extras = to_discuss(row.flag_count, row.missed_count)
            if row.has_substitute:
                extras = ", ".join(filter(None, [extras, _("substitute")]))
            table.add_row(
                plain(when(row.completed_at)),
                plain(row.reference),
                plain(row.patient_name),
                plain(day(row.date_of_birth)),
                plain(status),
                plain(extras),
                plain(names.get(row.physiotherapist_id, row.physiotherapist_id)),
                key=row.record_id,
            )
            if row.record_id == selected:
                table.move_cursor(row=table.row_count - 1)
        counts = [f"{n} {status_text(status)}" for status, n in page.counts.items() if n and status]
        self.query_one("#counts", Static).update(
            " · ".join(counts) if counts else _("No records match.")
        )
        if page.total:
            paging = _("Records {first}–{last} of {total}").format(
                first=page.offset + 1, last=page.offset + len(page.items), total=page.total
            )
        else:
            paging = _("No records match the search and filters.")
        self.query_one("#paging", Static).update(paging)
        self.refresh_bindings()
        self.post_message(self.Shown(page))

    def refresh_list(self) -> None:
        """Search again with the same widgets (after an action changed a record)."""
        self._schedule(0)

    def _say(self, text: str, *, error: bool) -> None:
        message = self.query_one("#records-message", Static)
        message.update(text)
        message.set_class(error and bool(text), "-error")

    # -- actions ----------------------------------------------------------------------

    def action_focus_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_focus_table(self) -> None:
        self.query_one("#records", DataTable).focus()

    def action_page(self, step: int) -> None:
        page = self.page
        if page is None:
            return
        if step > 0 and page.has_more:
            self._offset = page.offset + PAGE_SIZE
        elif step < 0 and page.offset > 0:
            self._offset = max(0, page.offset - PAGE_SIZE)
        else:
            return
        self._schedule(0)

    def action_clear_filters(self) -> None:
        with self.prevent(Select.Changed, Checkbox.Changed, Input.Changed):
            self.query_one("#search", Input).value = ""
            self.query_one("#status", Select).clear()
            self.query_one("#physio", Select).clear()
            self.query_one("#from", Input).value = ""
            self.query_one("#to", Input).value = ""
            for box in self.query(Checkbox):
                box.value = False
        self._offset = 0
        self._schedule(0)

    def _selected_record_id(self) -> str | None:
        table = self.query_one("#records", DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return None if key.value is None else str(key.value)

    @on(DataTable.RowSelected, "#records")
    def _open(self, event: DataTable.RowSelected) -> None:
        record_id = event.row_key.value
        if record_id is None:
            return
        if not can(self.session.role, StaffOperation.VIEW_RECORD):
            # An admin does not open clinical details; they may export the PDF.
            self._say(
                _("Admins do not open records; press F6 to export this record's PDF."),
                error=False,
            )
            return
        from screens.staff.record import RecordScreen

        self.app.push_screen(
            RecordScreen(self.services, self.session, str(record_id)),
            callback=lambda _changed: self.refresh_list(),
        )

    def action_export(self) -> None:
        record_id = self._selected_record_id()
        if record_id is None:
            self._say(_("Choose a record in the list first."), error=True)
            return
        from screens.staff.dialogs import ExportPdfScreen

        page = self.page
        reference = next(
            (i.row.reference for i in (page.items if page else ()) if i.row.record_id == record_id),
            "record",
        )
        self.app.push_screen(ExportPdfScreen(self.services, self.session, record_id, reference))

    def action_accounts(self) -> None:
        from screens.staff.admin import AccountsScreen

        self.app.push_screen(AccountsScreen(self.services, self.session))

    def action_audit(self) -> None:
        from screens.staff.admin import AuditScreen

        self.app.push_screen(AuditScreen(self.services, self.session))

    def action_store(self) -> None:
        from screens.staff.admin import StoreScreen

        self.app.push_screen(StoreScreen(self.services, self.session))
