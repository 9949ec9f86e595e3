"""Typed queries for the staff records browser, and the one definition of what they mean.

A search is data, never a Python callable: :class:`RecordQuery` is passed to a store, and
every backend answers it the same way (the embedded store from an index of
:class:`SearchRow`, PostgreSQL in SQL). :func:`evaluate` is the executable specification:
it answers a query over rows in memory, so a backend's contract tests compare its pages
with it on the same records, and the meaning of each field lives in one place.

Text search (:func:`parse_search_text`) matches a record when any of these holds:

* every word typed is the start of some word of the patient's name, compared after
  :func:`fold_name` (case, accents and most diacritics ignored: "bjorn" finds
  "Björn Gagnon", "cote" finds "Bélanger-Côté"); in scripts written without spaces
  (Chinese, Japanese, Korean, Thai) a typed word may also match inside a name word;
* the text is the start of the reference code (with or without the hyphen, any case);
* the text is the start of the chart number (case-insensitive, spaces ignored);
* the text is a date of birth written ``YYYY-MM-DD`` (or with ``/`` or ``.``).

Filters combine with AND; a set filter (statuses, physiotherapists) matches any member;
``None`` means "don't filter". Statuses are judged at ``as_of`` with the clinic's
:class:`~consent_records.lifecycle.ConsentRules` (expiry, re-consent), so a SQL backend
computes them from the row's base status, countersignature time and content version.
A page's ``counts`` are per status over every record matching all filters *except* the
status filter, so the browser's tabs ("7 awaiting discussion") stay put while switching.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints, field_validator, model_validator

from consent_records.lifecycle import ConsentRules, ConsentStatus, Lifecycle, Standing, judge
from consent_records.model import REFERENCE_ALPHABET, ConsentRecord, Identifier, Model
from consent_records.sanitize import clean_text

SEARCH_TEXT_MAX = 120
PAGE_MAX = 500

# Combining marks that are accents on letters: Latin, Greek and Cyrillic diacritics,
# Hebrew points and Arabic vowel marks. Others (Indic vowel signs, the Japanese voiced
# marks) are part of the letter and are kept.
_ACCENTS = re.compile(
    "[\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670"
    "\u06d6-\u06ed\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]"
)
# Letters that do not decompose but are read as a plain letter by people searching.
_LETTERS = str.maketrans(
    {
        "ø": "o",
        "đ": "d",
        "ð": "d",
        "ł": "l",
        "ħ": "h",
        "ı": "i",
        "ŧ": "t",
        "æ": "ae",
        "œ": "oe",
        "þ": "th",
        "ſ": "s",
    }
)
_JOINERS = re.compile(r"['’ʼ`´]")
_UNSPACED = re.compile(
    "[\u0e00-\u0e7f\u1100-\u11ff\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff]"
)


def fold_name(text: str) -> str:
    """A name as search compares it: accents and case ignored, words separated by spaces.

    ``fold_name("Renée Bélanger-Côté") == "renee belanger cote"``; apostrophes join
    (``O'Brien`` becomes ``obrien``), every other non-letter separates words. Both the
    stored name and the typed text are folded the same way.
    """
    text = unicodedata.normalize("NFKD", clean_text(text, len(text)))
    text = _ACCENTS.sub("", text)
    text = unicodedata.normalize("NFC", text).casefold().translate(_LETTERS)
    text = _JOINERS.sub("", text)
    # Letters, marks (Indic vowel signs) and digits make words; anything else separates.
    words = "".join(ch if unicodedata.category(ch)[0] in "LMN" else " " for ch in text)
    return " ".join(words.split())


def name_words(text: str) -> tuple[str, ...]:
    return tuple(fold_name(text).split())


def _word_matches(token: str, word: str) -> bool:
    return word.startswith(token) or (_UNSPACED.search(token) is not None and token in word)


def name_matches(tokens: Iterable[str], words: tuple[str, ...]) -> bool:
    """Every typed token is the start of (or, unspaced scripts, inside) some name word."""
    return all(any(_word_matches(t, w) for w in words) for t in tokens)


def fold_chart(text: str) -> str:
    return "".join(clean_text(text).casefold().split())


_REFERENCE_CHARS = frozenset(REFERENCE_ALPHABET)
_DATE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")


@dataclass(frozen=True, slots=True)
class TextSearch:
    """What the search box's text can mean; a record matches if any part matches."""

    name_tokens: tuple[str, ...]
    reference_prefix: str | None
    """Upper case, without the hyphen (compare with the reference's characters)."""
    chart_prefix: str | None
    date_of_birth: date | None


def parse_search_text(text: str) -> TextSearch:
    """Interpret the search box (already limited to :data:`SEARCH_TEXT_MAX`)."""
    cleaned = clean_text(text, SEARCH_TEXT_MAX)
    compact = "".join(ch for ch in cleaned.upper() if ch.isalnum())
    reference = (
        compact if compact and len(compact) <= 8 and set(compact) <= _REFERENCE_CHARS else None
    )
    birth = None
    if found := _DATE.match(cleaned):
        try:
            birth = date(int(found[1]), int(found[2]), int(found[3]))
        except ValueError:
            birth = None
    chart = fold_chart(cleaned) or None
    return TextSearch(name_words(cleaned), reference, chart, birth)


class SortKey(StrEnum):
    COMPLETED_AT = "completed_at"
    """When the patient signed at the kiosk (the default, newest first)."""
    PATIENT_NAME = "patient_name"
    """By :func:`fold_name` of the full name, then newest first."""
    STATUS = "status"
    """In :class:`ConsentStatus` order, then newest first."""


class RecordQuery(Model):
    """One page of the records browser: search text, filters, sort and paging."""

    text: Annotated[str, StringConstraints(max_length=SEARCH_TEXT_MAX)] = ""
    """What was typed in the search box: cleaned and cut to :data:`SEARCH_TEXT_MAX`."""
    statuses: frozenset[ConsentStatus] = frozenset()
    """Any of these statuses (judged at ``as_of``); empty: every status."""
    physiotherapist_ids: frozenset[Identifier] = frozenset()
    """Records naming any of these physiotherapists; empty: all."""
    completed_from: date | None = None
    """Signed at the kiosk on or after this day (in the record's own UTC offset)."""
    completed_to: date | None = None
    """Signed on or before this day."""
    has_flags: bool | None = None
    has_missed_questions: bool | None = None
    has_substitute: bool | None = None
    expiring_soon: bool | None = None
    """Active consent that expires within the rules' ``expiring_within_days``."""
    as_of: AwareDatetime
    """The moment statuses are judged at (the services pass their clock's now)."""
    sort: SortKey = SortKey.COMPLETED_AT
    descending: bool = True
    offset: Annotated[int, Field(ge=0)] = 0
    limit: Annotated[int, Field(ge=1, le=PAGE_MAX)] = 50

    @field_validator("text", mode="before")
    @classmethod
    def _clean(cls, value: object) -> object:
        # A long paste is cut rather than refused: the search box never shows an error.
        return clean_text(value, SEARCH_TEXT_MAX) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _dates_in_order(self) -> RecordQuery:
        if self.completed_from and self.completed_to and self.completed_from > self.completed_to:
            raise ValueError("the date range ends before it starts")
        return self

    @classmethod
    def awaiting_discussion_for(cls, physiotherapist_id: str, as_of: datetime) -> RecordQuery:
        """A physiotherapist's default view: their records that wait for a discussion."""
        return cls(
            physiotherapist_ids=frozenset({physiotherapist_id}),
            statuses=frozenset(
                {
                    ConsentStatus.AWAITING_DISCUSSION,
                    ConsentStatus.WANTS_DISCUSSION,
                    ConsentStatus.DISCUSSED,
                }
            ),
            as_of=as_of,
        )

    @property
    def search(self) -> TextSearch | None:
        return parse_search_text(self.text) if self.text else None


@dataclass(frozen=True, slots=True)
class SearchRow:
    """What an index keeps per record: enough to filter, sort and list without the record.

    It holds patient names: an index of these rows is protected like the records
    (owner-only, rebuilt from the entries, never trusted over them).
    """

    record_id: str
    reference: str
    patient_name: str
    name_words: tuple[str, ...]
    date_of_birth: date
    chart: str
    """:func:`fold_chart` of the chart number ("" when none)."""
    completed_at: datetime
    physiotherapist_id: str
    flag_count: int
    missed_count: int
    has_substitute: bool
    content_language: str
    content_version: str
    base_status: ConsentStatus
    consented_at: datetime | None

    @classmethod
    def of(cls, record: ConsentRecord, lifecycle: Lifecycle) -> SearchRow:
        return cls(
            record_id=record.id,
            reference=record.reference,
            patient_name=record.patient.full_name,
            name_words=name_words(record.patient.full_name),
            date_of_birth=record.patient.date_of_birth,
            chart=fold_chart(record.patient.chart_number or ""),
            completed_at=record.completed_at,
            physiotherapist_id=record.physiotherapist.id,
            flag_count=len(record.flags),
            missed_count=len(record.missed_questions),
            has_substitute=record.substitute is not None,
            content_language=record.content.language,
            content_version=record.content.version,
            base_status=lifecycle.status,
            consented_at=lifecycle.consented_at,
        )


@dataclass(frozen=True, slots=True)
class ListedRecord:
    """One line of the browser: the row and its standing at the query's ``as_of``."""

    row: SearchRow
    standing: Standing

    @property
    def status(self) -> ConsentStatus:
        return self.standing.status


@dataclass(frozen=True, slots=True)
class Page:
    items: tuple[ListedRecord, ...]
    total: int
    """Records matching the whole query (across all pages)."""
    counts: Mapping[ConsentStatus, int]
    """Per status, over records matching every filter but the status filter."""
    offset: int
    limit: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.items) < self.total


