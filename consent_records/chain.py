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

EntryKind = Literal["record", "event", "audit"]
"""A kiosk record, a later event about a record, or an audit entry (accounts, sign-ins,
views, searches, exports, verify, backup)."""

__all__ = [
    "GENESIS_HASH",
    "EntryKind",
    "canonical_json",
    "encode_entry",
    "entry_hash",
    "is_sha256_hex",
    "sha256_hex",
]
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

# What json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
# allow_nan=False) builds on every call, built once. JSONEncoder.encode keeps no state between
# calls, so one encoder can serve every thread.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode
# The same output for an acyclic value (such as model_dump(mode="json") output), without the
# cycle bookkeeping; a cyclic value recurses until RecursionError instead of ValueError.
_CANONICAL_TREE = json.JSONEncoder(
    sort_keys=True,
    separators=(",", ":"),
    ensure_ascii=False,
    allow_nan=False,
    check_circular=False,
).encode


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON: sorted keys, no spaces, UTF-8 (the same form as content.loader).

    ``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    allow_nan=False).encode("utf-8")``.
    """
    return _CANONICAL(value).encode("utf-8")


def is_sha256_hex(value: object) -> bool:
    return isinstance(value, str) and _HEX64.match(value) is not None


def entry_hash(seq: int, kind: EntryKind, prev_sha256: str, data: Any) -> str:
    """The chained SHA-256 of one entry (hex)."""
    body = {"seq": seq, "kind": kind, "prev_sha256": prev_sha256, "data": data}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def encode_entry(
    seq: int, kind: EntryKind, prev_sha256: str, data: dict[str, Any]
) -> tuple[str, bytes]:
    """An entry's hash and its document's canonical JSON, encoding ``data`` only once.

    Returns ``(sha, doc)`` where ``sha == entry_hash(seq, kind, prev_sha256, data)`` and
    ``doc == canonical_json({"seq": seq, "kind": kind, "prev_sha256": prev_sha256,
    "sha256": sha, "data": data})``, byte for byte (tests/store/test_encode_entry.py checks
    both). With sorted keys and no whitespace, an object's canonical JSON is ``{``, its members
    ``"key":<canonical JSON of the value>`` in key order joined by ``,``, and ``}``; so the
    data's canonical JSON is encoded once and spliced into both the hashed body (keys data,
    kind, prev_sha256, seq) and the document (the same plus sha256, which sorts last).

    ``data`` must be a tree of JSON values (``model_dump(mode="json")`` output): it is encoded
    without the cycle check. Raises ValueError (NaN, infinity) or TypeError (a value JSON cannot
    hold) before anything is hashed.
    """
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise TypeError(f"seq must be an int, not {type(seq).__name__}")
    if not isinstance(data, dict):
        raise TypeError(f"data must be a dict, not {type(data).__name__}")
    head = b'{"data":' + _CANONICAL_TREE(data).encode("utf-8")
    tail = (
        b',"kind":'
        + canonical_json(kind)
        + b',"prev_sha256":'
        + canonical_json(prev_sha256)
        + b',"seq":'
        + canonical_json(seq)
    )
    hasher = hashlib.sha256(head)
    hasher.update(tail)
    hasher.update(b"}")
    sha = hasher.hexdigest()
    return sha, b"".join((head, tail, b',"sha256":"', sha.encode("ascii"), b'"}'))


def sha256_hex(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()
