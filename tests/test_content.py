"""Tests for the packaged education content (content/en).

They prove the content loads and is complete, reads at a plain-language level, is
rejected with a clear message when a data file is broken, and copies no text from the
client's source documents.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from consent_records.model import ScreeningAnswerValue
from content.check import check_content
from content.loader import CONTENT_ROOT, ContentError, LoadedContent, load_content
from content.originality import COPY_RUN, SEEDS_DIR, copied, seed_runs, visible_strings, words
from content.readability import count_syllables, readability, split_sentences
from content.schema import ContentBundle, SourceType, Urgency, wrong_for_a_substitute
from kiosk.session import ConsentSession, Position, Step, parse_about
from kiosk.settings import Settings
from tests.conftest import FIXED_NOW

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
    "saying-no": "benefits-alternatives",
}

# Precautions that public dry-needling lists carry (issue 7), by question id.
NEW_PRECAUTIONS = {
    "blood-vessels",
    "surgery-near-area",
    "breast-implants",
    "heart-valve",
    "cancer-in-area",
    "radiotherapy",
    "reduced-feeling",
    "latex-allergy",
}

PROMPT_MAX_WORDS = 25
ALL_OPTIONS = frozenset({"electrical-stimulation"})


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
    for section in bundle.as_shown(options=ALL_OPTIONS).sections:
        assert 2 <= len(section.key_points) <= 5, section.id
        count = readability(section.plain_text()).words
        assert 120 <= count <= 560, f"{section.id}: {count} words"
        assert len(section.title) <= 45, section.id


def test_key_points_are_shown_on_screen(bundle: ContentBundle) -> None:
    """The PDF lists each section's key points as shown: they are in the section's text."""
    for section in bundle.sections:
        text = section.markdown()
        assert "### Key points" in text
        for point in section.key_points:
            assert point.text in text


def test_quiz_has_six_questions_on_the_required_topics(bundle: ContentBundle) -> None:
    assert len(bundle.quiz) == 6
    assert {q.id: q.section for q in bundle.quiz} == QUIZ_TOPICS_SECTIONS
    for question in bundle.quiz:
        assert 3 <= len(question.options) <= 4, question.id
        assert question.option(question.correct)


def test_screening_asks_one_thing_at_a_time(bundle: ContentBundle) -> None:
    ids = [q.id for q in bundle.screening]
    assert set(ids) >= NEW_PRECAUTIONS
    assert "interpreter" not in ids  # offered on Welcome, before anything else
    for question in bundle.screening:
        assert question.prompt.count("?") <= 1, question.id
        # A double question ("... or have you had ...") is two questions.
        assert not re.search(r"\bor (have|do|are|did) you\b", question.prompt), question.id
    (derived,) = [q for q in bundle.screening if q.answered_from]
    assert derived.id == "young-patient"


def test_electrical_stimulation_only_with_the_clinic_setting(bundle: ContentBundle) -> None:
    plain = bundle.as_shown()
    assert "electrical-device" not in {q.id for q in plain.screening}
    for question in plain.screening:
        assert "electrical" not in (question.prompt + question.flag_reason).lower()
    assert "electrical stimulation" not in plain.section("what-to-expect").markdown().lower()
    with_it = bundle.as_shown(options=ALL_OPTIONS)
    assert "electrical-device" in {q.id for q in with_it.screening}
    assert "electrical stimulation" in with_it.section("what-to-expect").markdown().lower()


def test_decisions_statements_and_warning_signs(bundle: ContentBundle) -> None:
    assert [d.id for d in bundle.decisions] == ["agree", "decline", "discuss"]
    assert 5 <= len(bundle.statements) <= 10
    groups = bundle.warning_signs_by_urgency()
    assert groups[Urgency.EMERGENCY] and groups[Urgency.CLINIC]
    assert bundle.aftercare is not None
    assert "911" in bundle.aftercare.emergency_heading
    emergency = " ".join(sign.text for sign in groups[Urgency.EMERGENCY]).lower()
    assert "breathing in" in emergency and "next day" in emergency
    clinic = " ".join(sign.text for sign in groups[Urgency.CLINIC]).lower()
    assert "infected" in clinic and "part of a needle" in clinic


TALK_DONE = re.compile(
    r"\b(have|has|had) (talked|discussed|spoken)\b|\bafter (we|I) (have )?(talked|discussed)"
    r"|\bdiscussed\b|\bI (agree|consent) to\b|\bwe talked\b",
    re.IGNORECASE,
)


@pytest.mark.parametrize("voice", ["patient", "substitute"])
def test_choices_and_statements_never_describe_the_talk_as_done(
    bundle: ContentBundle, voice: str
) -> None:
    shown = bundle.as_shown(voice)  # type: ignore[arg-type]
    texts = [s.text for s in shown.statements] + [d.text for d in shown.decisions]
    texts += [d.next_steps or "" for d in shown.decisions]
    for text in texts:
        assert not TALK_DONE.search(text), text
    agree = shown.decision_text("agree")
    assert "plan" in agree and "after we talk" in agree


def test_substitute_wording_everywhere(bundle: ContentBundle) -> None:
    """When a substitute fills it in, every question and statement speaks of "the patient"."""
    shown = bundle.as_shown("substitute", province="ON", options=ALL_OPTIONS)
    texts: list[str] = []
    for question in shown.quiz:
        texts += [question.prompt, question.explanation, *(o.text for o in question.options)]
    for screening in shown.screening:
        texts += [screening.prompt, screening.help or ""]
    texts += [s.text for s in shown.statements]
    texts += [d.text for d in shown.decisions] + [d.next_steps or "" for d in shown.decisions]
    texts += [sign.text for sign in shown.warning_signs]
    problems = [f"{text!r} {why}" for text in texts if (why := wrong_for_a_substitute(text))]
    assert not problems, "\n".join(problems)
    assert any("the patient" in q.prompt for q in shown.screening)
    # Each education screen starts by saying whom "you" means.
    for section in shown.sections:
        assert section.markdown().startswith("*You are filling this in for the patient")


def test_every_figure_in_the_risks_section_has_its_denominator_and_a_study(
    bundle: ContentBundle,
) -> None:
    sources = {source.id: source for source in bundle.sources}
    risks = bundle.section("risks")
    cited: list[tuple[str, str, list[str]]] = [
        (f"block {i}", block.text, block.sources) for i, block in enumerate(risks.blocks, 1)
    ]
    cited += [(f"key point {i}", p.text, p.sources) for i, p in enumerate(risks.key_points, 1)]
    for tier in risks.risk_tiers:
        cited.append((f"tier {tier.id}", tier.summary, tier.sources))
        for item in tier.complications:
            text = " ".join(filter(None, [item.name, item.frequency, item.detail]))
            cited.append((item.id, text, item.sources))
    figures = 0
    for where, text, refs in cited:
        for match in re.finditer(r"\b1 in [\d,]+|\d[\d,.]* (?:times|million)", text):
            figures += 1
            after = text[match.end() : match.end() + 40]
            assert re.match(r" treatments\b| in about [\d.]+ million treatments\b", after), (
                f"{where}: {match.group(0)!r} has no denominator ({text!r})"
            )
        if re.search(r"\d", text):
            kinds = {sources[ref].source_type for ref in refs}
            assert kinds & {SourceType.STUDY, SourceType.STANDARD}, f"{where}: no study cited"
    assert figures >= 12


def _section_text(bundle: ContentBundle, section_id: str) -> str:
    plain = bundle.as_shown(options=ALL_OPTIONS).section(section_id).plain_text()
    return re.sub(r"\s+", " ", plain)


def test_no_quiz_answer_contradicts_a_section(bundle: ContentBundle) -> None:
    for question in bundle.quiz:
        section = _section_text(bundle, question.section)
        assert question.evidence, question.id
        evidence = re.sub(r"\s+", " ", question.evidence.strip())
        assert evidence in section, f"{question.id}: its evidence is not in {question.section}"
        right = question.option(question.correct).text
        # Every number in the right answer is one the section gives ...
        for number in re.findall(r"\d+", right):
            assert re.search(rf"\b{number}\b", section), f"{question.id}: {number} not in section"
        # ... and no wrong answer with a figure is a figure the section gives.
        for option in question.options:
            if option.id != question.correct and re.search(r"\d", option.text):
                claim = option.text.rstrip(".").lower()
                assert claim not in section.lower(), f"{question.id}: {option.text!r}"


def test_quiz_explanations_explain_without_naming_the_answer(bundle: ContentBundle) -> None:
    for voice in ("patient", "substitute"):
        for question in bundle.as_shown(voice).quiz:  # type: ignore[arg-type]
            right = words(question.option(question.correct).text)
            runs = {tuple(right[i : i + 4]) for i in range(len(right) - 3)}
            said = words(question.explanation)
            shared = [run for i in range(len(said) - 3) if (run := tuple(said[i : i + 4])) in runs]
            assert not shared, f"{question.id}: the explanation repeats the answer {shared}"


def test_sources_say_what_they_are_and_how_sure(bundle: ContentBundle) -> None:
    assert not bundle.problems()
    used = set()
    for path, _text in visible_strings(bundle.model_dump(mode="json")):
        del path
    dumped = bundle.model_dump(mode="json")

    def collect(value: Any) -> None:
        if isinstance(value, dict):
            used.update(value.get("sources") or [] if "text" in value or "id" in value else [])
            for v in value.values():
                collect(v)
        elif isinstance(value, list):
            for item in value:
                collect(item)

    collect({k: v for k, v in dumped.items() if k != "sources"})
    for source in bundle.sources:
        assert source.source_type is not None and source.mark is not None, source.id
    unused = {s.id for s in bundle.sources} - used
    assert not unused, f"sources nobody cites: {sorted(unused)}"


def test_three_tiers_hold_every_seed_002_complication(bundle: ContentBundle) -> None:
    tiers = bundle.risk_tiers
    assert [t.id for t in tiers] == ["common", "less-common", "serious"]
    assert bundle.section("risks").risk_tiers == tiers
    for tier in tiers:
        ids = [item.id for item in tier.complications]
        missing = set(SEED_002_COMPLICATIONS[tier.id]) - set(ids)
        assert not missing, f"tier {tier.id} is missing {sorted(missing)}"


def test_frequencies_only_where_a_figure_is_sourced(bundle: ContentBundle) -> None:
    common = {item.id: item for item in bundle.risk_tiers[0].complications}
    assert common["bruising"].frequency == "about 1 in 13 treatments"
    assert common["bleeding"].frequency == "about 1 in 22 treatments"
    # Brady's "pain after" is pain counted as a side effect, not the usual soreness.
    assert "not count" in (common["pain-after"].detail or "")
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
    assert changed.sha256 != loaded.sha256


# --- Minors and substitute decision-makers, per province ----------------------------------


@pytest.mark.parametrize(
    "province", [rule for rule in Settings.model_fields["province"].annotation.__args__]
)  # type: ignore[union-attr]
def test_a_15_year_old_is_flagged_for_capacity_not_forced_into_the_substitute_path(
    loaded: LoadedContent, province: str
) -> None:
    session = ConsentSession(Settings(province=province), loaded, lambda: FIXED_NOW)  # type: ignore[arg-type]
    session.set_filled_in_by("patient")
    born = FIXED_NOW.date().replace(year=FIXED_NOW.year - 15)
    session.set_about(
        parse_about(
            full_name="Zoë Ångström", year=str(born.year), month=str(born.month),
            day=str(born.day), chart_number="", physiotherapist_id="demo-akim",
            today=FIXED_NOW.date(), known_physiotherapists={"demo-akim"},
        )
    )  # fmt: skip
    assert Position(Step.SUBSTITUTE) not in session.path()
    rule = loaded.bundle.province(province)
    (flag,) = [f for f in session.flags() if f.question_id == "young-patient"]
    assert flag.answer is ScreeningAnswerValue.YES
    assert f"Aged 15, under the age of majority in {rule.name} ({rule.age_of_majority})" in (
        flag.reason
    )
    assert rule.for_physiotherapist.split(":")[0] in flag.reason
    assert "Filled in by the patient" in flag.reason
    # The rights section tells the patient this province's rule.
    rights = session.shown.section("your-rights").markdown()
    assert rule.for_patients.strip().split(".")[0] in " ".join(rights.split())


def test_the_age_question_agrees_with_the_date_of_birth(loaded: LoadedContent) -> None:
    session = ConsentSession(Settings(province="BC"), loaded, lambda: FIXED_NOW)
    session.set_filled_in_by("patient")
    born = FIXED_NOW.date().replace(year=FIXED_NOW.year - 18)  # 18: adult in AB, minor in BC
    about = parse_about(
        full_name="Noé Tremblay", year=str(born.year), month=str(born.month), day=str(born.day),
        chart_number="", physiotherapist_id="demo-akim", today=FIXED_NOW.date(),
        known_physiotherapists={"demo-akim"},
    )  # fmt: skip
    session.set_about(about)
    assert "young-patient" in {f.question_id for f in session.flags()}
    assert "young-patient" not in {q.id for q in session.shown.screening}  # never asked
    alberta = ConsentSession(Settings(province="AB"), loaded, lambda: FIXED_NOW)
    alberta.set_filled_in_by("patient")
    alberta.set_about(about)
    assert "young-patient" not in {f.question_id for f in alberta.flags()}


# --- Plain language, measured honestly -----------------------------------------------------

# Passages counted by hand: (text, words, sentences, syllables, words of 3+ syllables).
HAND_COUNTED = [
    ("The cat sat on the mat. It was happy.", 9, 2, 10, 0),
    # A colon does not end a sentence; "IMS" is said I-M-S (3 syllables).
    ("IMS is one kind of dry needling: thin needles go into a muscle.", 13, 1, 19, 1),
    # Numbers are said in words: 2,500 is "two thousand five hundred" (6 syllables); a
    # list item continues its sentence unless a full stop ends it.
    (
        "You can:\n- ask questions.\n- say no.\n\nAbout 1 in 2,500 treatments had it.",
        13,
        3,
        21,
        1,
    ),
    ("Soreness has usually gone within 1 to 2 days (24 to 48 hours).", 13, 1, 22, 3),
]


@pytest.mark.parametrize(("text", "n_words", "sentences", "syllables", "poly"), HAND_COUNTED)
def test_readability_counts_match_hand_counts(
    text: str, n_words: int, sentences: int, syllables: int, poly: int
) -> None:
    result = readability(text)
    assert (result.words, result.sentences, result.syllables, result.polysyllables) == (
        n_words, sentences, syllables, poly,
    )  # fmt: skip


def test_syllables_of_common_hard_cases() -> None:
    cases = {
        "physiotherapist": 6, "acupuncture": 4, "needling": 2, "muscles": 2, "likely": 2,
        "movement": 2, "treatment": 2, "infection": 3, "usually": 4, "tired": 2,
        "fatigue": 2, "techniques": 2, "COPD": 4, "24": 3, "1,000": 3, "2.5": 3,
        "called": 1, "needled": 2, "experience": 4, "area": 3,
    }  # fmt: skip
    assert {word: count_syllables(word) for word in cases} == cases
    assert split_sentences("See e.g. the list. It is 2.5 cm deep! Done?") == [
        "See e.g. the list.", "It is 2.5 cm deep!", "Done?",
    ]  # fmt: skip


def test_formulas() -> None:
    result = readability("The cat sat on the mat. It was happy.")
    assert round(result.grade, 2) == round(0.39 * 9 / 2 + 11.8 * 10 / 9 - 15.59, 2)
    hard = readability("Physiotherapists administer intramuscular stimulation.")
    assert round(hard.smog, 2) == round(1.043 * (4 * 30 / 1) ** 0.5 + 3.1291, 2)


def test_every_section_within_fk_7_and_smog_8() -> None:
    report = check_content(seeds=None)
    failing = {s.id: (round(s.fk, 1), round(s.smog, 1)) for s in report.scores if not s.passes}
    assert not failing, f"sections above FK 7 or SMOG 8: {failing}"
    assert {s.id for s in report.scores} == {*SECTION_IDS, "aftercare-sheet"}


def test_content_check_fails_a_section_made_harder_to_read(content_copy: Path) -> None:
    path = _section_file(content_copy, "preparing")

    def change(data: dict[str, Any]) -> None:
        data["blocks"].append(
            {
                "text": "Physiotherapists administering intramuscular stimulation "
                "recommend comprehensive preparation, appropriate nutrition, "
                "satisfactory hydration and adequate preliminary relaxation, "
                "particularly for individuals experiencing considerable anxiety.",
                "sources": ["seed-alberta-sheet"],
            }
        )

    _edit_yaml(path, change)
    report = check_content(root=content_copy.parent, seeds=None)
    assert not report.ok
    failing = [s.id for s in report.scores if not s.passes]
    assert failing == ["preparing"]


def test_prompts_are_short(bundle: ContentBundle) -> None:
    for voice in ("patient", "substitute"):
        shown = bundle.as_shown(voice, options=ALL_OPTIONS)  # type: ignore[arg-type]
        for question in shown.screening:
            count = readability(question.prompt).words
            assert count <= PROMPT_MAX_WORDS, f"screening {question.id}: {count} words"
        for quiz_question in shown.quiz:
            count = readability(quiz_question.prompt).words
            assert count <= PROMPT_MAX_WORDS, f"quiz {quiz_question.id}: {count} words"
            for option in quiz_question.options:
                count = readability(option.text).words
                assert count <= 20, f"quiz {quiz_question.id} option {option.id}: {count} words"


def test_list_items_end_with_a_full_stop(bundle: ContentBundle) -> None:
    """So the counter never scores a list as one long sentence."""
    for section in bundle.as_shown(options=ALL_OPTIONS).sections:
        for line in section.markdown().splitlines():
            if line.startswith("- "):
                assert line.rstrip().endswith((".", "?", "!")), f"{section.id}: {line!r}"


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


def test_visible_strings_cover_the_content(bundle: ContentBundle) -> None:
    paths = {path.split(".")[-1] for path, _ in visible_strings(bundle.model_dump(mode="json"))}
    for field in ("text", "title", "summary", "name", "frequency", "detail", "prompt"):
        assert field in paths
    for field in ("help", "flag_reason", "explanation", "topic", "prompt_substitute"):
        assert field in paths
    for field in ("for_patients", "for_physiotherapist", "next_steps", "take_home"):
        assert field in paths


@pytest.fixture(scope="module")
def known_runs() -> dict[tuple[str, ...], str]:
    if not SEEDS_DIR.is_dir():
        pytest.skip(f"seed documents not found at {SEEDS_DIR} (../shared beside the checkout)")
    seed_files = sorted(SEEDS_DIR.glob("*.txt"))
    assert seed_files, f"no seed files in {SEEDS_DIR}"
    return seed_runs(seed_files)


def test_copy_check_detects_six_words_of_seed_text(known_runs: dict[tuple[str, ...], str]) -> None:
    assert COPY_RUN == 6
    seed = sorted(SEEDS_DIR.glob("*.txt"))[2]
    passage = " ".join(words(seed.read_text(encoding="utf-8"))[40:46])  # exactly six words
    doctored = {"blocks": [{"text": "Intro. " + passage.upper().replace(" ", ", ", 1)}]}
    assert copied(visible_strings(doctored), known_runs)
    five = " ".join(passage.split()[:5])
    assert not copied(visible_strings({"text": f"Ours: {five} zebra."}), known_runs)


def test_no_text_copied_from_seed_documents(
    bundle: ContentBundle, known_runs: dict[tuple[str, ...], str]
) -> None:
    found = copied(visible_strings(bundle.model_dump(mode="json")), known_runs)
    assert not found, "text copied from seed documents:\n" + "\n".join(found)


def test_print_section_grades(capsys: pytest.CaptureFixture[str]) -> None:
    """Report each section's reading grades (shown with pytest -s or -rP)."""
    report = check_content(seeds=None)
    lines = [
        f"{s.id:24} FK {s.fk:4.1f}  SMOG {s.smog:4.1f}  {s.words:3d} words" for s in report.scores
    ]
    with capsys.disabled():
        print("\nReading grades per section (hardest variant; limits FK 7, SMOG 8):")
        print("\n".join(lines))
    assert len(lines) == len(SECTION_IDS) + 1
