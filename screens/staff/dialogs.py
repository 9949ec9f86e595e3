"""Dialogs for the acts on one record, and the PDF export.

Each act dialog collects what the physiotherapist enters, then performs the act itself (in
a thread worker, through a callable the record screen gives it) and closes only when it was
stored. If it was refused, the sentence is shown in the dialog and everything typed stays,
so nothing is lost: after a full disk they press the button again; after another terminal's
act arrived first, the record behind the dialog already shows it and they decide whether to
go on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, LoadingIndicator, Static, TextArea

from consent_records.events import DiscussedItem, PatientQuestion
from kiosk.i18n import _
from screens.staff.common import describe_error, plain, when

if TYPE_CHECKING:
    from kiosk.staff.review import DiscussPoint, RecordView
    from kiosk.staff.services import CountersignStatement, StaffServices
    from kiosk.staff.sessions import StaffSession

T = TypeVar("T")

NOTE_MAX = 2000


class Refused(Exception):
    """What was entered cannot be stored as it is; ``str()`` says why."""


class ActionDialog(ModalScreen["RecordView | None"], Generic[T]):
    """A dialog that collects a value and stores it through ``perform``.

    ``perform(value)`` runs in a worker thread and returns the record as it now stands. A
    ``StaleRecord`` refusal (another terminal was first) hands its current view to
    ``on_stale`` so the record screen shows what arrived, and keeps the dialog open.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", _("Cancel")),
        Binding("ctrl+s", "submit", _("Save")),
    ]

    title_text = ""
    submit_text = "Save"
    submit_variant = "primary"
    tall = False
    """Long dialogs fill the screen's height and scroll their body (buttons stay seen)."""

    def __init__(
        self,
        perform: Callable[[T], RecordView],
        on_stale: Callable[[RecordView], None],
    ) -> None:
        super().__init__()
        self._perform = perform
        self._on_stale = on_stale

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -tall" if self.tall else "dialog"):
            yield Label(_(self.title_text), classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield from self.compose_fields()
            yield Static("", classes="dialog-message", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Label(_("ctrl+s saves · esc cancels"), classes="dialog-keys")
                yield Button(_("Cancel"), id="cancel", compact=True)
                yield Button(
                    _(self.submit_text),
                    id="submit",
                    variant=self.submit_variant,  # type: ignore[arg-type]
                    compact=True,
                )

    def compose_fields(self) -> ComposeResult:
        yield from ()

    def collect(self) -> T:
        """What was entered, as the value to store. Raises :class:`Refused`."""
        raise NotImplementedError

    def say(self, text: str, *, error: bool = True) -> None:
        message = self.query_one(".dialog-message", Static)
        message.update(text)
        message.set_class(error and bool(text), "-error")

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        if not self.query_one("#submit", Button).disabled:
            self.submit()

    @on(Button.Pressed, "#cancel")
    def _cancel(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    @on(Button.Pressed, "#submit")
    def _submit(self, event: Button.Pressed) -> None:
        event.stop()
        self.submit()

    def submit(self) -> None:
        try:
            value = self.collect()
        except Refused as exc:
            self.say(str(exc))
            return
        self.query_one("#submit", Button).disabled = True
        self.say(_("Saving…"), error=False)
        self._store(value)

    @work(thread=True, exclusive=True, exit_on_error=False, group="act")
    def _store(self, value: T) -> None:
        from kiosk.staff.errors import StaleRecord

        try:
            view = self._perform(value)
        except StaleRecord as stale:
            self.app.call_from_thread(self._stale, stale)
            return
        except Exception as exc:
            self.app.call_from_thread(self._failed, describe_error(exc))
            return
        self.app.call_from_thread(self.dismiss, view)

    def _stale(self, stale: Any) -> None:
        self._on_stale(stale.current)
        # The services' sentence already names the newer entries: say them once.
        self._failed(str(stale) + " " + _("What you entered is still here."))

    def _failed(self, sentence: str) -> None:
        self.query_one("#submit", Button).disabled = False
        self.say(sentence)


# -- discussion ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DiscussionInput:
    items: tuple[DiscussedItem, ...]
    questions: tuple[PatientQuestion, ...]
    other: str | None


class DiscussionDialog(ActionDialog[DiscussionInput]):
    """Record the discussion: tick each item addressed (with a note), the patient's
    questions with the answers given, and anything else discussed."""

    title_text = "Record your discussion with the patient"
    submit_text = "Save the discussion"
    tall = True

    def __init__(
        self,
        points: tuple[DiscussPoint, ...],
        perform: Callable[[DiscussionInput], RecordView],
        on_stale: Callable[[RecordView], None],
    ) -> None:
        super().__init__(perform, on_stale)
        self.points = points
        self._questions = 0

    def compose_fields(self) -> ComposeResult:
        outstanding = [p for p in self.points if not p.addressed]
        done = [p for p in self.points if p.addressed]
        if outstanding:
            yield Label(_("Tick each item you went over with the patient:"), classes="subhead")
        elif self.points:
            yield Label(_("Every item to discuss first is addressed already."), classes="hint")
        for index, point in enumerate(self.points):
            if point.addressed:
                continue
            yield Static(plain(point.title, "bold"), classes="discuss-item")
            for line in point.lines:
                yield Static(plain(line), classes="discuss-line")
            with Horizontal(classes="discuss-row"):
                yield Checkbox(
                    _("Addressed"), id=f"item-{index}", classes="discuss-tick", compact=True
                )
                yield Input(
                    id=f"item-note-{index}",
                    placeholder=_("note (optional)"),
                    max_length=NOTE_MAX,
                    compact=True,
                    classes="discuss-note",
                )
        if done:
            yield Label(_("Addressed in an earlier discussion:"), classes="subhead")
            for point in done:
                yield Static(plain("✓ " + point.title), classes="discuss-line")
        yield Label(_("The patient's questions and your answers"), classes="subhead")
        yield Vertical(id="questions")
        yield Button(_("Add a question"), id="add-question", compact=True)
        yield Label(_("Anything else you discussed (optional)"), classes="subhead")
        yield TextArea(id="other", soft_wrap=True, compact=True, classes="note-area")

    def on_mount(self) -> None:
        self._add_question()
        first = self.query(".discuss-tick")
        (first.first() if first else self.query_one("#other", TextArea)).focus()

    def _add_question(self) -> None:
        n = self._questions
        self._questions += 1
        box = self.query_one("#questions", Vertical)
        box.mount(
            Input(
                id=f"q-{n}",
                placeholder=_("Question the patient asked"),
                max_length=NOTE_MAX,
                compact=True,
            ),
            Input(
                id=f"a-{n}",
                placeholder=_("Your answer"),
                max_length=NOTE_MAX,
                compact=True,
                classes="answer",
            ),
        )

    @on(Button.Pressed, "#add-question")
    def _more(self, event: Button.Pressed) -> None:
        event.stop()
        self._add_question()
        self.call_after_refresh(lambda: self.query_one(f"#q-{self._questions - 1}").focus())

    def collect(self) -> DiscussionInput:
        items = []
        for index, point in enumerate(self.points):
            if point.addressed:
                continue
            ticked = self.query_one(f"#item-{index}", Checkbox).value
            note = self.query_one(f"#item-note-{index}", Input).value.strip() or None
            items.append(DiscussedItem(item=point.item, addressed=ticked, note=note))
        questions = []
        for n in range(self._questions):
            question = self.query_one(f"#q-{n}", Input).value.strip()
            answer = self.query_one(f"#a-{n}", Input).value.strip()
            if question and not answer:
                raise Refused(_("Write the answer you gave to: {q}").format(q=question[:80]))
            if answer and not question:
                raise Refused(_("Write the question your answer replies to."))
            if question:
                questions.append(PatientQuestion(question=question, answer=answer))
        other = self.query_one("#other", TextArea).text.strip() or None
        if other is not None and len(other) > NOTE_MAX:
            raise Refused(
                _("What else you discussed is too long ({n} characters; at most {max}).").format(
                    n=len(other), max=NOTE_MAX
                )
            )
        if not any(i.addressed for i in items) and not questions and not other:
            raise Refused(
                _(
                    "Tick an item you went over, write a question the patient asked, or say "
                    "what else you discussed."
                )
            )
        return DiscussionInput(tuple(items), tuple(questions), other)


# -- countersignature --------------------------------------------------------------------


class CountersignDialog(ActionDialog[str]):
    """Countersign: the printed name, the time and what it means, then the password again."""

    title_text = "Countersign: the patient's consent to IMS"
    submit_text = "Countersign"
    submit_variant = "success"
    tall = True

    def __init__(
        self,
        statement: CountersignStatement,
        now: Callable[[], datetime],
        perform: Callable[[str], RecordView],
        on_stale: Callable[[RecordView], None],
    ) -> None:
        super().__init__(perform, on_stale)
        self.statement = statement
        self._now = now

    def compose_fields(self) -> ComposeResult:
        s = self.statement
        yield Static(Text(s.meaning), id="meaning")
        yield Label(_("Printed name"), classes="subhead")
        yield Static(plain(s.signer_name), id="signer")
        yield Label(_("Registration number"), classes="subhead")
        yield Static(plain(s.registration or _("not recorded in the clinic settings")))
        yield Label(_("Time of signing"), classes="subhead")
        yield Static(plain(when(self._now())), id="sign-time")
        yield Label(_("Your password, to sign"), classes="subhead")
        yield Input(id="sign-password", password=True, max_length=1024)

    def on_mount(self) -> None:
        self.query_one("#sign-password", Input).focus()
        self.set_interval(15, self._tick)

    def _tick(self) -> None:
        self.query_one("#sign-time", Static).update(plain(when(self._now())))

    @on(Input.Submitted, "#sign-password")
    def _entered(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def collect(self) -> str:
        password = self.query_one("#sign-password", Input).value
        if not password:
            raise Refused(_("Type your password to sign."))
        return password

    def _failed(self, sentence: str) -> None:
        self.query_one("#sign-password", Input).value = ""
        super()._failed(sentence)
        self.query_one("#sign-password", Input).focus()


# -- a reason or a note --------------------------------------------------------------------


class TextDialog(ActionDialog["str | None"]):
    """One free-text field: a decline's reason, why not proceeding, a withdrawal, a note."""

    def __init__(
        self,
        title: str,
        explanation: str,
        label: str,
        submit: str,
        perform: Callable[[str | None], RecordView],
        on_stale: Callable[[RecordView], None],
        *,
        required: bool,
        danger: bool = False,
    ) -> None:
        super().__init__(perform, on_stale)
        self.title_text = title
        self.submit_text = submit
        self.submit_variant = "error" if danger else "primary"
        self._explanation = explanation
        self._label = label
        self._required = required

    def compose_fields(self) -> ComposeResult:
        yield Static(Text(self._explanation), classes="dialog-explanation")
        yield Label(self._label, classes="subhead")
        yield TextArea(id="text", soft_wrap=True, compact=True, classes="note-area")

    def on_mount(self) -> None:
        self.query_one("#text", TextArea).focus()

    def collect(self) -> str | None:
        text = " ".join(self.query_one("#text", TextArea).text.split())
        if len(text) > NOTE_MAX:
            raise Refused(
                _("This is too long ({n} characters; at most {max}).").format(
                    n=len(text), max=NOTE_MAX
                )
            )
        if self._required and not text:
            raise Refused(_("Write it in the box first."))
        return text or None


# -- re-consent link ------------------------------------------------------------------------


class ReconsentDialog(ActionDialog[str]):
    """Link this record to the patient's later kiosk record (their re-consent)."""

    title_text = "Link the patient's later kiosk record"
    submit_text = "Link"

    def __init__(
        self,
        candidates: list[tuple[str, str]],
        perform: Callable[[str], RecordView],
        on_stale: Callable[[RecordView], None],
    ) -> None:
        super().__init__(perform, on_stale)
        self.candidates = candidates
        """(reference, one line about it) for later records of the same patient."""

    def compose_fields(self) -> ComposeResult:
        yield Static(
            Text(
                _(
                    "A patient whose consent was withdrawn, expired or needs re-consent fills in "
                    "a new kiosk record; linking it here shows the two together. Neither "
                    "record's status changes."
                )
            ),
            classes="dialog-explanation",
        )
        if self.candidates:
            yield Label(_("Later records of this patient"), classes="subhead")
            for reference, line in self.candidates:
                yield Static(plain(f"{reference}  {line}"), classes="discuss-line")
        else:
            yield Label(
                _("No later record with this name and date of birth was found."), classes="hint"
            )
        yield Label(_("Reference code of the later record"), classes="subhead")
        first = self.candidates[0][0] if self.candidates else ""
        yield Input(first, id="later-reference", max_length=20, placeholder="K7P3-QX9M")

    def on_mount(self) -> None:
        self.query_one("#later-reference", Input).focus()

    @on(Input.Submitted, "#later-reference")
    def _entered(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def collect(self) -> str:
        reference = self.query_one("#later-reference", Input).value.strip()
        if not reference:
            raise Refused(_("Type the later record's reference code."))
        return reference


# -- PDF export ------------------------------------------------------------------------------


class ExportPdfScreen(ModalScreen[Path | None]):
    """Export one record's PDF to a file (owner-only), in a worker."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", _("Cancel"))]

    def __init__(
        self, services: StaffServices, session: StaffSession, record_id: str, reference: str
    ) -> None:
        super().__init__()
        self.services = services
        self.session = session
        self.record_id = record_id
        self.reference = reference

    def compose(self) -> ComposeResult:
        default = Path.home() / f"consent-{self.reference}.pdf"
        with Vertical(classes="dialog"):
            yield Label(
                _("Export the PDF of {ref}").format(ref=self.reference), classes="dialog-title"
            )
            yield Static(
                _(
                    "The PDF holds the patient's health answers: keep it somewhere only you "
                    "can read (the file is made readable by you alone). The export is logged "
                    "on the record."
                ),
                classes="dialog-explanation",
            )
            yield Label(_("Save as"), classes="subhead")
            yield Input(str(default), id="pdf-path", max_length=4096)
            yield LoadingIndicator(id="pdf-busy")
            yield Static("", classes="dialog-message", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(_("Close"), id="cancel", compact=True)
                yield Button(_("Export"), id="submit", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#pdf-busy").display = False
        self.query_one("#pdf-path", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#cancel")
    def _cancel(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    @on(Input.Submitted, "#pdf-path")
    @on(Button.Pressed, "#submit")
    def _submit(self, event: Button.Pressed | Input.Submitted) -> None:
        event.stop()
        text = self.query_one("#pdf-path", Input).value.strip()
        if not text:
            self._say(_("Type where to save the PDF."), error=True)
            return
        path = Path(text).expanduser()
        self.query_one("#submit", Button).disabled = True
        self.query_one("#pdf-busy").display = True
        self._say(_("Writing the PDF…"), error=False)
        self._export(path)

    @work(thread=True, exclusive=True, exit_on_error=False, group="export")
    def _export(self, path: Path) -> None:
        try:
            written = self.services.export_pdf(self.session, self.record_id, path)
        except Exception as exc:
            self.app.call_from_thread(self._done, None, describe_error(exc))
            return
        self.app.call_from_thread(self._done, written, None)

    def _done(self, written: Path | None, problem: str | None) -> None:
        self.query_one("#pdf-busy").display = False
        self.query_one("#submit", Button).disabled = False
        if written is None:
            self._say(problem or "", error=True)
            return
        self._say(_("Saved {path} (readable by you only).").format(path=written), error=False)
        self.query_one("#submit", Button).disabled = True
        self.query_one("#cancel", Button).focus()

    def _say(self, text: str, *, error: bool) -> None:
        message = self.query_one(".dialog-message", Static)
        message.update(text)
        message.set_class(error and bool(text), "-error")
