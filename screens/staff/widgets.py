"""Widgets the staff screens share: a drawn signature, read-only."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

from screens.signature_pad import _DOT_BITS, _line_dots

PointLike = tuple[float, float]


def braille_lines(strokes: Sequence[Sequence[PointLike]], width: int, height: int) -> list[str]:
    """The strokes drawn with braille dots (2 by 4 to a cell), as the patient saw them on
    the signature pad (same cell units, same dot grid)."""
    dots: set[tuple[int, int]] = set()
    for stroke in strokes:
        scaled = [(int(x * 2), int(y * 4)) for x, y in stroke]
        if len(scaled) == 1:
            dots.add(scaled[0])
        for a, b in itertools.pairwise(scaled):
            dots.update(_line_dots(a, b))
    lines = []
    for y in range(height):
        cells = []
        for x in range(width):
            bits = 0
            for (dx, dy), bit in _DOT_BITS.items():
                if (x * 2 + dx, y * 4 + dy) in dots:
                    bits |= bit
            cells.append(chr(0x2800 + bits) if bits else " ")
        lines.append("".join(cells).rstrip())
    return lines


class SignatureView(Static):
    """A stored drawn signature, at the pad's size (cut to what the strokes use)."""

    DEFAULT_CSS = """
    SignatureView {
        width: auto;
        height: auto;
        border: round $primary;
        padding: 0 1;
    }
    """

    def __init__(
        self,
        strokes: Sequence[Sequence[PointLike]],
        pad_width: int,
        pad_height: int,
        *,
        classes: str | None = None,
    ) -> None:
        used_w = max((x for stroke in strokes for x, _y in stroke), default=0.0)
        used_h = max((y for stroke in strokes for _x, y in stroke), default=0.0)
        width = max(1, min(max(pad_width, int(used_w) + 1), 200))
        height = max(1, min(max(pad_height, int(used_h) + 1), 40))
        lines = braille_lines(strokes, width, height)
        while lines and not lines[-1]:
            lines.pop()
        super().__init__(Text("\n".join(lines) or " "), classes=classes)
