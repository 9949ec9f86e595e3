"""The backends the store contract tests run against (tests/store/test_contract.py).

Each entry turns a fresh temporary folder into the :class:`StoreConfig` of an empty store.
A backend that needs a server (PostgreSQL) adds itself here and calls ``pytest.skip`` when
its server is not available.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from consent_records.backends import StoreConfig
from tests.pg_fixtures import contract_config

CONTRACT_BACKENDS: dict[str, Callable[[Path], StoreConfig]] = {
    "embedded": lambda tmp: StoreConfig(data_dir=tmp / "data", lock_timeout=5),
    "postgresql": contract_config,
}
