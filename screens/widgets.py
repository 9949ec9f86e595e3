"""Small widgets shared by the patient screens."""

from __future__ import annotations

from textual.content import Content
from textual.geometry import Size
from textual.widgets import Checkbox, RadioButton


class WrappingCheckbox(Checkbox):
    """A checkbox whose long label wraps onto several lines instead of being cut off.

    Textual's toggle buttons are one line tall; consent statements are sentences that a
    patient must be able to read in full before ticking them. Ticked shows a tick and
    unticked an empty box, so the state never depends on colour alone.
    """

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "✓" if self.value else " "
        return super()._button

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, self.render().get_height(self.styles, width))  # type: ignore[arg-type]


class WrappingRadioButton(RadioButton):
    """A radio button whose long label wraps (see :class:`WrappingCheckbox`); the chosen
    one shows a dot, the others an empty circle."""

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "●" if self.value else " "
        return super()._button

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, self.render().get_height(self.styles, width))  # type: ignore[arg-type]
