"""``ims-kiosk export``: sealed PDFs of many records at once (kiosk/export.py,
docs/exports.md). Registered by :mod:`kiosk.cli`; nothing heavy is imported until it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from kiosk.services import KioskServices


def add_commands(commands: Any, common: Any) -> None:
    from kiosk.cli_staff import add_pdf_user_options

    export = commands.add_parser(
        "export", help="write sealed PDFs of many records, with a register, sums and manifest"
    )
    common(export, suppress=True)
    export.add_argument("--out", type=Path, required=True, metavar="DIR")
    export.add_argument(
        "--status", action="append", default=[], metavar="S",
        help="only records with this status (repeatable): awaiting_discussion, "
        "wants_discussion, declined_at_kiosk, discussed, active, expired, reconsent_needed, "
        "declined_after_discussion, not_proceeding, withdrawn",
    )  # fmt: skip
    export.add_argument("--from", dest="date_from", type=_day, metavar="DATE",
                        help="signed at the kiosk on or after DATE (YYYY-MM-DD)")  # fmt: skip
    export.add_argument("--to", dest="date_to", type=_day, metavar="DATE",
                        help="signed on or before DATE (YYYY-MM-DD)")  # fmt: skip
    export.add_argument(
        "--physio", action="append", default=[], metavar="ID",
        help="only records naming this physiotherapist id (repeatable)",
    )  # fmt: skip
    export.add_argument("--zip", action="store_true", help="also write DIR.zip of the result")
    export.add_argument(
        "--fhir", action="store_true",
        help="also write a FHIR R4 Bundle per record (REFERENCE.fhir.json)",
    )  # fmt: skip
    add_pdf_user_options(export)
    export.add_argument("--workers", type=int, default=None, help=argparse.SUPPRESS)
    evidence = commands.add_parser(
        "evidence", help="write one record's evidence bundle (a zip anyone can check)"
    )
    common(evidence, suppress=True)
    evidence.add_argument("reference", help="the record's reference code, for example K7P3-QX9M")
    evidence.add_argument("--out", type=Path, required=True, metavar="FILE.zip")
    evidence.add_argument("--force", action="store_true", help="replace FILE.zip if it exists")
    add_pdf_user_options(evidence)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date; write it as YYYY-MM-DD, for example 2026-03-31"
        ) from None


def authorise_export(services: KioskServices, args: argparse.Namespace) -> str:
    """Who exports, checked (see :func:`authorise`), as a label for events and manifests."""
    return authorise(services, args)[0]


def authorise(services: KioskServices, args: argparse.Namespace) -> tuple[str, Any]:
    """THE authorisation check for exports from the command line; returns who exports.

    The operating-system user must own the record store (the store's own rule for commands
    that write into it: an export appends an event per record). And, since exports read
    patients' records, a staff sign-in: ``--user`` (an admin for ``export``, anyone who may
    export a PDF for ``evidence``), audited under that person. A data directory that
    ``ims-kiosk demo`` filled (synthetic records only) needs no sign-in.
    """
    from consent_records.store.layout import current_user, user_name
    from kiosk.auth.permissions import StaffOperation, require
    from kiosk.cli import CommandError
    from kiosk.cli_staff import PasswordReader, sign_in
    from kiosk.demo import DEMO_MARKER
    from kiosk.staff.services import StaffServices

    owner = os.stat(services.data_dir).st_uid
    if owner != os.geteuid():
        raise CommandError(
            f"Only the store's owner ({user_name(owner)}) may export its records; run as "
            f"{user_name(owner)}."
        )
    user = getattr(args, "user", None)
    marker = services.data_dir / DEMO_MARKER
    if not user and marker.is_file() and not marker.is_symlink():
        return f"cli:{current_user()}", None
    staff = StaffServices(services.settings, services.data_dir, store=services.store)
    session = sign_in(staff, args, PasswordReader(getattr(args, "password_stdin", False)))
    bulk = getattr(args, "command", None) == "export"
    require(session.role, StaffOperation.EXPORT_PDFS if bulk else StaffOperation.EXPORT_PDF)
    return f"{session.user_name} ({session.role.value}) at {session.terminal}", session.actor


class _Progress:
    """A rich progress bar on a terminal; plain lines (every 2 s) otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self._last = 0.0
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self.tty:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("Exporting"), BarColumn(), MofNCompleteColumn(),
                TextColumn("·"), TimeRemainingColumn(),
                console=Console(file=self.stream), transient=True,
            )  # fmt: skip
            self._bar.__enter__()
            self._task = self._bar.add_task("export", total=None)
        return self

    def __call__(self, done: int, total: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total)
            return
        now = time.monotonic()
        if done < total and now - self._last < 2.0:
            return
        self._last = now
        elapsed = now - self.started
        left = ""
        if 0 < done < total and elapsed > 1:
            left = f", about {round(elapsed / done * (total - done))} s left"
        print(f"Exported {done:,} of {total:,}{left}", file=self.stream, flush=True)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


