"""The take-home aftercare sheet: warning signs and care at home, on one page.

The front desk prints it for the patient by reference code (``ims-kiosk aftercare
REFERENCE --out FILE``). It holds the patient's name, the date of the visit, the reference
and the clinic's name and phone, then the advice from the content: the warning signs, most
urgent first, and how to look after the treated area. It holds no health answers, flags,
quiz results or signature: it may be read by anyone the patient shows it to.

reportlab is imported lazily, as in :mod:`consent_records.pdf`, whose fonts and styles it
shares; everything that reaches a ``Paragraph`` is escaped.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from consent_records.model import ConsentRecord
from consent_records.pdf import (
    _ACCENT,
    _FLAG_FILL,
    _FLAG_INK,
    _PAGE_MARGIN_X,
    _SHADE,
    ClinicHeader,
    _day,
    _esc,
    _register_fonts,
    _styles,
)
from consent_records.seal_block import SealStamp, seal_block
from content.schema import ContentBundle, Urgency

__all__ = ["AftercareUnavailable", "render_aftercare_pdf"]


class AftercareUnavailable(ValueError):
    """The content the record was signed with has no take-home advice (before 2026.2)."""


def _large_styles() -> dict[str, Any]:
    """The summary's styles at a size an older reader can take home and read (12 pt)."""
    from reportlab.lib.styles import ParagraphStyle

    base = _styles()
    sizes = {"base": 12, "bullet": 12, "h3": 13, "h2": 14, "clinic": 15, "title": 19}
    return {
        name: ParagraphStyle(
            f"aftercare-{name}",
            parent=base[name],
            fontSize=size,
            leading=round(size * 1.3, 1),
            spaceBefore=base[name].spaceBefore + (2 if name == "bullet" else 0),
        )
        for name, size in sizes.items()
    }


def render_aftercare_pdf(
    record: ConsentRecord,
    content: ContentBundle,
    clinic: ClinicHeader,
    *,
    seal: SealStamp | None = None,
    generated_at: datetime | None = None,
) -> bytes:
    """One Letter page of aftercare advice for ``record``'s patient (same inputs, same bytes).

    ``content`` is the content the record was signed with, so the sheet repeats what the
    patient was shown. Raises AftercareUnavailable when that content has no aftercare.
    ``seal`` is what the seal block at the foot says about the seal the caller applies next
    (None: NOT SEALED, written at ``generated_at``).
    """
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import letter
    from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table

    care = content.aftercare
    if care is None:
        raise AftercareUnavailable(
            f"Content version {content.version}, which record {record.reference} was signed "
            "with, has no take-home advice."
        )
    _register_fonts()
    st = _large_styles()
    width = letter[0] - 2 * _PAGE_MARGIN_X - 12

    def para(text: str, style: str = "base") -> Any:
        return Paragraph(text, st[style])

    def box(heading: str, lines: list[str], fill: str, ink: str, extra: str = "") -> Any:
        cells: list[Any] = [para(f"<b>{_esc(heading)}</b>", "h3")]
        cells += [para(_esc(line), "bullet") for line in lines]
        if extra:
            cells.append(para(extra, "base"))
        table = Table([[cells]], colWidths=[width])
        table.setStyle(
            [
                ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor(fill)),
                ("BOX", (0, 0), (-1, -1), 1.2, colors.HexColor(ink)),
                ("LEFTPADDING", (0, 0), (-1, -1), 9),
                ("RIGHTPADDING", (0, 0), (-1, -1), 9),
                ("TOPPADDING", (0, 0), (-1, -1), 5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 8),
            ]
        )
        return KeepTogether([table, Spacer(1, 10)])

    story: list[Any] = [para(_esc(clinic.name), "clinic")]
    contact = [*clinic.address_lines]
    if clinic.phone:
        contact.append(f"Tel. {clinic.phone}")
    if contact:
        story.append(para(_esc("  ·  ".join(contact)), "base"))
    story.append(para(_esc(care.title), "title"))
    story.append(
        para(
            f"For <b>{_esc(record.patient.full_name)}</b>  ·  visit of "
            f"{_esc(_day(record.completed_at.date()))}  ·  reference "
            f"<b>{_esc(record.reference)}</b>",
            "base",
        )
    )
    story += [Spacer(1, 6), para(_esc(care.intro), "base"), Spacer(1, 10)]
    groups = content.warning_signs_by_urgency()
    bullet = "•\u00a0"
    story.append(
        box(
            care.emergency_heading,
            [bullet + sign.text for sign in groups[Urgency.EMERGENCY]],
            _FLAG_FILL,
            _FLAG_INK,
        )
    )
    phone = (
        f"Clinic: <b>{_esc(clinic.name)}</b>"
        + (f", <b>{_esc(clinic.phone)}</b>" if clinic.phone else "")
        + f". Give your reference, {_esc(record.reference)}."
    )
    story.append(
        box(
            care.clinic_heading,
            [bullet + sign.text for sign in groups[Urgency.CLINIC]],
            _SHADE,
            _ACCENT,
            extra=phone,
        )
    )
    story.append(para(_esc(care.advice_heading), "h2"))
    story += [para(_esc(bullet + item.text), "bullet") for item in care.advice]
    story.append(seal_block(seal, at=generated_at))

    buffer = io.BytesIO()
    SimpleDocTemplate(
        buffer,
        pagesize=letter,
        leftMargin=_PAGE_MARGIN_X,
        rightMargin=_PAGE_MARGIN_X,
        topMargin=40,
        bottomMargin=40,
        title=f"{care.title} ({record.reference})",
        author=clinic.name,
        subject="IMS aftercare advice",
        creator="IMS Consent Kiosk",
        invariant=1,
        lang=content.language,
    ).build(story)
    return buffer.getvalue()
