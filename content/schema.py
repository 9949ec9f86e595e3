"""Pydantic schema for the education content.

The content is data (YAML files under ``content/<language>/``). These models validate it
when the kiosk starts, so a typo in a data file stops the app with a message naming the
file and field instead of showing a patient a broken screen.

Every fact a patient sees carries ``sources``: ids that must exist in the bundle's
``sources`` list. Each source names a seed document (``../shared/seeds``) or an entry of
the reference facts file, says what it is (a regulator, a law, a study, a clinic blog ...)
and how sure we are of it (content-facts' confirmed / secondary / unconfirmed marks), so a
clinic can trace every sentence back to where it came from.

Some texts are written twice: for the patient ("Do you ...") and for a substitute
decision-maker filling the form in on the patient's behalf ("Does the patient ...").
Some items show only with a clinic setting (``when: electrical-stimulation``). What one
patient is shown is :meth:`ContentBundle.as_shown`. Fields added after content 2026.1 are
optional in the model, so older archived bundles still load and their PDFs can be rebuilt;
:meth:`ContentBundle.problems` holds current content to the full rules (``content check``).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)]
"""Stable ids used in records: lower-case letters, digits and hyphens."""

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]

Line = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=400, pattern=r"^[^\n]*$")
]
"""One line of text: answer options and statements are shown on single-line controls."""

SourceRefs = Annotated[list[Identifier], Field(min_length=1)]
"""At least one source id: no fact without a source."""


class Frozen(BaseModel):
    """Base for content models: immutable, and unknown fields are errors (typos caught)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceKind(StrEnum):
    """Where the source is held."""

    SEED = "seed"
    """A client source document in ``../shared/seeds``."""
    REFERENCE = "reference"
    """An entry of ``../shared/reference/content-facts.md`` (which names the publication)."""


class SourceType(StrEnum):
    """What the source is: how much weight its word carries."""

    REGULATOR = "regulator"
    """A regulatory college or a health-quality council."""
    LAW = "law"
    """A statute, a code or a court's decision."""
    STUDY = "study"
    """A published study, review or case series with figures."""
    CASE_REPORT = "case-report"
    """One or a few patients' cases, or a complaint decision about one."""
    PROFESSIONAL_GUIDANCE = "professional-guidance"
    """A professional body's guideline or guide (not a regulator's standard)."""
    CLINIC_BLOG = "clinic-blog"
    """A clinic's or practitioner's article for the public."""
    CLINIC_FORM = "clinic-form"
    """A clinic's consent or screening form (low authority)."""
    HEALTH_WEBSITE = "health-website"
    """A general website for the public (a clinic finder, a directory)."""
    STANDARD = "standard"
    """A terminology or drafting convention (for example frequency words)."""


class Mark(StrEnum):
    """content-facts' mark for how well the fact was checked."""

    CONFIRMED = "confirmed"
    """Seen in the source's own text."""
    SECONDARY = "secondary"
    """From a secondary copy (a clinic page, an abstract reprint, a law-firm summary)."""
    UNCONFIRMED = "unconfirmed"
    """Not verified: never the only support for something a patient is told."""


class Source(Frozen):
    """Where a fact comes from."""

    id: Identifier
    kind: SourceKind
    title: Text
    locator: Text
    """Seed file name, or the fact number and citation in the reference file."""
    source_type: SourceType | None = None
    mark: Mark | None = None
    url: Text | None = None


Condition = Literal["electrical-stimulation"]
"""A clinic setting an item depends on: shown only when the clinic uses it."""

Voice = Literal["patient", "substitute"]
"""Who fills the form in: the patient, or a substitute decision-maker on their behalf."""

_SECOND_PERSON = re.compile(r"\b(you|your|yours|yourself)\b", re.IGNORECASE)
_FIRST_PERSON = re.compile(r"\b(I|my|me|I'm|I've)\b")
_PATIENT_AS_ME = re.compile(r"\bmy (physiotherapist|health|body|treatment|care)\b", re.I)


def speaks_to_the_patient(text: str) -> bool:
    """Whether ``text`` says "you" or "I/my" and so needs a substitute's wording."""
    return bool(_SECOND_PERSON.search(text) or _FIRST_PERSON.search(text))


def wrong_for_a_substitute(text: str) -> str | None:
    """Why ``text`` cannot be shown to a substitute decision-maker, or None."""
    if found := _SECOND_PERSON.search(text):
        return f"says {found.group(0)!r}"
    if found := _PATIENT_AS_ME.search(text):
        return f"says {found.group(0)!r} of the patient"
    return None