def _listed(row: SearchRow, query: RecordQuery, rules: ConsentRules) -> ListedRecord:
    standing = judge(row.base_status, row.consented_at, row.content_version, query.as_of, rules)
    return ListedRecord(row, standing)


def _text_matches(row: SearchRow, search: TextSearch) -> bool:
    if search.name_tokens and name_matches(search.name_tokens, row.name_words):
        return True
    if search.reference_prefix and row.reference.replace("-", "").startswith(
        search.reference_prefix
    ):
        return True
    if search.chart_prefix and row.chart.startswith(search.chart_prefix):
        return True
    return search.date_of_birth is not None and row.date_of_birth == search.date_of_birth


def _filters_match(item: ListedRecord, query: RecordQuery) -> bool:
    row = item.row
    day = row.completed_at.date()
    checks = (
        not query.physiotherapist_ids or row.physiotherapist_id in query.physiotherapist_ids,
        query.completed_from is None or day >= query.completed_from,
        query.completed_to is None or day <= query.completed_to,
        query.has_flags is None or (row.flag_count > 0) is query.has_flags,
        query.has_missed_questions is None or (row.missed_count > 0) is query.has_missed_questions,
        query.has_substitute is None or row.has_substitute is query.has_substitute,
    )
    if not all(checks):
        return False
    if query.expiring_soon is not None and item.standing.expiring_soon is not query.expiring_soon:
        return False
    search = query.search
    return search is None or _text_matches(row, search)


