"""Translation seam: every user-facing string goes through :func:`_`.

Catalogues live in ``kiosk/locale/<lang>/LC_MESSAGES/ims_kiosk.mo`` (gettext). None ship
yet; French (Canada) is planned, and until its catalogue exists English is shown. The
education content itself is translated per language under ``content/<lang>/``.
"""

from __future__ import annotations

import gettext
from pathlib import Path

DOMAIN = "ims_kiosk"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"

_translation: gettext.NullTranslations = gettext.NullTranslations()


def set_language(language: str) -> None:
    """Switch the UI strings to ``language`` (falls back to English)."""
    global _translation
    _translation = gettext.translation(
        DOMAIN,
        localedir=LOCALE_DIR,
        languages=[language.replace("-", "_"), language],
        fallback=True,
    )


def _(message: str) -> str:
    """Translate ``message`` into the current language."""
    return _translation.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translation.ngettext(singular, plural, n)
