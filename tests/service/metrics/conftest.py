"""The metrics use cases run against a `repository`: the in-memory one, and the real store (marked infra)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from migradesk_metrics.adapters.memory import InMemoryRollupRepository
from migradesk_metrics.adapters.repository import MongoRollupRepository, RollupRepository


@pytest.fixture
async def mongo_repository(infra: Any, namespace: str) -> AsyncIterator[MongoRollupRepository]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    repository = MongoRollupRepository(client[f"{namespace}_metrics"])
    await repository.ensure_indexes()
    yield repository
    await client.drop_database(f"{namespace}_metrics")
    await client.close()


@pytest.fixture(params=["memory", pytest.param("mongo", marks=pytest.mark.infra)])
def repository(request: pytest.FixtureRequest) -> RollupRepository:
    if request.param == "mongo":
        # Resolved only for this param, so the memory variants never start the broker and the store.
        mongo: MongoRollupRepository = request.getfixturevalue("mongo_repository")
        return mongo
    return InMemoryRollupRepository()
