"""Kafka plumbing shared by the services: topic creation, an idempotent producer, and reliable consumers.

Delivery rules (DESIGN.md §5):
- producers are idempotent with acks=all;
- consumers commit only after the effect is stored, remember processed event ids under a unique index, retry
  with backoff, and dead-letter to `<topic>.dlq` with the original bytes and the error; an invalid or unknown
  message never stops a consumer, and an unreachable store is waited out rather than dead-lettered.
"""

from __future__ import annotations

import asyncio
import functools
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry import trace
from prometheus_client import Counter as PromCounter
from prometheus_client import Gauge
from pydantic import TypeAdapter, ValidationError
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from migradesk_shared.contracts.envelope import Event
from migradesk_shared.mongo import TRANSIENT_STORE_ERRORS
from migradesk_shared.telemetry import context_from_kafka_headers, links_to
from migradesk_shared.topics import TopicNames, TopicSpec, all_topic_specs

log = structlog.get_logger("migradesk.kafka")

CONSUMED = PromCounter("migradesk_events_consumed_total", "Events whose effect was stored", ["topic", "event_type"])
DUPLICATES = PromCounter("migradesk_events_duplicate_total", "Redelivered events skipped", ["topic"])
DEAD_LETTERED = PromCounter("migradesk_events_dead_lettered_total", "Messages sent to a DLQ", ["topic"])
RETRIES = PromCounter("migradesk_event_retries_total", "Handler attempts that failed and were retried", ["topic"])
LAG = Gauge("migradesk_consumer_lag", "Messages behind the partition's end after the last batch",
            ["group", "topic", "partition"])

# W3C trace context headers, kept with each event read so the events it causes continue its trace.
TRACE_HEADERS = frozenset({"traceparent", "tracestate"})

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (*TRANSIENT_STORE_ERRORS, KafkaError, TimeoutError)


