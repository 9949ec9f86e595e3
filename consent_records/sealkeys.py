"""The clinic's seal: an offline root CA and the seal certificate it issues (docs/sealing.md).

``ims-kiosk keys init`` makes them (with the checkpoint key); ``keys import FILE.p12`` takes a
certificate the clinic already has; every PDF the project writes is sealed with the seal key
(:mod:`consent_records.sealing`).

Files in ``<data dir>/keys/``::

    clinic-root.pem        the clinic's root CA certificate (EC P-256, 25 years): public; its
                           SHA-256 fingerprint is what the clinic publishes or prints
    clinic-root-key.json   the root's private key, sealed with the offline passphrase (the
                           checkpoint key's); it is needed only to issue a new seal
                           certificate, so it can (and should) be moved off the machine
    seal-cert.pem          the seal certificate (EC P-256, 3 years, naming the clinic), then
                           any intermediate certificates (from an imported .p12)
    seal-key.json          the seal's private key, sealed with the seal passphrase (the one a
                           sealing process is given: setting ``seal_passphrase_file``)

Private keys are sealed as the checkpoint key is (scrypt N=2**16, r=8, p=1 derives a 256-bit
key; AES-256-GCM seals the PKCS#8 DER), with the certificate's SHA-256 as associated data, so
a key file moved next to another certificate does not open.

``cryptography`` is imported inside the functions: nothing here is on the kiosk's start path.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from consent_records.chain import canonical_json
from consent_records.keys import KeyProblem, _b64, _derive, _unb64, check_passphrase
from consent_records.store.layout import FileRefused, make_dir, read_file, write_new_private

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
    from cryptography.x509 import Certificate

ROOT_CERT = "clinic-root.pem"
ROOT_KEY = "clinic-root-key.json"
SEAL_CERT = "seal-cert.pem"
SEAL_KEY = "seal-key.json"
SEAL_FILES = (ROOT_CERT, ROOT_KEY, SEAL_CERT, SEAL_KEY)
"""Every file of the seal (for backups); the root key may be absent (moved offline)."""

KEY_FORMAT = "ims-consent-kiosk private key v1"
ROOT_YEARS = 25
SEAL_YEARS = 3
WARN_DAYS = 90
"""A seal certificate closer than this to its end is warned about at every sealing."""
_MAX_FILE = 256 * 1024
_SCRYPT = {"n": 2**16, "r": 8, "p": 1}


def sha256_fingerprint(cert: Certificate) -> str:
    """The certificate's SHA-256 (of its DER), as lower-case hex."""
    from cryptography.hazmat.primitives import serialization

    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def spaced(fingerprint: str) -> str:
    """``ab12cd…`` as ``AB:12:CD:…`` (how certificate viewers show fingerprints)."""
    upper = fingerprint.upper()
    return ":".join(upper[i : i + 2] for i in range(0, len(upper), 2))


@dataclass(frozen=True, slots=True)
class SealIdentity:
    """The public half of the clinic's seal: certificates and where they are."""

    keys_dir: Path
    seal_cert: Certificate
    chain: tuple[Certificate, ...]
    """Certificates between the seal certificate and the root (none for ``keys init``)."""
    root: Certificate

    @property
    def seal_sha256(self) -> str:
        return sha256_fingerprint(self.seal_cert)

    @property
    def root_sha256(self) -> str:
        return sha256_fingerprint(self.root)

    @property
    def clinic(self) -> str:
        """The organisation the seal certificate names (its common name without one)."""
        return subject_text(self.seal_cert, prefer_organisation=True)

    @property
    def not_after(self) -> datetime:
        return self.seal_cert.not_valid_after_utc

    def days_left(self, now: datetime | None = None) -> int:
        return (self.not_after - (now or datetime.now(UTC))).days

    def expiry_warning(self, now: datetime | None = None) -> str | None:
        """A sentence when the seal certificate has ended or ends within WARN_DAYS."""
        now = now or datetime.now(UTC)
        end = self.not_after.strftime("%Y-%m-%d")
        if now >= self.not_after:
            return (
                f"The clinic's seal certificate expired on {end}: PDFs cannot be sealed until "
                "a new one is issued (`ims-kiosk keys renew-seal`, with the root key)."
            )
        if now < self.seal_cert.not_valid_before_utc:
            return "The clinic's seal certificate is not valid yet (check the machine's clock)."
        days = self.days_left(now)
        if days < WARN_DAYS:
            return (
                f"The clinic's seal certificate ends on {end}, in {days} days: issue a new one "
                "before then (`ims-kiosk keys renew-seal`, with the root key)."
            )
        return None

    @property
    def root_key_present(self) -> bool:
        return os.path.lexists(self.keys_dir / ROOT_KEY)


