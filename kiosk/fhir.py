"""A FHIR R4 document bundle for one record (``ims-kiosk export --fhir``), as plain JSON.

Per record, a ``collection`` Bundle of: the Patient; a DocumentReference carrying the sealed
PDF (LOINC 59284-0 "Patient Consent", base64, its SHA-1 as FHIR's Attachment.hash wants and
its SHA-256 as an identifier); a Consent (scope ``treatment``; status from
:data:`consent_records.lifecycle.FHIR_R4_CONSENT_STATUS`: proposed while awaiting the
discussion, active once countersigned, rejected when declined, inactive when withdrawn,
expired or needing re-consent); a QuestionnaireResponse with the screening answers and each
understanding-check question's attempts; and a Provenance per status change naming who did
it. No FHIR library is used at run time; tests validate every bundle with ``fhir.resources``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from consent_records.model import StoredRecord

SYSTEM = "urn:ims-consent-kiosk"
LOINC = "http://loinc.org"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"


def _uuid(record_id: str, part: str) -> str:
    """A stable urn:uuid for a record's resource (the same on every export)."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{SYSTEM}:{record_id}:{part}')}"


def _instant(moment: Any) -> str:
    return str(moment.isoformat(timespec="seconds"))


def _actor(event: Any) -> str:
    actor = getattr(event, "actor", None)
    if isinstance(actor, str):
        return actor
    label = getattr(actor, "display_name", None) or getattr(actor, "label", None)
    return str(label or "unknown")


def fhir_bundle(stored: StoredRecord, pdf: bytes, file_name: str) -> dict[str, Any]:
    """The FHIR R4 Bundle (a JSON-ready dict) for ``stored`` and its sealed ``pdf``."""
    from consent_records.lifecycle import FHIR_R4_CONSENT_STATUS, fold

    record = stored.record
    rid = record.id
    patient_url = _uuid(rid, "patient")
    document_url = _uuid(rid, "document")
    consent_url = _uuid(rid, "consent")
    answers_url = _uuid(rid, "answers")
    events = [e.event for e in stored.events]
    life = fold(record, events)
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "name": [{"text": record.patient.full_name}],
        "birthDate": record.patient.date_of_birth.isoformat(),
    }
    if record.patient.chart_number:
        patient["identifier"] = [
            {"system": f"{SYSTEM}:chart", "value": record.patient.chart_number}
        ]
    entry = f"{stored.entry.seq}:{stored.entry.sha256}"
    loinc = {"coding": [{"system": LOINC, "code": "59284-0", "display": "Patient Consent"}]}
    document = {
        "resourceType": "DocumentReference",
        "masterIdentifier": {"system": f"{SYSTEM}:reference", "value": record.reference},
        "identifier": [
            {"system": f"{SYSTEM}:pdf-sha256", "value": hashlib.sha256(pdf).hexdigest()},
            {"system": f"{SYSTEM}:record-entry", "value": entry},
        ],
        "status": "current",
        "type": loinc,
        "subject": {"reference": patient_url},
        "date": _instant(record.completed_at),
        "description": "IMS (dry needling) kiosk record and consent summary, sealed PDF",
        "content": [
            {
                "attachment": {
                    "contentType": "application/pdf",
                    "data": base64.b64encode(pdf).decode("ascii"),
                    "size": len(pdf),
                    "hash": base64.b64encode(hashlib.sha1(pdf).digest()).decode("ascii"),
                    "title": file_name,
                }
            }
        ],
    }
    consent = {
        "resourceType": "Consent",
        "identifier": [{"system": f"{SYSTEM}:reference", "value": record.reference}],
        "status": FHIR_R4_CONSENT_STATUS[life.status],
        "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "treatment"}]},
        "category": [loinc],
        "patient": {"reference": patient_url},
        "dateTime": _instant(life.consented_at or record.completed_at),
        "performer": [{"reference": patient_url}],
        "policyRule": {
            "text": "Informed consent to IMS (dry needling) after a discussion with the "
            "physiotherapist, who countersigns"
        },
        "sourceReference": {"reference": document_url},
    }
    answer_system = f"{SYSTEM}:answer"
    screening = [
        {
            "linkId": f"screening.{answer.question_id}",
            "answer": [{"valueCoding": {"system": answer_system, "code": answer.answer.value}}],
        }
        for answer in record.screening
    ]
    quiz = [
        {
            "linkId": f"quiz.{answer.question_id}",
            "answer": [
                {"valueCoding": {"system": f"{SYSTEM}:quiz-option", "code": option}}
                for option in answer.attempts
            ],
        }
        for answer in record.quiz
    ]
    responses = {
        "resourceType": "QuestionnaireResponse",
        "identifier": {"system": f"{SYSTEM}:reference", "value": record.reference},
        "status": "completed",
        "subject": {"reference": patient_url},
        "authored": _instant(record.completed_at),
        "item": [
            {"linkId": "screening", "text": "Health screening", "item": screening},
            {
                "linkId": "quiz",
                "text": "Understanding check: options chosen, first attempt first",
                "item": quiz,
            },
        ],
    }
    entries: list[dict[str, Any]] = [
        {"fullUrl": patient_url, "resource": patient},
        {"fullUrl": document_url, "resource": document},
        {"fullUrl": consent_url, "resource": consent},
        {"fullUrl": answers_url, "resource": responses},
    ]
    # A Provenance per status change: the kiosk signing, then each event that changed it.
    changes: list[tuple[Any, str, str]] = [
        (record.completed_at, record.signer_name, fold(record, []).status.value)
    ]
    before = changes[0][2]
    for index, event in enumerate(events):
        after = fold(record, events[: index + 1]).status.value
        if after != before:
            changes.append((event.at, _actor(event), after))
            before = after
    for number, (at, who, status) in enumerate(changes):
        entries.append(
            {
                "fullUrl": _uuid(rid, f"provenance-{number}"),
                "resource": {
                    "resourceType": "Provenance",
                    "target": [{"reference": consent_url}],
                    "recorded": _instant(at),
                    "activity": {"text": f"status: {status.replace('_', ' ')}"},
                    "agent": [{"who": {"display": who}}],
                },
            }
        )
    return {
        "resourceType": "Bundle",
        "identifier": {"system": f"{SYSTEM}:reference", "value": record.reference},
        "type": "collection",
        "timestamp": _instant(stored.events[-1].event.at if stored.events else record.completed_at),
        "entry": entries,
    }


def fhir_json(stored: StoredRecord, pdf: bytes, file_name: str) -> bytes:
    return (
        json.dumps(fhir_bundle(stored, pdf, file_name), ensure_ascii=False, indent=1) + "\n"
    ).encode("utf-8")
