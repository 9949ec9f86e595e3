"""Pure parts of the staff side: reading estimates, "what changed", the terminal text."""

from __future__ import annotations

from content.history import ContentHistory, ContentRevision
from content.loader import cached_content
from kiosk.staff.changes import Change, compare_content
from kiosk.staff.review import (
    READING_WORDS_PER_MINUTE,
    read_quickly,
    reading_estimate_seconds,
    section_words,
)
from kiosk.staff.text import terminal_safe
from tests.factories import make_record


def test_the_reading_estimate_is_words_at_200_a_minute_and_a_third_is_skimming() -> None:
    section = cached_content("en").bundle.sections[0]
    words = section_words(section)
    assert words > 50
    estimate = reading_estimate_seconds(section)
    assert estimate == words * 60 / READING_WORDS_PER_MINUTE
    assert read_quickly(estimate / 3 - 1, estimate)
    assert not read_quickly(estimate / 3 + 1, estimate)
    assert not read_quickly(1.0, 15.0), "a very short section is never flagged"


def test_what_changed_lists_sentences_removed_and_added_section_by_section() -> None:
    loaded = cached_content("en")
    seen = loaded.bundle
    risks = next(s for s in seen.sections if s.risk_tiers)
    first_block = risks.blocks[0]
    changed_block = first_block.model_copy(
        update={"text": first_block.text + " A new sentence about bruising appears here."}
    )
    current = seen.model_copy(
        update={
            "version": "2099.1",
            "sections": [
                s.model_copy(update={"blocks": [changed_block, *s.blocks[1:]]})
                if s.id == risks.id
                else s
                for s in seen.sections
            ],
        }
    )
    history = ContentHistory(
        revisions=(
            ContentRevision(version="2099.1", material=True, what_changed="Bruising added."),
            *loaded.history.revisions,
        )
    )
    record = make_record(seen, content_sha256=loaded.sha256)
    comparison = compare_content(record, seen, current, history)
    assert [p.key for p in comparison.changed] == [risks.id]
    part = comparison.changed[0]
    assert part.change is Change.CHANGED and part.title == risks.title
    assert "A new sentence about bruising appears here." in part.added
    assert [r.what_changed for r in comparison.material] == ["Bruising added."]
    assert comparison.seen_version == seen.version and comparison.current_version == "2099.1"


def test_text_for_a_terminal_drops_escapes_and_direction_overrides() -> None:
    assert terminal_safe("Zoë\x1b[2J\u202eevil\x07") == "Zoë[2Jevil"
