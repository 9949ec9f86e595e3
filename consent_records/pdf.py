"""The PDF consent summary: what the physiotherapist reads and the clinic files.

:func:`render_consent_pdf` turns one stored record, the content it was signed against and the
clinic's letterhead into a Letter-size PDF of about three pages: who, what they decided and
the current status, what they were shown (every complication of every tier), their
screening answers and understanding check with the points to discuss highlighted, the
statements they confirmed, the signature (drawn strokes as vector paths), later events, and
the hash-chain figures that let anyone check the record was not changed.

Safety and reproducibility:

* Every piece of text that reaches reportlab ``Paragraph`` markup goes through
  :func:`_esc` (``xml.sax.saxutils.escape``): a name such as ``<img src="/etc/passwd"/>`` is
  printed literally and never parsed (reportlab's ``<img>`` opens files and URLs; ``<font
  color>`` was CVE-2023-33733). Footer text is drawn with ``drawString``, which parses nothing.
* Fonts are the Bitstream Vera TTFs shipped with reportlab, embedded as subsets, so accented
  names render and extract as text. They are parsed once per process.
* The same inputs give the same bytes: reportlab's invariant mode, the creation date taken
  from ``generated_at`` and a fixed QR mask.

reportlab is imported lazily, so importing this module (for :class:`ClinicHeader`) costs
nothing at kiosk start.
"""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache, partial
from pathlib import Path
from typing import Annotated, Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, StringConstraints

from consent_records.base import VerifyReport
from consent_records.events import (
    AnyEvent,
    Declined,
    Note,
    NotProceeding,
    ReconsentLinked,
    Withdrawn,
    actor_label,
)
from consent_records.lifecycle import (
    CONSENT_COMPLETE,
    STATUS_LABEL,
    ConsentRules,
    ConsentStatus,
    Lifecycle,
    Standing,
    fold,
)
from consent_records.model import (
    ConsentRecord,
    EventKind,
    RecordEvent,
    RecordStatus,
    ScreeningAnswerValue,
    SignatureMethod,
    StoredRecord,
)
from consent_records.seal_block import SealStamp, seal_block
from content.schema import ContentBundle, DecisionChoice

__all__ = [
    "EVENT_WORDING",
    "STATUS_WORDING",
    "TITLE",
    "ClinicHeader",
    "clinic_header_for",
    "pdf_title",
    "qr_payload",
    "render_consent_pdf",
]

TITLE = "IMS kiosk record: not consent to treatment"
"""The title until a physiotherapist has countersigned: nothing on the page may read as
completed consent before then."""

TITLE_CONSENTED = "IMS (dry needling) consent record: countersigned by the physiotherapist"
TITLE_WITHDRAWN = "IMS (dry needling) record: consent withdrawn"


def pdf_title(status: RecordStatus) -> str:
    """The PDF's title for a record's current status."""
    if status is RecordStatus.CONSENTED:
        return TITLE_CONSENTED
    if status is RecordStatus.WITHDRAWN:
        return TITLE_WITHDRAWN
    return TITLE


TITLE_EXPIRED = "IMS (dry needling) consent record: consent expired"
TITLE_RECONSENT = "IMS (dry needling) consent record: re-consent needed"
DEMO_BANNER = (
    "DEMO: made by the demo clinic (no clinic is set up). This is not a record of a real "
    "patient or a real clinic."
)


def lifecycle_title(status: ConsentStatus) -> str:
    """The PDF's title for a record's consent status (see :mod:`consent_records.lifecycle`):
    "not consent to treatment" until a physiotherapist has countersigned."""
    return {
        ConsentStatus.ACTIVE: TITLE_CONSENTED,
        ConsentStatus.EXPIRED: TITLE_EXPIRED,
        ConsentStatus.RECONSENT_NEEDED: TITLE_RECONSENT,
        ConsentStatus.WITHDRAWN: TITLE_WITHDRAWN,
    }.get(status, TITLE)


LIFECYCLE_DETAIL: dict[ConsentStatus, str] = {
    ConsentStatus.AWAITING_DISCUSSION: (
        "At the kiosk the patient said they plan to have IMS. That is not consent: the "
        "physiotherapist must still discuss IMS with them, obtain their consent and "
        "countersign before any treatment."
    ),
    ConsentStatus.WANTS_DISCUSSION: (
        "The patient wants to talk with the physiotherapist before deciding."
    ),
    ConsentStatus.DECLINED_AT_KIOSK: "The patient does not want IMS.",
    ConsentStatus.DISCUSSED: (
        "The physiotherapist has discussed IMS with the patient; the patient's decision is "
        "not recorded yet. No treatment before the physiotherapist countersigns."
    ),
    ConsentStatus.ACTIVE: (
        "The physiotherapist discussed IMS with the patient, who gave their consent, and "
        "countersigned (see Physiotherapist's discussion and consent)."
    ),
    ConsentStatus.DECLINED_AFTER_DISCUSSION: (
        "After discussing IMS with the physiotherapist, the patient declined it."
    ),
    ConsentStatus.NOT_PROCEEDING: (
        "The physiotherapist decided not to go ahead with IMS (the reason is below)."
    ),
    ConsentStatus.WITHDRAWN: (
        "The patient withdrew their consent. No further IMS under this record; a later "
        "treatment needs a new kiosk record and discussion."
    ),
    ConsentStatus.EXPIRED: (
        "The countersigned consent has expired. Before further IMS the patient fills in a "
        "new kiosk record and the physiotherapist discusses it with them again."
    ),
    ConsentStatus.RECONSENT_NEEDED: (
        "The education content changed materially after the patient saw it. Before further "
        "IMS the patient fills in a new kiosk record and the physiotherapist discusses the "
        "changes with them."
    ),
}
"""What each consent status means, printed under it."""

STATUS_WORDING: dict[RecordStatus, str] = {
    RecordStatus.AWAITING_PHYSIOTHERAPIST: (
        "Awaiting physiotherapist discussion and countersignature"
    ),
    RecordStatus.DECLINED: "Declined",
    RecordStatus.WANTS_DISCUSSION: "Wants to discuss first",
    RecordStatus.CONSENTED: "Consented",
    RecordStatus.WITHDRAWN: "Withdrawn",
}
"""How each record status is worded for people."""

STATUS_DETAIL: dict[RecordStatus, str] = {
    RecordStatus.AWAITING_PHYSIOTHERAPIST: (
        "At the kiosk the patient said they plan to have IMS. That is not consent: the "
        "physiotherapist must still discuss IMS with them, obtain their consent and "
        "countersign before any treatment."
    ),
    RecordStatus.DECLINED: "The patient does not want IMS.",
    RecordStatus.WANTS_DISCUSSION: (
        "The patient wants to talk with the physiotherapist before deciding."
    ),
    RecordStatus.CONSENTED: (
        "The physiotherapist discussed IMS with the patient and countersigned."
    ),
    RecordStatus.WITHDRAWN: "The patient withdrew consent after signing.",
}

EVENT_WORDING: dict[str, str] = {
    EventKind.PDF_EXPORTED: "PDF exported",
    EventKind.AFTERCARE_PRINTED: "Take-home aftercare sheet written",
    EventKind.PHYSIO_REVIEWED: "Reviewed by physiotherapist",
    EventKind.COUNTERSIGNED: "Countersigned by physiotherapist",
    EventKind.WITHDRAWN: "Consent withdrawn",
    EventKind.NOTE: "Note",
    "discussed": "Discussed with the physiotherapist",
    "declined": "Declined after discussion",
    "not_proceeding": "Not proceeding",
    "reconsent_linked": "Linked to a later re-consent record",
}
"""How each later event (either schema version) is worded for people."""


