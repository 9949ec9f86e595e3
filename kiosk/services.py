"""The services screens and commands call: start a session, save it, export a PDF.

This is the only place that joins settings, content and the record store. Screens get a
:class:`KioskServices` and never touch TinyDB or reportlab themselves. Heavy modules (the
store engine, reportlab) are imported on first use so the kiosk's first screen is quick.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.settings import Settings

if TYPE_CHECKING:
    from consent_records.base import ConsentStore
    from consent_records.model import ConsentRecord, StoredRecord
    from consent_records.pdf import ClinicHeader
    from content.loader import LoadedContent
    from content.schema import ContentBundle
    from kiosk.session import ConsentSession, SignatureInput

# The record model, content schema and store are imported on first use (see prepare()),
# so the Welcome screen can appear before they are loaded.

log = logging.getLogger("kiosk")


@dataclass(frozen=True, slots=True)
class SavedConsent:
    """What the Done screen needs after a save: nothing else of the patient."""

    reference: str
    record_id: str


class SaveFailed(Exception):
    """The record could not be stored. Nothing partial was kept; the session is intact."""


def setup_logging(data_dir: Path) -> None:
    """Log to ``<data_dir>/logs/kiosk.log`` (ids only, never patient names)."""
    root = logging.getLogger()
    if any(getattr(h, "_ims_kiosk", False) for h in root.handlers):
        return
    try:
        (data_dir / "logs").mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            data_dir / "logs" / "kiosk.log", maxBytes=2_000_000, backupCount=5, encoding="utf-8"
        )
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._ims_kiosk = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.INFO)


class KioskServices:
    """Settings, content and store for one kiosk process."""

    def __init__(
        self,
        settings: Settings,
        data_dir: Path,
        *,
        content: LoadedContent | None = None,
        clock: Callable[[], datetime] | None = None,
        store: ConsentStore | None = None,
    ) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self._content = content
        self._clock = clock
        self._store = store
        self._archived = False

    @property
    def content(self) -> LoadedContent:
        """The validated content for the kiosk's language (loaded on first use)."""
        if self._content is None:
            from content.loader import cached_content

            self._content = cached_content(self.settings.language)
        return self._content

    def prepare(self) -> None:
        """Load the content and open the store, archiving the content (kiosk start-up).

        A damaged store or a read-only data directory stops the kiosk here, before any
        patient starts. Raises ContentError, StoreCorrupt or StoreUnavailable.
        """
        _ = self.content
        self._archive_content()

    def now(self) -> datetime:
        """The current time in the clinic's time zone."""
        if self._clock is not None:
            return self._clock().astimezone(self.settings.zone)
        return datetime.now(self.settings.zone)

    @property
    def store(self) -> ConsentStore:
        """The record store, opened on first use (fails closed on a damaged store)."""
        if self._store is None:
            from consent_records.store import open_store

            self._store = open_store(self.data_dir)
        return self._store

    def _archive_content(self) -> None:
        """Keep the exact content records point at (once per process, before a save).

        Only writers archive: ``verify`` or ``pdf`` on a read-only backup must not write.
        """
        if not self._archived:
            self.store.archive_content(self.content.sha256, self.content.canonical_json)
            self._archived = True

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def new_session(self) -> ConsentSession:
        from kiosk.session import ConsentSession

        return ConsentSession(settings=self.settings, content=self.content, clock=self.now)

    # -- saving -----------------------------------------------------------------------

    def save(self, session: ConsentSession, signature: SignatureInput) -> SavedConsent:
        """Build the record and store it durably (runs in a worker thread).

        Raises:
            FieldErrors: the signature is not acceptable (shown next to the field).
            SaveFailed: storage failed; the message is for the log, not the patient.
        """
        from consent_records.base import StoreError, StoreUnavailable
        from consent_records.model import ConsentRecord, new_reference

        record = session.build_record(signature)
        store = self.store
        try:
            self._archive_content()
        except (StoreError, OSError) as exc:
            log.error("archiving content %s failed: %s", self.content.sha256, exc)
            raise SaveFailed(str(exc)) from exc
        for _attempt in range(5):
            if not store.reference_exists(record.reference):
                break
            record = record.model_copy(update={"reference": new_reference()})
        try:
            stored = store.save_record(ConsentRecord.model_validate(record.model_dump()))
        except StoreUnavailable as exc:
            log.error("saving record %s failed: %s", record.id, exc)
            raise SaveFailed(str(exc)) from exc
        except (StoreError, OSError, ValueError) as exc:
            log.exception("saving record %s failed", record.id)
            raise SaveFailed(str(exc)) from exc
        log.info(
            "saved record %s (%s, %s)",
            stored.record.id,
            stored.record.reference,
            stored.record.decision.value,
        )
        return SavedConsent(reference=stored.record.reference, record_id=stored.record.id)

    # -- PDF --------------------------------------------------------------------------

    def find(self, reference: str) -> StoredRecord:
        """A stored record by its reference code. Raises RecordNotFound."""
        from consent_records.model import normalise_reference

        return self.store.find_reference(normalise_reference(reference))

    def content_for(self, record: ConsentRecord) -> ContentBundle:
        """The exact content the patient saw, from the archive when it has changed since."""
        from consent_records.base import StoreError
        from content.schema import ContentBundle

        if record.content.sha256 == self.content.sha256:
            return self.content.bundle
        archived = self.store.archived_content(record.content.sha256)
        if archived is None:
            raise StoreError(
                f"The content version {record.content.version} that record {record.reference} "
                "was signed with is not in the content archive, so its PDF cannot be rebuilt."
            )
        return ContentBundle.model_validate_json(archived)

    def clinic_header(self) -> ClinicHeader:
        from consent_records.pdf import ClinicHeader

        clinic = self.settings.clinic
        return ClinicHeader(
            name=clinic.name, address_lines=tuple(clinic.address), phone=clinic.phone
        )

    def render_pdf(self, stored: StoredRecord) -> bytes:
        from consent_records.pdf import render_consent_pdf

        return render_consent_pdf(
            stored, self.content_for(stored.record), self.clinic_header(), generated_at=self.now()
        )

    def export_aftercare(self, reference: str, out: Path, *, actor: str = "cli") -> Path:
        """Write the take-home aftercare sheet for a record (no health answers on it) and
        log it on the record. Raises RecordNotFound or AftercareUnavailable."""
        from consent_records.aftercare import render_aftercare_pdf
        from consent_records.model import EventKind, RecordEvent

        stored = self.find(reference)
        data = render_aftercare_pdf(
            stored.record, self.content_for(stored.record), self.clinic_header()
        )
        write_file_atomically(out, data)
        self.store.append_event(
            RecordEvent(
                record_id=stored.record.id,
                kind=EventKind.AFTERCARE_PRINTED,
                at=self.now(),
                actor=actor,
                details={"file": out.name, "bytes": len(data)},
            )
        )
        return out

    def export_pdf(self, reference: str, out: Path, *, actor: str = "cli") -> Path:
        """Write one record's PDF atomically to ``out`` and log the export as an event."""
        from consent_records.model import EventKind, RecordEvent

        stored = self.find(reference)
        data = self.render_pdf(stored)
        write_file_atomically(out, data)
        self.store.append_event(
            RecordEvent(
                record_id=stored.record.id,
                kind=EventKind.PDF_EXPORTED,
                at=self.now(),
                actor=actor,
                details={"file": out.name, "bytes": len(data)},
            )
        )
        return out


def describe_startup_error(exc: BaseException) -> str:
    """A message for the person starting the kiosk (staff), naming what to do."""
    from consent_records.base import StoreCorrupt, StoreError
    from content.loader import ContentError

    if isinstance(exc, StoreCorrupt):
        return f"The record store cannot be opened safely.\n{exc}"
    if isinstance(exc, StoreError):
        return f"The record store cannot be used: {exc}"
    if isinstance(exc, ContentError):
        return str(exc)
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"The kiosk cannot start: {exc.strerror or exc}{where}"
    return f"The kiosk cannot start: {exc}. Details are in the kiosk log."


def write_file_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a reader sees the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        # Owner-only, whatever the umask: an exported summary is a health record.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
