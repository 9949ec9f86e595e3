"""Bulk export: sealed PDFs of the records a typed query selects, with a register, sums and
a signed manifest, on every core, resumable (docs/exports.md).

    plan = plan_export(services, ExportFilter(...), out_dir)    # what and where
    result = run_export(services, plan, exporter=..., progress=..., cancelled=...)

Each PDF is rendered and sealed in a worker process (a process pool: rendering and sealing
are CPU-bound Python), written to a hidden temporary file beside its final name, logged on
the record as a ``pdf_exported`` event by this process, and only then renamed into place; a
line in the folder's journal (``.ims-export.jsonl``) remembers it. A second run into the
same folder skips records whose PDF is there already for the same record hash and status.
A full disk, Ctrl+C or Cancel stops the export with a sentence saying how far it got; no
partial PDF is ever left where a PDF belongs, and the next run continues.

At the end it writes ``register.csv`` (one row per record, safe against spreadsheet formula
injection), ``SHA256SUMS`` (``sha256sum -c`` reads it) and ``manifest.json`` (who, when, the
filter, the count, the store's chain head) with ``manifest.json.sig``, an ECDSA signature by
the clinic's seal key that ``openssl dgst -verify`` checks.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from consent_records.query import RecordQuery

if TYPE_CHECKING:
    from consent_records.lifecycle import ConsentRules
    from kiosk.services import KioskServices

log = logging.getLogger("kiosk.export")

JOURNAL = ".ims-export.jsonl"
REGISTER = "register.csv"
SUMS = "SHA256SUMS"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
SEAL_CERT_COPY = "seal-cert.pem"
ROOT_CERT_COPY = "clinic-root.pem"
_IN_FLIGHT_PER_WORKER = 4

REGISTER_COLUMNS = (
    "reference",
    "patient name",
    "date of birth",
    "status",
    "signed at kiosk",
    "discussed",
    "countersigned",
    "withdrawn",
    "physiotherapist",
    "flags",
    "file",
)


class ExportStopped(Exception):
    """The export stopped before the end (cancelled, disk full); the sentence says how far
    it got. What was written is complete and the next run continues from there."""


class ExportFilter(BaseModel):
    """Which records an export takes: a typed query, never a Python callable."""

    model_config = ConfigDict(frozen=True)

    statuses: frozenset[str] = frozenset()
    """Lifecycle statuses (``consent_records.lifecycle.ConsentStatus`` values); empty: all."""
    completed_from: date | None = None
    completed_to: date | None = None
    physiotherapist_ids: frozenset[str] = frozenset()
    browser: RecordQuery | None = None
    """The staff browser's query as it stands (its search text and every filter); when set,
    it chooses the records and the fields above are not used. Its paging is ignored."""

    def describe(self) -> dict[str, Any]:
        if self.browser is not None:
            q = self.browser
            return {
                "statuses": sorted(s.value for s in q.statuses),
                "from": q.completed_from.isoformat() if q.completed_from else None,
                "to": q.completed_to.isoformat() if q.completed_to else None,
                "physiotherapists": sorted(q.physiotherapist_ids),
                # Whether a search narrowed it, never the typed text (often a patient's name).
                "search_text": "yes" if q.text else None,
                "flags": q.has_flags,
                "missed_questions": q.has_missed_questions,
                "substitute": q.has_substitute,
                "expiring_soon": q.expiring_soon,
            }
        return {
            "statuses": sorted(self.statuses),
            "from": self.completed_from.isoformat() if self.completed_from else None,
            "to": self.completed_to.isoformat() if self.completed_to else None,
            "physiotherapists": sorted(self.physiotherapist_ids),
        }


def neutralise(cell: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula (OWASP: a cell starting with =,
    +, -, @, tab or carriage return gets a leading apostrophe)."""
    if cell and cell[0] in "=+-@\t\r":
        return "'" + cell
    return cell


def _rules(services: KioskServices) -> ConsentRules:
    from consent_records.lifecycle import ConsentRules

    return ConsentRules(
        valid_days=services.settings.consent_valid_days, history=services.content.history
    )


