"""The originality guard: no run of words shared with the client's source documents.

Every sentence a patient reads is written in the project's own words. A run of
:data:`COPY_RUN` words (six) that also appears in a seed document counts as copied text,
after folding case, punctuation and apostrophes (so "Don't" and "dont" match).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

COPY_RUN = 6
"""Words in a row shared with a source document that count as copied."""

SEEDS_DIR = Path(__file__).resolve().parents[2] / "shared" / "seeds"
"""Where the client's documents sit beside a checkout (``../shared/seeds``)."""

_NOT_PROSE = frozenset({"sources", "id", "kind", "section", "correct", "source_type", "mark"})
"""Keys whose values are ids or citations, not text a person reads."""


def words(text: str) -> list[str]:
    text = text.lower().replace("\u2019", "'").replace("'", "")
    return re.findall(r"[a-z0-9]+", text)


def runs(tokens: list[str], size: int = COPY_RUN) -> Iterator[tuple[str, ...]]:
    for start in range(len(tokens) - size + 1):
        yield tuple(tokens[start : start + size])


def visible_strings(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every string in dumped content that a patient or physiotherapist reads, with its
    path (for example ``sections.2.blocks.0.text``)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k in _NOT_PROSE:
                continue
            yield from visible_strings(v, f"{key}.{k}" if key else k)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from visible_strings(item, f"{key}.{index}")
    elif isinstance(value, str):
        yield key, value


def seed_runs(paths: Iterable[Path], size: int = COPY_RUN) -> dict[tuple[str, ...], str]:
    """Every ``size``-word run in the documents, mapped to the file it is in."""
    found: dict[tuple[str, ...], str] = {}
    for path in paths:
        for run in runs(words(path.read_text(encoding="utf-8")), size):
            found.setdefault(run, path.name)
    return found


def copied(
    strings: Iterable[tuple[str, str]], known: dict[tuple[str, ...], str], size: int = COPY_RUN
) -> list[str]:
    """``where: 'the run' (in FILE)`` for every run of ``strings`` found in ``known``."""
    found = []
    for path, text in strings:
        for run in runs(words(text), size):
            if run in known:
                found.append(f"{path}: {' '.join(run)!r} (in {known[run]})")
    return found
