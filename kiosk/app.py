"""The patient kiosk: a locked-down Textual app that walks one patient at a time through
the consent path and forgets them when they are done (or walk away)."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import ClassVar

from textual import events, on
from textual.app import App
from textual.await_complete import AwaitComplete
from textual.binding import Binding, BindingType
from textual.widget import AwaitMount
from textual.worker import get_current_worker

from kiosk.i18n import set_language
from kiosk.services import KioskServices, SavedConsent, SaveFailed
from kiosk.session import ConsentSession, FieldErrors, Position, SignatureInput, Step
from screens.answers import DecisionScreen, ScreeningScreen
from screens.base import PatientStep
from screens.finish import DoneScreen, SignScreen, StillThereScreen
from screens.intake import AboutScreen, SubstituteScreen, WelcomeScreen
from screens.learning import EducationScreen, QuizScreen

log = logging.getLogger("kiosk.app")

SCREENS_BY_STEP: dict[Step, type[PatientStep]] = {
    Step.WELCOME: WelcomeScreen,
    Step.ABOUT: AboutScreen,
    Step.SUBSTITUTE: SubstituteScreen,
    Step.EDUCATION: EducationScreen,
    Step.QUIZ: QuizScreen,
    Step.SCREENING: ScreeningScreen,
    Step.DECISION: DecisionScreen,
    Step.SIGN: SignScreen,
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

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "developer_quit", "Quit (developer mode)", show=False, priority=True)
    ]
    """Only active with ``dev_mode``; see :meth:`check_action`."""

    def __init__(
        self,
        services: KioskServices,
        *,
        dev_mode: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        set_language(services.settings.language)
        self.services = services
        self.dev_mode = dev_mode
        self._monotonic = monotonic
        self._last_input = monotonic()
        self._asking = False
        self.session: ConsentSession | None = None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "developer_quit":
            return self.dev_mode
        return True

    def action_developer_quit(self) -> None:
        self.exit()

    # -- path -------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.start_over()
        self.set_interval(1.0, self._check_idle, name="idle-check")

    def start_over(self) -> None:
        """Forget the current patient entirely and show Welcome."""
        self.session = self.services.new_session()
        shown = self._show(Position(Step.WELCOME))

        async def forget() -> None:
            # Once the old screen is gone, nothing refers to the old session: collect it
            # now rather than whenever the garbage collector next runs.
            await shown
            gc.collect()

        self.call_later(forget)

    def _show(
        self, position: Position, saved: SavedConsent | None = None
    ) -> AwaitMount | AwaitComplete:
        assert self.session is not None
        screen: PatientStep
        if position.step is Step.DONE:
            assert saved is not None
            screen = DoneScreen(self.session, position, saved)
        else:
            screen = SCREENS_BY_STEP[position.step](self.session, position)
        if isinstance(self.screen, PatientStep):
            return self.switch_screen(screen)
        return self.push_screen(screen)

    @on(PatientStep.Navigate)
    def _navigate(self, message: PatientStep.Navigate) -> None:
        current = self.screen
        if self.session is None or not isinstance(current, PatientStep):
            return
        here = current.position
        target = self.session.next_after(here) if message.forward else self.session.before(here)
        if target != here and target.step is not Step.DONE:
            self._show(target)

    @on(SignScreen.Submitted)
    def _sign(self, message: SignScreen.Submitted) -> None:
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
        try:
            saved = self.services.save(session, signature)
        except (SaveFailed, FieldErrors, ValueError, OSError):
            log.exception("could not save the consent record")
            saved = None
        except Exception:  # never show a traceback to a patient
            log.exception("unexpected error while saving the consent record")
            saved = None
        if get_current_worker().is_cancelled:
            return
        self.call_from_thread(self._saved, session, saved)

    def _saved(self, session: ConsentSession, saved: SavedConsent | None) -> None:
        screen = self.screen
        if session is not self.session:
            return
        if saved is None:
            if isinstance(screen, SignScreen):
                screen.save_failed()
            return
        if isinstance(screen, PatientStep):
            self._show(Position(Step.DONE), saved)

    @on(DoneScreen.Finished)
    def _finished(self) -> None:
        if isinstance(self.screen, DoneScreen):
            self.start_over()

    # -- idle -------------------------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key | events.MouseDown | events.MouseMove | events.Click):
            self._last_input = self._monotonic()
        await super().on_event(event)

    @property
    def idle_seconds(self) -> float:
        return self._monotonic() - self._last_input

    def _check_idle(self) -> None:
        screen = self.screen
        if self._asking or not isinstance(screen, PatientStep):
            return
        if isinstance(screen, WelcomeScreen | DoneScreen):
            return
        if self.idle_seconds < self.services.settings.idle_timeout_seconds:
            return
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
