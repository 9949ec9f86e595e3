"""``ims-kiosk staff``: start the staff app on the configured store.

Kept apart from :mod:`kiosk.cli` (which registers it in a few lines) so the staff side's
command grows without touching the patient kiosk's.
"""

from __future__ import annotations

import argparse
import sys

FIRST_ADMIN = (
    "There are no staff accounts in {where} yet, so nobody can sign in to the staff app.\n"
    "Create the first admin account (it asks for a password twice):\n\n"
    "    ims-kiosk{options} users add NAME --role admin --name 'Full Name'\n\n"
    "then start `ims-kiosk{options} staff` again. There are no default accounts or passwords."
)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from kiosk.cli import _common

    staff = commands.add_parser(
        "staff",
        help="the staff app: physiotherapists complete consent, admins manage accounts",
    )
    _common(staff, suppress=True)


def _options(args: argparse.Namespace) -> str:
    """The --data-dir / --config this command was given, to repeat in advice."""
    import shlex

    parts = []
    for flag, value in (("--data-dir", args.data_dir), ("--config", args.config)):
        if value is not None:
            parts.append(f" {flag} {shlex.quote(str(value))}")
    return "".join(parts)


def cmd_staff(args: argparse.Namespace) -> int:
    from consent_records.store import store_exists
    from kiosk.cli import EXIT_OK, EXIT_PROBLEM, _data_dir
    from kiosk.services import setup_logging
    from kiosk.settings import load_settings, resolve_config
    from kiosk.staff.services import StaffServices

    settings = load_settings(resolve_config(args.config))
    data_dir = _data_dir(args)
    if not store_exists(data_dir):
        if not data_dir.exists():
            # A mistyped --data-dir and a clinic not set up yet look alike: say both.
            print(
                f"The folder {data_dir.absolute()} does not exist. If the path is mistyped, "
                "check --data-dir (or IMS_KIOSK_DATA_DIR, or data_dir in the settings). "
                "If this is a new clinic:",
                file=sys.stderr,
            )
        print(
            FIRST_ADMIN.format(where=data_dir.absolute(), options=_options(args)),
            file=sys.stderr,
        )
        return EXIT_PROBLEM
    setup_logging(data_dir)
    services = StaffServices(settings, data_dir)
    try:
        # Opening the store checks it (a tampered store is refused, naming the file).
        if not services.has_accounts():
            print(
                FIRST_ADMIN.format(where=data_dir.absolute(), options=_options(args)),
                file=sys.stderr,
            )
            return EXIT_PROBLEM
        from kiosk.staff_app import StaffApp

        app = StaffApp(services)
        app.run()
    finally:
        services.close()
    if app.exit_message:
        print(app.exit_message, file=sys.stderr)
        return EXIT_PROBLEM
    return EXIT_OK if app.return_code in (None, 0) else EXIT_PROBLEM
