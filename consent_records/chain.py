"""Canonical JSON and the hash chain shared by every store backend.

Every entry in the store (a record or an appended event) is hashed as::

    sha256 = SHA-256(canonical_json({"seq": n, "kind": kind, "prev_sha256": prev, "data": data}))

where ``prev`` is the previous entry's ``sha256`` (``GENESIS_HASH`` for the first entry) and
``data`` is the record or event as JSON (``model_dump(mode="json")``). The sequence number and
the previous hash are inside the hashed bytes, so changing, removing or reordering any entry
breaks every later link.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from consent_records.base import GENESIS_HASH

EntryKind = Literal["record", "event"]

__all__ = [
    "GENESIS_HASH",
    "EntryKind",
    "canonical_json",
    "entry_hash",
    "is_sha256_hex",
    "sha256_hex",
]
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON: sorted keys, no spaces, UTF-8 (the same form as content.loader)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def is_sha256_hex(value: object) -> bool:
    return isinstance(value, str) and _HEX64.match(value) is not None


def entry_hash(seq: int, kind: EntryKind, prev_sha256: str, data: Any) -> str:
    """The chained SHA-256 of one entry (hex)."""
    body = {"seq": seq, "kind": kind, "prev_sha256": prev_sha256, "data": data}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def sha256_hex(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()