class Rejected(Exception):
    """Raised by a handler for a message that parses but breaks a rule for good (e.g. a step the state machine
    refuses): retrying cannot help, so it is dead-lettered at once with `reason` as its error, and the messages
    after it are applied as usual."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def ensure_topics(bootstrap_servers: str, names: TopicNames, replication_factor: int = 1,
                        specs: Sequence[TopicSpec] | None = None) -> None:
    """Create every topic of the list in shared/topics.py that does not exist yet (idempotent)."""
    specs = all_topic_specs() if specs is None else specs
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="migradesk-topic-creator")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = []
        for spec in specs:
            if names(spec) in existing:
                continue
            config = {"retention.ms": str(spec.retention_ms)}
            if spec.compacted:
                config["cleanup.policy"] = "compact"
            wanted.append(NewTopic(names(spec), num_partitions=spec.partitions, replication_factor=replication_factor,
                                   topic_configs=config))
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass  # another service created them at the same moment
    finally:
        await admin.close()


class ReliableProducer:
    """An idempotent (acks=all) producer that survives broker outages by starting over after a failure."""

    def __init__(self, bootstrap_servers: str, client_id: str) -> None:
        self._bootstrap = bootstrap_servers
        self._client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _get(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, client_id=self._client_id,
                                            enable_idempotence=True, acks="all", linger_ms=5,
                                            request_timeout_ms=15000)
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def reset(self) -> None:
        """Drop the current producer; the next send starts a new one (new producer id, fresh sequences)."""
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), timeout=5)
            except Exception as exc:
                # Stopping a producer whose broker is gone can itself fail; it is discarded either way.
                log.debug("producer stop failed", error=repr(exc))

    async def send_many(self, messages: Sequence[tuple[str, bytes | None, bytes | None,
                                                      list[tuple[str, bytes]]]]) -> None:
        """Send (topic, key, value, headers) in order and wait until the broker acknowledged all of them.
        Sends to the same partition keep their order, so events of one key stay in order."""
        producer = await self._get()
        try:
            futures = [await producer.send(topic, value=value, key=key, headers=headers)
                       for topic, key, value, headers in messages]
            await asyncio.gather(*futures)
        except BaseException:
            await self.reset()
            raise

    async def stop(self) -> None:
        await self.reset()


class Delivery(NamedTuple):
    """Where a message was read: offsets only grow within a partition, so a store can remember, per partition,
    the last offset whose effect it holds and refuse a redelivery in the same write as the effect. (A tuple:
    one is made per message, and a tuple is the cheapest immutable object to make.)"""

    topic: str
    partition: int
    offset: int

    @property
    def position_key(self) -> str:
        # Usable as a document field name: no '.' (FerretDB and MongoDB read dots as paths).
        return f"{self.topic.replace('.', '_')}|{self.partition}"

    @property
    def claim_key(self) -> str:
        return f"{self.topic}|{self.partition}|{self.offset}"


EventHandler = Callable[[Any, Delivery], Awaitable[None]]
# On a compacted topic a null value (tombstone) erases its key: called with the key and where it was read.
TombstoneHandler = Callable[[str, Delivery], Awaitable[None]]
# Optional: the effect of a whole batch at once (fewer store round trips). It must be idempotent per message,
# since a failing batch is retried message by message through the EventHandler to isolate the culprit.
BatchHandler = Callable[[list[tuple[Any, Delivery]]], Awaitable[None]]
# Optional, beside a BatchHandler: the first half of a batch's effect, which only computes and reads (what the batch
# adds up to, what the store holds), and returns the second half, the writes. It runs while the batch's event ids
# are being claimed, so the claim's round trip and the consumer's own work overlap instead of adding up. What it
# returns is used only when the claim finds no duplicate; otherwise the BatchHandler runs on the fresh events.
BatchPreparer = Callable[[list[tuple[Any, Delivery]]], Awaitable[Callable[[], Awaitable[None]]]]


@dataclass
class DeliveryPolicy:
    max_attempts: int = 5
    backoff_seconds: float = 0.2
    max_backoff_seconds: float = 30.0


class Inbox:
    """Remembers processed event ids (the collection's _id is the unique index) per consumer group.

    An event is claimed BEFORE its effect is applied, with the position (topic, partition, offset) it was read
    at, so a whole batch costs one insert in the common case instead of a look-up and an insert:
    - a claim that is new: apply the event;
    - a claim held at the same position: this is a redelivery of a message whose effect may or may not have
      been stored (a crash, a rebalance, a failed batch retried): apply it again, as the handlers are
      idempotent for a redelivery of one message (they had to be before, when the id was written after);
    - a claim held at another position: the same event published twice (a relay's retry after a crash): skip.
    A dead-lettered event's claim is released, so the event can be replayed from the dead-letter topic later.

    Entries carry the day they were stored, so pruning deletes whole days by an indexed equality (the store
    cannot use an index for a date range). A redelivery comes minutes after the first delivery, a relay's
    re-publish within its retry window, so a few days of memory are plenty; a replay from offset 0 goes into a
    fresh database with its own inbox."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]], group_id: str) -> None:
        self._collection = collection
        self._group = group_id

    def _id(self, event_id: str) -> str:
        return f"{self._group}:{event_id}"

    @staticmethod
    async def ensure_indexes(collection: AsyncCollection[dict[str, Any]]) -> None:
        await collection.create_index([("day", 1)])

    async def claim(self, claims: Sequence[tuple[str, Delivery]]) -> set[str]:
        """Claim (event id, where it was read) pairs, ids distinct; returns the ids that are duplicates: claimed
        before at another position. One command for a batch without duplicates."""
        if not claims:
            return set()
        now = datetime.now(UTC)
        day = now.date().isoformat()
        docs = [{"_id": self._id(event_id), "pos": at.claim_key, "at": now, "day": day} for event_id, at in claims]
        try:
            await self._collection.insert_many(docs, ordered=False)
            return set()
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(err.get("code") != 11000 for err in errors):
                raise
            taken = {claims[err["index"]][0]: claims[err["index"]][1].claim_key for err in errors}
        held = {doc["_id"]: doc.get("pos") async for doc in
                self._collection.find({"_id": {"$in": [self._id(e) for e in taken]}}, {"pos": 1})}
        # No position held: remembered by an earlier version after its effect was stored, so a duplicate too.
        return {event_id for event_id, pos in taken.items() if held.get(self._id(event_id)) != pos}

    async def release(self, event_ids: Sequence[str]) -> None:
        """Forget claims whose effect was never stored (the event went to the dead-letter topic)."""
        if event_ids:
            await self._collection.delete_many({"_id": {"$in": [self._id(e) for e in event_ids]}})

    @staticmethod
    async def prune(collection: AsyncCollection[dict[str, Any]], *, keep_days: int, today: date | None = None,
                    look_back_days: int = 60) -> int:
        """Forget the entries of the days before the last `keep_days` (all groups of the collection)."""
        today = today or datetime.now(UTC).date()
        removed = 0
        for age in range(keep_days + 1, keep_days + 1 + look_back_days):
            result = await collection.delete_many({"day": (today - timedelta(days=age)).isoformat()})
            removed += result.deleted_count
        return removed


class EventConsumer:
    """One topic, one consumer group, one handler; parses, de-duplicates, retries and dead-letters."""

    def __init__(self, *, spec: TopicSpec, names: TopicNames, group_id: str, adapter: TypeAdapter[Any],
                 handler: EventHandler, inbox: Inbox, producer: ReliableProducer,
                 policy: DeliveryPolicy, tracer: trace.Tracer, batch_handler: BatchHandler | None = None,
                 batch_preparer: BatchPreparer | None = None,
                 tombstone_handler: TombstoneHandler | None = None) -> None:
        if batch_preparer is not None and batch_handler is None:
            raise ValueError("a batch preparer needs the batch handler it prepares for")
        self.spec = spec
        self.topic = names(spec)
        self.dlq_topic = names.dlq(spec)
        self.group_id = group_id
        self._adapter = adapter
        self._handler = handler
        self._batch_handler = batch_handler
        self._batch_preparer = batch_preparer
        self._tombstone_handler = tombstone_handler
        self._inbox = inbox
        self._producer = producer
        self._policy = policy
        self._tracer = tracer

    def register(self, broker: KafkaBroker, batch_size: int) -> None:
        async def consume(message: KafkaMessage) -> None:
            raw = message.raw_message
            records: tuple[ConsumerRecord[Any, Any], ...] = raw if isinstance(raw, tuple) else (raw,)
            try:
                await self.process_batch(records)
            except BaseException:
                # Rewind to the first record of the batch so nothing after a failure is skipped.
                await message.nack()
                raise
            # One commit per batch, after every effect of the batch is stored.
            await message.ack()
            self._record_lag(getattr(message, "consumer", None), records)

        async def keep_raw(message: Any) -> None:
            # Parsing is ours (to dead-letter what does not parse), so FastStream must not decode the body.
            return None

        broker.subscriber(
            self.topic, group_id=self.group_id, batch=True, max_records=batch_size, batch_timeout_ms=100,
            ack_policy=AckPolicy.MANUAL, auto_offset_reset="earliest", decoder=keep_raw,
            title=f"{self.group_id}:{self.topic}",
        )(consume)

    def _record_lag(self, consumer: Any, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        last: dict[tuple[str, int], int] = {}
        for record in records:
            last[(record.topic, record.partition)] = max(record.offset, last.get((record.topic, record.partition), -1))
        for (topic, partition), offset in last.items():
            highwater = consumer.highwater(TopicPartition(topic, partition)) if consumer is not None else None
            if highwater is not None:
                LAG.labels(self.group_id, topic, str(partition)).set(max(highwater - offset - 1, 0))

    async def process_batch(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        """Apply a batch in partition order; every message ends stored, skipped as a duplicate, or in the DLQ.

        Events are applied in runs; a tombstone ends the run before it and is applied after it, so an upsert
        followed by the erasing tombstone of the same key leaves nothing behind, whatever the batch holds."""
        run: list[ConsumerRecord[Any, Any]] = []
        for record in records:
            if record.value is None and self._tombstone_handler is not None and record.key:
                await self._process_events(run)
                run = []
                await self._apply_tombstone(record)
            else:
                run.append(record)
        await self._process_events(run)

    async def _apply_tombstone(self, record: ConsumerRecord[Any, Any]) -> None:
        # Erasure: idempotent by nature (deleting twice deletes once), so no inbox entry is needed.
        assert self._tombstone_handler is not None
        # An erasure is traced like any other effect, in the trace of the request that asked for it.
        context = context_from_kafka_headers(record.headers)
        with self._tracer.start_as_current_span(f"{self.topic} erase", context=context, kind=trace.SpanKind.CONSUMER):
            await _retry_transient(
                functools.partial(self._tombstone_handler, record.key.decode(),
                                  Delivery(record.topic, record.partition, record.offset)),
                self._policy, log.bind(topic=self.topic))

    async def _process_events(self, records: Sequence[ConsumerRecord[Any, Any]]) -> None:
        """Parse, de-duplicate and apply a run of events (no tombstone among them)."""
        if not records:
            return
        parsed: list[tuple[ConsumerRecord[Any, Any], Any]] = []
        for record in records:
            event = await self._parse(record)
            if event is not None:
                parsed.append((record, event))
        if not parsed:
            return
        bound = log.bind(topic=self.topic)
        distinct: list[tuple[ConsumerRecord[Any, Any], Any]] = []
        ids_in_batch: set[str] = set()
        for record, event in parsed:
            if event.event_id in ids_in_batch:
                self._count_duplicate(record, event)  # the same event twice within one batch
                continue
            ids_in_batch.add(event.event_id)
            distinct.append((record, event))
        claims = [(e.event_id, Delivery(r.topic, r.partition, r.offset)) for r, e in distinct]
        claiming = asyncio.ensure_future(_retry_transient(lambda: self._inbox.claim(claims), self._policy, bound))
        writes = await self._prepare(distinct, claiming) if self._batch_preparer is not None else None
        duplicates = await claiming
        fresh: list[tuple[ConsumerRecord[Any, Any], Any]] = []
        for record, event in distinct:
            if event.event_id in duplicates:
                self._count_duplicate(record, event)
            else:
                fresh.append((record, event))
        if not fresh:
            return
        if self._batch_handler is not None and await self._apply_batch(fresh, None if duplicates else writes):
            dead_lettered: list[str] = []
        else:
            dead_lettered = [e.event_id for r, e in fresh if not await self._apply_one(r, e)]
        await _retry_transient(lambda: self._inbox.release(dead_lettered), self._policy, bound)
        consumed = Counter(event.event_type for _, event in fresh if event.event_id not in dead_lettered)
        for event_type, n in consumed.items():
            CONSUMED.labels(self.topic, event_type).inc(n)

    def _count_duplicate(self, record: ConsumerRecord[Any, Any], event: Any) -> None:
        DUPLICATES.labels(self.topic).inc()
        log.info("duplicate event skipped", topic=self.topic, event_id=event.event_id, offset=record.offset)

    async def _parse(self, record: ConsumerRecord[Any, Any]) -> Any | None:
        if record.value is None:
            await self.dead_letter(record, "empty message (tombstone) on a topic of events")
            return None
        try:
            event = self._adapter.validate_json(record.value)
        except ValidationError as exc:
            await self.dead_letter(record, f"invalid event: {_validation_summary(exc)}")
            return None
        trace_headers = {k: v.decode("latin-1") for k, v in (record.headers or ())
                         if k in TRACE_HEADERS and v is not None}
        return event.in_trace(trace_headers) if isinstance(event, Event) else event

    async def _prepare(self, distinct: list[tuple[ConsumerRecord[Any, Any], Any]],
                       claiming: asyncio.Future[set[str]]) -> Callable[[], Awaitable[None]] | None:
        """The batch preparer's writes for every distinct event, computed while `claiming` runs; None when the
        preparation failed (the batch handler then does the whole work after the claim, as without a preparer)."""
        items = [(event, Delivery(r.topic, r.partition, r.offset)) for r, event in distinct]
        try:
            return await self._batch_preparer(items)  # type: ignore[misc]
        except Exception as exc:
            log.info("preparing a batch failed; it is applied without preparation", topic=self.topic,
                     error=_describe(exc))
            return None
        except BaseException:
            claiming.cancel()
            raise

    async def _apply_batch(self, fresh: list[tuple[ConsumerRecord[Any, Any], Any]],
                           prepared: Callable[[], Awaitable[None]] | None = None) -> bool:
        """True when the batch handler stored every effect; False sends the batch message by message. `prepared`
        is the preparer's writes for exactly these events: the first attempt uses them, a retry starts over."""
        items = [(event, Delivery(r.topic, r.partition, r.offset)) for r, event in fresh]
        with self._tracer.start_as_current_span(f"{self.topic} process batch", kind=trace.SpanKind.CONSUMER,
                                                links=links_to(r.headers for r, _ in fresh),
                                                attributes={"messaging.batch.message_count": len(fresh)}):
            while True:
                try:
                    if prepared is not None:
                        writes, prepared = prepared, None
                        await writes()
                    else:
                        await self._batch_handler(items)  # type: ignore[misc]
                    return True
                except TRANSIENT_ERRORS as exc:
                    RETRIES.labels(self.topic).inc()
                    log.warning("dependency unavailable, retrying batch", topic=self.topic, error=_describe(exc))
                    await asyncio.sleep(self._policy.max_backoff_seconds / 10)
                except Exception as exc:
                    log.warning("batch failed, retrying message by message", topic=self.topic, error=_describe(exc))
                    return False

    async def _apply_one(self, record: ConsumerRecord[Any, Any], event: Any) -> bool:
        """Apply one message with retries; True once stored, False once dead-lettered."""
        ctx = context_from_kafka_headers(record.headers)
        with self._tracer.start_as_current_span(f"{self.topic} process", context=ctx,
                                                kind=trace.SpanKind.CONSUMER):
            bound = log.bind(topic=self.topic, event_id=event.event_id, event_type=event.event_type,
                             case_id=getattr(event, "case_id", None))
            attempt = 0
            while True:
                try:
                    await self._handler(event, Delivery(record.topic, record.partition, record.offset))
                    return True
                except Rejected as exc:
                    bound.warning("message rejected, dead-lettering", error=exc.reason[:500])
                    await self.dead_letter(record, f"rejected: {exc.reason}")
                    return False
                except TRANSIENT_ERRORS as exc:
                    # The store or broker is unreachable: wait it out, never dead-letter a good message for it.
                    RETRIES.labels(self.topic).inc()
                    bound.warning("dependency unavailable, retrying", error=_describe(exc))
                    await asyncio.sleep(self._policy.max_backoff_seconds / 10)
                except Exception as exc:
                    attempt += 1
                    RETRIES.labels(self.topic).inc()
                    if attempt >= self._policy.max_attempts:
                        bound.error("handler failed, dead-lettering", attempts=attempt, error=_describe(exc))
                        await self.dead_letter(record, f"handler failed after {attempt} attempts: {_describe(exc)}")
                        return False
                    delay = min(self._policy.backoff_seconds * 2 ** (attempt - 1), self._policy.max_backoff_seconds)
                    bound.warning("handler failed, retrying", attempt=attempt, delay=delay, error=_describe(exc))
                    await asyncio.sleep(delay)

    async def dead_letter(self, record: ConsumerRecord[Any, Any], error: str) -> None:
        headers = [*(record.headers or ()),
                   ("dlq-error", error[:4000].encode()),
                   ("dlq-original-topic", record.topic.encode()),
                   ("dlq-original-partition", str(record.partition).encode()),
                   ("dlq-original-offset", str(record.offset).encode()),
                   ("dlq-consumer-group", self.group_id.encode()),
                   ("dlq-failed-at", datetime.now(UTC).isoformat().encode())]
        await _retry_transient(
            lambda: self._producer.send_many([(self.dlq_topic, record.key, record.value, headers)]),
            self._policy, log.bind(topic=self.topic))
        DEAD_LETTERED.labels(self.topic).inc()
        log.warning("message dead-lettered", topic=self.topic, dlq=self.dlq_topic, partition=record.partition,
                    offset=record.offset, error=error[:500])


async def _retry_transient(call: Callable[[], Awaitable[Any]], policy: DeliveryPolicy, bound: Any) -> Any:
    delay = policy.backoff_seconds
    while True:
        try:
            return await call()
        except TRANSIENT_ERRORS as exc:
            bound.warning("dependency unavailable, retrying", error=_describe(exc))
            await asyncio.sleep(delay)
            delay = min(delay * 2, policy.max_backoff_seconds)


def _describe(exc: BaseException) -> str:
    """An error fit for a log line or a dead-letter header: a pydantic error's text quotes the input it
    refused, which may be a person's data, so only its locations and messages are kept."""
    if isinstance(exc, ValidationError):
        return f"ValidationError({_validation_summary(exc)})"
    return repr(exc)


def _validation_summary(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:10]:
        where = ".".join(str(p) for p in err["loc"]) or "(message)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def encode_event(event: Event) -> bytes:
    return event.model_dump_json().encode()
