"""The pieces every service's composition root wires together, with overridable defaults."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
import uvicorn
from aiokafka.errors import KafkaError
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from opentelemetry import trace
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from migradesk_shared.contracts.registry import adapter_for
from migradesk_shared.kafka import (
    BatchHandler,
    BatchPreparer,
    DeliveryPolicy,
    EventConsumer,
    EventHandler,
    Inbox,
    ReliableProducer,
    TombstoneHandler,
    ensure_topics,
)
from migradesk_shared.logging import configure_logging
from migradesk_shared.mongo import connect, ping
from migradesk_shared.outbox import OutboxRelay
from migradesk_shared.settings import ServiceSettings
from migradesk_shared.telemetry import configure_tracing
from migradesk_shared.topics import TopicNames, TopicSpec

log = structlog.get_logger("migradesk.runtime")


@dataclass
class Runtime:
    """Connections and background machinery of one service process."""

    settings: ServiceSettings
    logger: Any
    tracer: trace.Tracer
    mongo: AsyncMongoClient[dict[str, Any]]
    db: AsyncDatabase[dict[str, Any]]
    names: TopicNames
    producer: ReliableProducer
    broker: KafkaBroker
    # Publishes the outboxes of the service's collections; None for a service that stores no events.
    relay: OutboxRelay | None = None
    consumers: list[EventConsumer] = field(default_factory=list)
    broker_started: bool = False
    _starter: asyncio.Task[None] | None = None
    _pruner: asyncio.Task[None] | None = None

    @classmethod
    def create(cls, settings: ServiceSettings, *, outbox_collections: Sequence[str] = ()) -> Runtime:
        """Everything a service process needs, built once; `outbox_collections` are the collections whose
        documents carry an outbox (the relay publishes them)."""
        logger = configure_logging(settings.service_name, json=settings.json_logs, level=settings.log_level)
        tracer = configure_tracing(settings.service_name)
        mongo = connect(settings.mongodb_uri, app_name=f"migradesk-{settings.service_name}")
        db = mongo[settings.mongodb_database]
        names = TopicNames(settings.topic_prefix)
        broker = KafkaBroker(settings.kafka_bootstrap_servers, client_id=f"migradesk-{settings.service_name}",
                             logger=logger, enable_idempotence=True, acks="all")
        producer = ReliableProducer(settings.kafka_bootstrap_servers, f"migradesk-{settings.service_name}-relay")
        relay = OutboxRelay([db[name] for name in outbox_collections], producer, names,
                            poll_seconds=settings.outbox_poll_seconds,
                            takeover_seconds=settings.outbox_takeover_seconds) if outbox_collections else None
        return cls(settings=settings, logger=logger, tracer=tracer, mongo=mongo, db=db, names=names,
                   producer=producer, broker=broker, relay=relay)

    def written(self, collection: str, doc_id: Any) -> None:
        """What repositories call after storing events in a document's outbox: the relay publishes them now."""
        if self.relay is not None:
            self.relay.written(collection, doc_id)

    @property
    def policy(self) -> DeliveryPolicy:
        return DeliveryPolicy(max_attempts=self.settings.consumer_max_attempts,
                              backoff_seconds=self.settings.consumer_backoff_seconds)

    def inbox(self, group_id: str) -> Inbox:
        return Inbox(self.db["processed_events"], group_id)

    def add_consumer(self, consumer: EventConsumer) -> None:
        consumer.register(self.broker, self.settings.consumer_batch_size)
        self.consumers.append(consumer)

    def subscribe(self, spec: TopicSpec, handler: EventHandler, *, batch_handler: BatchHandler | None = None,
                  batch_preparer: BatchPreparer | None = None,
                  tombstone_handler: TombstoneHandler | None = None) -> EventConsumer:
        """Consume one topic in this service's consumer group (shared by all its processes), with the
        service's inbox, delivery policy and dead-letter topic."""
        group = self.settings.consumer_group or self.settings.service_name
        group_id = f"{self.settings.topic_prefix}{group}.{spec.name}"
        consumer = EventConsumer(spec=spec, names=self.names, group_id=group_id,
                                 adapter=adapter_for(spec), handler=handler, inbox=self.inbox(group),
                                 producer=self.producer, policy=self.policy, tracer=self.tracer,
                                 batch_handler=batch_handler, batch_preparer=batch_preparer,
                                 tombstone_handler=tombstone_handler)
        self.add_consumer(consumer)
        return consumer

    async def start(self) -> None:
        if self.consumers:
            await Inbox.ensure_indexes(self.db["processed_events"])
            self._pruner = asyncio.create_task(self._prune_inbox(), name="inbox-pruner")
        if self.relay is not None:
            await self.relay.ensure_indexes()
            self.relay.start()
        # Kafka may be down when a service starts; the HTTP side (and the outbox) work without it, so the
        # broker is started in the background and readiness reports it.
        self._starter = asyncio.create_task(self._start_kafka(), name="kafka-start")

    async def _start_kafka(self) -> None:
        delay = 0.5
        while True:
            try:
                await ensure_topics(self.settings.kafka_bootstrap_servers, self.names,
                                    self.settings.kafka_replication_factor)
                # A service that only publishes (through its relay's producer) needs no broker client.
                if self.consumers:
                    await self.broker.start()
                self.broker_started = True
                self.logger.info("kafka connected", consumers=len(self.consumers))
                return
            except asyncio.CancelledError:
                raise
            except (KafkaError, OSError, TimeoutError) as exc:
                self.logger.warning("kafka unavailable at start-up, retrying", error=repr(exc), delay=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _prune_inbox(self) -> None:
        # Processed-event ids must not grow without bound (the store has no TTL index).
        while True:
            try:
                removed = await Inbox.prune(self.db["processed_events"],
                                            keep_days=self.settings.inbox_retention_days)
                if removed:
                    self.logger.info("inbox pruned", removed=removed)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.logger.warning("inbox pruning failed, will retry", error=repr(exc))
            await asyncio.sleep(3600)

    async def stop(self) -> None:
        for task in (self._starter, self._pruner):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.relay is not None:
            await self.relay.stop()
        with contextlib.suppress(Exception):
            await self.broker.stop()
        await self.producer.stop()
        await self.mongo.close()
        # The spans of the last seconds would be lost: the server re-raises its stop signal once the app has
        # shut down, and the process then dies before the exporter's own exit hook runs.
        flush = getattr(trace.get_tracer_provider(), "force_flush", None)
        if flush is not None:
            await asyncio.to_thread(flush, 5000)

    @contextlib.asynccontextmanager
    async def serving(self, app: Any, store: Any = None) -> AsyncIterator[None]:
        """The end of every service's lifespan: publish runtime and store to the routes, run, then stop."""
        app.state.runtime, app.state.store = self, store
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def readiness(self) -> dict[str, bool]:
        checks = {"store": await ping(self.db)}
        if self.consumers:
            checks["kafka"] = self.broker_started
        return checks


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_config=None, access_log=False,
                forwarded_allow_ips=settings.forwarded_allow_ips)
