"""The clinic's checkpoint key: Ed25519, its private half sealed with a passphrase.

``ims-kiosk keys init`` makes it; ``ims-kiosk checkpoint`` signs with it; ``verify`` checks
signatures with the public half. The kiosk process never has the passphrase, so whoever
controls the kiosk (or its data directory) cannot sign a checkpoint for a rewritten chain.

Files (in ``<data dir>/keys/`` unless a command is told otherwise)::

    checkpoint-key.json   the private key, encrypted: scrypt (N=2**16, r=8, p=1; 64 MiB,
                          about a quarter of a second to try one passphrase) derives a
                          256-bit key; AES-256-GCM seals the 32-byte Ed25519 seed, with the
                          public key and the format as associated data
    checkpoint-key.pub    the public key (base64) and its fingerprint

The fingerprint (first 20 hex digits of the public key's SHA-256) is printed by ``keys
init``, in every checkpoint line and kept in the high-water mark: write it down, so that a
key swapped for another (to sign a forged history) is noticed.

``cryptography`` is imported inside the functions, never when this module is imported:
nothing here sits on the kiosk's start path.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from consent_records.base import Checkpoint
from consent_records.chain import canonical_json
from consent_records.store.layout import FileRefused, make_dir, read_file, write_new_private

PRIVATE_NAME = "checkpoint-key.json"
PUBLIC_NAME = "checkpoint-key.pub"
KEY_FORMAT = "ims-consent-kiosk checkpoint key v1"
SCRYPT_N = 2**16
SCRYPT_R = 8
SCRYPT_P = 1
MIN_PASSPHRASE = 12
_MAX_KEY_FILE = 64 * 1024


class KeyProblem(Exception):
    """A key problem for the person at the terminal (one sentence, no traceback)."""


def fingerprint(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:20]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class PublicKey:
    raw: bytes
    path: Path

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.raw)

    def verifies(self, checkpoint: Checkpoint) -> bool:
        """Whether ``checkpoint`` carries a valid signature by this key."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        if checkpoint.key != self.fingerprint:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(
                _unb64(checkpoint.signature), checkpoint.message()
            )
        except (InvalidSignature, ValueError):
            return False
        return True


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def check_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE:
        raise KeyProblem(
            f"The passphrase must be at least {MIN_PASSPHRASE} characters (a few unrelated "
            "words are easy to remember and hard to guess)."
        )


def create_key(keys_dir: Path, passphrase: str) -> PublicKey:
    """Make a new key pair in ``keys_dir`` (which must not hold one yet)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    check_passphrase(passphrase)
    private_path, public_path = keys_dir / PRIVATE_NAME, keys_dir / PUBLIC_NAME
    for path in (private_path, public_path):
        if os.path.lexists(path):
            raise KeyProblem(
                f"{path} already exists: this clinic has a checkpoint key. Keep using it (a "
                "new key would not vouch for the checkpoints already made); to replace a lost "
                "or exposed key, move the old files aside first (see docs/storage.md)."
            )
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    public_raw = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    sealed = AESGCM(_derive(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)).encrypt(
        nonce, seed, KEY_FORMAT.encode() + public_raw
    )
    private_doc = {
        "format": KEY_FORMAT,
        "algorithm": "ed25519",
        "public_key": _b64(public_raw),
        "fingerprint": fingerprint(public_raw),
        "kdf": {"name": "scrypt", "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "salt": _b64(salt)},
        "cipher": {"name": "aes-256-gcm", "nonce": _b64(nonce), "sealed": _b64(sealed)},
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    public_doc = {
        "format": KEY_FORMAT,
        "algorithm": "ed25519",
        "public_key": _b64(public_raw),
        "fingerprint": fingerprint(public_raw),
    }
    make_dir(keys_dir)
    write_new_private(private_path, canonical_json(private_doc) + b"\n")
    write_new_private(public_path, canonical_json(public_doc) + b"\n")
    return PublicKey(raw=public_raw, path=public_path)


def _load_doc(path: Path) -> dict[str, Any]:
    try:
        blob = read_file(path, _MAX_KEY_FILE)
    except FileNotFoundError:
        raise
    except FileRefused as exc:
        raise KeyProblem(f"{exc.sentence()}.") from None
    except OSError as exc:
        raise KeyProblem(f"{path} cannot be read ({exc.strerror or exc}).") from None
    try:
        doc = json.loads(blob.decode("utf-8"))
    except (ValueError, RecursionError):
        raise KeyProblem(f"{path} is not a checkpoint key file (damaged).") from None
    if not isinstance(doc, dict) or doc.get("format") != KEY_FORMAT:
        raise KeyProblem(f"{path} is not a checkpoint key file.")
    return doc


def public_raw_of(doc: dict[str, Any], path: Path) -> bytes:
    try:
        raw = _unb64(str(doc["public_key"]))
    except (KeyError, ValueError):
        raise KeyProblem(f"{path} is not a checkpoint key file (damaged).") from None
    if len(raw) != 32:
        raise KeyProblem(f"{path} is not a checkpoint key file (damaged).")
    return raw


def load_public(keys_dir: Path) -> PublicKey | None:
    """The public key in ``keys_dir``, or None when no key was made."""
    path = keys_dir / PUBLIC_NAME
    try:
        doc = _load_doc(path)
    except FileNotFoundError:
        return None
    return PublicKey(raw=public_raw_of(doc, path), path=path)


class Signer:
    """The unsealed private key (for one command run, then dropped)."""

    def __init__(self, seed: bytes, public: PublicKey) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public = public

    def sign(self, seq: int, head: str, at: datetime | None = None) -> Checkpoint:
        stamp = (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        unsigned = Checkpoint(
            seq=seq, head=head, at=stamp, key=self.public.fingerprint, signature="A" * 86
        )
        signature = _b64(self._key.sign(unsigned.message()))
        return unsigned.model_copy(update={"signature": signature})


def unseal(private_path: Path, passphrase: str) -> Signer:
    """The private key in ``private_path``, unsealed with ``passphrase``."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        doc = _load_doc(private_path)
    except FileNotFoundError:
        raise KeyProblem(
            f"There is no checkpoint key at {private_path}. Make one with "
            "`ims-kiosk keys init`, or name it with --key."
        ) from None
    public_raw = public_raw_of(doc, private_path)
    try:
        kdf, cipher = doc["kdf"], doc["cipher"]
        if kdf["name"] != "scrypt" or cipher["name"] != "aes-256-gcm":
            raise ValueError
        n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
        if not (2**14 <= n <= 2**20 and 1 <= r <= 32 and 1 <= p <= 16):
            raise ValueError
        salt, nonce, sealed = _unb64(kdf["salt"]), _unb64(cipher["nonce"]), _unb64(cipher["sealed"])
    except (KeyError, TypeError, ValueError):
        raise KeyProblem(f"{private_path} is not a checkpoint key file (damaged).") from None
    try:
        seed = AESGCM(_derive(passphrase, salt, n, r, p)).decrypt(
            nonce, sealed, KEY_FORMAT.encode() + public_raw
        )
    except (InvalidTag, ValueError):
        raise KeyProblem(
            "That passphrase does not open the checkpoint key (or the key file was changed). "
            "Nothing was signed."
        ) from None
    signer = Signer(seed, PublicKey(raw=public_raw, path=private_path))
    from cryptography.hazmat.primitives import serialization

    derived = signer._key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    if derived != public_raw:
        raise KeyProblem(f"{private_path} is not a consistent key file (damaged).")
    return signer