def _event_note(event: AnyEvent) -> str | None:
    if isinstance(event, RecordEvent):
        return event.note
    if isinstance(event, Note):
        return event.text
    if isinstance(event, Declined | NotProceeding | Withdrawn):
        return event.reason
    if isinstance(event, ReconsentLinked):
        return event.new_reference
    return None


ANSWER_WORDING: dict[ScreeningAnswerValue, str] = {
    ScreeningAnswerValue.YES: "Yes",
    ScreeningAnswerValue.NO: "No",
    ScreeningAnswerValue.NOT_SURE: "Not sure",
}

NOT_CONSENT_LINE = (
    "This kiosk record is not by itself consent to treatment. The physiotherapist discusses "
    "IMS with the patient, answers their questions and countersigns before any treatment."
)

QR_MASK = 2
"""Fixed QR mask pattern: reportlab otherwise tries all 8 (a quarter of the render time)."""

ClinicText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ClinicHeader(BaseModel):
    """The clinic's letterhead printed at the top of every consent summary."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ClinicText
    address_lines: tuple[ClinicText, ...] = ()
    phone: ClinicText | None = None
    timezone: str | None = None
    """The IANA zone every time is printed in (None: each time in its own stored offset)."""
    details_recorded: bool = True
    """False for a record made before records carried the clinic's address and phone: the
    letterhead then says so instead of printing whatever the settings say today."""


def clinic_header_for(record: ConsentRecord) -> ClinicHeader:
    """The letterhead a record was signed under, from the record itself."""
    return ClinicHeader(
        name=record.clinic_name,
        address_lines=tuple(record.clinic_address or ()),
        phone=record.clinic_phone,
        timezone=record.timezone,
        details_recorded=record.clinic_address is not None,
    )


# --------------------------------------------------------------------------------------------
# Small text helpers (pure Python, no reportlab)


KEY_POINTS_ON_SCREEN_FROM = "2026.2"
"""The first content version that shows each section's key points on screen."""


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def _esc(text: object) -> str:
    """Text made safe for reportlab Paragraph markup: ``&``, ``<`` and ``>`` escaped."""
    return escape(str(text))


def _when(moment: datetime) -> str:
    """``2026-03-14 10:42 EDT (UTC-04:00)``: local time with its zone name and offset."""
    offset = moment.strftime("%z")
    utc = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
    if utc == "UTC+00:00":
        utc = "UTC"
    name = moment.tzname() or ""
    stamp = f"{moment:%Y-%m-%d %H:%M}"
    if not name or name.startswith(("UTC", "+", "-")) or name == utc:
        return f"{stamp} {utc}"
    return f"{stamp} {name} ({utc})"


def _day(value: date) -> str:
    return f"{value:%Y-%m-%d}"


def _duration(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    return f"{whole // 60} min {whole % 60:02d} s"


def _pdf_date(moment: datetime) -> Callable[..., str]:
    """A reportlab date formatter that writes ``moment`` as the PDF creation date."""
    offset = moment.strftime("%z") or "+0000"
    text = f"D:{moment:%Y%m%d%H%M%S}{offset[:3]}'{offset[3:]}'"

    def formatter(*_: Any) -> str:
        return text

    return formatter


def _fit(text: str, font: str, size: float, smallest: float, room: float) -> tuple[str, float]:
    """``text`` at the largest size down to ``smallest`` that fits ``room`` points, else cut
    with an ellipsis at ``smallest``. For plain ``drawString`` text (no markup)."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    while size > smallest and stringWidth(text, font, size) > room:
        size = max(smallest, size - 0.5)
    if stringWidth(text, font, size) <= room:
        return text, size
    while text and stringWidth(text + "…", font, size) > room:
        text = text[:-1]
    return text.rstrip() + "…", size


def _wrapped(text: str, width: float, *, font: str, size: float) -> str:
    """``text`` broken into lines that fit ``width`` points, joined by newlines.

    For plain-string table cells: reportlab draws them line by line with ``drawString`` and
    never parses them, and they cost far less than a ``Paragraph`` (no markup parse, no
    repeated wrapping). A single word longer than ``width`` keeps its own line.
    """
    from reportlab.lib.utils import simpleSplit

    return "\n".join(simpleSplit(text, font, size, width))


def _clock_note(record: ConsentRecord) -> str:
    """Markup-safe note when the kiosk's clock was changed during the session."""
    step = record.clock_step_seconds
    if abs(step) < 60 or record.elapsed_seconds is None:
        return ""
    direction = "back" if step < 0 else "forward"
    return (
        f". <b>The kiosk's clock was set {direction} by {_duration(abs(step))} during the "
        f"session</b>; measured duration {_duration(record.elapsed_seconds)}"
    )


def _verification_text(report: VerifyReport | None) -> tuple[str, bool]:
    """What the integrity block says about the store as a whole, and whether it failed."""
    if report is None:
        return "Not checked at this export.", False
    if not report.ok:
        return (
            f"FAILED at export: {report.problem}. Do not rely on this record's figures until "
            "an administrator has checked the store (docs/storage.md).",
            True,
        )
    text = (
        f"Verified at export: {report.records} records and {report.events} events match "
        f"the chain up to entry {report.chain_length}"
    )
    if report.last_checkpoint is not None:
        last = report.last_checkpoint
        text += f"; signed checkpoint at entry {last.seq} ({last.at}) holds"
    return text + ".", False


@dataclass(frozen=True, slots=True)
class _Footer:
    patient: str
    date_of_birth: str
    reference: str
    content_version: str
    demo: bool = False


# --------------------------------------------------------------------------------------------
# reportlab set-up, once per process

_FONT = "Vera"
_FONT_BOLD = "Vera-Bold"
_FONT_ITALIC = "Vera-Italic"
_FONT_BOLD_ITALIC = "Vera-BoldItalic"
_font_lock = threading.Lock()
_fonts_ready = False


def _register_fonts() -> None:
    """Register the Vera TTF family (embedded, subset) the first time a PDF is made."""
    global _fonts_ready
    if _fonts_ready:
        return
    with _font_lock:
        if _fonts_ready:
            return
        import reportlab
        from reportlab.lib.fonts import addMapping
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont

        fonts = Path(reportlab.__file__).resolve().parent / "fonts"
        for name, file in (
            (_FONT, "Vera.ttf"),
            (_FONT_BOLD, "VeraBd.ttf"),
            (_FONT_ITALIC, "VeraIt.ttf"),
            (_FONT_BOLD_ITALIC, "VeraBI.ttf"),
        ):
            pdfmetrics.registerFont(TTFont(name, str(fonts / file)))
        addMapping(_FONT, 0, 0, _FONT)
        addMapping(_FONT, 1, 0, _FONT_BOLD)
        addMapping(_FONT, 0, 1, _FONT_ITALIC)
        addMapping(_FONT, 1, 1, _FONT_BOLD_ITALIC)
        _fonts_ready = True


# Colours (hex so they need no reportlab import here).
_INK = "#1a1a1a"
_MUTED = "#5a5a5a"
_RULE = "#b8b8b8"
_SHADE = "#f1f3f5"
_FLAG_FILL = "#fff1c7"
_FLAG_INK = "#8a3b00"
_ACCENT = "#1f4e79"

_PAGE_MARGIN_X = 48.0
_PAGE_MARGIN_TOP = 40.0
_PAGE_MARGIN_BOTTOM = 50.0
_FOOTER_Y = 28.0


@cache
def _styles() -> dict[str, Any]:
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_RIGHT
    from reportlab.lib.styles import ParagraphStyle

    ink = colors.HexColor(_INK)
    base = ParagraphStyle("base", fontName=_FONT, fontSize=9.2, leading=12.2, textColor=ink)
    styles: dict[str, Any] = {
        "base": base,
        "small": ParagraphStyle(
            "small", parent=base, fontSize=7.8, leading=10, textColor=colors.HexColor(_MUTED)
        ),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8.6, leading=11),
        "cell_bold": ParagraphStyle(
            "cell_bold", parent=base, fontSize=8.6, leading=11, fontName=_FONT_BOLD
        ),
        "label": ParagraphStyle(
            "label", parent=base, fontSize=8.2, leading=11, textColor=colors.HexColor(_MUTED)
        ),
        "clinic": ParagraphStyle(
            "clinic", parent=base, fontName=_FONT_BOLD, fontSize=12.5, leading=15.5
        ),
        "title": ParagraphStyle(
            "title",
            parent=base,
            fontName=_FONT_BOLD,
            fontSize=16.5,
            leading=20,
            spaceBefore=8,
            spaceAfter=2,
            textColor=colors.HexColor(_ACCENT),
        ),
        "ref_label": ParagraphStyle(
            "ref_label",
            parent=base,
            fontSize=8,
            leading=10,
            alignment=TA_RIGHT,
            textColor=colors.HexColor(_MUTED),
        ),
        "ref": ParagraphStyle(
            "ref", parent=base, fontName=_FONT_BOLD, fontSize=21, leading=25, alignment=TA_RIGHT
        ),
        "ref_small": ParagraphStyle(
            "ref_small",
            parent=base,
            fontSize=6.8,
            leading=9,
            alignment=TA_RIGHT,
            textColor=colors.HexColor(_MUTED),
        ),
        "h2": ParagraphStyle(
            "h2",
            parent=base,
            fontName=_FONT_BOLD,
            fontSize=11.5,
            leading=14,
            spaceBefore=8,
            spaceAfter=4,
            keepWithNext=1,
            textColor=colors.HexColor(_ACCENT),
        ),
        "h3": ParagraphStyle(
            "h3",
            parent=base,
            fontName=_FONT_BOLD,
            fontSize=9.6,
            leading=12,
            spaceBefore=5,
            keepWithNext=1,
        ),
        "bullet": ParagraphStyle(
            "bullet", parent=base, fontSize=8.8, leading=11, leftIndent=13, bulletIndent=3
        ),
        "bullet2": ParagraphStyle(
            "bullet2", parent=base, fontSize=8.6, leading=11, leftIndent=10, bulletIndent=0
        ),
        "tier": ParagraphStyle(
            "tier",
            parent=base,
            fontName=_FONT_BOLD,
            fontSize=8.8,
            leading=11.4,
            leftIndent=13,
            spaceBefore=3,
            spaceAfter=1,
            keepWithNext=1,
        ),
        "flag": ParagraphStyle(
            "flag", parent=base, fontSize=8.2, leading=10.5, textColor=colors.HexColor(_FLAG_INK)
        ),
        "mono": ParagraphStyle("mono", parent=base, fontSize=7.4, leading=10),
        "sig_typed": ParagraphStyle(
            "sig_typed", parent=base, fontName=_FONT_ITALIC, fontSize=10, leading=13
        ),
    }
    return styles


