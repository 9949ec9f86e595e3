"""Tests for the packaged education content (content/en).

They prove the content loads and is complete, reads at a plain-language level, is
rejected with a clear message when a data file is broken, and copies no text from the
client's source documents.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from content.loader import CONTENT_ROOT, ContentError, LoadedContent, load_content
from content.readability import readability
from content.schema import ContentBundle

SEEDS_DIR = Path(__file__).resolve().parents[2] / "shared" / "seeds"

SECTION_IDS = [
    "what-is-ims",
    "ims-vs-acupuncture",
    "what-to-expect",
    "risks",
    "warning-signs",
    "preparing",
    "benefits-alternatives",
    "your-rights",
]

# Every complication on the Physiotherapy Alberta sheet (seed 002), by the id chosen for it.
SEED_002_COMPLICATIONS = {
    "common": ["bleeding", "bruising", "pain-during", "pain-after"],
    "less-common": [
        "symptom-flare",
        "drowsiness",
        "fatigue",
        "feeling-faint",
        "nausea",
        "headache",
        "emotional-release",
        "feeling-shaky",
        "numbness",
        "nerve-irritation",
        "stuck-or-bent-needle",
    ],
    "serious": ["needle-breaks", "infection", "vital-tissue-puncture", "collapsed-lung"],
}

QUIZ_TOPICS_SECTIONS = {
    "right-to-stop": "your-rights",
    "common-side-effects": "risks",
    "urgent-warning-sign": "warning-signs",
    "soreness-duration": "what-to-expect",
    "how-to-prepare": "preparing",
    "who-may-perform": "what-is-ims",
}

GRADE_MIN, GRADE_MAX = 5.0, 9.0
"""Flesch-Kincaid is only good to about 1.5 grades; the writing target is grade 6 to 8."""

PROMPT_MAX_WORDS = 25
COPY_RUN = 7
"""Any run of this many words shared with a seed document counts as copied text."""


@pytest.fixture(scope="module")
def loaded() -> LoadedContent:
    return load_content("en")


@pytest.fixture(scope="module")
def bundle(loaded: LoadedContent) -> ContentBundle:
    return loaded.bundle


@pytest.fixture
def content_copy(tmp_path: Path) -> Path:
    """A writable copy of content/en under tmp_path/en; load it with root=tmp_path."""
    shutil.copytree(CONTENT_ROOT / "en", tmp_path / "en")
    return tmp_path / "en"


def _edit_yaml(path: Path, change: Callable[[Any], None]) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def _section_file(directory: Path, section_id: str) -> Path:
    (path,) = sorted((directory / "sections").glob(f"*-{section_id}.yaml"))
    return path


# --- The packaged content loads and is complete --------------------------------------------


def test_content_loads_with_manifest(bundle: ContentBundle) -> None:
    assert bundle.language == "en"
    assert re.fullmatch(r"\d{4}\.\d+", bundle.version)
    assert bundle.title


def test_sections_in_order(bundle: ContentBundle) -> None:
    assert [s.id for s in bundle.sections] == SECTION_IDS


def test_section_files_are_numbered_in_display_order() -> None:
    names = sorted(p.name for p in (CONTENT_ROOT / "en" / "sections").glob("*.yaml"))
    assert names == [f"{n:02d}-{sid}.yaml" for n, sid in enumerate(SECTION_IDS, 1)]


def test_sections_have_key_points_and_fit_a_screen(bundle: ContentBundle) -> None:
    for section in bundle.sections:
        assert 2 <= len(section.key_points) <= 5, section.id
        words = readability(section.plain_text()).words
        assert 120 <= words <= 480, f"{section.id}: {words} words"
        assert len(section.title) <= 45, section.id


def test_quiz_has_six_questions_on_the_required_topics(bundle: ContentBundle) -> None:
    assert len(bundle.quiz) == 6
    assert {q.id: q.section for q in bundle.quiz} == QUIZ_TOPICS_SECTIONS
    for question in bundle.quiz:
        assert 3 <= len(question.options) <= 4, question.id
        assert question.option(question.correct)


def test_screening_has_sixteen_questions(bundle: ContentBundle) -> None:
    assert len(bundle.screening) == 16
    ids = [q.id for q in bundle.screening]
    assert ids[0] == "blood-thinners"
    assert ids[-2:] == ["minor-or-help-deciding", "interpreter"]


def test_decisions_statements_and_warning_signs(bundle: ContentBundle) -> None:
    assert [d.id for d in bundle.decisions] == ["agree", "decline", "discuss"]
    assert 5 <= len(bundle.statements) <= 7
    assert 3 <= len(bundle.warning_signs) <= 5
    assert any("911" in sign.text for sign in bundle.warning_signs)


def test_three_tiers_hold_every_seed_002_complication(bundle: ContentBundle) -> None:
    tiers = bundle.risk_tiers
    assert [t.id for t in tiers] == ["common", "less-common", "serious"]
    assert bundle.section("risks").risk_tiers == tiers
    for tier in tiers:
        ids = [item.id for item in tier.complications]
        missing = set(SEED_002_COMPLICATIONS[tier.id]) - set(ids)
        assert not missing, f"tier {tier.id} is missing {sorted(missing)}"


def test_frequencies_only_where_a_figure_is_sourced(bundle: ContentBundle) -> None:
    # The Brady 2014 figures for the common tier must be shown.
    common = {item.id: item for item in bundle.risk_tiers[0].complications}
    assert common["bruising"].frequency == "about 1 in 13 treatments"
    assert common["bleeding"].frequency == "about 1 in 22 treatments"
    # No source gives a rate for these, so none may be shown.
    unsourced = {"feeling-faint", "feeling-shaky", "numbness", "nerve-irritation", "infection"}
    for tier in bundle.risk_tiers:
        for item in tier.complications:
            if item.id in unsourced:
                assert item.frequency is None, item.id


def test_sha256_is_stable_and_changes_with_any_text(
    loaded: LoadedContent, content_copy: Path
) -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", loaded.sha256)
    assert load_content("en").sha256 == loaded.sha256
    assert load_content("en", root=content_copy.parent).sha256 == loaded.sha256

    path = _section_file(content_copy, "what-to-expect")
    text = path.read_text(encoding="utf-8")
    assert "twitch" in text
    path.write_text(text.replace("twitch", "jerk", 1), encoding="utf-8")
    changed = load_content("en", root=content_copy.parent)
    assert re.fullmatch(r"[0-9a-f]{64}", changed.sha256)
    assert changed.sha256 != loaded.sha256


# --- Plain language ------------------------------------------------------------------------


def test_section_reading_grades(bundle: ContentBundle) -> None:
    grades = {s.id: readability(s.plain_text()).grade for s in bundle.sections}
    outside = {k: round(v, 2) for k, v in grades.items() if not GRADE_MIN <= v <= GRADE_MAX}
    assert not outside, f"sections outside grade {GRADE_MIN}-{GRADE_MAX}: {outside}"


def test_prompts_are_short(bundle: ContentBundle) -> None:
    for question in bundle.screening:
        words = readability(question.prompt).words
        assert words <= PROMPT_MAX_WORDS, f"screening {question.id}: {words} words"
    for quiz_question in bundle.quiz:
        words = readability(quiz_question.prompt).words
        assert words <= PROMPT_MAX_WORDS, f"quiz {quiz_question.id}: {words} words"
        for option in quiz_question.options:
            words = readability(option.text).words
            assert words <= 20, f"quiz {quiz_question.id} option {option.id}: {words} words"


# --- Broken content is rejected with the file and field named ------------------------------


def _load_error(content_copy: Path) -> str:
    with pytest.raises(ContentError) as info:
        load_content("en", root=content_copy.parent)
    return str(info.value)


def test_rejects_unknown_source_id(content_copy: Path) -> None:
    path = _section_file(content_copy, "what-is-ims")

    def change(data: dict[str, Any]) -> None:
        data["blocks"][0]["sources"] = ["no-such-source"]

    _edit_yaml(path, change)
    message = _load_error(content_copy)
    assert "unknown source 'no-such-source'" in message
    # The message names the section's own file and the block at fault.
    assert f"{path}: section what-is-ims block 1" in message


def test_rejects_quiz_answer_not_among_options(content_copy: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["quiz"][1]["correct"] = "z"

    _edit_yaml(content_copy / "quiz.yaml", change)
    message = _load_error(content_copy)
    assert "quiz.yaml" in message
    assert "quiz.1" in message
    assert "'z'" in message and "not one of the options" in message


def test_rejects_missing_risk_tier(content_copy: Path) -> None:
    path = _section_file(content_copy, "risks")

    def change(data: dict[str, Any]) -> None:
        data["risk_tiers"] = [t for t in data["risk_tiers"] if t["id"] != "serious"]

    _edit_yaml(path, change)
    message = _load_error(content_copy)
    assert path.name in message
    assert "risk_tiers" in message


def test_rejects_malformed_yaml(content_copy: Path) -> None:
    path = content_copy / "screening.yaml"
    path.write_text("screening:\n  - id: [unclosed\n    prompt: x\n", encoding="utf-8")
    message = _load_error(content_copy)
    assert "screening.yaml" in message
    assert "not valid YAML" in message


def test_rejects_missing_file(content_copy: Path) -> None:
    (content_copy / "decision.yaml").unlink()
    message = _load_error(content_copy)
    assert "decision.yaml" in message
    assert "missing" in message


def test_rejects_missing_field(content_copy: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        del data["screening"][0]["flag_reason"]

    _edit_yaml(content_copy / "screening.yaml", change)
    message = _load_error(content_copy)
    assert "screening.yaml" in message
    assert "screening.0.flag_reason" in message


# --- No text copied from the client's source documents -------------------------------------


def _words(text: str) -> list[str]:
    text = text.lower().replace("\u2019", "'").replace("'", "")
    return re.findall(r"[a-z0-9]+", text)


def _runs(words: list[str], size: int) -> Iterator[tuple[str, ...]]:
    for start in range(len(words) - size + 1):
        yield tuple(words[start : start + size])


def _visible_strings(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every string in the bundle the patient (or physiotherapist) reads, with its path."""
    if isinstance(value, dict):
        for k, v in value.items():
            # Source entries are citations, not content; ids are not prose.
            if k in {"sources", "id", "kind", "section", "correct"}:
                continue
            yield from _visible_strings(v, f"{key}.{k}" if key else k)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _visible_strings(item, f"{key}.{index}")
    elif isinstance(value, str):
        yield key, value


