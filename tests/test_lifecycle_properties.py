"""Random event sequences against the lifecycle (Hypothesis).

Events of every kind, from physiotherapists, an admin and the CLI, in any order, in both
schema versions, folded onto records of every kiosk decision. The invariants are checked
against an independent, deliberately plain reading of the rules.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from consent_records.events import AnyEvent, StaffActor
from consent_records.lifecycle import (
    BASE_STATUSES,
    FINAL,
    Action,
    ConsentRules,
    ConsentStatus,
    Lifecycle,
    TransitionRefused,
    action_of,
    apply,
    check,
    fold,
    start,
)
from consent_records.model import ConsentRecord, Decision, RecordEvent
from consent_records.model import EventKind as V1Kind
from content.history import ContentHistory, ContentRevision
from tests import event_factories as ev
from tests.factories import make_content, make_record

S = ConsentStatus
CONTENT = make_content()
RECORDS = {
    decision: make_record(CONTENT, decision=decision, wrong_first=wrong, flags=flags)
    for decision, wrong, flags in (
        (Decision.AGREE, None, None),
        (Decision.DISCUSS, (), ()),
        (Decision.DECLINE, None, ()),
    )
}
OTHER_ID = "7" * 32
ACTORS = [ev.JLEE, ev.AKIM, ev.ADMIN, ev.CLI]


def v1(record: ConsentRecord, kind: V1Kind, n: int) -> RecordEvent:
    return RecordEvent(
        id=f"{n:032x}",
        record_id=record.id,
        kind=kind,
        at=record.completed_at + timedelta(minutes=n),
        actor="staff-test",
    )


def build(record: ConsentRecord, choice: tuple[str, int, bool], n: int) -> AnyEvent:
    kind, actor_index, flag = choice
    actor = ACTORS[actor_index]
    staff = actor if isinstance(actor, StaffActor) else ev.JLEE
    match kind:
        case "discuss":
            return ev.discussed(record, n, actor=staff, address_all=flag)
        case "countersign":
            return ev.countersigned(record, n, actor=staff)
        case "decline":
            return ev.declined(record, n, actor=actor)
        case "not_proceed":
            return ev.not_proceeding(record, n, actor=actor)
        case "withdraw":
            return ev.withdrawn(record, n, actor=actor)
        case "note":
            return ev.note(record, n, actor=actor)
        case "export":
            return ev.exported(record, n, actor=actor)
        case "link":
            return ev.linked(record, record.id if flag else OTHER_ID, n, actor=actor)
    return v1(record, V1Kind(kind.removeprefix("v1:")), n)


KINDS = [
    "discuss",
    "countersign",
    "decline",
    "not_proceed",
    "withdraw",
    "note",
    "export",
    "link",
    *(f"v1:{k.value}" for k in V1Kind),
]
choices = st.tuples(st.sampled_from(KINDS), st.integers(0, len(ACTORS) - 1), st.booleans())
scenarios = st.tuples(st.sampled_from(list(Decision)), st.lists(choices, max_size=14))


def events_for(decision: Decision, picks: list[tuple[str, int, bool]]) -> list[AnyEvent]:
    record = RECORDS[decision]
    return [build(record, pick, n) for n, pick in enumerate(picks)]


@settings(max_examples=400, deadline=None)
@given(scenarios)
def test_random_sequences_keep_the_invariants(scenario: tuple[Decision, list]) -> None:
    decision, picks = scenario
    record = RECORDS[decision]
    events = events_for(decision, picks)
    state = start(record)
    accepted: list[AnyEvent] = []
    for event in events:
        before = state
        try:
            state = apply(state, event)
        except TransitionRefused as refusal:
            # A refused event changes nothing, and says why in a sentence.
            assert state is before
            assert str(refusal).endswith(".") and len(str(refusal)) > 20
            continue
        accepted.append(event)
        assert state.status in BASE_STATUSES
        # Final states stay final.
        if before.status in FINAL:
            assert state.status is before.status

    # The fold is total and agrees with applying one by one.
    folded = fold(record, events)
    assert folded.status is state.status
    assert len(folded.refused) == len(events) - len(accepted)
    assert fold(record, accepted).refused == ()

    actions = [action_of(e) for e in accepted]
    signs = [a for a in actions if a in (Action.COUNTERSIGN, Action.LEGACY_COUNTERSIGN)]
    assert len(signs) <= 1, "only one countersignature"
    if decision is Decision.DECLINE:
        assert state.status is S.DECLINED_AT_KIOSK
        assert set(actions) <= {
            Action.EXPORT_PDF,
            Action.PRINT_AFTERCARE,
            Action.NOTE,
            Action.LINK_RECONSENT,
        }
    if Action.WITHDRAW in actions:
        assert signs and actions.index(signs[0]) < actions.index(Action.WITHDRAW)
    if state.status is S.ACTIVE:
        assert len(signs) == 1
    for event in accepted:
        if not isinstance(event, RecordEvent) and action_of(event) is Action.COUNTERSIGN:
            # Signed by a physiotherapist who had recorded a discussion before.
            assert isinstance(event.actor, StaffActor) and event.actor.role == "physio"
            earlier = accepted[: accepted.index(event)]
            assert any(
                action_of(e) is Action.DISCUSS
                and not isinstance(e, RecordEvent)
                and e.actor == event.actor
                for e in earlier
            )
        if not isinstance(event, RecordEvent) and action_of(event) in (
            Action.DISCUSS,
            Action.DECLINE,
            Action.NOT_PROCEED,
            Action.WITHDRAW,
        ):
            assert isinstance(event.actor, StaffActor) and event.actor.role == "physio"

    assert state.status is oracle(decision, accepted)


def oracle(decision: Decision, accepted: list[AnyEvent]) -> ConsentStatus:
    """The status from accepted events, read plainly from the module's documented rules."""
    status = {
        Decision.AGREE: S.AWAITING_DISCUSSION,
        Decision.DISCUSS: S.WANTS_DISCUSSION,
        Decision.DECLINE: S.DECLINED_AT_KIOSK,
    }[decision]
    for event in accepted:
        action = action_of(event)
        if action is Action.DISCUSS:
            status = S.DISCUSSED
        elif action in (Action.COUNTERSIGN, Action.LEGACY_COUNTERSIGN):
            status = S.ACTIVE
        elif action is Action.DECLINE:
            status = S.DECLINED_AFTER_DISCUSSION
        elif action is Action.NOT_PROCEED:
            status = S.NOT_PROCEEDING
        elif action is Action.WITHDRAW:
            status = S.WITHDRAWN
    return status


