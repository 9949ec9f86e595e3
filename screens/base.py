"""The frame every kiosk screen shares: header, message line, Back and Continue.

This module is on the kiosk's start path (the Welcome screen uses it), so it imports
nothing heavy: the consent session is only a type here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Label, Static

from kiosk.i18n import _

if TYPE_CHECKING:
    from kiosk.session import ConsentSession, Position


class KioskScreen(Screen[None]):
    """Header with the clinic's name, a body, a message line, and the Back/Continue bar.

    Subclasses implement :meth:`compose_body` and may override :meth:`can_continue`
    (Continue stays disabled while it is False) and :meth:`commit` (validate and keep the
    answers; return False to stay on the screen).
    """

    show_back = True
    continue_label = "Continue"

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
        yield Static("", id="message", markup=False)
        with Horizontal(id="nav"):
            if self.show_back:
                yield Button(_("Back"), id="back", classes="nav-button")
            yield Static(id="nav-spacer")
            # Built in its final state, so the first frame never shows a Continue that
            # does not work yet.
            yield Button(
                self.continue_text(),
                id="continue",
                variant="primary",
                classes="nav-button",
                disabled=not self.can_continue(),
            )

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
        """Enable Continue when the screen's answers allow it."""
        self.query_one("#continue", Button).disabled = not self.can_continue()

    def say(self, text: str, *, error: bool = True) -> None:
        """Show a message above the buttons (errors in the warning colour)."""
        message = self.query_one("#message", Static)
        message.update(text)
        message.set_class(error and bool(text), "-error")

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
