"""Kiosk settings: the clinic, its physiotherapists and the kiosk's behaviour.

Read from a TOML file (``--config FILE`` or ``IMS_KIOSK_CONFIG``); without one the kiosk
runs as a demo clinic so that ``ims-kiosk`` works with no set-up. Example::

    kiosk_id = "front-desk-1"
    timezone = "America/Edmonton"
    idle_timeout_seconds = 120
    province = "AB"                   # the age of majority and the rules for young patients
    electrical_stimulation = false    # true if the clinic uses needles with electrical stimulation

    [clinic]
    name = "Riverbend Physiotherapy"
    address = ["100 Example Street", "Edmonton AB  T5J 0A1"]
    phone = "780-555-0100"

    [[physiotherapists]]
    id = "akim"
    name = "Alex Kim"
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

# The file itself is read by the light module the kiosk's start path uses (no pydantic).
from kiosk.config_file import (
    DEFAULT_DATA_DIR,
    DEMO_CLINIC_NAME,
    ENV_CONFIG,
    ENV_DATA_DIR,
    LANGUAGE_PATTERN,
    MAX_CONFIG_BYTES,
    SettingsError,
    parse_config,
    resolve_config,
    resolve_data_dir,
)

__all__ = [
    "DEFAULT_DATA_DIR",
    "ENV_CONFIG",
    "ENV_DATA_DIR",
    "MAX_CONFIG_BYTES",
    "Settings",
    "SettingsError",
    "load_settings",
    "resolve_config",
    "resolve_data_dir",
]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]

Province = Literal["AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT"]
"""Canadian province or territory, by its postal abbreviation. The content holds, for each,
the age of majority and the rule for young patients (``content/en/provinces.yaml``)."""


class Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Clinic(Strict):
    name: Name
    address: list[Name] = Field(default_factory=list, max_length=4)
    phone: Name | None = None


class PhysiotherapistEntry(Strict):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=64)]
    name: Name


class Settings(Strict):
    clinic: Clinic = Clinic(
        name=DEMO_CLINIC_NAME,
        address=["123 Sample Avenue", "Edmonton AB  T5J 0A1"],
        phone="780-555-0100",
    )
    physiotherapists: Annotated[list[PhysiotherapistEntry], Field(min_length=1)] = [
        PhysiotherapistEntry(id="demo-akim", name="Alex Kim"),
        PhysiotherapistEntry(id="demo-mtremblay", name="Marie Tremblay"),
        PhysiotherapistEntry(id="demo-jsingh", name="Jaspreet Singh"),
    ]
    kiosk_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,40}$")] = "front-desk-1"
    timezone: str = "America/Edmonton"
    idle_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 120
    """Idle time mid-path before the kiosk asks "Are you still there?"."""
    idle_grace_seconds: Annotated[float, Field(gt=0, le=600)] = 30
    """Time to answer "Are you still there?" before the session is wiped."""
    done_return_seconds: Annotated[float, Field(gt=0, le=600)] = 60
    """How long the Done screen stays before returning to Welcome."""
    province: Province = "AB"
    """Where the clinic is: the age of majority and the rule for young patients come from it."""
    electrical_stimulation: bool = False
    """Whether the clinic uses needles with electrical stimulation: the education then says
    so and what it adds, and screening asks about implanted electrical devices."""
    language: Annotated[str, StringConstraints(pattern=LANGUAGE_PATTERN)] = "en"

    @model_validator(mode="before")
    @classmethod
    def _age_comes_from_the_province(cls, data: Any) -> Any:
        if isinstance(data, dict) and "age_of_majority" in data:
            raise ValueError(
                "age_of_majority is no longer a setting: it comes from province (with the "
                "rules for young patients there). Remove it and set, for example, "
                'province = "BC"'
            )
        return data

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; use a name such as 'America/Toronto'"
            ) from None
        return value

    @field_validator("physiotherapists")
    @classmethod
    def _unique_ids(cls, value: list[PhysiotherapistEntry]) -> list[PhysiotherapistEntry]:
        ids = [p.id for p in value]
        if len(set(ids)) != len(ids):
            raise ValueError("each physiotherapist needs a different id")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def content_options(self) -> frozenset[str]:
        """The clinic settings that add content (``when:`` in the content files)."""
        return frozenset({"electrical-stimulation"}) if self.electrical_stimulation else frozenset()

    def physiotherapist(self, physio_id: str) -> PhysiotherapistEntry:
        for entry in self.physiotherapists:
            if entry.id == physio_id:
                return entry
        raise KeyError(physio_id)


def load_settings(path: Path | None) -> Settings:
    """Read settings from a TOML file, or the demo clinic's when ``path`` is None.

    Raises:
        SettingsError: naming the file and the field that is wrong.
    """
    if path is None:
        return Settings()
    raw = parse_config(path)
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "(top level)"
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "is not a known setting (check its spelling)"
            lines.append(f"  {field}: {message}")
        raise SettingsError(f"Config file {path} has a problem:\n" + "\n".join(lines)) from None
