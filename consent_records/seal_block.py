"""The seal block at the foot of every PDF's last page: who sealed it, when, with which
certificate, and how to check it; or, without a seal, NOT SEALED in plain words.

The block is drawn by reportlab as the last flowable of a story, right after the content (or
alone at the top of a new page when too little room is left: it is never split), and it
records where it was drawn (:attr:`SealStamp.placed`) so that the seal's visible signature
field, added afterwards by :mod:`consent_records.sealing`, lies exactly over it: a PDF viewer
then shows the seal's details when the block is clicked. Nothing is drawn after it.

reportlab is imported lazily.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from xml.sax.saxutils import escape

SEAL_HEIGHT = 78.0
SEAL_GAP = 14.0
"""Space above the block, between it and the end of the document's content."""

VERIFY_HINT = "ims-kiosk verify-pdf FILE"


@dataclass(frozen=True, slots=True)
class SealStamp:
    """What the seal block says about a seal that is about to be applied.

    The renderer appends to ``placed`` where it drew the block on the last page (x1, y1, x2,
    y2 in PDF points from the bottom left): the sealer puts the seal's visible field there.
    """

    clinic: str
    level: str
    """"PAdES B-B", or "PAdES B-T" when a time-stamping service is configured."""
    seal_sha256: str
    root_sha256: str
    at: datetime
    not_after: date
    placed: list[tuple[int, int, int, int]] = field(default_factory=list, compare=False)


def grouped(fingerprint: str) -> str:
    """A hex fingerprint in groups of four, easy to read aloud and compare."""
    return " ".join(fingerprint[i : i + 4] for i in range(0, len(fingerprint), 4))


def _when(moment: datetime) -> str:
    offset = moment.strftime("%z")
    return f"{moment:%Y-%m-%d %H:%M} (UTC{offset[:3]}:{offset[3:]})"


def seal_block(stamp: SealStamp | None, *, at: datetime | None = None) -> Any:
    """The seal block flowable: ``stamp`` describes the seal, None says NOT SEALED."""
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Flowable, Paragraph

    from consent_records.pdf import _FONT, _FONT_BOLD, _register_fonts

    _register_fonts()
    sealed = stamp is not None
    ink = colors.HexColor("#1f4e79" if sealed else "#8a3b00")
    fill = colors.HexColor("#eef3f8" if sealed else "#fff1c7")
    title_style = ParagraphStyle(
        "seal_title", fontName=_FONT_BOLD, fontSize=9.2, leading=11.5, textColor=ink
    )
    body = ParagraphStyle(
        "seal_body", fontName=_FONT, fontSize=7.4, leading=9.2, textColor=colors.HexColor("#1a1a1a")
    )
    if stamp is not None:
        title = f"Sealed electronically by {escape(stamp.clinic)}  ·  {escape(stamp.level)}"
        lines = [
            "This PDF carries the clinic's electronic seal, applied when it was written on "
            f"{escape(_when(stamp.at))}. Any change to the file, even re-saving it in "
            "another program, breaks the seal.",
            f"<b>Seal certificate</b> SHA-256 {grouped(stamp.seal_sha256)} "
            f"(valid to {stamp.not_after.isoformat()})",
            f"<b>Clinic root</b> SHA-256 {grouped(stamp.root_sha256)}",
            f"<b>Verify with</b> <font name='{_FONT_BOLD}'>{VERIFY_HINT}</font>, or any PAdES "
            "validator that trusts the clinic root certificate with the fingerprint above.",
        ]
    else:
        title = "NOT SEALED"
        when = f" on {escape(_when(at))}" if at is not None else ""
        lines = [
            f"This PDF was written{when} without the clinic's electronic seal: nothing in "
            "the file shows whether it was changed since. Check what it says against the "
            "clinic's record store (the record hash and chain head above, with "
            "<font name='Vera-Bold'>ims-kiosk verify --expect</font>).",
            "The clinic sets up its seal once with <font name='Vera-Bold'>ims-kiosk keys "
            "init</font>; every PDF written after that is sealed.",
        ]

    class SealBlock(Flowable):  # type: ignore[misc]
        """A fixed-height block after the content: on the last page, or alone on a new
        page when too little room is left (it is never split)."""

        def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
            self._width = avail_width
            return avail_width, SEAL_HEIGHT + SEAL_GAP

        def split(self, avail_width: float, avail_height: float) -> list[Any]:
            return []

        def draw(self) -> None:
            canvas = self.canv
            x0, y0 = canvas.absolutePosition(0, 0)
            x1, y1 = canvas.absolutePosition(self._width, SEAL_HEIGHT)
            if stamp is not None:
                stamp.placed.append((round(x0), round(y0), round(x1), round(y1)))
            canvas.saveState()
            box_width = self._width
            canvas.setFillColor(fill)
            canvas.setStrokeColor(ink)
            canvas.setLineWidth(1.2 if sealed else 1.6)
            canvas.roundRect(0, 0, box_width, SEAL_HEIGHT, 4, stroke=1, fill=1)
            pad = 8.0
            width = box_width - 2 * pad
            # A long clinic name may wrap: shrink the text until it fits the box.
            for scale in (1.0, 0.93, 0.86, 0.8, 0.74, 0.68):
                paras = []
                used = 0.0
                for text, style in [(title, title_style), *((line, body) for line in lines)]:
                    scaled = ParagraphStyle(
                        f"{style.name}_{scale}",
                        parent=style,
                        fontSize=style.fontSize * scale,
                        leading=style.leading * scale,
                    )
                    para = Paragraph(text, scaled)
                    height = para.wrap(width, SEAL_HEIGHT)[1]
                    paras.append((para, height))
                    used += height + 1.2
                if used <= SEAL_HEIGHT - 2 * pad + 1.2:
                    break
            y = SEAL_HEIGHT - pad
            for para, height in paras:
                y -= height
                para.drawOn(canvas, pad, y)
                y -= 1.2
            canvas.restoreState()

    return SealBlock()