def select_records(services: KioskServices, flt: ExportFilter, as_of: datetime) -> list[str]:
    """The ids of the records ``flt`` selects, oldest first (the store's own search when it
    has one, else :func:`consent_records.query.evaluate`, the specification)."""
    from consent_records.lifecycle import ConsentStatus, fold
    from consent_records.query import PAGE_MAX, SearchRow, SortKey, evaluate

    rules = _rules(services)
    order = {"as_of": as_of, "sort": SortKey.COMPLETED_AT, "descending": False}
    if flt.browser is not None:
        query = flt.browser.model_copy(update={**order, "offset": 0, "limit": PAGE_MAX})
    else:
        query = RecordQuery(
            statuses=frozenset(ConsentStatus(s) for s in flt.statuses),
            physiotherapist_ids=flt.physiotherapist_ids,
            completed_from=flt.completed_from,
            completed_to=flt.completed_to,
            limit=PAGE_MAX,
            **order,
        )
    store: Any = services.store
    search = getattr(store, "search", None)
    if search is None:
        total = store.count()[0]
        rows = []
        for summary in store.recent(total):
            stored = store.get(summary.id)
            rows.append(
                SearchRow.of(stored.record, fold(stored.record, [e.event for e in stored.events]))
            )

        def search(q: RecordQuery, r: ConsentRules) -> Any:
            return evaluate(rows, q, r)

    ids: list[str] = []
    while True:
        page = search(query, rules)
        ids += [item.row.record_id for item in page.items]
        if not page.has_more:
            return ids
        query = query.model_copy(update={"offset": query.offset + len(page.items)})


# -- the worker side -----------------------------------------------------------------------

_worker: dict[str, Any] = {}


def _init_worker(settings_json: str, data_dir: str, key_der: bytes | None) -> None:
    """A worker's services: the store read-only, and the seal key the parent unsealed
    (handed over to its own child processes, so each does not run scrypt again)."""
    from consent_records.store import open_store
    from kiosk.services import KioskServices
    from kiosk.settings import Settings

    logging.getLogger().addHandler(logging.NullHandler())
    settings = Settings.model_validate_json(settings_json)
    store: Any
    if settings.store == "postgresql":
        from kiosk.pg_cli import open_configured_store

        store = open_configured_store(settings, read_only=True)
    else:
        store = open_store(Path(data_dir), read_only=True)
    services = KioskServices(settings, Path(data_dir), store=store)
    if key_der is not None:
        from cryptography.hazmat.primitives.serialization import load_der_private_key

        from consent_records.sealing import Sealer
        from consent_records.sealkeys import load_identity
        from consent_records.store.layout import KEYS_DIR

        identity = load_identity(Path(data_dir) / KEYS_DIR)
        assert identity is not None
        services._sealer = Sealer(
            identity, load_der_private_key(key_der, password=None), tsa_url=settings.tsa_url
        )
    _worker["services"] = services


def _render_one(record_id: str, out_dir: str, file_name: str, fhir: bool) -> dict[str, Any]:
    """Render and seal one record's PDF (and its FHIR bundle) into hidden files in
    ``out_dir`` (worker side)."""
    from kiosk.services import write_hidden_copy

    services: KioskServices = _worker["services"]
    stored = services.store.get(record_id)
    data = services.render_pdf(stored)
    extra: dict[str, Any] = {}
    if fhir:
        from kiosk.fhir import fhir_json

        bundle = fhir_json(stored, data, file_name)
        name = file_name.removesuffix(".pdf") + ".fhir.json"
        extra = {
            "fhir_tmp": str(write_hidden_copy(Path(out_dir) / name, bundle)),
            "fhir_file": name,
            "fhir_sha256": hashlib.sha256(bundle).hexdigest(),
        }
    tmp = write_hidden_copy(Path(out_dir) / file_name, data)
    return {
        **extra,
        "record_id": record_id,
        "tmp": str(tmp),
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "entry": f"{stored.entry.seq}:{stored.entry.sha256}",
        "status": stored.lifecycle.status.value,
    }


# -- the parent side -----------------------------------------------------------------------


