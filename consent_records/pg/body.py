"""The exact bytes an entry's hash covers, as PostgreSQL keeps them (no psycopg here).

Each entry is stored as its *body*: the canonical JSON that was hashed,
``{"data":…,"kind":"record","prev_sha256":"…","seq":7}`` (see
:func:`consent_records.chain.encode_entry`). ``sha256 == SHA-256(body)``, so the database
can check every hash itself, and the embedded store's entry file is the body with
``,"sha256":"…"`` spliced in before its last brace: a chain moves between the backends byte
for byte, with the same hashes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import pydantic_core

from consent_records.chain import EntryKind, encode_entry

_SHA_SUFFIX = len(b',"sha256":"') + 64 + len(b'"}')
_OPEN = b'{"data":'
_TAIL = re.compile(
    rb',"kind":"(record|event|audit)","prev_sha256":"([0-9a-f]{64})","seq":(0|[1-9][0-9]{0,17})\}\Z'
)
_TAIL_MAX = 160
_KINDS: dict[bytes, EntryKind] = {b"record": "record", b"event": "event", b"audit": "audit"}


class BodyProblem(ValueError):
    """The bytes are not an entry body in the canonical layout, or fail their hash."""


@dataclass(frozen=True, slots=True)
class Body:
    """An entry body, its hash checked and its framing read (data still encoded)."""

    seq: int
    kind: EntryKind
    prev_sha256: str
    sha256: str
    data_json: bytes

    def data(self) -> dict[str, Any]:
        value = pydantic_core.from_json(self.data_json)
        if not isinstance(value, dict):
            raise BodyProblem("its data is not an object")
        return value


def encode_body(
    seq: int, kind: EntryKind, prev_sha256: str, data: dict[str, Any]
) -> tuple[str, bytes]:
    """``(sha256, body)`` of a new entry (the same hash as the embedded store's)."""
    sha, doc = encode_entry(seq, kind, prev_sha256, data)
    body = doc[:-_SHA_SUFFIX] + b"}"
    return sha, body


def document_of(body: bytes, sha256: str) -> bytes:
    """The embedded store's entry document (the body with its ``sha256`` member)."""
    return body[:-1] + b',"sha256":"' + sha256.encode("ascii") + b'"}'


def body_of_document(doc: bytes) -> bytes:
    """The body inside an embedded store's canonical entry document (see document_of)."""
    if len(doc) <= _SHA_SUFFIX or not doc.endswith(b'"}'):
        raise BodyProblem("it is not a canonical entry document")
    return doc[:-_SHA_SUFFIX] + b"}"


def read_body(body: bytes, sha256: str) -> Body:
    """Check ``body`` against ``sha256`` and read its framing; BodyProblem if either fails."""
    if hashlib.sha256(body).hexdigest() != sha256:
        raise BodyProblem("was changed: its content does not match its SHA-256")
    if not body.startswith(_OPEN):
        raise BodyProblem("is not an entry in the canonical layout")
    tail = _TAIL.search(body, max(len(_OPEN), len(body) - _TAIL_MAX))
    if tail is None:
        raise BodyProblem("is not an entry in the canonical layout")
    kind: EntryKind = _KINDS[tail.group(1)]
    return Body(
        seq=int(tail.group(3)),
        kind=kind,
        prev_sha256=tail.group(2).decode("ascii"),
        sha256=sha256,
        data_json=body[len(_OPEN) : tail.start()],
    )