_STATUS_ORDER = {status: index for index, status in enumerate(ConsentStatus)}


def evaluate(rows: Iterable[SearchRow], query: RecordQuery, rules: ConsentRules) -> Page:
    """The page ``query`` asks for, over ``rows``: the specification every store follows."""
    candidates = [
        item for item in (_listed(row, query, rules) for row in rows) if _filters_match(item, query)
    ]
    counts = Counter(item.status for item in candidates)
    chosen = [item for item in candidates if not query.statuses or item.status in query.statuses]
    # Stable sorts: the tie-breakers first, the key last; ties end on the record id.
    chosen.sort(key=lambda item: item.row.record_id)
    chosen.sort(key=lambda item: item.row.completed_at, reverse=True)
    if query.sort is SortKey.COMPLETED_AT:
        chosen.sort(key=lambda item: item.row.completed_at, reverse=query.descending)
    elif query.sort is SortKey.PATIENT_NAME:
        chosen.sort(key=lambda item: " ".join(item.row.name_words), reverse=query.descending)
    else:
        chosen.sort(key=lambda item: _STATUS_ORDER[item.status], reverse=query.descending)
    window = chosen[query.offset : query.offset + query.limit]
    return Page(
        items=tuple(window),
        total=len(chosen),
        counts={status: counts.get(status, 0) for status in ConsentStatus},
        offset=query.offset,
        limit=query.limit,
    )


def next_page(query: RecordQuery) -> RecordQuery:
    return query.model_copy(update={"offset": query.offset + query.limit})


__all__ = [
    "PAGE_MAX",
    "SEARCH_TEXT_MAX",
    "ListedRecord",
    "Page",
    "RecordQuery",
    "SearchRow",
    "SortKey",
    "TextSearch",
    "evaluate",
    "fold_chart",
    "fold_name",
    "name_matches",
    "name_words",
    "next_page",
    "parse_search_text",
]
