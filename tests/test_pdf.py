"""The PDF consent summary, checked the way a reader would: by the text on its pages."""

from __future__ import annotations

import io
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pypdf
import pytest

from consent_records.model import (
    ContentStamp,
    Decision,
    EventKind,
    StoredRecord,
    SubstituteDecisionMaker,
)
from consent_records.pdf import (
    NOT_CONSENT_LINE,
    TITLE,
    TITLE_CONSENTED,
    ClinicHeader,
    qr_payload,
    render_consent_pdf,
)
from content.loader import ContentError, load_content
from content.schema import ContentBundle, DecisionChoice
from tests.factories import make_content, make_event, make_record, make_stored

GENERATED = datetime(2026, 3, 14, 11, 30, tzinfo=ZoneInfo("America/Halifax"))
CLINIC = ClinicHeader(
    name="Harbourview Physiotherapy",
    address_lines=("1200 Harbour St, Suite 4", "Halifax, NS  B3H 1A1"),
    phone="902-555-0142",
)
MARKUP_NAME = '<b>x</b> & <img src="/etc/passwd"/> <font color="red">Zoë</font>'


@pytest.fixture(scope="module")
def content() -> ContentBundle:
    return make_content()


def render(stored: StoredRecord, content: ContentBundle) -> bytes:
    return render_consent_pdf(stored, content, CLINIC, generated_at=GENERATED)


def page_texts(data: bytes) -> list[str]:
    """Each page's text with runs of white space (line wraps included) folded to one space."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    return [" ".join(page.extract_text().split()) for page in reader.pages]


def all_text(data: bytes) -> str:
    return " ".join(page_texts(data))


def lineto_count(data: bytes, page_number: int) -> int:
    """Straight (``l``) and curved (``c``) path segments drawn on a page."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    stream = reader.pages[page_number].get_contents()
    assert stream is not None
    lines = re.findall(rb"-?[\d.]+ -?[\d.]+ l\b", stream.get_data())
    curves = re.findall(rb"(?:-?[\d.]+ ){6}c\b", stream.get_data())
    return len(lines) + len(curves)


def has_raster_image(data: bytes) -> bool:
    reader = pypdf.PdfReader(io.BytesIO(data))
    for page in reader.pages:
        resources = page.get("/Resources")
        xobjects = resources.get_object().get("/XObject") if resources else None
        if xobjects:
            for ref in xobjects.get_object().values():
                if ref.get_object().get("/Subtype") == "/Image":
                    return True
        stream = page.get_contents()
        if stream is not None and re.search(rb"\bBI\b", stream.get_data()):
            return True
    return False


def test_reader_sees_who_what_and_status(content: ContentBundle) -> None:
    record = make_record(content, name="Renée Bélanger-Côté")
    text = all_text(render(make_stored(record), content))

    assert "Renée Bélanger-Côté" in text
    assert "1984-02-29" in text
    assert "K7P3-QX9M" in text
    assert record.id in text
    assert TITLE in text and "not consent" in TITLE
    assert content.decision_text(DecisionChoice.AGREE) in text
    assert "Status Awaiting discussion" in text
    assert NOT_CONSENT_LINE in text
    assert "Jordan Lee" in text
    assert "C-10442" in text
    assert record.content.sha256 in text
    assert "Harbourview Physiotherapy" in text


def test_every_complication_of_every_tier_with_its_frequency(content: ContentBundle) -> None:
    text = all_text(render(make_stored(make_record(content)), content))

    tiers = content.risk_tiers
    assert len(tiers) == 3
    for tier in tiers:
        for item in tier.complications:
            assert item.name in text
            if item.frequency:
                assert f"{item.name} ({item.frequency})" in text
    for section in content.sections:
        assert section.title in text
        for point in section.key_points:
            assert point.text in text


def test_flagged_screening_answers_show_their_reason(content: ContentBundle) -> None:
    record = make_record(content, flags=["s-pregnant"], not_sure=["s-lung"])
    text = all_text(render(make_stored(record), content))

    assert content.screening_question("s-pregnant").flag_reason in text
    assert content.screening_question("s-lung").flag_reason in text
    assert "Not sure" in text
    # Unflagged questions are listed, without their reason.
    assert content.screening_question("s-fainting").prompt in text
    assert content.screening_question("s-fainting").flag_reason not in text
    assert "2 screening answers flagged" in text


def test_missed_quiz_question_is_marked_for_the_physiotherapist(content: ContentBundle) -> None:
    record = make_record(content, wrong_first=["q-serious"])
    text = all_text(render(make_stored(record), content))

    question = content.question("q-serious")
    assert question.topic in text
    assert question.prompt in text
    assert "Missed" in text
    assert f"Right answer: {question.option(question.correct).text}" in text
    assert "1 understanding-check question missed at the first try" in text
    assert text.count("Missed") == 1


