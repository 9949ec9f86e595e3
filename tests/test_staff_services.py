"""Staff services: sign-in, sessions, the consent lifecycle's acts, accounts and the audit.

Each test builds its clinic with the ``clinic`` fixture (accounts made directly, cheap
password hashing) and records saved straight into the store: no app, no walking.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from consent_records.audit import AuditQuery, LoginFailure
from consent_records.base import StoreUnavailable
from consent_records.events import DiscussedItem, PatientQuestion, Role
from consent_records.lifecycle import ConsentStatus
from consent_records.model import Decision
from consent_records.query import RecordQuery
from kiosk.auth.passwords import Argon2Parameters, Passwords
from kiosk.auth.permissions import PermissionDenied
from kiosk.auth.throttle import GENERIC_FAILURE
from kiosk.staff.audit_csv import safe_cell
from kiosk.staff.errors import (
    ActionRefused,
    LoginRefused,
    SessionEnded,
    StaleRecord,
    TryAgain,
)
from tests.staff_fixtures import (
    ADMIN_PASSWORD,
    JLEE_PASSWORD,
    Clinic,
    clinic_fixture,  # noqa: F401 (the clinic fixture)
    discuss_all,
    sign_in,
)


def _kinds(services: object, **query: object) -> list[str]:
    page = services.store.audit(AuditQuery(**query))  # type: ignore[attr-defined]
    return [item.kind for item in reversed(page.items)]


# ---------------------------------------------------------------------- sign-in


def test_a_wrong_password_and_an_unknown_name_read_the_same_and_are_audited(
    clinic: Clinic,
) -> None:
    services = clinic.terminal()
    with pytest.raises(LoginRefused) as wrong:
        services.login("jlee", "not the password at all")
    with pytest.raises(LoginRefused) as unknown:
        services.login("nobody-here", "not the password at all")
    assert str(wrong.value) == str(unknown.value) == GENERIC_FAILURE
    page = services.store.audit(AuditQuery(include_record_events=False, limit=5))
    newest, before = page.items[0], page.items[1]
    assert newest.kind == "unknown_user_login" and newest.subject is None
    assert "nobody-here" not in repr(newest.event), "the typed name is never kept"
    assert before.kind == "login_failed" and before.subject == "jlee"
    assert before.event.reason is LoginFailure.WRONG_PASSWORD  # type: ignore[union-attr]


def test_five_failures_make_the_account_wait_and_twenty_lock_it_across_a_restart(
    clinic: Clinic,
) -> None:
    services = clinic.terminal()
    for _ in range(5):
        with pytest.raises(LoginRefused):
            services.login("jlee", "wrong wrong wrong wrong")
    # Waiting: even the right password is not accepted (nor checked) yet.
    with pytest.raises(LoginRefused):
        services.login("jlee", JLEE_PASSWORD)
    clinic.clock.advance(seconds=16)
    assert services.login("jlee", JLEE_PASSWORD).user_name == "jlee"
    for n in range(20):
        clinic.clock.advance(minutes=16)  # past every wait
        with pytest.raises(LoginRefused):
            services.login("jlee", f"wrong guess number {n}")
    services.close()
    # A new process (a restart) reads the lock from the audited history.
    restarted = clinic.terminal()
    clinic.clock.advance(days=3)
    with pytest.raises(LoginRefused):
        restarted.login("jlee", JLEE_PASSWORD)
    admin = sign_in(restarted, "office")
    lines = {line.account.user_name: line for line in restarted.list_accounts(admin)}
    assert lines["jlee"].locked and lines["jlee"].failures == 20
    restarted.unlock_account(admin, "jlee")
    assert restarted.login("jlee", JLEE_PASSWORD).role is Role.PHYSIO


def test_a_password_hashed_with_old_parameters_is_rehashed_at_sign_in(clinic: Clinic) -> None:
    services = clinic.terminal()
    old = services.store.credential("jlee")
    stronger = Argon2Parameters(time_cost=2, memory_cost=16, parallelism=1)
    services._passwords = Passwords(stronger)
    services.login("jlee", JLEE_PASSWORD)
    new = services.store.credential("jlee")
    assert new != old and new is not None and "m=16,t=2" in new
    assert _kinds(services, person="jlee", include_record_events=False)[-2:] == [
        "login_succeeded",
        "password_set",
    ]
    # And the rehashed password still signs in (no second rehash).
    services.login("jlee", JLEE_PASSWORD)
    assert services.store.credential("jlee") == new


def test_a_disabled_account_is_refused_and_its_open_session_ends(clinic: Clinic) -> None:
    services = clinic.terminal()
    physio = sign_in(services, "jlee")
    admin = sign_in(services, "office")
    services.disable_account(admin, "jlee")
    with pytest.raises(SessionEnded, match="disabled"):
        services.search(physio, RecordQuery(as_of=clinic.clock()))
    with pytest.raises(LoginRefused, match="disabled"):
        services.login("jlee", JLEE_PASSWORD)


# ---------------------------------------------------------------------- sessions


def test_idle_time_ends_the_session_and_audits_an_automatic_sign_out(clinic: Clinic) -> None:
    services = clinic.terminal(staff_idle_timeout_seconds=300)
    session = sign_in(services, "jlee")
    clinic.clock.advance(seconds=299)
    services.touch(session)
    clinic.clock.advance(seconds=299)
    assert services.session_state(session) is None
    clinic.clock.advance(seconds=2)
    with pytest.raises(SessionEnded, match="without activity"):
        services.search(session, RecordQuery(as_of=clinic.clock()))
    page = services.store.audit(AuditQuery(person="jlee", include_record_events=False, limit=1))
    assert page.items[0].kind == "logged_out"
    assert page.items[0].event.reason.value == "idle"  # type: ignore[union-attr]


def test_a_session_ends_after_twelve_hours_however_active(clinic: Clinic) -> None:
    services = clinic.terminal()
    session = sign_in(services, "jlee")
    for _ in range(12 * 13):
        clinic.clock.advance(minutes=4, seconds=59)
        if services.session_state(session) is not None:
            break
        services.touch(session)
    assert session.ended is not None and session.ended.value == "session_limit"
    with pytest.raises(SessionEnded, match="12 hours"):
        services.touch(session)


def test_a_session_from_another_services_object_or_made_by_hand_is_refused(
    clinic: Clinic,
) -> None:
    from dataclasses import replace

    one, two = clinic.terminal(), clinic.terminal()
    session = sign_in(one, "jlee")
    with pytest.raises(SessionEnded):
        two.search(session, RecordQuery(as_of=clinic.clock()))
    forged = replace(session, role=Role.ADMIN, id="forged")
    with pytest.raises(SessionEnded):
        one.list_accounts(forged)


# ---------------------------------------------------------------------- one record


def test_the_record_view_lists_what_to_discuss_first_and_is_audited_by_id(
    clinic: Clinic,
) -> None:
    record = clinic.record(not_sure=[clinic.content.bundle.screening[2].id])
    services = clinic.terminal()
    session = sign_in(services, "jlee")
    view = services.open_record(session, record.id)
    titles = [point.title for point in view.discuss_first]
    assert any(t.startswith("Screening:") for t in titles)
    assert any(t.startswith("Understanding check:") for t in titles)
    flag = next(p for p in view.discuss_first if p.title.startswith("Screening:"))
    assert flag.lines[0] == "Patient's answer: Yes" and flag.lines[1].startswith("Why it matters")
    missed = next(p for p in view.discuss_first if p.title.startswith("Understanding"))
    assert missed.lines[0].startswith("First answer:") and missed.lines[1].startswith(
        "Right answer:"
    )
    assert missed.lines[0] != missed.lines[1].replace("Right", "First")
    assert "words a minute" in view.reading_rate
    viewed = services.store.audit(
        AuditQuery(record_id=record.id, kinds=frozenset({"record_viewed"}))
    )
    assert viewed.total == 1 and viewed.items[0].actor == "jlee"
    assert record.patient.full_name not in repr(viewed.items[0].event)


def test_a_section_skimmed_far_below_its_reading_estimate_is_listed(clinic: Clinic) -> None:
    record = clinic.record()
    section = clinic.content.bundle.sections[3]
    skimmed = record.model_copy(
        update={
            "id": "f" * 32,
            "reference": "KQZZ-MPRT",
            "engagement": [
                e.model_copy(
                    update={"seconds_on_screen": 2.0 if e.section_id == section.id else 900.0}
                )
                for e in record.engagement
            ],
        }
    )
    clinic.save(skimmed)
    services = clinic.terminal()
    view = services.open_record(sign_in(services, "jlee"), skimmed.id)
    quick = [p for p in view.discuss_first if p.item.kind.value == "section_read_quickly"]
    assert [p.item.ref for p in quick] == [section.id]
    assert any("Estimated reading time" in line for line in quick[0].lines)


def test_discussion_then_countersignature_makes_consent_active_with_name_and_registration(
    clinic: Clinic,
) -> None:
    record = clinic.record()
    services = clinic.terminal()
    session = sign_in(services, "jlee")
    view = services.open_record(session, record.id)
    assert view.status is ConsentStatus.AWAITING_DISCUSSION
    assert view.countersign_blocker is not None, "no countersignature before a discussion"
    view = services.record_discussion(
        session,
        view.token,
        items=[DiscussedItem(item=p.item, addressed=True) for p in view.discuss_first],
        questions=[PatientQuestion(question="Will it hurt?", answer="A cramp-like ache.")],
    )
    assert view.status is ConsentStatus.DISCUSSED and view.countersign_blocker is None
    statement = services.countersign_statement(session, record.id)
    assert (statement.signer_name, statement.registration) == ("Jordan Lee", "PT-04417")
    with pytest.raises(LoginRefused):
        services.countersign(session, view.token, "not my password, sorry")
    view = services.countersign(session, view.token, JLEE_PASSWORD)
    assert view.status is ConsentStatus.ACTIVE
    signed = view.lifecycle.countersignature
    assert signed.signer_name == "Jordan Lee" and signed.registration == "PT-04417"  # type: ignore[union-attr]
    assert signed.meaning == statement.meaning  # type: ignore[union-attr]
    with pytest.raises(ActionRefused, match="already countersigned"):
        services.countersign(session, view.token, JLEE_PASSWORD)


def test_countersigning_needs_every_item_addressed(clinic: Clinic) -> None:
    record = clinic.record()
    services = clinic.terminal()
    session = sign_in(services, "jlee")
    view = services.open_record(session, record.id)
    first, *rest = view.discuss_first
    view = services.record_discussion(
        session,
        view.token,
        items=[DiscussedItem(item=first.item, addressed=True)]
        + [DiscussedItem(item=p.item, addressed=False) for p in rest],
    )
    assert view.countersign_blocker is not None and "go over every item" in view.countersign_blocker
    with pytest.raises(ActionRefused, match="go over every item"):
        services.countersign(session, view.token, JLEE_PASSWORD)


def test_a_stale_screen_is_refused_and_shown_what_arrived_first(clinic: Clinic) -> None:
    record = clinic.record()
    room_1, room_2 = clinic.terminal(), clinic.terminal()
    jlee, akim = sign_in(room_1, "jlee"), sign_in(room_2, "akim")
    seen_by_akim = room_2.open_record(akim, record.id)
    view = discuss_all(room_1, jlee, room_1.open_record(jlee, record.id))
    room_1.not_proceeding(jlee, view.token, "Blood thinner dose too high today.")
    with pytest.raises(StaleRecord) as stale:
        discuss_all(room_2, akim, seen_by_akim)
    assert stale.value.current.status is ConsentStatus.NOT_PROCEEDING
    assert "Not proceeding" in str(stale.value) and "Jordan Lee" in str(stale.value)
    events = room_2.store.get(record.id).events
    assert [e.event.kind.value for e in events] == ["discussed", "not_proceeding"]


def test_a_full_disk_while_countersigning_writes_nothing_and_the_retry_works(
    clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = clinic.record()
    services = clinic.terminal()
    session = sign_in(services, "jlee")
    view = discuss_all(services, session, services.open_record(session, record.id))
    before = services.store.get(record.id).events
    real = type(services.store).append_event

    def full_disk(self: object, *args: object, **kwargs: object) -> object:
        raise StoreUnavailable("No space left on device (the disk is full).")

    monkeypatch.setattr(type(services.store), "append_event", full_disk)
    with pytest.raises(TryAgain, match="Nothing was saved"):
        services.countersign(session, view.token, JLEE_PASSWORD)
    assert services.store.get(record.id).events == before
    monkeypatch.setattr(type(services.store), "append_event", real)
    assert services.countersign(session, view.token, JLEE_PASSWORD).status is ConsentStatus.ACTIVE


def test_decline_withdrawal_and_senseless_acts(clinic: Clinic) -> None:
    declined_at_kiosk = clinic.record(decision=Decision.DECLINE)
    agreed = clinic.record()
    services = clinic.terminal()
    session = sign_in(services, "jlee")
    kiosk_view = services.open_record(session, declined_at_kiosk.id)
    assert "record_discussion" not in {op.value for op in kiosk_view.operations}
    with pytest.raises(ActionRefused, match="declined IMS at the kiosk"):
        discuss_all(services, session, kiosk_view)
    view = services.open_record(session, agreed.id)
    with pytest.raises(ActionRefused, match="nothing to withdraw"):
        services.withdraw(session, view.token)
    view = discuss_all(services, session, view)
    view = services.countersign(session, view.token, JLEE_PASSWORD)
    view = services.withdraw(session, view.token, "Changed their mind after reading more.")
    assert view.status is ConsentStatus.WITHDRAWN
    assert view.timeline[-1].title == "Consent withdrawn"
    view = services.add_note(session, agreed.id, "Phoned to confirm the withdrawal.")
    assert view.timeline[-1].lines == ("Phoned to confirm the withdrawal.",)
    other = clinic.record()
    view = discuss_all(services, session, services.open_record(session, other.id))
    view = services.decline(session, view.token)
    assert view.status is ConsentStatus.DECLINED_AFTER_DISCUSSION


def test_expiry_and_reconsent_with_the_link_to_the_new_record(clinic: Clinic) -> None:
    record = clinic.record()
    services = clinic.terminal(consent_valid_days=30)
    session = sign_in(services, "jlee")
    view = discuss_all(services, session, services.open_record(session, record.id))
    view = services.countersign(session, view.token, JLEE_PASSWORD)
    clinic.clock.advance(days=31)
    session = sign_in(services, "jlee")
    view = services.refresh(session, record.id)
    assert view.status is ConsentStatus.EXPIRED
    expired = services.search(
        session, RecordQuery(as_of=clinic.clock(), statuses=frozenset({ConsentStatus.EXPIRED}))
    )
    assert [item.row.record_id for item in expired.items] == [record.id]
    later = clinic.record(completed_at=clinic.clock())
    clinic.record(completed_at=clinic.clock(), name="Someone Else")
    candidates = services.reconsent_candidates(session, record.id)
    assert [item.row.reference for item in candidates] == [later.reference]
    view = services.link_reconsent(session, record.id, later.reference)
    assert services.reconsent_candidates(session, record.id) == []
    assert view.lifecycle.reconsent_links[0].new_record_id == later.id


def test_an_admin_is_refused_clinical_acts_in_the_services_not_only_on_screen(
    clinic: Clinic,
) -> None:
    record = clinic.record()
    services = clinic.terminal()
    physio = sign_in(services, "jlee")
    view = services.open_record(physio, record.id)
    admin = sign_in(services, "office")
    with pytest.raises(PermissionDenied, match="admins cannot"):
        services.countersign(admin, view.token, ADMIN_PASSWORD)
    with pytest.raises(PermissionDenied):
        services.open_record(admin, record.id)
    page = services.search(admin, RecordQuery(as_of=clinic.clock()))
    assert page.total == 1


def test_a_physiotherapist_removed_from_the_settings_can_read_but_not_countersign(
    clinic: Clinic,
) -> None:
    record = clinic.record()
    services = clinic.terminal(physiotherapists=[{"id": "jlee", "name": "Jordan Lee"}])
    session = sign_in(services, "akim")
    view = services.open_record(session, record.id)
    assert view.clinical_problem is not None and "no longer list" in view.clinical_problem
    assert not {op.value for op in view.operations} & {"record_discussion", "countersign"}
    with pytest.raises(ActionRefused, match="no longer list"):
        discuss_all(services, session, view)


# ---------------------------------------------------------------------- accounts


def test_account_rules_are_enforced_in_the_services(clinic: Clinic) -> None:
    services = clinic.terminal()
    admin = sign_in(services, "office")
    with pytest.raises(ActionRefused, match="at least 15"):
        services.create_account(
            admin, "mtremblay", role=Role.ADMIN, password="short", display_name="Marie Tremblay"
        )
    with pytest.raises(ActionRefused, match="already"):
        services.create_account(admin, "jlee", role=Role.PHYSIO, password=JLEE_PASSWORD * 2)
    with pytest.raises(ActionRefused, match="only admin"):
        services.disable_account(admin, "office")
    with pytest.raises(ActionRefused, match="no physiotherapist with the id"):
        services.set_role(admin, "office", Role.PHYSIO, physiotherapist_id="ghost")
    services.set_role(admin, "akim", Role.ADMIN)
    services.disable_account(admin, "akim")
    lines = {line.account.user_name: line for line in services.list_accounts(admin)}
    assert lines["akim"].account.disabled and lines["akim"].account.role is Role.ADMIN
    services.enable_account(admin, "akim")
    services.reset_password(admin, "akim", "a brand new long passphrase")
    assert services.login("akim", "a brand new long passphrase").role is Role.ADMIN
    audit = _kinds(services, person="akim", include_record_events=False)
    assert "account_changed" in audit and "account_disabled" in audit
    assert all(
        "argon2" not in repr(i.event) for i in services.store.audit(AuditQuery(limit=500)).items
    )


def test_the_audit_log_exports_as_formula_safe_csv(clinic: Clinic, tmp_path: Path) -> None:
    services = clinic.terminal()
    admin = sign_in(services, "office")
    services.create_account(
        admin,
        "mtremblay",
        role=Role.ADMIN,
        password="=cmd|' /C calc'!A0 and more",
        display_name='=HYPERLINK("x")',
    )
    out = tmp_path / "audit.csv"
    written = services.export_audit_csv(admin, AuditQuery(), out)
    import csv

    rows = list(csv.reader(out.open(encoding="utf-8", newline="")))
    assert written >= 5 and rows[0][:4] == ["entry", "time", "kind", "who"]
    assert len(rows) == written + 1
    cells = [cell for row in rows for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")], "no cell reads as a formula"
    assert any('=HYPERLINK("x")' in c for c in cells)
    assert safe_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)" and safe_cell("-3") == "'-3"
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert _kinds(services, include_record_events=False)[-1] == "audit_exported"


def test_searches_are_audited_once_the_typing_settles(clinic: Clinic) -> None:
    clinic.record(name="Björn Gagnon")
    services = clinic.terminal()
    session = sign_in(services, "jlee")
    for text in ("b", "bj", "bjo", "bjorn"):
        page = services.search(session, RecordQuery(as_of=clinic.clock(), text=text))
    assert page.total == 1
    services.search(session, RecordQuery(as_of=clinic.clock(), text="tremblay"))
    services.logout(session)
    searched = services.store.audit(AuditQuery(kinds=frozenset({"records_searched"})))
    assert [i.event.text for i in reversed(searched.items)] == ["bjorn", "tremblay"]  # type: ignore[union-attr]


def test_login_refuses_when_the_attempt_cannot_be_audited(
    clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = clinic.terminal()

    def full(self: object, *args: object, **kwargs: object) -> object:
        raise StoreUnavailable("No space left on device.")

    monkeypatch.setattr(type(services.store), "append_audit", full)
    with pytest.raises(TryAgain):
        services.login("jlee", JLEE_PASSWORD)


def test_the_audit_never_holds_a_password(clinic: Clinic) -> None:
    services = clinic.terminal()
    with pytest.raises(LoginRefused):
        services.login("jlee", "hunter2 hunter2 hunter2")
    sign_in(services, "jlee")
    blob = b""
    for path in (clinic.data_dir / "entries").rglob("*.json"):
        blob += path.read_bytes()
    for secret in (JLEE_PASSWORD, ADMIN_PASSWORD, "hunter2", "$argon2id$"):
        assert secret.encode() not in blob


def test_what_changed_compares_section_by_section(clinic: Clinic) -> None:
    record = clinic.record()
    services = clinic.terminal()
    session = sign_in(services, "jlee")
    same = services.what_changed(session, record.id)
    assert same.changed == () and same.seen_version == same.current_version


def test_a_tampered_store_is_refused_at_start_naming_the_file(clinic: Clinic) -> None:
    from kiosk.staff.errors import StoreProblem

    record = clinic.record(name="Zoë Ångström")
    entry = next(
        p
        for p in sorted((clinic.data_dir / "entries").rglob("*.json"))
        if "Zo" in p.read_text(encoding="utf-8")
    )
    entry.write_bytes(entry.read_bytes().replace("Ångström".encode(), b"Angstrom"))
    services = clinic.terminal()
    with pytest.raises(StoreProblem) as caught:
        services.prepare()
    assert entry.name in str(caught.value)
    assert record.patient.full_name not in str(caught.value)


def test_hostile_text_in_a_note_is_stored_clean(clinic: Clinic) -> None:
    record = clinic.record()
    services = clinic.terminal()
    session = sign_in(services, "jlee")
    view = services.add_note(session, record.id, "\x1b[31mred\x1b[0m [bold]x[/] \u202eevil\nline")
    assert view.timeline[-1].lines == ("[31mred[0m [bold]x[/] evil line",)
    with pytest.raises(ActionRefused, match="empty"):
        services.add_note(session, record.id, "\x1b\u202e  \n")


def test_an_export_that_cannot_be_sealed_says_why_and_writes_nothing(
    clinic: Clinic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from consent_records.sealing import SealProblem
    from kiosk.staff.errors import ExportProblem

    record = clinic.record()
    services = clinic.terminal()
    session = sign_in(services, "jlee")

    def expired(*args: object, **kwargs: object) -> bytes:
        raise SealProblem("The clinic's seal certificate expired on 2026-01-01.")

    monkeypatch.setattr(services.kiosk, "render_pdf", expired)
    out = tmp_path / "r.pdf"
    with pytest.raises(ExportProblem, match="expired"):
        services.export_pdf(session, record.id, out)
    assert not out.exists() and not list(tmp_path.glob("*r.pdf*"))
    assert services.store.get(record.id).events == []


def test_the_admin_sees_when_the_last_checkpoint_was_made(clinic: Clinic) -> None:
    from consent_records.keys import create_key, unseal

    clinic.record()
    services = clinic.terminal()
    admin = sign_in(services, "office")
    status = services.store_status(admin)
    assert status.records == 1 and status.last_checkpoint_at is None
    assert "No signed checkpoint yet" in status.checkpoint_note and not status.sealed
    keys = clinic.data_dir / "keys"
    create_key(keys, "a long test passphrase")
    signer = unseal(keys / "checkpoint-key.json", "a long test passphrase")
    services.store.add_checkpoint(
        signer.sign(services.store.chain_length(), services.store.chain_head(), at=clinic.clock())
    )
    clinic.clock.advance(days=9)
    admin = sign_in(services, "office")
    status = services.store_status(admin)
    assert status.last_checkpoint_seq == services.store.last_checkpoint().seq  # type: ignore[union-attr]
    assert "days ago" in status.checkpoint_note and "ims-kiosk checkpoint" in status.checkpoint_note


def test_a_wrong_countersign_password_says_nothing_was_signed_not_sign_in(clinic: Clinic) -> None:
    # h9qa: the countersign dialog showed the sign-in sentence ("That user name and password
    # do not let you sign in"), though the physiotherapist typed no user name there.
    record = clinic.record()
    services = clinic.terminal()
    session = sign_in(services, "jlee")
    view = discuss_all(services, session, services.open_record(session, record.id))
    with pytest.raises(LoginRefused) as refused:
        services.countersign(session, view.token, "not my password, sorry")
    assert "nothing was signed" in str(refused.value)
    assert "user name" not in str(refused.value)
    assert services.refresh(session, record.id).status is ConsentStatus.DISCUSSED


def test_set_role_and_enable_keep_one_account_per_physiotherapist(clinic: Clinic) -> None:
    # h9qa: `users set-role NAME physio --physio jlee` linked a second account to jlee
    # (create refused it, set-role and enable did not): two accounts could countersign as
    # one physiotherapist.
    services = clinic.terminal()
    admin = sign_in(services, "office")
    services.create_account(
        admin,
        "mtremblay",
        role=Role.ADMIN,
        password="a long unrelated passphrase",
        display_name="M T",
    )
    with pytest.raises(ActionRefused, match="already has an account"):
        services.set_role(admin, "mtremblay", Role.PHYSIO, physiotherapist_id="jlee")
    services.disable_account(admin, "akim")
    services.set_role(admin, "mtremblay", Role.PHYSIO, physiotherapist_id="akim")
    with pytest.raises(ActionRefused, match="already has an account"):
        services.enable_account(admin, "akim")
    lines = {line.account.user_name: line for line in services.list_accounts(admin)}
    assert lines["akim"].account.disabled and lines["mtremblay"].account.role is Role.PHYSIO
    services.set_role(admin, "jlee", Role.PHYSIO)  # unchanged: no refusal of itself


def test_a_physio_account_for_someone_not_in_the_settings_says_so(clinic: Clinic) -> None:
    # h9qa: `users add ghost --role physio` answered "Give the person's full name (--name)",
    # though the problem is that the settings list no physiotherapist "ghost".
    services = clinic.terminal()
    admin = sign_in(services, "office")
    with pytest.raises(ActionRefused, match="not a physiotherapist's id") as refused:
        services.create_account(admin, "ghost", role=Role.PHYSIO, password=JLEE_PASSWORD * 2)
    assert "akim, jlee" in str(refused.value)