def test_visible_strings_cover_the_content(bundle: ContentBundle) -> None:
    paths = {path.split(".")[-1] for path, _ in _visible_strings(bundle.model_dump(mode="json"))}
    for field in ("text", "title", "summary", "name", "frequency", "detail", "prompt"):
        assert field in paths
    for field in ("help", "flag_reason", "explanation", "topic"):
        assert field in paths


@pytest.fixture(scope="module")
def seed_runs() -> dict[tuple[str, ...], str]:
    """Every COPY_RUN-word run in the seed documents, mapped to the file it is in."""
    if not SEEDS_DIR.is_dir():
        pytest.skip(f"seed documents not found at {SEEDS_DIR} (../shared beside the checkout)")
    seed_files = sorted(SEEDS_DIR.glob("*.txt"))
    assert seed_files, f"no seed files in {SEEDS_DIR}"
    runs: dict[tuple[str, ...], str] = {}
    for seed in seed_files:
        for run in _runs(_words(seed.read_text(encoding="utf-8")), COPY_RUN):
            runs.setdefault(run, seed.name)
    return runs


def _copied(strings: Iterator[tuple[str, str]], seed_runs: dict[tuple[str, ...], str]) -> list[str]:
    found = []
    for path, text in strings:
        for run in _runs(_words(text), COPY_RUN):
            if run in seed_runs:
                found.append(f"{path}: {' '.join(run)!r} (in {seed_runs[run]})")
    return found


