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
    registration = "PT-12345"         # optional: their registration number with the college

Where things are found (``resolve_config``, ``resolve_data_dir``): ``--config`` or
``IMS_KIOSK_CONFIG``, else ``clinic.toml`` in the per-user config folder (platformdirs,
written by ``ims-kiosk init``), else the demo clinic. ``--data-dir`` or
``IMS_KIOSK_DATA_DIR``, else the settings' ``data_dir``, else the per-user data folder
(platformdirs): ``clinic`` for a configured clinic and ``demo`` for the demo clinic, so
demo records never mix with a clinic's.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

# The file itself is found and read by the light module the kiosk's start path uses (no
# pydantic there, so Welcome can be painted before the settings are validated).
from kiosk.config_file import (
    APP_NAME,
    CONFIG_FILE_NAME,
    DEMO_CLINIC_NAME,
    ENV_CONFIG,
    ENV_DATA_DIR,
    LANGUAGE_PATTERN,
    MAX_CONFIG_BYTES,
    SettingsError,
    parse_config,
    resolve_config,
    user_config_file,
)

__all__ = [
    "APP_NAME",
    "CONFIG_FILE_NAME",
    "ENV_CONFIG",
    "ENV_DATA_DIR",
    "MAX_CONFIG_BYTES",
    "Settings",
    "SettingsError",
    "default_data_dir",
    "load_settings",
    "resolve_config",
    "resolve_data_dir",
    "user_config_file",
]

DEFAULT_CONSENT_VALID_DAYS = 365
DEFAULT_STAFF_IDLE_TIMEOUT_SECONDS = 300


def _printable(value: str) -> str:
    """Refuse what :func:`consent_records.sanitize.clean_text` would strip from patient text
    (terminal escapes, C0/C1 controls, direction overrides, invisible characters): a clinic's
    or physiotherapist's name is shown on every screen and PDF, so it is refused here with a
    sentence rather than sent to the terminal or silently changed."""
    import unicodedata

    from consent_records.sanitize import clean_text

    nfc = unicodedata.normalize("NFC", value)
    if clean_text(nfc, max_length=len(nfc) + 1) != " ".join(nfc.split()):
        raise ValueError(
            "contains a control or invisible character (such as a terminal escape or a "
            "direction override); remove it"
        )
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=120),
    AfterValidator(_printable),
]

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
    registration: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, min_length=1, max_length=40),
            AfterValidator(_printable),
        ]
        | None
    ) = None
    """Their registration number with the provincial college (printed with the
    countersignature); None when not configured."""


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
    consent_valid_days: Annotated[int, Field(ge=1, le=3650)] = DEFAULT_CONSENT_VALID_DAYS
    """How long a countersigned consent stays active before it shows "expired"."""
    staff_idle_timeout_seconds: Annotated[float, Field(ge=30, le=3600)] = (
        DEFAULT_STAFF_IDLE_TIMEOUT_SECONDS
    )
    """Idle time in the staff app before it clears the screen and returns to sign-in."""
    data_dir: Path | None = None
    """Where the records are kept (``ims-kiosk init`` writes it); ``--data-dir`` and
    IMS_KIOSK_DATA_DIR win over it. Relative paths are taken from the settings file's folder."""

    store: Literal["embedded", "postgresql"] = "embedded"
    """Where records are kept: the embedded store in ``data_dir`` (the default, nothing to
    install), or a PostgreSQL database shared by every terminal (docs/postgresql.md)."""
    dsn: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None
    """The PostgreSQL connection for ``store = "postgresql"`` (libpq ``key=value`` or a
    ``postgresql://`` URL; IMS_KIOSK_DSN wins). Keep passwords in ~/.pgpass, not here."""
    chain: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")] = "main"
    """The clinic's record chain in a shared database (each clinic of a chain has its own)."""

    _demo: bool = PrivateAttr(default=False)

    @property
    def is_demo(self) -> bool:
        """True when no clinic is configured (no settings file): the Welcome screen and every
        PDF then say DEMO, so nobody records a real patient into it by mistake."""
        return self._demo

    seal_passphrase_file: Path | None = None
    """The seal key's passphrase, for processes that seal PDFs unattended (the staff app,
    exports): an absolute path to a file of the kiosk user's, mode 0600 (docs/sealing.md)."""
    tsa_url: Annotated[str, StringConstraints(pattern=r"^https?://\S{1,500}$")] | None = None
    """A local RFC 3161 time-stamping service: seals then reach PAdES B-T."""

    @field_validator("seal_passphrase_file")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_absolute():
            raise ValueError("must be an absolute path, for example /etc/ims-kiosk/seal-passphrase")
        return value

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
        demo = Settings()
        demo._demo = True
        return demo
    raw = parse_config(path)
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "(top level)"
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "is not a known setting (check its spelling)"
            lines.append(f"  {field}: {message}")
        raise SettingsError(f"Config file {path} has a problem:\n" + "\n".join(lines)) from None
    if settings.data_dir is not None and not settings.data_dir.is_absolute():
        settings = settings.model_copy(update={"data_dir": path.parent / settings.data_dir})
    return settings


def default_data_dir(*, demo: bool) -> Path:
    """The per-user data folder (platformdirs), never a folder relative to where a command
    was started: ``.../ims-kiosk/clinic`` for a configured clinic, ``.../ims-kiosk/demo``
    for the demo clinic."""
    import platformdirs

    base = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    # The store never creates a missing parent (a mistyped --data-dir must not become a new
    # tree); this folder is ours, so it is made here, private to its user.
    with contextlib.suppress(OSError):
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
    return base / ("demo" if demo else "clinic")


def resolve_data_dir(cli_value: Path | None, settings: Settings | None = None) -> Path:
    """``--data-dir``, else IMS_KIOSK_DATA_DIR, else the settings' ``data_dir``, else the
    per-user data folder (:func:`default_data_dir`)."""
    if cli_value is not None:
        return cli_value
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env)
    if settings is not None and settings.data_dir is not None:
        return settings.data_dir
    return default_data_dir(demo=settings is None or settings.is_demo)
