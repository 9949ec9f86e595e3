"""The staff commands of ``ims-kiosk``: ``init``, ``users`` and ``records``.

    ims-kiosk init                              set up a clinic (settings file + first admin)
    ims-kiosk users add NAME --role admin|physio   make an account (password asked twice)
    ims-kiosk users list | disable | enable | unlock | reset-password | set-role
    ims-kiosk records list [--status S] [--search TEXT] [--physio ID] [--from D] [--to D]
    ims-kiosk records show REFERENCE

Who may run them:

* ``users``: while the store has no admin, the operating-system user running the command
  (that is how the first admin is made; audited as ``os_user:<name>``). Once an admin
  exists, ``--user ADMIN`` and that admin's password; or ``--os-user`` for recovery (every
  admin's password lost), audited as the operating-system user.
* ``records`` (and ``pdf``): ``--user NAME`` and the password (asked without echo, or the
  first line of standard input with ``--password-stdin``), audited under that person. The
  PDF of a synthetic record made by ``ims-kiosk demo`` (kiosk id ``demo``) needs no sign-in:
  nobody's data is in it.

Passwords are read with :mod:`getpass` (no echo), twice for a new one; with
``--password-stdin`` one line each, in the order the command asks.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from consent_records.query import Page
    from kiosk.settings import Settings
    from kiosk.staff.services import StaffServices
    from kiosk.staff.sessions import StaffSession

Common = Callable[..., None]


class StaffCommandError(Exception):
    """A problem to report in a sentence (usage-level: exit code 2)."""


# ---------------------------------------------------------------------- the parser


def _user_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument(
        "--user",
        metavar="NAME",
        required=False,
        default=None,
        help="your staff user name (its password is asked, or read with --password-stdin)"
        + ("" if not required else "; required"),
    )
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read passwords from standard input, one line each, in the order asked",
    )


def add_staff_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: Common
) -> None:
    """Add ``init``, ``users`` and ``records`` to the ``ims-kiosk`` parser."""
    init = commands.add_parser(
        "init", help="set up a clinic: settings file and the first admin account"
    )
    common(init, suppress=True)
    init.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the first admin's password from standard input (for scripts)",
    )
    init.add_argument("--force", action="store_true", help="replace an existing settings file")

    users = commands.add_parser("users", help="staff accounts (admins)")
    common(users, suppress=True)
    actions = users.add_subparsers(dest="users_command", metavar="ACTION")

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text)
        common(sub, suppress=True)
        _user_options(sub, required=False)
        sub.add_argument(
            "--os-user",
            action="store_true",
            help="act as the operating-system user instead of an admin (recovery when no "
            "admin can sign in); audited as that user",
        )
        return sub

    add = action("add", "create an account (its password is asked twice)")
    add.add_argument("name", metavar="NAME", help="user name, for example akim")
    add.add_argument("--role", choices=["admin", "physio"], required=True)
    add.add_argument(
        "--name",
        dest="display_name",
        metavar="FULL NAME",
        default=None,
        help="the person's full name (a physio's comes from the clinic settings)",
    )
    add.add_argument(
        "--physio",
        metavar="ID",
        default=None,
        help="the clinic settings' physiotherapist id (default: NAME)",
    )
    action("list", "list every account, with problems against the clinic settings")
    for name, text in (
        ("disable", "disable an account (it keeps its history)"),
        ("enable", "enable a disabled account"),
        ("unlock", "clear an account's failed sign-ins (its wait or lock)"),
        ("reset-password", "set a new password for an account (asked twice)"),
    ):
        sub = action(name, text)
        sub.add_argument("name", metavar="NAME")
    set_role = action("set-role", "change an account's role")
    set_role.add_argument("name", metavar="NAME")
    set_role.add_argument("role", choices=["admin", "physio"])
    set_role.add_argument("--physio", metavar="ID", default=None)

    records = commands.add_parser("records", help="list and show records (staff sign-in)")
    common(records, suppress=True)
    record_actions = records.add_subparsers(dest="records_command", metavar="ACTION")
    listing = record_actions.add_parser("list", help="list records, newest first")
    common(listing, suppress=True)
    _user_options(listing, required=True)
    listing.add_argument(
        "--status",
        action="append",
        default=[],
        metavar="STATUS",
        help="awaiting_discussion, wants_discussion, discussed, active, "
        "expired, reconsent_needed, ... (repeatable)",
    )
    listing.add_argument(
        "--search",
        default="",
        metavar="TEXT",
        help="name (any word, accents ignored), reference, chart number or "
        "date of birth (YYYY-MM-DD)",
    )
    listing.add_argument("--physio", action="append", default=[], metavar="ID")
    listing.add_argument("--from", dest="date_from", type=_date, default=None, metavar="DATE")
    listing.add_argument("--to", dest="date_to", type=_date, default=None, metavar="DATE")
    listing.add_argument("--format", choices=["table", "csv", "json"], default="table")
    listing.add_argument(
        "--limit",
        type=int,
        default=100,
        metavar="N",
        help="at most N records (default 100, at most 500)",
    )
    show = record_actions.add_parser("show", help="show one record, with what to discuss first")
    common(show, suppress=True)
    _user_options(show, required=True)
    show.add_argument("reference", help="the record's reference code, for example K7P3-QX9M")


def add_pdf_user_options(pdf: argparse.ArgumentParser) -> None:
    """``pdf`` reads a record: it takes ``--user`` and ``--password-stdin`` too."""
    _user_options(pdf, required=True)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date; write it as YYYY-MM-DD, for example 2026-11-30"
        ) from None


# ---------------------------------------------------------------------- plumbing


def _settings_and_dir(args: argparse.Namespace) -> tuple[Settings, Path]:
    from kiosk.settings import load_settings, resolve_config, resolve_data_dir

    settings = load_settings(resolve_config(args.config))
    return settings, resolve_data_dir(args.data_dir, settings)


def staff_services(args: argparse.Namespace, *, existing: bool = True) -> StaffServices:
    from consent_records.store import store_exists
    from kiosk.services import setup_logging
    from kiosk.staff.services import StaffServices

    settings, data_dir = _settings_and_dir(args)
    if existing and settings.store == "embedded" and not store_exists(data_dir):
        raise StaffCommandError(
            f"There is no record store in {data_dir.absolute()}. Check --data-dir (or "
            "IMS_KIOSK_DATA_DIR), or set the clinic up with `ims-kiosk init`."
        )
    setup_logging(data_dir)
    return StaffServices(settings, data_dir)


class PasswordReader:
    """Passwords from the terminal (no echo) or, with ``--password-stdin``, one line each
    from standard input."""

    def __init__(self, from_stdin: bool, stdin: TextIO | None = None) -> None:
        self.from_stdin = from_stdin
        self.stdin = stdin if stdin is not None else sys.stdin

    def read(self, prompt: str) -> str:
        if self.from_stdin:
            line = self.stdin.readline()
            if not line:
                raise StaffCommandError(
                    "--password-stdin: standard input ran out before every password was read."
                )
            return line.rstrip("\r\n")
        if not self.stdin.isatty():
            raise StaffCommandError(
                "Passwords are asked on a terminal, without echo; with no terminal, use "
                "--password-stdin."
            )
        import getpass

        return getpass.getpass(prompt)

    def new(self, whose: str) -> str:
        first = self.read(f"New password for {whose} (15 characters or more): ")
        again = self.read("The same password again: ")
        if first != again:
            raise StaffCommandError("The two passwords differ; nothing was changed.")
        return first


def sign_in(
    services: StaffServices, args: argparse.Namespace, reader: PasswordReader
) -> StaffSession:
    """The ``--user`` session of a record-reading command (purpose ``cli``, audited)."""
    if not args.user:
        raise StaffCommandError(
            "This command reads patient records, so it needs your staff sign-in: add "
            "--user NAME (your password is then asked, or read with --password-stdin)."
        )
    password = reader.read(f"Password for {args.user}: ")
    return services.login(args.user, password, purpose="cli")


# ---------------------------------------------------------------------- init


def _ask(
    prompt: str,
    *,
    default: str | None = None,
    stdin: TextIO | None = None,
    required: bool = True,
    check: Callable[[str], str] | None = None,
) -> str:
    """One answer. ``check`` returns the value to keep or raises ValueError with a sentence:
    on a terminal the question is asked again; from a script (answers on standard input)
    set-up stops with that sentence and nothing is written."""
    stream = stdin if stdin is not None else sys.stdin
    shown = f"{prompt} [{default}]: " if default else f"{prompt}: "
    while True:
        print(shown, end="", flush=True, file=sys.stderr)
        line = stream.readline()
        if not line:
            raise StaffCommandError("Set-up stopped: standard input ended before every answer.")
        answer = line.strip()
        if not answer and default is not None:
            answer = default
        if not answer and required:
            print("  Please type an answer.", file=sys.stderr)
            continue
        if answer and check is not None:
            try:
                return check(answer)
            except ValueError as exc:
                if not stream.isatty():
                    raise StaffCommandError(f"Nothing was written: {exc}") from None
                print(f"  {exc}", file=sys.stderr)
                continue
        return answer


def _field(model: type, name: str) -> Callable[[str], str]:
    """A check for one settings field, with its own rules and messages."""
    from typing import Annotated

    from pydantic import TypeAdapter, ValidationError

    info = model.model_fields[name]  # type: ignore[attr-defined]
    annotation: Any = (
        Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
    )
    adapter: TypeAdapter[object] = TypeAdapter(annotation)

    def check(value: str) -> str:
        try:
            return str(adapter.validate_python(value))
        except ValidationError as exc:
            message = exc.errors()[0]["msg"].removeprefix("Value error, ")
            raise ValueError(f"{message}.") from None

    return check


def _zone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{value!r} is not a time zone name; use one such as America/Toronto or "
            "America/Vancouver."
        ) from None
    return value


def _province(value: str) -> str:
    code = value.strip().upper()
    if code not in PROVINCES:
        raise ValueError(f"Use one of: {' '.join(PROVINCES)}.")
    return code


PROVINCES = ("AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT")


def _toml_string(value: str) -> str:
    # JSON's string escapes are valid TOML basic-string escapes.
    return json.dumps(value, ensure_ascii=False)


def settings_toml(
    *,
    clinic_name: str,
    address: Sequence[str],
    phone: str | None,
    province: str,
    timezone: str,
    kiosk_id: str,
    data_dir: Path,
    physiotherapists: Sequence[tuple[str, str, str | None]],
) -> str:
    """The settings file ``init`` writes."""
    lines = [
        "# IMS Consent Kiosk clinic settings, written by `ims-kiosk init`.",
        "# Every command finds this file here; edit it with care (README: Clinic settings).",
        f"kiosk_id = {_toml_string(kiosk_id)}",
        f"timezone = {_toml_string(timezone)}",
        f"province = {_toml_string(province)}",
        f"data_dir = {_toml_string(str(data_dir))}",
        "consent_valid_days = 365",
        "staff_idle_timeout_seconds = 300",
        "",
        "[clinic]",
        f"name = {_toml_string(clinic_name)}",
        "address = [" + ", ".join(_toml_string(a) for a in address) + "]",
    ]
    if phone:
        lines.append(f"phone = {_toml_string(phone)}")
    for physio_id, name, registration in physiotherapists:
        lines += [
            "",
            "[[physiotherapists]]",
            f"id = {_toml_string(physio_id)}",
            f"name = {_toml_string(name)}",
        ]
        if registration:
            lines.append(f"registration = {_toml_string(registration)}")
    return "\n".join(lines) + "\n"


def _slug(name: str) -> str:
    import unicodedata

    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    words: list[str] = re.findall(r"[a-z0-9]+", ascii_name.lower())
    if not words:
        return ""
    return (words[0][0] + "".join(words[1:]) if len(words) > 1 else words[0])[:32]


def cmd_init(args: argparse.Namespace) -> int:
    """Set up a clinic in one sitting; write the settings file; make the first admin."""
    from pydantic import ValidationError

    from kiosk.auth.policy import PasswordRejected, check_password
    from kiosk.settings import (
        SettingsError,
        default_data_dir,
        load_settings,
        user_config_file,
    )

    target: Path = args.config if args.config is not None else user_config_file()
    if os.path.lexists(target) and not args.force:
        raise StaffCommandError(
            f"A clinic is already set up in {target}. Edit that file, or run init with "
            "--force to replace it (existing records and accounts stay in the data folder)."
        )
    out = sys.stderr
    print(
        "Setting up IMS Consent Kiosk for your clinic. Press Enter to accept a [default].", file=out
    )
    from kiosk.settings import Clinic, PhysiotherapistEntry, Settings

    clinic_name = _ask("Clinic name", check=_field(Clinic, "name"))
    address = []
    for n in range(1, 5):
        line = _ask(
            f"Address line {n} (Enter when done)", required=False, check=_field(Clinic, "name")
        )
        if not line:
            break
        address.append(line)
    phone = (
        _ask("Clinic phone (Enter to skip)", required=False, check=_field(Clinic, "name")) or None
    )
    province = _ask(
        "Province or territory (AB BC MB NB NL NS NT NU ON PE QC SK YT)",
        default="AB",
        check=_province,
    )
    timezone = _ask("Time zone", default="America/Edmonton", check=_zone)
    physiotherapists: list[tuple[str, str, str | None]] = []
    print("Physiotherapists who see patients after the kiosk (at least one).", file=out)
    while True:
        name = _ask(
            "  Physiotherapist's full name" + (" (Enter when done)" if physiotherapists else ""),
            required=not physiotherapists,
            check=_field(PhysiotherapistEntry, "name"),
        )
        if not name:
            break
        taken = {p[0] for p in physiotherapists}

        def physio_id_check(value: str, taken: set[str] = taken) -> str:
            value = value.lower()
            if value in taken:
                raise ValueError(f"{value} is taken already; choose another id.")
            if not re.fullmatch(r"[a-z][a-z0-9-]{1,31}", value):
                raise ValueError(
                    "Use 2 to 32 lower-case letters, digits or hyphens, starting with a "
                    "letter (for example akim)."
                )
            return value

        physio_id = _ask(
            "  Their short id (lower case, used as their user name)",
            default=_slug(name) or None,
            check=physio_id_check,
        )
        registration = (
            _ask(
                "  Registration number with their college (Enter to skip)",
                required=False,
                check=_field(PhysiotherapistEntry, "registration"),
            )
            or None
        )
        physiotherapists.append((physio_id, name, registration))

    def kiosk_id_check(value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,40}", value):
            raise ValueError(
                "Use up to 40 letters, digits, dots, hyphens or underscores, no spaces (for "
                "example front-desk-1)."
            )
        return value

    kiosk_id = _ask("This kiosk's id", default="front-desk-1", check=kiosk_id_check)
    data_dir = Path(
        _ask("Where records are kept", default=str(args.data_dir or default_data_dir(demo=False)))
    ).expanduser()
    text = settings_toml(
        clinic_name=clinic_name,
        address=address,
        phone=phone,
        province=province,
        timezone=timezone,
        kiosk_id=kiosk_id,
        data_dir=data_dir.absolute(),
        physiotherapists=physiotherapists,
    )
    # Check the settings before writing anything: a wrong answer is named, nothing is kept.
    import tomllib

    try:
        settings = Settings.model_validate(tomllib.loads(text))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise StaffCommandError(f"Nothing was written: {problems}. Run init again.") from None
    print(
        "The first admin account (admins manage staff accounts; they do not countersign).", file=out
    )

    def admin_name_check(value: str) -> str:
        value = value.lower()
        if not re.fullmatch(r"[a-z][a-z0-9._-]{1,31}", value):
            raise ValueError(
                "Use 2 to 32 lower-case letters, digits, dots, hyphens or underscores, "
                "starting with a letter."
            )
        if value in {p[0] for p in physiotherapists}:
            raise ValueError(
                f"{value} is a physiotherapist's id: they get a physio account of their own "
                "(admins do not countersign). Choose another user name."
            )
        return value

    admin_name = _ask("  Admin's user name", default="admin", check=admin_name_check)
    admin_full = _ask("  Admin's full name", check=_field(PhysiotherapistEntry, "name"))
    reader = PasswordReader(args.password_stdin)
    while True:
        password = reader.new(admin_name)
        try:
            check_password(password, context=[admin_name, admin_full, clinic_name])
            break
        except PasswordRejected as exc:
            if args.password_stdin:
                raise StaffCommandError(f"Nothing was written: {exc}") from None
            print(f"  {exc}", file=out)
    # Write the settings file, then make the admin in the store it names.
    from consent_records.store.layout import write_new_private
    from kiosk.services import place_file

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    write_new_private(tmp, text.encode("utf-8"))
    try:
        place_file(tmp, target, force=args.force)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StaffCommandError(f"{target} could not be written ({exc.strerror or exc}).") from None
    try:
        settings = load_settings(target)
    except SettingsError as exc:  # pragma: no cover (validated above)
        raise StaffCommandError(str(exc)) from None
    from kiosk.services import setup_logging
    from kiosk.staff.services import StaffServices, os_user_name

    data_dir = settings.data_dir or data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    setup_logging(data_dir)
    services = StaffServices(settings, data_dir)
    try:
        from consent_records.events import Role

        services.create_account(
            None,
            admin_name,
            role=Role.ADMIN,
            password=password,
            display_name=admin_full,
            os_actor=os_user_name(),
        )
    finally:
        services.close()
    print(f"Settings written to {target}")
    print(f"Records will be kept in {data_dir}")
    print(f"Admin account {admin_name} created.")
    print("Next: give each physiotherapist an account, for example")
    for physio_id, _name, _reg in physiotherapists[:3]:
        print(f"  ims-kiosk users add {physio_id} --role physio --user {admin_name}")
    print("then start the kiosk with `ims-kiosk` and the staff app with `ims-kiosk staff`.")
    return 0


# ---------------------------------------------------------------------- users


def _admin_or_os_user(
    services: StaffServices, args: argparse.Namespace, reader: PasswordReader
) -> tuple[StaffSession | None, str | None]:
    """Who runs a ``users`` command: an admin's session, or the OS user (no admin yet, or
    ``--os-user`` recovery)."""
    from kiosk.staff.services import os_user_name

    if args.user:
        return sign_in(services, args, reader), None
    if args.os_user or not services.any_admin():
        return None, os_user_name()
    raise StaffCommandError(
        "Account changes need an admin: add --user ADMIN (the password is asked). If no admin "
        "can sign in any more, run the command with --os-user as the operating-system user "
        "who owns the records (it is audited as that user)."
    )


def _account_row(line: object) -> list[str]:
    from kiosk.staff.services import AccountLine

    assert isinstance(line, AccountLine)
    account = line.account
    state = "disabled" if account.disabled else "active"
    if line.locked:
        state += ", LOCKED"
    elif line.waiting_until is not None:
        state += f", waiting until {line.waiting_until:%H:%M}"
    link = account.physiotherapist_id or ""
    return [
        account.user_name,
        account.display_name,
        account.role.value,
        link,
        line.registration or "",
        state,
    ]


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    from kiosk.staff.text import terminal_safe

    cells = [[terminal_safe(c) for c in header]] + [[terminal_safe(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in cells
    )


def cmd_users(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from consent_records.events import Role

    action = getattr(args, "users_command", None)
    if action is None:
        parser.parse_args(["users", "--help"])
    services = staff_services(args, existing=action != "add")
    reader = PasswordReader(args.password_stdin)
    try:
        admin, os_actor = _admin_or_os_user(services, args, reader)
        if action == "list":
            lines = (
                services.list_accounts(admin)
                if admin is not None
                else services._account_lines()  # the OS user: see _admin_or_os_user
            )
            if not lines:
                print(
                    "No staff accounts yet. Make the first admin with "
                    '`ims-kiosk users add NAME --role admin --name "Full Name"`.'
                )
                return 0
            print(
                _table(
                    [_account_row(line) for line in lines],
                    ["user", "name", "role", "physio id", "registration", "state"],
                )
            )
            for line in lines:
                if line.problem:
                    print(f"Note: {line.account.user_name}: {line.problem}")
            linked = {
                line.account.physiotherapist_id for line in lines if not line.account.disabled
            }
            for entry in services.settings.physiotherapists:
                if entry.id not in linked:
                    print(
                        f"Note: the clinic settings list {entry.name} ({entry.id}), who has no "
                        "account: the kiosk offers them, but nobody can countersign their "
                        f"records until `ims-kiosk users add {entry.id} --role physio`."
                    )
            return 0
        name = args.name
        if action == "add":
            role = Role(args.role)
            password = reader.new(name)
            account = services.create_account(
                admin,
                name,
                role=role,
                password=password,
                display_name=args.display_name,
                physiotherapist_id=args.physio,
                os_actor=os_actor,
            )
            link = (
                f", physiotherapist {account.physiotherapist_id}"
                if account.physiotherapist_id
                else ""
            )
            print(
                f"Account {account.user_name} created ({account.display_name}, "
                f"{account.role.value}{link})."
            )
        elif action == "disable":
            services.disable_account(admin, name, os_actor=os_actor)
            print(f"Account {name} is disabled (its history is kept).")
        elif action == "enable":
            services.enable_account(admin, name, os_actor=os_actor)
            print(f"Account {name} is enabled.")
        elif action == "unlock":
            services.unlock_account(admin, name, os_actor=os_actor)
            print(f"Account {name}'s failed sign-ins are cleared.")
        elif action == "reset-password":
            password = reader.new(name)
            services.reset_password(admin, name, password, os_actor=os_actor)
            print(f"Account {name} has a new password.")
        elif action == "set-role":
            account = services.set_role(
                admin, name, Role(args.role), physiotherapist_id=args.physio, os_actor=os_actor
            )
            print(f"Account {name} is now {account.role.value}.")
    finally:
        services.close()
    return 0


# ---------------------------------------------------------------------- records


def _records_query(args: argparse.Namespace, services: StaffServices) -> object:
    from pydantic import ValidationError

    from consent_records.lifecycle import ConsentStatus
    from consent_records.query import PAGE_MAX, RecordQuery

    statuses = set()
    for value in args.status:
        for part in value.split(","):
            key = part.strip().lower().replace("-", "_").replace(" ", "_")
            try:
                statuses.add(ConsentStatus(key))
            except ValueError:
                known = ", ".join(s.value for s in ConsentStatus)
                raise StaffCommandError(f"Unknown status {part!r}; use one of: {known}.") from None
    if not 1 <= args.limit <= PAGE_MAX:
        raise StaffCommandError(f"--limit must be between 1 and {PAGE_MAX}.")
    try:
        return RecordQuery(
            text=args.search,
            statuses=frozenset(statuses),
            physiotherapist_ids=frozenset(args.physio),
            completed_from=args.date_from,
            completed_to=args.date_to,
            as_of=services.now(),
            limit=args.limit,
        )
    except ValidationError as exc:
        raise StaffCommandError(_query_problem(exc)) from None


_QUERY_OPTIONS = {
    "text": "--search",
    "physiotherapist_ids": "--physio",
    "completed_from": "--from",
    "completed_to": "--to",
    "statuses": "--status",
    "limit": "--limit",
}


def _query_problem(exc: object) -> str:
    """A sentence naming the option that is wrong (not pydantic's field names or regexes)."""
    from pydantic import ValidationError

    assert isinstance(exc, ValidationError)
    parts = []
    for error in exc.errors():
        option = _QUERY_OPTIONS.get(str(error["loc"][0])) if error["loc"] else None
        message = str(error["msg"]).removeprefix("Value error, ").rstrip(".")
        if option == "--physio":
            message = (
                "use a physiotherapist's id from the clinic settings (lower-case letters, "
                "digits and hyphens, for example akim)"
            )
        elif error["type"].startswith("string_"):
            message = "this text cannot be searched for; shorten it or remove unusual characters"
        parts.append(f"{option}: {message}" if option else message[:1].upper() + message[1:])
    return "; ".join(dict.fromkeys(parts)) + "."


RECORD_COLUMNS = (
    "reference",
    "patient",
    "date_of_birth",
    "completed",
    "physiotherapist",
    "status",
    "status_label",
    "flags",
    "missed",
    "record_id",
)


def _rows(page: Page) -> list[dict[str, str]]:
    from consent_records.lifecycle import STATUS_LABEL

    rows = []
    for item in page.items:
        row = item.row
        rows.append(
            {
                "reference": row.reference,
                "patient": row.patient_name,
                "date_of_birth": row.date_of_birth.isoformat(),
                "completed": row.completed_at.isoformat(timespec="minutes"),
                "physiotherapist": row.physiotherapist_id,
                "status": item.status.value,
                "status_label": STATUS_LABEL[item.status],
                "flags": str(row.flag_count),
                "missed": str(row.missed_count),
                "record_id": row.record_id,
            }
        )
    return rows


def cmd_records(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    action = getattr(args, "records_command", None)
    if action not in ("list", "show"):
        parser.parse_args(["records", "--help"])
    services = staff_services(args)
    reader = PasswordReader(args.password_stdin)
    try:
        session = sign_in(services, args, reader)
        if action == "list":
            query = _records_query(args, services)
            page = services.search_now(session, query)  # type: ignore[arg-type]
            _print_page(page, args.format)
        else:
            record_id = services.find_reference(session, args.reference)
            view = services.open_record(session, record_id)
            from kiosk.staff.text import record_text

            print(record_text(view))
    finally:
        services.close()
    return 0


def _print_page(page: Page, fmt: str) -> None:
    import csv

    from consent_records.lifecycle import STATUS_LABEL
    from kiosk.staff.audit_csv import safe_cell

    rows = _rows(page)
    if fmt == "json":
        print(json.dumps({"total": page.total, "records": rows}, ensure_ascii=False, indent=1))
        return
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        keys = list(RECORD_COLUMNS)
        writer.writerow(keys)
        for row in rows:
            writer.writerow([safe_cell(row[k]) for k in keys])
        return
    counts = ", ".join(f"{n} {STATUS_LABEL[status]}" for status, n in page.counts.items() if n)
    print(
        f"{page.total} record{'s' if page.total != 1 else ''}" + (f" ({counts})" if counts else "")
    )
    if rows:
        print(
            _table(
                [
                    [
                        r["reference"],
                        r["patient"],
                        r["date_of_birth"],
                        r["completed"][:16].replace("T", " "),
                        r["physiotherapist"],
                        r["status_label"],
                        r["flags"],
                        r["missed"],
                    ]
                    for r in rows
                ],
                ["reference", "patient", "born", "signed", "physio", "status", "flags", "missed"],
            )
        )
    if page.has_more:
        print(f"… {page.total - len(rows)} more; narrow the search or raise --limit.")


# ---------------------------------------------------------------------- pdf


def pdf_session(
    args: argparse.Namespace, services: StaffServices, reference: str
) -> StaffSession | None:
    """The session ``pdf`` runs under: ``--user``, required unless the record is a
    synthetic one made by ``ims-kiosk demo`` (kiosk id ``demo``: nobody's data)."""
    if not getattr(args, "user", None) and _is_demo_record(services, reference):
        return None
    return sign_in(services, args, PasswordReader(getattr(args, "password_stdin", False)))


def _is_demo_record(services: StaffServices, reference: str) -> bool:
    """Whether the record is synthetic (RecordNotFound when there is none: said first, so a
    mistyped reference is not answered with a request to sign in)."""
    from consent_records.model import normalise_reference
    from kiosk.demo import DEMO_KIOSK_ID

    stored = services.store.find_reference(normalise_reference(reference))
    return stored.record.kiosk_id == DEMO_KIOSK_ID


def dispatch_staff(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int | None:
    """Run a staff command, or None when ``args.command`` is not one."""
    if args.command == "init":
        return cmd_init(args)
    if args.command == "users":
        return cmd_users(args, parser)
    if args.command == "records":
        return cmd_records(args, parser)
    return None


def describe_staff_error(exc: BaseException) -> tuple[str, int] | None:
    """The sentence and exit code for a staff error, or None when it is not one."""
    from kiosk.staff.errors import STAFF_ERRORS

    if isinstance(exc, StaffCommandError):
        return str(exc), 2
    if isinstance(exc, STAFF_ERRORS):
        return str(exc), 1
    return None


def audit_os_command(
    data_dir: Path, what: str, report: object, target: Path | None = None
) -> str | None:
    """Audit a ``verify`` or ``backup`` run without a staff login, as the operating-system
    user; a note to print when it cannot be (the store belongs to another user: nothing is
    ever written into another user's store; or it cannot be written now)."""
    from consent_records.audit import BackupWritten, StoreVerified
    from consent_records.base import StoreError, VerifyReport
    from consent_records.events import SystemActor
    from consent_records.store import store_exists
    from kiosk.staff.services import host_terminal, os_user_name

    assert isinstance(report, VerifyReport)
    if not store_exists(data_dir):
        return None  # a database store (PostgreSQL): audited there by its own roles, not here
    try:
        owner = os.stat(data_dir).st_uid
    except OSError:
        return None
    if owner != os.geteuid():
        return (
            f"Note: this {what} is not recorded in the store's audit log: the store belongs "
            "to another user, and nothing is written into another user's store. Run it as "
            "the store's owner to have it audited."
        )
    from datetime import datetime

    from consent_records.backends import StoreConfig, open_store

    now = datetime.now().astimezone()
    actor = SystemActor(type="os_user", name=os_user_name(), terminal=host_terminal())
    entry: StoreVerified | BackupWritten
    if what == "verify":
        entry = StoreVerified(
            at=now,
            actor=actor,
            ok=report.ok,
            chain_length=report.chain_length,
            chain_head=report.chain_head,
            problem=(report.problem or "")[:1900] or None,
        )
    else:
        entry = BackupWritten(
            at=now,
            actor=actor,
            ok=report.ok,
            chain_length=report.chain_length,
            target=(target.name[:40] if target is not None else None) or None,
        )
    try:
        store = open_store(StoreConfig(data_dir=data_dir))
        try:
            store.append_audit(entry)
        finally:
            store.close()
    except (StoreError, OSError) as exc:
        return f"Note: this {what} could not be recorded in the audit log ({exc})."
    return None
