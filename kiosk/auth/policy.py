"""Staff password rules, after NIST SP 800-63B revision 4 (passwords as a single factor).

* at least 15 characters, at most 256 (NIST: allow at least 64), counted in Unicode code
  points after normalising to NFKC, so the same password typed on any keyboard or terminal
  is the same password;
* no composition rules (no "one digit, one capital"), no hints, no forced periodic change;
* refused when it is on the blocklist of common and breached passwords shipped in
  ``kiosk/auth/data`` (see its README for the source and licence), compared case-folded;
  or a listed password with digits, symbols or spaces added around it; or a short pattern
  repeated, or a run of consecutive digits; or made mostly of the user's own name, user name
  or the clinic's name (NIST's "context-specific words").

Every refusal is one kind sentence saying what to do instead. The whole password is hashed
(never truncated); :func:`normalise_password` is what is hashed and verified.
"""

from __future__ import annotations

import gzip
import itertools
import re
import unicodedata
from collections.abc import Iterable
from functools import cache
from importlib import resources

MIN_LENGTH = 15
MAX_LENGTH = 256
_MIN_OWN = 8
"""Letters or digits that must remain once the user's own context words, spaces and
symbols are taken out."""

_EDGES = re.compile(r"^[\W\d_]+|[\W\d_]+$")
_NOT_OWN = re.compile(r"[\W_]+")
_WORDS = re.compile(r"\w+")
_PRODUCT_WORDS = ("ims", "kiosk", "consent", "physio", "physiotherapy", "clinic", "password")


class PasswordRejected(ValueError):
    """A password the policy refuses; ``str(error)`` is the sentence to show."""


def normalise_password(password: str) -> str:
    """The form a password is checked, hashed and verified in: Unicode NFKC."""
    return unicodedata.normalize("NFKC", password)


@cache
def blocklist() -> frozenset[str]:
    """The shipped common and breached passwords (NFKC, case-folded). Loaded once."""
    blob = resources.files("kiosk.auth").joinpath("data/common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(blob).decode("utf-8").splitlines())


def _smallest_period(text: str) -> int:
    for size in range(1, len(text) // 2 + 1):
        if len(text) % size == 0 and text[:size] * (len(text) // size) == text:
            return size
    return len(text)


def _digit_run(text: str) -> bool:
    """Consecutive digits up or down (wrapping 9 to 0), such as ``123456789012345``."""
    if len(text) < 2 or not text.isascii() or not text.isdigit():
        return False
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(text)}
    return steps in ({1}, {9})


def _weakness(form: str, listed: frozenset[str]) -> str | None:
    """Why ``form`` (case-folded) is guessable, or None."""
    if form in listed or _EDGES.sub("", form) in listed:
        return (
            "This password is on a list of common or leaked passwords (perhaps with digits "
            "or symbols added), so it would be guessed quickly. Choose another."
        )
    period = _smallest_period(form)
    unit = form[:period]
    if period < len(form) and (period <= 4 or unit in listed or _EDGES.sub("", unit) in listed):
        return "This password repeats a short pattern. Choose another."
    if _digit_run(form):
        return "This password is a run of consecutive digits. Choose another."
    return None


def _context_words(names: Iterable[str]) -> list[str]:
    words = {w.casefold() for name in names for w in _WORDS.findall(normalise_password(name))}
    words.update(_PRODUCT_WORDS)
    # Longest first, so "physiotherapy" goes before "physio".
    return sorted((w for w in words if len(w) >= 3), key=len, reverse=True)


def check_password(password: str, *, context: Iterable[str] = ()) -> str:
    """The normalised password if the policy accepts it.

    Args:
        context: the user name, display name and clinic name (anything guessable about
            this person and place).

    Raises:
        PasswordRejected: with a sentence saying why and what to do.
    """
    text = normalise_password(password)
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in text):
        raise PasswordRejected(
            "This password has a control or invisible character that cannot be typed "
            "reliably. Use letters, numbers, spaces and punctuation."
        )
    if len(text) < MIN_LENGTH:
        raise PasswordRejected(
            f"Use at least {MIN_LENGTH} characters (this one has {len(text)}). A few "
            "unrelated words in a row make a strong password that is easy to remember."
        )
    if len(text) > MAX_LENGTH:
        raise PasswordRejected(f"Use at most {MAX_LENGTH} characters.")
    key = text.casefold()
    listed = blocklist()
    for form in (key, "".join(key.split())):
        problem = _weakness(form, listed)
        if problem:
            raise PasswordRejected(problem)
    own = key
    for word in _context_words(context):
        own = own.replace(word, " ")
    own = _NOT_OWN.sub("", own)
    if len(own) < _MIN_OWN or _weakness(own, listed):
        raise PasswordRejected(
            "This password is mostly your name, your user name or the clinic's name. "
            "Choose something others would not guess."
        )
    return text
