"""Education sections (one a screen) and the understanding check (one question a screen)."""

from __future__ import annotations

from rich.markdown import Markdown
from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.widgets import Button, Static

from kiosk.i18n import _
from screens.base import PatientStep


class EducationScreen(PatientStep):
    """One education section. Continue is enabled once the patient has reached its end."""

    def compose_body(self) -> ComposeResult:
        self.section = self.session.shown.sections[self.position.index]
        yield Static(self.section.title, classes="title", markup=False)
        with VerticalScroll(id="reader"):
            # Rich's Markdown in a Static renders about four times faster than the
            # Markdown widget, which matters on a key press to the next screen.
            yield Static(Markdown(self.section.markdown()), id="section-text")
        yield Static("", id="scroll-hint", classes="hint")

    def on_mount(self) -> None:
        super().on_mount()
        reader = self.query_one("#reader", VerticalScroll)
        reader.focus()
        self.session.enter_section(self.section.id)
        self.watch(reader, "scroll_y", self._scrolled, init=False)
        self.call_after_refresh(self._scrolled)

    def on_unmount(self) -> None:
        self.session.leave_section(self.section.id)

    def _scrolled(self) -> None:
        reader = self.query_one("#reader", VerticalScroll)
        # max_scroll_y is 0 when the text fits; wait for the first layout to know.
        if reader.size.height and reader.scroll_y >= reader.max_scroll_y - 0.5:
            self.session.section_end_reached(self.section.id)
        done = self.session.section_done(self.section.id)
        self.query_one("#scroll-hint", Static).update(
            ""
            if done
            else _(
                "Please read to the end to continue: use the arrow keys, Page Down, "
                "the mouse wheel, or swipe."
            )
        )
        self.refresh_continue()

    def can_continue(self) -> bool:
        return self.session.section_done(self.section.id)


class QuizScreen(PatientStep):
    """One question. A wrong answer shows why and asks again; first attempts are recorded."""

    def compose_body(self) -> ComposeResult:
        bundle = self.session.shown
        self.question = bundle.quiz[self.position.index]
        yield Static(
            _("Check your understanding: question {n} of {total}").format(
                n=self.position.index + 1, total=len(bundle.quiz)
            ),
            classes="subtitle",
        )
        yield Static(self.question.prompt, classes="title question", markup=False)
        with VerticalScroll(id="options"):
            for option in self.question.options:
                yield Button(escape(option.text), id=f"option-{option.id}", classes="option")
            yield Static("", id="feedback", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        tried = self.session.quiz_attempts.get(self.question.id, [])
        for option_id in tried:
            self._mark(option_id)
        if self.session.quiz_solved(self.question.id):
            self._show_right()
            self.query_one("#continue", Button).focus()
        else:
            self.query(".option").first(Button).focus()

    def _mark(self, option_id: str) -> None:
        button = self.query_one(f"#option-{option_id}", Button)
        if option_id == self.question.correct:
            button.add_class("-right")
        else:
            button.add_class("-wrong")
            button.disabled = True

    def _show_right(self) -> None:
        for button in self.query(".option").results(Button):
            if not button.has_class("-right"):
                button.disabled = True
        feedback = self.query_one("#feedback", Static)
        feedback.update(_("That's right. {why}").format(why=self.question.explanation))
        feedback.set_classes("-right")

    @on(Button.Pressed, ".option")
    def _answered(self, event: Button.Pressed) -> None:
        event.stop()
        option_id = (event.button.id or "").removeprefix("option-")
        right = self.session.answer_quiz(self.question.id, option_id)
        self._mark(option_id)
        if right:
            self._show_right()
            self.refresh_continue()
            self.query_one("#continue", Button).focus()
        else:
            feedback = self.query_one("#feedback", Static)
            feedback.update(
                _("Not quite. {why}\n\nPlease choose another answer.").format(
                    why=self.question.explanation
                )
            )
            feedback.set_classes("-wrong")
            remaining = [b for b in self.query(".option").results(Button) if not b.disabled]
            if remaining:
                remaining[0].focus()

    def can_continue(self) -> bool:
        return self.session.quiz_solved(self.question.id)