@cache
def _numbered_canvas_class() -> Callable[..., Any]:
    """A canvas that holds its pages until the end, so each footer can say "Page X of Y"."""
    from reportlab.lib import colors
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.pdfgen.canvas import Canvas

    muted = colors.HexColor(_MUTED)
    rule = colors.HexColor(_RULE)

    class NumberedCanvas(Canvas):  # type: ignore[misc]
        def __init__(
            self, *args: Any, footer: _Footer, generated_at: datetime, **kwargs: Any
        ) -> None:
            super().__init__(*args, **kwargs)
            self._footer = footer
            self._pages: list[dict[str, Any]] = []
            self.setDateFormatter(_pdf_date(generated_at))

        def showPage(self) -> None:
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for number, state in enumerate(self._pages, 1):
                self.__dict__.update(state)
                self._draw_footer(number, total)
                super().showPage()
            super().save()

        def _draw_footer(self, number: int, total: int) -> None:
            width = self._pagesize[0]
            left, right = _PAGE_MARGIN_X, width - _PAGE_MARGIN_X
            info = self._footer
            page = f"Page {number} of {total}"
            if info.demo:
                page = f"DEMO  ·  {page}"
            tail = (
                f"DOB {info.date_of_birth}  ·  Ref {info.reference}  ·  "
                f"Content {info.content_version}"
            )
            size = 7.6
            room = (
                right - left - stringWidth(page, _FONT, size) - stringWidth(tail, _FONT, size) - 30
            )
            name, name_size = _fit(info.patient, _FONT_BOLD, size, 6.0, room)
            self.saveState()
            self.setStrokeColor(rule)
            self.setLineWidth(0.5)
            self.line(left, _FOOTER_Y + 11, right, _FOOTER_Y + 11)
            self.setFillColor(muted)
            self.setFont(_FONT_BOLD, name_size)
            self.drawString(left, _FOOTER_Y, name)
            self.setFont(_FONT, size)
            self.drawString(left + stringWidth(name, _FONT_BOLD, name_size) + 10, _FOOTER_Y, tail)
            self.drawRightString(right, _FOOTER_Y, page)
            self.restoreState()

    return NumberedCanvas


# --------------------------------------------------------------------------------------------
# Building blocks


