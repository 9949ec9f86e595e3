"""The CLI's key and seal commands: ``keys init | show | import | renew-seal`` and
``verify-pdf`` (docs/sealing.md). Registered by :mod:`kiosk.cli`; cryptography and pyHanko
are imported inside the commands only.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from consent_records.sealkeys import SealIdentity
    from kiosk.services import KioskServices

log = logging.getLogger("kiosk.cli")

OFFLINE_PROMPT = "Passphrase for the clinic's offline keys (checkpoint key and root CA): "
SEAL_PROMPT = "Passphrase for the seal key (the one sealing processes are given): "


def add_key_actions(key_commands: Any, common: Any, passphrase_stdin: Any) -> None:
    """``keys import`` and ``keys renew-seal`` (init and show are made by cli.py)."""
    imp = key_commands.add_parser(
        "import", help="use a certificate the clinic already has (.p12) as its seal"
    )
    common(imp, suppress=True)
    passphrase_stdin(imp)
    imp.add_argument("p12", type=Path, metavar="FILE.p12")
    imp.add_argument(
        "--root", type=Path, default=None, metavar="ROOT.pem",
        help="the root certificate of the chain, when FILE.p12 does not include it",
    )  # fmt: skip
    renew = key_commands.add_parser(
        "renew-seal", help="issue a new seal certificate from the clinic's root CA"
    )
    common(renew, suppress=True)
    passphrase_stdin(renew)
    renew.add_argument(
        "--root-key", type=Path, default=None, metavar="FILE",
        help="the root CA's private key (default: DATA_DIR/keys/clinic-root-key.json; "
        "usually kept off the machine)",
    )  # fmt: skip


def add_commands(commands: Any, common: Any) -> None:
    verify_pdf = commands.add_parser(
        "verify-pdf", help="check the clinic's seal on PDFs (and, with the store, the record)"
    )
    common(verify_pdf, suppress=True)
    verify_pdf.add_argument("files", nargs="+", type=Path, metavar="FILE")
    verify_pdf.add_argument(
        "--trust", action="append", type=Path, default=[], metavar="ROOT.pem",
        help="trust this root certificate instead of the clinic's own (a PDF from another "
        "clinic); repeatable",
    )  # fmt: skip


# -- passphrases ------------------------------------------------------------------------


def _read_line(args: argparse.Namespace, prompt: str, *, confirm: bool, what: str) -> str:
    from kiosk.cli import CommandError

    if getattr(args, "passphrase_stdin", False):
        line = sys.stdin.readline()
        if not line:
            raise CommandError(f"--passphrase-stdin: standard input held no {what}.")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise CommandError(
            "Passphrases are asked for on a terminal; with no terminal, use --passphrase-stdin."
        )
    import getpass

    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("The same passphrase again: ") != first:
        raise CommandError("The two passphrases differ; nothing was made.")
    return first


def _seal_passphrase(args: argparse.Namespace, settings: Any, *, confirm: bool) -> str:
    """The seal passphrase: from ``seal_passphrase_file`` when it is set and exists,
    otherwise asked (the next line of standard input with --passphrase-stdin)."""
    from consent_records.sealkeys import read_passphrase_file

    path = settings.seal_passphrase_file
    if path is not None and path.exists():
        return read_passphrase_file(path)
    return _read_line(args, SEAL_PROMPT, confirm=confirm, what="seal passphrase")


def prompt_for_seal(services: KioskServices) -> None:
    """Let a command run at a terminal ask for the seal passphrase when no file is set."""
    if sys.stdin.isatty() and services.settings.seal_passphrase_file is None:
        import getpass

        services.seal_passphrase = lambda: getpass.getpass(SEAL_PROMPT)


def seal_note(services: KioskServices) -> None:
    """After writing a PDF: say whether it is sealed, and warn of the seal's end."""
    sealer = services._sealer
    if sealer is None:
        print(
            "Warning: this clinic has no seal yet, so the PDF says NOT SEALED. Set one up "
            "with `ims-kiosk keys init` (docs/sealing.md).",
            file=sys.stderr,
        )
        return
    warning = sealer.identity.expiry_warning()
    if warning:
        print(f"Warning: {warning}", file=sys.stderr)


