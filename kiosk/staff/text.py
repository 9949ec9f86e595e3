"""A record as plain text for a terminal (``ims-kiosk records show``).

Everything printed passes :func:`terminal_safe`: no control characters, escapes or bidi
overrides reach the terminal, whatever a stored string holds.
"""

from __future__ import annotations

import unicodedata

from consent_records.sanitize import clean_text
from kiosk.staff.review import RecordView


def terminal_safe(value: object) -> str:
    """``value`` as one line a terminal prints as it reads (controls and bidi removed)."""
    text = clean_text(str(value), 10_000)
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def record_text(view: RecordView) -> str:
    record = view.record
    patient = record.patient
    out: list[str] = []

    def line(text: object = "") -> None:
        raw = str(text)
        indent = raw[: len(raw) - len(raw.lstrip(" "))]
        out.append(indent + terminal_safe(raw) if raw else "")

    line(f"Record {record.reference} (id {record.id})")
    line(f"Status: {view.status_label}")
    if view.standing.expires_at is not None:
        line(f"Consent valid until {view.standing.expires_at:%Y-%m-%d}")
    for change in view.material_changes:
        line(f"Re-consent needed: content {change.version}: {change.what_changed}")
    line(
        f"Patient: {patient.full_name}, born {patient.date_of_birth:%Y-%m-%d} "
        f"(age {patient.age_years}), chart {patient.chart_number or 'not given'}"
    )
    if record.substitute is not None:
        line(
            f"Substitute decision-maker: {record.substitute.full_name} "
            f"({record.substitute.relationship})"
        )
    line(f"Physiotherapist: {record.physiotherapist.name} ({record.physiotherapist.id})")
    line(
        f"Signed at the kiosk: {record.completed_at:%Y-%m-%d %H:%M} "
        f"({record.signature.method.value} signature), content {record.content.version}"
    )
    line()
    line("Discuss these first:")
    if not view.discuss_first:
        line("  Nothing flagged.")
    for point in view.discuss_first:
        mark = "[x]" if point.addressed else "[ ]"
        line(f"  {mark} {point.title}")
        for detail in point.lines:
            line(f"        {detail}")
        for note in point.notes:
            line(f"        Note: {note}")
    line(f"  ({view.reading_rate})")
    line()
    line("Timeline:")
    for entry in view.timeline:
        line(f"  {entry.at:%Y-%m-%d %H:%M}  {entry.title}  ({entry.who})")
        for detail in entry.lines:
            line(f"        {detail}")
        if entry.refused:
            line(f"        Not applied: {entry.refused}")
    return "\n".join(out)