def _table(
    rows: list[list[Any]],
    widths: Sequence[float],
    *,
    extra: Sequence[tuple[Any, ...]] = (),
    grid: bool = True,
    header: bool = False,
    labels: bool = False,
) -> Any:
    """A table; plain-string cells (fixed wording only, never parsed) use the base font.

    ``header`` makes the first row a shaded bold header repeated on a new page; ``labels``
    makes the first column small muted labels.
    """
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    commands: list[tuple[Any, ...]] = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 4),
        ("RIGHTPADDING", (0, 0), (-1, -1), 4),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ("FONTNAME", (0, 0), (-1, -1), _FONT),
        ("FONTSIZE", (0, 0), (-1, -1), 8.6),
        ("LEADING", (0, 0), (-1, -1), 11),
        ("TEXTCOLOR", (0, 0), (-1, -1), colors.HexColor(_INK)),
    ]
    if labels:
        commands.append(("FONTSIZE", (0, 0), (0, -1), 8.2))
        commands.append(("TEXTCOLOR", (0, 0), (0, -1), colors.HexColor(_MUTED)))
    if grid:
        commands.append(("LINEBELOW", (0, 0), (-1, -1), 0.4, colors.HexColor(_RULE)))
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor(_SHADE)))
        commands.append(("FONTNAME", (0, 0), (-1, 0), _FONT_BOLD))
        commands.append(("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.HexColor(_MUTED)))
    commands.extend(extra)
    table = Table(rows, colWidths=list(widths), repeatRows=1 if header else 0)
    table.setStyle(TableStyle(commands))
    return table


def _bullets(texts: Sequence[str], frame_width: float, bullet: str = "•") -> Any:
    """A bulleted list of plain text (never parsed as markup): one table row per item, the
    text pre-wrapped. Much cheaper than one ``Paragraph`` per item; splits between items."""
    indent = 13.0
    size = 8.8
    rows = [[bullet, _wrapped(text, frame_width - indent, font=_FONT, size=size)] for text in texts]
    return _table(
        rows,
        [indent, frame_width - indent],
        grid=False,
        extra=[
            ("FONTSIZE", (0, 0), (-1, -1), size),
            ("LEADING", (0, 0), (-1, -1), 11),
            ("LEFTPADDING", (0, 0), (0, -1), 3),
            ("LEFTPADDING", (1, 0), (1, -1), 0),
            ("RIGHTPADDING", (0, 0), (-1, -1), 0),
            ("TOPPADDING", (0, 0), (-1, -1), 0),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 0),
        ],
    )


def _complications(tier: Any, frame_width: float) -> list[Any]:
    """One risk tier: its title kept with every complication and its frequency, in two
    columns read down the left one, then the right one, split where they come out about
    the same height."""
    from reportlab.lib.utils import simpleSplit
    from reportlab.platypus import Paragraph

    st = _styles()
    indent = 13.0
    column = (frame_width - indent) / 2
    room = column - 8 - st["bullet2"].leftIndent
    cells = []
    lines = []
    for item in tier.complications:
        text = f"<b>{_esc(item.name)}</b>"
        plain = item.name
        if item.frequency:
            text += f" ({_esc(item.frequency)})"
            plain += f" ({item.frequency})"
        cells.append(Paragraph(text, st["bullet2"], bulletText="–"))
        # An estimate (regular weight) is enough to balance the columns.
        lines.append(len(simpleSplit(plain, _FONT, st["bullet2"].fontSize, room)))
    middle = (len(cells) + 1) // 2
    half = min(
        range(1, len(cells) + 1),
        key=lambda k: (max(sum(lines[:k]), sum(lines[k:])), abs(k - middle)),
    )
    columns = _table(
        [[cells[:half], cells[half:]]],
        [indent + column, column],
        grid=False,
        extra=[
            ("LEFTPADDING", (0, 0), (0, 0), indent),
            ("TOPPADDING", (0, 0), (-1, -1), 0),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 0),
        ],
    )
    return [Paragraph(f"{_esc(tier.title)} complications", st["tier"]), columns]


def _signature_drawing(record: ConsentRecord, width: float, height: float) -> Any:
    """The drawn signature as vector polylines, scaled to fit a box, or the typed wording."""
    from reportlab.graphics.shapes import Circle, Drawing, Rect, String
    from reportlab.lib import colors

    signature = record.signature
    drawing = Drawing(width, height)
    drawing.add(
        Rect(
            0, 0, width, height, strokeColor=colors.HexColor(_RULE), strokeWidth=0.8, fillColor=None
        )
    )
    ink = colors.HexColor("#10233f")
    if signature.method is SignatureMethod.TYPED or not signature.strokes:
        drawing.add(
            String(
                10,
                height / 2 + 6,
                "Signed by typing full name (keyboard signature)",
                fontName=_FONT_BOLD,
                fontSize=9,
                fillColor=colors.HexColor(_INK),
            )
        )
        name, size = _fit(signature.typed_name, _FONT_ITALIC, 11.0, 7.0, width - 20)
        drawing.add(
            String(10, height / 2 - 12, name, fontName=_FONT_ITALIC, fontSize=size, fillColor=ink)
        )
        return drawing

    # A terminal cell is about twice as tall as it is wide: y counts double.
    aspect_y = 2.0
    strokes = signature.drawn_points()
    points = [p for stroke in strokes for p in stroke]
    pad_w = float(signature.pad_width) or max(x for x, _y in points) + 1
    pad_h = float(signature.pad_height) or max(y for _x, y in points) + 1
    min_x = min(0.0, min(x for x, _y in points))
    max_x = max(pad_w, max(x for x, _y in points))
    min_y = min(0.0, min(y for _x, y in points))
    max_y = max(pad_h, max(y for _x, y in points))
    span_x = max(max_x - min_x, 1e-6)
    span_y = max((max_y - min_y) * aspect_y, 1e-6)
    inset = 8.0
    scale = min((width - 2 * inset) / span_x, (height - 2 * inset) / span_y)
    off_x = (width - span_x * scale) / 2
    off_y = (height - span_y * scale) / 2

    def to_pdf(x: float, y: float) -> tuple[float, float]:
        # Pad y grows downwards; PDF y grows upwards.
        return (
            round(off_x + (x - min_x) * scale, 2),
            round(off_y + span_y * scale - (y - min_y) * aspect_y * scale, 2),
        )

    line_width = max(1.0, min(2.0, scale * 0.12))
    for stroke in strokes:
        coords = _distinct([to_pdf(x, y) for x, y in stroke], min_step=0.2)
        if len(coords) == 1:
            drawing.add(
                Circle(
                    coords[0][0], coords[0][1], line_width * 0.8, fillColor=ink, strokeColor=None
                )
            )
            continue
        drawing.add(_smooth_path(coords, ink, line_width))
    return drawing


def _distinct(coords: list[tuple[float, float]], *, min_step: float) -> list[tuple[float, float]]:
    """The points of a stroke without those closer than ``min_step`` to the last one kept
    (a pointer at rest reports the same place many times), always keeping the last."""
    kept = [coords[0]]
    for point in coords[1:]:
        if math.dist(point, kept[-1]) >= min_step:
            kept.append(point)
    if len(coords) > 1 and kept[-1] != coords[-1]:
        if len(kept) > 1:
            kept[-1] = coords[-1]
        else:
            kept.append(coords[-1])
    return kept


def _smooth_path(coords: list[tuple[float, float]], ink: Any, line_width: float) -> Any:
    """A stroke as one smooth curve through every point (Catmull-Rom spline as cubic
    Bézier segments), so a signature prints as pen strokes rather than a jagged line."""
    from reportlab.graphics.shapes import Path

    path = Path(
        strokeColor=ink, strokeWidth=line_width, fillColor=None, strokeLineCap=1,
        strokeLineJoin=1,
    )  # fmt: skip
    path.moveTo(*coords[0])
    last = len(coords) - 1
    for i in range(last):
        p0 = coords[max(i - 1, 0)]
        p1, p2 = coords[i], coords[i + 1]
        p3 = coords[min(i + 2, last)]
        c1 = (p1[0] + (p2[0] - p0[0]) / 6, p1[1] + (p2[1] - p0[1]) / 6)
        c2 = (p2[0] - (p3[0] - p1[0]) / 6, p2[1] - (p3[1] - p1[1]) / 6)
        path.curveTo(
            round(c1[0], 2), round(c1[1], 2), round(c2[0], 2), round(c2[1], 2), p2[0], p2[1]
        )
    return path


def qr_payload(stored: StoredRecord) -> str:
    """What the QR code holds: reference, record id and record hash only (no health data)."""
    record = stored.record
    return f"ims-consent:ref={record.reference};id={record.id};sha256={stored.entry.sha256}"


