"""The content manifest's change history: which versions are material, and what changed."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from content.history import ContentHistory, ContentRevision, version_key
from content.loader import CONTENT_ROOT, ContentError, load_content


def rev(version: str, material: bool = True, what: str = "Changed.") -> ContentRevision:
    return ContentRevision(version=version, material=material, what_changed=what)


def test_versions_compare_by_number() -> None:
    assert version_key("2026.10") > version_key("2026.9")
    assert version_key("2026.1") == version_key("2026.1.0") < version_key("2026.1.1")
    with pytest.raises(ValueError, match="not a content version"):
        version_key("2026")


def test_history_lists_newest_first_once() -> None:
    with pytest.raises(ValidationError, match="newest first"):
        ContentHistory(revisions=(rev("2026.1"), rev("2026.2")))
    with pytest.raises(ValidationError, match="newest first"):
        ContentHistory(revisions=(rev("2026.1"), rev("2026.1.0")))
    with pytest.raises(ValidationError):
        rev("2026.2", what="two\nlines")


def test_material_changes_since_a_version() -> None:
    history = ContentHistory(
        revisions=(rev("2027.1", False), rev("2026.3"), rev("2026.2", False), rev("2026.1"))
    )
    assert history.current == "2027.1"
    assert [r.version for r in history.since("2026.1")] == ["2026.2", "2026.3", "2027.1"]
    assert [r.version for r in history.material_since("2026.1")] == ["2026.3"]
    assert history.material_since("2026.3") == ()
    assert [r.version for r in history.material_since("2025.9")] == ["2026.1", "2026.3"]


def test_packaged_content_declares_its_current_version() -> None:
    loaded = load_content()
    assert loaded.history.current == loaded.bundle.version
    assert loaded.history.revisions[0].what_changed


def _copy_content(tmp_path: Path) -> Path:
    shutil.copytree(CONTENT_ROOT / "en", tmp_path / "en")
    return tmp_path / "en" / "manifest.yaml"


def test_history_is_not_part_of_the_hashed_content(tmp_path: Path) -> None:
    manifest = _copy_content(tmp_path)
    before = load_content(root=tmp_path).sha256
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text.replace("First version", "The first version"), encoding="utf-8")
    assert load_content(root=tmp_path).sha256 == before == load_content().sha256


def test_a_version_bump_without_its_change_line_is_refused(tmp_path: Path) -> None:
    manifest = _copy_content(tmp_path)
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(
        re.sub(r'^version: "[^"]+"$', 'version: "2026.9"', text, count=1, flags=re.M)
    )
    with pytest.raises(ContentError, match=r"manifest.yaml: changes must start with the current"):
        load_content(root=tmp_path)
    manifest.write_text(text.replace("material: true", "material: maybe"), encoding="utf-8")
    with pytest.raises(ContentError, match=r"manifest.yaml: changes.0.material"):
        load_content(root=tmp_path)