def subject_text(cert: Certificate, *, prefer_organisation: bool = False) -> str:
    from cryptography.x509.oid import NameOID

    def first(oid: Any) -> str | None:
        values = cert.subject.get_attributes_for_oid(oid)
        return str(values[0].value) if values else None

    organisation = first(NameOID.ORGANIZATION_NAME)
    common = first(NameOID.COMMON_NAME)
    if prefer_organisation and organisation:
        return organisation
    return common or organisation or cert.subject.rfc4514_string()


# -- sealing private keys ---------------------------------------------------------------


def _seal_private(key: PrivateKeyTypes, cert: Certificate, passphrase: str) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cert_sha = sha256_fingerprint(cert)
    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    derived = _derive(passphrase, salt, _SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"])
    sealed = AESGCM(derived).encrypt(nonce, der, KEY_FORMAT.encode() + cert_sha.encode())
    doc = {
        "format": KEY_FORMAT,
        "encoding": "pkcs8-der",
        "certificate_sha256": cert_sha,
        "subject": cert.subject.rfc4514_string(),
        "kdf": {"name": "scrypt", **_SCRYPT, "salt": _b64(salt)},
        "cipher": {"name": "aes-256-gcm", "nonce": _b64(nonce), "sealed": _b64(sealed)},
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return canonical_json(doc) + b"\n"


def _read(path: Path, what: str) -> bytes:
    try:
        return read_file(path, _MAX_FILE)
    except FileNotFoundError:
        raise
    except FileRefused as exc:
        raise KeyProblem(f"{exc.sentence()}.") from None
    except OSError as exc:
        raise KeyProblem(f"{path} ({what}) cannot be read ({exc.strerror or exc}).") from None


def read_key_file(path: Path, what: str) -> bytes:
    """A sealed key file's bytes (KeyProblem when missing or refused)."""
    try:
        return _read(path, what)
    except FileNotFoundError:
        raise KeyProblem(f"There is no {what} at {path}.") from None


def unseal_private(path: Path, cert: Certificate, passphrase: str, what: str) -> PrivateKeyTypes:
    """The private key in ``path`` for ``cert``, opened with ``passphrase``."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        blob = _read(path, what)
    except FileNotFoundError:
        raise KeyProblem(f"There is no {what} at {path}.") from None
    try:
        doc = json.loads(blob.decode("utf-8"))
        if not isinstance(doc, dict) or doc.get("format") != KEY_FORMAT:
            raise ValueError
        kdf, cipher = doc["kdf"], doc["cipher"]
        if kdf["name"] != "scrypt" or cipher["name"] != "aes-256-gcm":
            raise ValueError
        n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
        if not (2**14 <= n <= 2**20 and 1 <= r <= 32 and 1 <= p <= 16):
            raise ValueError
        salt, nonce = _unb64(kdf["salt"]), _unb64(cipher["nonce"])
        sealed = _unb64(cipher["sealed"])
    except (KeyError, TypeError, ValueError, RecursionError):
        raise KeyProblem(f"{path} is not a {what} file (damaged).") from None
    cert_sha = sha256_fingerprint(cert)
    if doc.get("certificate_sha256") != cert_sha:
        raise KeyProblem(
            f"{path} is the key of another certificate than the one beside it; nothing was "
            "sealed. Put back the matching pair of files."
        )
    try:
        der = AESGCM(_derive(passphrase, salt, n, r, p)).decrypt(
            nonce, sealed, KEY_FORMAT.encode() + cert_sha.encode()
        )
    except (InvalidTag, ValueError):
        raise KeyProblem(
            f"That passphrase does not open the {what} (or its file was changed)."
        ) from None
    key = serialization.load_der_private_key(der, password=None)
    if _public_der(key) != _public_der_of_cert(cert):
        raise KeyProblem(f"{path} does not match its certificate (damaged).")
    return key


def _public_der(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _public_der_of_cert(cert: Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# -- making certificates ----------------------------------------------------------------


def _name(common: str, organisation: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    # X.520 caps both at 64 characters.
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation[:64]),
        ]
    )


def _usage(*, sign_docs: bool) -> Any:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=sign_docs,
        content_commitment=sign_docs,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=not sign_docs,
        crl_sign=not sign_docs,
        encipher_only=False,
        decipher_only=False,
    )


def make_root(clinic: str, now: datetime, years: int = ROOT_YEARS) -> tuple[Any, Certificate]:
    """A new self-signed root CA for ``clinic``: (private key, certificate)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"{clinic[:52]} Root CA", clinic)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365 * years + years // 4))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(sign_docs=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue_seal(
    clinic: str,
    root_key: Any,
    root: Certificate,
    now: datetime,
    years: int = SEAL_YEARS,
    *,
    not_before: datetime | None = None,
) -> tuple[Any, Certificate]:
    """A new seal key and certificate for ``clinic``, issued by ``root``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    end = min(now + timedelta(days=365 * years), root.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{clinic[:50]} document seal", clinic))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(minutes=5))
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(sign_docs=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    return key, cert


def _pem(*certs: Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def seal_exists(keys_dir: Path) -> bool:
    return any(os.path.lexists(keys_dir / name) for name in (SEAL_CERT, SEAL_KEY))


def _refuse_existing(keys_dir: Path, names: tuple[str, ...]) -> None:
    for name in names:
        if os.path.lexists(keys_dir / name):
            raise KeyProblem(
                f"{keys_dir / name} already exists: this clinic has a seal. Keep using it; to "
                "replace it, move the seal files aside first (see docs/sealing.md)."
            )


def create_seal(
    keys_dir: Path,
    clinic: str,
    root_passphrase: str,
    seal_passphrase: str,
    *,
    now: datetime | None = None,
) -> SealIdentity:
    """Make the clinic's root CA and seal certificate in ``keys_dir`` (none there yet)."""
    check_passphrase(root_passphrase)
    check_passphrase(seal_passphrase)
    _refuse_existing(keys_dir, SEAL_FILES)
    now = now or datetime.now(UTC)
    root_key, root = make_root(clinic, now)
    seal_key, seal = issue_seal(clinic, root_key, root, now)
    make_dir(keys_dir)
    write_new_private(keys_dir / ROOT_KEY, _seal_private(root_key, root, root_passphrase))
    write_new_private(keys_dir / ROOT_CERT, _pem(root))
    write_new_private(keys_dir / SEAL_KEY, _seal_private(seal_key, seal, seal_passphrase))
    write_new_private(keys_dir / SEAL_CERT, _pem(seal))
    identity = load_identity(keys_dir)
    assert identity is not None
    return identity


