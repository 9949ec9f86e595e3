"""The ``ims-kiosk`` command.

    ims-kiosk                           the patient kiosk (demo clinic, ./data)
    ims-kiosk content check             validate the content, print reading grades
    ims-kiosk demo --records N          add N synthetic records
    ims-kiosk pdf REFERENCE --out FILE  write one record's PDF summary
    ims-kiosk aftercare REFERENCE --out FILE   the take-home warning signs and aftercare
    ims-kiosk verify                    check every record and event against the chain
    ims-kiosk backup --out DIR          write a consistent, verified copy of the store

Every command takes ``--data-dir DIR`` (or IMS_KIOSK_DATA_DIR) and ``--config FILE`` (or
IMS_KIOSK_CONFIG), before or after the command's name. Problems are reported as plain
sentences on stderr with a non-zero exit code; details go to ``<data-dir>/logs``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from kiosk import __version__

log = logging.getLogger("kiosk.cli")

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2


class CommandError(Exception):
    """A problem to report to the person at the terminal, without a traceback."""


def _common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--data-dir", type=Path, default=default, metavar="DIR",
        help="where records are kept (default: ./data, or IMS_KIOSK_DATA_DIR)",
    )  # fmt: skip
    parser.add_argument(
        "--config", type=Path, default=default, metavar="FILE",
        help="clinic settings in TOML (default: the demo clinic, or IMS_KIOSK_CONFIG)",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ims-kiosk",
        description="IMS Consent Kiosk: patient education and informed-consent records.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _common(parser, suppress=False)
    parser.add_argument(
        "--dev", action="store_true",
        help="developer mode: ctrl+q quits (a patient kiosk has no quit key)",
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="start the patient kiosk (the default)")
    _common(run, suppress=True)
    run.add_argument("--dev", action="store_true", default=argparse.SUPPRESS)

    content = commands.add_parser("content", help="work with the education content")
    _common(content, suppress=True)
    content_commands = content.add_subparsers(dest="content_command", metavar="ACTION")
    check = content_commands.add_parser(
        "check", help="validate it, gate its reading grades, check it copies no source text"
    )
    _common(check, suppress=True)

    demo = commands.add_parser("demo", help="add synthetic records for demos and tests")
    _common(demo, suppress=True)
    demo.add_argument("--records", type=int, default=10, metavar="N")
    demo.add_argument("--seed", type=int, default=None, help="repeatable output")

    pdf = commands.add_parser("pdf", help="write one record's PDF summary")
    _common(pdf, suppress=True)
    pdf.add_argument("reference", help="the record's reference code, for example K7P3-QX9M")
    pdf.add_argument("--out", type=Path, required=True, metavar="FILE")

    aftercare = commands.add_parser(
        "aftercare", help="write the take-home warning signs and aftercare sheet for a record"
    )
    _common(aftercare, suppress=True)
    aftercare.add_argument("reference", help="the record's reference code, for example K7P3-QX9M")
    aftercare.add_argument("--out", type=Path, required=True, metavar="FILE")

    verify = commands.add_parser("verify", help="check every record and event against the chain")
    _common(verify, suppress=True)

    backup = commands.add_parser("backup", help="write a consistent, verified copy of the store")
    _common(backup, suppress=True)
    backup.add_argument("--out", type=Path, required=True, metavar="DIR")
    return parser


def _services(args: argparse.Namespace, *, existing: bool = False):  # type: ignore[no-untyped-def]
    """Settings, content and store for a command; ``existing``: the store must exist
    already (an admin command run against a mistyped path must not make an empty one
    and report that all is well)."""
    from kiosk.services import KioskServices, setup_logging
    from kiosk.settings import load_settings, resolve_config, resolve_data_dir

    data_dir = resolve_data_dir(args.data_dir)
    settings = load_settings(resolve_config(args.config))
    if existing:
        from consent_records.store import store_exists

        if not store_exists(data_dir):
            raise CommandError(
                f"There is no record store in {data_dir.resolve()}. "
                "Check --data-dir (or IMS_KIOSK_DATA_DIR)."
            )
    setup_logging(data_dir)
    return KioskServices(settings, data_dir)


def cmd_run(args: argparse.Namespace) -> int:
    services = _services(args)
    from kiosk.app import KioskApp

    # The app shows Welcome at once, then loads the content and opens the store in a
    # worker; a damaged store makes it exit with ``exit_message`` before any patient starts.
    app = KioskApp(services, dev_mode=bool(getattr(args, "dev", False)))
    try:
        app.run()
    finally:
        services.close()
    if app.exit_message:
        print(app.exit_message, file=sys.stderr)
        return EXIT_PROBLEM
    return EXIT_OK if app.return_code in (None, 0) else EXIT_PROBLEM


def cmd_content_check(args: argparse.Namespace) -> int:
    from content.check import check_content, format_report
    from kiosk.settings import load_settings, resolve_config

    settings = load_settings(resolve_config(args.config))
    report = check_content(settings.language)
    print("\n".join(format_report(report)))
    return EXIT_OK if report.ok else EXIT_PROBLEM


def cmd_demo(args: argparse.Namespace) -> int:
    if args.records < 1:
        raise CommandError("--records must be 1 or more.")
    from kiosk.demo import DEMO_MARKER, generate

    services = _services(args)
    marker = services.data_dir / DEMO_MARKER
    # Records are permanent: never mix synthetic patients into a store with real ones.
    if not marker.exists() and services.store.count() != (0, 0):
        services.close()
        raise CommandError(
            f"{services.data_dir.resolve()} already holds records that demo did not make. "
            "Demo records are permanent, so add them to a separate --data-dir."
        )
    marker.write_text(
        "This data directory holds synthetic demo records (ims-kiosk demo), not patients.\n",
        encoding="utf-8",
    )
    try:
        for saved, name in generate(services, args.records, seed=args.seed):
            print(f"{saved.reference}\t{name}", flush=True)
    finally:
        services.close()
    return EXIT_OK


def cmd_pdf(args: argparse.Namespace) -> int:
    services = _services(args, existing=True)
    try:
        out = services.export_pdf(args.reference, args.out)
    finally:
        services.close()
    print(f"Wrote {out}")
    return EXIT_OK


def cmd_aftercare(args: argparse.Namespace) -> int:
    services = _services(args, existing=True)
    try:
        out = services.export_aftercare(args.reference, args.out)
    finally:
        services.close()
    print(f"Wrote {out}")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    services = _services(args, existing=True)
    try:
        report = services.store.verify()
    finally:
        services.close()
    print(report.summary_line())
    print(f"Store: {services.data_dir.resolve()}")
    if not report.ok:
        print(f"Verification FAILED: {report.problem}", file=sys.stderr)
        return EXIT_PROBLEM
    print("Every record and event matches the chain.")
    return EXIT_OK


def cmd_backup(args: argparse.Namespace) -> int:
    services = _services(args, existing=True)
    try:
        report = services.store.backup(args.out)
    finally:
        services.close()
    print(f"Backup written to {args.out}: {report.summary_line()}")
    if not report.ok:
        print(f"The backup does not verify: {report.problem}", file=sys.stderr)
        return EXIT_PROBLEM
    return EXIT_OK


def dispatch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    command = args.command or "run"
    if command == "content":
        if getattr(args, "content_command", None) != "check":
            parser.parse_args(["content", "--help"])
        return cmd_content_check(args)
    handlers = {
        "run": cmd_run,
        "demo": cmd_demo,
        "pdf": cmd_pdf,
        "aftercare": cmd_aftercare,
        "verify": cmd_verify,
        "backup": cmd_backup,
    }
    return handlers[command](args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return dispatch(args, parser)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        return report(exc)


def report(exc: Exception) -> int:
    """Print a sentence for ``exc`` (never a traceback) and return the exit code."""
    # Imported here, not at the top, to keep them off the kiosk's start path.
    from consent_records.aftercare import AftercareUnavailable
    from consent_records.base import RecordNotFound, StoreCorrupt, StoreError
    from content.loader import ContentError
    from kiosk.services import SaveFailed
    from kiosk.settings import SettingsError

    if isinstance(exc, AftercareUnavailable):
        print(exc, file=sys.stderr)
        return EXIT_PROBLEM
    if isinstance(exc, SettingsError | ContentError | CommandError):
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    if isinstance(exc, RecordNotFound):
        print(f"No record found: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    if isinstance(exc, StoreCorrupt):
        print(f"The record store cannot be opened safely.\n{exc}", file=sys.stderr)
        return EXIT_PROBLEM
    if isinstance(exc, StoreError | SaveFailed):
        print(f"The record store reported a problem: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    if isinstance(exc, OSError):
        log.exception("command failed")
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"Could not complete the command: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_PROBLEM
    log.exception("unexpected error")
    print(f"Something went wrong: {exc}. Details are in the kiosk log.", file=sys.stderr)
    return EXIT_PROBLEM


if __name__ == "__main__":
    sys.exit(main())