def _qr_runs(value: str, size: float) -> list[tuple[float, float, float, float]]:
    """The dark modules of a QR code (error correction M) for ``value``, as one rectangle
    ``(x, y, width, height)`` per horizontal run, in a ``size`` square with a 2-module border.

    Built with reportlab's encoder (the one ``QrCodeWidget`` uses) but with a fixed mask:
    the widget tries all 8 masks and draws one validated shape per run of dark modules,
    which together took a third of the render time. Any mask gives a valid code.
    """
    from reportlab.graphics.barcode import qrencoder

    qr = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
    qr.addData(value)
    qr.version = qr.calculate_version()
    qr.makeImpl(False, QR_MASK)
    count = qr.getModuleCount()
    border = 2
    box = size / (count + 2 * border)
    runs: list[tuple[float, float, float, float]] = []
    for row_index, row in enumerate(qr.modules):
        bottom = size - (row_index + border + 1) * box
        col = 0
        while col < count:
            if row[col]:
                start = col
                while col < count and row[col]:
                    col += 1
                runs.append(((start + border) * box, bottom, (col - start) * box, box))
            else:
                col += 1
    return runs


def _qr_flowable(value: str, size: float) -> Any:
    """The QR code as a flowable drawn straight on the canvas as one filled vector path
    (cheaper than a graphics ``Drawing``, which validates and renders each shape)."""
    from reportlab.platypus import Flowable

    runs = _qr_runs(value, size)

    class _QR(Flowable):  # type: ignore[misc]
        def wrap(self, *_: Any) -> tuple[float, float]:
            return size, size

        def draw(self) -> None:
            canvas = self.canv
            path = canvas.beginPath()
            for x, y, w, h in runs:
                path.rect(x, y, w, h)
            canvas.setFillColorRGB(0, 0, 0)
            canvas.drawPath(path, stroke=0, fill=1)

    return _QR()


# --------------------------------------------------------------------------------------------
# The document


def _closing_line(standing: Standing, lifecycle: Lifecycle, when: Callable[[datetime], str]) -> str:
    """The line under the status box: "not consent by itself" only while consent is not
    complete; otherwise what the consent is now."""
    status = standing.status
    signed = lifecycle.countersignature
    if status is ConsentStatus.WITHDRAWN:
        outcome = lifecycle.outcome
        at = f" on {when(outcome.at)}" if outcome is not None else ""
        return f"Consent was withdrawn{at}. No further IMS under this record."
    if status not in CONSENT_COMPLETE:
        return NOT_CONSENT_LINE
    given = f"Consent countersigned on {when(signed.at)}" if signed is not None else "Consent"
    if status is ConsentStatus.EXPIRED and standing.expires_at is not None:
        return f"{given}; it expired on {when(standing.expires_at)}."
    if status is ConsentStatus.RECONSENT_NEEDED:
        changes = "; ".join(f"{c.version}: {c.what_changed}" for c in standing.material_changes)
        return f"{given}. Re-consent needed: the content changed materially ({changes})."
    until = f"; valid until {when(standing.expires_at)}" if standing.expires_at else ""
    return f"{given}{until}, unless the patient withdraws it."


def _item_label(item: Any, content: ContentBundle, shown: ContentBundle) -> str:
    """A "discuss these first" item in words (DiscussItem from consent_records.events)."""
    kind, ref = item.kind.value, item.ref or ""
    try:
        if kind == "screening_flag":
            return f"Screening: {shown.screening_question(ref).prompt}"
        if kind == "missed_question":
            question = content.question(ref)
            return f"Understanding check: {question.topic}"
        if kind == "section_not_finished":
            return f"Section not read to its end: {shown.section(ref).title}"
        if kind == "section_read_quickly":
            return f"Section read far faster than expected: {shown.section(ref).title}"
    except KeyError:
        pass
    if kind == "substitute_decision_maker":
        return "A substitute decision-maker filled in the kiosk"
    if kind == "older_content":
        return f"Older education content (version {ref})"
    return str(item)


def _who(actor: Any) -> str:
    name = getattr(actor, "display_name", None)
    return str(name) if name else str(getattr(actor, "label", actor))


def _physio_section(
    lifecycle: Lifecycle,
    standing: Standing,
    content: ContentBundle,
    shown: ContentBundle,
    frame_width: float,
    when: Callable[[datetime], str],
) -> list[Any]:
    """The discussion(s), the countersignature, the outcome, expiry and re-consent links."""
    from reportlab.lib import colors
    from reportlab.platypus import KeepTogether, Paragraph, Spacer

    from consent_records.events import Countersigned, Discussed

    st = _styles()

    def para(text: str, style: str = "cell") -> Any:
        return Paragraph(text, st[style])

    story: list[Any] = [para(_esc("Physiotherapist's discussion and consent"), "h2")]
    nothing = (
        not lifecycle.discussions
        and not lifecycle.legacy_reviews
        and lifecycle.countersignature is None
        and lifecycle.outcome is None
        and not lifecycle.reconsent_links
    )
    if nothing:
        story.append(
            para(
                "Nothing recorded yet: no physiotherapist has recorded a discussion with the "
                "patient, and consent has not been given.",
                "base",
            )
        )
        return story
    for discussion in lifecycle.discussions:
        assert isinstance(discussion, Discussed)
        rows: list[list[Any]] = []
        for entry in discussion.items:
            state = "Addressed" if entry.addressed else "<b>Not addressed</b>"
            note = f"<br/>{_esc(entry.note)}" if entry.note else ""
            rows.append([para(_esc(_item_label(entry.item, content, shown))), para(state + note)])
        for qa in discussion.questions:
            rows.append(
                [
                    para(f"Patient asked: {_esc(qa.question)}"),
                    para(f"Answer given: {_esc(qa.answer)}"),
                ]
            )
        if discussion.other:
            rows.append([para("Also discussed"), para(_esc(discussion.other))])
        block: list[Any] = [
            para(
                f"Discussion on {_esc(when(discussion.at))} with {_esc(_who(discussion.actor))}",
                "h3",
            )
        ]
        if rows:
            block.append(_table(rows, [frame_width * 0.45, frame_width * 0.55]))
        story += block
    if lifecycle.legacy_reviews:
        story.append(
            para(
                f"{lifecycle.legacy_reviews} review(s) by the physiotherapist recorded by an "
                "older version of the software (see Later events).",
                "small",
            )
        )
    signed = lifecycle.countersignature
    if isinstance(signed, Countersigned):
        story.append(
            KeepTogether(
                [
                    para("Countersignature: consent given", "h3"),
                    _table(
                        [
                            ["Signed by", para(f"<b>{_esc(signed.signer_name)}</b>")],
                            [
                                "Registration",
                                para(_esc(signed.registration or "not recorded in the settings")),
                            ],
                            ["Signed at", para(_esc(when(signed.at)))],
                            [
                                "Confirmed",
                                para(
                                    "Password entered again at "
                                    f"{_esc(when(signed.password_confirmed_at))}"
                                ),
                            ],
                            ["Meaning", para(_esc(signed.meaning))],
                        ],
                        [88, frame_width - 88],
                        labels=True,
                        extra=[("BOX", (0, 0), (-1, -1), 0.8, colors.HexColor(_ACCENT))],
                    ),
                ]
            )
        )
    elif signed is not None:
        story.append(
            para(
                f"Countersigned on {_esc(when(signed.at))} by {_esc(_who(signed.actor))} "
                "(recorded by an older version of the software, without a discussion record).",
                "base",
            )
        )
    story.append(Spacer(1, 4))
    if standing.expires_at is not None:
        verb = "Expired on" if standing.status is ConsentStatus.EXPIRED else "Valid until"
        story.append(para(f"<b>{verb} {_esc(when(standing.expires_at))}</b>", "base"))
    for change in standing.material_changes:
        story.append(
            para(
                f"<b>Re-consent needed:</b> content {_esc(change.version)} changed: "
                f"{_esc(change.what_changed)}",
                "flag",
            )
        )
    outcome = lifecycle.outcome
    if outcome is not None:
        kind = outcome.kind.value
        title = {
            "declined": "Declined after discussion",
            "not_proceeding": "Not proceeding",
            "withdrawn": "Consent withdrawn",
        }.get(kind, kind.replace("_", " ").capitalize())
        reason = getattr(outcome, "reason", None) or getattr(outcome, "note", None)
        story.append(
            para(
                f"<b>{_esc(title)}</b> on {_esc(when(outcome.at))}, recorded by "
                f"{_esc(_who(outcome.actor))}. "
                + (f"Reason: {_esc(reason)}" if reason else "No reason was given."),
                "base",
            )
        )
    for link in lifecycle.reconsent_links:
        story.append(
            para(
                f"<b>Re-consent:</b> the patient's later kiosk record is "
                f"{_esc(link.new_reference)} (linked on {_esc(when(link.at))} by "
                f"{_esc(_who(link.actor))}).",
                "base",
            )
        )
    return story