class Block(Frozen):
    """One paragraph or bullet list of a section's body, in Markdown, with its sources.

    ``{province_minors}`` in the text is replaced by the clinic's province rule for young
    patients (see :class:`ProvinceRule`).
    """

    text: Text
    sources: SourceRefs
    when: Condition | None = None


class KeyPoint(Frozen):
    """A one-sentence summary point, shown in a box at the end of its section on screen and
    printed on the PDF."""

    text: Text
    sources: SourceRefs
    when: Condition | None = None


class Complication(Frozen):
    """One possible complication, with how often it happens where a source gives a figure."""

    id: Identifier
    name: Text
    detail: Text | None = None
    frequency: Text | None = None
    """Plain-language frequency (for example "about 1 in 13 treatments"), only if sourced."""
    sources: SourceRefs


class RiskTierId(StrEnum):
    COMMON = "common"
    LESS_COMMON = "less-common"
    SERIOUS = "serious"


class RiskTier(Frozen):
    """One of the three tiers of complications."""

    id: RiskTierId
    title: Text
    summary: Text
    sources: SourceRefs
    complications: Annotated[list[Complication], Field(min_length=1)]


KEY_POINTS_HEADING = "Key points"
"""The heading of the summary box at the end of every section (and on the PDF)."""


class Section(Frozen):
    """One education screen."""

    id: Identifier
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    blocks: Annotated[list[Block], Field(min_length=1)]
    key_points: Annotated[list[KeyPoint], Field(min_length=1)]
    risk_tiers: list[RiskTier] = Field(default_factory=list)
    """Only the risks section has tiers; it must then have all three, in order."""

    @model_validator(mode="after")
    def _tiers_complete(self) -> Section:
        if self.risk_tiers:
            got = [tier.id for tier in self.risk_tiers]
            if got != list(RiskTierId):
                raise ValueError(
                    "risk_tiers must list the tiers common, less-common, serious in that order"
                )
        return self

    def markdown(self) -> str:
        """The section body as Markdown, exactly as the patient sees it: the text, the risk
        tiers, then the key points in a box of their own."""
        parts = [block.text.strip() for block in self.blocks]
        for tier in self.risk_tiers:
            parts.append(f"### {tier.title}\n\n{tier.summary.strip()}")
            lines = []
            for item in tier.complications:
                line = f"- **{item.name}**"
                line += f": {item.frequency}." if item.frequency else "."
                if item.detail:
                    line += f" {item.detail.strip()}"
                lines.append(line)
            parts.append("\n".join(lines))
        parts.append(
            "---\n\n### "
            + KEY_POINTS_HEADING
            + "\n\n"
            + "\n".join(f"- {point.text.strip()}" for point in self.key_points)
        )
        return "\n\n".join(parts)

    def plain_text(self) -> str:
        """The body without Markdown symbols (for reading-grade scoring)."""
        text = self.markdown()
        text = re.sub(r"^#+[ \t]*", "", text, flags=re.MULTILINE)
        text = re.sub(r"^[ \t]*[-*][ \t]+", "", text, flags=re.MULTILINE)
        text = re.sub(r"^-{3,}\s*$", "", text, flags=re.MULTILINE)
        return text.replace("**", "").replace("_", "")


class QuizOption(Frozen):
    id: Identifier
    text: Line
    text_substitute: Line | None = None


class QuizQuestion(Frozen):
    """A multiple-choice teach-back question."""

    id: Identifier
    topic: Text
    """What the question checks, shown to the physiotherapist (for example "Right to stop")."""
    prompt: Text
    options: Annotated[list[QuizOption], Field(min_length=2, max_length=5)]
    correct: Identifier
    explanation: Text
    """Explains the point after a wrong answer, without naming the right option, so the
    second try still checks understanding."""
    section: Identifier
    """The education section that covers the point."""
    sources: SourceRefs
    evidence: Text | None = None
    """Words of the section (as the patient reads them) that support the right answer."""
    prompt_substitute: Text | None = None
    explanation_substitute: Text | None = None

    @model_validator(mode="after")
    def _correct_is_an_option(self) -> QuizQuestion:
        ids = [option.id for option in self.options]
        if len(set(ids)) != len(ids):
            raise ValueError("option ids must be unique")
        if self.correct not in ids:
            raise ValueError(f"correct answer {self.correct!r} is not one of the options {ids}")
        return self

    def option(self, option_id: str) -> QuizOption:
        for option in self.options:
            if option.id == option_id:
                return option
        raise KeyError(option_id)


