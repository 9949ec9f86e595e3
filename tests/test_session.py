"""The consent session's rules, without a terminal."""

from __future__ import annotations

from datetime import date

import pytest

from consent_records.model import Decision, ScreeningAnswerValue, SignatureMethod
from consent_records.sanitize import clean_text, names_match
from content.loader import cached_content
from kiosk.session import (
    ConsentSession,
    FieldErrors,
    Position,
    SignatureInput,
    Step,
    age_on,
    parse_about,
)
from kiosk.settings import Settings
from tests.conftest import FIXED_NOW

TODAY = FIXED_NOW.date()
PHYSIOS = {"demo-akim"}


def about(**overrides: object):  # type: ignore[no-untyped-def]
    fields = dict(
        full_name="Anaïs Ouellet",
        year="1984",
        month="2",
        day="29",
        chart_number="",
        physiotherapist_id="demo-akim",
        today=TODAY,
        known_physiotherapists=PHYSIOS,
    )
    fields.update(overrides)
    return parse_about(**fields)  # type: ignore[arg-type]


def session(**settings: object) -> ConsentSession:
    return ConsentSession(Settings.model_validate(settings), cached_content(), lambda: FIXED_NOW)


def test_leap_day_birthday_is_accepted() -> None:
    assert about().date_of_birth == date(1984, 2, 29)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"full_name": " "}, "full_name"),
        ({"year": "1985", "month": "2", "day": "29"}, "date_of_birth"),
        ({"year": "2027"}, "date_of_birth"),
        ({"year": "1890"}, "date_of_birth"),
        ({"day": ""}, "date_of_birth"),
        ({"physiotherapist_id": None}, "physiotherapist"),
        ({"physiotherapist_id": "someone-else"}, "physiotherapist"),
    ],
)
def test_about_errors_name_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(FieldErrors) as problem:
        about(**overrides)
    assert field in problem.value.errors


def test_age_counts_whole_years() -> None:
    assert age_on(date(2008, 11, 21), date(2026, 11, 20)) == 17
    assert age_on(date(2008, 11, 20), date(2026, 11, 20)) == 18


@pytest.mark.parametrize("province", ["AB", "BC", "ON", "QC"])
def test_who_fills_it_in_decides_the_substitute_step_never_age(province: str) -> None:
    young = about(year="2014", month="1", day="1")
    s = session(province=province)
    assert s.path()[1] == Position(Step.WHO)
    s.set_filled_in_by("patient")
    s.set_about(young)
    assert Position(Step.SUBSTITUTE) not in s.path()
    s.set_filled_in_by("substitute")
    assert Position(Step.SUBSTITUTE) in s.path()
    adult = session(province=province)
    adult.set_filled_in_by("substitute")  # an adult who cannot decide for themselves
    adult.set_about(about())
    assert Position(Step.SUBSTITUTE) in adult.path()
    assert "the patient" in adult.shown.screening[0].prompt


def test_first_attempts_are_kept_and_later_answers_ignored() -> None:
    s = session()
    question = s.content.bundle.quiz[0]
    wrong = next(o.id for o in question.options if o.id != question.correct)
    assert s.answer_quiz(question.id, wrong) is False
    assert s.answer_quiz(question.id, question.correct) is True
    s.answer_quiz(question.id, wrong)  # after solving, nothing more is recorded
    assert s.quiz_attempts[question.id] == [wrong, question.correct]


def test_every_yes_or_not_sure_is_a_flag_with_a_reason() -> None:
    s = session()
    questions = s.content.bundle.screening
    for q in questions:
        s.screening[q.id] = ScreeningAnswerValue.NO
    s.screening[questions[0].id] = ScreeningAnswerValue.YES
    s.screening[questions[3].id] = ScreeningAnswerValue.NOT_SURE
    flags = s.flags()
    assert [f.question_id for f in flags] == [questions[0].id, questions[3].id]
    assert all(f.reason for f in flags)


def test_agree_needs_all_statements_but_refusal_does_not() -> None:
    s = session()
    everything = {st.id for st in s.content.bundle.statements}
    assert s.decision_problem(Decision.AGREE, set()) is not None
    assert s.decision_problem(Decision.AGREE, everything) is None
    assert s.decision_problem(Decision.DECLINE, set()) is None
    assert s.decision_problem(None, everything) is not None


@pytest.mark.parametrize(
    ("typed", "ok"),
    [("anaïs   OUELLET", True), (" Anaïs Ouellet ", True), ("Anais Ouellet", False), ("", False)],
)
def test_signature_name_must_match(typed: str, ok: bool) -> None:
    s = session()
    s.set_about(about())
    signature = SignatureInput(typed_name=typed, method=SignatureMethod.TYPED)
    if ok:
        s.check_signature(signature)
    else:
        with pytest.raises(FieldErrors):
            s.check_signature(signature)


def test_text_is_cleaned_before_storage() -> None:
    dirty = "Ana\u0301i\u0308s \x1b[31mO\u202euellet\x00\u200b  \t x"
    cleaned = clean_text(dirty)
    assert cleaned == "Anáïs [31mOuellet x"
    assert "\x1b" not in cleaned and "\u202e" not in cleaned
    assert clean_text("é" * 500, 120) == "é" * 120
    assert names_match("ZOË", "zoë")


def test_an_oversized_signature_is_refused_kindly_before_saving() -> None:
    from consent_records.model import MAX_STROKES

    s = session()
    s.set_about(about())
    dots = tuple(((float(i % 60), 2.0),) for i in range(MAX_STROKES + 1))
    signature = SignatureInput(
        typed_name="Anaïs Ouellet", method=SignatureMethod.DRAWN, strokes=dots,
        pad_width=60, pad_height=6,
    )  # fmt: skip
    with pytest.raises(FieldErrors) as problem:
        s.check_signature(signature)
    assert "Clear signature" in problem.value.errors["pad"]
    ok = SignatureInput(
        typed_name="Anaïs Ouellet", method=SignatureMethod.DRAWN, strokes=dots[:MAX_STROKES],
        pad_width=60, pad_height=6,
    )  # fmt: skip
    s.check_signature(ok)
