"""One record, as a physiotherapist reads it: "Discuss these first" on top, then everything
else the record holds, the drawn signature, and the timeline of events; the acts this
session may take now along the bottom.

The view comes from the services (:class:`kiosk.staff.review.RecordView`) and is replaced
as a whole after each act, or when another terminal's act is found to have come first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Label, LoadingIndicator, Static

from consent_records.lifecycle import CONSENT_COMPLETE, FINAL, ConsentStatus
from kiosk.auth.permissions import StaffOperation
from kiosk.i18n import _
from screens.staff.common import day, describe_error, plain, status_text, when
from screens.staff.widgets import SignatureView

if TYPE_CHECKING:
    from kiosk.staff.review import RecordView, ViewToken
    from kiosk.staff.services import StaffServices
    from kiosk.staff.sessions import StaffSession

_O = StaffOperation
RECONSENT_STATES = frozenset(FINAL | {ConsentStatus.EXPIRED, ConsentStatus.RECONSENT_NEEDED})

# (button id, binding key, label, operation)
ACTIONS: tuple[tuple[str, str, str, StaffOperation], ...] = (
    ("discuss", "d", "Discussion", _O.RECORD_DISCUSSION),
    ("countersign", "c", "Countersign", _O.COUNTERSIGN),
    ("decline", "x", "Declined", _O.RECORD_DECLINE),
    ("not-proceeding", "z", "Not proceeding", _O.RECORD_NOT_PROCEEDING),
    ("withdraw", "w", "Withdrawal", _O.RECORD_WITHDRAWAL),
    ("note", "n", "Note", _O.ADD_NOTE),
    ("link", "l", "Link re-consent", _O.LINK_RECONSENT),
    ("changes", "v", "What changed", _O.VIEW_RECORD),
    ("export", "e", "Export PDF", _O.EXPORT_PDF),
)


class RecordScreen(Screen[bool]):
    """One record; dismisses with True when something was recorded on it."""

    AUTO_FOCUS = "#record-body"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", _("Back to the list"), id="back"),
        *(
            Binding(key, f"act('{button}')", _(label), id=f"act-{button}")
            for button, key, label, _op in ACTIONS
        ),
    ]

    def __init__(self, services: StaffServices, session: StaffSession, record_id: str) -> None:
        super().__init__()
        self.services = services
        self.session = session
        self.record_id = record_id
        self.view: RecordView | None = None
        self.changed = False

    def compose(self) -> ComposeResult:
        with Horizontal(id="staff-topbar"):
            yield Label(_("Record"), id="staff-title")
            yield Label("", id="record-status", markup=False)
        yield LoadingIndicator(id="record-loading")
        yield VerticalScroll(id="record-body")
        with Horizontal(id="record-actions"):
            for button, _key, label, _op in ACTIONS:
                yield Button(_(label), id=f"act-{button}", compact=True)
        yield Static("", id="record-message", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        for button in self.query("#record-actions Button"):
            button.display = False
        self._load()

    # -- loading ----------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="record")
    def _load(self) -> None:
        try:
            view = (
                self.services.refresh(self.session, self.record_id)
                if self.view is not None
                else self.services.open_record(self.session, self.record_id)
            )
        except Exception as exc:
            self.app.call_from_thread(self._load_failed, describe_error(exc))
            return
        self.app.call_from_thread(self.show_view, view)

    def _load_failed(self, sentence: str) -> None:
        self.query_one("#record-loading").display = False
        self.say(sentence)

    def show_view(self, view: RecordView) -> None:
        """Put ``view`` on screen, replacing what was there."""
        self.view = view
        self.query_one("#record-loading").display = False
        record = view.record
        status = status_text(view.status)
        self.query_one("#record-status", Label).update(
            Text(f"{record.patient.full_name} · {record.reference} · {status}")
        )
        body = self.query_one("#record-body", VerticalScroll)
        scroll_y = body.scroll_y
        body.remove_children()
        body.mount_all(list(self._body(view)))
        body.call_after_refresh(body.scroll_to, y=scroll_y, animate=False)
        for button, _key, _label, operation in ACTIONS:
            widget = self.query_one(f"#act-{button}", Button)
            widget.display = self._allowed(button, operation)
        self.refresh_bindings()

    def _allowed(self, button: str, operation: StaffOperation) -> bool:
        view = self.view
        if view is None:
            return False
        if button == "link":
            # A later kiosk record is a re-consent only once this one has ended or lapsed.
            return operation in view.operations and view.status in RECONSENT_STATES
        if button == "changes":
            return bool(view.material_changes) or (
                view.content_version_now is not None
                and view.content_version_now != view.record.content.version
            )
        return operation in view.operations

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "act":
            button = str(parameters[0]) if parameters else ""
            operation = next((op for b, _k, _l, op in ACTIONS if b == button), None)
            return operation is not None and self._allowed(button, operation)
        return True

    # -- what is shown ----------------------------------------------------------------

    def _body(self, view: RecordView) -> list[Static | Label | SignatureView]:
        record = view.record
        out: list[Static | Label | SignatureView] = []

        def head(text: str, *classes: str) -> None:
            out.append(Label(text, classes=" ".join(("section-head", *classes))))

        def line(text: str, classes: str = "detail") -> None:
            out.append(Static(plain(text), classes=classes))

        standing = view.standing
        status_line = _("Status: {status}").format(status=status_text(view.status))
        if standing.expires_at is not None:
            status_line += " · " + _("consent valid until {day}").format(
                day=day(standing.expires_at.date())
            )
        line(status_line, "status-line")
        if view.status not in CONSENT_COMPLETE and view.status not in FINAL:
            # Only while consent is still to be given: on a withdrawn, declined or "not
            # proceeding" record the line would suggest consent may yet follow.
            line(
                _(
                    "The kiosk record is not by itself consent to treatment: consent follows "
                    "your discussion with the patient and your countersignature."
                ),
                "hint",
            )
        for revision in view.material_changes:
            line(
                _("Re-consent needed: content {version} changed materially: {what}").format(
                    version=revision.version, what=revision.what_changed
                ),
                "warning",
            )
        if view.clinical_problem:
            line(view.clinical_problem, "warning")

        head(_("Discuss these first"), "discuss-head")
        if not view.discuss_first:
            line(_("Nothing is marked for discussion on this record."))
        for point in view.discuss_first:
            mark = "✓" if point.addressed else "•"
            out.append(Static(plain(f"{mark} {point.title}", "bold"), classes="discuss-title"))
            for text in point.lines:
                line(text, "discuss-line")
            for note in point.notes:
                line(_("Note: {note}").format(note=note), "discuss-line")
        if view.countersign_blocker and _O.RECORD_DISCUSSION in view.operations:
            line(_("Before countersigning: {why}").format(why=view.countersign_blocker), "hint")
        if (
            view.record
            and view.reading_rate
            and any(p.item.kind.value == "section_read_quickly" for p in view.discuss_first)
        ):
            line(view.reading_rate, "hint")

        head(_("Patient"))
        patient = record.patient
        line(_("Name: {name}").format(name=patient.full_name))
        line(
            _("Date of birth: {dob} (age {age} when signing)").format(
                dob=day(patient.date_of_birth), age=patient.age_years
            )
        )
        if patient.chart_number:
            line(_("Chart number: {chart}").format(chart=patient.chart_number))
        line(_("Physiotherapist named: {name}").format(name=record.physiotherapist.name))
        if record.substitute is not None:
            line(
                _("Filled in by {name} ({relationship}) on the patient's behalf").format(
                    name=record.substitute.full_name,
                    relationship=record.substitute.relationship,
                )
            )

        head(_("At the kiosk"))
        line(_("Decision: {status}").format(status=status_text(view.lifecycle.initial)))
        line(
            _("Started {start}, signed {end} at kiosk {kiosk}").format(
                start=when(record.started_at), end=when(record.completed_at), kiosk=record.kiosk_id
            )
        )
        line(
            _("Content version {version} ({language})").format(
                version=record.content.version, language=record.content.language
            )
        )
        line(_("Statements confirmed: {n}").format(n=len(record.statements_confirmed)))

        head(_("Education"))
        for engagement in record.engagement:
            reached = _("read to the end") if engagement.reached_end else _("end not reached")
            line(f"{engagement.section_id}: {round(engagement.seconds_on_screen)} s, {reached}")

        head(_("Understanding check"))
        for answer in record.quiz:
            result = (
                _("right the first time")
                if answer.first_correct
                else _("{n} tries").format(n=len(answer.attempts))
            )
            line(f"{answer.question_id}: {result}")

        head(_("Health screening"))
        for screening in record.screening:
            line(f"{screening.question_id}: {screening.answer.value.replace('_', ' ')}")

        head(_("Signature"))
        signature = record.signature
        line(
            _("{method} by {who}, typed name {name}, at {at}").format(
                method=signature.method.value.replace("_", " "),
                who=signature.signer,
                name=signature.typed_name,
                at=when(signature.signed_at),
            )
        )
        if signature.strokes:
            out.append(
                SignatureView(
                    [[(p.x, p.y) for p in stroke] for stroke in signature.strokes],
                    signature.pad_width,
                    signature.pad_height,
                    classes="signature",
                )
            )

        head(_("Timeline"))
        for entry in view.timeline:
            out.append(
                Static(
                    plain(f"{when(entry.at)}  {entry.title}  ({entry.who})", "bold"),
                    classes="timeline-title",
                )
            )
            for text in entry.lines:
                line(text, "timeline-line")
            if entry.refused:
                line(_("Not applied: {why}").format(why=entry.refused), "warning")
        return out

    # -- acts -------------------------------------------------------------------------

    def say(self, text: str, *, error: bool = True) -> None:
        message = self.query_one("#record-message", Static)
        message.update(text)
        message.set_class(error and bool(text), "-error")

    @on(Button.Pressed, "#record-actions Button")
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id:
            self.action_act(event.button.id.removeprefix("act-"))

    def _exported(self, _path: Path | None) -> None:
        self._load()  # the export is on the timeline now

    def action_back(self) -> None:
        self.dismiss(self.changed)

    def _stale(self, view: RecordView) -> None:
        self.show_view(view)

    def _after(self, done: str) -> Callable[[RecordView | None], None]:
        def callback(view: RecordView | None) -> None:
            if view is not None:
                self.changed = True
                self.show_view(view)
                self.say(done, error=False)

        return callback

    def action_act(self, button: str) -> None:
        from screens.staff import dialogs

        view = self.view
        if view is None:
            return
        services, session = self.services, self.session

        def token() -> ViewToken:
            assert self.view is not None
            return self.view.token

        if button == "discuss":

            def discuss(value: dialogs.DiscussionInput) -> RecordView:
                return services.record_discussion(
                    session,
                    token(),
                    items=value.items,
                    questions=value.questions,
                    other=value.other,
                )

            self.app.push_screen(
                dialogs.DiscussionDialog(view.discuss_first, discuss, self._stale),
                self._after(_("Discussion recorded.")),
            )
        elif button == "countersign":
            try:
                statement = services.countersign_statement(session, self.record_id)
            except Exception as exc:
                self.say(describe_error(exc))
                return
            self.app.push_screen(
                dialogs.CountersignDialog(
                    statement,
                    services.now,
                    lambda password: services.countersign(session, token(), password),
                    self._stale,
                ),
                self._after(_("Countersigned: consent is active.")),
            )
        elif button == "decline":
            self.app.push_screen(
                dialogs.TextDialog(
                    _("The patient declined IMS after your discussion"),
                    _("This closes the record: the patient does not consent to IMS."),
                    _("The patient's reason, if they gave one (optional)"),
                    _("Record the decline"),
                    lambda reason: services.decline(session, token(), reason),
                    self._stale,
                    required=False,
                    danger=True,
                ),
                self._after(_("Decline recorded.")),
            )
        elif button == "not-proceeding":
            self.app.push_screen(
                dialogs.TextDialog(
                    _("Not proceeding with IMS"),
                    _(
                        "You decided IMS is not suitable for this patient, or the consent is "
                        "otherwise closed. This closes the record."
                    ),
                    _("Why (required)"),
                    _("Record not proceeding"),
                    lambda reason: services.not_proceeding(session, token(), reason or ""),
                    self._stale,
                    required=True,
                    danger=True,
                ),
                self._after(_("Recorded: not proceeding.")),
            )
        elif button == "withdraw":
            self.app.push_screen(
                dialogs.TextDialog(
                    _("The patient withdraws their consent"),
                    _(
                        "A patient may withdraw consent at any time. The record becomes "
                        "withdrawn; a later treatment needs a new kiosk record."
                    ),
                    _("The patient's reason, if they gave one (optional)"),
                    _("Record the withdrawal"),
                    lambda reason: services.withdraw(session, token(), reason),
                    self._stale,
                    required=False,
                    danger=True,
                ),
                self._after(_("Withdrawal recorded.")),
            )
        elif button == "note":
            self.app.push_screen(
                dialogs.TextDialog(
                    _("Add a note to this record"),
                    _("Notes are added to the record's timeline; they change nothing else."),
                    _("Note"),
                    _("Add the note"),
                    lambda text: services.add_note(session, self.record_id, text or ""),
                    self._stale,
                    required=True,
                ),
                self._after(_("Note added.")),
            )
        elif button == "link":
            try:
                found = services.reconsent_candidates(session, self.record_id)
            except Exception as exc:
                self.say(describe_error(exc))
                return
            candidates = [
                (
                    item.row.reference,
                    f"{when(item.row.completed_at)} · {status_text(item.status)}",
                )
                for item in found
            ]
            self.app.push_screen(
                dialogs.ReconsentDialog(
                    candidates,
                    lambda reference: services.link_reconsent(session, self.record_id, reference),
                    self._stale,
                ),
                self._after(_("The later record is linked.")),
            )
        elif button == "changes":
            from screens.staff.changes import WhatChangedScreen

            self.app.push_screen(WhatChangedScreen(services, session, self.record_id))
        elif button == "export":
            self.app.push_screen(
                dialogs.ExportPdfScreen(services, session, self.record_id, view.record.reference),
                self._exported,
            )
