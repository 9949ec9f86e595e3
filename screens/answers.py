"""Health screening and the patient's decision."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.widgets import Button, Checkbox, RadioSet, Static

from consent_records.model import Decision, ScreeningAnswerValue
from kiosk.i18n import _, ngettext
from screens.base import PatientStep
from screens.widgets import WrappingCheckbox, WrappingRadioButton

ANSWER_LABELS = {
    ScreeningAnswerValue.YES: "Yes",
    ScreeningAnswerValue.NO: "No",
    ScreeningAnswerValue.NOT_SURE: "Not sure",
}


class ScreeningScreen(PatientStep):
    """Yes / No / Not sure for each health question. Flags only mark the record."""

    def compose_body(self) -> ComposeResult:
        for_patient = self.session.voice == "substitute"
        yield Static(
            _("The patient's health") if for_patient else _("Your health"), classes="title"
        )
        yield Static(
            _(
                "Please answer each question for the patient. A Yes or Not sure does not stop "
                "the treatment: it tells the physiotherapist what to talk about."
            )
            if for_patient
            else _(
                "Please answer each question. A Yes or Not sure does not stop your "
                "treatment: it tells your physiotherapist what to talk about with you."
            ),
            classes="intro",
        )
        with VerticalScroll(id="questions"):
            for number, question in enumerate(self.session.shown.screening, 1):
                with Vertical(classes="screening-question", id=f"q-{question.id}"):
                    yield Static(f"{number}. {question.prompt}", classes="prompt", markup=False)
                    if question.help:
                        yield Static(question.help, classes="help", markup=False)
                    with Horizontal(classes="answers"):
                        for value, label in ANSWER_LABELS.items():
                            yield Button(
                                _(label),
                                id=f"a-{question.id}--{value.value}",
                                classes="answer",
                            )
        yield Static("", id="answered", classes="hint")

    def on_mount(self) -> None:
        super().on_mount()
        for question_id, value in self.session.screening.items():
            self._show(question_id, value)
        self._count()
        self.query(".answer").first(Button).focus()

    def _show(self, question_id: str, value: ScreeningAnswerValue) -> None:
        for button in self.query(f"#q-{question_id} .answer").results(Button):
            button.set_class(button.id == f"a-{question_id}--{value.value}", "-chosen")

    def _count(self) -> None:
        total = len(self.session.shown.screening)
        left = total - len(self.session.screening)
        self.query_one("#answered", Static).update(
            ngettext("{n} question left to answer.", "{n} questions left to answer.", left).format(
                n=left
            )
            if left
            else _("All questions answered.")
        )

    @on(Button.Pressed, ".answer")
    def _answered(self, event: Button.Pressed) -> None:
        event.stop()
        question_id, _sep, value = (event.button.id or "").removeprefix("a-").partition("--")
        answer = ScreeningAnswerValue(value)
        self.session.screening[question_id] = answer
        self._show(question_id, answer)
        self._count()
        self.say("")
        # Move on to the next question's first answer, so keyboard users flow through.
        questions = [q.id for q in self.session.shown.screening]
        position = questions.index(question_id)
        if position + 1 < len(questions):
            target = self.query_one(f"#q-{questions[position + 1]}")
            target.query(".answer").first(Button).focus()
            target.scroll_visible()
        elif self.session.screening_complete():
            self.query_one("#continue", Button).focus()

    def commit(self) -> bool:
        missing = [q for q in self.session.shown.screening if q.id not in self.session.screening]
        if missing:
            self.say(
                ngettext(
                    "Please answer the last question. If you are not sure, choose Not sure.",
                    "Please answer every question ({n} left). "
                    "If you are not sure, choose Not sure.",
                    len(missing),
                ).format(n=len(missing))
            )
            first = self.query_one(f"#q-{missing[0].id}")
            first.scroll_visible()
            first.query(".answer").first(Button).focus()
            return False
        return True


class DecisionScreen(PatientStep):
    """The statements to confirm, then the patient's choice."""

    def compose_body(self) -> ComposeResult:
        bundle = self.session.shown
        yield Static(_("Your decision"), classes="title")
        with VerticalScroll(id="decision"):
            yield Static(_("Please tick each statement that is true for you:"), classes="intro")
            for statement in bundle.statements:
                yield WrappingCheckbox(
                    escape(statement.text),
                    value=statement.id in self.session.statements,
                    id=f"s-{statement.id}",
                    classes="statement",
                )
            yield Static(_("Then choose one:"), classes="intro")
            with RadioSet(id="choice"):
                for option in bundle.decisions:
                    yield WrappingRadioButton(
                        escape(option.text),
                        value=self.session.decision == Decision(option.id.value),
                        id=f"d-{option.id.value}",
                    )

    def on_mount(self) -> None:
        super().on_mount()
        self.query(".statement").first(Checkbox).focus()

    def _read(self) -> tuple[Decision | None, set[str]]:
        confirmed = {
            (box.id or "").removeprefix("s-")
            for box in self.query(".statement").results(Checkbox)
            if box.value
        }
        pressed = self.query_one("#choice", RadioSet).pressed_button
        decision = Decision((pressed.id or "").removeprefix("d-")) if pressed else None
        return decision, confirmed

    def keep_answers(self) -> None:
        decision, confirmed = self._read()
        self.session.statements = confirmed
        self.session.decision = decision

    @on(Checkbox.Changed)
    @on(RadioSet.Changed)
    def _changed(self) -> None:
        self.keep_answers()
        self.say("")

    def commit(self) -> bool:
        decision, confirmed = self._read()
        problem = self.session.decision_problem(decision, confirmed)
        if problem:
            self.say(problem)
            return False
        self.keep_answers()
        return True
