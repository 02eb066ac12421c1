"""Referral's access log (who was shown whose contact) is chained like intake's: read back as written, verified
intact, and a record changed on the store afterwards is named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from migradesk_referral.adapters.repository import MongoReferralRepository
from migradesk_referral.domain.person import ContactRead
from tests.service.referral.helpers import Repository

AT = datetime(2026, 11, 24, 10, tzinfo=UTC)


async def test_every_contact_read_is_chained_and_verified(repository: Repository) -> None:
    for n in range(3):
        await repository.record_contact_read(ContactRead(actor="agency:joana", referral_id="r1", case_id="c1",
                                                         at=AT + timedelta(minutes=n), channel="page"))
    assert [r.at for r in await repository.contact_reads("r1")] == [AT + timedelta(minutes=n) for n in range(3)]
    verified = await repository.verify_access_log()
    assert verified.intact and verified.records == 3


@pytest.mark.infra
async def test_a_contact_read_changed_on_the_store_is_named(mongo_repository: MongoReferralRepository) -> None:
    for n in range(3):
        await mongo_repository.record_contact_read(ContactRead(actor="agency:joana", referral_id="r1", case_id="c1",
                                                               at=AT + timedelta(minutes=n), channel="api"))
    chain = mongo_repository.chained_access_log.chain
    await mongo_repository.access_log.update_one({"_id": f"{chain}:{2:012d}"}, {"$set": {"actor": "agency:x"}})
    assert (await mongo_repository.verify_access_log()).problems == [
        f"{chain}: record 2 was changed after it was written"]