@dataclass
class ExportPlan:
    out_dir: Path
    flt: ExportFilter
    record_ids: list[str]
    as_of: datetime
    fhir: bool = False
    """Also a FHIR R4 bundle per record (``REFERENCE.fhir.json``)."""
    done: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Journal lines of records already exported into this folder (record id -> line)."""

    @property
    def total(self) -> int:
        return len(self.record_ids)


@dataclass
class ExportResult:
    out_dir: Path
    count: int
    written: int
    skipped: int
    manifest: Path
    signed: bool


def _read_journal(out_dir: Path) -> dict[str, dict[str, Any]]:
    done: dict[str, dict[str, Any]] = {}
    path = out_dir / JOURNAL
    if not path.exists():
        return done
    for line in path.read_text("utf-8", errors="replace").splitlines():
        try:
            item = json.loads(line)
            done[str(item["record_id"])] = item
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by a crash: that PDF is simply made again
    return done


def check_out_dir(out_dir: Path) -> None:
    """The folder must exist (or its parent, to make it), be a real folder, not a link."""
    from kiosk.services import ExportError

    if out_dir.is_symlink():
        raise ExportError(f"{out_dir} is a symbolic link; name a real folder.")
    if out_dir.exists():
        if not out_dir.is_dir():
            raise ExportError(f"{out_dir} is not a folder; nothing was written.")
        return
    if not out_dir.parent.is_dir():
        raise ExportError(
            f"The folder {out_dir.parent} does not exist; check the path (a mistyped path is "
            "never created)."
        )
    out_dir.mkdir(mode=0o700)


def plan_export(
    services: KioskServices, flt: ExportFilter, out_dir: Path, *, fhir: bool = False
) -> ExportPlan:
    check_out_dir(out_dir)
    as_of = services.now()
    ids = select_records(services, flt, as_of)
    done = _read_journal(out_dir)
    return ExportPlan(out_dir=out_dir, flt=flt, record_ids=ids, as_of=as_of, fhir=fhir, done=done)


def _file_name(reference: str) -> str:
    return f"{reference}.pdf"


def _pool(workers: int, services: KioskServices, key_der: bytes | None) -> Any:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork is quick (the parent's imports are inherited) but unsafe with threads running.
    method = "fork" if threading.active_count() == 1 else "forkserver"
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context(method),
        initializer=_init_worker,
        initargs=(services.settings.model_dump_json(), str(services.data_dir), key_der),
    )


def run_export(
    services: KioskServices,
    plan: ExportPlan,
    *,
    exporter: str,
    actor: Any = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> ExportResult:
    """Export ``plan``: PDFs, journal, register, sums and the signed manifest.

    ``exporter`` names who exports (it goes in every event and the manifest) and ``actor``
    (a staff actor, when they signed in) is who the export's audit entry names; the caller
    has checked that they may (see :func:`kiosk.export_cli.authorise_export`).
    Raises ExportStopped (cancelled, disk full), KeyProblem, SealProblem, StoreError.
    """
    from concurrent.futures import FIRST_COMPLETED, Future, wait

    from consent_records.model import EventKind, RecordEvent
    from kiosk.services import place_file

    sealer = services.sealer()  # fails now, before any work, if the passphrase is missing
    key_der = sealer.private_der() if sealer is not None else None
    store = services.store
    todo: list[tuple[str, str]] = []
    references: dict[str, str] = {}
    skipped = 0
    for record_id in plan.record_ids:
        stored = store.get(record_id)
        reference = stored.record.reference
        references[record_id] = reference
        earlier = plan.done.get(record_id)
        name = _file_name(reference)
        if (
            earlier is not None
            and earlier.get("entry") == f"{stored.entry.seq}:{stored.entry.sha256}"
            and earlier.get("status") == stored.lifecycle.status.value
            and _same_file(plan.out_dir / name, earlier.get("sha256"))
            and (not plan.fhir or _same_fhir(plan.out_dir, earlier))
        ):
            skipped += 1
            continue
        todo.append((record_id, name))
    total = plan.total
    done = skipped
    if progress:
        progress(done, total)
    written = 0
    workers = workers or max(1, min(os.cpu_count() or 1, len(todo)))
    journal = _open_journal(plan.out_dir)
    pool = _pool(workers, services, key_der) if todo else None
    pending: dict[Future[dict[str, Any]], str] = {}
    queue: Iterator[tuple[str, str]] = iter(todo)
    problem: str | None = None
    try:
        while pool is not None:
            while len(pending) < workers * _IN_FLIGHT_PER_WORKER and problem is None:
                nxt = next(queue, None)
                if nxt is None:
                    break
                future = pool.submit(_render_one, nxt[0], str(plan.out_dir), nxt[1], plan.fhir)
                pending[future] = nxt[1]
            if not pending:
                break
            finished, _ = wait(list(pending), timeout=0.5, return_when=FIRST_COMPLETED)
            if cancelled is not None and cancelled() and problem is None:
                problem = "was cancelled"
            for future in finished:
                name = pending.pop(future)
                try:
                    item = future.result()
                except OSError as exc:
                    problem = problem or _disk_sentence(exc)
                    continue
                except Exception as exc:
                    problem = problem or f"{name} could not be made ({exc})"
                    continue
                tmp = Path(item.pop("tmp"))
                fhir_tmp = Path(item.pop("fhir_tmp")) if "fhir_tmp" in item else None
                if problem is not None:
                    tmp.unlink(missing_ok=True)
                    if fhir_tmp is not None:
                        fhir_tmp.unlink(missing_ok=True)
                    continue
                try:
                    store.append_event(
                        RecordEvent(
                            record_id=item["record_id"],
                            kind=EventKind.PDF_EXPORTED,
                            at=services.now(),
                            actor=exporter[:120],
                            details={"file": name, "bytes": item["bytes"], "bulk": True},
                        )
                    )
                    place_file(tmp, plan.out_dir / name, force=True)
                    if fhir_tmp is not None:
                        place_file(fhir_tmp, plan.out_dir / item["fhir_file"], force=True)
                except OSError as exc:
                    tmp.unlink(missing_ok=True)
                    if fhir_tmp is not None:
                        fhir_tmp.unlink(missing_ok=True)
                    problem = _disk_sentence(exc)
                    continue
                except BaseException:
                    tmp.unlink(missing_ok=True)
                    if fhir_tmp is not None:
                        fhir_tmp.unlink(missing_ok=True)
                    raise
                item["file"] = name
                plan.done[item["record_id"]] = item
                journal.write(json.dumps(item, sort_keys=True) + "\n")
                journal.flush()
                written += 1
                done += 1
                if progress:
                    progress(done, total)
            if problem is not None and not pending:
                break
    except KeyboardInterrupt:
        problem = "was stopped (Ctrl+C)"
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        for future in pending:
            if future.done() and not future.cancelled() and future.exception() is None:
                for key in ("tmp", "fhir_tmp"):
                    if key in future.result():
                        Path(future.result()[key]).unlink(missing_ok=True)
        _fsync_close(journal)
    _audit(services, plan, exporter, actor, done, finished=problem is None)
    if problem is not None:
        sentence = (
            f"The export {problem}: {done:,} of {total:,} PDFs are in {plan.out_dir} "
            f"({written:,} written now). Run the same command again to continue."
        )
        raise ExportStopped(sentence)
    manifest, signed = _finish(services, plan, references, exporter, written, skipped)
    return ExportResult(plan.out_dir, total, written, skipped, manifest, signed)


def _audit(
    services: KioskServices,
    plan: ExportPlan,
    exporter: str,
    actor: Any,
    done: int,
    *,
    finished: bool,
) -> None:
    """The export as a whole, audited on the chain (who, the filter, how many)."""
    import socket

    from consent_records.audit import RecordsExported
    from consent_records.events import SystemActor, Terminal, TerminalKind

    described = plan.flt.describe()
    words = " ".join(
        f"{key}={','.join(value) if isinstance(value, list) else value}"
        for key, value in described.items()
        if value is not None and value != []
    )
    if actor is None:
        kind = "os_user" if exporter.startswith("cli:") else "system"
        actor = SystemActor(
            type=kind,
            name=exporter.removeprefix("cli:")[:60] or "export",
            terminal=Terminal(kind=TerminalKind.HOST, id=socket.gethostname()[:60] or "host"),
        )
    services.store.append_audit(
        RecordsExported(
            at=services.now(),
            actor=actor,
            filters=words or None,
            selected=plan.total,
            exported=done,
            finished=finished,
            folder=plan.out_dir.name[:100] or None,
        )
    )


def _same_fhir(out_dir: Path, earlier: dict[str, Any]) -> bool:
    name = earlier.get("fhir_file")
    return isinstance(name, str) and _same_file(out_dir / name, earlier.get("fhir_sha256"))


def _same_file(path: Path, sha256: object) -> bool:
    try:
        if path.is_symlink() or not path.is_file():
            return False
        return hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    except OSError:
        return False


def _disk_sentence(exc: OSError) -> str:
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "stopped because the disk is full"
    return f"stopped: a file could not be written ({exc.strerror or exc})"


def _open_journal(out_dir: Path) -> io.TextIOWrapper:
    fd = os.open(
        out_dir / JOURNAL, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC,
        0o600,
    )  # fmt: skip
    return io.TextIOWrapper(os.fdopen(fd, "wb"), encoding="utf-8")


def _fsync_close(handle: io.TextIOWrapper) -> None:
    try:
        handle.flush()
        os.fsync(handle.fileno())
    finally:
        handle.close()


def _register_rows(services: KioskServices, plan: ExportPlan) -> list[list[str]]:
    from consent_records.lifecycle import fold, judge
    from consent_records.model import EventKind

    rules = _rules(services)
    rows: list[list[str]] = []
    for record_id in plan.record_ids:
        stored = services.store.get(record_id)
        record = stored.record
        life = fold(record, [e.event for e in stored.events])
        standing = judge(life.status, life.consented_at, record.content.version, plan.as_of, rules)
        discussed = max((d.at for d in life.discussions), default=None)
        withdrawn = (
            life.outcome.at
            if life.outcome is not None and life.outcome.kind == EventKind.WITHDRAWN
            else None
        )
        rows.append(
            [
                record.reference,
                record.patient.full_name,
                record.patient.date_of_birth.isoformat(),
                standing.status.value,
                record.completed_at.isoformat(timespec="seconds"),
                discussed.isoformat(timespec="seconds") if discussed else "",
                life.consented_at.isoformat(timespec="seconds") if life.consented_at else "",
                withdrawn.isoformat(timespec="seconds") if withdrawn else "",
                record.physiotherapist.name,
                str(len(record.flags)),
                plan.done.get(record_id, {}).get("file", ""),
            ]
        )
    return rows


def _write_new(path: Path, data: bytes) -> None:
    from kiosk.services import place_file, write_hidden_copy

    place_file(write_hidden_copy(path, data), path, force=True)


def _finish(
    services: KioskServices,
    plan: ExportPlan,
    references: dict[str, str],
    exporter: str,
    written: int,
    skipped: int,
) -> tuple[Path, bool]:
    from cryptography.hazmat.primitives import serialization

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(REGISTER_COLUMNS)
    for row in _register_rows(services, plan):
        writer.writerow([neutralise(cell) for cell in row])
    register = buffer.getvalue().encode("utf-8-sig")
    _write_new(plan.out_dir / REGISTER, register)
    sums = []
    for record_id in plan.record_ids:
        item = plan.done[record_id]
        sums.append(f"{item['sha256']}  {item['file']}\n")
        if plan.fhir and "fhir_file" in item:
            sums.append(f"{item['fhir_sha256']}  {item['fhir_file']}\n")
    sums.append(f"{hashlib.sha256(register).hexdigest()}  {REGISTER}\n")
    sums_bytes = "".join(sums).encode("utf-8")
    _write_new(plan.out_dir / SUMS, sums_bytes)
    store = services.store
    manifest = {
        "format": "ims-consent-kiosk export v1",
        "exported_by": exporter,
        "exported_at": services.now().isoformat(timespec="seconds"),
        "clinic": services.settings.clinic.name,
        "filter": plan.flt.describe(),
        "count": plan.total,
        "written_this_run": written,
        "already_there": skipped,
        "chain_head": f"{store.chain_length()}:{store.chain_head()}",
        "register_sha256": hashlib.sha256(register).hexdigest(),
        "sha256sums_sha256": hashlib.sha256(sums_bytes).hexdigest(),
        "records": [
            {
                "reference": references[r],
                "file": plan.done[r]["file"],
                "entry": plan.done[r]["entry"],
            }
            for r in plan.record_ids
        ],
    }
    manifest_bytes = (json.dumps(manifest, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    _write_new(plan.out_dir / MANIFEST, manifest_bytes)
    sealer = services.sealer()
    if sealer is None:
        (plan.out_dir / SIGNATURE).unlink(missing_ok=True)
        return plan.out_dir / MANIFEST, False
    _write_new(plan.out_dir / SIGNATURE, sealer.sign_bytes(manifest_bytes))
    pem = serialization.Encoding.PEM
    _write_new(plan.out_dir / SEAL_CERT_COPY, sealer.identity.seal_cert.public_bytes(pem))
    _write_new(plan.out_dir / ROOT_CERT_COPY, sealer.identity.root.public_bytes(pem))
    log.info("export of %d records to %s (%d written)", plan.total, plan.out_dir, written)
    return plan.out_dir / MANIFEST, True
