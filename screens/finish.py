"""Signing, the Done screen, and the "Are you still there?" question."""

from __future__ import annotations

import math
from dataclasses import dataclass

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from consent_records.model import SignatureMethod
from content.schema import ContentBundle, Urgency
from kiosk.i18n import _
from kiosk.services import SavedConsent
from kiosk.session import FieldErrors, SignatureInput
from screens.base import PatientStep
from screens.intake import FormStep
from screens.signature_pad import SignaturePad


class SignScreen(FormStep):
    """Type the name again and draw a signature (or, keyboard-only, adopt the typed name)."""

    continue_label = "Sign and finish"
    draft_key = "sign"

    @dataclass
    class Submitted(Message):
        """The patient signed; the app saves the record."""

        signature: SignatureInput

    def compose_body(self) -> ComposeResult:
        session = self.session
        choice = session.shown.decision_text(session.decision) if session.decision else ""
        signer = session.signer_name
        yield Static(_("Sign"), classes="title")
        with VerticalScroll(id="form"):
            yield Static(
                _("Your choice: {choice}").format(choice=choice),
                id="choice-summary",
                markup=False,
                classes="intro",
            )
            if session.substitute is not None:
                yield Static(
                    _("{name} signs as the substitute decision-maker ({relationship}).").format(
                        name=signer, relationship=session.substitute.relationship
                    ),
                    markup=False,
                )
            yield Label(
                _("Type your full name again, as you gave it before"), classes="field-label"
            )
            yield Input(
                self.draft().get("typed-name", ""),
                id="typed-name",
                max_length=120,
                classes="field-typed_name",
            )
            yield self.field_error("typed_name")
            yield Label(
                _("Draw your signature in the box with the mouse or your finger"),
                classes="field-label",
            )
            yield SignaturePad(id="pad", classes="field-pad", strokes=self._kept_strokes())
            yield self.field_error("pad")
            with Horizontal(id="pad-actions"):
                yield Button(_("Clear signature"), id="clear")
                yield Checkbox(
                    _("I can't draw here: my typed name is my signature"),
                    id="typed-only",
                    value=self._kept_typed_only(),
                )

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#typed-name", Input).focus()

    @on(Button.Pressed, "#clear")
    def _clear(self, event: Button.Pressed) -> None:
        event.stop()
        self.query_one(SignaturePad).action_clear()
        self.query_one("#pad").focus()

    @on(SignaturePad.Changed)
    def _drawn(self) -> None:
        self.show_errors({})

    def _kept_strokes(self) -> tuple[tuple[tuple[float, float], ...], ...]:
        draft = self.session.signature_draft
        return draft.strokes if draft else ()

    def _kept_typed_only(self) -> bool:
        draft = self.session.signature_draft
        return bool(draft and draft.method is SignatureMethod.TYPED)

    def keep_answers(self) -> None:
        super().keep_answers()
        self.session.signature_draft = self.signature()

    def signature(self) -> SignatureInput:
        pad = self.query_one(SignaturePad)
        typed_only = self.query_one("#typed-only", Checkbox).value
        method = SignatureMethod.TYPED if typed_only else SignatureMethod.DRAWN
        size = pad.pad_size
        return SignatureInput(
            typed_name=self.query_one("#typed-name", Input).value,
            method=method,
            strokes=() if typed_only else pad.strokes,
            pad_width=0 if typed_only else size.width,
            pad_height=0 if typed_only else size.height,
        )

    def commit(self) -> bool:
        self.keep_answers()
        signature = self.signature()
        try:
            self.session.check_signature(signature)
        except FieldErrors as problems:
            self.show_errors(problems.errors)
            return False
        self.show_errors({})
        self.saving(True)
        self.post_message(self.Submitted(signature))
        return False  # the app moves on once the record is saved

    def saving(self, busy: bool) -> None:
        """Show that the record is being saved (and stop a second press)."""
        self.query_one("#continue", Button).disabled = busy
        if self.show_back:
            self.query_one("#back", Button).disabled = busy
        self.say(_("Saving your form…") if busy else "", error=False)

    def save_failed(self) -> None:
        self.saving(False)
        self.say(
            _(
                "Sorry, we could not save your form just now. Nothing you entered is lost. "
                "Please ask the front desk for help, then press Sign and finish to try again."
            )
        )