class ScreeningQuestion(Frozen):
    """A health screening question; a Yes or Not sure flags the record for discussion."""

    id: Identifier
    prompt: Text
    help: Text | None = None
    flag_reason: Text
    """Plain reason shown to the physiotherapist when this question is flagged."""
    sources: SourceRefs
    prompt_substitute: Text | None = None
    help_substitute: Text | None = None
    when: Condition | None = None
    answered_from: Literal["date-of-birth"] | None = None
    """Not asked: the kiosk answers it from the date of birth and the clinic's province."""


class Statement(Frozen):
    """A statement the patient confirms before deciding."""

    id: Identifier
    text: Line
    text_substitute: Line | None = None


class DecisionChoice(StrEnum):
    AGREE = "agree"
    DECLINE = "decline"
    DISCUSS = "discuss"


class DecisionOption(Frozen):
    id: DecisionChoice
    text: Line
    text_substitute: Line | None = None
    next_steps: Text | None = None
    """What happens next after this choice (the Done screen)."""
    next_steps_substitute: Text | None = None


class Urgency(StrEnum):
    EMERGENCY = "emergency"
    """Call emergency services now."""
    CLINIC = "clinic"
    """Call the clinic, or see a doctor, the same day."""


class WarningSign(Frozen):
    """A sign after treatment that needs care; on the Done screen and the take-home sheet.

    Written without "you", so the same words serve a patient and a substitute.
    """

    text: Text
    sources: SourceRefs
    urgency: Urgency | None = None


class ProvinceRule(Frozen):
    """Who may consent in one province or territory: the age of majority and the rule for
    young patients, for the physiotherapist (flag) and for patients (education)."""

    code: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
    name: Text
    age_of_majority: Annotated[int, Field(ge=16, le=21)]
    for_physiotherapist: Text
    """Appended to the young-patient flag: what the law says and what to assess."""
    for_patients: Text
    """A sentence or two for the rights section (``{province_minors}``)."""
    sources: SourceRefs


class AdviceItem(Frozen):
    text: Text
    sources: SourceRefs


class Aftercare(Frozen):
    """The take-home sheet and the Done screen's wording around the warning signs."""

    title: Text
    intro: Text
    emergency_heading: Text
    clinic_heading: Text
    advice_heading: Text
    advice: Annotated[list[AdviceItem], Field(min_length=1)]
    take_home: Text
    """The Done screen's line telling the patient to ask the front desk for the sheet."""


