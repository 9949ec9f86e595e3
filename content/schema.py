"""Pydantic schema for the education content.

The content is data (YAML files under ``content/<language>/``). These models validate it
when the kiosk starts, so a typo in a data file stops the app with a message naming the
file and field instead of showing a patient a broken screen.

Every fact a patient sees carries ``sources``: ids that must exist in the bundle's
``sources`` list. Each source names a seed document (``../shared/seeds``) or an entry of
the reference facts file, so a clinic can trace every sentence back to where it came from.
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
    SEED = "seed"
    """A client source document in ``../shared/seeds``."""
    REFERENCE = "reference"
    """An entry of ``../shared/reference/content-facts.md`` (which names the publication)."""


class Source(Frozen):
    """Where a fact comes from."""

    id: Identifier
    kind: SourceKind
    title: Text
    locator: Text
    """Seed file name, or the fact number and citation in the reference file."""


class Block(Frozen):
    """One paragraph or bullet list of a section's body, in Markdown, with its sources."""

    text: Text
    sources: SourceRefs


class KeyPoint(Frozen):
    """A one-sentence summary point; the PDF prints these for each section."""

    text: Text
    sources: SourceRefs


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
        """The section body as Markdown, exactly as the patient sees it."""
        parts = [block.text.strip() for block in self.blocks]
        for tier in self.risk_tiers:
            parts.append(f"### {tier.title}\n\n{tier.summary.strip()}")
            lines = []
            for item in tier.complications:
                line = f"- **{item.name}**"
                if item.frequency:
                    line += f" ({item.frequency})"
                if item.detail:
                    line += f": {item.detail}"
                lines.append(line)
            parts.append("\n".join(lines))
        return "\n\n".join(parts)

    def plain_text(self) -> str:
        """The body without Markdown symbols (for reading-grade scoring)."""
        text = self.markdown()
        text = re.sub(r"^#+\s*", "", text, flags=re.MULTILINE)
        text = re.sub(r"^\s*[-*]\s+", "", text, flags=re.MULTILINE)
        return text.replace("**", "").replace("_", "")


class QuizOption(Frozen):
    id: Identifier
    text: Line


class QuizQuestion(Frozen):
    """A multiple-choice teach-back question."""

    id: Identifier
    topic: Text
    """What the question checks, shown to the physiotherapist (for example "Right to stop")."""
    prompt: Text
    options: Annotated[list[QuizOption], Field(min_length=2, max_length=5)]
    correct: Identifier
    explanation: Text
    """Why the right answer is right; shown after a wrong answer."""
    section: Identifier
    """The education section that covers the point."""
    sources: SourceRefs

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


class Statement(Frozen):
    """A statement the patient confirms before deciding."""

    id: Identifier
    text: Line


class DecisionChoice(StrEnum):
    AGREE = "agree"
    DECLINE = "decline"
    DISCUSS = "discuss"


class DecisionOption(Frozen):
    id: DecisionChoice
    text: Line


class WarningSign(Frozen):
    """A sign after treatment that needs urgent care; shown again on the Done screen."""

    text: Text
    sources: SourceRefs


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
        if sum(1 for s in self.sections if s.risk_tiers) != 1:
            problems.append("exactly one section must list the risk tiers")
        if sorted(d.id for d in self.decisions) != sorted(DecisionChoice):
            problems.append("decisions must offer agree, decline and discuss once each")
        if problems:
            raise ValueError("; ".join(problems))
        return self

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
