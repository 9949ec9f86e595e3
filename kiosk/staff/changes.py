""" "What changed": the content a patient saw against today's, section by section.

The store archives every content version by its hash, so the exact text a patient read can
be set beside the current one. Both are taken *as this patient was shown them* (a
substitute's wording, the clinic's options), split into sentences, and compared with
:mod:`difflib`; only sentences removed or added are listed. Besides the education sections
the comparison covers the statements the patient ticked, the screening questions, the
understanding-check questions and the warning signs.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from enum import StrEnum

from consent_records.model import ConsentRecord
from content.history import ContentHistory, ContentRevision
from content.schema import ContentBundle
from kiosk.staff.review import shown_content

_SENTENCE_END = re.compile(r"(?<=[.!?:])\s+|\n+")


class Change(StrEnum):
    SAME = "same"
    CHANGED = "changed"
    ADDED = "added"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class PartChange:
    """One section (or list) compared."""

    key: str
    title: str
    change: Change
    removed: tuple[str, ...] = ()
    """Sentences the patient saw that are no longer there (or reworded)."""
    added: tuple[str, ...] = ()
    """Sentences in today's content that the patient did not see."""


@dataclass(frozen=True, slots=True)
class ContentComparison:
    seen_version: str
    current_version: str
    revisions: tuple[ContentRevision, ...]
    """The versions since the one seen, oldest first, each with its one-line summary."""
    parts: tuple[PartChange, ...]

    @property
    def changed(self) -> tuple[PartChange, ...]:
        return tuple(p for p in self.parts if p.change is not Change.SAME)

    @property
    def material(self) -> tuple[ContentRevision, ...]:
        return tuple(r for r in self.revisions if r.material)


def sentences(text: str) -> list[str]:
    cleaned = re.sub(r"[*_`#>]+", "", text)
    cleaned = re.sub(r"^\s*[-•]\s+", "", cleaned, flags=re.MULTILINE)
    return [s.strip() for s in _SENTENCE_END.split(cleaned) if s and s.strip() and s.strip() != "-"]


def _compare(key: str, title: str, before: str | None, after: str | None) -> PartChange:
    if before is None:
        return PartChange(key, title, Change.ADDED, (), tuple(sentences(after or "")))
    if after is None:
        return PartChange(key, title, Change.REMOVED, tuple(sentences(before)), ())
    old, new = sentences(before), sentences(after)
    if old == new:
        return PartChange(key, title, Change.SAME)
    removed: list[str] = []
    added: list[str] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "delete"):
            removed += old[i1:i2]
        if tag in ("replace", "insert"):
            added += new[j1:j2]
    return PartChange(key, title, Change.CHANGED, tuple(removed), tuple(added))


def _lists(bundle: ContentBundle) -> dict[str, tuple[str, str]]:
    """The non-section parts a patient saw, as (title, text)."""
    return {
        "statements": (
            "Statements the patient ticked",
            "\n".join(s.text for s in bundle.statements),
        ),
        "screening": (
            "Screening questions",
            "\n".join(f"{q.prompt}" for q in bundle.screening),
        ),
        "quiz": (
            "Understanding-check questions",
            "\n".join(f"{q.prompt}\n" + "\n".join(o.text for o in q.options) for q in bundle.quiz),
        ),
        "warning_signs": ("Warning signs", "\n".join(w.text for w in bundle.warning_signs)),
    }


def compare_content(
    record: ConsentRecord,
    seen: ContentBundle,
    current: ContentBundle,
    history: ContentHistory,
) -> ContentComparison:
    """Compare what ``record``'s patient saw (``seen``) with ``current``, as shown to them."""
    before = shown_content(record, seen)
    after = shown_content(record, current)
    old_sections = {s.id: s for s in before.sections}
    new_sections = {s.id: s for s in after.sections}
    parts: list[PartChange] = []
    order = [s.id for s in after.sections] + [s for s in old_sections if s not in new_sections]
    for section_id in order:
        old = old_sections.get(section_id)
        new = new_sections.get(section_id)
        title = (new or old).title if (new or old) else section_id  # type: ignore[union-attr]
        parts.append(
            _compare(
                section_id,
                title,
                old.plain_text() if old else None,
                new.plain_text() if new else None,
            )
        )
    old_lists, new_lists = _lists(before), _lists(after)
    for key, (title, text) in new_lists.items():
        parts.append(_compare(key, title, old_lists[key][1], text))
    return ContentComparison(
        seen_version=seen.version,
        current_version=current.version,
        revisions=history.since(seen.version),
        parts=tuple(parts),
    )
