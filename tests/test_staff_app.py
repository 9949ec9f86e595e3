"""The staff app, driven with Pilot: sign-in, the records browser, one record and its acts,
the admin's screens, and what the app refuses.

Each test builds its clinic with fixtures (accounts and records made directly through the
services and the store, cheap argon2 parameters) and walks only the screens it is about.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, DataTable, Input, Static, TextArea

from consent_records.audit import AuditQuery, LoggedOut, LogoutReason
from consent_records.base import StoreUnavailable
from consent_records.events import Discussed, DiscussedItem, Role
from consent_records.lifecycle import ConsentStatus
from consent_records.model import REFERENCE_ALPHABET, Decision
from kiosk.auth.throttle import GENERIC_FAILURE
from kiosk.staff.records import COUNTERSIGN_REFUSED
from kiosk.staff.services import StaffServices
from kiosk.staff_app import StaffApp
from screens.staff.admin import AccountsScreen, AuditScreen
from screens.staff.dialogs import CountersignDialog, DiscussionDialog, TextDialog
from screens.staff.login import LoginScreen
from screens.staff.record import RecordScreen
from tests.staff_app_driver import open_first, sign_in, signed_in, text_of, until
from tests.staff_fixtures import (  # noqa: F401 (the fixture)
    ADMIN_PASSWORD,
    JLEE_PASSWORD,
    Clinic,
    clinic_fixture,
)

SIZE = (100, 30)


def run_app(services: StaffServices, test: Callable[[Pilot[None]], Awaitable[None]]) -> Any:
    async def go() -> None:
        async with StaffApp(services).run_test(size=SIZE) as pilot:
            await test(pilot)

    return go()


def reference(n: int) -> str:
    """A distinct reference code for the n-th synthetic record."""
    chars = []
    for _ in range(4):
        n, digit = divmod(n, len(REFERENCE_ALPHABET))
        chars.append(REFERENCE_ALPHABET[digit])
    return "".join(chars) + "-WWWW"


def discussed_fully(clinic: Clinic, services: StaffServices, record_id: str) -> None:
    """Record, as jlee, a discussion that addresses every item (set-up, not the test)."""
    session = services.login("jlee", JLEE_PASSWORD)
    view = services.open_record(session, record_id)
    services.record_discussion(
        session,
        view.token,
        items=[DiscussedItem(item=p.item, addressed=True) for p in view.discuss_first],
        other="Went over the whole record.",
    )
    services.logout(session)


# -- start and sign-in ---------------------------------------------------------------------


def test_no_accounts_says_how_to_make_the_first_admin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kiosk.cli import main

    code = main(["--data-dir", str(tmp_path / "nothing"), "staff"])
    err = capsys.readouterr().err
    assert code == 1
    assert "There are no staff accounts" in err
    assert "users add NAME --role admin" in err
    # A folder that does not exist may be a mistyped path: say so first.
    assert err.startswith(f"The folder {tmp_path / 'nothing'} does not exist")
    assert "check --data-dir" in err


async def test_sign_in_refusals_never_say_whether_the_user_exists(clinic: Clinic) -> None:
    services = clinic.terminal()

    async def test(pilot: Pilot[None]) -> None:
        await sign_in(pilot, "jlee", "not the password at all")
        await until(pilot, lambda: GENERIC_FAILURE in text_of(pilot, "#login-message"), "refusal")
        assert pilot.app.screen.query_one("#password", Input).value == ""
        await sign_in(pilot, "nobody", "not the password at all")
        await until(pilot, lambda: GENERIC_FAILURE in text_of(pilot, "#login-message"), "refusal")
        assert isinstance(pilot.app.screen, LoginScreen)

    await run_app(services, test)


async def test_lockout_survives_a_restart_until_an_admin_unlocks(clinic: Clinic) -> None:
    first = clinic.terminal()
    for _ in range(20):
        with pytest.raises(Exception, match="do not let you sign in"):
            first.login("jlee", "wrong wrong wrong wrong")
        clinic.clock.advance(minutes=20)  # past every wait: only the lock remains
    first.close()

    async def locked(pilot: Pilot[None]) -> None:  # a new process: the lock is in the store
        await sign_in(pilot, "jlee", JLEE_PASSWORD)
        await until(pilot, lambda: GENERIC_FAILURE in text_of(pilot, "#login-message"), "lock")
        assert isinstance(pilot.app.screen, LoginScreen)

    await run_app(clinic.terminal(), locked)
    admin_services = clinic.terminal()
    admin = admin_services.login("office", ADMIN_PASSWORD)
    admin_services.unlock_account(admin, "jlee")

    async def unlocked(pilot: Pilot[None]) -> None:
        await signed_in(pilot, "jlee", JLEE_PASSWORD)

    await run_app(clinic.terminal(), unlocked)


async def test_idle_signs_out_and_clears_every_patient_detail(clinic: Clinic) -> None:
    record = clinic.record()
    services = clinic.terminal()

    async def test(pilot: Pilot[None]) -> None:
        await signed_in(pilot, "jlee", JLEE_PASSWORD)
        record_screen = await open_first(pilot)
        assert record.patient.full_name in str(record_screen.query_one("#record-status").render())
        clinic.clock.advance(seconds=services.settings.staff_idle_timeout_seconds + 1)
        app = pilot.app
        assert isinstance(app, StaffApp)
        app.check_session()
        await until(pilot, lambda: isinstance(app.screen, LoginScreen), "sign-in")
        await until(pilot, lambda: "without input" in text_of(pilot, "#login-message"), "notice")
        seconds = services.settings.staff_idle_timeout_seconds
        expected = f"{seconds} seconds" if seconds < 120 else f"{round(seconds / 60)} minutes"
        assert f"after {expected} without input" in text_of(pilot, "#login-message")
        assert app.session is None
        assert not record_screen.is_attached
        shown = [w for s in app.screen_stack for w in s.query(Static)]
        assert all(record.patient.full_name not in str(w.render()) for w in shown)

    await run_app(services, test)
    outs = [
        i.event
        for i in services.store.audit(AuditQuery(person="jlee")).items
        if isinstance(i.event, LoggedOut)
    ]
    assert outs and outs[0].reason is LogoutReason.IDLE


# -- the records browser -----------------------------------------------------------------------


async def test_physio_starts_on_their_records_awaiting_discussion(clinic: Clinic) -> None:
    mine = clinic.record(name="Björn Gagnon")
    clinic.record(name="Chloé Roy", decision=Decision.DECLINE)

    async def test(pilot: Pilot[None]) -> None:
        screen = await signed_in(pilot, "jlee", JLEE_PASSWORD)
        assert screen.page is not None
        assert [i.row.record_id for i in screen.page.items] == [mine.id]
        counts = text_of(pilot, "#counts")
        assert "1 awaiting discussion" in counts and "1 declined at the kiosk" in counts
        # Search as you type: accents and case ignored; the debounced search runs in a worker.
        screen.query_one("#status").clear()  # type: ignore[attr-defined]
        await pilot.click("#search")
        await pilot.press(*"bjorn")
        await until(
            pilot,
            lambda: screen.query_shown is not None and screen.query_shown.text == "bjorn",
            "the search",
        )
        assert [i.row.patient_name for i in screen.page.items] == ["Björn Gagnon"]

    await run_app(clinic.terminal(), test)


async def test_search_at_a_few_thousand_records(
    clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = clinic.terminal()
    content = clinic.content
    services.store.archive_content(content.sha256, content.canonical_json)
    base = clinic.record(name="Zoë Ångström")
    # Synthetic set-up only: durability is not what this test is about.
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    for n in range(2000):
        services.store.save_record(
            base.model_copy(
                update={
                    "id": f"{n + 10:032x}",
                    "reference": reference(n),
                    "patient": base.patient.model_copy(update={"full_name": f"Test Person {n}"}),
                }
            )
        )
    monkeypatch.undo()

    async def test(pilot: Pilot[None]) -> None:
        screen = await signed_in(pilot, "office", ADMIN_PASSWORD)
        assert screen.page is not None and screen.page.total == 2001
        assert "Records 1–50 of 2001" in text_of(pilot, "#paging")
        await pilot.press("pagedown")
        await until(pilot, lambda: screen.page is not None and screen.page.offset == 50, "page 2")
        await pilot.click("#search")
        await pilot.press(*"zoe ang")
        await until(
            pilot,
            lambda: screen.query_shown is not None and screen.query_shown.text == "zoe ang",
            "the search",
        )
        assert screen.page is not None and screen.page.total == 1
        table = screen.query_one("#records", DataTable)
        assert table.row_count == 1

    await run_app(services, test)


# -- one record: discussion, countersignature and the outcomes -----------------------------------


async def test_discussion_then_countersignature_makes_consent_active(clinic: Clinic) -> None:
    record = clinic.record(flags=["blood-thinners"])

    async def test(pilot: Pilot[None]) -> None:
        await signed_in(pilot, "jlee", JLEE_PASSWORD)
        screen = await open_first(pilot)
        assert screen.view is not None
        assert screen.query_one("#act-countersign").display is False
        await pilot.press("d")
        await until(pilot, lambda: isinstance(pilot.app.screen, DiscussionDialog), "dialog")
        dialog = pilot.app.screen
        for box in dialog.query(Checkbox):
            box.value = True
        dialog.query_one("#q-0", Input).value = "Will it hurt?"
        dialog.query_one("#a-0", Input).value = "A cramp-like ache for a moment."
        await pilot.click("#submit")
        await until(pilot, lambda: "Discussion recorded." in text_of(pilot, "#record-message"), "x")
        assert screen.view is not None
        assert screen.view.status is ConsentStatus.DISCUSSED
        await pilot.press("c")
        await until(pilot, lambda: isinstance(pilot.app.screen, CountersignDialog), "signing")
        shown = " ".join(str(w.render()) for w in pilot.app.screen.query(Static))
        assert "Jordan Lee" in shown and "PT-04417" in shown and "informed" in shown
        pilot.app.screen.query_one("#sign-password", Input).value = "not my password here"
        await pilot.press("enter")
        await until(
            pilot,
            lambda: COUNTERSIGN_REFUSED in text_of(pilot, ".dialog-message"),
            "the refusal",
        )
        pilot.app.screen.query_one("#sign-password", Input).value = JLEE_PASSWORD
        await pilot.press("enter")
        await until(pilot, lambda: "Countersigned" in text_of(pilot, "#record-message"), "x")
        assert screen.view is not None and screen.view.status is ConsentStatus.ACTIVE

    await run_app(clinic.terminal(), test)
    stored = clinic.terminal().store.get(record.id)
    assert [e.event.kind.value for e in stored.events] == ["discussed", "countersigned"]


@pytest.mark.parametrize(
    ("key", "text", "status"),
    [
        ("x", "Prefers exercise for now.", ConsentStatus.DECLINED_AFTER_DISCUSSION),
        ("z", "Needle phobia; other treatment chosen.", ConsentStatus.NOT_PROCEEDING),
    ],
)
async def test_outcomes_after_discussion(
    clinic: Clinic, key: str, text: str, status: ConsentStatus
) -> None:
    record = clinic.record()
    services = clinic.terminal()
    discussed_fully(clinic, services, record.id)

    async def test(pilot: Pilot[None]) -> None:
        await signed_in(pilot, "jlee", JLEE_PASSWORD)
        screen = await open_first(pilot)
        await pilot.press(key)
        await until(pilot, lambda: isinstance(pilot.app.screen, TextDialog), "dialog")
        pilot.app.screen.query_one("#text", TextArea).text = text
        await pilot.click("#submit")
        await until(pilot, lambda: screen.view is not None and screen.view.status is status, "x")
        assert not screen.query_one("#act-discuss").display

    await run_app(services, test)


async def test_withdrawal_of_an_active_consent(clinic: Clinic) -> None:
    record = clinic.record()
    services = clinic.terminal()
    discussed_fully(clinic, services, record.id)
    session = services.login("jlee", JLEE_PASSWORD)
    view = services.open_record(session, record.id)
    services.countersign(session, view.token, JLEE_PASSWORD)
    services.logout(session)

    async def test(pilot: Pilot[None]) -> None:
        screen = await signed_in(pilot, "jlee", JLEE_PASSWORD)
        screen.query_one("#status").clear()  # type: ignore[attr-defined]
        await until(pilot, lambda: screen.page is not None and screen.page.total == 1, "list")
        record_screen = await open_first(pilot)
        await pilot.press("w")
        await until(pilot, lambda: isinstance(pilot.app.screen, TextDialog), "dialog")
        await pilot.click("#submit")  # the reason is optional
        await until(
            pilot,
            lambda: (
                record_screen.view is not None
                and record_screen.view.status is ConsentStatus.WITHDRAWN
            ),
            "the withdrawal",
        )
        # Consent will not follow on a withdrawn record: no "not by itself consent" line.
        shown = " ".join(str(w.render()) for w in record_screen.query(Static))
        assert "not by itself consent" not in shown

    await run_app(services, test)


async def test_a_later_kiosk_record_is_linked_as_re_consent(clinic: Clinic) -> None:
    earlier = clinic.record(decision=Decision.DECLINE)
    later = clinic.record()  # same patient (name, date of birth), a minute later

    async def test(pilot: Pilot[None]) -> None:
        screen = await signed_in(pilot, "jlee", JLEE_PASSWORD)
        screen.query_one("#status").clear()  # type: ignore[attr-defined]
        await until(pilot, lambda: screen.page is not None and screen.page.total == 2, "list")
        table = screen.query_one("#records", DataTable)
        table.focus()
        table.move_cursor(row=[str(k.value) for k in table.rows].index(earlier.id))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, RecordScreen), "the record")
        record_screen = pilot.app.screen
        assert isinstance(record_screen, RecordScreen)
        await until(pilot, lambda: record_screen.view is not None, "the view")
        await pilot.press("l")
        await until(pilot, lambda: pilot.app.screen.query("#later-reference"), "the dialog")
        assert pilot.app.screen.query_one("#later-reference", Input).value == later.reference
        await pilot.press("enter")
        await until(pilot, lambda: "linked" in text_of(pilot, "#record-message"), "the link")

    await run_app(clinic.terminal(), test)
    kinds = [e.event.kind.value for e in clinic.terminal().store.get(earlier.id).events]
    assert kinds == ["reconsent_linked"]


async def test_a_stale_act_is_refused_and_nothing_typed_is_lost(clinic: Clinic) -> None:
    record = clinic.record()
    other = clinic.terminal()

    async def test(pilot: Pilot[None]) -> None:
        await signed_in(pilot, "jlee", JLEE_PASSWORD)
        screen = await open_first(pilot)
        await pilot.press("d")
        await until(pilot, lambda: isinstance(pilot.app.screen, DiscussionDialog), "dialog")
        dialog = pilot.app.screen
        dialog.query_one("#other", TextArea).text = "Talked about aftercare."
        # Meanwhile another terminal closes the record.
        akim = other.login("jlee", JLEE_PASSWORD)
        view = other.open_record(akim, record.id)
        other.not_proceeding(akim, view.token, "Referred elsewhere.")
        await pilot.click("#submit")
        await until(pilot, lambda: "another terminal" in text_of(pilot, ".dialog-message"), "x")
        assert pilot.app.screen is dialog
        message = text_of(pilot, ".dialog-message")
        assert message.count("Not proceeding by") == 1, "the newer entry is named once"
        assert dialog.query_one("#other", TextArea).text == "Talked about aftercare."
        assert screen.view is not None and screen.view.status is ConsentStatus.NOT_PROCEEDING

    await run_app(clinic.terminal(), test)
    kinds = [e.event.kind.value for e in other.store.get(record.id).events]
    assert kinds == ["not_proceeding"]


async def test_full_disk_while_saving_is_told_and_can_be_retried(
    clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = clinic.record()
    services = clinic.terminal()
    store = services.store
    real = store.append_event

    def full(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable("No space left on device")

    async def test(pilot: Pilot[None]) -> None:
        await signed_in(pilot, "jlee", JLEE_PASSWORD)
        screen = await open_first(pilot)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(pilot.app.screen, TextDialog), "dialog")
        pilot.app.screen.query_one("#text", TextArea).text = "Called the patient."
        monkeypatch.setattr(store, "append_event", full)
        await pilot.click("#submit")
        await until(pilot, lambda: "Nothing was saved" in text_of(pilot, ".dialog-message"), "x")
        monkeypatch.setattr(store, "append_event", real)
        await pilot.press("ctrl+s")  # the same act again
        await until(pilot, lambda: "Note added." in text_of(pilot, "#record-message"), "again")
        assert pilot.app.screen is screen

    await run_app(services, test)
    assert [e.event.kind.value for e in store.get(record.id).events] == ["note"]


async def test_export_pdf_writes_an_owner_only_file(clinic: Clinic, tmp_path: Path) -> None:
    record = clinic.record()
    out = tmp_path / "export.pdf"

    async def test(pilot: Pilot[None]) -> None:
        await signed_in(pilot, "jlee", JLEE_PASSWORD)
        await open_first(pilot)
        await pilot.press("e")
        await until(pilot, lambda: pilot.app.screen.query("#pdf-path"), "the export dialog")
        pilot.app.screen.query_one("#pdf-path", Input).value = str(out)
        await pilot.click("#submit")
        await until(pilot, lambda: "Saved" in text_of(pilot, ".dialog-message"), "the export")

    await run_app(clinic.terminal(), test)
    assert out.read_bytes().startswith(b"%PDF")
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert "pdf_exported" in [
        e.event.kind.value for e in clinic.terminal().store.get(record.id).events
    ]


# -- admin and permissions ------------------------------------------------------------------------


async def test_admin_manages_accounts(clinic: Clinic) -> None:
    services = clinic.terminal()

    async def test(pilot: Pilot[None]) -> None:
        await signed_in(pilot, "office", ADMIN_PASSWORD)
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(pilot.app.screen, AccountsScreen), "accounts")
        accounts = pilot.app.screen
        table = accounts.query_one("#accounts", DataTable)
        await until(pilot, lambda: table.row_count == 3, "the list")
        table.move_cursor(row=[str(k.value) for k in table.rows].index("jlee"))
        await pilot.press("d")
        await until(pilot, lambda: "is disabled" in text_of(pilot, ".screen-message"), "disable")
        await until(pilot, lambda: "disabled" in str(table.get_row("jlee")[4]), "row")
        await pilot.press("e")
        await until(pilot, lambda: "enabled again" in text_of(pilot, ".screen-message"), "on")
        await pilot.press("p")
        await until(pilot, lambda: pilot.app.screen.query("#new-password2"), "password dialog")
        dialog = pilot.app.screen
        dialog.query_one("#new-password", Input).value = "brand new harbour passphrase"
        dialog.query_one("#new-password2", Input).value = "brand new harbour passphrase"
        await pilot.click("#submit")
        await until(pilot, lambda: pilot.app.screen is accounts, "accounts again")
        await pilot.press("a")
        await until(pilot, lambda: pilot.app.screen.query("#new-user"), "add dialog")
        dialog = pilot.app.screen
        dialog.query_one("#new-user", Input).value = "frontdesk"
        dialog.query_one("#new-name", Input).value = "Robin Clerk"
        dialog.query_one("#new-role").value = Role.ADMIN.value  # type: ignore[attr-defined]
        dialog.query_one("#new-password", Input).value = "short"
        dialog.query_one("#new-password2", Input).value = "short"
        await pilot.click("#submit")
        await until(pilot, lambda: "15" in text_of(pilot, ".dialog-message"), "the rule")
        dialog.query_one("#new-password", Input).value = "a long enough passphrase here"
        dialog.query_one("#new-password2", Input).value = "a long enough passphrase here"
        dialog.query_one("#submit", Button).press()  # again, once the refusal is shown
        await until(pilot, lambda: pilot.app.screen is accounts, "accounts again")
        await until(pilot, lambda: table.row_count == 4, "the new account")

    await run_app(services, test)
    assert services.login("jlee", "brand new harbour passphrase").role is Role.PHYSIO


async def test_admin_reads_the_audit_log(clinic: Clinic) -> None:
    async def test(pilot: Pilot[None]) -> None:
        await signed_in(pilot, "office", ADMIN_PASSWORD)
        await pilot.press("f3")
        await until(pilot, lambda: isinstance(pilot.app.screen, AuditScreen), "audit")
        table = pilot.app.screen.query_one("#audit", DataTable)
        await until(pilot, lambda: table.row_count > 0, "entries")
        whats = [str(table.get_row_at(i)[2]) for i in range(table.row_count)]
        assert any("account created" in w for w in whats)
        assert all("argon2" not in w for w in whats)

    await run_app(clinic.terminal(), test)


async def test_admin_sees_the_last_checkpoint_and_verifies(clinic: Clinic) -> None:
    clinic.record()

    async def test(pilot: Pilot[None]) -> None:
        await signed_in(pilot, "office", ADMIN_PASSWORD)
        await pilot.press("f4")
        await until(pilot, lambda: pilot.app.screen.query("#store-status"), "the store screen")
        await until(
            pilot, lambda: "No signed checkpoint yet" in text_of(pilot, "#store-status"), "x"
        )
        assert "1 records" in text_of(pilot, "#store-status")
        await pilot.click("#verify")
        await until(pilot, lambda: "Verified" in text_of(pilot, "#store-result"), "verify")

    await run_app(clinic.terminal(), test)


async def test_roles_are_refused_by_the_services_not_only_hidden(
    clinic: Clinic, tmp_path: Path
) -> None:
    clinic.record()
    out = tmp_path / "admin-export.pdf"
    services = clinic.terminal()

    async def test(pilot: Pilot[None]) -> None:
        screen = await signed_in(pilot, "jlee", JLEE_PASSWORD)
        # A physiotherapist has no admin screens: the keys do nothing.
        await pilot.press("f2", "f3", "f4")
        assert pilot.app.screen is screen
        session = pilot.app.session  # type: ignore[attr-defined]
        with pytest.raises(Exception, match="cannot see the staff accounts"):
            services.list_accounts(session)

    await run_app(services, test)

    async def admin(pilot: Pilot[None]) -> None:
        screen = await signed_in(pilot, "office", ADMIN_PASSWORD)
        await pilot.press("ctrl+t", "enter")  # an admin does not open clinical details
        await until(pilot, lambda: "do not open records" in text_of(pilot, "#records-message"), "x")
        assert pilot.app.screen is screen
        session = pilot.app.session  # type: ignore[attr-defined]
        assert screen.page is not None
        with pytest.raises(Exception, match="open a record"):
            services.open_record(session, screen.page.items[0].row.record_id)
        # ... but exports its PDF from the list.
        await pilot.press("f6")
        await until(pilot, lambda: pilot.app.screen.query("#pdf-path"), "the export dialog")
        pilot.app.screen.query_one("#pdf-path", Input).value = str(out)
        await pilot.click("#submit")
        await until(pilot, lambda: "Saved" in text_of(pilot, ".dialog-message"), "the export")

    await run_app(services, admin)
    assert out.read_bytes().startswith(b"%PDF")


def test_discussion_events_name_who_discussed(clinic: Clinic) -> None:
    """The set-up helper records a real discussion (so the outcome tests start from it)."""
    record = clinic.record()
    services = clinic.terminal()
    discussed_fully(clinic, services, record.id)
    event = services.store.get(record.id).events[0].event
    assert isinstance(event, Discussed) and event.actor.user == "jlee"  # type: ignore[union-attr]
