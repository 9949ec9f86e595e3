"""``ims-kiosk content check``: is the content ready to show patients?

It loads and validates the content (every fact cited, every rule of
:meth:`~content.schema.ContentBundle.problems`), scores every section's reading grade as
each patient could be shown it (the patient's and a substitute's wording, every province,
with and without the clinic settings that add text) and fails a section above
Flesch-Kincaid grade 7 or SMOG grade 8, and, where the client's source documents are
beside the checkout, fails any run of six words copied from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

from content.loader import LoadedContent, load_content
from content.originality import COPY_RUN, SEEDS_DIR, copied, seed_runs, visible_strings
from content.readability import FK_MAX, SMOG_MAX, Readability, readability
from content.schema import ContentBundle, Voice

OPTIONS: tuple[frozenset[str], ...] = (frozenset(), frozenset({"electrical-stimulation"}))
"""Every combination of the clinic settings that change the text."""

VOICES: tuple[Voice, ...] = ("patient", "substitute")


@dataclass(frozen=True, slots=True)
class Score:
    """A section's hardest reading (the variant with the highest grade of each kind)."""

    id: str
    words: int
    fk: float
    smog: float

    @property
    def passes(self) -> bool:
        return round(self.fk, 1) <= FK_MAX and round(self.smog, 1) <= SMOG_MAX


@dataclass
class Report:
    loaded: LoadedContent
    scores: list[Score] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)
    seeds_checked: bool = False

    @property
    def released_as(self) -> str | None:
        """The hash the current version was released with, when the content differs."""
        revisions = self.loaded.history.revisions
        recorded = revisions[0].sha256 if revisions else None
        return recorded if recorded not in (None, self.loaded.sha256) else None

    @property
    def ok(self) -> bool:
        return (
            all(score.passes for score in self.scores)
            and not self.copied
            and self.released_as is None
        )


def _variants(bundle: ContentBundle) -> list[ContentBundle]:
    provinces: list[str | None] = [rule.code for rule in bundle.provinces] or [None]
    return [
        bundle.as_shown(voice, province=code, options=options)
        for voice, code, options in product(VOICES, provinces, OPTIONS)
    ]


def aftercare_text(bundle: ContentBundle) -> str:
    """The take-home sheet's words, for scoring like a section."""
    parts = [sign.text for sign in bundle.warning_signs]
    if bundle.aftercare is not None:
        care = bundle.aftercare
        parts = [care.intro, care.emergency_heading, care.clinic_heading, *parts]
        parts += [care.advice_heading, *(item.text for item in care.advice), care.take_home]
    return "\n\n".join(parts)


def score_sections(bundle: ContentBundle) -> list[Score]:
    """Each section's hardest variant, then the take-home sheet."""
    worst: dict[str, tuple[Readability, Readability]] = {}
    for shown in _variants(bundle):
        for section in shown.sections:
            result = readability(section.plain_text())
            fk, smog = worst.get(section.id, (result, result))
            worst[section.id] = (
                result if result.grade > fk.grade else fk,
                result if result.smog > smog.smog else smog,
            )
    scores = [
        Score(section.id, max(fk.words, smog.words), fk.grade, smog.smog)
        for section in bundle.sections
        for fk, smog in [worst[section.id]]
    ]
    sheet = readability(aftercare_text(bundle))
    scores.append(Score("aftercare-sheet", sheet.words, sheet.grade, sheet.smog))
    return scores


def check_content(
    language: str = "en", *, root: Path | None = None, seeds: Path | None = SEEDS_DIR
) -> Report:
    """Load (raises ContentError), score and compare the content with the seeds."""
    loaded = load_content(language, root=root)
    report = Report(loaded, scores=score_sections(loaded.bundle))
    if seeds is not None and seeds.is_dir():
        known = seed_runs(sorted(seeds.glob("*.txt")))
        report.copied = copied(visible_strings(loaded.bundle.model_dump(mode="json")), known)
        report.seeds_checked = True
    return report


def format_report(report: Report) -> list[str]:
    bundle = report.loaded.bundle
    lines = [
        f"Content {bundle.version} ({bundle.language}) is valid. SHA-256 {report.loaded.sha256}",
        f"{len(bundle.sections)} sections, {len(bundle.quiz)} quiz questions, "
        f"{len(bundle.screening)} screening questions, {len(bundle.sources)} sources, "
        f"{len(bundle.provinces)} provinces and territories.",
        "",
        f"{'section':<24} {'words':>6} {'FK':>5} {'SMOG':>5}",
    ]
    for score in report.scores:
        mark = "" if score.passes else f"  <- above FK {FK_MAX:g} or SMOG {SMOG_MAX:g}"
        lines.append(f"{score.id:<24} {score.words:>6} {score.fk:>5.1f} {score.smog:>5.1f}{mark}")
    lines += [
        "",
        f"Grades are the hardest of every variant a patient can see (their own or a "
        f"substitute's wording, each province, each clinic setting). Limits: Flesch-Kincaid "
        f"{FK_MAX:g}, SMOG {SMOG_MAX:g}; both formulas are good to about 1.5 grades.",
    ]
    if report.released_as is not None:
        lines.append(
            f"The content differs from what version {bundle.version} was released as "
            f"(SHA-256 {report.released_as}): a change a patient could see needs a new "
            "version in manifest.yaml, with one line under changes saying what changed."
        )
    if report.seeds_checked:
        if report.copied:
            lines.append(f"Text copied from the source documents ({COPY_RUN} words or more):")
            lines += [f"  {line}" for line in report.copied]
        else:
            lines.append(f"No run of {COPY_RUN} words is shared with the source documents.")
    else:
        lines.append("Source documents not found beside the checkout: copy check skipped.")
    return lines
