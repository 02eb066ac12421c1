"""MongoDB access through PyMongo's async API (Motor's successor). Works on MongoDB and on FerretDB v1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import AutoReconnect, ConnectionFailure, NetworkTimeout, ServerSelectionTimeoutError

# Errors that mean "the store is unreachable right now", as opposed to "this document is wrong".
TRANSIENT_STORE_ERRORS: tuple[type[BaseException], ...] = (
    AutoReconnect, ConnectionFailure, NetworkTimeout, ServerSelectionTimeoutError,
)


def connect(uri: str, *, app_name: str) -> AsyncMongoClient[dict[str, Any]]:
    return AsyncMongoClient(uri, appname=app_name, tz_aware=True, serverSelectionTimeoutMS=5000,
                            uuidRepresentation="standard")


async def ping(db: AsyncDatabase[dict[str, Any]]) -> bool:
    try:
        await db.command("ping")
    except Exception:
        return False
    return True


class KeyedLocks:
    """One asyncio lock per document key, to serialise this process's read-modify-write updates of a document.

    FerretDB v1 applies an update by reading the document and writing it back, without locking: concurrent
    updates of one document lose writes (even plain $inc; MongoDB applies them atomically). Every write to a
    shared document (a rollup bucket, an outbox) therefore goes through the lock of its key, and each such
    collection has one writer process (see deploy/k8s). Locks are dropped when nobody holds or waits on them.
    """

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if self._users[key] == 0:
                del self._users[key], self._locks[key]
