"""Staff password hashes, kept outside the chain: ``staff/credentials.json``.

One canonical JSON object ``{"user name": "$argon2id$v=19$..."}``, owner-only (0600 in a
0700 folder), replaced atomically under the store's lock. The chain holds only a commitment
to each hash (``PasswordSet.credential_sha256``, the SHA-256 of the PHC string), so the file
can be updated (a rehash, a reset) while the audited history stays append-only, and
``verify`` proves that each stored hash is the one the chain recorded (docs/staff-accounts.md).
"""

from __future__ import annotations

import re
from pathlib import Path

from consent_records.chain import canonical_json
from consent_records.storage import atomic_write_bytes, fsync_dir
from consent_records.store.layout import (
    CREDENTIALS_NAME,
    FILE_MODE,
    MAX_CREDENTIALS_BYTES,
    STAFF_DIR,
    decode_json,
    make_dir,
    read_file,
)

_USER = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")
_PHC = re.compile(r"^\$argon2(id|i|d)\$[A-Za-z0-9$=,+/.-]{10,400}$")


class CredentialProblem(Exception):
    """The credential file is damaged or holds something that is not a password hash."""


def parse_credentials(blob: bytes, path: Path) -> dict[str, str]:
    """The file's entries (CredentialProblem naming the file, never printing a hash)."""
    try:
        doc = decode_json(blob)
    except ValueError:
        raise CredentialProblem(
            f"the staff credential file {path} is not valid JSON (truncated or damaged)"
        ) from None
    if not isinstance(doc, dict):
        raise CredentialProblem(f"the staff credential file {path} is not a credential file")
    for user, phc in doc.items():
        if not _USER.match(user) or not isinstance(phc, str) or not _PHC.match(phc):
            raise CredentialProblem(
                f"the staff credential file {path} holds an entry that is not a user name "
                "with an argon2 password hash (changed outside the software)"
            )
    return dict(doc)


def read_credentials(root: Path) -> dict[str, str]:
    """Every stored hash (empty when the file does not exist yet). Raises CredentialProblem,
    FileRefused or OSError."""
    path = root / CREDENTIALS_NAME
    try:
        blob = read_file(path, MAX_CREDENTIALS_BYTES)
    except FileNotFoundError:
        return {}
    return parse_credentials(blob, path)


def write_credentials(root: Path, credentials: dict[str, str]) -> None:
    """Replace the file atomically (call under the store's lock). Raises OSError."""
    folder = root / STAFF_DIR
    if not folder.is_dir():
        make_dir(folder)
        fsync_dir(root)
    atomic_write_bytes(
        root / CREDENTIALS_NAME, canonical_json(dict(sorted(credentials.items()))), mode=FILE_MODE
    )
