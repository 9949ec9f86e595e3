"""The frame every kiosk screen shares: header, message line, Back and Continue.

This module is on the kiosk's start path (the Welcome screen uses it), so it imports
nothing heavy: the consent session is only a type here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Label, Static

from kiosk.i18n import _
from screens.theme import toggle_hint, toggle_label

if TYPE_CHECKING:
    from kiosk.session import ConsentSession, Position


class BackButton(Button):
    """Back, drawn on the left but reached after Continue (the primary action) by Tab.

    Textual orders focus by position on screen, top to bottom and left to right; Back
    sorts as if it stood to the right of everything on its row.
    """

    @property
    def _focus_sort_key(self) -> tuple[int, int]:
        row, column = super()._focus_sort_key
        return row, column + 100_000


class ViewToggle(Button):
    """The switch between the standard and the larger, clearer view (also F2): reached by
    Tab after Continue and before Back."""

    @property
    def _focus_sort_key(self) -> tuple[int, int]:
        row, column = super()._focus_sort_key
        return row, column + 50_000


def easy_read(app: object) -> bool:
    """Whether the app shows the larger, clearer view."""
    return bool(getattr(app, "easy_view", False))


class KioskScreen(Screen[None]):
    """Header with the clinic's name, a body, a message line, and the Back/Continue bar.

    Subclasses implement :meth:`compose_body` and may override :meth:`can_continue`
    (Continue stays disabled while it is False) and :meth:`commit` (validate and keep the
    answers; return False to stay on the screen).
    """

    show_back = True
    continue_label = "Continue"

    AUTO_FOCUS = "#page *, #continue"
    """Focus starts in the page (or on Continue), never on the view switch or Back."""

    MIN_WIDTH = 80
    MIN_HEIGHT = 24
    """Below this the screens cannot show everything: they say so instead (see kiosk.tcss
    and the app's breakpoints, which give the screen its ``-too-narrow`` or ``-too-short``
    class)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "continue", "Continue", show=False),
    ]
    """Enter goes forward whenever Continue is enabled and the focused control does not use
    Enter itself (a button presses, a list opens, a field moves on)."""

    @dataclass
    class Navigate(Message):
        """The patient asked to go forward or back."""

        forward: bool

    def __init__(self, clinic_name: str) -> None:
        super().__init__()
        self.clinic_name = clinic_name

    def progress_text(self) -> str:
        return ""

    def compose(self) -> ComposeResult:
        with Horizontal(id="topbar"):
            yield Label(self.clinic_name, id="clinic-name", markup=False)
            if progress := self.progress_text():
                yield Label(progress, id="progress")
        with Vertical(id="page"):
            yield from self.compose_body()
        # Takes no room until there is something to say.
        yield Static("", id="message", markup=False, classes="-empty")
        with Horizontal(id="nav"):
            # Continue comes first in the focus order (Tab from the page lands on it, so Tab
            # then Enter goes forward); it is drawn on the right (docked), Back on the left.
            # Built in its final state, so the first frame never shows a Continue that
            # does not work yet.
            yield Button(
                self.continue_text(),
                id="continue",
                variant="primary",
                classes="nav-button",
                disabled=not self.can_continue(),
            )
            yield ViewToggle(toggle_label(easy_read(self.app)), id="view-toggle")
            if self.show_back:
                yield BackButton(_("Back"), id="back", classes="nav-button")
        yield Static("", id="key-hint", markup=False)
        yield Static(self.too_small_text(), id="too-small", markup=False)

    def compose_body(self) -> ComposeResult:
        yield from ()

    def continue_text(self) -> str:
        return _(self.continue_label)

    def on_mount(self) -> None:
        self.refresh_continue()

    def can_continue(self) -> bool:
        return True

    def commit(self) -> bool:
        return True

    def refresh_continue(self) -> None:
        """Enable Continue when the screen's answers allow it (and say which keys work)."""
        self.query_one("#continue", Button).disabled = not self.can_continue()
        self.refresh_hint()

    def key_hint(self) -> str:
        """One line, in plain words, naming the keys that work here now (for the focused
        control, then Tab and Shift+Tab); screens add their own with :meth:`focus_hint`."""
        focused = self.focused
        parts = [self.focus_hint(focused)]
        if not self.uses_enter(focused) and self.can_continue():
            parts.append(_("Enter: {action}").format(action=self.continue_text()))
        parts.append(_("Tab: next"))
        parts.append(_("Shift+Tab: previous"))
        return "   ".join(part for part in parts if part)

    @staticmethod
    def uses_enter(focused: Widget | None) -> bool:
        """Whether Enter does something of its own on ``focused`` (else it continues)."""
        if focused is None or isinstance(focused, Button):
            return focused is not None
        # Imported here: Welcome (on the start path) only ever focuses a button.
        from textual.widgets import Checkbox, Input, RadioSet, Select

        return isinstance(focused, (Checkbox, Input, RadioSet, Select))

    def focus_hint(self, focused: Widget | None) -> str:
        """The keys for the focused control, in plain words."""
        if focused is None:
            return ""
        if isinstance(focused, Button):
            if focused.id == "continue":
                return _("Enter: {action}").format(action=self.continue_text())
            if focused.id == "back":
                return _("Enter: go back")
            return _("Enter: choose")
        from textual.widgets import Checkbox, Input, RadioSet, Select

        if isinstance(focused, Input):
            return _("Type your answer")
        if isinstance(focused, Select):
            return _("Enter: open the list")
        if isinstance(focused, RadioSet):
            return _("Up and Down: move   Enter: choose")
        if isinstance(focused, Checkbox):
            return _("Space: tick or untick")
        return ""

    @on(events.DescendantFocus)
    def _focus_moved(self) -> None:
        self.refresh_hint()

    def key_hint_suffix(self) -> str:
        """Keys that work on every screen (the view switch), after the others."""
        return toggle_hint(easy_read(self.app))

    def view_changed(self) -> None:
        """The view was switched: name the other one on the button and in the hint."""
        toggle = self.query_one("#view-toggle", Button)
        toggle.label = toggle_label(easy_read(self.app))
        toggle.refresh(layout=True)  # the other label has another width
        self.refresh_hint()

    @on(Button.Pressed, "#view-toggle")
    async def _toggle_view(self, event: Button.Pressed) -> None:
        event.stop()
        await self.run_action("app.toggle_view")

    def refresh_hint(self) -> None:
        hint = "   ".join(part for part in (self.key_hint(), self.key_hint_suffix()) if part)
        room = self.app.size.width - 4
        # One line: the least needed part goes first when the line would be cut.
        for spare in (_("Shift+Tab: previous"), _("Tab: next"), _("Up, Down: questions")):
            if len(hint) > room:
                hint = hint.replace("   " + spare, "")
        self.query_one("#key-hint", Static).update(hint)

    def too_small_text(self) -> str:
        width, height = self.app.size if self.is_attached else (0, 0)
        return _(
            "This window is too small to show everything ({columns} columns by {lines} "
            "lines). Please ask the front desk to make it bigger: at least {width} columns "
            "wide and {height} lines tall."
        ).format(columns=width, lines=height, width=self.MIN_WIDTH, height=self.MIN_HEIGHT)

    def on_resize(self, event: events.Resize) -> None:
        if self.too_small:
            self.query_one("#too-small", Static).update(self.too_small_text())

    @property
    def too_small(self) -> bool:
        """Whether the screen is showing the "window is too small" notice."""
        return self.has_class("-too-narrow") or self.has_class("-too-short")

    def action_continue(self) -> None:
        """Enter, when the focused control does not use it: Continue, if it is enabled."""
        button = self.query_one("#continue", Button)
        if not button.disabled and not self.too_small:
            button.press()

    def say(self, text: str, *, error: bool = True) -> None:
        """Show a message above the buttons (errors in the warning colour)."""
        message = self.query_one("#message", Static)
        message.update(text)
        message.set_class(error and bool(text), "-error")
        message.set_class(not text, "-empty")

    @on(Button.Pressed, "#continue")
    def _continue(self, event: Button.Pressed) -> None:
        event.stop()
        if self.can_continue() and self.commit():
            self.post_message(self.Navigate(forward=True))

    @on(Button.Pressed, "#back")
    def _back(self, event: Button.Pressed) -> None:
        event.stop()
        self.keep_answers()
        self.post_message(self.Navigate(forward=False))

    def keep_answers(self) -> None:
        """Save what is on screen without validating, so Back loses nothing."""


class PatientStep(KioskScreen):
    """A step of one patient's path, working on their :class:`ConsentSession`."""

    def __init__(self, session: ConsentSession, position: Position) -> None:
        super().__init__(session.settings.clinic.name)
        self.session = session
        self.position = position

    def progress_text(self) -> str:
        number, total = self.session.progress(self.position)
        return _("Step {number} of {total}").format(number=number, total=total) if number else ""
