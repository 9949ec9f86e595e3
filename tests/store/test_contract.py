"""The ConsentStore contract: what every backend does, tested through the protocol only.

Runs once per backend in ``contract_backends.CONTRACT_BACKENDS``. Search and audit pages are
compared with the executable specifications (``query.evaluate``, ``audit.evaluate_audit``).
Synthetic records only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from consent_records.audit import (
    AccountCreated,
    AccountDisabled,
    AuditQuery,
    LoginFailed,
    LoginFailure,
    PasswordReason,
    PasswordSet,
    RecordsSearched,
    RecordViewed,
    UnknownUserLogin,
    audit_item,
    evaluate_audit,
)
from consent_records.backends import StoreConfig, open_store, register_backend
from consent_records.base import (
    ConflictingEvent,
    ConsentStore,
    Expect,
    RecordNotFound,
    StoreUnavailable,
)
from consent_records.chain import sha256_hex
from consent_records.events import Role, SystemActor, Terminal, TerminalKind
from consent_records.lifecycle import ConsentRules, ConsentStatus, TransitionRefused
from consent_records.model import ConsentRecord, ContentStamp, Decision
from consent_records.query import RecordQuery, SearchRow, evaluate
from tests.event_factories import ADMIN, AKIM, JLEE, countersigned, discussed, note
from tests.store.conftest import CONTENT_JSON, CONTENT_SHA, make_event, make_record
from tests.store.contract_backends import CONTRACT_BACKENDS

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
PHC = "$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
HOST = Terminal(kind=TerminalKind.HOST, id="srv1")
OS_USER = SystemActor(type="os_user", name="clinic", terminal=HOST)


@pytest.fixture(params=sorted(CONTRACT_BACKENDS))
def config(request: pytest.FixtureRequest, tmp_path: Path) -> StoreConfig:
    return CONTRACT_BACKENDS[request.param](tmp_path)


@pytest.fixture
def opened(config: StoreConfig) -> Iterator[Callable[[], ConsentStore]]:
    """Opens stores on the one configured backend (two calls: two terminals)."""
    stores: list[ConsentStore] = []

    def open_one() -> ConsentStore:
        store = open_store(config)
        store.archive_content(CONTENT_SHA, CONTENT_JSON)
        stores.append(store)
        return store

    yield open_one
    for store in stores:
        store.close()


@pytest.fixture
def store(opened: Callable[[], ConsentStore]) -> ConsentStore:
    return opened()


def _record(n: int) -> ConsentRecord:
    stamp = ContentStamp(version="2026.1", language="en", sha256=CONTENT_SHA)
    return make_record(n, content=stamp)


def _agreed(n: int) -> ConsentRecord:
    return _record(3 * n)  # n % 3 == 0: decision agree


def test_events_of_both_versions_come_back_typed_with_the_derived_status(
    store: ConsentStore,
) -> None:
    record = _agreed(0)
    assert record.decision is Decision.AGREE
    store.save_record(record)
    old = store.append_event(make_event(record.id))
    talk = store.append_event(discussed(record))
    sign = store.append_event(countersigned(record))
    got = store.get(record.id)
    assert [e.event for e in got.events] == [old.event, talk.event, sign.event]
    assert got.lifecycle.status is ConsentStatus.ACTIVE
    assert got.standing(NOW).status is ConsentStatus.ACTIVE
    assert got.last_event_id == sign.event.id
    assert store.count() == (1, 3)


def test_a_transition_that_makes_no_sense_is_refused_and_nothing_is_stored(
    store: ConsentStore,
) -> None:
    record = _agreed(1)
    store.save_record(record)
    with pytest.raises(TransitionRefused, match="discussion"):
        store.append_event(countersigned(record))
    store.append_event(discussed(record))
    store.append_event(countersigned(record))
    with pytest.raises(TransitionRefused, match="one countersignature"):
        store.append_event(countersigned(record, n=9))
    assert store.count() == (1, 2)
    with pytest.raises(RecordNotFound):
        store.append_event(note(make_record(99)))


def test_two_terminals_cannot_both_act_on_a_record_they_saw_unchanged(
    opened: Callable[[], ConsentStore],
) -> None:
    kiosk, first, second = opened(), opened(), opened()
    record = _agreed(2)
    kiosk.save_record(record)
    kiosk.append_event(discussed(record))
    seen_by_first = first.get(record.id)
    seen_by_second = second.get(record.id)
    first.append_event(countersigned(record), expect=Expect.unchanged(seen_by_first))
    with pytest.raises(ConflictingEvent) as caught:
        second.append_event(
            countersigned(record, n=7, actor=JLEE), expect=Expect.unchanged(seen_by_second)
        )
    assert "another terminal" in str(caught.value)
    assert [e.event.kind.value for e in caught.value.newer] == ["countersigned"]
    assert caught.value.status is ConsentStatus.ACTIVE
    assert len(second.get(record.id).events) == 2


def test_a_status_condition_refuses_when_the_record_moved_on(store: ConsentStore) -> None:
    record = _agreed(3)
    store.save_record(record)
    awaiting = Expect.status_in({ConsentStatus.AWAITING_DISCUSSION})
    store.append_event(discussed(record), expect=awaiting)
    with pytest.raises(ConflictingEvent, match="discussed"):
        store.append_event(discussed(record, n=2, actor=AKIM), expect=awaiting)
    assert store.count() == (1, 1)


def _rows(store: ConsentStore, records: list[ConsentRecord]) -> list[SearchRow]:
    return [SearchRow.of(r, store.get(r.id).lifecycle) for r in records]


def test_search_pages_are_exactly_the_specification(opened: Callable[[], ConsentStore]) -> None:
    staff, kiosk = opened(), opened()
    records = [_record(n) for n in range(14)]
    for record in records[:10]:
        kiosk.save_record(record)
    kiosk.append_event(discussed(records[0]))
    kiosk.append_event(countersigned(records[0]))
    kiosk.append_event(discussed(records[3]))
    rules = ConsentRules(valid_days=200)
    queries = [
        RecordQuery(as_of=NOW),
        RecordQuery(as_of=NOW, limit=3, offset=2),
        RecordQuery(as_of=NOW, text="sample"),
        RecordQuery(as_of=NOW, text="T-00000"),
        RecordQuery(as_of=NOW, statuses=frozenset({ConsentStatus.WANTS_DISCUSSION})),
        RecordQuery(as_of=NOW, has_flags=True, descending=False),
        RecordQuery(as_of=NOW + timedelta(days=365)),
        RecordQuery(as_of=NOW, completed_from=date(2025, 1, 6), completed_to=date(2025, 1, 6)),
    ]
    for query in queries:
        assert staff.search(query, rules) == evaluate(_rows(staff, records[:10]), query, rules)
    # Another process's entries are in the next search, without reopening.
    for record in records[10:]:
        kiosk.save_record(record)
    kiosk.append_event(discussed(records[12]))
    for query in queries:
        assert staff.search(query, rules) == evaluate(_rows(staff, records), query, rules)
    page = staff.search(RecordQuery(as_of=NOW))
    assert page.counts[ConsentStatus.ACTIVE] == 1
    assert page.items[0].row.record_id == records[-1].id


def _account(user: str, role: Role = Role.PHYSIO) -> AccountCreated:
    return AccountCreated(
        at=NOW,
        actor=OS_USER,
        subject=user,
        display_name=user.title(),
        role=role,
        physiotherapist_id="physio-1" if role is Role.PHYSIO else None,
    )


def _password(user: str, phc: str = PHC) -> PasswordSet:
    return PasswordSet(
        at=NOW,
        actor=OS_USER,
        subject=user,
        reason=PasswordReason.CREATED,
        credential_sha256=sha256_hex(phc.encode()),
    )


def test_accounts_are_audited_events_with_a_credential_kept_outside_the_chain(
    store: ConsentStore,
) -> None:
    created = store.append_audit(_account("jlee"), _password("jlee"), credential=PHC)
    assert [s.event.kind.value for s in created] == ["account_created", "password_set"]
    assert store.credential("jlee") == PHC
    assert store.credential("nobody") is None
    with pytest.raises(ConflictingEvent, match="already an account named jlee"):
        store.append_audit(_account("jlee"))
    with pytest.raises(ConflictingEvent, match="no account named ghost"):
        store.append_audit(AccountDisabled(at=NOW, actor=ADMIN, subject="ghost"))
    with pytest.raises(ValueError, match="commits"):
        store.append_audit(_password("jlee"), credential=PHC + "x")
    store.append_audit(_account("office", Role.ADMIN))
    failed = LoginFailed(at=NOW, actor=JLEE, subject="jlee", reason=LoginFailure.WRONG_PASSWORD)
    store.append_audit(failed)
    assert [e.kind.value for e in store.account_events("jlee")] == [
        "account_created",
        "password_set",
        "login_failed",
    ]
    assert len(store.account_events()) == 4
    assert store.count() == (0, 0)
    assert store.audit_count() == 4


def test_a_stale_account_change_is_refused(opened: Callable[[], ConsentStore]) -> None:
    one, two = opened(), opened()
    one.append_audit(_account("jlee"))
    seen = two.account_events("jlee")[-1].id
    one.append_audit(AccountDisabled(at=NOW, actor=ADMIN, subject="jlee"))
    with pytest.raises(ConflictingEvent, match="changed on another terminal") as caught:
        two.append_audit(
            AccountDisabled(at=NOW, actor=ADMIN, subject="jlee"),
            expect=Expect(last_event_id=seen),
        )
    assert [s.event.kind.value for s in caught.value.newer] == ["account_disabled"]


def test_the_audit_log_is_exactly_the_specification(store: ConsentStore) -> None:
    record = _agreed(4)
    store.save_record(record)
    store.append_audit(_account("jlee"))
    store.append_audit(RecordViewed(at=NOW, actor=JLEE, record_id=record.id))
    store.append_event(discussed(record))
    store.append_audit(RecordsSearched(at=NOW + timedelta(days=2), actor=ADMIN, results=3))
    store.append_audit(UnknownUserLogin(at=NOW, actor=OS_USER))
    store.append_event(make_event(record.id))
    with pytest.raises(RecordNotFound):
        store.append_audit(RecordViewed(at=NOW, actor=JLEE, record_id=make_record(98).id))
    everything = store.audit(AuditQuery(limit=500))
    assert everything.total == 6
    items = everything.items
    assert [i.seq for i in items] == sorted((i.seq for i in items), reverse=True)
    assert [audit_item(i.seq, i.sha256, i.event) for i in items] == list(items)
    queries = [
        AuditQuery(person="jlee"),
        AuditQuery(person="os_user:clinic"),
        AuditQuery(person="staff-test"),  # a version-1 event's actor
        AuditQuery(record_id=record.id),
        AuditQuery(kinds=frozenset({"record_viewed", "records_searched"})),
        AuditQuery(date_from=(NOW + timedelta(days=1)).date()),
        AuditQuery(include_record_events=False, limit=2, offset=1),
    ]
    for query in queries:
        assert store.audit(query) == evaluate_audit(items, query)
    assert store.audit(AuditQuery(record_id=record.id)).total == 3
    assert store.count() == (1, 2)
    assert store.audit_count() == 4
    report = store.verify()
    assert report.ok, report.problem
    assert (report.records, report.events, report.audit) == (1, 2, 4)


def test_the_factory_names_an_unknown_backend(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="'nosuch'"):
        open_store(StoreConfig(backend="nosuch", data_dir=tmp_path))
    opened: list[StoreConfig] = []

    def fake(config: StoreConfig, *, read_only: bool, full_check: bool) -> ConsentStore:
        opened.append(config)
        raise StoreUnavailable("fake backend")

    register_backend("fake-test", fake)
    with pytest.raises(StoreUnavailable, match="fake backend"):
        open_store(StoreConfig(backend="fake-test", data_dir=tmp_path))
    assert opened
