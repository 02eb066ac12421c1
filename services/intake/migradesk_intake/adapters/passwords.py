"""Password hashing with Argon2id (argon2-cffi): memory-hard, salted, its parameters stored in each hash, so a
hash made with older parameters is recognised and replaced at the next successful sign-in."""

from __future__ import annotations

import asyncio
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class Passwords(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool: ...

    def needs_rehash(self, password_hash: str) -> bool: ...

    async def verify_unknown(self, password: str) -> None:
        """Spend the time a real check takes, for a username that matches no account: the answer's timing must
        not tell which usernames exist."""
        ...


class Argon2Passwords:
    """Each hash or check takes a quarter of a second and 64 MiB with the library's defaults (RFC 9106's
    low-memory profile): it runs in a worker thread, so the event loop keeps serving, and at most `concurrency`
    at once, so a flood of sign-in attempts queues instead of exhausting the memory."""

    def __init__(self, hasher: PasswordHasher | None = None, *, concurrency: int = 2) -> None:
        self._hasher = hasher or PasswordHasher()
        self._slots = asyncio.Semaphore(concurrency)
        self._decoy: str | None = None

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        async with self._slots:
            try:
                return await asyncio.to_thread(self._hasher.verify, password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    async def verify_unknown(self, password: str) -> None:
        if self._decoy is None:
            self._decoy = await self.hash("a password no account has")
        await self.verify(self._decoy, password)
