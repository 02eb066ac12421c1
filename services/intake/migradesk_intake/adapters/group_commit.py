"""Writes that concurrent requests make to the same index documents, written together.

The store applies update statements one at a time and rewrites a whole document on each, so a busy desk's
registrations, each adding its case to the same day and status documents, cost one rewrite of each of those
documents per case. `GroupCommit` gathers the writes submitted while a batch is being written and writes them
as the next batch (one call of `write_batch`), the way databases group commits: nothing waits for a batch to
fill (a write submitted to an idle writer starts at once), and every caller returns once its own write is
stored, so what the caller's request reads next includes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import structlog

T = TypeVar("T")

log = structlog.get_logger(__name__)


class GroupCommit(Generic[T]):
    def __init__(self, write_batch: Callable[[Sequence[T]], Awaitable[None]],
                 write_one: Callable[[T], Awaitable[None]], *, max_batch: int = 256) -> None:
        """`write_batch` must leave what `write_one` of each item in order would; when a batch fails, each of
        its items is written again alone, so one item the store refuses fails its own caller only."""
        self._write_batch = write_batch
        self._write_one = write_one
        self._max_batch = max_batch
        self._waiting: list[tuple[T, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> None:
        """Return once `item` is written (or raise what writing it raised)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting())
        await future

    async def _write_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:self._max_batch], self._waiting[self._max_batch:]
            try:
                await self._write_batch([item for item, _ in batch])
            except Exception as exc:
                log.warning("batched write failed, writing its items one by one", items=len(batch), error=repr(exc))
                for item, future in batch:
                    await self._settle(future, self._write_one(item))
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)

    @staticmethod
    async def _settle(future: asyncio.Future[None], write: Awaitable[None]) -> None:
        try:
            await write
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
        else:
            if not future.done():
                future.set_result(None)