# -- keys -------------------------------------------------------------------------------


def _fingerprint_lines(identity: SealIdentity) -> list[str]:
    from consent_records.sealkeys import ROOT_KEY, SEAL_KEY, spaced, subject_text

    root, seal = identity.root, identity.seal_cert
    root_key = identity.keys_dir / ROOT_KEY
    lines = [
        f"Clinic root CA: {subject_text(root)}, valid {root.not_valid_before_utc:%Y-%m-%d} to "
        f"{root.not_valid_after_utc:%Y-%m-%d}",
        f"  SHA-256 fingerprint: {spaced(identity.root_sha256)}",
        "  (publish or print this fingerprint: it is how anyone checks the clinic's PDFs)",
        f"  Certificate: {identity.keys_dir / 'clinic-root.pem'}",
        f"  Private key: {root_key} (move it off this machine: it is needed only to renew the seal)"
        if identity.root_key_present
        else "  Private key: not on this machine (kept offline)",
        f"Seal certificate: {subject_text(seal)}, issued by {subject_text(root)}"
        + (f" via {len(identity.chain)} intermediate(s)" if identity.chain else ""),
        f"  Valid {seal.not_valid_before_utc:%Y-%m-%d} to {seal.not_valid_after_utc:%Y-%m-%d}"
        f" ({max(identity.days_left(), 0)} days left)",
        f"  SHA-256 fingerprint: {spaced(identity.seal_sha256)}",
        f"  Private key: {identity.keys_dir / SEAL_KEY} (sealed with the seal passphrase)",
    ]
    return lines


