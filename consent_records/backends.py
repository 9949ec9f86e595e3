"""One factory that opens the configured record store, whichever backend it is.

``open_store(StoreConfig(...))`` is the only way services open a store. A backend is a
function ``opener(config, *, read_only, full_check) -> ConsentStore`` registered under a name:

* ``embedded`` (the default): the TinyDB-format store in ``config.data_dir``
  (:func:`consent_records.store.open_store`);
* any other name is looked up in :data:`BACKENDS` (filled by :func:`register_backend`),
  then in the ``ims_consent_kiosk.store_backends`` entry-point group, so a backend package
  (PostgreSQL) adds itself without this module changing::

      [project.entry-points."ims_consent_kiosk.store_backends"]
      postgresql = "consent_records.pg.engine:open_backend"

A backend's module is imported only when it is chosen (psycopg never loads for the kiosk's
embedded store).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Protocol

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from consent_records.base import ConsentStore, StoreUnavailable

ENTRY_POINT_GROUP = "ims_consent_kiosk.store_backends"
DEFAULT_BACKEND = "embedded"


class StoreConfig(BaseModel):
    """Where the records are: what the settings and the command line say."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")] = DEFAULT_BACKEND
    data_dir: Path
    """The data directory: the embedded store's files, and every backend's logs and
    local files (keys)."""
    url: str | None = Field(default=None, repr=False)
    """A server backend's connection string (never logged: it may hold a password)."""
    lock_timeout: float = 10.0
    chain: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$")] = "main"
    """The clinic's chain in a server's database (a chain of clinics may share one)."""


class StoreOpener(Protocol):
    def __call__(
        self, config: StoreConfig, *, read_only: bool, full_check: bool
    ) -> ConsentStore: ...


def _open_embedded(config: StoreConfig, *, read_only: bool, full_check: bool) -> ConsentStore:
    from consent_records.store.engine import open_store as open_embedded

    return open_embedded(
        config.data_dir,
        lock_timeout=config.lock_timeout,
        full_check=full_check,
        read_only=read_only,
    )


BACKENDS: dict[str, StoreOpener] = {DEFAULT_BACKEND: _open_embedded}
"""Backends known without entry points (tests may register more)."""


def register_backend(name: str, opener: StoreOpener) -> None:
    BACKENDS[name] = opener


def _entry_point(name: str) -> StoreOpener | None:
    from importlib.metadata import entry_points

    for point in entry_points(group=ENTRY_POINT_GROUP, name=name):
        opener: StoreOpener = point.load()
        return opener
    return None


def backend_names() -> list[str]:
    from importlib.metadata import entry_points

    return sorted({*BACKENDS, *(p.name for p in entry_points(group=ENTRY_POINT_GROUP))})


def open_store(
    config: StoreConfig, *, read_only: bool = False, full_check: bool = False
) -> ConsentStore:
    """Open (creating if new, unless ``read_only``) the configured store; fail closed.

    Raises:
        StoreUnavailable: the backend is unknown, or the store cannot be opened now.
        StoreCorrupt: a store file (or table) is damaged.
    """
    opener = BACKENDS.get(config.backend) or _entry_point(config.backend)
    if opener is None:
        known = ", ".join(backend_names())
        raise StoreUnavailable(
            f"The settings name the record store backend {config.backend!r}, which this "
            f"installation does not have (it has: {known}). Check the store setting, or "
            "install the package that provides it."
        )
    return opener(config, read_only=read_only, full_check=full_check)


__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "ENTRY_POINT_GROUP",
    "StoreConfig",
    "StoreOpener",
    "backend_names",
    "open_store",
    "register_backend",
]
