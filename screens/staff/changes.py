"""'What changed': the content the patient saw beside today's, section by section."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Label, LoadingIndicator, Static

from kiosk.i18n import _
from screens.staff.common import describe_error, plain

if TYPE_CHECKING:
    from kiosk.staff.changes import ContentComparison
    from kiosk.staff.services import StaffServices
    from kiosk.staff.sessions import StaffSession


class WhatChangedScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", _("Back to the record"), id="back"),
    ]

    def __init__(self, services: StaffServices, session: StaffSession, record_id: str) -> None:
        super().__init__()
        self.services = services
        self.session = session
        self.record_id = record_id

    def compose(self) -> ComposeResult:
        with Horizontal(id="staff-topbar"):
            yield Label(_("What changed since the patient read it"), id="staff-title")
        yield LoadingIndicator(id="changes-loading")
        yield VerticalScroll(id="changes-body")
        yield Footer()

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="changes")
    def _load(self) -> None:
        try:
            comparison = self.services.what_changed(self.session, self.record_id)
        except Exception as exc:
            self.app.call_from_thread(self._show_problem, describe_error(exc))
            return
        self.app.call_from_thread(self._show, comparison)

    def _show_problem(self, sentence: str) -> None:
        self.query_one("#changes-loading").display = False
        self.query_one("#changes-body", VerticalScroll).mount(
            Static(plain(sentence), classes="-error")
        )

    def _show(self, comparison: ContentComparison) -> None:
        self.query_one("#changes-loading").display = False
        out: list[Static | Label] = [
            Static(
                plain(
                    _(
                        "The patient saw content version {seen}; the current version is {now}."
                    ).format(seen=comparison.seen_version, now=comparison.current_version)
                ),
                classes="status-line",
            )
        ]
        for revision in comparison.revisions:
            kind = _("material change") if revision.material else _("not material")
            out.append(
                Static(
                    plain(f"{revision.version} ({kind}): {revision.what_changed}"), classes="detail"
                )
            )
        changed = comparison.changed
        if not changed:
            out.append(
                Static(
                    plain(_("No section the patient saw reads differently now.")), classes="detail"
                )
            )
        for part in changed:
            out.append(
                Label(plain(f"{part.title}: {_(part.change.value)}"), classes="section-head")
            )
            for sentence in part.removed:
                out.append(Static(plain(f"− {sentence}"), classes="removed"))
            for sentence in part.added:
                out.append(Static(plain(f"+ {sentence}"), classes="added"))
        self.query_one("#changes-body", VerticalScroll).mount_all(out)
