"""Sealing PDFs with the clinic's seal (PAdES with pyHanko) and checking sealed PDFs.

:class:`Sealer` holds the unsealed seal key for one process (the CLI command, the staff app
or an export worker) and seals PDF bytes: a PAdES baseline B-B signature (CAdES detached,
``ETSI.CAdES.detached``, signing certificate attribute, SHA-256) with the chain to the clinic
root embedded, in a visible signature field over the seal block the PDF already shows
(:mod:`consent_records.seal_block`); with a time-stamping service configured,
a signature time-stamp from it (B-T). What each level proves is in docs/sealing.md.

:func:`verify_pdf` checks one file against trusted roots and says in one sentence whether
the seal is intact, by which certificate, whether the file changed after sealing, whether the
chain leads to a trusted root, and at which level.

pyHanko, pyhanko-certvalidator, asn1crypto and cryptography are imported inside functions:
nothing here is on the kiosk's start path.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from consent_records.keys import KeyProblem
from consent_records.seal_block import SealStamp
from consent_records.sealkeys import (
    SEAL_KEY,
    SealIdentity,
    sha256_fingerprint,
    subject_text,
    unseal_private,
)

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

FIELD_NAME = "ClinicSeal"
INFO_KEY = "/IMSConsentKiosk"
"""A dictionary in the sealed PDF's catalogue with what the PDF is about (kind, reference,
record id, record entry, status at export): verify-pdf compares it with the store."""
BYTES_RESERVED = 16384
"""Room for the CMS signature (chain of two or three certificates, perhaps a time-stamp
token with its own chain); reserving it skips pyHanko's trial signature."""


_OPENED: dict[tuple[str, str], Any] = {}
"""Seal keys opened in this process, by (SHA-256 of the key file, of the passphrase)."""


class SealProblem(Exception):
    """Sealing failed; a sentence for the person (nothing was written)."""


def _quiet_pyhanko() -> None:
    """pyHanko logs failed validations with tracebacks; the verdict says it in a sentence."""
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.CRITICAL + 1)
        logger.propagate = False


def _asn1_cert(cert: Certificate) -> Any:
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization

    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