def renew_seal(
    keys_dir: Path,
    root_key_path: Path,
    root_passphrase: str,
    seal_passphrase: str,
    *,
    now: datetime | None = None,
) -> tuple[SealIdentity, Path]:
    """Issue a new seal certificate and key from the root; the old pair is moved to
    ``keys/retired-<time>/`` (PDFs sealed with it still verify: same root)."""
    check_passphrase(seal_passphrase)
    current = load_identity(keys_dir)
    if current is None:
        raise KeyProblem(f"{keys_dir} has no seal to renew; make one with `ims-kiosk keys init`.")
    if current.chain:
        raise KeyProblem(
            "This seal was imported from a .p12 (issued by another authority): ask that "
            "authority for a new certificate and import it."
        )
    root_key = unseal_private(root_key_path, current.root, root_passphrase, "clinic root key")
    now = now or datetime.now(UTC)
    clinic = current.clinic
    seal_key, seal = issue_seal(clinic, root_key, current.root, now)
    retired = keys_dir / f"retired-{now.strftime('%Y%m%dT%H%M%SZ')}"
    make_dir(retired)
    for name in (SEAL_CERT, SEAL_KEY):
        os.rename(keys_dir / name, retired / name)
    write_new_private(keys_dir / SEAL_KEY, _seal_private(seal_key, seal, seal_passphrase))
    write_new_private(keys_dir / SEAL_CERT, _pem(seal))
    identity = load_identity(keys_dir)
    assert identity is not None
    return identity, retired