HISTORY = ContentHistory(
    revisions=(
        ContentRevision(version="2026.3", material=False, what_changed="Wording."),
        ContentRevision(version="2026.2", material=True, what_changed="New risk figures."),
        ContentRevision(version="2026.1", material=True, what_changed="First version."),
    )
)


@settings(max_examples=200, deadline=None)
@given(scenarios, st.integers(0, 1000), st.booleans())
def test_standing_is_derived_only_from_an_active_consent(
    scenario: tuple[Decision, list], days: int, changed: bool
) -> None:
    decision, picks = scenario
    record = RECORDS[decision]
    state: Lifecycle = fold(record, events_for(decision, picks))
    now = record.completed_at + timedelta(days=days)
    rules = ConsentRules(history=HISTORY if changed else ContentHistory(), valid_days=365)
    result = state.standing(now, rules)
    assert result.base is state.status
    if state.status is not S.ACTIVE:
        assert result.status is state.status
        assert (result.expires_at, result.material_changes) == (None, ())
    else:
        assert state.consented_at is not None
        expired = now >= state.consented_at + timedelta(days=365)
        if expired:
            assert result.status is S.EXPIRED
        elif changed:
            assert result.status is S.RECONSENT_NEEDED
        else:
            assert result.status is S.ACTIVE


@settings(max_examples=200, deadline=None)
@given(scenarios, choices)
def test_check_never_changes_and_agrees_with_apply(
    scenario: tuple[Decision, list], pick: tuple[str, int, bool]
) -> None:
    decision, picks = scenario
    record = RECORDS[decision]
    state = fold(record, events_for(decision, picks))
    event = build(record, pick, 99)
    try:
        check(state, event)
    except TransitionRefused:
        ok = False
    else:
        ok = True
    try:
        apply(state, event)
    except TransitionRefused:
        assert not ok
    else:
        assert ok


def test_the_generator_reaches_every_status() -> None:
    """Guard the property tests: random sequences do reach every base status."""
    seen: set[ConsentStatus] = set()

    @settings(max_examples=400, deadline=None, database=None, derandomize=True)
    @given(scenarios)
    def collect(scenario: tuple[Decision, list]) -> None:
        decision, picks = scenario
        record = RECORDS[decision]
        state = start(record)
        seen.add(state.status)
        for event in events_for(decision, picks):
            try:
                state = apply(state, event)
            except TransitionRefused:
                continue
            seen.add(state.status)

    collect()
    assert seen == BASE_STATUSES
