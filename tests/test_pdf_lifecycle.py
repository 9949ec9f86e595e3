"""The PDF after the physiotherapist: status, discussion, countersignature, endings, DEMO."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from consent_records.lifecycle import ConsentRules
from consent_records.model import StoredRecord
from consent_records.pdf import (
    DEMO_BANNER,
    NOT_CONSENT_LINE,
    TITLE,
    TITLE_CONSENTED,
    TITLE_EXPIRED,
    render_consent_pdf,
)
from content.history import ContentHistory, ContentRevision
from content.schema import ContentBundle
from tests.event_factories import countersigned, discussed, linked, withdrawn
from tests.factories import make_content, make_record, make_stored
from tests.test_pdf import CLINIC, GENERATED, all_text, page_texts


@pytest.fixture(scope="module")
def content() -> ContentBundle:
    return make_content()


def _pdf(stored: StoredRecord, content: ContentBundle, **kwargs: Any) -> str:
    kwargs.setdefault("generated_at", GENERATED + timedelta(hours=1))
    data = render_consent_pdf(stored, content, CLINIC, **kwargs)
    return all_text(data)


def test_a_countersigned_record_shows_the_discussion_and_the_signature_not_the_banner(
    content: ContentBundle,
) -> None:
    record = make_record(content)
    text = _pdf(make_stored(record, [discussed(record), countersigned(record)]), content)
    assert TITLE_CONSENTED in text and NOT_CONSENT_LINE not in text
    assert "Status Active consent" in text
    assert "Physiotherapist's discussion and consent" in text
    assert "Discussion on 2026-03-14" in text and "Went over it together." in text
    assert "Countersignature: consent given" in text
    assert "Signed by Jordan Lee" in text and "Registration PT-04417" in text
    assert "Meaning I discussed IMS with the patient" in text
    assert "Valid until 2027-03-14" in text


def test_before_countersigning_the_banner_stays_and_nothing_reads_as_consent(
    content: ContentBundle,
) -> None:
    record = make_record(content)
    text = _pdf(make_stored(record, [discussed(record)]), content)
    assert TITLE in text and NOT_CONSENT_LINE in text
    assert "Status Discussed, decision pending" in text
    assert "Countersignature" not in text


def test_withdrawal_expiry_and_reconsent_links(content: ContentBundle) -> None:
    record = make_record(content)
    events = [discussed(record), countersigned(record), withdrawn(record), linked(record, "e" * 32)]
    text = _pdf(make_stored(record, events), content)
    assert "Consent withdrawn on" in text and "No reason was given." in text
    assert NOT_CONSENT_LINE not in text and "Consent was withdrawn on" in text
    assert "the patient's later kiosk record is M4QX-7P3K" in text
    signed = make_stored(record, events[:2])
    expired = _pdf(
        signed,
        content,
        rules=ConsentRules(valid_days=1),
        generated_at=GENERATED + timedelta(days=2),
    )
    assert TITLE_EXPIRED in expired and "Expired on 2026-03-15" in expired
    history = ContentHistory(
        revisions=(
            ContentRevision(version="2099.1", material=True, what_changed="A new risk."),
            ContentRevision(version=content.version, material=True, what_changed="First."),
        )
    )
    changed = _pdf(signed, content, rules=ConsentRules(history=history))
    assert "Re-consent needed: content 2099.1 changed: A new risk." in changed


def test_a_demo_pdf_says_demo_on_every_page(content: ContentBundle) -> None:
    record = make_record(content)
    data = render_consent_pdf(
        make_stored(record), content, CLINIC, generated_at=GENERATED, demo=True
    )
    pages = page_texts(data)
    assert DEMO_BANNER.split(":")[0] in pages[0] and "DEMO: IMS kiosk record" in pages[0]
    assert all("DEMO · Page" in page for page in pages)
