"""The consent lifecycle: the transition table, refusals with reasons, expiry and re-consent."""

from __future__ import annotations

from datetime import timedelta

import pytest

from consent_records.events import Discussed, DiscussedItem, DiscussItem, DiscussItemKind
from consent_records.lifecycle import (
    BASE_STATUSES,
    FHIR_R4_CONSENT_STATUS,
    STATUS_LABEL,
    TRANSITIONS,
    Action,
    ConsentRules,
    ConsentStatus,
    TransitionRefused,
    apply,
    available_actions,
    fold,
    standing,
    start,
)
from consent_records.model import ConsentRecord, Decision
from content.history import ContentHistory, ContentRevision
from tests.event_factories import (
    ADMIN,
    AKIM,
    JLEE,
    countersigned,
    declined,
    discussed,
    exported,
    linked,
    not_proceeding,
    note,
    withdrawn,
)
from tests.factories import make_content, make_record

S = ConsentStatus
CONTENT = make_content()


def rec(decision: Decision = Decision.AGREE, **kw: object) -> ConsentRecord:
    return make_record(CONTENT, decision=decision, **kw)


def refused(state: object, event: object) -> str:
    with pytest.raises(TransitionRefused) as info:
        apply(state, event)
    return str(info.value)


@pytest.mark.parametrize(
    ("decision", "status"),
    [
        (Decision.AGREE, S.AWAITING_DISCUSSION),
        (Decision.DISCUSS, S.WANTS_DISCUSSION),
        (Decision.DECLINE, S.DECLINED_AT_KIOSK),
    ],
)
def test_kiosk_decision_gives_the_first_status(decision: Decision, status: S) -> None:
    assert start(rec(decision)).status is status


@pytest.mark.parametrize("decision", [Decision.AGREE, Decision.DISCUSS])
def test_discussion_then_countersignature_makes_consent_active(decision: Decision) -> None:
    record = rec(decision)
    state = fold(record, [discussed(record), countersigned(record)])
    assert state.status is S.ACTIVE
    assert state.refused == ()
    assert state.consented_at == countersigned(record).at
    assert state.outstanding_items == ()


def test_each_outcome_after_discussion() -> None:
    record = rec()
    talked = fold(record, [discussed(record)])
    assert talked.status is S.DISCUSSED
    assert apply(talked, declined(record)).status is S.DECLINED_AFTER_DISCUSSION
    assert apply(talked, not_proceeding(record)).status is S.NOT_PROCEEDING
    assert apply(talked, discussed(record, 7)).status is S.DISCUSSED
    assert apply(start(record), not_proceeding(record)).status is S.NOT_PROCEEDING


def test_withdrawal_only_after_active_consent() -> None:
    record = rec()
    active = fold(record, [discussed(record), countersigned(record)])
    gone = apply(active, withdrawn(record))
    assert gone.status is S.WITHDRAWN
    assert gone.outcome == withdrawn(record)
    assert "nothing to withdraw" in refused(start(record), withdrawn(record))
    assert "already withdrawn on 2026-03-14" in refused(gone, withdrawn(record, 9))


def test_refusals_say_why() -> None:
    record = rec()
    active = fold(record, [discussed(record), countersigned(record)])
    assert "already countersigned on 2026-03-14 at 11:13" in refused(
        active, countersigned(record, 8)
    )
    withdrawn_state = apply(active, withdrawn(record))
    assert "withdrew their consent" in refused(withdrawn_state, countersigned(record, 8))
    assert "new kiosk record" in refused(withdrawn_state, countersigned(record, 8))
    assert "Record your discussion with the patient first" in refused(
        start(record), countersigned(record)
    )
    kiosk_no = rec(Decision.DECLINE)
    message = refused(start(kiosk_no), discussed(kiosk_no))
    assert "declined IMS at the kiosk" in message
    assert "new kiosk record" in message
    assert "already given" in refused(active, discussed(record, 8))
    assert "first, then their decline" in refused(start(record), declined(record))


