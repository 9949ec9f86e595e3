"""Who is filling this in, About the patient, and the substitute decision-maker's details."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.markup import escape
from textual.widget import Widget
from textual.widgets import Button, Input, Label, RadioSet, Select, Static

from kiosk.i18n import _
from kiosk.session import AboutYou, FieldErrors, SubstituteInput, parse_about, parse_substitute
from screens.base import PatientStep
from screens.widgets import WrappingRadioButton


class FormStep(PatientStep):
    """A step with input fields; shows an error under each field that needs another look.

    An error goes away as soon as its field is fixed (the form is checked again on every
    change while an error is shown), and a field that is full says so.
    """

    draft_key = ""

    def show_errors(self, errors: dict[str, str]) -> None:
        for error_label in self.query(".field-error").results(Static):
            field = (error_label.id or "").removeprefix("error-")
            error_label.update(errors.get(field, ""))
            error_label.display = field in errors
        if errors:
            self.say(_("Please check the highlighted answers."))
            first = next(iter(errors))
            for widget in self.query(f".field-{first}"):
                if widget.focusable:
                    widget.focus()
                    # Once the error lines have taken their room, show the field whole.
                    self.call_after_refresh(widget.scroll_visible, animate=False)
                    break
        else:
            self.say("")

    def field_error(self, field: str) -> Static:
        label = Static("", id=f"error-{field}", classes="field-error", markup=False)
        label.display = False
        return label

    def current_errors(self) -> dict[str, str]:
        """What is wrong with the form as it is now (nothing is kept or shown)."""
        return {}

    def recheck(self) -> None:
        """Hide the errors of fields that are now right (never add new ones mid-typing)."""
        shown = [label for label in self.query(".field-error").results(Static) if label.display]
        if not shown:
            return
        errors = self.current_errors()
        for label in shown:
            field = (label.id or "").removeprefix("error-")
            if field in errors:
                label.update(errors[field])
            else:
                label.display = False
        if not any(label.display for label in shown):
            self.say("")

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        self.recheck()
        self.say_if_full(event.input)

    def say_if_full(self, field: Input) -> None:
        """A field that stops taking characters says so, right under it."""
        limit = field.max_length or 0
        if limit < 20:
            return  # a year or a day is full when it is complete
        full = len(field.value) >= limit
        notes = self.query(f"#full-{field.id}")
        if full and not notes and isinstance(field.parent, Widget):
            field.parent.mount(
                Static(
                    _("This box is full: it takes up to {n} characters.").format(n=limit),
                    id=f"full-{field.id}",
                    classes="field-note",
                    markup=False,
                ),
                after=field,
            )
        elif not full and notes:
            notes.remove()

    @on(Input.Submitted)
    def _next_field(self, event: Input.Submitted) -> None:
        """Enter in a field moves on to the next one, as on a paper form."""
        event.stop()
        self.focus_next()

    def draft(self) -> dict[str, str]:
        return self.session.drafts.get(self.draft_key, {})

    def keep_answers(self) -> None:
        self.session.drafts[self.draft_key] = {
            widget.id: widget.value for widget in self.query(Input) if widget.id
        }


class WhoScreen(PatientStep):
    """Who is filling this in: the patient, or someone deciding on the patient's behalf.

    A free choice, never made from age: a young patient may fill it in themselves (the
    physiotherapist is asked to assess their capacity), and an adult may need a substitute.
    """

    def compose_body(self) -> ComposeResult:
        chosen = self.session.filled_in_by
        yield Static(_("Who is filling this in?"), classes="title")
        with VerticalScroll(id="form", can_focus=False):
            with RadioSet(id="who"):
                yield WrappingRadioButton(
                    _("I am the patient."), value=chosen == "patient", id="who-patient"
                )
                yield WrappingRadioButton(
                    _(
                        "I am filling it in for the patient, as their parent, guardian or "
                        "other substitute decision-maker."
                    ),
                    value=chosen == "substitute",
                    id="who-substitute",
                )
            yield Static(
                _(
                    "A substitute decision-maker is a person the law allows to decide for "
                    "someone who cannot decide for themselves. Young people can fill this in "
                    "themselves: the physiotherapist will talk with them about who gives "
                    "consent."
                ),
                classes="intro",
            )

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#who", RadioSet).focus()
        self.call_after_refresh(self._highlight)

    def _highlight(self) -> None:
        """Highlight an option (not choose it), so Enter or Space chooses at once."""
        who = self.query_one("#who", RadioSet)
        if who._selected is None:  # nothing highlighted yet: Enter would do nothing
            who.action_next_button()

    @on(RadioSet.Changed, "#who")
    def _chosen(self, event: RadioSet.Changed) -> None:
        event.stop()
        self.say("")
        self.query_one("#continue", Button).focus()

    def _choice(self) -> str | None:
        pressed = self.query_one("#who", RadioSet).pressed_button
        return (pressed.id or "").removeprefix("who-") if pressed else None

    def keep_answers(self) -> None:
        choice = self._choice()
        if choice in ("patient", "substitute"):
            self.session.set_filled_in_by(choice)  # type: ignore[arg-type]

    def commit(self) -> bool:
        if self._choice() is None:
            self.say(_("Please choose who is filling this in."))
            self.query_one("#who", RadioSet).focus()
            return False
        self.keep_answers()
        return True


class AboutScreen(FormStep):
    """Name, date of birth, chart number and physiotherapist (the patient's, either way)."""

    draft_key = "about"

    def compose_body(self) -> ComposeResult:
        draft = self.draft()
        about = self.session.about
        if about and not draft:
            draft = {
                "full-name": about.full_name,
                "dob-year": str(about.date_of_birth.year),
                "dob-month": str(about.date_of_birth.month),
                "dob-day": str(about.date_of_birth.day),
                "chart": about.chart_number or "",
            }
        physios = [(escape(p.name), p.id) for p in self.session.settings.physiotherapists]
        chosen = draft.get("physio") or (about.physiotherapist_id if about else None)
        for_patient = self.session.voice == "substitute"
        yield Static(_("About the patient") if for_patient else _("About you"), classes="title")
        with VerticalScroll(id="form", can_focus=False):
            yield Label(
                _("The patient's full name (first and last name)")
                if for_patient
                else _("Your full name (first and last name)"),
                classes="field-label",
            )
            yield Input(
                draft.get("full-name", ""),
                id="full-name",
                max_length=120,
                classes="field-full_name",
            )
            yield self.field_error("full_name")
            yield Label(
                _("The patient's date of birth, in numbers")
                if for_patient
                else _("Your date of birth, in numbers"),
                classes="field-label",
            )
            # No placeholders: a grey "1980" in an empty box looks like an answer.
            with Horizontal(id="dob"):
                for part, label, digits in (
                    ("year", _("Year"), 4),
                    ("month", _("Month"), 2),
                    ("day", _("Day"), 2),
                ):
                    yield Label(label, classes="dob-label")
                    yield Input(
                        draft.get(f"dob-{part}", ""),
                        id=f"dob-{part}",
                        max_length=digits,
                        restrict=r"\d*",
                        classes="field-date_of_birth",
                    )
            yield self.field_error("date_of_birth")
            yield Label(
                _("Chart number (if you know it; you can leave this empty)"), classes="field-label"
            )
            yield Input(
                draft.get("chart", ""), id="chart", max_length=40, classes="field-chart_number"
            )
            yield Label(
                _("The patient's physiotherapist") if for_patient else _("Your physiotherapist"),
                classes="field-label",
            )
            yield Select(
                physios,
                id="physio",
                prompt=_("Choose the physiotherapist"),
                value=chosen if chosen in {p for _n, p in physios} else Select.NULL,
                classes="field-physiotherapist",
            )
            yield self.field_error("physiotherapist")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#full-name", Input).focus()

    def keep_answers(self) -> None:
        super().keep_answers()
        value = self.query_one("#physio", Select).value
        if isinstance(value, str):
            self.session.drafts[self.draft_key]["physio"] = value

    @on(Select.Changed, "#physio")
    def _physio_chosen(self, event: Select.Changed) -> None:
        """Once the physiotherapist is chosen, Enter goes on (focus moves to Continue)."""
        self.recheck()
        if isinstance(event.value, str):
            self.query_one("#continue", Button).focus()

    def _parse(self) -> AboutYou:
        value = self.query_one("#physio", Select).value
        return parse_about(
            full_name=self.query_one("#full-name", Input).value,
            year=self.query_one("#dob-year", Input).value,
            month=self.query_one("#dob-month", Input).value,
            day=self.query_one("#dob-day", Input).value,
            chart_number=self.query_one("#chart", Input).value,
            physiotherapist_id=value if isinstance(value, str) else None,
            today=self.session.clock().date(),
            known_physiotherapists={p.id for p in self.session.settings.physiotherapists},
            voice=self.session.voice,
        )

    def current_errors(self) -> dict[str, str]:
        try:
            self._parse()
        except FieldErrors as problems:
            return problems.errors
        return {}

    def commit(self) -> bool:
        self.keep_answers()
        try:
            about = self._parse()
        except FieldErrors as problems:
            self.show_errors(problems.errors)
            return False
        self.show_errors({})
        self.session.set_about(about)
        return True


class SubstituteScreen(FormStep):
    """The substitute decision-maker filling the form in: their name and relationship."""

    draft_key = "substitute"

    def compose_body(self) -> ComposeResult:
        draft = self.draft()
        sub = self.session.substitute
        if sub and not draft:
            draft = {"sdm-name": sub.full_name, "sdm-relationship": sub.relationship}
        yield Static(_("About you, the person filling this in"), classes="title")
        with VerticalScroll(id="form", can_focus=False):
            yield Static(
                _(
                    "You will read this information and answer for the patient, and you "
                    'will sign. The questions speak of "the patient". The physiotherapist '
                    "will also talk with the patient, and check who can give consent."
                ),
                classes="intro",
            )
            yield Label(_("Your full name"), classes="field-label")
            yield Input(
                draft.get("sdm-name", ""), id="sdm-name", max_length=120, classes="field-full_name"
            )
            yield self.field_error("full_name")
            yield Label(
                _("Your relationship to the patient (for example: mother, legal guardian)"),
                classes="field-label",
            )
            yield Input(
                draft.get("sdm-relationship", ""),
                id="sdm-relationship",
                max_length=40,
                classes="field-relationship",
            )
            yield self.field_error("relationship")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#sdm-name", Input).focus()

    def _parse(self) -> SubstituteInput:
        return parse_substitute(
            self.query_one("#sdm-name", Input).value,
            self.query_one("#sdm-relationship", Input).value,
        )

    def current_errors(self) -> dict[str, str]:
        try:
            self._parse()
        except FieldErrors as problems:
            return problems.errors
        return {}

    def commit(self) -> bool:
        self.keep_answers()
        try:
            self.session.substitute = self._parse()
        except FieldErrors as problems:
            self.show_errors(problems.errors)
            return False
        self.show_errors({})
        return True