def render_consent_pdf(
    stored: StoredRecord,
    content: ContentBundle,
    clinic: ClinicHeader,
    *,
    generated_at: datetime,
    verification: VerifyReport | None = None,
    rules: ConsentRules | None = None,
    demo: bool = False,
    seal: SealStamp | None = None,
) -> bytes:
    """Render the consent summary of ``stored`` as PDF bytes (Letter, about three pages).

    Args:
        stored: the record with its later events and chain figures, as the store returns it.
        content: the content bundle the record was signed against (same version and
            language); its texts supply section titles, key points, complications, questions
            and statements.
        clinic: the letterhead.
        generated_at: the export time printed on the PDF and written as its creation date
            (never ``now()`` inside, so the same inputs give the same bytes).
        verification: the store's verify report at export, printed on the integrity block
            (a store that failed verification is said to have failed, in the flag colours).
        rules: the clinic's consent rules (validity, content history) the status is judged
            with at ``generated_at`` (expired, re-consent needed); default 365 days.
        demo: made by the demo clinic: every page says DEMO.
        seal: what the seal block at the foot of the last page says about the seal the
            caller applies next (:mod:`consent_records.sealing`); None: it says NOT SEALED.
    """
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import letter
    from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer

    _register_fonts()
    st = _styles()
    record = stored.record
    # Every time in the record's own zone (never the exporting command's settings).
    zone = ZoneInfo(clinic.timezone) if clinic.timezone else record.completed_at.tzinfo
    generated_at = generated_at.astimezone(zone)

    def when(moment: datetime) -> str:
        return _when(moment.astimezone(zone))

    patient = record.patient
    lifecycle = fold(record, (e.event for e in stored.events))
    standing = lifecycle.standing(generated_at, rules)
    status = standing.status
    # SimpleDocTemplate's frame pads 6 pt on each side.
    frame_width = letter[0] - 2 * _PAGE_MARGIN_X - 12
    flag_fill = colors.HexColor(_FLAG_FILL)
    flag_ink = colors.HexColor(_FLAG_INK)
    story: list[Any] = []

    def para(text: str, style: str = "base") -> Any:
        """A Paragraph of markup we wrote ourselves; interpolate only ``_esc``-ed values."""
        return Paragraph(text, st[style])

    def heading(text: str) -> Any:
        return para(_esc(text), "h2")

    def name_para(markup: str, name: str, style: str, width: float) -> Any:
        """A Paragraph holding a person's name: the type shrinks (to 6 pt at least) until
        the name's longest word fits ``width``, so a long name wraps between words and is
        never broken in the middle of one."""
        from reportlab.lib.styles import ParagraphStyle
        from reportlab.pdfbase.pdfmetrics import stringWidth

        base = st[style]
        font = _FONT_BOLD if markup.startswith("<b>") else base.fontName
        longest = max(name.split() or [""], key=lambda word: stringWidth(word, font, 10))
        size = float(base.fontSize)
        while size > 6.0 and stringWidth(longest, font, size) > width:
            size = max(6.0, size - 0.25)
        if size == base.fontSize:
            return Paragraph(markup, base)
        smaller = ParagraphStyle(
            f"{style}-fit", parent=base, fontSize=size, leading=size * base.leading / base.fontSize
        )
        return Paragraph(markup, smaller)

    # --- Header ----------------------------------------------------------------------------
    clinic_lines = [para(_esc(clinic.name), "clinic")]
    clinic_lines += [para(_esc(line), "base") for line in clinic.address_lines]
    if clinic.phone:
        clinic_lines.append(para(f"Tel. {_esc(clinic.phone)}", "base"))
    if not clinic.details_recorded:
        clinic_lines.append(para("Address and phone were not recorded with this record.", "small"))
    ref_block = [
        para("Reference", "ref_label"),
        para(_esc(record.reference), "ref"),
        para(f"Record id {_esc(record.id)}", "ref_small"),
    ]
    story.append(
        _table(
            [[clinic_lines, ref_block]],
            [frame_width - 190, 190],
            grid=False,
            extra=[
                ("LEFTPADDING", (0, 0), (0, 0), 0),
                ("RIGHTPADDING", (1, 0), (1, 0), 0),
                ("LINEBELOW", (0, 0), (-1, 0), 1.2, colors.HexColor(_ACCENT)),
                ("BOTTOMPADDING", (0, 0), (-1, 0), 7),
            ],
        )
    )
    if demo:
        story.append(para(f"<b>{_esc(DEMO_BANNER)}</b>", "flag"))
    story.append(para(_esc(("DEMO: " if demo else "") + lifecycle_title(status)), "title"))
    story.append(
        para(
            f"Generated {_esc(when(generated_at))} from the kiosk record completed "
            f"{_esc(when(record.completed_at))}.",
            "small",
        )
    )

    # --- Decision and status ---------------------------------------------------------------
    # The texts as this patient was shown them: a substitute's wording, the clinic's settings.
    shown = content.as_shown(
        "substitute" if record.substitute else "patient",
        province=record.content.province,
        options=frozenset(record.content.options),
    )
    try:
        decision_text = shown.decision_text(DecisionChoice(record.decision.value))
    except KeyError:
        decision_text = record.decision.value
    missed = record.missed_questions
    to_discuss: list[str] = []
    if record.substitute:
        to_discuss.append("filled in by a substitute decision-maker (check their authority)")
    if record.flags:
        n = len(record.flags)
        to_discuss.append(f"{n} screening answer{'s' if n != 1 else ''} flagged")
    if missed:
        n = len(missed)
        to_discuss.append(
            f"{n} understanding-check question{'s' if n != 1 else ''} missed at the first try"
        )
    decision_rows: list[list[Any]] = [
        ["Decision", para(f"<b>{_esc(decision_text)}</b>", "base")],
        [
            "Status",
            para(
                f"<b>{_esc(STATUS_LABEL[status].capitalize())}</b><br/>"
                f"<font size=8 color='{_MUTED}'>{_esc(LIFECYCLE_DETAIL[status])}</font>",
                "base",
            ),
        ],
        [
            "To discuss",
            para(f"<b>{_esc('; '.join(to_discuss))}.</b>", "flag")
            if to_discuss
            else para("No screening flags; every question right at the first try.", "base"),
        ],
        [para(_esc(_closing_line(standing, lifecycle, when)), "cell_bold"), ""],
    ]
    story.append(Spacer(1, 6))
    story.append(
        _table(
            decision_rows,
            [88, frame_width - 88],
            grid=False,
            labels=True,
            extra=[
                ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor(_SHADE)),
                ("BOX", (0, 0), (-1, -1), 0.8, colors.HexColor(_ACCENT)),
                ("SPAN", (0, 3), (1, 3)),
                ("LINEABOVE", (0, 3), (-1, 3), 0.4, colors.HexColor(_RULE)),
                ("TOPPADDING", (0, 0), (-1, -1), 4),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
                ("LEFTPADDING", (0, 0), (-1, -1), 7),
            ],
        )
    )

    # --- Patient details -------------------------------------------------------------------
    story.append(heading("Patient and people involved"))
    substitute = record.substitute
    substitute_text = (
        f"<b>{_esc(substitute.full_name)}</b> ({_esc(substitute.relationship)})"
        if substitute
        else "None: the patient decided and signed"
    )
    details: list[list[Any]] = [
        [
            "Patient",
            name_para(
                f"<b>{_esc(patient.full_name)}</b>",
                patient.full_name,
                "cell",
                frame_width - 122 - 82 - 118 - 8,
            ),
            "Date of birth",
            para(f"{_esc(_day(patient.date_of_birth))} (age {patient.age_years})", "cell"),
        ],
        [
            "Chart number",
            para(_esc(patient.chart_number) if patient.chart_number else "Not given", "cell"),
            "Physiotherapist",
            para(_esc(record.physiotherapist.name), "cell"),
        ],
        ["Substitute decision-maker", para(substitute_text, "cell"), "", ""],
        [
            "At the kiosk",
            para(
                f"{_esc(when(record.started_at))} to {_esc(when(record.completed_at))}; "
                f"kiosk {_esc(record.kiosk_id)}, app {_esc(record.app_version)}"
                + _clock_note(record),
                "cell",
            ),
            "",
            "",
        ],
        [
            "Content shown",
            para(
                f"Version {_esc(record.content.version)}, language "
                f"{_esc(record.content.language)}<br/><font size=7.2>SHA-256 "
                f"{_esc(record.content.sha256)}</font>",
                "cell",
            ),
            "",
            "",
        ],
    ]
    story.append(
        _table(
            details,
            [122, frame_width - 122 - 82 - 118, 82, 118],
            labels=True,
            extra=[
                ("FONTSIZE", (2, 0), (2, 1), 8.2),
                ("TEXTCOLOR", (2, 0), (2, 1), colors.HexColor(_MUTED)),
                ("SPAN", (1, 2), (3, 2)),
                ("SPAN", (1, 3), (3, 3)),
                ("SPAN", (1, 4), (3, 4)),
            ],
        )
    )
    if (content.version, content.language) != (record.content.version, record.content.language):
        story.append(
            para(
                f"<b>Note:</b> the texts below come from content version {_esc(content.version)} "
                f"({_esc(content.language)}), not the version the patient saw "
                f"({_esc(record.content.version)}, {_esc(record.content.language)}).",
                "flag",
            )
        )

    # --- Screening -------------------------------------------------------------------------
    story.append(heading("Health screening"))
    answer_width = 70.0
    question_room = frame_width - answer_width - 8  # less the cell padding
    rows: list[list[Any]] = [["Question", "Answer"]]
    extra: list[tuple[Any, ...]] = []
    reasons = {flag.question_id: flag.reason for flag in record.flags}
    for index, answer in enumerate(record.screening, 1):
        try:
            question = content.screening_question(answer.question_id)
            prompt = question.prompt
            if question.answered_from:
                prompt += " (answered by the kiosk)"
            else:
                prompt = shown.screening_question(answer.question_id).prompt
            fallback_reason = question.flag_reason
        except KeyError:
            prompt = f"(question {answer.question_id} is not in this content version)"
            fallback_reason = "Flagged at the kiosk."
        wording = ANSWER_WORDING[answer.answer]
        if answer.flagged:
            reason = reasons.get(answer.question_id, fallback_reason)
            rows.append(
                [
                    [
                        para(f"<b>{_esc(prompt)}</b>", "cell"),
                        para(f"<b>Flag:</b> {_esc(reason)}", "flag"),
                    ],
                    wording,
                ]
            )
            extra.append(("FONTNAME", (1, index), (1, index), _FONT_BOLD))
            extra.append(("BACKGROUND", (0, index), (-1, index), flag_fill))
            extra.append(("LINEBEFORE", (0, index), (0, index), 2.5, flag_ink))
        else:
            rows.append([_wrapped(prompt, question_room, font=_FONT, size=8.6), wording])
    if not record.screening:
        rows.append([para("No screening answers recorded.", "cell"), ""])
    extra += [("TOPPADDING", (0, 1), (-1, -1), 1), ("BOTTOMPADDING", (0, 1), (-1, -1), 2)]
    story.append(_table(rows, [frame_width - answer_width, answer_width], header=True, extra=extra))

    # --- Understanding check ---------------------------------------------------------------
    story.append(heading("Understanding check"))
    quiz_widths = [frame_width - 172 - 58 - 38, 172, 58, 38]
    rows = [
        [
            "Topic and question",
            "First answer",
            "First try",
            "Tries",
        ]
    ]
    extra = []
    for index, quiz_answer in enumerate(record.quiz, 1):
        try:
            quiz_question = content.question(quiz_answer.question_id)
            topic, prompt = quiz_question.topic, quiz_question.prompt
            try:
                first = quiz_question.option(quiz_answer.first_attempt).text
            except KeyError:
                first = quiz_answer.first_attempt
            try:
                right_text: str | None = quiz_question.option(quiz_question.correct).text
            except KeyError:
                right_text = None
        except KeyError:
            topic = quiz_answer.question_id
            prompt = "(not in this content version)"
            first, right_text = quiz_answer.first_attempt, None
        tries = str(len(quiz_answer.attempts))
        question_cell = para(f"<b>{_esc(topic)}:</b> {_esc(prompt)}", "cell")
        first_cell: Any = _wrapped(first, quiz_widths[1] - 8, font=_FONT, size=8.6)
        if quiz_answer.first_correct:
            rows.append([question_cell, first_cell, "Right", tries])
        else:
            if right_text:
                first_cell = [
                    para(_esc(first), "cell"),
                    para(f"Right answer: {_esc(right_text)}", "flag"),
                ]
            rows.append([question_cell, first_cell, "Missed", tries])
            extra.append(("FONTNAME", (2, index), (3, index), _FONT_BOLD))
            extra.append(("TEXTCOLOR", (2, index), (2, index), flag_ink))
            extra.append(("BACKGROUND", (0, index), (-1, index), flag_fill))
            extra.append(("LINEBEFORE", (0, index), (0, index), 2.5, flag_ink))
    story.append(_table(rows, quiz_widths, header=True, extra=extra))
    if missed:
        story.append(
            para("Go over the highlighted questions with the patient before treatment.", "small")
        )

    # --- What the patient was shown --------------------------------------------------------
    story.append(heading("What the patient was shown"))
    key_points_shown = _version_key(content.version) >= _version_key(KEY_POINTS_ON_SCREEN_FROM)
    options = ", ".join(record.content.options) or "none"
    story.append(
        para(
            f"Content version {_esc(record.content.version)} ({_esc(record.content.language)}); "
            f"clinic settings that added content: {_esc(options)}. For each section: "
            + (
                "the key points from the box at its end, "
                if key_points_shown
                else "a summary of its key points (a summary for staff: this content version "
                "did not show it on screen), "
            )
            + "the time it was on screen and whether the patient reached its end.",
            "small",
        )
    )
    engagement = {item.section_id: item for item in record.engagement}
    for section in shown.sections:
        seen = engagement.get(section.id)
        if seen is None:
            seen_text = "not shown"
        else:
            seen_text = f"{_duration(seen.seconds_on_screen)} on screen, " + (
                "end reached" if seen.reached_end else "<b>end not reached</b>"
            )
            if seen.visits > 1:
                seen_text += f", {seen.visits} visits"
        block: list[Any] = [
            para(
                f"{_esc(section.title)}&nbsp;&nbsp;&nbsp;<font name={_FONT} size=7.8 "
                f"color='{_MUTED}'>{seen_text}</font>",
                "h3",
            )
        ]
        block.append(_bullets([point.text for point in section.key_points], frame_width))
        story += block
        for tier in section.risk_tiers:
            story += _complications(tier, frame_width)

    # --- Statements ------------------------------------------------------------------------
    story.append(heading("Statements the patient confirmed"))
    confirmed = set(record.statements_confirmed)
    confirmed_texts = []
    for statement_id in record.statements_confirmed:
        try:
            confirmed_texts.append(shown.statement(statement_id).text)
        except KeyError:
            confirmed_texts.append(f"(statement {statement_id} is not in this content version)")
    if confirmed_texts:
        story.append(_bullets(confirmed_texts, frame_width))
    else:
        story.append(para("No statements were confirmed.", "base"))
    unconfirmed = [s for s in shown.statements if s.id not in confirmed]
    if unconfirmed:
        story.append(para("<b>Not confirmed:</b>", "flag"))
        story.append(_bullets([s.text for s in unconfirmed], frame_width, bullet="–"))

    # --- Signature -------------------------------------------------------------------------
    signature = record.signature
    box_w, box_h = 260.0, 84.0
    if signature.signer == "substitute" and substitute:
        signer = (
            f"<b>{_esc(substitute.full_name)}</b>, substitute decision-maker "
            f"({_esc(substitute.relationship)}) for {_esc(patient.full_name)}"
        )
    else:
        signer = f"<b>{_esc(patient.full_name)}</b>, the patient"
    signer_names = f"{substitute.full_name if substitute else ''} {patient.full_name}"
    method = (
        "Drawn on the signature pad, with the typed name"
        if signature.method is SignatureMethod.DRAWN
        else "Signed by typing full name (keyboard signature)"
    )
    info_width = frame_width - box_w - 12
    sig_info = _table(
        [
            ["Signed by", name_para(signer, signer_names, "cell", info_width - 58 - 4)],
            [
                "Typed name",
                name_para(
                    _esc(signature.typed_name), signature.typed_name, "sig_typed", info_width - 62
                ),
            ],
            ["Signed at", when(signature.signed_at)],
            ["Method", _wrapped(method, info_width - 58, font=_FONT, size=8.6)],
        ],
        [58, info_width - 58],
        grid=False,
        labels=True,
        extra=[
            ("LEFTPADDING", (0, 0), (-1, -1), 0),
            ("TOPPADDING", (0, 0), (-1, -1), 1),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ],
    )
    story.append(
        KeepTogether(
            [
                heading("Signature"),
                _table(
                    [[_signature_drawing(record, box_w, box_h), sig_info]],
                    [box_w + 12, frame_width - box_w - 12],
                    grid=False,
                    extra=[("LEFTPADDING", (0, 0), (0, 0), 0)],
                ),
            ]
        )
    )

    # --- The physiotherapist's part ---------------------------------------------------------
    story += _physio_section(lifecycle, standing, content, shown, frame_width, when)

    # --- Later events ----------------------------------------------------------------------
    story.append(heading("Later events"))
    if stored.events:
        rows = [
            [
                "When",
                "What",
                "By",
                "Note",
            ]
        ]
        for stored_event in stored.events:
            event = stored_event.event
            text = _event_note(event)
            note = _esc(text) if text else ""
            rows.append(
                [
                    para(_esc(when(event.at)), "cell"),
                    para(_esc(EVENT_WORDING.get(event.kind.value, event.kind.value)), "cell"),
                    para(_esc(actor_label(event)), "cell"),
                    para(note, "cell"),
                ]
            )
        story.append(_table(rows, [168, 122, 104, frame_width - 394], header=True))
    else:
        story.append(para("None at the time of this export.", "base"))

    # --- Integrity -------------------------------------------------------------------------
    qr_value = qr_payload(stored)
    length = stored.chain_length
    check_text, check_failed = _verification_text(verification)
    integrity = [
        # Plain strings: drawn as they are, never parsed as markup. "SEQ:HASH" is what
        # `ims-kiosk verify --expect` takes, so a printed copy anchors the chain.
        ["Record (entry:hash)", f"{stored.entry.seq}:{stored.entry.sha256}"],
        ["Previous hash", stored.entry.prev_sha256],
        [
            "Chain head at export",
            f"{length}:{stored.chain_head}" if length is not None else stored.chain_head,
        ],
        ["Store check", para(_esc(check_text), "flag" if check_failed else "cell")],
        ["Generated", when(generated_at)],
        [
            para(
                "`ims-kiosk verify --expect ENTRY:HASH` with the chain head above proves the "
                "store still holds this record and everything before the export, unchanged. "
                "The QR code holds only the reference, record id and record hash.",
                "small",
            ),
            "",
        ],
    ]
    qr_size = 76.0
    story.append(
        KeepTogether(
            [
                heading("Integrity"),
                _table(
                    [
                        [
                            _table(
                                integrity,
                                [100, frame_width - qr_size - 112],
                                grid=False,
                                labels=True,
                                extra=[
                                    ("FONTSIZE", (1, 0), (1, -1), 7.4),
                                    ("SPAN", (0, 5), (1, 5)),
                                    *(
                                        [("BACKGROUND", (0, 3), (1, 3), flag_fill)]
                                        if check_failed
                                        else []
                                    ),
                                    ("LEFTPADDING", (0, 0), (-1, -1), 0),
                                    ("TOPPADDING", (0, 0), (-1, -1), 1),
                                    ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                                ],
                            ),
                            _qr_flowable(qr_value, qr_size),
                        ]
                    ],
                    [frame_width - qr_size - 8, qr_size + 8],
                    grid=False,
                    extra=[
                        ("LEFTPADDING", (0, 0), (-1, -1), 0),
                        ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                    ],
                ),
            ]
        )
    )

    # --- Seal: last, kept on one page with the integrity figures ----------------------------
    story.append(KeepTogether([story.pop(), seal_block(seal, at=generated_at)]))

    # --- Build -----------------------------------------------------------------------------
    footer = _Footer(
        patient=patient.full_name,
        date_of_birth=_day(patient.date_of_birth),
        reference=record.reference,
        content_version=record.content.version,
        demo=demo,
    )
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=letter,
        leftMargin=_PAGE_MARGIN_X,
        rightMargin=_PAGE_MARGIN_X,
        topMargin=_PAGE_MARGIN_TOP,
        bottomMargin=_PAGE_MARGIN_BOTTOM,
        title=f"{'DEMO: ' if demo else ''}{lifecycle_title(status)} {record.reference}",
        author=clinic.name,
        subject="IMS (dry needling) patient education and decision record",
        creator="IMS Consent Kiosk",
        keywords=["IMS", "consent", record.reference],
        invariant=1,
        lang=record.content.language,
    )
    canvas_class = _numbered_canvas_class()
    doc.build(story, canvasmaker=partial(canvas_class, footer=footer, generated_at=generated_at))
    return buffer.getvalue()
