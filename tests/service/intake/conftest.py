"""The intake use cases run against a `repository`: the in-memory one, and the real store (marked infra); the
account use cases likewise against `account_stores`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from migradesk_intake.accounts import AccountService
from migradesk_intake.adapters.accounts import (
    AccountRepository,
    MongoAccountRepository,
    MongoSessionRepository,
    SessionRepository,
)
from migradesk_intake.adapters.accounts_memory import InMemoryAccountRepository, InMemorySessionRepository
from migradesk_intake.adapters.memory import InMemoryIntakeRepository
from migradesk_intake.adapters.repository import IntakeRepository, MongoIntakeRepository
from migradesk_intake.service import IntakeService
from tests.service.intake.helpers import TOWN, Clock, RelayCalls, cheap_passwords


@pytest.fixture
def relay_calls() -> RelayCalls:
    return RelayCalls()


@pytest.fixture
async def intake_db(infra: Any, namespace: str) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    """A fresh database of the real store, dropped afterwards."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    yield client[f"{namespace}_intake"]
    await client.drop_database(f"{namespace}_intake")
    await client.close()


@pytest.fixture
async def mongo_repository(intake_db: AsyncDatabase[dict[str, Any]],
                           relay_calls: RelayCalls) -> MongoIntakeRepository:
    repository = MongoIntakeRepository(intake_db, on_write=relay_calls)
    await repository.ensure_indexes()
    return repository


@pytest.fixture(params=["memory", pytest.param("mongo", marks=pytest.mark.infra)])
def repository(request: pytest.FixtureRequest, relay_calls: RelayCalls) -> IntakeRepository:
    if request.param == "mongo":
        # Resolved only for this param, so the memory variants never start the broker and the store.
        mongo: MongoIntakeRepository = request.getfixturevalue("mongo_repository")
        return mongo
    return InMemoryIntakeRepository(on_write=relay_calls)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(repository: IntakeRepository, clock: Clock) -> IntakeService:
    return IntakeService(repository, municipality=TOWN, clock=clock)


@pytest.fixture(params=["memory", pytest.param("mongo", marks=pytest.mark.infra)])
def account_stores(request: pytest.FixtureRequest) -> tuple[AccountRepository, SessionRepository]:
    if request.param == "mongo":
        db: AsyncDatabase[dict[str, Any]] = request.getfixturevalue("intake_db")
        return MongoAccountRepository(db), MongoSessionRepository(db)
    return InMemoryAccountRepository(), InMemorySessionRepository()


@pytest.fixture
async def accounts(account_stores: tuple[AccountRepository, SessionRepository], clock: Clock) -> AccountService:
    account_repository, session_repository = account_stores
    await account_repository.ensure_indexes()
    await session_repository.ensure_indexes()
    return AccountService(account_repository, session_repository, cheap_passwords(), clock=clock)