def cmd_keys(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    action = getattr(args, "keys_command", None)
    if action not in ("init", "show", "import", "renew-seal"):
        parser.parse_args(["keys", "--help"])
    from consent_records.store.layout import KEYS_DIR
    from kiosk.cli import _data_dir, _require_store, _writable_store
    from kiosk.settings import load_settings, resolve_config

    settings = load_settings(resolve_config(args.config))
    data_dir = _data_dir(args)
    keys_dir = data_dir / KEYS_DIR
    if action == "show":
        if settings.store == "embedded":
            _require_store(data_dir)
        return _show(keys_dir, data_dir)
    store = _writable_store(args)
    try:
        if action == "init":
            return _init(args, settings, keys_dir, data_dir)
        if action == "import":
            return _import(args, settings, keys_dir)
        return _renew(args, settings, keys_dir)
    finally:
        store.close()


def _show(keys_dir: Path, data_dir: Path) -> int:
    from consent_records.keys import load_public
    from consent_records.sealkeys import load_identity
    from kiosk.cli import EXIT_OK, CommandError

    public = load_public(keys_dir) if keys_dir.is_dir() else None
    identity = load_identity(keys_dir) if keys_dir.is_dir() else None
    if public is None and identity is None:
        raise CommandError(
            f"{data_dir.absolute()} has no keys yet; make them with `ims-kiosk keys init`."
        )
    if public is not None:
        private = keys_dir / "checkpoint-key.json"
        print(f"Checkpoint key fingerprint: {public.fingerprint}")
        print(f"  Public key: {public.path}")
        print(
            f"  Private key: {private}"
            if private.exists()
            else "  Private key: not in the data directory (kept elsewhere; use --key)"
        )
    else:
        print("Checkpoint key: none yet (`ims-kiosk keys init` makes it)")
    if identity is None:
        print("Seal: none yet, so PDFs say NOT SEALED (`ims-kiosk keys init` makes it)")
        return EXIT_OK
    for line in _fingerprint_lines(identity):
        print(line)
    warning = identity.expiry_warning()
    if warning:
        print(f"Warning: {warning}")
    return EXIT_OK


def _init(args: argparse.Namespace, settings: Any, keys_dir: Path, data_dir: Path) -> int:
    import os

    from consent_records.keys import PRIVATE_NAME, PUBLIC_NAME, create_key
    from consent_records.sealkeys import create_seal, seal_exists
    from kiosk.cli import EXIT_OK, CommandError

    need_checkpoint = not any(
        os.path.lexists(keys_dir / name) for name in (PRIVATE_NAME, PUBLIC_NAME)
    )
    need_seal = not seal_exists(keys_dir)
    if not (need_checkpoint or need_seal):
        raise CommandError(
            f"{keys_dir} already holds the clinic's checkpoint key and seal. Keep using them "
            "(`ims-kiosk keys show`); see docs/sealing.md to replace them."
        )
    offline = _read_line(args, OFFLINE_PROMPT, confirm=True, what="passphrase")
    seal_passphrase = _seal_passphrase(args, settings, confirm=True) if need_seal else ""
    if need_seal and seal_passphrase == offline:
        raise CommandError(
            "The seal passphrase must differ from the offline one: a sealing process keeps "
            "the seal's passphrase on this machine, and it must not open the root CA or the "
            "checkpoint key. Nothing was made."
        )
    if need_checkpoint:
        public = create_key(keys_dir, offline)
        log.info("checkpoint key %s made in %s", public.fingerprint, keys_dir)
        print(f"Checkpoint key made: fingerprint {public.fingerprint}")
        print(f"  Private key (sealed with the offline passphrase): {keys_dir / PRIVATE_NAME}")
        print(f"  Public key: {public.path}")
    if need_seal:
        identity = create_seal(keys_dir, settings.clinic.name, offline, seal_passphrase)
        log.info("seal %s made in %s", identity.seal_sha256[:16], keys_dir)
        print("Clinic seal made:")
        for line in _fingerprint_lines(identity):
            print(line)
    print(
        "Write the fingerprints down with the clinic's records and keep the offline "
        "passphrase safe: without it no checkpoint can be signed and no new seal issued. "
        "Move clinic-root-key.json (and checkpoint-key.json) to offline storage. For sealing "
        "without a prompt (staff app, exports), put the seal passphrase in a file only the "
        "kiosk user can read and name it in seal_passphrase_file (docs/sealing.md)."
    )
    del data_dir  # the keys live in it; named in the messages above
    return EXIT_OK


def _import(args: argparse.Namespace, settings: Any, keys_dir: Path) -> int:
    from consent_records.sealkeys import import_p12
    from kiosk.cli import EXIT_OK

    p12_passphrase = _read_line(
        args, f"Passphrase of {args.p12}: ", confirm=False, what="passphrase of the .p12"
    )
    seal_passphrase = _seal_passphrase(args, settings, confirm=True)
    identity = import_p12(keys_dir, args.p12, p12_passphrase, seal_passphrase, root_pem=args.root)
    log.info("seal %s imported in %s", identity.seal_sha256[:16], keys_dir)
    print(f"Seal imported from {args.p12}:")
    for line in _fingerprint_lines(identity):
        print(line)
    return EXIT_OK


def _renew(args: argparse.Namespace, settings: Any, keys_dir: Path) -> int:
    from consent_records.sealkeys import ROOT_KEY, renew_seal
    from kiosk.cli import EXIT_OK

    root_key = args.root_key or keys_dir / ROOT_KEY
    offline = _read_line(args, OFFLINE_PROMPT, confirm=False, what="passphrase")
    seal_passphrase = _seal_passphrase(args, settings, confirm=True)
    identity, retired = renew_seal(keys_dir, root_key, offline, seal_passphrase)
    log.info("seal renewed: %s", identity.seal_sha256[:16])
    print(f"New seal certificate issued; the old one is kept in {retired}.")
    for line in _fingerprint_lines(identity):
        print(line)
    return EXIT_OK


# -- verify-pdf -------------------------------------------------------------------------


def cmd_verify_pdf(args: argparse.Namespace) -> int:
    from consent_records.keys import KeyProblem
    from consent_records.sealing import read_pdf, verify_pdf
    from consent_records.sealkeys import load_identity, load_root, sha256_fingerprint
    from consent_records.store import store_exists
    from consent_records.store.layout import KEYS_DIR
    from kiosk.cli import EXIT_OK, EXIT_PROBLEM, CommandError, _data_dir, _read_only_store
    from kiosk.settings import load_settings, resolve_config

    settings = load_settings(resolve_config(args.config))
    logging.getLogger().addHandler(logging.NullHandler())
    data_dir = _data_dir(args)
    postgres = settings.store == "postgresql"
    has_store = postgres or store_exists(data_dir)
    own = load_identity(data_dir / KEYS_DIR) if (data_dir / KEYS_DIR).is_dir() else None
    trust = [load_root(path) for path in args.trust]
    if not trust:
        if own is None:
            raise CommandError(
                "There is no clinic root to check against: run this where the clinic's data "
                "directory is (--data-dir), or give the root certificate with --trust ROOT.pem."
            )
        trust = [own.root]
    own_root = own.root_sha256 if own is not None else None
    store = (
        (_read_only_store(args) if postgres else _open_read_only(data_dir)) if has_store else None
    )
    failures = 0
    try:
        for path in args.files:
            try:
                verdict = verify_pdf(read_pdf(path), trust)
            except KeyProblem as exc:
                print(f"FAILED: {exc}")
                failures += 1
                continue
            sentence = verdict.sentence
            ok = verdict.ok
            if ok and store is not None and own_root is not None:
                anchors = {sha256_fingerprint(c) for c in trust}
                if own_root in anchors:
                    record_ok, note = _record_check(store, verdict.info)
                    sentence = f"{sentence[:-1]}; {note}"
                    ok = ok and record_ok
            print(f"{'OK' if ok else 'FAILED'}: {path} {sentence}")
            failures += 0 if ok else 1
    finally:
        if store is not None:
            store.close()
    return EXIT_OK if failures == 0 else EXIT_PROBLEM


def _open_read_only(data_dir: Path) -> Any:
    from consent_records.store import open_store

    return open_store(data_dir, read_only=True)


def _record_check(store: Any, info: dict[str, str]) -> tuple[bool, str]:
    """Whether the record the PDF describes is in the store as printed, and its status."""
    from consent_records.base import RecordNotFound, StoreError

    record_id = info.get("RecordId")
    if not record_id:
        return True, "it names no record to check in the store."
    reference = info.get("Reference", record_id)
    try:
        stored = store.get(record_id)
    except RecordNotFound:
        return False, f"but record {reference} is NOT in this clinic's store."
    except StoreError as exc:
        return False, f"but the store could not be read to check record {reference} ({exc})."
    entry = info.get("Entry")
    if entry is not None and entry != f"{stored.entry.seq}:{stored.entry.sha256}":
        return False, (
            f"but the record hash it prints for {reference} is NOT the one in the store's chain "
            "(the store or the PDF's origin must be examined)."
        )
    status = info.get("Status")
    now = stored.lifecycle.status.value  # the consent lifecycle, as the PDF printed it
    if status is not None and status != now:
        return False, (
            f"but it is OUTDATED: record {reference} was {status.replace('_', ' ')} when this "
            f"PDF was made and is now {now.replace('_', ' ')}; export a new one."
        )
    plain = now.replace("_", " ")
    if status is None:
        return True, f"record {reference} is in this clinic's store (status now {plain})."
    return True, (
        f"record {reference} is in the store's chain as printed, its status unchanged ({plain})."
    )