def test_footer_on_every_page(content: ContentBundle) -> None:
    record = make_record(content, name="François Lefèvre")
    pages = page_texts(render(make_stored(record), content))

    assert len(pages) >= 2
    for number, page in enumerate(pages, 1):
        assert "François Lefèvre" in page
        assert "DOB 1984-02-29" in page
        assert "Ref K7P3-QX9M" in page
        assert "Content 2026.1" in page
        assert f"Page {number} of {len(pages)}" in page


def test_markup_in_patient_text_is_printed_literally(content: ContentBundle) -> None:
    substitute = SubstituteDecisionMaker(
        full_name='Ana <font color="red">&amp;</font>', relationship="<i>Mother</i>"
    )
    record = make_record(content, name=MARKUP_NAME, substitute=substitute, chart_number="<br/>7")
    event = make_event(record, EventKind.NOTE, note='<img src="x.png"/> & <a href="y">z</a>')
    data = render(make_stored(record, [event]), content)
    text = all_text(data)

    assert MARKUP_NAME in text
    assert 'Ana <font color="red">&amp;</font>' in text
    assert "<i>Mother</i>" in text
    assert "<br/>7" in text
    assert '<img src="x.png"/> & <a href="y">z</a>' in text
    assert not has_raster_image(data)
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert all("/Annots" not in page for page in reader.pages)


def test_accented_names_use_an_embedded_truetype_font(content: ContentBundle) -> None:
    data = render(make_stored(make_record(content, name="Zoë Ångström")), content)
    reader = pypdf.PdfReader(io.BytesIO(data))

    fonts = reader.pages[0]["/Resources"]["/Font"].get_object()
    descriptors = [font.get_object().get("/FontDescriptor") for font in fonts.values()]
    embedded = [d for d in descriptors if d is not None and "/FontFile2" in d.get_object()]
    assert embedded, "expected embedded TrueType subsets"
    assert "Zoë Ångström" in all_text(data)


def test_drawn_signature_is_vector_paths_and_typed_signature_says_so(
    content: ContentBundle,
) -> None:
    drawn_record = make_record(content, drawn=True)
    typed_record = make_record(content, drawn=False)
    drawn = render(make_stored(drawn_record), content)
    typed = render(make_stored(typed_record), content)
    drawn_pages, typed_pages = page_texts(drawn), page_texts(typed)

    typed_wording = "Signed by typing full name (keyboard signature)"
    assert typed_wording in all_text(typed)
    assert typed_wording not in all_text(drawn)
    assert "Drawn on the signature pad" in all_text(drawn)

    page = next(i for i, text in enumerate(drawn_pages) if "Signed at" in text)
    assert "Signed at" in typed_pages[page]
    points = sum(len(stroke) for stroke in drawn_record.signature.strokes)
    strokes_with_lines = sum(1 for stroke in drawn_record.signature.strokes if len(stroke) > 1)
    extra_lines = lineto_count(drawn, page) - lineto_count(typed, page)
    assert extra_lines >= points - strokes_with_lines - 5
    assert not has_raster_image(drawn)


def test_integrity_figures_appear(content: ContentBundle) -> None:
    stored = make_stored(make_record(content))
    text = all_text(render(stored, content))

    assert stored.entry.sha256 in text
    assert stored.chain_head in text
    assert stored.entry.sha256 != stored.chain_head
    assert f"{stored.entry.seq}:{stored.entry.sha256}" in text
    # Generated in Halifax at 11:30 ADT, printed in the record's own zone (Toronto).
    assert "2026-03-14 10:30 EDT" in text


def test_qr_payload_holds_no_personal_data(content: ContentBundle) -> None:
    record = make_record(content, name="Renée Bélanger-Côté")
    stored = make_stored(record)
    payload = qr_payload(stored)

    assert record.reference in payload
    assert record.id in payload
    assert stored.entry.sha256 in payload
    for personal in ("Renée", "Bélanger", "1984", "C-10442", "Jordan"):
        assert personal not in payload


def test_same_inputs_give_the_same_bytes(content: ContentBundle) -> None:
    stored = make_stored(make_record(content))
    first = render(stored, content)

    assert render(stored, content) == first
    later = render_consent_pdf(stored, content, CLINIC, generated_at=GENERATED.replace(minute=31))
    assert later != first
    metadata = pypdf.PdfReader(io.BytesIO(first)).metadata
    assert metadata is not None
    assert metadata["/CreationDate"].startswith("D:20260314103000")
    assert "K7P3-QX9M" in metadata["/Title"]
    assert metadata["/Author"] == CLINIC.name
    assert all("Renée" not in str(value) for value in metadata.values())


def test_substitute_decision_maker_is_shown(content: ContentBundle) -> None:
    substitute = SubstituteDecisionMaker(full_name="Hélène Tremblay", relationship="Mother")
    record = make_record(content, name="Zoë Ångström", substitute=substitute)
    text = all_text(render(make_stored(record), content))

    assert "Hélène Tremblay (Mother)" in text
    assert "Hélène Tremblay, substitute decision-maker (Mother) for Zoë Ångström" in text


