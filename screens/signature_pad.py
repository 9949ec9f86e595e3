"""A signature pad: draw with a mouse, a touch screen or a pen; Clear to start again.

Strokes are kept as the terminal reports the pointer, in cells from the pad's top left.
Where the terminal reports pixels (SGR-pixels mouse mode, which Textual turns on for
terminals that also report their size in pixels: kitty, Ghostty, foot, WezTerm and
others) ``pointer_x``/``pointer_y`` carry fractions of a cell; elsewhere they are whole
cells, drawn at the cell's centre. Strokes are drawn with braille dots, 2 by 4 to a cell,
so a signature looks like handwriting rather than blocks.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from consent_records.model import MAX_STROKE_POINTS, MAX_STROKES, stroke_precision
from kiosk.i18n import _

Point = tuple[float, float]
Stroke = tuple[Point, ...]

# Braille dot bits for (column, row) within a cell: U+2800 + bits.
_DOT_BITS = {
    (0, 0): 0x01, (0, 1): 0x02, (0, 2): 0x04, (0, 3): 0x40,
    (1, 0): 0x08, (1, 1): 0x10, (1, 2): 0x20, (1, 3): 0x80,
}  # fmt: skip


def _line_dots(a: tuple[int, int], b: tuple[int, int]) -> list[tuple[int, int]]:
    """Every dot on the straight line from ``a`` to ``b`` (Bresenham)."""
    (x0, y0), (x1, y1) = a, b
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    err = dx + dy
    dots = []
    while True:
        dots.append((x0, y0))
        if (x0, y0) == (x1, y1):
            return dots
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy


class SignaturePad(Widget, can_focus=True):
    """Draw a signature with the mouse or by touch."""

    DEFAULT_CSS = """
    SignaturePad {
        height: 8;
        width: 1fr;
        border: round $primary;
        background: $surface;
        color: $text;
    }
    SignaturePad:focus {
        border: round $accent;
    }
    SignaturePad.-empty {
        color: $text-muted;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("delete,backspace", "clear", "Clear signature", show=False)
    ]

    strokes: reactive[tuple[Stroke, ...]] = reactive((), layout=False)
    """The strokes drawn so far, oldest first."""

    @dataclass
    class Changed(Message):
        """The signature was drawn on or cleared."""

        pad: SignaturePad
        strokes: tuple[Stroke, ...]

        @property
        def control(self) -> SignaturePad:
            return self.pad

    def __init__(
        self,
        *,
        id: str | None = None,  # noqa: A002
        classes: str | None = None,
        strokes: tuple[Stroke, ...] = (),
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.set_reactive(SignaturePad.strokes, strokes)
        self._drawing = False
        self._current: list[Point] = []
        self._dots: set[tuple[int, int]] = set()
        self._set_tooltip()

    def _set_tooltip(self) -> None:
        """Say how to sign while the pad is empty; never cover the strokes once drawn."""
        self.tooltip = _("Sign here with the mouse or your finger") if self.is_empty else None

    @property
    def is_empty(self) -> bool:
        return not self.strokes and not self._current

    @property
    def pad_size(self) -> Size:
        return self.content_region.size

    def on_mount(self) -> None:
        self._rebuild()

    # -- input ------------------------------------------------------------------------

    def _point(self, event: events.MouseEvent) -> Point:
        """Where the pointer is, as reported (kept inside the pad when a stroke strays)."""
        width, height = self.pad_size
        x = event.pointer_x - self.gutter.left
        y = event.pointer_y - self.gutter.top
        x = min(max(x, 0.0), max(width - 0.001, 0.0))
        return (x, min(max(y, 0.0), max(height - 0.001, 0.0)))

    def on_mouse_down(self, event: events.MouseDown) -> None:
        event.stop()
        if len(self.strokes) >= MAX_STROKES:
            return  # a full pad: the signing screen explains, and Clear starts again
        self._drawing = True
        self.capture_mouse()
        self._current = [self._point(event)]
        self._rebuild()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        # pilot.hover and some terminals report moves with button 0, so track a flag.
        if self._drawing:
            event.stop()
            point = self._point(event)
            if len(self._current) < MAX_STROKE_POINTS and self._current[-1] != point:
                self._current.append(point)
                self._rebuild()

    def on_mouse_up(self, event: events.MouseUp) -> None:
        self._finish()

    def on_mouse_release(self, event: events.MouseRelease) -> None:
        self._finish()

    def _finish(self) -> None:
        if not self._drawing:
            return
        self._drawing = False
        self.release_mouse()
        if self._current:
            self.strokes = (*self.strokes, tuple(self._current))
            self._current = []
            self.post_message(self.Changed(self, self.strokes))

    def action_clear(self) -> None:
        """Wipe the pad so the patient can sign again."""
        self._drawing = False
        self._current = []
        self.strokes = ()
        self.post_message(self.Changed(self, self.strokes))

    def watch_strokes(self) -> None:
        self._rebuild()

    # -- drawing ----------------------------------------------------------------------

    def _rebuild(self) -> None:
        dots: set[tuple[int, int]] = set()
        strokes = (*self.strokes, tuple(self._current))
        # Whole cells (a terminal without pixel reports): draw at each cell's centre.
        shift = 0.5 if stroke_precision(strokes) == "cell" else 0.0
        for stroke in strokes:
            scaled = [(int((x + shift) * 2), int((y + shift) * 4)) for x, y in stroke]
            if len(scaled) == 1:
                dots.add(scaled[0])
            for a, b in itertools.pairwise(scaled):
                dots.update(_line_dots(a, b))
        self._dots = dots
        self.set_class(self.is_empty, "-empty")
        self._set_tooltip()
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.pad_size.width
        style = self.rich_style
        if self.is_empty:
            hint = _("Sign here")
            if y == self.pad_size.height // 2 and width > len(hint):
                pad = (width - len(hint)) // 2
                text = " " * pad + hint + " " * (width - pad - len(hint))
                return Strip([Segment(text, style + Style(italic=True))], width)
            return Strip.blank(width, style)
        cells = []
        for x in range(width):
            bits = 0
            for (dx, dy), bit in _DOT_BITS.items():
                if (x * 2 + dx, y * 4 + dy) in self._dots:
                    bits |= bit
            cells.append(chr(0x2800 + bits) if bits else " ")
        return Strip([Segment("".join(cells), style)], width)