class Sealer:
    """The clinic's seal, unsealed for this process."""

    def __init__(self, identity: SealIdentity, private_key: Any, *, tsa_url: str | None = None):
        from asn1crypto import keys as asn1_keys
        from cryptography.hazmat.primitives import serialization
        from pyhanko.sign import signers
        from pyhanko_certvalidator.registry import SimpleCertificateStore

        self.identity = identity
        self.tsa_url = tsa_url
        self._key = private_key
        der = private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self._signer = signers.SimpleSigner(
            signing_cert=_asn1_cert(identity.seal_cert),
            signing_key=asn1_keys.PrivateKeyInfo.load(der),
            cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
                [_asn1_cert(c) for c in (*identity.chain, identity.root)]
            ),
        )
        self._timestamper: Any = None
        if tsa_url:
            from pyhanko.sign.timestamps import HTTPTimeStamper

            self._timestamper = HTTPTimeStamper(tsa_url, timeout=10)

    @classmethod
    def open(cls, identity: SealIdentity, passphrase: str, *, tsa_url: str | None = None) -> Sealer:
        """Unseal the seal key beside ``identity`` (scrypt: about a quarter of a second,
        once per process: the opened key is kept for the same key file and passphrase)."""
        import hashlib

        from consent_records.sealkeys import read_key_file

        path = identity.keys_dir / SEAL_KEY
        blob = read_key_file(path, "clinic seal key")
        cache_key = (
            hashlib.sha256(blob).hexdigest(),
            hashlib.sha256(passphrase.encode("utf-8")).hexdigest(),
        )
        key = _OPENED.get(cache_key)
        if key is None:
            key = unseal_private(path, identity.seal_cert, passphrase, "clinic seal key")
            _OPENED[cache_key] = key
        return cls(identity, key, tsa_url=tsa_url)

    def private_der(self) -> bytes:
        """The seal key as PKCS#8 DER, for this process's own export workers only."""
        from cryptography.hazmat.primitives import serialization

        der: bytes = self._key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return der

    def sign_bytes(self, data: bytes) -> bytes:
        """A detached signature of ``data`` by the seal key (DER: ECDSA with SHA-256, or
        RSA PKCS#1 v1.5 with SHA-256), as ``openssl dgst -sha256 -verify`` checks it."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        signature: bytes = self._key.sign(data, ec.ECDSA(hashes.SHA256()))
        return signature

    @property
    def level(self) -> str:
        return "PAdES B-T" if self.tsa_url else "PAdES B-B"

    def stamp(self, at: datetime) -> SealStamp:
        """What the PDF's seal block says about this seal, sealed at ``at``."""
        return SealStamp(
            clinic=self.identity.clinic,
            level=self.level,
            seal_sha256=self.identity.seal_sha256,
            root_sha256=self.identity.root_sha256,
            at=at,
            not_after=self.identity.not_after.date(),
        )

    def seal(self, pdf: bytes, info: Mapping[str, str], stamp: SealStamp) -> bytes:
        """``pdf`` (written with ``stamp``'s seal block, from :meth:`stamp`) sealed, with the
        seal's visible field over that block; ``info`` goes in the catalogue's
        /IMSConsentKiosk dictionary. Raises SealProblem."""
        from pyhanko.pdf_utils import generic
        from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
        from pyhanko.sign import fields, signers
        from pyhanko.sign.general import SigningError
        from pyhanko.sign.timestamps import TimestampRequestError

        if not stamp.placed:
            raise SealProblem("The PDF has no seal block to seal; nothing was written.")
        box = stamp.placed[-1]
        now = datetime.now(UTC)
        if now >= self.identity.not_after:
            raise SealProblem(
                f"The clinic's seal certificate expired on {self.identity.not_after:%Y-%m-%d}; "
                "nothing was written. Issue a new one with `ims-kiosk keys renew-seal`."
            )
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        writer.root[INFO_KEY] = generic.DictionaryObject(  # type: ignore[no-untyped-call]
            {
                generic.pdf_name(f"/{key}"): generic.pdf_string(value)
                for key, value in sorted(info.items())
            }
        )
        writer.update_root()  # type: ignore[no-untyped-call]
        meta = signers.PdfSignatureMetadata(
            field_name=FIELD_NAME,
            subfilter=fields.SigSeedSubFilter.PADES,
            md_algorithm="sha256",
            reason="Sealed by the clinic when the PDF was written",
            name=self.identity.clinic,
        )
        signer = signers.PdfSigner(
            meta,
            self._signer,
            timestamper=self._timestamper,
            stamp_style=_BlankStyle(border_width=0),
            new_field_spec=fields.SigFieldSpec(FIELD_NAME, on_page=-1, box=box),
        )
        try:
            out = signer.sign_pdf(writer, bytes_reserved=BYTES_RESERVED)
        except TimestampRequestError as exc:
            raise SealProblem(
                f"The time-stamping service at {self.tsa_url} did not answer ({exc}); nothing "
                "was written. Check the service, or remove tsa_url to seal without it."
            ) from None
        except (SigningError, OSError) as exc:
            raise SealProblem(
                f"The PDF could not be sealed ({exc}); nothing was written."
            ) from None
        data: bytes = out.getvalue()
        return data


def _blank_style_class() -> Any:
    from pyhanko.stamp.base import BaseStamp, BaseStampStyle

    class BlankStamp(BaseStamp):
        """The field's appearance is empty: the page already shows the seal block."""

        def _render_inner_content(self) -> list[bytes]:
            return []

    class BlankStyle(BaseStampStyle):
        def create_stamp(self, writer: Any, box: Any, text_params: Any) -> BaseStamp:
            return BlankStamp(writer, self, box)

    return BlankStyle


def _BlankStyle(**kwargs: Any) -> Any:
    return _blank_style_class()(**kwargs)


# -- verifying --------------------------------------------------------------------------


@dataclass(slots=True)
class SealVerdict:
    """What :func:`verify_pdf` found in one file."""

    ok: bool
    sentence: str
    sealed: bool = False
    intact: bool = False
    trusted: bool = False
    unchanged: bool = False
    level: str | None = None
    signer: str | None = None
    signer_sha256: str | None = None
    info: dict[str, str] = field(default_factory=dict)


def _short(fingerprint: str) -> str:
    return f"{fingerprint[:16]}…"