def cmd_export(args: argparse.Namespace) -> int:
    from kiosk import seal_cli
    from kiosk.cli import EXIT_OK, CommandError, _services
    from kiosk.export import ExportFilter, plan_export, run_export

    try:
        flt = ExportFilter(
            statuses=frozenset(args.status),
            completed_from=args.date_from,
            completed_to=args.date_to,
            physiotherapist_ids=frozenset(args.physio),
        )
    except ValueError as exc:
        raise CommandError(f"The filter is not valid: {exc}") from None
    _check_statuses(flt)
    if flt.completed_from and flt.completed_to and flt.completed_from > flt.completed_to:
        raise CommandError("--from is after --to; nothing was exported.")
    services = _services(args, existing=True)
    seal_cli.prompt_for_seal(services)
    try:
        exporter, actor = authorise(services, args)
        plan = plan_export(services, flt, args.out, fhir=args.fhir)
        if plan.total == 0:
            print("No record matches the filter; nothing was exported.", file=sys.stderr)
            return EXIT_OK
        with _Progress(sys.stderr) as progress:
            result = run_export(
                services,
                plan,
                exporter=exporter,
                actor=actor,
                workers=args.workers,
                progress=progress,
            )
    finally:
        services.close()
    print(
        f"Exported {result.count:,} records to {result.out_dir} ({result.written:,} written, "
        f"{result.skipped:,} already there): register.csv, SHA256SUMS, manifest.json"
        + (" and its signature." if result.signed else " (not signed: no seal set up).")
    )
    if args.zip:
        target = _zip(result.out_dir)
        print(f"Zipped to {target}")
    seal_cli.seal_note(services)
    return EXIT_OK


def _check_statuses(flt: Any) -> None:
    from consent_records.lifecycle import ConsentStatus
    from kiosk.cli import CommandError

    known = {s.value for s in ConsentStatus}
    wrong = sorted(set(flt.statuses) - known)
    if wrong:
        raise CommandError(
            f"Unknown status {', '.join(wrong)}; use one of: {', '.join(sorted(known))}."
        )


def _zip(out_dir: Path) -> Path:
    import zipfile

    from kiosk.services import ExportError, place_file

    target = out_dir.with_name(out_dir.name + ".zip")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            for path in sorted(out_dir.iterdir()):
                if path.is_file() and not path.is_symlink() and not path.name.startswith("."):
                    archive.write(path, f"{out_dir.name}/{path.name}")
        os.chmod(tmp, 0o600)
        place_file(tmp, target, force=True)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"{target} could not be written ({exc.strerror or exc}).") from None
    return target


def cmd_evidence(args: argparse.Namespace) -> int:
    from kiosk import seal_cli
    from kiosk.cli import EXIT_OK, _services
    from kiosk.evidence import build_evidence
    from kiosk.services import check_output_file

    check_output_file(args.out, force=args.force)
    services = _services(args, existing=True)
    seal_cli.prompt_for_seal(services)
    try:
        out = build_evidence(
            services,
            args.reference,
            args.out,
            actor=authorise_export(services, args),
            force=args.force,
        )
    finally:
        services.close()
    print(f"Wrote {out}: unzip it and follow README.txt inside to check it.")
    seal_cli.seal_note(services)
    return EXIT_OK
