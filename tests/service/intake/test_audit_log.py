"""The access log cannot be edited or shortened unnoticed: on the real store, records appended by two processes
at once chain without a gap, and a record changed, removed from the middle or from the end is named by the
verification; the log is read by person or by staff member within a period."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from migradesk_intake.adapters.repository import AuditQuery, IntakeRepository, MongoIntakeRepository
from migradesk_intake.domain.audit import Access, AccessKind
from migradesk_shared.audit_log import ChainedLog, chain_records, record_hash, verify_chain

AT = datetime(2026, 11, 24, 9, 30, 15, 123456, tzinfo=UTC)
KEY = b"test-key"


def access(n: int, *, actor: str = "staff:ana", person: str = "p1", at: datetime = AT) -> Access:
    return Access(actor=actor, action=AccessKind.PERSON_READ, subject_id=person, case_id=f"c{n}",
                  at=at + timedelta(minutes=n))


def test_a_record_hashes_as_it_reads_back_and_only_under_its_key() -> None:
    [record] = chain_records("ch", 0, "0" * 64, [{"actor": "a", "at": AT}], KEY)
    assert record["at"] == AT.replace(microsecond=123000)  # what the store keeps
    assert record_hash(record["prev"], "ch", 1, {"actor": "a", "at": AT.replace(microsecond=123000)}, KEY) \
        == record["hash"]
    assert record_hash(record["prev"], "ch", 1, {"actor": "a", "at": record["at"]}, b"another key") != record["hash"]
    assert verify_chain("ch", [record], {"seq": 1, "hash": record["hash"]}, KEY).problems == []
    assert verify_chain("ch", [record], {"seq": 1, "hash": record["hash"]}, b"another key").problems != []


async def test_the_log_is_read_by_person_or_actor_within_a_period(repository: IntakeRepository) -> None:
    await repository.record_accesses([access(n) for n in range(3)] + [access(9, actor="staff:bia", person="p2")])
    newest_first = await repository.audit_trail(AuditQuery(person_id="p1"))
    assert [a.case_id for a in newest_first] == ["c2", "c1", "c0"]
    within = await repository.audit_trail(AuditQuery(actor="staff:ana", since=AT + timedelta(minutes=1),
                                                     until=AT + timedelta(minutes=2)))
    assert [a.case_id for a in within] == ["c1"]
    assert [a.case_id for a in await repository.audit_trail(AuditQuery(actor="staff:bia"))] == ["c9"]
    with pytest.raises(ValueError):
        AuditQuery()
    verified = await repository.verify_audit()
    assert verified.intact and verified.records == 4


@pytest.mark.infra
async def test_two_processes_appending_at_once_leave_two_intact_chains(
        intake_db: AsyncDatabase[dict[str, Any]]) -> None:
    first = MongoIntakeRepository(intake_db)
    second = MongoIntakeRepository(intake_db)
    await first.ensure_indexes()
    await asyncio.gather(*(repo.record_access(access(n)) for n in range(150) for repo in (first, second)))
    verified = await first.verify_audit()
    assert verified.intact, verified.problems
    assert (verified.records, len(verified.chains)) == (300, 2)
    assert await intake_db["audit_log"].count_documents({}) == 300


@pytest.mark.infra
async def test_a_record_changed_or_removed_is_named(intake_db: AsyncDatabase[dict[str, Any]]) -> None:
    repository = MongoIntakeRepository(intake_db)
    await repository.ensure_indexes()
    for batch in range(4):
        await repository.record_accesses([access(batch * 10 + n) for n in range(5)])
    chain = repository.audit_log.chain
    assert (await repository.verify_audit()).intact

    records = intake_db["audit_log"]
    await records.update_one({"_id": f"{chain}:{7:012d}"}, {"$set": {"actor": "staff:someone-else"}})
    assert (await repository.verify_audit()).problems == [f"{chain}: record 7 was changed after it was written"]
    await records.update_one({"_id": f"{chain}:{7:012d}"}, {"$set": {"actor": "staff:ana"}})
    assert (await repository.verify_audit()).intact

    removed = await records.find_one_and_delete({"_id": f"{chain}:{12:012d}"})
    assert removed is not None
    assert f"{chain}: records 12 to 12 are missing" in (await repository.verify_audit()).problems
    await records.insert_one(removed)

    await records.delete_one({"_id": f"{chain}:{20:012d}"})
    found = await repository.verify_audit()
    assert found.problems == [f"{chain}: records 20 to 20 are missing (the head says 20 were written)"]


@pytest.mark.infra
async def test_records_rewritten_with_their_hashes_recomputed_without_the_key_are_found(
        intake_db: AsyncDatabase[dict[str, Any]]) -> None:
    log = ChainedLog(intake_db["audit_log"], intake_db["audit_heads"], key=KEY)
    await log.append([{"actor": "staff:ana", "at": AT, "n": n} for n in range(3)])
    # Whoever can write the store rewrites the whole chain and its head consistently, with a key of their own.
    forged = chain_records(log.chain, 0, "0" * 64, [{"actor": "staff:mallory", "at": AT, "n": n} for n in range(3)],
                           b"forger")
    for record in forged:
        await intake_db["audit_log"].replace_one({"_id": record["_id"]}, record)
    await intake_db["audit_heads"].update_one({"_id": log.chain}, {"$set": {"hash": forged[-1]["hash"]}})
    assert len((await log.verify()).problems) == 3
