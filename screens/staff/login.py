"""Sign-in: a user name and a password, checked in a worker (argon2id takes a moment).

The screen never says whether a user name exists: the services give one sentence for an
unknown name, a wrong password, a wait and a lock. After a sign-out (or an idle timeout) the
same screen is reused, emptied, with a line saying why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Center, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Static

from kiosk.i18n import _
from screens.staff.common import describe_error

if TYPE_CHECKING:
    from kiosk.staff.services import StaffServices
    from kiosk.staff.sessions import StaffSession


class LoginScreen(Screen[None]):
    """The first screen of the staff app, and where every session ends."""

    AUTO_FOCUS = "#user"

    @dataclass
    class SignedIn(Message):
        """A staff member signed in; the app opens their home screen."""

        session: StaffSession

    def __init__(self, services: StaffServices) -> None:
        super().__init__()
        self.services = services

    def compose(self) -> ComposeResult:
        settings = self.services.settings
        with Center(id="login-box-center"), Vertical(id="login-box"):
            yield Label(_("IMS Consent Kiosk: staff"), id="login-title")
            yield Label(settings.clinic.name, id="login-clinic", markup=False)
            yield Label(_("User name"), classes="field-label")
            yield Input(id="user", max_length=64, placeholder=_("for example akim"))
            yield Label(_("Password"), classes="field-label")
            yield Input(id="password", password=True, max_length=1024)
            yield Button(_("Sign in"), id="sign-in", variant="primary", disabled=not self._ready())
            yield Static("", id="login-message", markup=False)
        yield Footer()

    def _ready(self) -> bool:
        return bool(getattr(self.app, "ready", True))

    def set_ready(self) -> None:
        """The store is checked: signing in may start."""
        self.query_one("#sign-in", Button).disabled = False

    def reset(self, notice: str = "") -> None:
        """Empty both fields and show ``notice`` (why the last session ended)."""
        self.query_one("#user", Input).value = ""
        self.query_one("#password", Input).value = ""
        self._say(notice, error=False)
        self.query_one("#sign-in", Button).disabled = not self._ready()
        self.query_one("#user", Input).focus()

    def _say(self, text: str, *, error: bool) -> None:
        message = self.query_one("#login-message", Static)
        message.update(text)
        message.set_class(error and bool(text), "-error")

    @on(Input.Submitted, "#user")
    def _to_password(self) -> None:
        self.query_one("#password", Input).focus()

    @on(Input.Submitted, "#password")
    @on(Button.Pressed, "#sign-in")
    def _submit(self) -> None:
        user = self.query_one("#user", Input).value.strip()
        password = self.query_one("#password", Input).value
        if not self._ready():
            self._say(_("One moment: the record store is being checked."), error=False)
            return
        if not user or not password:
            self._say(_("Type your user name and your password."), error=True)
            self.query_one("#user" if not user else "#password", Input).focus()
            return
        self.query_one("#sign-in", Button).disabled = True
        self._say(_("Signing in…"), error=False)
        self._sign_in(user, password)

    @work(thread=True, exclusive=True, exit_on_error=False, group="sign-in")
    def _sign_in(self, user: str, password: str) -> None:
        try:
            session = self.services.login(user, password)
        except Exception as exc:  # every refusal is a sentence; never a traceback
            self.app.call_from_thread(self._refused, describe_error(exc))
            return
        self.app.call_from_thread(self._accepted, session)

    def _refused(self, sentence: str) -> None:
        password = self.query_one("#password", Input)
        password.value = ""
        self.query_one("#sign-in", Button).disabled = False
        self._say(sentence, error=True)
        password.focus()

    def _accepted(self, session: StaffSession) -> None:
        self.query_one("#password", Input).value = ""
        self.query_one("#sign-in", Button).disabled = False
        self._say("", error=False)
        self.post_message(self.SignedIn(session))
