"""The referral use cases run against a `repository`: the in-memory one, and the real store (marked infra).
Both start with the demo directory of agencies; `relayed` records what the relay was told was written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from migradesk_referral.adapters.mappers import demo_directory
from migradesk_referral.adapters.memory import InMemoryReferralRepository
from migradesk_referral.adapters.repository import MongoReferralRepository
from migradesk_referral.service import ReferralService
from tests.service.referral.helpers import Repository


@pytest.fixture
def relayed() -> list[tuple[str, Any]]:
    return []


@pytest.fixture
async def mongo_repository(infra: Any, namespace: str,
                           relayed: list[tuple[str, Any]]) -> AsyncIterator[MongoReferralRepository]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    repository = MongoReferralRepository(client[f"{namespace}_referral"],
                                         on_write=lambda collection, doc_id: relayed.append((collection, doc_id)))
    await repository.prepare()
    yield repository
    await client.drop_database(f"{namespace}_referral")
    await client.close()


@pytest.fixture(params=["memory", pytest.param("mongo", marks=pytest.mark.infra)])
def backend(request: pytest.FixtureRequest, relayed: list[tuple[str, Any]]) -> Repository:
    if request.param == "mongo":
        # Resolved only for this param, so the memory variants never start the broker and the store.
        mongo: MongoReferralRepository = request.getfixturevalue("mongo_repository")
        return mongo
    return InMemoryReferralRepository(on_write=lambda collection, doc_id: relayed.append((collection, doc_id)))


@pytest.fixture
async def repository(backend: Repository) -> Repository:
    await backend.add_agencies(demo_directory())
    return backend


@pytest.fixture
def declines() -> list[None]:
    """One entry each time the service woke the re-router."""
    return []


@pytest.fixture
def service(repository: Repository, declines: list[None]) -> ReferralService:
    return ReferralService(repository, on_declined=lambda: declines.append(None))