def import_p12(
    keys_dir: Path,
    p12: Path,
    p12_passphrase: str,
    seal_passphrase: str,
    *,
    root_pem: Path | None = None,
) -> SealIdentity:
    """Use a certificate the clinic already has (PKCS#12 with key and chain) as its seal."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import pkcs12

    check_passphrase(seal_passphrase)
    _refuse_existing(keys_dir, (ROOT_CERT, SEAL_CERT, SEAL_KEY))
    try:
        blob = _read(p12, "PKCS#12 file")
    except FileNotFoundError:
        raise KeyProblem(f"There is no file {p12}.") from None
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(blob, p12_passphrase.encode("utf-8"))
    except ValueError:
        raise KeyProblem(
            f"{p12} cannot be opened: the passphrase is wrong or it is not a PKCS#12 file."
        ) from None
    if key is None or cert is None:
        raise KeyProblem(f"{p12} holds no private key with its certificate.")
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise KeyProblem(f"{p12} holds a key of a kind PDF seals do not use (EC or RSA only).")
    others = list(extra)
    if root_pem is not None:
        try:
            others += x509.load_pem_x509_certificates(_read(root_pem, "root certificate"))
        except (FileNotFoundError, ValueError):
            raise KeyProblem(f"{root_pem} is not a PEM certificate file.") from None
    chain, root = _chain_to_root(cert, others)
    if root is None:
        raise KeyProblem(
            f"{p12} does not include the root certificate its chain leads to; give it with "
            "--root ROOT.pem."
        )
    make_dir(keys_dir)
    write_new_private(keys_dir / SEAL_KEY, _seal_private(key, cert, seal_passphrase))
    write_new_private(keys_dir / SEAL_CERT, _pem(cert, *chain))
    write_new_private(keys_dir / ROOT_CERT, _pem(root))
    identity = load_identity(keys_dir)
    assert identity is not None
    return identity


def _issued_by(cert: Certificate, issuer: Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, Exception):  # InvalidSignature and friends
        return False
    return True


def _chain_to_root(
    cert: Certificate, others: list[Certificate]
) -> tuple[list[Certificate], Certificate | None]:
    """Intermediates from ``cert`` upwards, and the self-signed root (or None)."""
    chain: list[Certificate] = []
    current = cert
    for _ in range(8):
        parent = next((c for c in others if c != current and _issued_by(current, c)), None)
        if parent is None:
            return chain, None
        if _issued_by(parent, parent):
            return chain, parent
        chain.append(parent)
        current = parent
    return chain, None


# -- loading ----------------------------------------------------------------------------


def load_identity(keys_dir: Path) -> SealIdentity | None:
    """The seal's certificates in ``keys_dir``; None when no seal was set up."""
    from cryptography import x509

    if not os.path.lexists(keys_dir / SEAL_CERT):
        return None
    try:
        certs = x509.load_pem_x509_certificates(_read(keys_dir / SEAL_CERT, "seal certificate"))
    except FileNotFoundError:
        return None
    except ValueError:
        raise KeyProblem(f"{keys_dir / SEAL_CERT} is not a certificate file (damaged).") from None
    try:
        roots = x509.load_pem_x509_certificates(_read(keys_dir / ROOT_CERT, "root certificate"))
    except FileNotFoundError:
        raise KeyProblem(
            f"{keys_dir / ROOT_CERT} is missing: the seal cannot be checked without the "
            "clinic's root certificate."
        ) from None
    except ValueError:
        raise KeyProblem(f"{keys_dir / ROOT_CERT} is not a certificate file (damaged).") from None
    return SealIdentity(
        keys_dir=keys_dir, seal_cert=certs[0], chain=tuple(certs[1:]), root=roots[0]
    )


def load_root(path: Path) -> Certificate:
    """A PEM (or DER) root certificate named by the person (``verify-pdf --trust``)."""
    from cryptography import x509

    try:
        blob = _read(path, "root certificate")
    except FileNotFoundError:
        raise KeyProblem(f"There is no file {path}.") from None
    try:
        if b"-----BEGIN" in blob:
            return x509.load_pem_x509_certificate(blob)
        return x509.load_der_x509_certificate(blob)
    except ValueError:
        raise KeyProblem(f"{path} is not a certificate file (PEM or DER).") from None


def read_passphrase_file(path: Path) -> str:
    """The seal passphrase from ``path``: a regular file of this user's, readable by no one
    else (as ssh treats its keys), first line only."""
    import stat

    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise KeyProblem(
            f"The seal passphrase file {path} (setting seal_passphrase_file) does not exist."
        ) from None
    except OSError as exc:
        raise KeyProblem(f"{path} cannot be read ({exc.strerror or exc}).") from None
    if not stat.S_ISREG(info.st_mode):
        raise KeyProblem(f"The seal passphrase file {path} is not a regular file (or is a link).")
    if info.st_uid != os.geteuid():
        raise KeyProblem(
            f"The seal passphrase file {path} belongs to another user; it must be this user's own."
        )
    if info.st_mode & 0o077:
        raise KeyProblem(
            f"The seal passphrase file {path} can be read by others; make it private with "
            f"`chmod 600 {path}`."
        )
    text = _read(path, "seal passphrase file").decode("utf-8", errors="strict").splitlines()
    if not text or not text[0]:
        raise KeyProblem(f"The seal passphrase file {path} is empty.")
    return text[0]
