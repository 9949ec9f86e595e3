"""The staff app: physiotherapists review, discuss and complete consent; admins run the
clinic's accounts, audit log and store.

Unlike the patient kiosk this is an ordinary desktop-terminal app (command palette, ctrl+q,
themes), run by staff beside the kiosk on the same data directory: two processes, one
store lock. Everything it shows or does goes through :class:`kiosk.staff.StaffServices`,
which checks the role of the signed-in person before each operation and audits it.

Who is signed in lives here (``self.session``) and nowhere else. Signing out, an idle
timeout (``staff_idle_timeout_seconds``) and the 12-hour session limit all end the same
way: the "work" mode, with every screen and dialog that showed a patient's details, is
removed, and the sign-in screen is shown.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import events, on
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from consent_records.audit import LogoutReason
from kiosk.i18n import _, ngettext, set_language
from kiosk.staff.errors import STAFF_ERRORS
from screens.staff.login import LoginScreen

if TYPE_CHECKING:
    from kiosk.staff.services import StaffServices
    from kiosk.staff.sessions import StaffSession

log = logging.getLogger("kiosk.staff_app")

TOUCH_EVERY_SECONDS = 1.0
"""How often input is reported to the services' idle clock (at most)."""

WORK_MODE = "work"
LOGIN_MODE = "login"


class StaffApp(App[None]):
    """The staff application (``ims-kiosk staff``)."""

    CSS_PATH = Path(__file__).resolve().parent.parent / "screens" / "staff" / "staff.tcss"
    TITLE = "IMS Consent Kiosk: staff"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+o", "sign_out", "Sign out", id="sign-out", priority=True),
    ]

    def __init__(
        self,
        services: StaffServices,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        set_language(services.settings.language)
        self.services = services
        self._monotonic = monotonic
        self._last_touch = monotonic()
        self._ending = False
        self.session: StaffSession | None = None
        self._work_mode = False
        self.ready = False
        """True once the record store has been checked (sign-in waits for it)."""
        self.exit_message: str | None = None
        """Why the app stopped, for the person at the terminal (printed after exit)."""

    # -- start-up ---------------------------------------------------------------------

    def on_mount(self) -> None:
        self.add_mode(LOGIN_MODE, lambda: LoginScreen(self.services))
        self.switch_mode(LOGIN_MODE)
        self.set_interval(1.0, self.check_session, name="session-check")
        self.run_worker(
            self._check_store, thread=True, exit_on_error=False, group="startup",
            description="check the record store",
        )  # fmt: skip

    def _check_store(self) -> None:
        """Worker thread: refuse a damaged store before anyone signs in (it names the file);
        sign-in waits for this check."""
        try:
            self.services.prepare()
            # Import the screens a session opens now, while the person types their password
            # (about a second on a loaded machine), not after they press Sign in.
            import screens.staff.dialogs
            import screens.staff.record
            import screens.staff.records  # noqa: F401
        except Exception as exc:
            from kiosk.services import describe_startup_error

            message = str(exc) if isinstance(exc, STAFF_ERRORS) else describe_startup_error(exc)
            log.error("the staff app cannot start: %s", message)
            self.call_from_thread(self._cannot_start, message)
            return
        self.call_from_thread(self._store_ready)

    def _store_ready(self) -> None:
        self.ready = True
        screen = self.screen
        if isinstance(screen, LoginScreen):
            screen.set_ready()

    def _cannot_start(self, message: str) -> None:
        self.exit_message = message
        self.exit(return_code=1)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        # No "Screenshot": it would write whatever patient is on screen to a file in the
        # current folder, outside the protected data directory.
        for command in super().get_system_commands(screen):
            if command.title != "Screenshot":
                yield command
        if self.session is not None:
            yield SystemCommand(_("Sign out"), _("End your session now"), self.action_sign_out)

    def _fatal_error(self) -> None:
        """Log an unexpected error and stop with a sentence, never a traceback (Textual's
        default prints one with local variables, which would put patient details on the
        screen)."""
        log.error("the staff app stopped after an unexpected error", exc_info=self._exception)
        self.exit_message = _(
            "The staff app stopped after an unexpected problem. Nothing you saved is lost; "
            "the details are in the kiosk log. Start it again to continue."
        )
        self._close_messages_no_wait()

    # -- sessions ---------------------------------------------------------------------

    @on(LoginScreen.SignedIn)
    async def _signed_in(self, message: LoginScreen.SignedIn) -> None:
        from screens.staff.records import RecordsScreen

        self.session = message.session
        self._last_touch = self._monotonic()
        session = message.session
        self.add_mode(WORK_MODE, lambda: RecordsScreen(self.services, session))
        self._work_mode = True
        await self.switch_mode(WORK_MODE)

    def action_sign_out(self) -> None:
        if self.session is not None:
            self._ending = True
            self.run_worker(self.end_session(LogoutReason.USER), exclusive=True, group="session")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "sign_out":
            return self.session is not None
        return True

    async def end_session(self, reason: LogoutReason) -> None:
        """Sign out: audit it, drop every screen that held patient details, show sign-in."""
        session, self.session = self.session, None
        if session is None:
            self._ending = False
            return
        try:
            self.services.logout(session, reason)  # does nothing if already ended
        except Exception:  # the sign-out itself must always happen
            log.exception("could not audit the sign-out")
        seconds = round(self.services.settings.staff_idle_timeout_seconds)
        # Below two minutes in seconds: a 30 s limit once read "after 0 minutes".
        idle = (
            ngettext("{n} second", "{n} seconds", seconds).format(n=seconds)
            if seconds < 120
            else ngettext("{n} minute", "{n} minutes", round(seconds / 60)).format(
                n=round(seconds / 60)
            )
        )
        notice = {
            LogoutReason.IDLE: _(
                "You were signed out after {minutes} without input, and the screen was "
                "cleared. Sign in again to continue."
            ).format(minutes=idle),
            LogoutReason.SESSION_LIMIT: _(
                "You were signed out because your session reached 12 hours. Sign in again "
                "to continue."
            ),
        }.get(reason, _("You are signed out."))
        await self.switch_mode(LOGIN_MODE)
        if self._work_mode:
            self._work_mode = False
            await self.remove_mode(WORK_MODE)
        screen = self.screen
        if isinstance(screen, LoginScreen):
            screen.reset(notice)
        self._ending = False
        self.refresh_bindings()

    # -- idle and time limits -----------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        # A key, click or scroll: the person is here. The services keep the idle clock
        # (the same one that refuses a stale session's act); tell them at most once a
        # second.
        if isinstance(event, events.InputEvent) and self.session is not None:
            now = self._monotonic()
            if now - self._last_touch >= TOUCH_EVERY_SECONDS:
                self._last_touch = now
                try:
                    self.services.touch(self.session)
                except Exception:  # ended already: check_session signs out below
                    self.check_session()
        await super().on_event(event)

    def check_session(self) -> None:
        """End the session on screen if the services ended it (idle for
        ``staff_idle_timeout_seconds``, the 12-hour limit, a disabled account)."""
        session = self.session
        if session is None or self._ending:
            return
        try:
            reason = self.services.session_state(session)
        except Exception:
            log.exception("could not check the staff session; signing out")
            reason = LogoutReason.USER
        if reason is not None:
            self._ending = True
            self.run_worker(self.end_session(reason), exclusive=True, group="session")
