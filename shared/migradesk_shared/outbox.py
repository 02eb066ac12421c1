"""Transactional outbox without transactions.

FerretDB (and a single MongoDB document write) has no multi-document transactions, so a state change and the
events it causes are stored in ONE document write: the aggregate document carries its own `outbox` array.
A relay publishes the entries after `outbox_sent` in array order (so in order per key), waits for the broker's
acks (idempotent producer, acks=all), then advances `outbox_sent`. If the broker is down the desk keeps
working; the relay catches up when the broker is back. A crash between publish and mark re-publishes, which
the consumers' idempotency absorbs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import structlog
from prometheus_client import Counter, Gauge
from pymongo.asynchronous.collection import AsyncCollection

from migradesk_shared.contracts.envelope import Event, new_id
from migradesk_shared.kafka import ReliableProducer
from migradesk_shared.mongo import KeyedLocks
from migradesk_shared.telemetry import current_trace_headers
from migradesk_shared.topics import TopicNames, TopicSpec

log = structlog.get_logger("migradesk.outbox")

PUBLISHED = Counter("migradesk_outbox_published_total", "Outbox events published", ["collection"])
PENDING = Gauge("migradesk_outbox_pending_documents", "Documents with unpublished events", ["collection"])


def outbox_entry(spec: TopicSpec, event: Event) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "topic": spec.name,
        "key": event.partition_key(),
        "value": event.model_dump_json(),
        # The trace context of the request that caused the event, so the relay continues that trace.
        "headers": {**current_trace_headers(), "event-type": event.event_type,
                    "content-type": "application/json"},
    }


def tombstone_entry(spec: TopicSpec, key: str) -> dict[str, Any]:
    """A null value under `key` on a compacted topic: compaction then forgets the key's earlier values."""
    return {"event_id": new_id(), "event_type": "Tombstone", "topic": spec.name, "key": key, "value": None,
            "headers": {**current_trace_headers(), "event-type": "Tombstone"}}


def new_document_outbox(events: Sequence[tuple[TopicSpec, Event]]) -> dict[str, Any]:
    """Fields to put into a new document together with its state."""
    return {"outbox": [outbox_entry(spec, e) for spec, e in events], "outbox_total": len(events),
            "outbox_sent": 0, "outbox_pending": bool(events)}


def append_outbox(events: Sequence[tuple[TopicSpec, Event]]) -> dict[str, Any]:
    """Update operators that add events to an existing document in the same write as its state change."""
    return {"$push": {"outbox": {"$each": [outbox_entry(spec, e) for spec, e in events]}},
            "$inc": {"outbox_total": len(events)}, "$set": {"outbox_pending": True}}


OUTBOX_INDEXES = [("outbox_pending", 1)]


class OutboxRelay:
    def __init__(self, collections: Sequence[AsyncCollection[dict[str, Any]]], producer: ReliableProducer,
                 names: TopicNames, poll_seconds: float = 0.5, batch_size: int = 200,
                 locks: KeyedLocks | None = None) -> None:
        self._collections = list(collections)
        # Shared with the service's writers: marking events sent must not race an update of the same document.
        self._locks = locks or KeyedLocks()
        self._producer = producer
        self._names = names
        self._poll = poll_seconds
        self._batch = batch_size
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.healthy = True

    def notify(self) -> None:
        """Called after a local write with events, so they go out now instead of at the next poll."""
        self._wake.set()

    async def ensure_indexes(self) -> None:
        for coll in self._collections:
            await coll.create_index(OUTBOX_INDEXES)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        failure_delay = self._poll
        while True:
            try:
                published = await self.drain_once()
                self.healthy = True
                failure_delay = self._poll
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.healthy = False
                log.warning("outbox relay could not publish, will retry", error=repr(exc), delay=failure_delay)
                await asyncio.sleep(failure_delay)
                failure_delay = min(failure_delay * 2, 10.0)
                continue
            if published == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll)

    async def drain_once(self) -> int:
        """Publish one batch of pending events from every collection; returns how many were published."""
        total = 0
        for coll in self._collections:
            docs = await coll.find({"outbox_pending": True},
                                   {"outbox": 1, "outbox_sent": 1, "outbox_total": 1}).limit(self._batch).to_list()
            PENDING.labels(coll.name).set(len(docs))
            if not docs:
                continue
            messages = []
            for doc in docs:
                for entry in doc["outbox"][doc.get("outbox_sent", 0):]:
                    headers = [(k, str(v).encode()) for k, v in entry.get("headers", {}).items()]
                    headers.append(("event-id", entry["event_id"].encode()))
                    value = entry["value"].encode() if entry["value"] is not None else None
                    messages.append((self._names.prefix + entry["topic"], entry["key"].encode(), value, headers))
            await self._producer.send_many(messages)
            for doc in docs:
                total_now = len(doc["outbox"])
                async with self._locks.hold(f"{coll.name}:{doc['_id']}"):
                    # Clear the flag only if no event was appended since we read the document.
                    result = await coll.update_one({"_id": doc["_id"], "outbox_total": total_now},
                                                   {"$set": {"outbox_sent": total_now, "outbox_pending": False}})
                    if result.matched_count == 0:
                        await coll.update_one({"_id": doc["_id"]}, {"$set": {"outbox_sent": total_now}})
            PUBLISHED.labels(coll.name).inc(len(messages))
            total += len(messages)
        return total
