"""Signing, the Done screen, and the "Are you still there?" question."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.message import Message
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, Static

from consent_records.model import SignatureMethod
from content.schema import ContentBundle, Urgency
from kiosk.i18n import _
from kiosk.services import SavedConsent
from kiosk.session import FieldErrors, SignatureInput, typed_signature_label
from screens.base import PatientStep
from screens.intake import FormStep
from screens.signature_pad import SignaturePad
from screens.widgets import WrappingCheckbox


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
        with VerticalScroll(id="form", can_focus=False):
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
            # Above the pad, so a keyboard-only patient finds it (with its whole label) at
            # 80x24 without scrolling past a box they cannot use.
            yield WrappingCheckbox(
                escape(typed_signature_label()),
                id="typed-only",
                value=self._kept_typed_only(),
                classes="field-pad",
            )
            yield Label(
                _("Or draw your signature in the box with the mouse or your finger"),
                classes="field-label",
            )
            yield SignaturePad(id="pad", classes="field-pad", strokes=self._kept_strokes())
            yield self.field_error("pad")
            with Horizontal(id="pad-actions"):
                yield Button(_("Clear signature"), id="clear")

    PAD_MIN_ROWS = 8
    """The pad is never shorter than this (with its frame), and taller where it fits."""

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#typed-name", Input).focus()
        self.call_after_refresh(self._size_pad)

    def on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self._size_pad)

    def _size_pad(self) -> None:
        """Make the pad as tall as the form's view allows, with the line above it and Clear
        below it still in view once it is scrolled to (at least PAD_MIN_ROWS)."""
        form = self.query_one("#form")
        pad = self.query_one(SignaturePad)
        rows = max(self.PAD_MIN_ROWS, form.scrollable_content_region.height - 6)
        if pad.styles.height is None or pad.styles.height.value != rows:
            pad.styles.height = rows

    @on(Button.Pressed, "#clear")
    def _clear(self, event: Button.Pressed) -> None:
        event.stop()
        self.query_one(SignaturePad).action_clear()
        self.query_one("#pad").focus()

    @on(SignaturePad.Changed)
    @on(Checkbox.Changed, "#typed-only")
    def _signed(self) -> None:
        self.recheck()

    def current_errors(self) -> dict[str, str]:
        try:
            self.session.check_signature(self.signature())
        except FieldErrors as problems:
            return problems.errors
        return {}

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
    """The reference code, what happens next and the warning signs. Returns to Welcome.

    Only Finish (or the countdown) ends it: the arrow keys, Page Up/Down, Home and End and
    the mouse wheel scroll the text, and each of them restarts the countdown, so a patient
    reading the warning signs is never cut off. The reference code stays above the text.
    """

    show_back = False
    continue_label = "Finish"
    FINISH_AFTER_SECONDS = 1.0

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down", "scroll('down')", "Read on", show=False),
        Binding("up", "scroll('up')", "Read back", show=False),
        Binding("pagedown,space", "scroll('page_down')", "Page down", show=False),
        Binding("pageup", "scroll('page_up')", "Page up", show=False),
        Binding("home", "scroll('home')", "Top", show=False),
        Binding("end", "scroll('end')", "End", show=False),
    ]

    @dataclass
    class Finished(Message):
        """The patient is done; wipe the session and go back to Welcome."""

    def __init__(self, session, position, saved: SavedConsent) -> None:  # type: ignore[no-untyped-def]
        super().__init__(session, position)
        self.saved = saved
        self.remaining = 0
        self._finished = False
        self._shown_at = time.monotonic()

    def compose_body(self) -> ComposeResult:
        bundle = self.session.shown
        yield Static(_("Thank you. Your form is saved."), classes="title")
        with Horizontal(id="reference-line"):
            yield Static(_("Your reference code:"), id="reference-label")
            yield Static(self.saved.reference, id="reference", markup=False)
        with VerticalScroll(id="done"):
            yield from self.compose_advice(bundle)
            yield Static(_("End of this page."), id="done-end", classes="hint")
        yield Static("", id="countdown", classes="hint")

    def compose_advice(self, bundle: ContentBundle) -> ComposeResult:
        """What happens next for the decision made, where to get the take-home copy, and
        the warning signs, most urgent first (all wording from the content)."""
        decision = self.session.decision
        option = next(
            (o for o in bundle.decisions if decision and o.id.value == decision.value), None
        )
        if option is not None:
            yield Static(_("You chose:"), classes="subtitle first")
            yield Static(option.text, id="chosen", classes="done-text", markup=False)
            if option.next_steps:
                yield Static(_("What happens next"), classes="subtitle")
                yield Static(option.next_steps, id="next-steps", classes="done-text", markup=False)
        care = bundle.aftercare
        if care is not None:
            yield Static(care.take_home, id="take-home", classes="done-text", markup=False)
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
        self._show_countdown()
        self.countdown = self.set_interval(1.0, self._tick)
        done = self.query_one("#done", VerticalScroll)
        done.focus()
        # Any scrolling (keys, wheel, swipe, the scroll bar) means someone is reading.
        self.watch(done, "scroll_y", self._still_reading, init=False)
        self._shown_at = time.monotonic()

    def _tick(self) -> None:
        self.remaining -= 1
        if self.remaining <= 0:
            self._finish()
            return
        self._show_countdown()

    def _show_countdown(self) -> None:
        # Short enough for one line at 80 columns, whatever the number.
        self.query_one("#countdown", Static).update(
            _("This screen closes by itself in {n} s.").format(n=self.remaining)
        )

    def _still_reading(self) -> None:
        """The patient is reading: give them the full time again."""
        self.remaining = max(self.remaining, math.ceil(self.session.settings.done_return_seconds))
        self._show_countdown()

    def action_scroll(self, how: str) -> None:
        done = self.query_one("#done", VerticalScroll)
        {
            "down": done.scroll_down,
            "up": done.scroll_up,
            "page_down": done.scroll_page_down,
            "page_up": done.scroll_page_up,
            "home": done.scroll_home,
            "end": done.scroll_end,
        }[how](animate=False)

    def focus_hint(self, focused: Widget | None) -> str:
        return _("Up, Down, Page Down: read")

    def key_hint(self) -> str:
        return "   ".join((self.focus_hint(self.focused), _("Enter: Finish"), _("Tab: next")))

    def _finish(self) -> None:
        if not self._finished:
            self._finished = True
            self.countdown.stop()
            self.post_message(self.Finished())

    def commit(self) -> bool:
        # An Enter meant for "Sign and finish" (pressed twice, or queued while saving)
        # must not skip the reference code: Finish works once the screen has been seen.
        if time.monotonic() - self._shown_at >= self.FINISH_AFTER_SECONDS:
            self._finish()
        return False


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
            yield Static(_("Press any key or touch the screen to go on."), classes="hint")

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


class LeaveScreen(ModalScreen[bool]):
    """Back from the first step: leave and erase the answers, or stay."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "stay", "Stay", show=False),
        Binding("left,up", "app.focus_previous", "Previous", show=False),
        Binding("right,down", "app.focus_next", "Next", show=False),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="leave"):
            yield Static(_("Leave and erase your answers?"), classes="title")
            yield Static(
                _(
                    "If you leave now, everything you entered is erased and the form starts "
                    "again from the beginning."
                ),
                id="leave-text",
            )
            with Horizontal(id="leave-buttons"):
                yield Button(_("No, stay"), id="stay", variant="primary")
                yield Button(_("Yes, leave and erase"), id="leave-erase", variant="error")
            yield Static(_("Enter: choose   Tab or arrows: move   Escape: stay"), classes="hint")

    def on_mount(self) -> None:
        self.query_one("#stay").focus()

    def action_stay(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#stay")
    def _stay(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(False)

    @on(Button.Pressed, "#leave-erase")
    def _leave(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(True)


__all__ = ["DoneScreen", "LeaveScreen", "PatientStep", "SignScreen", "StillThereScreen"]
