"""A change a patient could see needs a new content version: the manifest records the SHA-256
each version was released with, and `content check` fails when the content no longer has it."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from content.check import check_content, format_report
from content.loader import load_content

CONTENT_ROOT = Path(__file__).resolve().parents[1] / "content"


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(CONTENT_ROOT / "en", tmp_path / "en")
    return tmp_path / "en"


def test_the_released_content_has_the_hash_its_version_recorded() -> None:
    loaded = load_content("en")
    assert loaded.history.revisions[0].sha256 == loaded.sha256
    assert check_content(seeds=None).ok


def test_a_reworded_sentence_without_a_new_version_fails_content_check(tmp_path: Path) -> None:
    content = _copy(tmp_path)
    (section,) = sorted((content / "sections").glob("*-what-is-ims.yaml"))
    text = section.read_text(encoding="utf-8")
    section.write_text(text.replace("muscle\n      knots.", "muscle knots, too."), "utf-8")
    report = check_content(root=tmp_path, seeds=None)
    assert not report.ok
    shown = "\n".join(format_report(report))
    assert "version 2026.2" in shown and "new version" in shown, shown

    # A new version, said in one line, passes (its hash is recorded when it is released).
    manifest = content / "manifest.yaml"
    data = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    data["version"] = "2026.3"
    data["changes"].insert(
        0, {"version": "2026.3", "material": False, "what_changed": "Wording in one sentence."}
    )
    manifest.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")
    assert check_content(root=tmp_path, seeds=None).ok