def test_copy_check_detects_seed_text(seed_runs: dict[tuple[str, ...], str]) -> None:
    # Take a passage straight from a seed file, with changed case and punctuation.
    seed = sorted(SEEDS_DIR.glob("*.txt"))[2]
    passage = " ".join(_words(seed.read_text(encoding="utf-8"))[40:52])
    doctored = {"blocks": [{"text": "Intro. " + passage.upper().replace(" ", ", ", 1)}]}
    assert _copied(_visible_strings(doctored), seed_runs)
    assert not _copied(_visible_strings({"text": "A sentence in our own words."}), seed_runs)


def test_no_text_copied_from_seed_documents(
    bundle: ContentBundle, seed_runs: dict[tuple[str, ...], str]
) -> None:
    copied = _copied(_visible_strings(bundle.model_dump(mode="json")), seed_runs)
    assert not copied, "text copied from seed documents:\n" + "\n".join(copied)


def test_print_section_grades(bundle: ContentBundle, capsys: pytest.CaptureFixture[str]) -> None:
    """Report each section's reading grade and length (shown with pytest -s or -rP)."""
    lines = []
    for section in bundle.sections:
        result = readability(section.plain_text())
        lines.append(f"{section.id:24} grade {result.grade:4.1f}  {result.words:3d} words")
    with capsys.disabled():
        print("\nReading grade per section (Flesch-Kincaid, target 6-8):")
        print("\n".join(lines))
    assert len(lines) == len(SECTION_IDS)