@pytest.mark.parametrize(
    ("decision", "events", "wording"),
    [
        (Decision.DECLINE, (), "Declined at the kiosk"),
        (Decision.DISCUSS, (), "Wants to talk first"),
        (Decision.AGREE, (EventKind.COUNTERSIGNED,), "Active consent"),
        (Decision.AGREE, (EventKind.COUNTERSIGNED, EventKind.WITHDRAWN), "Withdrawn"),
    ],
)
def test_status_follows_decision_and_later_events(
    content: ContentBundle, decision: Decision, events: tuple[EventKind, ...], wording: str
) -> None:
    record = make_record(content, decision=decision)
    later = [make_event(record, kind, minutes_after=10 * i) for i, kind in enumerate(events, 1)]
    text = all_text(render(make_stored(record, later), content))

    assert f"Status {wording}" in text
    assert content.decision_text(DecisionChoice(decision.value)) in text


def test_later_events_are_listed(content: ContentBundle) -> None:
    record = make_record(content)
    events = [
        make_event(record, EventKind.PDF_EXPORTED, actor="kiosk:front-desk-1"),
        make_event(record, EventKind.COUNTERSIGNED, minutes_after=45, note="Flag discussed."),
    ]
    text = all_text(render(make_stored(record, events), content))

    assert "PDF exported" in text
    assert "kiosk:front-desk-1" in text
    assert "Countersigned by physiotherapist" in text
    assert "Flag discussed." in text
    assert "2026-03-14 11:27 EDT" in text


def test_confirmed_statements_are_listed(content: ContentBundle) -> None:
    text = all_text(render(make_stored(make_record(content)), content))
    for statement in content.statements:
        assert statement.text in text


def test_long_name_still_renders(content: ContentBundle) -> None:
    name = "Marie-Ève " + "Bélanger-Côté " * 8 + "Ångström"
    record = make_record(content, name=name[:120])
    pages = page_texts(render(make_stored(record), content))

    assert record.patient.full_name in " ".join(pages)
    assert all("…" in page for page in pages)  # the footer shortens it


def test_with_the_packaged_content() -> None:
    try:
        loaded = load_content()
    except ContentError as exc:
        pytest.skip(f"packaged content does not load yet: {exc}")
    bundle = loaded.bundle
    record = make_record(
        bundle,
        content_sha256=loaded.sha256,
        flags=[bundle.screening[0].id],
        wrong_first=[bundle.quiz[1].id],
    )
    data = render(make_stored(record), bundle)
    pages = page_texts(data)
    text = " ".join(pages)

    assert loaded.sha256 in text
    for tier in bundle.risk_tiers:
        for item in tier.complications:
            assert item.name in text
    for section in bundle.sections:
        assert section.title in text
    assert bundle.screening[0].flag_reason in text
    assert bundle.question(bundle.quiz[1].id).topic in text
    for statement in bundle.statements:
        assert statement.text in text
    for number, page in enumerate(pages, 1):
        assert f"Page {number} of {len(pages)}" in page
        assert "Ref K7P3-QX9M" in page
        assert f"Content {bundle.version}" in page


def test_title_never_reads_as_consent_until_countersigned(content: ContentBundle) -> None:
    record = make_record(content)
    before = all_text(render(make_stored(record), content))
    assert TITLE in before and "consent summary" not in before
    after = all_text(
        render(make_stored(record, [make_event(record, EventKind.COUNTERSIGNED)]), content)
    )
    assert TITLE_CONSENTED in after


def test_packaged_content_as_the_substitute_saw_it_with_key_points_shown() -> None:
    loaded = load_content()
    bundle = loaded.bundle
    substitute = SubstituteDecisionMaker(full_name="Amélie Ångström", relationship="mother")
    record = make_record(bundle, content_sha256=loaded.sha256, substitute=substitute, flags=())
    record = record.model_copy(
        update={
            "content": ContentStamp(
                version=bundle.version, language="en", sha256=loaded.sha256, province="QC",
                options=["electrical-stimulation"],
            )
        }
    )  # fmt: skip
    text = all_text(render(make_stored(record), bundle))
    shown = bundle.as_shown(
        "substitute", province="QC", options=frozenset(["electrical-stimulation"])
    )
    assert shown.decision_text(DecisionChoice.AGREE) in text
    assert "I plan for the patient to have IMS" in text
    for statement in shown.statements:
        assert statement.text in text
    assert "key points from the box at its end" in text
    assert "electrical-stimulation" in text
    assert "substitute decision-maker" in text


def test_a_long_name_wraps_between_words_never_inside_one(content: ContentBundle) -> None:
    """A name with a word too long for its column is set smaller, not broken mid-word."""
    name = "Maximiliana Wolfeschlegelsteinhausenbergerdorff Bartholomew-Featherstonehaugh"
    record = make_record(content, name=name, drawn=False)
    text = " ".join(page_texts(render(make_stored(record), content)))
    # The details table, "Signed by" and "Typed name": each word whole each time.
    assert text.count("Wolfeschlegelsteinhausenbergerdorff") >= 3, text
    assert "Wolfeschlegelsteinhau " not in text
