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
from typing import Any, Generic, TypeVar

import structlog
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

T = TypeVar("T")

log = structlog.get_logger(__name__)

DUPLICATE_KEY = 11000


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


class GroupInsert:
    """Documents that concurrent requests insert into one collection, inserted together: one ordered
    `insert_many` per batch instead of one insert command per request, each caller returning once its own
    documents are stored. An item is a list of documents inserted in order; a document the store refuses (a
    duplicate key) fails its own caller only, with the error `insert_many` of that item alone would raise, and the
    items after it in the batch are inserted in the next batch."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]], *, max_documents: int = 1000) -> None:
        self._collection = collection
        self._max_documents = max_documents
        self._waiting: list[tuple[list[dict[str, Any]], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def insert(self, documents: Sequence[dict[str, Any]]) -> None:
        if not documents:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((list(documents), future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting())
        await future

    def _next_batch(self) -> list[tuple[list[dict[str, Any]], asyncio.Future[None]]]:
        batch: list[tuple[list[dict[str, Any]], asyncio.Future[None]]] = []
        count = 0
        while self._waiting and (not batch or count + len(self._waiting[0][0]) <= self._max_documents):
            item = self._waiting.pop(0)
            batch.append(item)
            count += len(item[0])
        return batch

    async def _write_waiting(self) -> None:
        while self._waiting:
            batch = self._next_batch()
            documents = [doc for docs, _ in batch for doc in docs]
            try:
                await self._collection.insert_many(documents, ordered=True)
            except BulkWriteError as exc:
                self._settle_partly(batch, exc)
            except Exception as exc:
                # Nothing says what was stored (the connection dropped): every caller learns it, as each would
                # from an insert of its own.
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)

    def _settle_partly(self, batch: list[tuple[list[dict[str, Any]], asyncio.Future[None]]],
                       exc: BulkWriteError) -> None:
        """An ordered insert stops at its first refused document: those before it are stored, its item fails,
        and the items after it wait for the next batch."""
        errors = exc.details.get("writeErrors") or []
        if not errors:  # refused as a whole (a write concern): every caller learns it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        failed_at = errors[0]["index"]
        position, retry = 0, []
        for docs, future in batch:
            end = position + len(docs)
            if end <= failed_at:
                if not future.done():
                    future.set_result(None)
            elif position <= failed_at < end:
                # the item's documents before the refused one are stored, as insert_many of the item would leave
                error = errors[0]
                details = {**error, "index": failed_at - position}
                cls = DuplicateKeyError if error.get("code") == DUPLICATE_KEY else OperationFailure
                if not future.done():
                    future.set_exception(cls(error.get("errmsg", "refused"), error.get("code"), details))
            else:
                retry.append((docs, future))
            position = end
        self._waiting[:0] = retry
