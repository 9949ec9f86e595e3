"""Cleaning of patient-entered text before it is stored or shown anywhere.

Patients type into a shared terminal; what they type later reaches staff screens, PDFs and
exports. So every free-text field is normalised to Unicode NFC, stripped of control
characters (terminal escapes such as ESC and the C1 range) and of bidirectional override
characters (the "Trojan Source" trick of text that reads differently from how it sorts),
has its runs of white space folded, and is capped in length.
"""

from __future__ import annotations

import unicodedata

NAME_MAX = 120
SHORT_MAX = 40
NOTE_MAX = 2000

_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff")


def _keep(char: str) -> bool:
    if char in _BIDI_CONTROLS or char in _INVISIBLE:
        return False
    category = unicodedata.category(char)
    # Cc: C0/C1 controls (ESC, NUL, 0x80-0x9f). Cs: lone surrogates. Co/Cn: private/unassigned.
    return category not in {"Cc", "Cs", "Co", "Cn"}


def clean_text(value: str, max_length: int = NAME_MAX) -> str:
    """Return ``value`` normalised, without control or bidi characters, folded and capped.

    Tabs and newlines become single spaces (these fields are single-line).
    """
    text = unicodedata.normalize("NFC", value)
    text = "".join(" " if char in "\t\n\r\v\f\x85\u2028\u2029" else char for char in text)
    text = "".join(char for char in text if _keep(char))
    text = " ".join(text.split())
    return text[:max_length].rstrip()


def names_match(typed: str, expected: str) -> bool:
    """Whether two names are the same ignoring case and extra spaces."""
    return clean_text(typed).casefold() == clean_text(expected).casefold()
