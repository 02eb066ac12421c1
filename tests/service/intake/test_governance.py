"""The governance register's use cases, over the in-memory repository and the real store: records with their
events in their outbox, corrections guarded by the revision, withdrawals, a year's register, and documents
stored in chunks and read back byte for byte."""

from __future__ import annotations

import os
from datetime import date
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from migradesk_intake.adapters.governance import (
    CHUNK_BYTES,
    GOVERNANCE_FILES,
    GovernanceRepository,
    InMemoryGovernanceRepository,
    MongoGovernanceRepository,
)
from migradesk_intake.adapters.repository import GOVERNANCE
from migradesk_intake.governance import GovernanceRegister
from migradesk_shared.contracts.activities import ActivityFacts, InstrumentFacts
from migradesk_shared.errors import Conflict, DomainRuleViolation, NotFound
from tests.service.intake.helpers import ACTIVITY_TOPIC, TOWN, Clock, RelayCalls

CAMPAIGN = ActivityFacts(kind="awareness_campaign", held_on=date(2026, 5, 18), title="Semana do Migrante",
                         audience="civil_society", participants=300)
COUNCIL = InstrumentFacts(kind="council", title="Conselho Municipal de Direitos dos Migrantes",
                          reference="Decreto nº 210/2024", adopted_on=date(2024, 3, 1), migrant_seats=6)
OLD_PLAN = InstrumentFacts(kind="municipal_plan", title="Plano Municipal 2021-2024", adopted_on=date(2021, 2, 1),
                           ends_on=date(2024, 12, 31))
# Three chunks and a bit: the bytes must come back in order, whole.
CONTENT = b"%PDF-1.7\n" + os.urandom(3 * CHUNK_BYTES + 1234)


@pytest.fixture
async def mongo_store(intake_db: AsyncDatabase[dict[str, Any]], relay_calls: RelayCalls) -> MongoGovernanceRepository:
    mongo = MongoGovernanceRepository(intake_db, on_write=relay_calls)
    await mongo.ensure_indexes()
    return mongo


@pytest.fixture(params=["memory", pytest.param("mongo", marks=pytest.mark.infra)])
def store(request: pytest.FixtureRequest, relay_calls: RelayCalls) -> GovernanceRepository:
    if request.param == "mongo":
        # Resolved only for this param, so the memory variants never start the broker and the store.
        mongo: MongoGovernanceRepository = request.getfixturevalue("mongo_store")
        return mongo
    return InMemoryGovernanceRepository(on_write=relay_calls)


@pytest.fixture
def register(store: GovernanceRepository, clock: Clock) -> GovernanceRegister:
    return GovernanceRegister(store, municipality=TOWN, clock=clock)


async def test_a_record_goes_out_with_each_change_of_its_facts(register: GovernanceRegister,
                                                                store: GovernanceRepository,
                                                                relay_calls: RelayCalls) -> None:
    recorded = await register.record(CAMPAIGN, actor="ana")
    corrected = CAMPAIGN.model_copy(update={"participants": 350})
    await register.revise(recorded.record_id, corrected, expected_revision=1, actor="bia")
    withdrawn = await register.withdraw(recorded.record_id, expected_revision=2, actor="bia")
    assert withdrawn.withdrawn and withdrawn.revision == 3 and withdrawn.created_by == "ana"
    assert relay_calls.calls == [(GOVERNANCE, recorded.record_id)] * 3
    events = await store.record_events(recorded.record_id)
    assert [(e.topic, e.event_type, e.key) for e in events] == [(ACTIVITY_TOPIC, "GovernanceRecordRevised",
                                                                  recorded.record_id)] * 3
    payloads = [e.payload for e in events]
    assert all(p is not None for p in payloads)
    assert [(p["revision"], p["before"] and p["before"]["participants"], p["after"] and p["after"]["participants"])
            for p in payloads if p] == [(1, None, 300), (2, 300, 350), (3, 350, None)]
    assert (await register.read(recorded.record_id)).withdrawn


async def test_a_stale_correction_is_refused_and_changes_nothing(register: GovernanceRegister,
                                                                 store: GovernanceRepository) -> None:
    recorded = await register.record(COUNCIL, actor="ana")
    await register.revise(recorded.record_id, COUNCIL.model_copy(update={"migrant_seats": 8}), expected_revision=1,
                          actor="bia")
    with pytest.raises(Conflict):
        await register.revise(recorded.record_id, COUNCIL.model_copy(update={"migrant_seats": 2}),
                              expected_revision=1, actor="ana")
    held = await register.read(recorded.record_id)
    assert held.revision == 2 and isinstance(held.facts, InstrumentFacts) and held.facts.migrant_seats == 8
    assert len(await store.record_events(recorded.record_id)) == 2
    with pytest.raises(NotFound):
        await register.read("no-such-record")