class DoneScreen(PatientStep):
    """The reference code, what happens next and the warning signs. Returns to Welcome."""

    show_back = False
    continue_label = "Finish"

    @dataclass
    class Finished(Message):
        """The patient is done; wipe the session and go back to Welcome."""

    def __init__(self, session, position, saved: SavedConsent) -> None:  # type: ignore[no-untyped-def]
        super().__init__(session, position)
        self.saved = saved

    def compose_body(self) -> ComposeResult:
        bundle = self.session.shown
        yield Static(_("Thank you. Your form is saved."), classes="title")
        with VerticalScroll(id="done"):
            yield Static(_("Your reference code"), classes="field-label")
            yield Static(self.saved.reference, id="reference", markup=False)
            yield from self.compose_advice(bundle)
        yield Static("", id="countdown", classes="hint")

    def compose_advice(self, bundle: ContentBundle) -> ComposeResult:
        """What happens next for the decision made, where to get the take-home copy, and
        the warning signs, most urgent first (all wording from the content)."""
        decision = self.session.decision
        option = next(
            (o for o in bundle.decisions if decision and o.id.value == decision.value), None
        )
        if option is not None and option.next_steps:
            yield Static(_("What happens next"), classes="subtitle")
            yield Static(option.next_steps, id="next-steps", classes="intro", markup=False)
        care = bundle.aftercare
        if care is not None:
            yield Static(care.take_home, id="take-home", classes="intro", markup=False)
        headings = {
            Urgency.EMERGENCY: care.emergency_heading if care else _("Call 911 now"),
            Urgency.CLINIC: care.clinic_heading if care else _("Call the clinic today"),
        }
        for level, signs in bundle.warning_signs_by_urgency().items():
            if not signs:
                continue
            yield Static(
                f"{headings[level]}:", classes=f"subtitle urgency-{level.value}", markup=False
            )
            for sign in signs:
                yield Static(f"• {sign.text}", classes="warning-sign", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        self.remaining = math.ceil(self.session.settings.done_return_seconds)
        self._tick()
        self.countdown = self.set_interval(1.0, self._tick)
        self.query_one("#continue", Button).focus()

    def _tick(self) -> None:
        if self.remaining <= 0:
            self.post_message(self.Finished())
            return
        self.query_one("#countdown", Static).update(
            _("Press any key or touch the screen to finish. This screen closes in {n} s.").format(
                n=self.remaining
            )
        )
        self.remaining -= 1

    def commit(self) -> bool:
        self.post_message(self.Finished())
        return False

    def on_key(self, event: events.Key) -> None:
        event.stop()
        self.post_message(self.Finished())

    def on_click(self, event: events.Click) -> None:
        self.post_message(self.Finished())


class StillThereScreen(ModalScreen[bool]):
    """Asked after the patient has been idle; no answer in time wipes the session."""

    def __init__(self, grace_seconds: float) -> None:
        super().__init__()
        self.remaining = math.ceil(grace_seconds)
        self._answered = False

    def compose(self) -> ComposeResult:
        with Vertical(id="still-there"):
            yield Static(_("Are you still there?"), classes="title")
            yield Static("", id="still-countdown")
            yield Button(_("Yes, I'm still here"), id="still-here", variant="primary")

    def on_mount(self) -> None:
        self._tick()
        self.countdown = self.set_interval(1.0, self._tick)
        self.query_one("#still-here").focus()

    def _answer(self, here: bool) -> None:
        if not self._answered:
            self._answered = True
            self.countdown.stop()
            self.dismiss(here)

    def _tick(self) -> None:
        if self.remaining <= 0:
            self._answer(False)
            return
        self.query_one("#still-countdown", Static).update(
            _(
                "To keep your answers private, this form will close and start again in {n} seconds."
            ).format(n=self.remaining)
        )
        self.remaining -= 1

    @on(Button.Pressed, "#still-here")
    def _here(self, event: Button.Pressed) -> None:
        event.stop()
        self._answer(True)

    def on_key(self, event: events.Key) -> None:
        event.stop()
        self._answer(True)

    def on_click(self, event: events.Click) -> None:
        self._answer(True)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._answer(True)  # still reading

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._answer(True)


__all__ = ["DoneScreen", "PatientStep", "SignScreen", "StillThereScreen"]
