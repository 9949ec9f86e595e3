"""The patient kiosk: a locked-down Textual app that walks one patient at a time through
the consent path and forgets them when they are done (or walk away)."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import events, on
from textual.app import App
from textual.await_complete import AwaitComplete
from textual.binding import Binding, BindingType
from textual.widget import AwaitMount
from textual.worker import get_current_worker

from kiosk.config_file import WelcomeFacts
from kiosk.i18n import _, set_language
from screens.base import KioskScreen, PatientStep
from screens.theme import (
    EASY_READ_CLASS,
    HIGH_CONTRAST,
    HIGH_CONTRAST_THEME,
    STANDARD_THEME,
    VIEW_KEY,
)
from screens.welcome import WelcomeScreen

if TYPE_CHECKING:
    from kiosk.services import KioskServices, SavedConsent
    from kiosk.session import ConsentSession, Position, SignatureInput
    from screens.finish import SignScreen

log = logging.getLogger("kiosk.app")


def _step_screens() -> dict[str, type[PatientStep]]:
    """The screen class for each step (imported on first use, off the start path)."""
    from screens.answers import DecisionScreen, ScreeningScreen
    from screens.finish import DoneScreen, SignScreen
    from screens.intake import AboutScreen, SubstituteScreen, WhoScreen
    from screens.learning import EducationScreen, QuizScreen

    return {
        "who": WhoScreen,
        "about": AboutScreen,
        "substitute": SubstituteScreen,
        "education": EducationScreen,
        "quiz": QuizScreen,
        "screening": ScreeningScreen,
        "decision": DecisionScreen,
        "sign": SignScreen,
        "done": DoneScreen,
    }


class KioskApp(App[None], inherit_bindings=False):
    """The patient kiosk.

    ``inherit_bindings=False`` drops Textual's ctrl+q (quit) and ctrl+c bindings and the
    command palette is off, so a patient cannot leave the kiosk, open a palette (whose
    screenshot command would write patient data to disk) or suspend it. Staff stop the
    kiosk from its service manager; ``dev_mode`` re-enables ctrl+q for development.
    """

    CSS_PATH = Path(__file__).resolve().parent.parent / "screens" / "kiosk.tcss"
    TITLE = "IMS Consent Kiosk"
    ENABLE_COMMAND_PALETTE = False
    ALLOW_SELECT = False

    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [  # type: ignore[misc]
        (0, "-too-narrow"),
        (KioskScreen.MIN_WIDTH, "-wide-enough"),
    ]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [  # type: ignore[misc]
        (0, "-too-short"),
        (KioskScreen.MIN_HEIGHT, "-tall-enough"),
    ]
    """Every screen gets a class for its size; below 80x24 the screens say so."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "developer_quit", "Quit (developer mode)", show=False, priority=True),
        Binding(VIEW_KEY, "toggle_view", "Bigger, clearer view", show=False, priority=True),
    ]
    """Only active with ``dev_mode``; see :meth:`check_action`."""

    def __init__(
        self,
        services: KioskServices | None = None,
        *,
        load: Callable[[], KioskServices] | None = None,
        welcome: WelcomeFacts | None = None,
        dev_mode: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Either ``services``, ready made, or ``load`` to make them in the start-up worker
        and ``welcome`` to paint Welcome from until then (the kiosk's start path: the
        settings, content and store modules are not imported before Welcome shows)."""
        super().__init__()
        if services is not None:
            settings = services.settings
            welcome = WelcomeFacts(
                clinic_name=settings.clinic.name,
                language=settings.language,
                is_demo=settings.is_demo,
            )
        elif load is None or welcome is None:
            raise TypeError("KioskApp needs services, or load and welcome")
        set_language(welcome.language)
        self.welcome = welcome
        self._services = services
        self._load = load
        self.register_theme(HIGH_CONTRAST)
        self.theme = STANDARD_THEME
        self.easy_view = False
        """The larger, clearer view (high contrast, roomier): this patient's choice."""
        self.startup_error: Exception | None = None
        """A setting or file that stopped the kiosk at start-up, to be reported as any
        command reports it (after the terminal is restored)."""
        self.dev_mode = dev_mode
        self._monotonic = monotonic
        self._last_input = monotonic()
        self._asking = False
        self.session: ConsentSession | None = None
        self.ready = False
        """True once the content is loaded and the record store is open."""
        self.exit_message: str | None = None
        """Why the kiosk stopped, for the person at the terminal (printed after exit)."""

    @property
    def services(self) -> KioskServices:
        """The settings, content and store (made by the start-up worker)."""
        if self._services is None:
            raise RuntimeError("the kiosk's services are not loaded yet")
        return self._services

    @property
    def loaded_services(self) -> KioskServices | None:
        """The services if they were made (to close them after the app ends), else None."""
        return self._services

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "developer_quit":
            return self.dev_mode
        return True

    def action_developer_quit(self) -> None:
        self.exit()

    def action_toggle_view(self) -> None:
        """F2 or the button on every screen: the larger, clearer view, or back."""
        self.set_easy_view(not self.easy_view)

    def set_easy_view(self, easy: bool) -> None:
        if easy == self.easy_view:
            return
        self.easy_view = easy
        log.info("view switched to %s", "larger and clearer" if easy else "standard")
        self.theme = HIGH_CONTRAST_THEME if easy else STANDARD_THEME
        self.set_class(easy, EASY_READ_CLASS)
        for screen in self.screen_stack:
            if isinstance(screen, KioskScreen) and screen.is_mounted:
                screen.view_changed()

    # -- start-up ---------------------------------------------------------------------

    def on_mount(self) -> None:
        self.start_over()
        self.set_interval(1.0, self._check_idle, name="idle-check")
        # Welcome is painted from the clinic's name alone. Once it is on screen (a worker
        # started earlier would hold the interpreter while Welcome is drawn), validate the
        # settings, load the content, open the record store (a second or so with years of
        # records) and import the other screens.
        self.call_after_refresh(self._start_preparing)

    def _start_preparing(self) -> None:
        self.run_worker(
            self._prepare, thread=True, exit_on_error=False, group="startup",
            description="validate settings, load content and open the record store",
        )  # fmt: skip

    def _prepare(self) -> None:
        """Worker thread: get everything a patient will need; stop the kiosk if we can't."""
        if self._services is None:
            assert self._load is not None
            try:
                self._services = self._load()
            except Exception as exc:  # a wrong setting: reported as the commands report it
                self.call_from_thread(self._cannot_load, exc)
                return
        try:
            self.services.prepare()
            _step_screens()
        except Exception as exc:
            from kiosk.services import describe_startup_error

            message = describe_startup_error(exc)
            log.error("the kiosk cannot start: %s", message)
            self.call_from_thread(self._cannot_start, message)
            return
        self.call_from_thread(self._became_ready)

    def _became_ready(self) -> None:
        self.ready = True
        if isinstance(self.screen, WelcomeScreen):
            self.screen.set_ready()
        # While the first patient reads Welcome: parse the styles of the widgets the path
        # uses, so that no key press pays for it.
        self.call_after_refresh(self._warm_styles)

    def _warm_styles(self) -> None:
        from screens.warm import warm_styles

        started = time.perf_counter()
        count = warm_styles(self)
        log.debug("styles of %d widget classes parsed in %.0f ms", count,
                  (time.perf_counter() - started) * 1000)  # fmt: skip

    def _cannot_load(self, exc: Exception) -> None:
        self.startup_error = exc
        self.exit(return_code=1)

    def _cannot_start(self, message: str) -> None:
        """Fail closed: no patient may start on a store that cannot be trusted."""
        self.exit_message = message
        self.exit(return_code=1)

    def _fatal_error(self) -> None:
        """An unexpected error: log it and stop with a sentence, never a traceback.

        Textual's default prints a traceback *with local variables* to the terminal, which
        here would put a patient's answers on the front-desk screen.
        """
        log.error("the kiosk stopped after an unexpected error", exc_info=self._exception)
        self.exit_message = _(
            "The kiosk stopped after an unexpected problem. The details are in the kiosk "
            "log; start it again to continue."
        )
        self._close_messages_no_wait()

    # -- path -------------------------------------------------------------------------

    def copy_to_clipboard(self, text: str) -> None:
        """Copy inside the kiosk only: in patient mode nothing is sent to the terminal's
        clipboard (OSC 52), where it would outlive the session and the app."""
        if self.dev_mode:
            super().copy_to_clipboard(text)
        else:
            self._clipboard = text

    def start_over(self) -> None:
        """Forget the current patient entirely (their answers and anything they copied)
        and show Welcome."""
        had_patient = self.session is not None or isinstance(self.screen, KioskScreen)
        self.session = None
        self.set_easy_view(False)  # the next patient chooses their own view
        self._clipboard = ""
        # A question on top ("Are you still there?", "Leave and erase?") goes with them.
        while len(self.screen_stack) > 2 and not isinstance(self.screen, KioskScreen):
            self.pop_screen()
        shown = self._switch_to(self._welcome_screen())
        if not had_patient:
            return  # the kiosk's first Welcome: nobody to forget, and start-up stays quick

        async def forget() -> None:
            # Once the old screen is gone, nothing refers to the old session: collect it
            # now rather than whenever the garbage collector next runs.
            await shown
            gc.collect()

        self.call_later(forget)

    def _welcome_screen(self) -> WelcomeScreen:
        welcome = self.welcome
        return WelcomeScreen(welcome.clinic_name, ready=self.ready, is_demo=welcome.is_demo)

    def _switch_to(self, screen: KioskScreen) -> AwaitMount | AwaitComplete:
        if isinstance(self.screen, KioskScreen):
            return self.switch_screen(screen)
        return self.push_screen(screen)

    def _show(self, position: Position, saved: SavedConsent | None = None) -> None:
        """Show one step of the current patient's path."""
        assert self.session is not None
        if position.step == "welcome":
            self._switch_to(self._welcome_screen())
            return
        screen_class = _step_screens()[position.step]
        if position.step == "done":
            assert saved is not None
            self._switch_to(screen_class(self.session, position, saved))  # type: ignore[call-arg]
        else:
            self._switch_to(screen_class(self.session, position))

    @on(KioskScreen.Navigate)
    def _navigate(self, message: KioskScreen.Navigate) -> None:
        current = self.screen
        if isinstance(current, WelcomeScreen):
            if not (message.forward and self.ready):
                return
            # The session starts when the patient presses Start (not when Welcome appeared),
            # so its start time is theirs. Back to Welcome and Start again keeps answers.
            if self.session is None:
                self.session = self.services.new_session()
            from kiosk.session import Position, Step

            self._show(self.session.next_after(Position(Step.WELCOME)))
            return
        if self.session is None or not isinstance(current, PatientStep):
            return
        here = current.position
        target = self.session.next_after(here) if message.forward else self.session.before(here)
        if target.step == "welcome":
            self._ask_to_leave()
        elif target != here and target.step != "done":
            self._show(target)

    def _ask_to_leave(self) -> None:
        """Back from the first step: going to Welcome must not leave the answers there for
        the next person, so ask, and erase them if the patient leaves."""
        from screens.finish import LeaveScreen

        def answered(leave: bool | None) -> None:
            if leave:
                log.info("the patient left from the first step: session wiped")
                self.start_over()

        self.push_screen(LeaveScreen(), answered)

    def on_sign_screen_submitted(self, message: SignScreen.Submitted) -> None:
        if self.session is not None:
            # Capture only the signature: a closure over the message would keep the
            # screen (its sender), and so the patient's answers, alive after the wipe.
            self.run_worker(
                partial(self._save, message.signature),
                thread=True,
                exclusive=True,
                group="save",
                exit_on_error=False,
                description="save consent record",
            )

    def _save(self, signature: SignatureInput) -> None:
        """Worker thread: store the record, then move on (or say it failed)."""
        session = self.session
        assert session is not None
        saved: SavedConsent | None
        try:
            saved = self.services.save(session, signature)
        except Exception:  # never show a traceback to a patient; the sign screen explains
            log.exception("could not save the consent record")
            saved = None
        if get_current_worker().is_cancelled:
            return
        self.call_from_thread(self._saved, session, saved)

    def _saved(self, session: ConsentSession, saved: SavedConsent | None) -> None:
        if session is not self.session:
            return
        if saved is None:
            save_failed = getattr(self.screen, "save_failed", None)
            if save_failed is not None:
                save_failed()
            return
        from kiosk.session import Position, Step

        self._show(Position(Step.DONE), saved)

    def on_done_screen_finished(self) -> None:
        screen = self.screen
        if isinstance(screen, PatientStep) and screen.position.step == "done":
            self.start_over()

    # -- idle -------------------------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        # Every key, click, touch, move and scroll (the wheel or a swipe, while reading).
        if isinstance(event, events.InputEvent):
            self._last_input = self._monotonic()
            screen = self.screen
            if (
                isinstance(event, events.Key)
                and isinstance(screen, KioskScreen)
                and screen.too_small
                and not (self.dev_mode and event.key == "ctrl+q")
            ):
                return  # the window is too small: nothing on screen for a key to act on
        await super().on_event(event)

    @property
    def idle_seconds(self) -> float:
        return self._monotonic() - self._last_input

    def _check_idle(self) -> None:
        """While a patient's answers are held (even if they went Back to Welcome): ask,
        then wipe after the grace time. Done returns to Welcome by itself."""
        screen = self.screen
        if self._asking or self.session is None:
            return
        if isinstance(screen, PatientStep) and screen.position.step == "done":
            return
        if self.idle_seconds < self.services.settings.idle_timeout_seconds:
            return
        from screens.finish import StillThereScreen

        self._asking = True
        log.info("patient idle for %.0f s: asking if they are still there", self.idle_seconds)
        self.push_screen(
            StillThereScreen(self.services.settings.idle_grace_seconds), self._still_there
        )

    def _still_there(self, answer: bool | None) -> None:
        self._asking = False
        self._last_input = self._monotonic()
        if not answer:
            log.info("no answer: session wiped and kiosk returned to Welcome")
            self.start_over()