def test_refusal_names_the_table_cell() -> None:
    record = rec()
    with pytest.raises(TransitionRefused) as info:
        apply(start(record), withdrawn(record))
    assert (info.value.action, info.value.status) == (Action.WITHDRAW, S.AWAITING_DISCUSSION)


def test_countersignature_needs_the_signers_own_discussion() -> None:
    record = rec()
    state = fold(record, [discussed(record, actor=AKIM)])
    assert "not recorded a discussion" in refused(state, countersigned(record, actor=JLEE))
    assert apply(state, countersigned(record, actor=AKIM)).status is S.ACTIVE


def test_countersignature_needs_every_item_addressed() -> None:
    record = rec()
    state = fold(record, [discussed(record, address_all=False)])
    message = refused(state, countersigned(record))
    assert f"screening_flag {CONTENT.screening[0].id}" in message
    assert f"missed_question {CONTENT.quiz[1].id}" in message
    # An item listed in a discussion (not from the record itself) must be addressed too.
    extra = DiscussItem(kind=DiscussItemKind.OLDER_CONTENT, ref="2025.3")
    base = discussed(record, 2)
    second = Discussed(
        **base.model_dump(exclude={"items", "kind"}),
        items=[*base.items, DiscussedItem(item=extra, addressed=False)],
    )
    after = apply(state, second)
    assert after.outstanding_items == (extra,)
    assert "older_content 2025.3" in refused(after, countersigned(record))


def test_only_a_physiotherapist_records_clinical_acts() -> None:
    record = rec()
    assert "Only a physiotherapist" in refused(start(record), discussed(record, actor=ADMIN))
    talked = fold(record, [discussed(record)])
    assert "Only a physiotherapist" in refused(talked, declined(record, actor=ADMIN))
    # Exports and notes are for anyone the permission table lets through.
    assert apply(talked, note(record, actor=ADMIN)).status is S.DISCUSSED


def test_reconsent_links() -> None:
    record = rec()
    later = rec(record_id="7" * 32, reference="M4QX-7P3K")
    closed = fold(record, [discussed(record), declined(record)])
    state = apply(closed, linked(record, later.id))
    assert state.status is S.DECLINED_AFTER_DISCUSSION
    assert [link.new_record_id for link in state.reconsent_links] == [later.id]
    assert "already linked" in refused(state, linked(record, later.id, 9))
    assert "its own re-consent" in refused(state, linked(record, record.id, 9))


def test_events_of_another_record_are_refused() -> None:
    record, other = rec(), rec(record_id="7" * 32)
    assert "another record" in refused(start(record), note(other))


def test_fold_skips_and_lists_what_it_refuses() -> None:
    record = rec()
    events = [countersigned(record), discussed(record), withdrawn(record), countersigned(record)]
    state = fold(record, events)
    assert state.status is S.ACTIVE
    assert [r.action for r in state.refused] == [Action.COUNTERSIGN, Action.WITHDRAW]
    assert [r.event_id for r in state.refused] == [events[0].id, events[2].id]


def test_available_actions_follow_the_table() -> None:
    record = rec(Decision.DECLINE)
    assert available_actions(start(record)) == {
        Action.EXPORT_PDF,
        Action.PRINT_AFTERCARE,
        Action.NOTE,
        Action.LINK_RECONSENT,
    }
    active = fold(rec(), [discussed(rec()), countersigned(rec())])
    assert Action.WITHDRAW in available_actions(active)
    assert Action.COUNTERSIGN not in available_actions(active)


def test_every_transition_lands_in_a_base_status() -> None:
    for row in TRANSITIONS.values():
        assert set(row) <= BASE_STATUSES
        assert set(row.values()) <= BASE_STATUSES
    assert set(TRANSITIONS) == set(Action)


# --- expiry and re-consent -------------------------------------------------------------


