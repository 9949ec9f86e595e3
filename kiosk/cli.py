"""The ``ims-kiosk`` command.

    ims-kiosk                           the patient kiosk (demo clinic, ./data)
    ims-kiosk content check             validate the content, print reading grades
    ims-kiosk demo --records N          add N synthetic records
    ims-kiosk pdf REFERENCE --out FILE  write one record's PDF summary
    ims-kiosk aftercare REFERENCE --out FILE   the take-home warning signs and aftercare
    ims-kiosk verify                    check every record and event against the chain
    ims-kiosk reindex                   rebuild the index from the entry files
    ims-kiosk backup --out DIR          write a consistent, verified copy of the store
    ims-kiosk keys init | show          make or show the clinic's checkpoint key and seal
    ims-kiosk keys import FILE.p12      use a certificate the clinic already has as its seal
    ims-kiosk keys renew-seal           issue a new seal certificate from the root CA
    ims-kiosk verify-pdf FILE...        check the clinic's seal on PDFs
    ims-kiosk export --out DIR [...]    sealed PDFs of many records, register, sums, manifest
    ims-kiosk evidence REF --out F.zip  one record's evidence bundle, checkable by anyone
    ims-kiosk checkpoint                sign the chain's head with the clinic's key
    ims-kiosk init                      set up a clinic (settings file, first admin)
    ims-kiosk users add|list|...        staff accounts (kiosk/cli_staff.py)
    ims-kiosk records list|show         records, for signed-in staff
    ims-kiosk staff                     the staff app (physiotherapists and admins)
    ims-kiosk db init | migrate | status   the PostgreSQL schema (kiosk/pg_cli.py)
    ims-kiosk store copy --from A --to B   move a chain between a data directory and PostgreSQL

Every command takes ``--data-dir DIR`` (or IMS_KIOSK_DATA_DIR) and ``--config FILE`` (or
IMS_KIOSK_CONFIG), before or after the command's name. Problems are reported as plain
sentences on stderr with a non-zero exit code, never a traceback; details go to
``<data-dir>/logs``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from kiosk import __version__

if TYPE_CHECKING:
    from consent_records.base import Anchor, Checkpoint, VerifyReport
    from consent_records.store import TinyDBStore
    from kiosk.services import KioskServices

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
        help=(
            "where records are kept (default: IMS_KIOSK_DATA_DIR, else the settings' "
            "data_dir, else your per-user data folder)"
        ),
    )  # fmt: skip
    parser.add_argument(
        "--config", type=Path, default=default, metavar="FILE",
        help="clinic settings in TOML (default: the demo clinic, or IMS_KIOSK_CONFIG)",
    )  # fmt: skip


def _state_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir", type=Path, default=None, metavar="DIR",
        help="where the high-water mark is kept, apart from the data directory (default: "
        "~/.local/state/ims-kiosk, or IMS_KIOSK_STATE_DIR)",
    )  # fmt: skip


def _passphrase_stdin(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--passphrase-stdin", action="store_true",
        help="read the key's passphrase from the first line of standard input (for scripts)",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    from kiosk.cli_staff import add_pdf_user_options, add_staff_commands

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
    pdf.add_argument("--force", action="store_true", help="replace FILE if it exists")
    add_pdf_user_options(pdf)

    aftercare = commands.add_parser(
        "aftercare", help="write the take-home warning signs and aftercare sheet for a record"
    )
    _common(aftercare, suppress=True)
    aftercare.add_argument("reference", help="the record's reference code, for example K7P3-QX9M")
    aftercare.add_argument("--out", type=Path, required=True, metavar="FILE")
    aftercare.add_argument("--force", action="store_true", help="replace FILE if it exists")

    verify = commands.add_parser("verify", help="check every record and event against the chain")
    _common(verify, suppress=True)
    _state_dir(verify)
    verify.add_argument(
        "--expect", action="append", default=[], metavar="SEQ:HASH",
        help="prove the store still holds this prefix: SEQ:HASH as verify and every PDF "
        "print it, a checkpoint line, or a file of them (repeatable)",
    )  # fmt: skip
    verify.add_argument(
        "--accept-rollback", action="store_true",
        help="after restoring an older backup on purpose: lower the high-water mark to this "
        "store's head (records after it are not in this store)",
    )  # fmt: skip

    reindex = commands.add_parser("reindex", help="rebuild the index from the entry files")
    _common(reindex, suppress=True)

    backup = commands.add_parser("backup", help="write a consistent, verified copy of the store")
    _common(backup, suppress=True)
    backup.add_argument("--out", type=Path, required=True, metavar="DIR")

    keys = commands.add_parser("keys", help="the clinic's keys (checkpoint signing, PDF seal)")
    _common(keys, suppress=True)
    key_commands = keys.add_subparsers(dest="keys_command", metavar="ACTION")
    keys_init = key_commands.add_parser(
        "init", help="make the clinic's checkpoint key, root CA and seal certificate"
    )
    _common(keys_init, suppress=True)
    _passphrase_stdin(keys_init)
    keys_show = key_commands.add_parser(
        "show", help="show the keys: fingerprints, certificates and their expiry"
    )
    _common(keys_show, suppress=True)
    from kiosk import seal_cli

    seal_cli.add_key_actions(key_commands, _common, _passphrase_stdin)
    seal_cli.add_commands(commands, _common)
    from kiosk import export_cli

    export_cli.add_commands(commands, _common)

    checkpoint = commands.add_parser(
        "checkpoint", help="sign the chain's head with the clinic's key and print it"
    )
    _common(checkpoint, suppress=True)
    _state_dir(checkpoint)
    _passphrase_stdin(checkpoint)
    checkpoint.add_argument(
        "--key", type=Path, default=None, metavar="FILE",
        help="the private key file (default: DATA_DIR/keys/checkpoint-key.json)",
    )  # fmt: skip
    add_staff_commands(commands, _common)
    from kiosk import staff_cli

    staff_cli.add_parser(commands)
    from kiosk import pg_cli  # the PostgreSQL commands (psycopg only when they run)

    pg_cli.add_commands(commands, _common)
    return parser


# -- shared plumbing ------------------------------------------------------------------


def _data_dir(args: argparse.Namespace) -> Path:
    from kiosk.settings import load_settings, resolve_config, resolve_data_dir

    return resolve_data_dir(args.data_dir, load_settings(resolve_config(args.config)))


def _require_store(data_dir: Path) -> None:
    """An admin command run against a mistyped path must not make an empty store and
    report that all is well."""
    from consent_records.store import store_exists

    if not store_exists(data_dir):
        raise CommandError(
            f"There is no record store in {data_dir.absolute()}. "
            "Check --data-dir (or IMS_KIOSK_DATA_DIR)."
        )


def _services(args: argparse.Namespace, *, existing: bool = False) -> KioskServices:
    """Settings, content and store for a command; ``existing``: the store must exist."""
    from kiosk.services import KioskServices, setup_logging
    from kiosk.settings import load_settings, resolve_config, resolve_data_dir

    settings = load_settings(resolve_config(args.config))
    data_dir = resolve_data_dir(args.data_dir, settings)
    if existing and settings.store == "embedded":
        _require_store(data_dir)
    setup_logging(data_dir)
    return KioskServices(settings, data_dir)


def _read_only_store(args: argparse.Namespace) -> TinyDBStore:
    """The store opened for reading only (verify, backup): it may belong to another user
    (an admin checking the kiosk's store as root) and nothing in it is written."""
    from consent_records.store import open_store
    from kiosk.settings import load_settings, resolve_config

    settings = load_settings(resolve_config(args.config))  # a broken config is reported
    if settings.store == "postgresql":
        from kiosk.pg_cli import open_configured_store

        logging.getLogger().addHandler(logging.NullHandler())
        return open_configured_store(settings, read_only=True)  # type: ignore[no-any-return]
    data_dir = _data_dir(args)
    _require_store(data_dir)
    # Read-only: no log file is written either (and nothing reaches the terminal but the
    # command's own sentences).
    logging.getLogger().addHandler(logging.NullHandler())
    return open_store(data_dir, read_only=True)


class ProgressBar:
    """A progress bar on a terminal (stderr), nothing otherwise; at most 10 redraws a second."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.active = self.stream.isatty()
        self._last = 0.0
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        if not self.active:
            return
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        width = 30
        filled = width * done // total if total else width
        percent = 100 * done // total if total else 100
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {percent:3d}%  {done:,} of {total:,}")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False


def _with_progress(label: str, work: Callable[[Callable[[int, int], None]], Any]) -> Any:
    bar = ProgressBar(label)
    try:
        return work(bar)
    finally:
        bar.close()


# -- commands -------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from kiosk.config_file import resolve_config, welcome_facts

    # Welcome is painted from the clinic's name alone (read from the settings file, not
    # validated yet). The start-up worker then validates the settings, loads the content
    # and opens (and checks) the store; a wrong setting, a damaged or unwritable store makes
    # the app exit before any patient starts, and it is reported here as any command would.
    welcome = welcome_facts(resolve_config(args.config))
    from kiosk.app import KioskApp

    app = KioskApp(
        load=lambda: _services(args),
        welcome=welcome,
        dev_mode=bool(getattr(args, "dev", False)),
    )
    try:
        app.run()
    finally:
        if (services := app.loaded_services) is not None:
            services.close()
    if app.startup_error is not None:
        raise app.startup_error
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
    from consent_records.store.layout import write_new_private
    from kiosk.demo import DEMO_MARKER, generate

    services = _services(args)
    try:
        store = services.store
        marker = services.data_dir / DEMO_MARKER
        # Records are permanent: never mix synthetic patients into a store with real ones.
        # Checked and marked under the store's lock, so two demos started at once on a new
        # directory agree (and a kiosk cannot save a patient in between).
        with store.exclusive("checking the store before adding demo records"):  # type: ignore[attr-defined]
            if (os.path.lexists(marker) and not marker.is_file()) or marker.is_symlink():
                raise CommandError(
                    f"{marker} is not a regular file (a link or a special file); the kiosk "
                    "never follows links in its data directory. Remove it, then try again."
                )
            if not os.path.lexists(marker):
                if store.count() != (0, 0):
                    raise CommandError(
                        f"{services.data_dir.absolute()} already holds records that demo did "
                        "not make. Demo records are permanent, so add them to a separate "
                        "--data-dir."
                    )
                write_new_private(
                    marker,
                    b"This data directory holds synthetic demo records (ims-kiosk demo), "
                    b"not patients.\n",
                )
        for saved, name in generate(services, args.records, seed=args.seed):
            print(f"{saved.reference}\t{name}", flush=True)
    finally:
        services.close()
    return EXIT_OK


def cmd_pdf(args: argparse.Namespace) -> int:
    from kiosk import seal_cli
    from kiosk.services import check_output_file

    out: Path = args.out
    check_output_file(out, force=args.force)
    services = _services(args, existing=True)
    seal_cli.prompt_for_seal(services)
    try:
        # A record-reading command: signed in with --user (audited under that person), or
        # a data directory of demo records only (kiosk/cli_staff.py says why).
        staff = _staff_for_pdf(args, services)
        report = _with_progress(
            "Verifying the store", lambda bar: services.store.verify(progress=bar)
        )
        if staff is None:
            out = services.export_pdf(args.reference, out, force=args.force, verification=report)
        else:
            staff_services, session = staff
            record_id = staff_services.find_reference(session, args.reference)
            out = staff_services.export_pdf(
                session, record_id, out, force=args.force, verification=report
            )
    finally:
        services.close()
    print(f"Wrote {out}")
    seal_cli.seal_note(services)
    if not report.ok:
        print(
            f"Warning: the record store failed verification ({report.problem}); the PDF says "
            "so on its integrity block. See docs/storage.md.",
            file=sys.stderr,
        )
        return EXIT_PROBLEM
    return EXIT_OK


def _staff_for_pdf(args: argparse.Namespace, services: KioskServices) -> tuple[Any, Any] | None:
    from kiosk.cli_staff import pdf_session
    from kiosk.staff.services import StaffServices

    staff = StaffServices(services.settings, services.data_dir, store=services.store, content=None)
    session = pdf_session(args, staff, args.reference)
    return None if session is None else (staff, session)


def cmd_aftercare(args: argparse.Namespace) -> int:
    from kiosk import seal_cli
    from kiosk.services import check_output_file

    check_output_file(args.out, force=args.force)
    services = _services(args, existing=True)
    seal_cli.prompt_for_seal(services)
    try:
        out = services.export_aftercare(args.reference, args.out, force=args.force)
    finally:
        services.close()
    print(f"Wrote {out}")
    seal_cli.seal_note(services)
    return EXIT_OK


def _anchors(values: Sequence[str]) -> list[Anchor | Checkpoint]:
    from consent_records.anchors import parse_expect

    found: list[Anchor | Checkpoint] = []
    for value in values:
        found += parse_expect(value)
    return found


def _mark_anchor(args: argparse.Namespace, data_dir: Path) -> tuple[Any, Any]:
    from consent_records.anchors import HighWater, default_state_dir

    high_water = HighWater(args.state_dir or default_state_dir())
    return high_water, high_water.get(data_dir)


def _public_fingerprint(data_dir: Path) -> str | None:
    from consent_records.keys import load_public
    from consent_records.store.layout import KEYS_DIR

    if not (data_dir / KEYS_DIR).is_dir():
        return None
    public = load_public(data_dir / KEYS_DIR)
    return public.fingerprint if public is not None else None


def _verified(
    store: TinyDBStore, args: argparse.Namespace, *, accept_rollback: bool = False
) -> tuple[VerifyReport, Any]:
    """Verify with every anchor: --expect and the high-water mark."""
    expect = _anchors(getattr(args, "expect", []))
    high_water, mark = _mark_anchor(args, store.data_dir)
    if mark is not None and not accept_rollback:
        expect.append(mark.anchor(high_water.path))
    report = _with_progress("Verifying", lambda bar: store.verify(expect=expect, progress=bar))
    if (
        report.ok
        and mark is not None
        and not accept_rollback
        and report.checkpoints < mark.checkpoints
    ):
        report = report.model_copy(
            update={
                "problem": (
                    f"signed checkpoints were removed: the store holds {report.checkpoints}, "
                    f"but it held {mark.checkpoints} when last checked ({mark.at}, high-water "
                    f"mark {high_water.path})"
                )
            }
        )
    return report, high_water


def cmd_verify(args: argparse.Namespace) -> int:
    store = _read_only_store(args)
    try:
        report, high_water = _verified(store, args, accept_rollback=args.accept_rollback)
    finally:
        store.close()
    data_dir = store.data_dir
    if not report.ok:
        # Nothing on stdout: a script reading the head from it must not get an unverified one.
        print(f"Verification FAILED: {report.problem}.", file=sys.stderr)
        if "chown " in (report.problem or "") or "chmod " in (report.problem or ""):
            advice = "fix the owner or mode as said above and run verify again."
        else:
            advice = (
                "keep it as it is and see docs/storage.md before anything else: a backup "
                "restored now would lose the records saved since it was taken."
            )
        print(f"Store: {_where(store)}: {advice}", file=sys.stderr)
        return EXIT_PROBLEM
    print(report.summary_line())
    print(f"Anchor: {report.anchor_text}  (verify --expect takes it; so does every PDF's)")
    print(f"Store: {_where(store)}")
    from consent_records.base import Checkpoint

    for given in _anchors(getattr(args, "expect", [])):
        signed = ", a signed checkpoint" if isinstance(given, Checkpoint) else ""
        print(
            f"Holds: {given.seq}:{given.head} (--expect{signed}): the store still has exactly "
            "this prefix."
        )
    if report.last_checkpoint is not None:
        last = report.last_checkpoint
        print(
            f"Checkpoints: {report.checkpoints} signed, each matches; the last covers entry "
            f"{last.seq} ({last.at})."
        )
    mark_note = _raise_mark(high_water, data_dir, report, lower=args.accept_rollback)
    if mark_note:
        print(mark_note)
    for note in report.notes:
        print(f"Note: {note}")
    print("Every record and event matches the chain.")
    _audit_as_os_user(data_dir, "verify", report)
    return EXIT_OK


def _audit_as_os_user(
    data_dir: Path, what: str, report: VerifyReport, target: Path | None = None
) -> None:
    from kiosk.cli_staff import audit_os_command

    note = audit_os_command(data_dir, what, report, target)
    if note:
        print(note, file=sys.stderr)


def _where(store: Any) -> str:
    """The store for people: its data directory, or its database and chain."""
    return str(getattr(store, "description", None) or store.data_dir.absolute())


def _raise_mark(high_water: Any, data_dir: Path, report: VerifyReport, *, lower: bool) -> str:
    from consent_records.anchors import AnchorError

    try:
        changed = high_water.raise_to(
            data_dir,
            report.chain_length,
            report.chain_head,
            _public_fingerprint(data_dir),
            checkpoints=report.checkpoints,
            lower=lower,
        )
    except (OSError, AnchorError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"Warning: the high-water mark could not be updated ({reason}).", file=sys.stderr)
        return ""
    if lower and changed:
        return (
            f"High-water mark lowered to entry {report.chain_length} ({high_water.path}): "
            "records saved after this store's head are not in it."
        )
    return f"High-water mark: entry {report.chain_length} or more ({high_water.path})."


def cmd_reindex(args: argparse.Namespace) -> int:
    from consent_records.store import rebuild_index
    from kiosk.services import setup_logging
    from kiosk.settings import load_settings, resolve_config

    load_settings(resolve_config(args.config))
    data_dir = _data_dir(args)
    _require_store(data_dir)
    setup_logging(data_dir)
    changes = _with_progress("Reading entries", lambda bar: rebuild_index(data_dir, progress=bar))
    print(f"Index of {data_dir.absolute()}:")
    for line in changes:
        print(f"  {line}")
    # The staff browser's search index (patient names, owner-only): built here, with
    # progress, rather than at the first search.
    from consent_records.store import open_store

    store = open_store(data_dir)
    try:
        count = _with_progress(
            "Building the search index", lambda bar: store.rebuild_search_index(progress=bar)
        )
    finally:
        store.close()
    print(f"  search index rebuilt: {count} records")
    return EXIT_OK


def cmd_backup(args: argparse.Namespace) -> int:
    store = _read_only_store(args)
    try:
        report = _with_progress(
            "Copying and verifying", lambda bar: store.backup(args.out, progress=bar)
        )
    finally:
        store.close()
    if not report.ok:
        print(f"The backup does not verify: {report.problem}.", file=sys.stderr)
        return EXIT_PROBLEM
    print(f"Backup written to {args.out}: {report.summary_line()}")
    print(f"Anchor: {report.anchor_text}")
    _audit_as_os_user(store.data_dir, "backup", report, args.out)
    return EXIT_OK


def _passphrase(args: argparse.Namespace, *, confirm: bool) -> str:
    if args.passphrase_stdin:
        line = sys.stdin.readline()
        if not line:
            raise CommandError("--passphrase-stdin: standard input held no passphrase.")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CommandError(
            "The key's passphrase is asked for on a terminal; with no terminal, use "
            "--passphrase-stdin."
        )
    import getpass

    first = getpass.getpass("Passphrase for the clinic's checkpoint key: ")
    if confirm and getpass.getpass("The same passphrase again: ") != first:
        raise CommandError("The two passphrases differ; nothing was made.")
    return first


def _writable_store(args: argparse.Namespace) -> TinyDBStore:
    from consent_records.store import open_store
    from kiosk.services import setup_logging
    from kiosk.settings import load_settings, resolve_config

    settings = load_settings(resolve_config(args.config))
    data_dir = _data_dir(args)
    if settings.store == "postgresql":
        # The records are in the database; the data directory keeps the log and the keys.
        from kiosk.pg_cli import open_configured_store

        setup_logging(data_dir)
        return open_configured_store(settings)  # type: ignore[no-any-return]
    _require_store(data_dir)
    store = open_store(data_dir)
    setup_logging(data_dir)
    return store


def cmd_keys(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from kiosk.seal_cli import cmd_keys as keys_command

    return keys_command(args, parser)


def cmd_checkpoint(args: argparse.Namespace) -> int:
    from consent_records.keys import load_public, unseal
    from consent_records.store.layout import KEYS_DIR

    store = _writable_store(args)
    try:
        data_dir = store.data_dir
        # (On PostgreSQL the keys stay in this machine's data directory.)
        keys_dir = (
            _data_dir(args) if getattr(store, "backend", "") == "postgresql" else data_dir
        ) / KEYS_DIR
        public = load_public(keys_dir) if keys_dir.is_dir() else None
        if public is None:
            raise CommandError(
                f"{keys_dir.parent.absolute()} has no checkpoint key yet; make one with "
                "`ims-kiosk keys init` first."
            )
        report, high_water = _verified(store, args)
        if not report.ok:
            raise CommandError(
                f"The store does not verify, so no checkpoint was signed: {report.problem}. "
                "See docs/storage.md."
            )
        signer = unseal(args.key or keys_dir / "checkpoint-key.json", _passphrase(
            args, confirm=False
        ))  # fmt: skip
        if signer.public.fingerprint != public.fingerprint:
            raise CommandError(
                f"The key given ({signer.public.fingerprint}) is not this store's checkpoint "
                f"key ({public.fingerprint}); nothing was signed."
            )
        checkpoint = signer.sign(report.chain_length, report.chain_head)
        keep_key = getattr(store, "keep_public_key", None)
        if keep_key is not None:  # a database keeps the public key with the chain
            keep_key(public.fingerprint, (keys_dir / "checkpoint-key.pub").read_bytes())
        store.add_checkpoint(checkpoint)
    finally:
        store.close()
    _raise_mark(
        high_water, data_dir, report.model_copy(update={"checkpoints": report.checkpoints + 1}),
        lower=False,
    )  # fmt: skip
    print(checkpoint.line())
    print(
        f"Signed entry {checkpoint.seq} of {_where(store)}. Keep the line above off the "
        "kiosk (write it down, print it or e-mail it to yourself); "
        "`ims-kiosk verify --expect '<the line>'` proves the store still holds it.",
        file=sys.stderr,
    )
    return EXIT_OK


def dispatch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from kiosk.cli_staff import dispatch_staff

    command = args.command or "run"
    staff = dispatch_staff(args, parser)
    if staff is not None:
        return staff
    if command == "content":
        if getattr(args, "content_command", None) != "check":
            parser.parse_args(["content", "--help"])
        return cmd_content_check(args)
    if command == "keys":
        return cmd_keys(args, parser)
    if command == "staff":
        from kiosk.staff_cli import cmd_staff

        return cmd_staff(args)
    if command in ("db", "store"):
        from kiosk import pg_cli

        return (pg_cli.cmd_db if command == "db" else pg_cli.cmd_store)(args, parser)
    from kiosk import export_cli, seal_cli

    handlers = {
        "run": cmd_run,
        "demo": cmd_demo,
        "pdf": cmd_pdf,
        "aftercare": cmd_aftercare,
        "verify": cmd_verify,
        "reindex": cmd_reindex,
        "backup": cmd_backup,
        "checkpoint": cmd_checkpoint,
        "verify-pdf": seal_cli.cmd_verify_pdf,
        "export": export_cli.cmd_export,
        "evidence": export_cli.cmd_evidence,
    }
    return handlers[command](args)


def main(argv: Sequence[str] | None = None) -> int:
    # A path or message that is not valid UTF-8 (a non-UTF-8 --data-dir) is printed with
    # escapes instead of raising UnicodeEncodeError.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return dispatch(args, parser)
    except BrokenPipeError:
        # The reader of our output went away (`ims-kiosk verify | head -1`): what it read
        # was complete lines of a finished command; say nothing more.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        print("Stopped.", file=sys.stderr)
        return 130
    except Exception as exc:
        return report(exc)


def report(exc: Exception) -> int:
    """Print a sentence for ``exc`` (never a traceback) and return the exit code."""
    # Imported here, not at the top, to keep them off the kiosk's start path.
    from consent_records.aftercare import AftercareUnavailable
    from consent_records.anchors import AnchorError
    from consent_records.base import RecordNotFound, StoreCorrupt, StoreError
    from consent_records.keys import KeyProblem
    from consent_records.sealing import SealProblem
    from content.loader import ContentError
    from kiosk.cli_staff import describe_staff_error
    from kiosk.export import ExportStopped
    from kiosk.services import ExportError, SaveFailed
    from kiosk.settings import SettingsError

    staff = describe_staff_error(exc)
    if staff is not None:
        print(staff[0], file=sys.stderr)
        return staff[1]
    if isinstance(exc, SettingsError | ContentError | CommandError | AnchorError):
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    if isinstance(
        exc, KeyProblem | SealProblem | ExportError | ExportStopped | AftercareUnavailable
    ):
        print(exc, file=sys.stderr)
        return EXIT_PROBLEM
    if isinstance(exc, RecordNotFound):
        print(f"No record found: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    if isinstance(exc, StoreCorrupt):
        print(f"The record store cannot be opened safely.\n{exc}", file=sys.stderr)
        return EXIT_PROBLEM
    if isinstance(exc, StoreError | SaveFailed):
        print(f"The record store reported a problem: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    from consent_records.store.layout import FileRefused

    if isinstance(exc, FileRefused):
        print(f"{exc.sentence()}.", file=sys.stderr)
        return EXIT_PROBLEM
    if isinstance(exc, OSError):
        with _quiet_logging():
            log.exception("command failed")
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"Could not complete the command: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_PROBLEM
    with _quiet_logging():
        log.exception("unexpected error")
    print(f"Something went wrong: {exc}. Details are in the kiosk log.", file=sys.stderr)
    return EXIT_PROBLEM


class _quiet_logging:
    """Logging a failure must never itself print a traceback (a full disk, a closed log)."""

    def __enter__(self) -> None:
        self._raise = logging.raiseExceptions
        logging.raiseExceptions = False

    def __exit__(self, *exc: object) -> None:
        logging.raiseExceptions = self._raise


if __name__ == "__main__":
    sys.exit(main())
