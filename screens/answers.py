"""Health screening and the patient's decision."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.widget import Widget
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


class QuestionBlock(Vertical, can_focus=True):
    """One health question with its answers. Focus starts here, on the question, so no
    answer looks chosen or about to be chosen before the patient picks one."""


class ScreeningScreen(PatientStep):
    """Yes / No / Not sure for each health question. Flags only mark the record.

    Keys: on a question, Y, N or S answers it (or Tab to the answers and Enter); Left and
    Right move between one question's answers; after an answer, focus moves to the next
    question (never onto one of its answers).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer('yes')", "Yes", show=False),
        Binding("n", "answer('no')", "No", show=False),
        Binding("s", "answer('not_sure')", "Not sure", show=False),
        # priority: the scrolling list around the questions would take the arrows first.
        Binding("left", "move(-1)", "Previous answer", show=False, priority=True),
        Binding("right", "move(1)", "Next answer", show=False, priority=True),
        Binding("down", "question(1)", "Next question", show=False, priority=True),
        Binding("up", "question(-1)", "Previous question", show=False, priority=True),
    ]

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
        with VerticalScroll(id="questions", can_focus=False):
            for number, question in enumerate(self.session.shown.screening, 1):
                with QuestionBlock(classes="screening-question", id=f"q-{question.id}"):
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
        first = next(
            (q for q in self.session.shown.screening if q.id not in self.session.screening),
            self.session.shown.screening[0],
        )
        self.query_one(f"#q-{first.id}").focus()

    def _show(self, question_id: str, value: ScreeningAnswerValue) -> None:
        for button in self.query(f"#q-{question_id} .answer").results(Button):
            chosen = button.id == f"a-{question_id}--{value.value}"
            button.set_class(chosen, "-chosen")
            label = _(ANSWER_LABELS[ScreeningAnswerValue(button.id.partition("--")[2])])  # type: ignore[union-attr]
            # Chosen is marked with a tick, not by colour alone, and never looks like focus.
            button.label = f"✓ {label}" if chosen else label

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

    _moving_to: QuestionBlock | None = None
    """The question focus is moving to (focus lands a moment later): a key typed in between
    is for that question, so quick typing never answers the same question twice."""

    def on_descendant_focus(self) -> None:
        self._moving_to = None

    def _current(self) -> QuestionBlock | None:
        """The question that has focus, or whose answer has focus."""
        if self._moving_to is not None:
            return self._moving_to
        node = self.focused
        while node is not None and not isinstance(node, QuestionBlock):
            node = node.parent  # type: ignore[assignment]
        return node

    def action_answer(self, value: str) -> None:
        block = self._current()
        if block is not None:
            question_id = (block.id or "").removeprefix("q-")
            self._answer(question_id, ScreeningAnswerValue(value))

    def action_move(self, step: int) -> None:
        block = self._current()
        if block is None:
            return
        answers = list(block.query(".answer").results(Button))
        focused = self.focused
        if focused in answers:
            answers[(answers.index(focused) + step) % len(answers)].focus()
        else:
            answers[0 if step > 0 else -1].focus()

    def action_question(self, step: int) -> None:
        """Up and Down: the previous or next question (to read or change an answer)."""
        blocks = list(self.query(QuestionBlock))
        block = self._current()
        if block is None or not blocks:
            return
        index = min(max(blocks.index(block) + step, 0), len(blocks) - 1)
        self._moving_to = blocks[index]
        blocks[index].focus()
        blocks[index].scroll_visible(animate=False)

    @on(Button.Pressed, ".answer")
    def _answered(self, event: Button.Pressed) -> None:
        event.stop()
        question_id, _sep, value = (event.button.id or "").removeprefix("a-").partition("--")
        self._answer(question_id, ScreeningAnswerValue(value))

    def _answer(self, question_id: str, answer: ScreeningAnswerValue) -> None:
        self.session.screening[question_id] = answer
        self._show(question_id, answer)
        self._count()
        self.say("")
        self.refresh_hint()
        # Move on to the next question (not one of its answers), so keyboard users flow
        # through without an answer looking pre-selected.
        questions = [q.id for q in self.session.shown.screening]
        position = questions.index(question_id)
        if position + 1 < len(questions):
            target = self.query_one(f"#q-{questions[position + 1]}", QuestionBlock)
            self._moving_to = target
            target.focus()
            target.scroll_visible(animate=False)
        elif self.session.screening_complete():
            self.query_one("#continue", Button).focus()

    def focus_hint(self, focused: Widget | None) -> str:
        if isinstance(focused, QuestionBlock):
            return _("Y: Yes   N: No   S: Not sure   Tab: answers")
        if focused is not None and focused.has_class("answer"):
            return _("Left, Right: move   Enter: choose")
        return super().focus_hint(focused)

    def key_hint(self) -> str:
        focused = self.focused
        if isinstance(focused, QuestionBlock):
            more = (
                _("Enter: Continue")
                if self.session.screening_complete()
                else _("Up, Down: questions")
            )
            return "   ".join((self.focus_hint(focused), more))
        if focused is not None and focused.has_class("answer"):
            return "   ".join((self.focus_hint(focused), _("Tab: next")))
        return super().key_hint()

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
            first.scroll_visible(animate=False)
            first.focus()
            return False
        return True


class DecisionScreen(PatientStep):
    """The statements to confirm, then the patient's choice."""

    def compose_body(self) -> ComposeResult:
        bundle = self.session.shown
        yield Static(_("Your decision"), classes="title")
        with VerticalScroll(id="decision", can_focus=False):
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
        self.query(".statement").first(Checkbox).focus(scroll_visible=False)
        # The choices scroll themselves into view as they mount; start at the top, where
        # the page says what to do.
        self.call_after_refresh(self._to_top)

    def _to_top(self) -> None:
        self.query_one("#decision", VerticalScroll).scroll_home(animate=False)

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
            # Take the patient to what needs doing: the choice, or the first box not ticked.
            unticked = [box for box in self.query(".statement").results(Checkbox) if not box.value]
            target = self.query_one("#choice") if decision is None or not unticked else unticked[0]
            target.focus()
            target.scroll_visible(animate=False)
            return False
        self.keep_answers()
        return True