class ContentBundle(Frozen):
    """Everything a patient is shown, in one language, at one version."""

    version: Annotated[str, StringConstraints(pattern=r"^\d{4}\.\d+(\.\d+)?$")]
    """Calendar version, for example ``2026.1``. Bump it on any change a patient could see."""
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")]
    title: Text
    sources: Annotated[list[Source], Field(min_length=1)]
    sections: Annotated[list[Section], Field(min_length=1)]
    quiz: Annotated[list[QuizQuestion], Field(min_length=5, max_length=6)]
    screening: Annotated[list[ScreeningQuestion], Field(min_length=1)]
    statements: Annotated[list[Statement], Field(min_length=1)]
    decisions: Annotated[list[DecisionOption], Field(min_length=3, max_length=3)]
    warning_signs: Annotated[list[WarningSign], Field(min_length=1)]
    kind: Literal["ims-consent-content"] = "ims-consent-content"
    provinces: list[ProvinceRule] = Field(default_factory=list)
    aftercare: Aftercare | None = None
    substitute_note: Text | None = None
    """Shown at the top of each section when a substitute decision-maker fills the form in."""

    @model_validator(mode="after")
    def _cross_references(self) -> ContentBundle:
        problems: list[str] = []
        source_ids = [source.id for source in self.sources]
        known = set(source_ids)
        if len(known) != len(source_ids):
            problems.append("source ids must be unique")

        def check_sources(where: str, refs: list[str]) -> None:
            for ref in refs:
                if ref not in known:
                    problems.append(f"{where}: unknown source {ref!r}")

        for kind, ids in (
            ("section", [s.id for s in self.sections]),
            ("quiz question", [q.id for q in self.quiz]),
            ("screening question", [q.id for q in self.screening]),
            ("statement", [s.id for s in self.statements]),
        ):
            if len(set(ids)) != len(ids):
                problems.append(f"{kind} ids must be unique")
        complication_ids = [
            item.id for s in self.sections for tier in s.risk_tiers for item in tier.complications
        ]
        if len(set(complication_ids)) != len(complication_ids):
            problems.append("complication ids must be unique")

        section_ids = {s.id for s in self.sections}
        for section in self.sections:
            for index, block in enumerate(section.blocks, 1):
                check_sources(f"section {section.id} block {index}", block.sources)
            for index, point in enumerate(section.key_points, 1):
                check_sources(f"section {section.id} key point {index}", point.sources)
            for tier in section.risk_tiers:
                check_sources(f"section {section.id} tier {tier.id}", tier.sources)
                for item in tier.complications:
                    check_sources(f"complication {item.id}", item.sources)
        for question in self.quiz:
            check_sources(f"quiz question {question.id}", question.sources)
            if question.section not in section_ids:
                problems.append(
                    f"quiz question {question.id}: unknown section {question.section!r}"
                )
        for screening in self.screening:
            check_sources(f"screening question {screening.id}", screening.sources)
        for index, sign in enumerate(self.warning_signs, 1):
            check_sources(f"warning sign {index}", sign.sources)
        codes = [rule.code for rule in self.provinces]
        if len(set(codes)) != len(codes):
            problems.append("province codes must be unique")
        for rule in self.provinces:
            check_sources(f"province {rule.code}", rule.sources)
        if self.aftercare is not None:
            for index, advice in enumerate(self.aftercare.advice, 1):
                check_sources(f"aftercare advice {index}", advice.sources)
        if sum(1 for s in self.sections if s.risk_tiers) != 1:
            problems.append("exactly one section must list the risk tiers")
        if sorted(d.id for d in self.decisions) != sorted(DecisionChoice):
            problems.append("decisions must offer agree, decline and discuss once each")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # -- what one patient is shown -----------------------------------------------------------

    def province(self, code: str) -> ProvinceRule:
        for rule in self.provinces:
            if rule.code == code:
                return rule
        raise KeyError(code)

    def as_shown(
        self,
        voice: Voice = "patient",
        *,
        province: str | None = None,
        options: frozenset[str] = frozenset(),
    ) -> ContentBundle:
        """This bundle as one patient sees it: the substitute's wording when a substitute
        decision-maker fills it in, only the items whose clinic setting is on (``options``),
        the province's rule for young patients, and without the questions the kiosk answers
        itself. A display copy: it is not validated again and is never hashed or stored."""
        substitute = voice == "substitute"
        rule = self.province(province) if province and self.provinces else None

        def shown(item_when: str | None) -> bool:
            return item_when is None or item_when in options

        def fill(text: str) -> str:
            if "{province_minors}" in text:
                text = text.replace(
                    "{province_minors}", rule.for_patients.strip() if rule else ""
                ).strip()
            return text

        def pick(text: str, other: str | None) -> str:
            return other if substitute and other else text

        sections = []
        for section in self.sections:
            blocks = [
                block.model_copy(update={"text": fill(block.text)})
                for block in section.blocks
                if shown(block.when)
            ]
            if substitute and self.substitute_note:
                note = f"*{self.substitute_note.strip()}*"
                blocks.insert(0, Block.model_construct(text=note, sources=[], when=None))
            points = [point for point in section.key_points if shown(point.when)]
            sections.append(section.model_copy(update={"blocks": blocks, "key_points": points}))
        quiz = [
            question.model_copy(
                update={
                    "prompt": pick(question.prompt, question.prompt_substitute),
                    "explanation": pick(question.explanation, question.explanation_substitute),
                    "options": [
                        option.model_copy(
                            update={"text": pick(option.text, option.text_substitute)}
                        )
                        for option in question.options
                    ],
                }
            )
            for question in self.quiz
        ]
        screening = [
            question.model_copy(
                update={
                    "prompt": pick(question.prompt, question.prompt_substitute),
                    "help": pick(question.help, question.help_substitute)
                    if question.help
                    else None,
                }
            )
            for question in self.screening
            if shown(question.when) and question.answered_from is None
        ]
        statements = [
            statement.model_copy(update={"text": pick(statement.text, statement.text_substitute)})
            for statement in self.statements
        ]
        decisions = [
            option.model_copy(
                update={
                    "text": pick(option.text, option.text_substitute),
                    "next_steps": pick(option.next_steps, option.next_steps_substitute)
                    if option.next_steps
                    else None,
                }
            )
            for option in self.decisions
        ]
        return self.model_copy(
            update={
                "sections": sections,
                "quiz": quiz,
                "screening": screening,
                "statements": statements,
                "decisions": decisions,
            }
        )

    def warning_signs_by_urgency(self) -> dict[Urgency, list[WarningSign]]:
        """The warning signs grouped, most urgent first (signs without a level count as
        emergencies: the safe side)."""
        groups: dict[Urgency, list[WarningSign]] = {level: [] for level in Urgency}
        for sign in self.warning_signs:
            groups[sign.urgency or Urgency.EMERGENCY].append(sign)
        return groups

    def problems(self) -> list[str]:
        """What keeps this content from the full rules that new content must meet.

        Checked by ``content check`` and on loading the packaged content (archived older
        bundles are not held to rules added after them).
        """
        problems: list[str] = []
        sources = {source.id: source for source in self.sources}
        for source in self.sources:
            if source.source_type is None or source.mark is None:
                problems.append(f"source {source.id}: needs source_type and mark")

        def cited(where: str, refs: list[str], *, facts: bool = True) -> None:
            if (
                facts
                and refs
                and all(sources[ref].mark is Mark.UNCONFIRMED for ref in refs if ref in sources)
            ):
                problems.append(f"{where}: rests only on unconfirmed sources {refs}")

        def voiced(where: str, text: str, other: str | None) -> None:
            if other is None:
                if speaks_to_the_patient(text):
                    problems.append(f"{where}: needs a substitute's wording ({text[:40]!r}...)")
                return
            if reason := wrong_for_a_substitute(other):
                problems.append(f"{where}: the substitute's wording {reason}")

        for section in self.sections:
            for index, block in enumerate(section.blocks, 1):
                cited(f"section {section.id} block {index}", block.sources)
            for index, point in enumerate(section.key_points, 1):
                cited(f"section {section.id} key point {index}", point.sources)
            for tier in section.risk_tiers:
                for item in tier.complications:
                    cited(f"complication {item.id}", item.sources)
        for question in self.quiz:
            cited(f"quiz question {question.id}", question.sources)
            if not question.evidence:
                problems.append(f"quiz question {question.id}: needs evidence from its section")
            voiced(
                f"quiz question {question.id} prompt", question.prompt, question.prompt_substitute
            )
            voiced(
                f"quiz question {question.id} explanation",
                question.explanation,
                question.explanation_substitute,
            )
            for option in question.options:
                voiced(
                    f"quiz question {question.id} option {option.id}",
                    option.text,
                    option.text_substitute,
                )
        for screening in self.screening:
            # A question asserts nothing, so it may rest on an unconfirmed list.
            voiced(
                f"screening question {screening.id}", screening.prompt, screening.prompt_substitute
            )
            if screening.help:
                voiced(
                    f"screening question {screening.id} help",
                    screening.help,
                    screening.help_substitute,
                )
        for statement in self.statements:
            voiced(f"statement {statement.id}", statement.text, statement.text_substitute)
        for decision in self.decisions:
            where = f"decision {decision.id.value}"
            voiced(where, decision.text, decision.text_substitute)
            if not decision.next_steps:
                problems.append(f"{where}: needs next_steps")
            else:
                voiced(f"{where} next steps", decision.next_steps, decision.next_steps_substitute)
        for index, sign in enumerate(self.warning_signs, 1):
            cited(f"warning sign {index}", sign.sources)
            if sign.urgency is None:
                problems.append(f"warning sign {index}: needs urgency")
            if reason := wrong_for_a_substitute(sign.text):
                problems.append(f"warning sign {index}: {reason} (write it for anyone)")
        if not self.provinces:
            problems.append("provinces: the rules for young patients are missing")
        if self.aftercare is None:
            problems.append("aftercare: the take-home advice is missing")
        else:
            for index, advice in enumerate(self.aftercare.advice, 1):
                cited(f"aftercare advice {index}", advice.sources)
        if not self.substitute_note:
            problems.append("substitute_note is missing")
        if not any(q.answered_from == "date-of-birth" for q in self.screening):
            problems.append("screening: no question is answered from the date of birth")
        return problems

    def section(self, section_id: str) -> Section:
        for section in self.sections:
            if section.id == section_id:
                return section
        raise KeyError(section_id)

    def question(self, question_id: str) -> QuizQuestion:
        for question in self.quiz:
            if question.id == question_id:
                return question
        raise KeyError(question_id)

    def screening_question(self, question_id: str) -> ScreeningQuestion:
        for question in self.screening:
            if question.id == question_id:
                return question
        raise KeyError(question_id)

    def statement(self, statement_id: str) -> Statement:
        for statement in self.statements:
            if statement.id == statement_id:
                return statement
        raise KeyError(statement_id)

    def decision_text(self, choice: str) -> str:
        """The wording of a decision (``choice`` is a DecisionChoice or its value)."""
        for option in self.decisions:
            if option.id == choice:
                return option.text
        raise KeyError(choice)

    @property
    def risk_tiers(self) -> list[RiskTier]:
        """The three complication tiers, from the risks section."""
        for section in self.sections:
            if section.risk_tiers:
                return list(section.risk_tiers)
        return []
