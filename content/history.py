"""Which content versions changed something material, and what, in one line each.

Each language's ``manifest.yaml`` lists its versions under ``changes``, newest first::

    version: "2026.2"
    changes:
      - version: "2026.2"
        material: true
        what_changed: "Risks: corrected how often serious problems happen."
      - version: "2026.1"
        material: true
        what_changed: "First version."

A change is **material** when a patient who saw the older version might decide differently
with the newer one (a risk added or its frequency changed, a new warning sign, a changed
statement they sign). Wording, layout and typo fixes are not material. An active consent
given on a version older than a material change shows "re-consent needed" with the
``what_changed`` lines of every material version since (:mod:`consent_records.lifecycle`).

The list is not part of what the patient saw: the loader takes it out of the manifest before
hashing the content (a record's content hash covers the shown content only), and a
``what_changed`` line may be reworded without a new version.
"""

from __future__ import annotations

import itertools
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

Version = Annotated[str, StringConstraints(pattern=r"^\d{4}\.\d+(\.\d+)?$")]
"""Calendar version, for example ``2026.1`` or ``2026.1.2``."""


def version_key(version: str) -> tuple[int, int, int]:
    """``"2026.1"`` as ``(2026, 1, 0)``: versions compare by number, not as text."""
    parts = [int(part) for part in version.split(".")]
    if not 2 <= len(parts) <= 3:
        raise ValueError(f"not a content version: {version!r}")
    return (parts[0], parts[1], parts[2] if len(parts) == 3 else 0)


class ContentRevision(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Version
    material: bool
    what_changed: Annotated[
        str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\n\r]+$")
    ]
    """One line a physiotherapist can read to the patient."""
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None
    """The SHA-256 of the content as released under this version (the hash records carry).
    ``content check`` fails when the current version's content no longer has it: a change a
    patient could see needs a new version. Left out of a version not yet released."""


class ContentHistory(BaseModel):
    """One language's versions, newest first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    revisions: tuple[ContentRevision, ...] = ()

    @model_validator(mode="after")
    def _newest_first(self) -> ContentHistory:
        keys = [version_key(r.version) for r in self.revisions]
        if any(a <= b for a, b in itertools.pairwise(keys)):
            raise ValueError("changes must list each version once, newest first")
        return self

    @property
    def current(self) -> str | None:
        return self.revisions[0].version if self.revisions else None

    def since(self, version: str) -> tuple[ContentRevision, ...]:
        """Revisions newer than ``version`` (the one a patient saw), oldest first."""
        seen = version_key(version)
        return tuple(r for r in reversed(self.revisions) if version_key(r.version) > seen)

    def material_since(self, version: str) -> tuple[ContentRevision, ...]:
        """Material revisions newer than ``version``, oldest first: why re-consent is needed."""
        return tuple(r for r in self.since(version) if r.material)