def active_record() -> tuple[ConsentRecord, list[object]]:
    record = rec()
    return record, [discussed(record), countersigned(record)]


def test_active_consent_expires_after_the_valid_days() -> None:
    record, events = active_record()
    signed = countersigned(record).at
    rules = ConsentRules(valid_days=365, expiring_within_days=30)
    fresh = standing(record, events, signed + timedelta(days=10), rules)
    assert (fresh.status, fresh.expiring_soon) == (S.ACTIVE, False)
    assert fresh.expires_at == signed + timedelta(days=365)
    soon = standing(record, events, signed + timedelta(days=340), rules)
    assert (soon.status, soon.expiring_soon) == (S.ACTIVE, True)
    late = standing(record, events, signed + timedelta(days=365), rules)
    assert (late.status, late.base, late.expiring_soon) == (S.EXPIRED, S.ACTIVE, False)
    short = standing(record, events, signed + timedelta(days=31), ConsentRules(valid_days=30))
    assert short.status is S.EXPIRED


HISTORY = ContentHistory(
    revisions=(
        ContentRevision(version="2027.2", material=False, what_changed="Typo fixes."),
        ContentRevision(version="2027.1", material=True, what_changed="Risks: new figures."),
        ContentRevision(version="2026.1", material=True, what_changed="First version."),
    )
)


def test_material_change_since_the_version_seen_needs_reconsent() -> None:
    record, events = active_record()  # saw 2026.1
    now = countersigned(record).at + timedelta(days=1)
    state = standing(record, events, now, ConsentRules(history=HISTORY))
    assert state.status is S.RECONSENT_NEEDED
    assert [c.what_changed for c in state.material_changes] == ["Risks: new figures."]
    minor = ContentHistory(revisions=(HISTORY.revisions[0], HISTORY.revisions[2]))
    assert standing(record, events, now, ConsentRules(history=minor)).status is S.ACTIVE
    # Expiry wins over re-consent; a record not yet consented is neither.
    late = now + timedelta(days=400)
    assert standing(record, events, late, ConsentRules(history=HISTORY)).status is S.EXPIRED
    pending = standing(record, [], late, ConsentRules(history=HISTORY))
    assert (pending.status, pending.material_changes) == (S.AWAITING_DISCUSSION, ())


def test_withdrawal_is_allowed_when_expired_and_then_wins() -> None:
    record, events = active_record()
    events.append(withdrawn(record))
    late = countersigned(record).at + timedelta(days=900)
    assert standing(record, events, late).status is S.WITHDRAWN


def test_exports_and_notes_never_change_status() -> None:
    for decision in Decision:
        record = rec(decision)
        state = fold(record, [exported(record), note(record)])
        assert state.status is start(record).status
        assert (state.exports, state.notes) == (1, 1)


# --- FHIR --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "fhir"),
    [
        (S.AWAITING_DISCUSSION, "proposed"),
        (S.WANTS_DISCUSSION, "proposed"),
        (S.DISCUSSED, "proposed"),
        (S.ACTIVE, "active"),
        (S.DECLINED_AT_KIOSK, "rejected"),
        (S.DECLINED_AFTER_DISCUSSION, "rejected"),
        (S.NOT_PROCEEDING, "rejected"),
        (S.WITHDRAWN, "inactive"),
        (S.EXPIRED, "inactive"),
        (S.RECONSENT_NEEDED, "inactive"),
    ],
)
def test_fhir_r4_consent_status_for_every_state(status: S, fhir: str) -> None:
    assert FHIR_R4_CONSENT_STATUS[status] == fhir
    assert STATUS_LABEL[status]


def test_every_state_has_a_fhir_status_and_a_label() -> None:
    assert set(FHIR_R4_CONSENT_STATUS) == set(ConsentStatus) == set(STATUS_LABEL)
    assert set(FHIR_R4_CONSENT_STATUS.values()) == {"proposed", "active", "rejected", "inactive"}
