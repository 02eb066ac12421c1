"""What only the real store can prove: the stored documents keep the shapes other processes read (the relay,
the tests, the benchmark), look-ups go through indexes, and a look-up key left without its person (a crash
between the two writes) leaves nothing a look-up trips over."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from migradesk_intake.adapters.repository import MongoIntakeRepository
from migradesk_intake.domain.duplicates import PersonRecord, match_keys
from migradesk_intake.service import ChangeConsent, ErasePerson, IntakeService
from migradesk_shared.contracts.vocabulary import LegalBasis
from tests.service.intake.helpers import DANIELA, ERASURE_REASON, TOWN, WILNER, Clock, open_case

pytestmark = [pytest.mark.infra]

OUTBOX_FIELDS = ["outbox", "outbox_total", "outbox_sent", "outbox_pending", "outbox_at"]


@pytest.fixture
def service(mongo_repository: MongoIntakeRepository) -> IntakeService:
    return IntakeService(mongo_repository, municipality=TOWN, clock=Clock())


async def test_a_person_and_a_case_document_keep_their_shape_through_erasure(
        service: IntakeService, intake_db: AsyncDatabase[dict[str, Any]]) -> None:
    case = await service.open_case(open_case(DANIELA, "sus_card"))
    record = await intake_db["persons"].find_one({"_id": case.person_id})
    assert record is not None
    assert list(record) == ["_id", "person", "version", "cases", "changes", "registered_at", "audit",
                            *OUTBOX_FIELDS]
    assert record["person"] == {
        "full_name": "Daniela Suárez", "birth_date": "1990-05-04", "sex": "female", "nationality": "VEN",
        "preferred_language": "es", "languages": ["es", "pt"], "migratory_status": "refugiado",
        "documents": [{"type": "rnm", "number": "V123456-A"}], "phone": "+5567999990000",
        "consent": {"legal_basis": "consent", "share_with_partners": True, "recorded_by": "ana",
                    "recorded_at": case.opened_at.isoformat()},
        "consent_history": [], "sensitive": {}}
    assert (record["version"], record["cases"], record["changes"]) == (1, [case.case_id], [])
    assert [(a["actor"], a["action"]) for a in record["audit"]] == [("ana", "person.register")]
    assert (record["outbox_total"], record["outbox_sent"], record["outbox_pending"]) == (1, 0, True)
    assert list(record["outbox"][0]) == ["event_id", "event_type", "topic", "key", "value", "headers"]

    doc = await intake_db["cases"].find_one({"_id": case.case_id})
    assert doc is not None
    assert list(doc) == ["_id", "person_id", "opened_at", "municipality", "status", "version", "assigned_to",
                         "requests", "notes", "follow_ups", "outcome", "closed_at", "erased_at", "audit",
                         *OUTBOX_FIELDS]
    assert "person" not in doc and "Daniela" not in str(doc)  # the person lives in their record only
    assert doc["requests"] == [{"request_id": case.requests[0].request_id, "category": "sus_card",
                                "service_area": "health", "description": "note about sus_card"}]
    assert [(a["actor"], a["action"]) for a in doc["audit"]] == [("ana", "case.open")]
    assert (doc["outbox_total"], doc["outbox_sent"], doc["outbox_pending"]) == (2, 0, True)

    await service.erase_person(ErasePerson(case.person_id, actor="dpo", reason=ERASURE_REASON))
    erased = await intake_db["persons"].find_one({"_id": case.person_id})
    assert erased is not None
    assert list(erased["person"]) == ["erased", "erased_at"] and erased["person"]["erased"] is True
    assert [(a["actor"], a["action"]) for a in erased["audit"]] == [("ana", "person.register"),
                                                                    ("dpo", "person.erase")]
    assert (erased["outbox_total"], erased["outbox_pending"]) == (2, True)
    assert "Daniela" not in str(erased) and "V123456" not in str(erased)
    erased_case = await intake_db["cases"].find_one({"_id": case.case_id})
    assert erased_case is not None and erased_case["requests"][0]["description"] is None
    assert erased_case["erased_at"] is not None and erased_case["outbox_total"] == 2
    assert [(a["actor"], a["action"]) for a in erased_case["audit"]] == [("ana", "case.open"),
                                                                         ("dpo", "person.erase")]
    assert await intake_db["match_keys"].count_documents({"person_id": case.person_id}) == 0
    reads = await intake_db["audit_log"].find({"subject_id": case.person_id}).to_list()
    # Ids and codes, the erasure's recorded reason, and its place in the log's chain.
    assert [sorted(r) for r in reads] == [["_id", "action", "actor", "at", "case_id", "chain", "hash", "prev",
                                           "reason", "seq", "subject_id"]]
    assert reads[0]["reason"] == ERASURE_REASON


async def test_a_consent_change_is_written_into_the_person_with_its_history_and_audit(
        service: IntakeService, intake_db: AsyncDatabase[dict[str, Any]]) -> None:
    case = await service.open_case(open_case(WILNER, "housing"))
    await service.change_consent(ChangeConsent(case.person_id, LegalBasis.PUBLIC_POLICY, share_with_partners=False,
                                               recorded_by="bia", actor="bia"))
    doc = await intake_db["persons"].find_one({"_id": case.person_id})
    assert doc is not None
    person = doc["person"]
    assert (person["consent"]["legal_basis"], person["consent"]["share_with_partners"]) == ("public_policy", False)
    assert person["consent"]["recorded_by"] == "bia" and person["consent"]["recorded_at"].startswith("2026-11-22")
    assert person["consent_history"] == [{"legal_basis": "consent", "share_with_partners": True,
                                          "recorded_by": "ana", "recorded_at": case.opened_at.isoformat()}]
    assert person["sensitive"]["race_colour"] == {"value": "preta", "legal_basis": "legal_obligation"}
    assert person["sensitive"]["sexual_orientation"]["recorded_at_persons_request"] is True
    assert [(a["actor"], a["action"]) for a in doc["audit"]] == [("ana", "person.register"),
                                                                 ("bia", "person.consent")]
    assert [(c["version"], c["by"], c["fields"]) for c in doc["changes"]] == [(2, "bia", ["consent"])]
    assert [e["event_type"] for e in doc["outbox"]] == ["Tombstone", "Tombstone"]
    assert (doc["version"], doc["outbox_total"], doc["outbox_pending"]) == (2, 2, True)


async def test_a_look_up_key_left_without_its_person_is_skipped(
        service: IntakeService, mongo_repository: MongoIntakeRepository,
        intake_db: AsyncDatabase[dict[str, Any]]) -> None:
    case = await service.open_case(open_case())
    keys = match_keys(PersonRecord("", DANIELA.full_name, DANIELA.birth_date))
    await intake_db["match_keys"].insert_one({"_id": f"{keys[0]}|p-lost", "key": keys[0], "person_id": "p-lost"})
    assert [p.person_id for p in await mongo_repository.persons_matching(keys, limit=10)] == [case.person_id]


async def test_the_look_ups_have_their_indexes(mongo_repository: MongoIntakeRepository,
                                               intake_db: AsyncDatabase[dict[str, Any]]) -> None:
    async def leading(collection: str) -> set[str]:
        return {next(iter(i["key"])) for i in await (await intake_db[collection].list_indexes()).to_list()}

    assert {"key", "person_id"} <= await leading("match_keys")
    assert {"subject_id"} <= await leading("audit_log")
    assert {"case_id"} <= await leading("referral_status")
