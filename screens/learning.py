"""Education sections (one a screen) and the understanding check (one question a screen)."""

from __future__ import annotations

from typing import ClassVar

from rich.markdown import Markdown
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, VerticalScroll
from textual.markup import escape
from textual.widget import Widget
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
        self.watch(reader, "scroll_target_y", self._scrolled, init=False)
        self.call_after_refresh(self._scrolled)

    def on_unmount(self) -> None:
        self.session.leave_section(self.section.id)

    def _scrolled(self) -> None:
        reader = self.query_one("#reader", VerticalScroll)
        # max_scroll_y is 0 when the text fits; wait for the first layout to know.
        # Where the scroll is going counts, not only where it is: after End (or Page Down
        # onto the last page) the smooth scroll takes a moment, and an Enter pressed
        # meanwhile must not be a dead key.
        heading_to = max(reader.scroll_y, reader.scroll_target_y)
        if reader.size.height and heading_to >= reader.max_scroll_y - 0.5:
            self.session.section_end_reached(self.section.id)
        done = self.session.section_done(self.section.id)
        self.query_one("#scroll-hint", Static).update(
            _("You have reached the end. Press Enter or touch Continue to go on.")
            if done
            else _(
                "Please read to the end to continue: use the arrow keys, Page Down, "
                "the mouse wheel, or swipe."
            )
        )
        self.refresh_continue()

    def focus_hint(self, focused: Widget | None) -> str:
        if focused is not None and focused.id == "reader":
            return _("Page Down: read on")
        return super().focus_hint(focused)

    def can_continue(self) -> bool:
        return self.session.section_done(self.section.id)


class QuizScreen(PatientStep):
    """One question. A wrong answer shows why and asks again; first attempts are recorded.

    The feedback sits between the question and the options, so it is never below the fold;
    it explains the point without naming the answer, and after a wrong try focus goes back
    to the first option (not to the right one), so the second try still checks
    understanding. The arrow keys move between the options.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        # priority: when the page scrolls (long feedback), the arrows still move the focus.
        Binding("down,right", "move(1)", "Next option", show=False, priority=True),
        Binding("up,left", "move(-1)", "Previous option", show=False, priority=True),
    ]

    def compose_body(self) -> ComposeResult:
        bundle = self.session.shown
        self.question = bundle.quiz[self.position.index]
        yield Static(
            _("Check your understanding: question {n} of {total}").format(
                n=self.position.index + 1, total=len(bundle.quiz)
            ),
            classes="subtitle",
        )
        with VerticalScroll(id="quiz", can_focus=False):
            yield Static(self.question.prompt, classes="title question", markup=False)
            yield Static("", id="feedback", classes="-empty", markup=False)
            with Grid(id="options"):
                for option in self.question.options:
                    yield Button(escape(option.text), id=f"option-{option.id}", classes="option")

    def on_mount(self) -> None:
        super().on_mount()
        tried = self.session.quiz_attempts.get(self.question.id, [])
        for option_id in tried:
            self._mark(option_id)
        if self.session.quiz_solved(self.question.id):
            self._show_right()
            self.query_one("#continue", Button).focus()
        elif tried:
            self._show_wrong()
            self._first_option().focus()
        else:
            self._first_option().focus()

    def _options(self) -> list[Button]:
        return list(self.query(".option").results(Button))

    def _first_option(self) -> Button:
        return next((b for b in self._options() if not b.disabled), self._options()[0])

    def _mark(self, option_id: str) -> None:
        button = self.query_one(f"#option-{option_id}", Button)
        text = escape(self.question.option(option_id).text)
        if option_id == self.question.correct:
            button.add_class("-right")
            button.label = "✓ " + text
        else:
            button.add_class("-wrong")
            button.label = "✗ " + text
            button.disabled = True

    def _say(self, text: str, kind: str) -> None:
        feedback = self.query_one("#feedback", Static)
        feedback.update(text)
        feedback.set_classes(kind)

    def _show_right(self) -> None:
        for button in self._options():
            if not button.has_class("-right"):
                button.disabled = True
        self._say(_("✓ That's right. {why}").format(why=self.question.explanation), "-right")

    def _show_wrong(self) -> None:
        self._say(
            _("✗ Not quite. {why} Please choose another answer.").format(
                why=self.question.explanation
            ),
            "-wrong",
        )

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
            self._show_wrong()
            self._first_option().focus()
        self.query_one("#quiz", VerticalScroll).scroll_home(animate=False)

    def action_move(self, step: int) -> None:
        """Arrow keys: the next or previous option that can still be chosen."""
        options = [b for b in self._options() if not b.disabled]
        if not options:
            return
        focused = self._moving_to or self.focused
        if focused in options:
            target = options[(options.index(focused) + step) % len(options)]
        else:
            target = options[0] if step > 0 else options[-1]
        self._moving_to = target
        target.focus()

    _moving_to: Widget | None = None
    """Where focus is going (it lands a moment later): arrows pressed quickly all count."""

    def on_descendant_focus(self) -> None:
        self._moving_to = None

    def focus_hint(self, focused: Widget | None) -> str:
        if focused is not None and focused.has_class("option"):
            return _("Arrow keys: move   Enter: choose")
        return super().focus_hint(focused)

    def can_continue(self) -> bool:
        return self.session.quiz_solved(self.question.id)
