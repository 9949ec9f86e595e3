"""Events: version-2 models with a typed actor, and version-1 events exactly as stored today."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from consent_records.chain import canonical_json, entry_hash
from consent_records.events import (
    Discussed,
    DiscussedItem,
    DiscussItem,
    DiscussItemKind,
    EventKind,
    Note,
    StaffActor,
    SystemActor,
    UnknownEventVersion,
    actor_label,
    parse_event,
    record_items,
)
from consent_records.lifecycle import ConsentStatus, fold
from consent_records.model import EventKind as V1Kind
from consent_records.model import RecordEvent, SubstituteDecisionMaker
from tests.event_factories import JLEE, countersigned, discussed, exported, linked, note
from tests.factories import make_content, make_record

# Entry files 2 and 3 of a store written by the kiosk's store before the staff side existed
# (`ims-kiosk pdf` logs an export as actor "cli"; a version-1 countersignature from the
# store's own tests), byte for byte. Entry 1 is make_record(make_content()).
V1_EXPORT_FILE = (
    '{"entry":{"1":{"data":{"actor":"cli","at":"2026-03-14T10:45:07-04:00","details":'
    '{"bytes":48213,"file":"summary.pdf"},"id":"a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1","kind":'
    '"pdf_exported","note":null,"record_id":"5f0c6b1e2a7d4c3e9b8a1d2c3e4f5a6b",'
    '"schema_version":1},"kind":"event","prev_sha256":'
    '"7c367b6de908ce3976cafc8c1e457e4fce3532597228586adc806ceaa6439846","seq":2,"sha256":'
    '"fd3818866ba668c6e76a7f570dc11035e0b05ef800ac2a974089470c4d375105"}}}'
)
V1_COUNTERSIGN_FILE = (
    '{"entry":{"1":{"data":{"actor":"jlee","at":"2026-03-14T11:32:07-04:00","details":{},'
    '"id":"b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2","kind":"countersigned","note":'
    '"Flags discussed; consent given.","record_id":"5f0c6b1e2a7d4c3e9b8a1d2c3e4f5a6b",'
    '"schema_version":1},"kind":"event","prev_sha256":'
    '"fd3818866ba668c6e76a7f570dc11035e0b05ef800ac2a974089470c4d375105","seq":3,"sha256":'
    '"222993bd7b82566d2c9fa063224b1b117c922d3d3288eb2405be28696653d4f9"}}}'
)


def _doc(text: str) -> dict[str, object]:
    doc: dict[str, object] = json.loads(text)["entry"]["1"]
    return doc


@pytest.mark.parametrize("text", [V1_EXPORT_FILE, V1_COUNTERSIGN_FILE])
def test_v1_event_files_verify_and_load_unchanged(text: str) -> None:
    doc = _doc(text)
    data = doc["data"]
    assert isinstance(data, dict)
    # The chain hash is taken of the JSON as stored; loading it changes nothing.
    assert entry_hash(doc["seq"], "event", doc["prev_sha256"], data) == doc["sha256"]
    event = parse_event(data)
    assert isinstance(event, RecordEvent)
    assert canonical_json(event.model_dump(mode="json")) == canonical_json(data)
    assert entry_hash(doc["seq"], "event", doc["prev_sha256"], data) == doc["sha256"]


def test_v1_events_fold_with_the_record_they_follow() -> None:
    record = make_record(make_content())
    events = [parse_event(_doc(text)["data"]) for text in (V1_EXPORT_FILE, V1_COUNTERSIGN_FILE)]
    assert [actor_label(e) for e in events] == ["cli", "jlee"]
    state = fold(record, events)
    assert state.status is ConsentStatus.ACTIVE
    assert state.exports == 1
    assert state.countersignature is events[1]
    assert state.refused == ()


def test_v2_events_round_trip_through_json_by_kind() -> None:
    record = make_record(make_content())
    for event in (discussed(record), countersigned(record), note(record), exported(record)):
        data = json.loads(json.dumps(event.model_dump(mode="json")))
        assert data["schema_version"] == 2
        again = parse_event(data)
        assert type(again) is type(event)
        assert again == event


def test_actor_is_typed_and_labelled() -> None:
    record = make_record(make_content())
    event = discussed(record)
    data = event.model_dump(mode="json")
    assert data["actor"] == {
        "type": "staff",
        "user": "jlee",
        "display_name": "Jordan Lee",
        "role": "physio",
        "terminal": {"kind": "kiosk", "id": "treatment-room-2"},
    }
    assert actor_label(event) == "Jordan Lee (jlee, physio) at treatment-room-2"
    system = exported(record)
    assert isinstance(system.actor, SystemActor)
    assert actor_label(system) == "cli pdf at host srv1"
    bad = dict(data, actor={**data["actor"], "role": "receptionist"})
    with pytest.raises(ValidationError):
        parse_event(bad)


@pytest.mark.parametrize("version", [None, 0, 3, True, "2"])
def test_unknown_versions_are_refused(version: object) -> None:
    data = exported(make_record(make_content())).model_dump(mode="json")
    data["schema_version"] = version
    with pytest.raises(UnknownEventVersion):
        parse_event(data)


def test_unknown_kind_and_extra_fields_are_refused() -> None:
    data = note(make_record(make_content())).model_dump(mode="json")
    with pytest.raises(ValidationError):
        parse_event({**data, "kind": "erased"})
    with pytest.raises(ValidationError):
        parse_event({**data, "status": "active"})


def test_staff_text_is_cleaned_like_patient_text() -> None:
    record = make_record(make_content())
    event = Note(
        record_id=record.id,
        at=record.completed_at,
        actor=JLEE,
        text="Patient \x1b[31mcalled\u202e back\n\ttoday",
    )
    assert event.text == "Patient [31mcalled back today"
    with pytest.raises(ValidationError):
        Note(record_id=record.id, at=record.completed_at, actor=JLEE, text=" \x1b ")


def test_record_items_list_what_the_record_itself_asks_to_discuss() -> None:
    content = make_content()
    record = make_record(
        content,
        flags={content.screening[0].id},
        not_sure={content.screening[2].id},
        wrong_first={content.quiz[1].id},
        substitute=SubstituteDecisionMaker(full_name="Marc Côté", relationship="father"),
    )
    assert [str(item) for item in record_items(record)] == [
        f"screening_flag {content.screening[0].id}",
        f"screening_flag {content.screening[2].id}",
        f"missed_question {content.quiz[1].id}",
        "substitute_decision_maker",
    ]
    clean = make_record(content, flags=(), wrong_first=())
    assert record_items(clean) == ()


def test_discussion_items_are_well_formed() -> None:
    with pytest.raises(ValidationError, match="needs ref"):
        DiscussItem(kind=DiscussItemKind.SCREENING_FLAG)
    with pytest.raises(ValidationError, match="takes no ref"):
        DiscussItem(kind=DiscussItemKind.SUBSTITUTE, ref="x")
    record = make_record(make_content())
    item = DiscussedItem(item=record_items(record)[0], addressed=True)
    base = {"record_id": record.id, "at": record.completed_at, "actor": JLEE}
    with pytest.raises(ValidationError, match="only once"):
        Discussed(**base, items=[item, item])
    with pytest.raises(ValidationError, match="at least one item addressed"):
        Discussed(**base, items=[item.model_copy(update={"addressed": False})])
    assert Discussed(**base, items=[item]).addressed == {item.item}


def test_shared_kind_values_mean_the_same_in_both_versions() -> None:
    shared = {k.value for k in V1Kind} & {k.value for k in EventKind}
    assert shared == {"pdf_exported", "aftercare_printed", "countersigned", "withdrawn", "note"}
    record = make_record(make_content())
    assert linked(record, "0" * 32).kind == "reconsent_linked"
    assert isinstance(JLEE, StaffActor)
