"""MongoDB access through PyMongo's async API (Motor's successor). Works on MongoDB and on FerretDB v1."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import AutoReconnect, ConnectionFailure, NetworkTimeout, ServerSelectionTimeoutError

from migradesk_shared.settings import secret_text

# Errors that mean "the store is unreachable right now", as opposed to "this document is wrong".
TRANSIENT_STORE_ERRORS: tuple[type[BaseException], ...] = (
    AutoReconnect, ConnectionFailure, NetworkTimeout, ServerSelectionTimeoutError,
)


def connect(uri: str | SecretStr, *, app_name: str) -> AsyncMongoClient[dict[str, Any]]:
    return AsyncMongoClient(secret_text(uri), appname=app_name, tz_aware=True, serverSelectionTimeoutMS=5000,
                            uuidRepresentation="standard")


async def ping(db: AsyncDatabase[dict[str, Any]]) -> bool:
    try:
        await db.command("ping")
    except Exception:
        return False
    return True