def verify_pdf(data: bytes, trust: Sequence[Certificate]) -> SealVerdict:
    """Check the clinic seal on ``data`` against the roots in ``trust``."""
    from asn1crypto import x509 as asn1_x509
    from cryptography import x509
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    _quiet_pyhanko()
    if not data.lstrip()[:5].startswith(b"%PDF-"):
        return SealVerdict(ok=False, sentence="is not a PDF file.")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = reader.embedded_regular_signatures
    except (PdfError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        return SealVerdict(ok=False, sentence=f"cannot be read as a PDF ({exc}).")
    if not signatures:
        return SealVerdict(
            ok=False,
            sentence="is NOT SEALED: it carries no electronic seal, so nothing shows whether it "
            "was changed.",
        )
    sig = signatures[0]
    info: dict[str, str] = {}
    try:
        historical = reader.get_historical_root(sig.signed_revision)
        raw = historical.get(INFO_KEY)
        if raw is not None:
            info = {str(k)[1:]: str(v) for k, v in raw.get_object().items()}
    except (PdfError, ValueError, KeyError, TypeError, AttributeError):
        info = {}
    roots = [_asn1_cert(c) for c in trust]
    context = ValidationContext(
        trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail"
    )
    ts_context = ValidationContext(
        trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail"
    )
    try:
        status = validate_pdf_signature(sig, context, ts_validation_context=ts_context)
    except (SignatureValidationError, PdfError, ValueError, KeyError, TypeError) as exc:
        return SealVerdict(
            ok=False, sealed=True, info=info, sentence=f"has a seal that cannot be checked ({exc})."
        )
    cert = x509.load_der_x509_certificate(status.signing_cert.dump())
    assert isinstance(status.signing_cert, asn1_x509.Certificate)
    signer = subject_text(cert)
    signer_sha = sha256_fingerprint(cert)
    who = f"{signer} (certificate SHA-256 {_short(signer_sha)})"
    verdict = SealVerdict(
        ok=False, sentence="", sealed=True, signer=signer, signer_sha256=signer_sha, info=info
    )
    if not (status.intact and status.valid):
        verdict.sentence = (
            f"is BROKEN: the bytes sealed by {who} were changed afterwards (the file was edited, "
            "or re-saved by another program); what it says cannot be relied on."
        )
        return verdict
    verdict.intact = True
    ts = status.timestamp_validity
    level = "PAdES B-T" if ts is not None and ts.intact and ts.valid and ts.trusted else "PAdES B-B"
    verdict.level = level
    from pyhanko.sign.diff_analysis import ModificationLevel

    whole = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    # Validation data (a DSS, a document time-stamp) added after the seal changes nothing
    # the seal vouches for; anything else does.
    harmless = (
        status.coverage == SignatureCoverageLevel.ENTIRE_REVISION
        and status.modification_level == ModificationLevel.LTA_UPDATES
    )
    if not (whole or harmless):
        what = {
            ModificationLevel.NONE: "bytes were added after the seal",
            ModificationLevel.LTA_UPDATES: "validation data was added after the seal",
            ModificationLevel.FORM_FILLING: "form fields were filled in after the seal",
            ModificationLevel.ANNOTATIONS: "annotations were changed after the seal",
            ModificationLevel.OTHER: "its content was changed after the seal (an update)",
        }.get(status.modification_level or ModificationLevel.OTHER, "it changed after the seal")
        verdict.sentence = (
            f"was MODIFIED after sealing: the seal by {who} is intact, but {what}; the version "
            "that was sealed is the first revision, not what a viewer shows now."
        )
        return verdict
    verdict.unchanged = True
    if not status.trusted:
        indication = str(getattr(status.trust_problem_indic, "name", "") or "")
        not_after = cert.not_valid_after_utc
        if "OUT_OF_BOUNDS" in indication or "EXPIRED" in indication:
            when = f"{not_after:%Y-%m-%d}"
            reason = (
                f"its certificate expired on {when}"
                if not_after < datetime.now(UTC)
                else "its certificate was not valid at the time checked"
            )
            verdict.sentence = (
                f"is sealed by {who} and unchanged since, but the seal is NOT VALID: {reason}."
            )
        elif "REVOKED" in indication:
            verdict.sentence = f"is sealed by {who}, but that certificate was REVOKED."
        else:
            anchors = ", ".join(_short(sha256_fingerprint(c)) for c in trust) or "none"
            verdict.sentence = (
                f"is intact and unchanged, but sealed by {who}, which does NOT lead to a trusted "
                f"root (trusted: {anchors}): another key sealed it."
            )
        return verdict
    verdict.trusted = True
    verdict.ok = True
    anchor = _anchor_of(status, trust)
    verdict.sentence = (
        f"is sealed by {who}, intact and not modified since; the chain leads to the root "
        f"{anchor}; {level}."
    )
    return verdict


def _anchor_of(status: Any, trust: Sequence[Certificate]) -> str:
    try:
        path = status.validation_path
        root = path.trust_anchor.authority.certificate if path is not None else None
    except AttributeError:
        root = None
    if root is not None:
        from cryptography import x509

        cert = x509.load_der_x509_certificate(root.dump())
        return f"{subject_text(cert)} (SHA-256 {_short(sha256_fingerprint(cert))})"
    return "trusted"


def read_pdf(path: Path, limit: int = 256 * 2**20) -> bytes:
    """A PDF named by the person: a regular file, not followed through a link."""
    from consent_records.store.layout import FileRefused, read_file

    try:
        return read_file(path, limit)
    except FileNotFoundError:
        raise KeyProblem(f"{path}: there is no such file.") from None
    except FileRefused as exc:
        raise KeyProblem(f"{exc.sentence()}.") from None
