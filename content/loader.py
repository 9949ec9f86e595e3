"""Load and validate the education content from its YAML data files.

Layout of one language (``content/en/``)::

    manifest.yaml     version, language, title, the note shown to a substitute
    sources.yaml      the sources every fact cites
    sections/*.yaml   one education section per file, shown in file-name order
    quiz.yaml         the understanding check
    screening.yaml    the health screening questions
    decision.yaml     statements to confirm, the three decisions, warning signs
    provinces.yaml    who may consent, per province and territory (young patients)
    aftercare.yaml    the take-home advice sheet and the Done screen's wording
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from content.history import ContentHistory
from content.schema import ContentBundle

_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

CONTENT_ROOT = Path(__file__).resolve().parent
DEFAULT_LANGUAGE = "en"


class ContentError(Exception):
    """The content files are missing or invalid. The message names the file and field."""


@dataclass(frozen=True, slots=True)
class LoadedContent:
    """A validated bundle with the hash of exactly what it shows."""

    bundle: ContentBundle
    sha256: str
    """SHA-256 of the bundle's canonical JSON: what the patient saw, byte for byte."""
    canonical_json: bytes
    """The canonical JSON itself, so the store can archive the exact content by hash."""
    directory: Path
    history: ContentHistory = field(default_factory=ContentHistory)
    """The manifest's ``changes``: which versions were material (content/history.py)."""


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON: sorted keys, no spaces, UTF-8 (the form every hash is taken of)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ContentError(f"{path}: the file is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ContentError(f"{path}: cannot be read ({exc})") from None
    try:
        # libyaml's loader is about seven times faster, and this runs on the kiosk's start.
        return yaml.load(text, Loader=_SafeLoader)
    except yaml.YAMLError as exc:
        raise ContentError(f"{path}: is not valid YAML ({exc})") from None


def _as_mapping(path: Path, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ContentError(f"{path}: must hold a mapping of fields, not {type(data).__name__}")
    return data


def _origin(loc: tuple[int | str, ...], files: dict[str, Path], section_files: list[Path]) -> str:
    """Name the data file an error location came from."""
    if (
        len(loc) > 1
        and loc[0] == "sections"
        and isinstance(loc[1], int)
        and loc[1] < len(section_files)
    ):
        return str(section_files[loc[1]])
    if loc and isinstance(loc[0], str) and loc[0] in files:
        return str(files[loc[0]])
    return str(files["version"])


def _problem_origin(
    problem: str, data: dict[str, Any], files: dict[str, Path], section_files: list[Path]
) -> Path:
    """The file a cross-reference problem (from ContentBundle's validator) comes from."""
    for index, section in enumerate(data.get("sections") or []):
        section_id = section.get("id") if isinstance(section, dict) else None
        complications = [
            item.get("id")
            for tier in (section.get("risk_tiers") or [] if isinstance(section, dict) else [])
            if isinstance(tier, dict)
            for item in tier.get("complications") or []
            if isinstance(item, dict)
        ]
        if problem.startswith(f"section {section_id} ") or any(
            problem.startswith(f"complication {c}:") for c in complications
        ):
            return section_files[index]
    for prefix, key in (
        ("quiz question", "quiz"),
        ("screening question", "screening"),
        ("statement", "statements"),
        ("warning sign", "warning_signs"),
        ("decisions", "decisions"),
        ("source", "sources"),
        ("province", "provinces"),
        ("aftercare", "aftercare"),
    ):
        if problem.startswith(prefix):
            return files[key]
    return files["version"]


def load_content(
    language: str = DEFAULT_LANGUAGE, root: Path | None = None, *, strict: bool = True
) -> LoadedContent:
    """Read, validate and hash one language's content.

    ``strict`` also holds it to :meth:`ContentBundle.problems` (every rule new content must
    meet: substitute wording, urgency levels, source marks ...).

    Raises:
        ContentError: naming the file and field that is wrong.
    """
    directory = (root or CONTENT_ROOT) / language
    if not directory.is_dir():
        raise ContentError(f"{directory}: no content for language {language!r}")
    manifest_path = directory / "manifest.yaml"
    files: dict[str, Path] = {
        "version": manifest_path,
        "language": manifest_path,
        "title": manifest_path,
        "sources": directory / "sources.yaml",
        "quiz": directory / "quiz.yaml",
        "screening": directory / "screening.yaml",
        "statements": directory / "decision.yaml",
        "decisions": directory / "decision.yaml",
        "warning_signs": directory / "decision.yaml",
        "provinces": directory / "provinces.yaml",
        "aftercare": directory / "aftercare.yaml",
        "substitute_note": manifest_path,
    }
    data: dict[str, Any] = dict(_as_mapping(manifest_path, _read_yaml(manifest_path)))
    # Not shown to patients, so not part of the hashed content.
    changes = data.pop("changes", None)
    for key in ("sources", "quiz", "screening", "provinces", "aftercare"):
        data[key] = _as_mapping(files[key], _read_yaml(files[key])).get(key)
    decision = _as_mapping(files["statements"], _read_yaml(files["statements"]))
    for key in ("statements", "decisions", "warning_signs"):
        data[key] = decision.get(key)
    section_files = sorted((directory / "sections").glob("*.yaml"))
    if not section_files:
        raise ContentError(f"{directory / 'sections'}: no section files")
    data["sections"] = [_as_mapping(path, _read_yaml(path)) for path in section_files]
    try:
        bundle = ContentBundle.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            if not loc:  # cross-reference problems: attribute each to its own file
                for problem in error["msg"].removeprefix("Value error, ").split("; "):
                    path = _problem_origin(problem, data, files, section_files)
                    lines.append(f"{path}: {problem}")
                continue
            where = ".".join(str(part) for part in loc)
            lines.append(f"{_origin(loc, files, section_files)}: {where}: {error['msg']}")
        raise ContentError("The education content is not valid:\n  " + "\n  ".join(lines)) from None
    if strict and (problems := bundle.problems()):
        lines = [f"{_problem_origin(p, data, files, section_files)}: {p}" for p in problems]
        raise ContentError("The education content is not ready:\n  " + "\n  ".join(lines))
    history = _history(manifest_path, changes, bundle.version)
    blob = canonical_json(bundle.model_dump(mode="json"))
    return LoadedContent(
        bundle=bundle,
        sha256=hashlib.sha256(blob).hexdigest(),
        canonical_json=blob,
        directory=directory,
        history=history,
    )


def _history(path: Path, changes: Any, version: str) -> ContentHistory:
    """The manifest's ``changes``, which must start with the current version."""
    try:
        history = ContentHistory.model_validate({"revisions": changes or ()})
    except ValidationError as exc:
        where = "; ".join(
            f"changes.{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}".replace(".: ", ": ")
            for e in exc.errors()
        )
        raise ContentError(f"{path}: {where}") from None
    if history.current != version:
        raise ContentError(
            f"{path}: changes must start with the current version {version} (say whether "
            "it is material, and what changed in one line; see content/history.py)"
        )
    return history


@lru_cache(maxsize=4)
def cached_content(language: str = DEFAULT_LANGUAGE) -> LoadedContent:
    """The packaged content for a language, loaded once per process."""
    return load_content(language)


def available_languages(root: Path | None = None) -> list[str]:
    base = root or CONTENT_ROOT
    return sorted(p.parent.name for p in base.glob("*/manifest.yaml"))
