"""Typed record queries: name folding across scripts, the search box, filters, counts, paging."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from consent_records.lifecycle import ConsentRules, ConsentStatus, fold
from consent_records.model import ConsentRecord, Decision, Physiotherapist, SubstituteDecisionMaker
from consent_records.query import (
    PAGE_MAX,
    RecordQuery,
    SearchRow,
    SortKey,
    evaluate,
    fold_name,
    name_matches,
    name_words,
    next_page,
    parse_search_text,
)
from content.history import ContentHistory, ContentRevision
from tests.event_factories import countersigned, discussed, withdrawn
from tests.factories import DEFAULT_COMPLETED_AT, make_content, make_record

S = ConsentStatus
CONTENT = make_content()
NOW = DEFAULT_COMPLETED_AT + timedelta(days=30)


@pytest.mark.parametrize(
    ("stored", "typed"),
    [
        ("Björn Gagnon", "bjorn"),
        ("Björn Gagnon", "GAGNON björn"),
        ("Renée Bélanger-Côté", "cote renee"),
        ("Renée Bélanger-Côté", "bél"),
        ("Seán O'Brien", "obrien"),
        ("Seán O’Brien", "o'brien"),
        ("Łukasz Żółć", "lukasz zolc"),
        ("Søren Kierkegaard", "soren"),
        ("Hans Straße", "strasse"),
        ("Ægir Þórsson", "aegir thor"),
        ("Nguyễn Thị Minh Khai", "nguyen minh"),
        ("İbrahim Çelik", "ibrahim celik"),
        ("Αλέξανδρος Παπαδόπουλος", "αλεξανδρος"),
        ("Αλέξανδρος Παπαδόπουλος", "ΠΑΠΑΔΟΠΟΥΛΟΣ"),
        ("Андрей Ёлкин", "елкин"),
        ("Андрей Ёлкин", "андрей"),
        ("יִצְחָק רַבִּין", "יצחק"),
        ("مُحَمَّد علي", "محمد"),
        ("山田 太郎", "太郎"),
        ("山田太郎", "太郎"),
        ("김민준", "민준"),
        ("สมชาย ใจดี", "ใจดี"),
        ("हिन्दी नाम", "हिन्दी"),
        ("Ｊｏｈｎ Ｓｍｉｔｈ", "john"),
        ("Zoë\u200b Saldaña", "zoe saldana"),
    ],
)
def test_names_are_found_case_and_accent_insensitively(stored: str, typed: str) -> None:
    assert name_matches(name_words(typed), name_words(stored))


@pytest.mark.parametrize(
    ("stored", "typed"),
    [
        ("Björn Gagnon", "bjorg"),
        ("Renée Bélanger-Côté", "renee tremblay"),
        ("Anne Roy", "joanne"),  # a word's start, not any substring, in spaced scripts
        ("ガッツ", "カッツ"),  # Japanese voiced marks are letters, not accents
    ],
)
def test_names_are_not_found_by_something_else(stored: str, typed: str) -> None:
    assert not name_matches(name_words(typed), name_words(stored))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_folding_is_stable_and_a_name_finds_itself(name: str) -> None:
    folded = fold_name(name)
    assert fold_name(folded) == folded
    assert folded == folded.strip() and "  " not in folded
    assert name_matches(name_words(name), name_words(name))


def test_search_text_is_read_every_way_it_can_mean() -> None:
    ref = parse_search_text("k7p3-qx")
    assert ref.reference_prefix == "K7P3QX"
    assert ref.name_tokens == ("k7p3", "qx")
    dob = parse_search_text("1984-02-29")
    assert dob.date_of_birth == date(1984, 2, 29)
    assert parse_search_text("1984/2/29").date_of_birth == date(1984, 2, 29)
    assert parse_search_text("1985-02-29").date_of_birth is None
    chart = parse_search_text(" c-104 42 ")
    assert chart.chart_prefix == "c-10442"
    name = parse_search_text("Björn")
    assert (name.name_tokens, name.reference_prefix) == (("bjorn",), None)


def test_query_is_validated_and_travels_as_json() -> None:
    query = RecordQuery(
        text="  Renée\x1b[2J  Côté ",
        statuses=frozenset({S.ACTIVE}),
        physiotherapist_ids=frozenset({"jlee"}),
        completed_from=date(2026, 1, 1),
        has_flags=True,
        as_of=NOW,
        sort=SortKey.PATIENT_NAME,
    )
    assert query.text == "Renée[2J Côté"
    assert len(RecordQuery(text="Björn " * 100, as_of=NOW).text) <= 120
    assert RecordQuery.model_validate_json(query.model_dump_json()) == query
    with pytest.raises(ValidationError, match="ends before it starts"):
        RecordQuery(completed_from=date(2026, 2, 1), completed_to=date(2026, 1, 1), as_of=NOW)
    with pytest.raises(ValidationError):
        RecordQuery(limit=PAGE_MAX + 1, as_of=NOW)
    with pytest.raises(ValidationError):
        RecordQuery(as_of=NOW, where="1=1")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        RecordQuery(as_of=NOW.replace(tzinfo=None))


# --- evaluate: the specification every store follows --------------------------------------

JLEE = Physiotherapist(id="jlee", name="Jordan Lee")
AKIM = Physiotherapist(id="akim", name="Alex Kim")


def row(
    n: int,
    name: str,
    *,
    decision: Decision = Decision.AGREE,
    physio: Physiotherapist = JLEE,
    events: str = "",
    flags: bool = True,
    missed: bool = True,
    substitute: bool = False,
    days_ago: int = 0,
    chart: str | None = None,
) -> SearchRow:
    record: ConsentRecord = make_record(
        CONTENT,
        decision=decision,
        name=name,
        record_id=f"{n:032x}",
        reference=f"AB{n:02d}-XY{n:02d}".replace("0", "Z").replace("1", "Q"),
        completed_at=DEFAULT_COMPLETED_AT - timedelta(days=days_ago),
        flags=None if flags else (),
        wrong_first=None if missed else (),
        substitute=SubstituteDecisionMaker(full_name="Marc Roy", relationship="father")
        if substitute
        else None,
        chart_number=chart,
    ).model_copy(update={"physiotherapist": physio})
    chosen = {
        "": [],
        "d": [discussed(record)],
        "dc": [discussed(record), countersigned(record)],
        "dcw": [discussed(record), countersigned(record), withdrawn(record)],
    }[events]
    return SearchRow.of(record, fold(record, chosen))


ROWS = [
    row(1, "Björn Gagnon", days_ago=1),
    row(2, "Renée Bélanger-Côté", events="dc", days_ago=2, chart="C-77"),
    row(3, "Anne Roy", decision=Decision.DISCUSS, physio=AKIM, days_ago=3, flags=False),
    row(4, "Zoë Saldaña", events="d", days_ago=4, missed=False, substitute=True),
    row(5, "Bjørn Olsen", decision=Decision.DECLINE, days_ago=5),
    row(6, "Yusuf Ali", events="dcw", days_ago=6, flags=False, missed=False),
    row(7, "Ada Lovelace", events="dc", days_ago=400),
]
RULES = ConsentRules(valid_days=365, expiring_within_days=30)


def ids(page_items: object) -> list[int]:
    return [int(item.row.record_id, 16) for item in page_items]  # type: ignore[attr-defined]


def q(**kw: object) -> RecordQuery:
    return RecordQuery(as_of=NOW, **kw)  # type: ignore[arg-type]


def test_newest_first_with_statuses_judged_now() -> None:
    page = evaluate(ROWS, q(), RULES)
    assert ids(page.items) == [1, 2, 3, 4, 5, 6, 7]
    assert [item.status for item in page.items] == [
        S.AWAITING_DISCUSSION,
        S.ACTIVE,
        S.WANTS_DISCUSSION,
        S.DISCUSSED,
        S.DECLINED_AT_KIOSK,
        S.WITHDRAWN,
        S.EXPIRED,
    ]
    assert page.total == 7 and not page.has_more


def test_search_by_folded_name_reference_chart_and_birth_date() -> None:
    assert ids(evaluate(ROWS, q(text="bjorn"), RULES).items) == [1, 5]
    assert ids(evaluate(ROWS, q(text="COTE ren"), RULES).items) == [2]
    assert ids(evaluate(ROWS, q(text=ROWS[2].reference.lower()), RULES).items) == [3]
    assert ids(evaluate(ROWS, q(text="c-7"), RULES).items) == [2]
    born = ROWS[0].date_of_birth.isoformat()
    assert len(evaluate(ROWS, q(text=born), RULES).items) == 7  # the factory's one birthday
    assert evaluate(ROWS, q(text="nobody here"), RULES).total == 0


def test_filters_combine_and_counts_ignore_the_status_filter() -> None:
    page = evaluate(ROWS, q(statuses=frozenset({S.ACTIVE, S.EXPIRED})), RULES)
    assert ids(page.items) == [2, 7]
    assert page.counts[S.AWAITING_DISCUSSION] == 1 and page.counts[S.WITHDRAWN] == 1
    assert sum(page.counts.values()) == 7
    assert ids(evaluate(ROWS, q(physiotherapist_ids=frozenset({"akim"})), RULES).items) == [3]
    assert ids(evaluate(ROWS, q(has_flags=False), RULES).items) == [3, 6]
    assert ids(evaluate(ROWS, q(has_missed_questions=False), RULES).items) == [4, 6]
    assert ids(evaluate(ROWS, q(has_substitute=True), RULES).items) == [4]
    window = q(completed_from=date(2026, 3, 8), completed_to=date(2026, 3, 11))
    assert ids(evaluate(ROWS, window, RULES).items) == [3, 4, 5, 6]
    mine = RecordQuery.awaiting_discussion_for("jlee", NOW)
    assert ids(evaluate(ROWS, mine, RULES).items) == [1, 4]


def test_expiring_and_reconsent_filters() -> None:
    late = NOW + timedelta(days=320)
    soon = evaluate(ROWS, RecordQuery(as_of=late, expiring_soon=True), RULES)
    assert ids(soon.items) == [2]
    changed = ConsentRules(
        history=ContentHistory(
            revisions=(
                ContentRevision(version="2026.2", material=True, what_changed="New risks."),
                ContentRevision(version="2026.1", material=True, what_changed="First."),
            )
        )
    )
    page = evaluate(ROWS, q(statuses=frozenset({S.RECONSENT_NEEDED})), changed)
    assert ids(page.items) == [2]
    assert page.items[0].standing.material_changes[0].what_changed == "New risks."


def test_sorting_and_paging_cover_every_match_once() -> None:
    by_name = evaluate(ROWS, q(sort=SortKey.PATIENT_NAME, descending=False), RULES)
    assert [i.row.patient_name for i in by_name.items][:3] == [
        "Ada Lovelace",
        "Anne Roy",
        "Björn Gagnon",  # "bjorn gagnon" before "bjorn olsen": ø sorts as o
    ]
    seen: list[int] = []
    query = q(limit=3)
    while True:
        page = evaluate(ROWS, query, RULES)
        seen += ids(page.items)
        if not page.has_more:
            break
        query = next_page(query)
    assert seen == [1, 2, 3, 4, 5, 6, 7]
    by_status = evaluate(ROWS, q(sort=SortKey.STATUS, descending=False), RULES)
    assert by_status.items[0].status is S.AWAITING_DISCUSSION