async def test_a_years_register_lists_its_activities_and_the_instruments_in_force(
        register: GovernanceRegister) -> None:
    campaign = await register.record(CAMPAIGN, actor="ana")
    earlier = await register.record(CAMPAIGN.model_copy(update={"held_on": date(2026, 2, 1), "title": "Roda"}),
                                    actor="ana")
    mistake = await register.record(CAMPAIGN.model_copy(update={"title": "Duplicada"}), actor="ana")
    await register.withdraw(mistake.record_id, expected_revision=1, actor="ana")
    council = await register.record(COUNCIL, actor="ana")
    plan = await register.record(OLD_PLAN, actor="ana")
    this_year = await register.register(2026)
    assert [r.record_id for r in this_year.activities] == [campaign.record_id, earlier.record_id]
    assert [r.record_id for r in this_year.instruments] == [council.record_id]
    assert [r.record_id for r in (await register.register(2024)).instruments] == [council.record_id,
                                                                                   plan.record_id]
    assert (await register.register(2025)).activities == []


async def test_a_document_is_stored_read_back_whole_and_removed(register: GovernanceRegister,
                                                                store: GovernanceRepository) -> None:
    council = await register.record(COUNCIL, actor="ana")
    attached = await register.attach(council.record_id, name="decreto 210.pdf", media_type="application/pdf",
                                     content=CONTENT, actor="ana")
    small = await register.attach(council.record_id, name="ata.txt", media_type="text/plain",
                                  content=b"Ata da posse", actor="bia")
    held = await register.read(council.record_id)
    assert [a.attachment_id for a in held.attachments] == [attached.attachment_id, small.attachment_id]
    described, content = await register.document(council.record_id, attached.attachment_id)
    assert content == CONTENT and described.size == len(CONTENT) and described.name == "decreto 210.pdf"
    # Documents change no figure: no event for metrics.
    assert len(await store.record_events(council.record_id)) == 1
    await register.detach(council.record_id, attached.attachment_id)
    assert [a.attachment_id for a in (await register.read(council.record_id)).attachments] == [small.attachment_id]
    with pytest.raises(NotFound):
        await register.document(council.record_id, attached.attachment_id)
    assert (await register.document(council.record_id, small.attachment_id))[1] == b"Ata da posse"


async def test_a_withdrawn_record_takes_no_document(register: GovernanceRegister) -> None:
    council = await register.record(COUNCIL, actor="ana")
    await register.withdraw(council.record_id, expected_revision=1, actor="ana")
    with pytest.raises(DomainRuleViolation):
        await register.attach(council.record_id, name="x.pdf", media_type="application/pdf", content=CONTENT,
                              actor="ana")


@pytest.mark.infra
async def test_on_the_store_a_document_lives_in_chunks_and_a_refused_one_leaves_none(
        intake_db: AsyncDatabase[dict[str, Any]], clock: Clock) -> None:
    store = MongoGovernanceRepository(intake_db)
    await store.ensure_indexes()
    register = GovernanceRegister(store, municipality=TOWN, clock=clock)
    council = await register.record(COUNCIL, actor="ana")
    attached = await register.attach(council.record_id, name="d.pdf", media_type="application/pdf",
                                     content=CONTENT, actor="ana")
    chunks = await intake_db[GOVERNANCE_FILES].find({}, {"_id": 1}).to_list()
    assert sorted(c["_id"] for c in chunks) == [f"{attached.attachment_id}:{n}" for n in range(4)]
    # Withdrawn between the check and the write: the chunks written are taken back.
    held = await store.get(council.record_id)
    await register.withdraw(council.record_id, expected_revision=1, actor="ana")
    from migradesk_intake.domain.governance import new_attachment

    late = new_attachment(held, name="late.pdf", media_type="application/pdf", content=CONTENT, actor="ana",
                          now=clock())
    with pytest.raises(DomainRuleViolation):
        await store.add_attachment(council.record_id, late, CONTENT)
    remaining = {c["_id"].split(":")[0] for c in await intake_db[GOVERNANCE_FILES].find({}, {"_id": 1}).to_list()}
    assert remaining == {attached.attachment_id}
    await register.detach(council.record_id, attached.attachment_id)
    assert await intake_db[GOVERNANCE_FILES].count_documents({}) == 0
    doc = await intake_db[GOVERNANCE].find_one({"_id": council.record_id})
    assert doc is not None and doc["attachments"] == [] and doc["year"] == 2024 and doc["kind"] == "council"
