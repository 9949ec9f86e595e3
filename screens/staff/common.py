"""Small pieces the staff screens share: error sentences, dates, status words, safe text.

Everything a patient or a staff member typed is shown as plain text (``Text`` objects or
``markup=False``), never as markup: a name like ``[red]x`` is a name, not a colour.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from rich.text import Text

from consent_records.base import StoreCorrupt, StoreError, StoreUnavailable
from consent_records.lifecycle import STATUS_LABEL, ConsentStatus, TransitionRefused
from kiosk.auth.accounts import AccountProblem
from kiosk.auth.permissions import PermissionDenied
from kiosk.auth.policy import PasswordRejected
from kiosk.i18n import _
from kiosk.staff.errors import STAFF_ERRORS

log = logging.getLogger("screens.staff")

_SENTENCES: tuple[type[BaseException], ...] = (
    *STAFF_ERRORS,
    PermissionDenied,
    TransitionRefused,
    AccountProblem,
    PasswordRejected,
)


def describe_error(exc: BaseException) -> str:
    """The sentence a staff member sees for an exception from the services.

    The services' own refusals are already sentences. A store that cannot be written now (a
    full disk) says so and that nothing was half-written; anything unexpected is logged
    with its details and summarised without a traceback.
    """
    sentence = getattr(exc, "sentence", None)
    if isinstance(sentence, str) and sentence:
        return sentence
    if isinstance(exc, _SENTENCES):
        return str(exc)
    if isinstance(exc, StoreUnavailable):
        return _(
            "The record store cannot be written right now ({problem}). Nothing was saved and "
            "nothing is lost; fix the problem (a full disk, for example) and try again."
        ).format(problem=str(exc).rstrip("."))
    if isinstance(exc, StoreCorrupt | StoreError):
        return str(exc)
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return _("That did not work: {problem}{where}. Nothing was lost; try again.").format(
            problem=exc.strerror or exc, where=where
        )
    if isinstance(exc, ValueError):
        return str(exc)
    log.error("unexpected error in the staff app", exc_info=exc)
    return _(
        "Something went wrong that the staff app did not expect. Nothing you saved is lost; "
        "the details are in the kiosk log. Try again, or ask a clinic admin."
    )


def status_text(status: ConsentStatus) -> str:
    return _(STATUS_LABEL[status])


def when(moment: datetime | None) -> str:
    """A time as staff read it: ``2026-11-20 10:30``."""
    return "" if moment is None else f"{moment:%Y-%m-%d %H:%M}"


def day(value: date | None) -> str:
    return "" if value is None else value.isoformat()


def plain(text: object, style: str = "") -> Text:
    """Patient or staff text as a ``Text`` that is never read as markup."""
    return Text(str(text), style=style, no_wrap=False)


def parse_day(text: str) -> date | None:
    """``YYYY-MM-DD`` as a date; empty gives None. Raises ValueError with a sentence."""
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(
            _("Write dates as year-month-day, for example 2026-03-31 (not {text!r}).").format(
                text=text[:20]
            )
        ) from None
