"""The services screens and commands call: start a session, save it, export a PDF.

This is the only place that joins settings, content and the record store. Screens get a
:class:`KioskServices` and never touch TinyDB or reportlab themselves. Heavy modules (the
store engine, reportlab) are imported on first use so the kiosk's first screen is quick.
"""

from __future__ import annotations

import errno
import io
import logging
import logging.handlers
import os
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.settings import Settings

if TYPE_CHECKING:
    from consent_records.base import ConsentStore, VerifyReport
    from consent_records.model import ConsentRecord, EventKind, StoredRecord
    from consent_records.seal_block import SealStamp
    from consent_records.sealing import Sealer
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


class ExportError(Exception):
    """A file the user named cannot be written as asked (one sentence, nothing written)."""


class PrivateLogHandler(logging.handlers.RotatingFileHandler):
    """The kiosk log: owner-only (0600) whatever the umask, never opened through a symbolic
    link or if it is not a regular file, and never a traceback on the terminal when a
    record cannot be written (a full disk): the record is dropped instead."""

    def _open(self) -> io.TextIOWrapper:
        from consent_records.store.layout import FILE_MODE, open_regular

        fd = open_regular(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
        try:
            info = os.fstat(fd)
            if info.st_uid == os.geteuid() and info.st_mode & 0o077:
                os.fchmod(fd, FILE_MODE)
            return open(fd, "a", encoding=self.encoding or "utf-8", errors="backslashreplace")
        except BaseException:
            os.close(fd)
            raise

    def handleError(self, record: logging.LogRecord) -> None:
        self.dropped = getattr(self, "dropped", 0) + 1


def setup_logging(data_dir: Path) -> None:
    """Log to ``<data_dir>/logs/kiosk.log`` (ids only, never patient names)."""
    from consent_records.store.layout import LOGS_DIR, FileRefused, make_dir

    root = logging.getLogger()
    if any(getattr(h, "_ims_kiosk", False) for h in root.handlers):
        return
    # Whatever happens to the log file, a failure to log never prints a traceback.
    logging.raiseExceptions = False
    handler: logging.Handler
    try:
        if data_dir.parent.is_dir():  # a mistyped path is never created
            make_dir(data_dir)
            make_dir(data_dir / LOGS_DIR)
            handler = PrivateLogHandler(
                data_dir / LOGS_DIR / "kiosk.log", maxBytes=2_000_000, backupCount=5,
                encoding="utf-8",
            )  # fmt: skip
        else:
            handler = logging.NullHandler()
    except FileRefused as exc:
        print(f"Not logging: {exc.sentence()}.", file=sys.stderr)
        handler = logging.NullHandler()
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    setattr(handler, "_ims_kiosk", True)  # noqa: B010 (a marker on a library class)
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
        self._sealer: Sealer | None = None
        self.seal_passphrase: Callable[[], str] | None = None
        """Asks for the seal passphrase when no ``seal_passphrase_file`` is set (the CLI sets
        a terminal prompt); None: no one can be asked."""

    @property
    def content(self) -> LoadedContent:
        """The validated content for the kiosk's language (loaded on first use)."""
        if self._content is None:
            from content.loader import cached_content

            self._content = cached_content(self.settings.language)
        return self._content

    def prepare(self) -> None:
        """Load the content, open and check the store, archive the content (kiosk start-up).

        A damaged store, or a data directory that cannot be written now, stops the kiosk
        here, before any patient starts (not at "Sign and finish" after their ten minutes).
        The check reads every entry file and compares its hash with the index (about a
        second at 50,000 records). Raises ContentError, StoreCorrupt or StoreUnavailable.
        """
        _ = self.content
        store = self.store
        store.probe_writable()
        store.check_integrity()
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
            if self.settings.store == "postgresql":
                from kiosk.pg_cli import open_configured_store

                self._store = open_configured_store(self.settings)
                if self.data_dir.parent.is_dir():  # (the log, keys and marks stay local)
                    from consent_records.store.layout import make_dir

                    make_dir(self.data_dir)
            else:
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
        try:
            # (Inside the try: on a database server even this look-up can fail.)
            for _attempt in range(5):
                if not store.reference_exists(record.reference):
                    break
                record = record.model_copy(update={"reference": new_reference()})
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

    # -- the clinic's seal -------------------------------------------------------------

    def sealer(self) -> Sealer | None:
        """The clinic's seal for this process (its key unsealed once), or None when the
        clinic has not set one up (its PDFs then say NOT SEALED).

        Raises KeyProblem: a seal is set up but its passphrase is not available or wrong, or
        its files are damaged (a PDF is then never written unsealed).
        """
        if self._sealer is not None:
            return self._sealer
        from consent_records.keys import KeyProblem
        from consent_records.sealing import Sealer
        from consent_records.sealkeys import load_identity, read_passphrase_file
        from consent_records.store.layout import KEYS_DIR

        identity = load_identity(self.data_dir / KEYS_DIR)
        if identity is None:
            return None
        if self.settings.seal_passphrase_file is not None:
            passphrase = read_passphrase_file(self.settings.seal_passphrase_file)
        elif self.seal_passphrase is not None:
            passphrase = self.seal_passphrase()
        else:
            raise KeyProblem(
                "This clinic seals its PDFs, but this process has no seal passphrase: set "
                "seal_passphrase_file in the clinic's settings (see docs/sealing.md). Nothing "
                "was written."
            )
        self._sealer = Sealer.open(identity, passphrase, tsa_url=self.settings.tsa_url)
        return self._sealer

    def _sealed(
        self, render: Callable[[SealStamp | None, datetime], bytes], info: dict[str, str]
    ) -> bytes:
        """Render with the seal block, then seal (or, with no seal set up, NOT SEALED)."""
        sealer = self.sealer()
        now = self.now()
        if sealer is None:
            return render(None, now)
        stamp = sealer.stamp(now)
        data = render(stamp, now)
        return sealer.seal(data, info, stamp)

    def render_pdf(
        self, stored: StoredRecord, *, verification: VerifyReport | None = None
    ) -> bytes:
        """The record's PDF, sealed with the clinic's seal when it has one: its letterhead,
        identity and time zone come from the record (what the patient signed with), never
        from these settings; ``verification`` (the store's verify report at export) is
        printed on its integrity block."""
        from consent_records.lifecycle import ConsentRules
        from consent_records.pdf import clinic_header_for, render_consent_pdf

        rules = ConsentRules(
            valid_days=self.settings.consent_valid_days, history=self.content.history
        )
        demo = self.is_demo
        content = self.content_for(stored.record)
        length = stored.chain_length
        head = f"{length}:{stored.chain_head}" if length is not None else stored.chain_head
        info = {
            "Kind": "consent-summary",
            "Reference": stored.record.reference,
            "RecordId": stored.record.id,
            "Entry": f"{stored.entry.seq}:{stored.entry.sha256}",
            "Status": stored.lifecycle.status.value,
            "ChainHead": head,
        }
        return self._sealed(
            lambda seal, now: render_consent_pdf(
                stored,
                content,
                clinic_header_for(stored.record),
                generated_at=now,
                verification=verification,
                seal=seal,
                rules=rules,
                demo=demo,
            ),
            info,
        )

    @property
    def is_demo(self) -> bool:
        """No clinic is set up, or the data directory holds ``ims-kiosk demo`` records:
        PDFs then say DEMO on every page."""
        from kiosk.demo import DEMO_MARKER

        return self.settings.is_demo or (self.data_dir / DEMO_MARKER).is_file()

    def export_aftercare(
        self, reference: str, out: Path, *, actor: str = "cli", force: bool = False
    ) -> Path:
        """Write the take-home aftercare sheet for a record (no health answers on it),
        sealed, logging it on the record first, as :meth:`export_pdf` does.

        Raises ExportError (the target), RecordNotFound, AftercareUnavailable, StoreError,
        KeyProblem, SealProblem.
        """
        from consent_records.aftercare import render_aftercare_pdf
        from consent_records.model import EventKind
        from consent_records.pdf import clinic_header_for

        check_output_file(out, force=force)
        stored = self.find(reference)
        content = self.content_for(stored.record)
        info = {
            "Kind": "aftercare",
            "Reference": stored.record.reference,
            "RecordId": stored.record.id,
        }
        data = self._sealed(
            lambda seal, now: render_aftercare_pdf(
                stored.record,
                content,
                clinic_header_for(stored.record),
                seal=seal,
                generated_at=now,
            ),
            info,
        )
        return self._write_logged(stored, data, out, EventKind.AFTERCARE_PRINTED, actor, force)

    def export_pdf(
        self,
        reference: str,
        out: Path,
        *,
        actor: str = "cli",
        force: bool = False,
        verification: VerifyReport | None = None,
    ) -> Path:
        """Write one record's PDF to ``out``, logging the export as an event first.

        Raises ExportError (the target), RecordNotFound, StoreError.
        """
        from consent_records.model import EventKind

        check_output_file(out, force=force)
        stored = self.find(reference)
        data = self.render_pdf(stored, verification=verification)
        return self._write_logged(stored, data, out, EventKind.PDF_EXPORTED, actor, force)

    def _write_logged(
        self,
        stored: StoredRecord,
        data: bytes,
        out: Path,
        kind: EventKind,
        actor: str,
        force: bool,
    ) -> Path:
        """Write ``data`` to a hidden temporary file beside ``out``, append the event that
        logs it to the chain, and only then put the file in place (without replacing an
        existing file unless ``force``). If the event cannot be stored (a full disk, a
        read-only backup, the lock), no file is left behind."""
        from consent_records.model import RecordEvent

        tmp = write_hidden_copy(out, data)
        try:
            self.store.append_event(
                RecordEvent(
                    record_id=stored.record.id,
                    kind=kind,
                    at=self.now(),
                    actor=actor,
                    details={"file": out.name[:200], "bytes": len(data)},
                )
            )
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        try:
            place_file(tmp, out, force=force)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise ExportError(
                f"The export of {stored.record.reference} is logged on the record, but "
                f"{out} could not be written ({exc.strerror or exc}). Run the command again "
                "to write the file."
            ) from None
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


def check_output_file(out: Path, *, force: bool) -> None:
    """Refuse a target the user named that must not be written: its folder missing (a
    mistyped path is an error, never a new tree), something there that is not a regular
    file (a device, a link, a folder), or a file there without ``force``."""
    import stat

    folder = out.parent
    if not folder.is_dir():
        raise ExportError(
            f"The folder {folder} does not exist; check the path (a mistyped path is never "
            "created) or create the folder first."
        )
    try:
        info = os.lstat(out)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(info.st_mode):
        from consent_records.store.layout import refuse_special

        what = refuse_special(out, info.st_mode).reason.split(";")[0]
        raise ExportError(f"{out} {what}; nothing was written. Choose the name of a new file.")
    if not force:
        raise ExportError(
            f"{out} already exists; nothing was written. Add --force to replace it, or "
            "choose another name."
        )


def write_hidden_copy(out: Path, data: bytes) -> Path:
    """``data`` in a new hidden, owner-only, fsynced file beside ``out``; its path."""
    from consent_records.store.layout import write_new_private

    tmp = out.with_name(f".{out.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        write_new_private(tmp, data)
    except OSError as exc:
        raise ExportError(f"{out} cannot be written ({exc.strerror or exc}).") from None
    return tmp


def place_file(tmp: Path, out: Path, *, force: bool) -> None:
    """Put ``tmp`` at ``out`` atomically: replace only with ``force`` (and only a regular
    file), otherwise fail if anything appeared there meanwhile."""
    import stat

    from consent_records.storage import fsync_dir

    if force:
        try:
            if not stat.S_ISREG(os.lstat(out).st_mode):
                raise OSError(errno.EEXIST, "it is no longer a regular file")
        except FileNotFoundError:
            pass
        os.replace(tmp, out)
    else:
        os.link(tmp, out, follow_symlinks=False)
        tmp.unlink()
    fsync_dir(out.parent)


def write_file_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file ``path`` (atomically; never replacing anything)."""
    check_output_file(path, force=False)
    place_file(write_hidden_copy(path, data), path, force=False)
