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
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from prometheus_client import Counter, Gauge
from pymongo.asynchronous.collection import AsyncCollection

from migradesk_shared.contracts.envelope import Event, new_id
from migradesk_shared.kafka import ReliableProducer
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
        # The trace the event belongs to (else the current request's), so the relay continues that trace.
        "headers": {**(event.trace_headers or current_trace_headers()), "event-type": event.event_type,
                    "content-type": "application/json"},
    }


def tombstone_entry(spec: TopicSpec, key: str) -> dict[str, Any]:
    """A null value under `key` on a compacted topic: compaction then forgets the key's earlier values."""
    return {"event_id": new_id(), "event_type": "Tombstone", "topic": spec.name, "key": key, "value": None,
            "headers": {**current_trace_headers(), "event-type": "Tombstone"}}


def new_document_outbox(events: Sequence[tuple[TopicSpec, Event]]) -> dict[str, Any]:
    """Fields to put into a new document together with its state."""
    return {"outbox": [outbox_entry(spec, e) for spec, e in events], "outbox_total": len(events),
            "outbox_sent": 0, "outbox_pending": bool(events), "outbox_at": datetime.now(UTC)}


def append_outbox(events: Sequence[tuple[TopicSpec, Event]]) -> dict[str, Any]:
    """Update operators that add events to an existing document in the same write as its state change."""
    return {"$push": {"outbox": {"$each": [outbox_entry(spec, e) for spec, e in events]}},
            "$inc": {"outbox_total": len(events)},
            "$set": {"outbox_pending": True, "outbox_at": datetime.now(UTC)}}


OUTBOX_INDEXES = [("outbox_pending", 1)]


class OutboxRelay:
    """Publishes the outboxes of some collections; any number of processes may run one over the same store.

    A process publishes the documents it wrote itself at once (`written`), and sweeps up the others' only after
    `takeover_seconds` without progress (their writer crashed, or the broker was down), so two relays rarely
    publish the same document. When they do, the consumers' idempotency absorbs the duplicates, and each relay
    publishes a document's events in array order from `outbox_sent` on, so the first copy of every event still
    arrives in order per key. `outbox_sent` only grows ($max), so no relay can make another repeat or skip."""

    def __init__(self, collections: Sequence[AsyncCollection[dict[str, Any]]], producer: ReliableProducer,
                 names: TopicNames, poll_seconds: float = 0.5, batch_size: int = 200,
                 takeover_seconds: float = 0.0) -> None:
        self._collections = list(collections)
        self._producer = producer
        self._names = names
        self._poll = poll_seconds
        self._batch = batch_size
        self._takeover = timedelta(seconds=takeover_seconds)
        # Ids in the order they were written (a dict is an ordered set), so a backlog goes out oldest first.
        self._mine: dict[str, dict[Any, None]] = {c.name: {} for c in self._collections}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.healthy = True

    def written(self, collection: str, doc_id: Any) -> None:
        """Called by a repository after a local write with events: they go out now, not at the next sweep."""
        self._mine[collection][doc_id] = None
        self._wake.set()

    def notify(self) -> None:
        """Wake the relay (documents of unknown ids, e.g. written by a batch job) for an early sweep."""
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
                if any(self._mine.values()):
                    continue  # written meanwhile
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll)

    async def drain_once(self, *, sweep: bool = True) -> int:
        """Publish one batch of pending events from every collection; returns how many were published."""
        total = 0
        for coll in self._collections:
            total += await self._drain_collection(coll, sweep=sweep)
        return total

    async def _drain_collection(self, coll: AsyncCollection[dict[str, Any]], *, sweep: bool) -> int:
        fields = {"outbox": 1, "outbox_sent": 1, "outbox_total": 1, "outbox_at": 1}
        # At most one batch of our own documents per round: a backlog (a bulk import, a broker outage) is then
        # published in bounded rounds instead of one query and one send over everything at once.
        pending_mine = self._mine[coll.name]
        if len(pending_mine) <= self._batch:
            mine, self._mine[coll.name] = pending_mine, {}
        else:
            mine = {doc_id: None for doc_id in itertools.islice(pending_mine, self._batch)}
            for doc_id in mine:
                del pending_mine[doc_id]
        docs: list[dict[str, Any]] = []
        try:
            if mine:
                # By _id (an index look-up), not by scanning what is pending.
                docs = await coll.find({"_id": {"$in": list(mine)}, "outbox_pending": True}, fields).to_list()
            if sweep and len(docs) < self._batch:
                stale_before = datetime.now(UTC) - self._takeover
                pending = await coll.find({"outbox_pending": True}, fields).limit(self._batch).to_list()
                PENDING.labels(coll.name).set(len(pending))
                known = {d["_id"] for d in docs}
                docs += [d for d in pending if d["_id"] not in known and _older(d.get("outbox_at"), stale_before)]
        except BaseException:
            self._mine[coll.name] = mine | self._mine[coll.name]  # try again next round, first
            raise
        if not docs:
            return 0
        # Documents of one key go out in the order they were written; `$in` returns them in _id order.
        written_order = {doc_id: position for position, doc_id in enumerate(mine)}
        docs.sort(key=lambda d: written_order.get(d["_id"], len(written_order)))
        messages = []
        for doc in docs:
            for entry in doc["outbox"][doc.get("outbox_sent", 0):]:
                headers = [(k, str(v).encode()) for k, v in entry.get("headers", {}).items()]
                headers.append(("event-id", entry["event_id"].encode()))
                value = entry["value"].encode() if entry["value"] is not None else None
                messages.append((self._names.prefix + entry["topic"], entry["key"].encode(), value, headers))
        try:
            await self._producer.send_many(messages)
        except BaseException:
            self._mine[coll.name] = {d["_id"]: None for d in docs if d["_id"] in mine} | self._mine[coll.name]
            raise
        await self._mark_sent(coll, docs)
        PUBLISHED.labels(coll.name).inc(len(messages))
        return len(messages)


    @staticmethod
    async def _mark_sent(coll: AsyncCollection[dict[str, Any]], docs: list[dict[str, Any]]) -> None:
        """Advance `outbox_sent` of the published documents. Documents read with the same number of events are
        marked by one command (by _id, an index look-up), not one command each."""
        by_total: dict[int, list[Any]] = {}
        for doc in docs:
            by_total.setdefault(len(doc["outbox"]), []).append(doc["_id"])
        for total_now, ids in by_total.items():
            # Clear the flag only where no event was appended since we read the document...
            result = await coll.update_many({"_id": {"$in": ids}, "outbox_total": total_now},
                                            {"$max": {"outbox_sent": total_now}, "$set": {"outbox_pending": False}})
            if result.matched_count < len(ids):
                # ...elsewhere only record what went out; the new events keep the document pending.
                await coll.update_many({"_id": {"$in": ids}, "outbox_total": {"$ne": total_now}},
                                       {"$max": {"outbox_sent": total_now}})


def _older(at: datetime | None, than: datetime) -> bool:
    return at is None or at <= than
