"""The Welcome screen: shown at start-up and between patients.

It needs only the clinic's name, so it can be on screen before the settings are validated,
the content is loaded and the record store is opened (which can take a second in a clinic
with years of records).
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Button, Static

from kiosk.i18n import _
from screens.base import KioskScreen


class WelcomeScreen(KioskScreen):
    """The first thing a patient sees. Start waits until the kiosk is ready."""

    show_back = False
    continue_label = "Start"

    AUTO_FOCUS = "#continue"
    """Nothing has focus while Start waits ("One moment…"), so Enter reaches the screen's
    binding and starts as soon as the kiosk is ready."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "start", "Start", show=False),
    ]
    """Enter starts even when the button does not have focus (it has none while disabled)."""

    def __init__(self, clinic_name: str, *, ready: bool, is_demo: bool = False) -> None:
        super().__init__(clinic_name)
        self.ready = ready
        self.is_demo = is_demo
        self._pending_start = False

    def compose_body(self) -> ComposeResult:
        with Vertical(id="welcome"):
            if self.is_demo:
                # No clinic is set up: nobody may record a real patient here by mistake.
                yield Static(
                    _(
                        "DEMO: this kiosk is not set up for a clinic. Do not enter a real "
                        "patient. Staff: run `ims-kiosk init` to set up your clinic."
                    ),
                    id="welcome-demo",
                    markup=False,
                )
            yield Static(
                _("Welcome to {clinic}").format(clinic=self.clinic_name),
                id="welcome-title",
                classes="title",
                markup=False,
            )
            yield Static(_("Before your IMS (dry needling) treatment"), classes="subtitle")
            yield Static(
                _("Need an interpreter, or help to read this? Please ask at the front desk."),
                id="welcome-interpreter",
                classes="intro",
            )
            yield Static(
                _(
                    "This takes about 20 to 30 minutes. You will:\n"
                    "  1. Learn what IMS is, how it feels, and what can go wrong.\n"
                    "  2. Answer a few short questions to check the key points.\n"
                    "  3. Answer some health questions.\n"
                    "  4. Tell us your choice and sign.\n\n"
                    "Your physiotherapist will talk with you about all of this before any "
                    "needling. You can go back at any time, and you can always say no."
                ),
                id="welcome-text",
            )
            yield Static(
                _("Press Enter or touch Start to begin."), id="welcome-hint", classes="hint"
            )

    def continue_text(self) -> str:
        return _("Start") if self.ready else _("One moment…")

    def on_mount(self) -> None:
        super().on_mount()
        if self.ready:
            self.query_one("#continue").focus()

    def set_ready(self) -> None:
        """Enable Start once the content and the record store are ready."""
        self.ready = True
        start = self.query_one("#continue", Button)
        start.label = self.continue_text()
        self.refresh_continue()
        start.focus()  # a disabled button cannot hold focus, so give it now
        if self._pending_start:
            self.action_start()

    def can_continue(self) -> bool:
        return self.ready

    def key_hint(self) -> str:
        return _("Enter: Start") if self.ready else _("One moment, please.")

    def action_start(self) -> None:
        """Start; an Enter pressed during "One moment…" starts as soon as we are ready."""
        if self.can_continue():
            self._pending_start = False
            self.post_message(self.Navigate(forward=True))
        else:
            self._pending_start = True
