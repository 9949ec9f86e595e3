"""Reading the clinic's settings file, without validating it (no pydantic).

The kiosk's start path uses this module alone to paint Welcome at once: the clinic's name
and language are read straight from the TOML. The settings are then validated in full
(``kiosk.settings.load_settings``) in the start-up worker, with the content and the record
store, and a wrong setting stops the kiosk with the same sentence as any other command, before
any patient can start.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path

ENV_DATA_DIR = "IMS_KIOSK_DATA_DIR"
ENV_CONFIG = "IMS_KIOSK_CONFIG"
APP_NAME = "ims-kiosk"
CONFIG_FILE_NAME = "clinic.toml"

DEMO_CLINIC_NAME = "Demo Physiotherapy Clinic"
DEFAULT_LANGUAGE = "en"
LANGUAGE_PATTERN = r"^[a-z]{2}(-[A-Z]{2})?$"
NAME_MAX_LENGTH = 120

MAX_CONFIG_BYTES = 1 << 20
"""A clinic's settings file is a few kilobytes; anything over a megabyte is not one."""


class SettingsError(Exception):
    """The config file is missing or wrong. The message names the file and field."""


def user_config_file() -> Path:
    """The per-user settings file ``ims-kiosk init`` writes (platformdirs), for example
    ``~/.config/ims-kiosk/clinic.toml`` on Linux."""
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / CONFIG_FILE_NAME


def resolve_config(cli_value: Path | None) -> Path | None:
    """``--config``, else IMS_KIOSK_CONFIG, else the per-user settings file when it exists
    (written by ``ims-kiosk init``), else None: the demo clinic."""
    if cli_value is not None:
        return cli_value
    env = os.environ.get(ENV_CONFIG)
    if env:
        return Path(env)
    found = user_config_file()
    return found if os.path.lexists(found) else None


def parse_config(path: Path) -> dict[str, object]:
    """The TOML in ``path``: a regular file (never a FIFO or device, which would hang or
    never end), at most MAX_CONFIG_BYTES, UTF-8, not nested absurdly deep. SettingsError
    otherwise, naming the file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise SettingsError(f"Config file {path} does not exist.") from None
    except OSError as exc:
        raise SettingsError(f"Config file {path} cannot be read: {exc.strerror or exc}.") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SettingsError(
                f"Config file {path} is not a regular file (a device, pipe or folder); name "
                "the clinic's TOML settings file."
            )
        blob = os.read(fd, MAX_CONFIG_BYTES + 1)
        while len(blob) <= MAX_CONFIG_BYTES and (more := os.read(fd, MAX_CONFIG_BYTES + 1)):
            blob += more
    except OSError as exc:
        raise SettingsError(f"Config file {path} cannot be read: {exc.strerror or exc}.") from None
    finally:
        os.close(fd)
    if len(blob) > MAX_CONFIG_BYTES:
        raise SettingsError(
            f"Config file {path} is larger than {MAX_CONFIG_BYTES // 1024} KiB; a clinic's "
            "settings file is a few kilobytes. Check that --config names the right file."
        )
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError:
        raise SettingsError(f"Config file {path} is not UTF-8 text.") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"Config file {path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise SettingsError(
            f"Config file {path} nests tables or arrays too deeply to be a settings file."
        ) from None


@dataclass(frozen=True, slots=True)
class WelcomeFacts:
    """What Welcome shows before the settings are validated: the clinic's name (empty
    when the file does not give a usable one: validation then stops the kiosk), the
    language of the interface, and whether this is the demo clinic (no settings file)."""

    clinic_name: str = DEMO_CLINIC_NAME
    language: str = DEFAULT_LANGUAGE
    is_demo: bool = True


def welcome_facts(path: Path | None) -> WelcomeFacts:
    """Read the clinic's name and language from the settings file, as validation will
    (strip, at most 120 characters); the demo clinic's without a file.

    Raises:
        SettingsError: the file cannot be read or is not TOML (nothing to paint from).
    """
    if path is None:
        return WelcomeFacts()
    raw = parse_config(path)
    clinic = raw.get("clinic")
    name = clinic.get("name") if isinstance(clinic, dict) else None
    if isinstance(name, str) and 0 < len(name.strip()) <= NAME_MAX_LENGTH:
        name = name.strip()
    else:
        name = "" if clinic is not None else DEMO_CLINIC_NAME
    language = raw.get("language", DEFAULT_LANGUAGE)
    if not (isinstance(language, str) and re.fullmatch(LANGUAGE_PATTERN, language)):
        language = DEFAULT_LANGUAGE
    return WelcomeFacts(clinic_name=name, language=language, is_demo=False)
