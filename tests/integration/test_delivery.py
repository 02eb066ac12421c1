"""Delivery mechanics against the real Kafka broker and the real store, in-process."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from faststream.kafka import KafkaBroker
from opentelemetry import trace
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from infra.local.stack import Infra
from migradesk_shared.contracts.case_events import CaseOpened, PersonFacets
from migradesk_shared.contracts.registry import adapter_for
from migradesk_shared.kafka import Delivery, DeliveryPolicy, EventConsumer, Inbox, ReliableProducer, ensure_topics
from migradesk_shared.outbox import OutboxRelay, append_outbox, new_document_outbox
from migradesk_shared.topics import CASE_EVENTS, PERSON_PROFILES, TopicNames, all_topic_specs
from tests.conftest import eventually

pytestmark = [pytest.mark.infra]


@pytest.fixture
async def db(infra: Infra, namespace: str) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(infra.mongodb_uri, tz_aware=True)
    yield client[f"{namespace}_it"]
    await client.drop_database(f"{namespace}_it")
    await client.close()


@pytest.fixture
async def names(infra: Infra, namespace: str) -> TopicNames:
    topic_names = TopicNames(f"{namespace}.")
    await ensure_topics(infra.bootstrap_servers, topic_names)
    return topic_names


def opened(case_id: str) -> CaseOpened:
    return CaseOpened(producer="test", case_id=case_id, municipality="Dourados-MS", facets=PersonFacets())


async def read_all(infra: Infra, topic: str, expected: int, timeout: float = 30) -> list[Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=infra.bootstrap_servers, auto_offset_reset="earliest",
                                group_id=f"reader-{uuid.uuid4().hex}")
    await consumer.start()
    records: list[Any] = []
    try:
        async def more() -> bool:
            batch = await consumer.getmany(timeout_ms=500)
            records.extend(r for rs in batch.values() for r in rs)
            return len(records) >= expected

        await eventually(more, timeout=timeout, what=f"{expected} records on {topic}")
    finally:
        await consumer.stop()
    return records


async def test_relay_keeps_events_while_kafka_is_unreachable_then_publishes_in_order_per_key(
        infra: Infra, db: AsyncDatabase[dict[str, Any]], names: TopicNames) -> None:
    cases = db["cases"]
    case_ids = [str(uuid.uuid4()) for _ in range(3)]
    for case_id in case_ids:
        events = [opened(case_id) for _ in range(3)]
        await cases.insert_one({"_id": case_id, **new_document_outbox([(CASE_EVENTS, e) for e in events])})
    # A later state change appends to the same document's outbox in the same write.
    await cases.update_one({"_id": case_ids[0]}, append_outbox([(CASE_EVENTS, opened(case_ids[0]))]))

    unreachable = ReliableProducer("127.0.0.1:1", "test-relay")
    down = OutboxRelay([cases], unreachable, names)
    with pytest.raises(Exception):  # noqa: B017 - whatever the client raises, nothing may be marked sent
        await asyncio.wait_for(down.drain_once(), timeout=30)
    await unreachable.stop()
    assert await cases.count_documents({"outbox_pending": True}) == 3

    producer = ReliableProducer(infra.bootstrap_servers, "test-relay")
    relay = OutboxRelay([cases], producer, names)
    try:
        assert await relay.drain_once() == 10
        assert await cases.count_documents({"outbox_pending": True}) == 0
        assert await relay.drain_once() == 0  # nothing is published twice
    finally:
        await producer.stop()

    records = await read_all(infra, names(CASE_EVENTS), 10)
    assert len(records) == 10
    for case_id in case_ids:
        doc = await cases.find_one({"_id": case_id})
        assert doc is not None
        published = [r.headers for r in records if r.key == case_id.encode()]
        expected = [e["event_id"].encode() for e in doc["outbox"]]
        assert [dict(h)["event-id"] for h in published] == expected


async def test_a_backlog_of_own_writes_goes_out_in_bounded_rounds_oldest_first(
        infra: Infra, db: AsyncDatabase[dict[str, Any]], names: TopicNames) -> None:
    cases = db["cases"]
    producer = ReliableProducer(infra.bootstrap_servers, "test-relay")
    relay = OutboxRelay([cases], producer, names, batch_size=4)
    # Ids that sort the other way round from the order they were written in.
    case_ids = [f"case-{9 - n}" for n in range(10)]
    for case_id in case_ids:
        await cases.insert_one({"_id": case_id, **new_document_outbox([(CASE_EVENTS, opened(case_id))])})
        relay.written("cases", case_id)
    try:
        assert await relay.drain_once(sweep=False) == 4
        still_pending = {d["_id"] async for d in cases.find({"outbox_pending": True}, {"_id": 1})}
        assert still_pending == set(case_ids[4:])  # the four written first went out first
        assert [await relay.drain_once(sweep=False) for _ in range(3)] == [4, 2, 0]
    finally:
        await producer.stop()
    assert await cases.count_documents({"outbox_pending": True}) == 0
    records = await read_all(infra, names(CASE_EVENTS), 10)
    assert sorted(r.key.decode() for r in records) == sorted(case_ids)


async def test_consumer_retries_a_failing_handler_then_dead_letters_and_goes_on(
        infra: Infra, db: AsyncDatabase[dict[str, Any]], names: TopicNames) -> None:
    attempts: dict[str, int] = {}
    handled: list[str] = []
    flaky, poisoned, fine = opened("flaky"), opened("poisoned"), opened("fine")

    async def handler(event: CaseOpened, delivery: Delivery) -> None:
        attempts[event.case_id] = attempts.get(event.case_id, 0) + 1
        if event.case_id == "poisoned" or (event.case_id == "flaky" and attempts["flaky"] < 3):
            raise RuntimeError(f"cannot handle {event.case_id}")
        handled.append(event.case_id)

    broker = KafkaBroker(infra.bootstrap_servers)
    producer = ReliableProducer(infra.bootstrap_servers, "test-dlq")
    consumer = EventConsumer(spec=CASE_EVENTS, names=names, group_id=f"{names.prefix}it", handler=handler,
                             adapter=adapter_for(CASE_EVENTS), inbox=Inbox(db["processed_events"], "it"),
                             producer=producer, policy=DeliveryPolicy(max_attempts=4, backoff_seconds=0.05),
                             tracer=trace.get_tracer("test"))
    consumer.register(broker, batch_size=50)
    await broker.start()
    raw = AIOKafkaProducer(bootstrap_servers=infra.bootstrap_servers)
    await raw.start()
    try:
        for event in (flaky, poisoned, fine, flaky):  # the last one is a redelivery of the first
            await raw.send_and_wait(names(CASE_EVENTS), event.model_dump_json().encode(), key=b"same-partition")
        await eventually(lambda: _as_async("fine" in handled), what="the message after the poisoned one")
    finally:
        await raw.stop()
        await broker.stop()
        await producer.stop()
    assert handled == ["flaky", "fine"]  # flaky handled once despite being delivered twice
    assert attempts == {"flaky": 3, "poisoned": 4, "fine": 1}
    [dead] = await read_all(infra, names.dlq(CASE_EVENTS), 1)
    assert dead.value == poisoned.model_dump_json().encode()
    assert b"handler failed after 4 attempts" in dict(dead.headers)["dlq-error"]
    assert await db["processed_events"].count_documents({}) == 2


async def _as_async(value: bool) -> bool:
    return value


async def test_topics_are_created_explicitly_with_partitions_and_compaction(infra: Infra, namespace: str) -> None:
    topic_names = TopicNames(f"{namespace}.")
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.bootstrap_servers)
    await admin.start()
    try:
        # The broker refuses to create topics on demand, so these exist only if ensure_topics made them.
        assert not {topic_names(s) for s in all_topic_specs()} & set(await admin.list_topics())
        await ensure_topics(infra.bootstrap_servers, topic_names)
        await ensure_topics(infra.bootstrap_servers, topic_names)  # idempotent

        async def all_listed() -> bool:
            # Creation returns before every broker's metadata lists the new topics.
            return {topic_names(s) for s in all_topic_specs()} <= set(await admin.list_topics())

        await eventually(all_listed, timeout=30, what="every topic of the list created")
        [described] = await admin.describe_topics([topic_names(CASE_EVENTS)])
        assert len(described["partitions"]) == CASE_EVENTS.partitions
        [response] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic_names(PERSON_PROFILES))])
        configs = {entry[0]: entry[1] for entry in response.resources[0][4]}
        assert configs["cleanup.policy"] == "compact"
        # Its dead letters hold personal data: kept 30 days, not for ever.
        [dead] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic_names.dlq(PERSON_PROFILES))])
        assert {e[0]: e[1] for e in dead.resources[0][4]}["retention.ms"] == str(30 * 24 * 3600 * 1000)
    finally:
        await admin.close()


async def test_a_failing_batch_is_retried_message_by_message_so_only_the_culprit_is_dead_lettered(
        infra: Infra, db: AsyncDatabase[dict[str, Any]], names: TopicNames) -> None:
    batches: list[int] = []
    handled: list[str] = []

    async def batch_handler(items: list[tuple[CaseOpened, Delivery]]) -> None:
        batches.append(len(items))
        if any(event.case_id == "poisoned" for event, _ in items):
            raise RuntimeError("one bad apple")
        handled.extend(event.case_id for event, _ in items)

    async def handler(event: CaseOpened, delivery: Delivery) -> None:
        if event.case_id == "poisoned":
            raise RuntimeError("still bad")
        handled.append(event.case_id)

    broker = KafkaBroker(infra.bootstrap_servers)
    producer = ReliableProducer(infra.bootstrap_servers, "test-batch")
    EventConsumer(spec=CASE_EVENTS, names=names, group_id=f"{names.prefix}batch", handler=handler,
                  adapter=adapter_for(CASE_EVENTS), inbox=Inbox(db["processed_events"], "batch"), producer=producer,
                  policy=DeliveryPolicy(max_attempts=2, backoff_seconds=0.01), tracer=trace.get_tracer("test"),
                  batch_handler=batch_handler).register(broker, batch_size=100)
    raw = AIOKafkaProducer(bootstrap_servers=infra.bootstrap_servers, linger_ms=50)
    await raw.start()
    try:
        futures = [await raw.send(names(CASE_EVENTS), opened(case_id).model_dump_json().encode(), key=b"k")
                   for case_id in ("a", "b", "poisoned", "c")]
        await asyncio.gather(*futures)
        await broker.start()
        await eventually(lambda: _as_async(sorted(handled) == ["a", "b", "c"]), what="the good messages")
    finally:
        await raw.stop()
        await broker.stop()
        await producer.stop()
    assert batches and max(batches) > 1  # they did arrive together
    [dead] = await read_all(infra, names.dlq(CASE_EVENTS), 1)
    assert b'"case_id":"poisoned"' in dead.value
    assert await db["processed_events"].count_documents({}) == 3


async def test_an_upsert_and_its_erasing_tombstone_in_one_batch_leave_nothing_behind(
        infra: Infra, db: AsyncDatabase[dict[str, Any]], names: TopicNames) -> None:
    """A lagging consumer (or a new group replaying the topic) gets a profile and its erasure in one batch:
    the records must be applied in partition order, or the upsert re-creates the erased person's data."""
    from migradesk_referral.adapters.repository import MongoReferralRepository
    from migradesk_referral.service import ReferralService
    from migradesk_shared.contracts.person_profiles import ConsentRecord, PersonProfileUpserted

    store = MongoReferralRepository(db)
    await store.prepare()
    service = ReferralService(store)
    person_id, case_id = str(uuid.uuid4()), str(uuid.uuid4())
    profile = PersonProfileUpserted(
        producer="test", person_id=person_id, case_id=case_id, full_name="Canário Apagado", phone="+5567999990000",
        languages=["es"], consent=ConsentRecord(legal_basis="consent", share_with_partners=True,
                                                recorded_at=date(2026, 11, 1), recorded_by="ana"))
    topic = names(PERSON_PROFILES)
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(topic, profile.model_dump_json().encode(), key=person_id.encode())
        await producer.send_and_wait(topic, None, key=person_id.encode())
    finally:
        await producer.stop()
    records = await read_all(infra, topic, 2)
    assert [r.value is None for r in records] == [False, True]  # one partition (same key), in this order

    async def on_profile(event: Any, delivery: Delivery) -> None:
        await service.keep_person_profile(event)

    async def on_erasure(key: str, delivery: Delivery) -> None:
        await service.erase_person(key)

    producer_for_dlq = ReliableProducer(infra.bootstrap_servers, "test-order")
    consumer = EventConsumer(spec=PERSON_PROFILES, names=names, group_id=f"{names.prefix}order",
                             adapter=adapter_for(PERSON_PROFILES), handler=on_profile, tombstone_handler=on_erasure,
                             inbox=Inbox(db["processed_events"], "order"), producer=producer_for_dlq,
                             policy=DeliveryPolicy(), tracer=trace.get_tracer("test"))
    try:
        await consumer.process_batch(records)  # both records in ONE batch
    finally:
        await producer_for_dlq.stop()
    assert await store.persons.find_one({"_id": person_id}) is None
    assert await store.case_persons.find_one({"_id": case_id}) is None


async def test_two_relays_on_one_collection_neither_lose_nor_reorder_events_per_key(
        infra: Infra, db: AsyncDatabase[dict[str, Any]], names: TopicNames) -> None:
    """Replicas of a service each run a relay over the same collection. Whatever they publish twice, the
    first copy of every event must arrive, in the order of its document's outbox."""
    cases = db["cases"]
    case_ids = [str(uuid.uuid4()) for _ in range(12)]
    for case_id in case_ids:
        await cases.insert_one({"_id": case_id, **new_document_outbox([(CASE_EVENTS, opened(case_id))])})
    producers = [ReliableProducer(infra.bootstrap_servers, f"test-relay-{i}") for i in range(2)]
    # takeover 0: each relay publishes every pending document, the most colliding setting there is.
    relays = [OutboxRelay([cases], p, names, poll_seconds=0.05) for p in producers]
    for relay in relays:
        relay.start()
    appended = 0
    try:
        for round_ in range(8):
            for case_id in case_ids:
                await cases.update_one({"_id": case_id}, append_outbox([(CASE_EVENTS, opened(case_id))]))
                appended += 1
            await asyncio.sleep(0.02 * round_)

        async def all_sent() -> bool:
            return await cases.count_documents({"outbox_pending": True}) == 0

        await eventually(all_sent, what="every outbox published")
    finally:
        for relay in relays:
            await relay.stop()
        for producer in producers:
            await producer.stop()
    total = len(case_ids) + appended
    records = await read_all(infra, names(CASE_EVENTS), total)
    for case_id in case_ids:
        doc = await cases.find_one({"_id": case_id})
        assert doc is not None and doc["outbox_sent"] == len(doc["outbox"]) == 9
        first_seen: list[bytes] = []
        for record in records:
            event_id = dict(record.headers)["event-id"]
            if record.key == case_id.encode() and event_id not in first_seen:
                first_seen.append(event_id)
        assert first_seen == [e["event_id"].encode() for e in doc["outbox"]], case_id


async def test_the_inbox_tells_a_redelivery_from_an_event_published_twice(
        db: AsyncDatabase[dict[str, Any]]) -> None:
    inbox = Inbox(db["processed_events"], "claims")
    first, second = Delivery("t", 0, 10), Delivery("t", 0, 11)
    assert await inbox.claim([("e1", first), ("e2", second)]) == set()
    # The same messages again (a crash before their effect was stored): not duplicates, apply them again.
    assert await inbox.claim([("e1", first), ("e3", Delivery("t", 1, 4))]) == set()
    # e1 read at another offset: a relay published it twice; e2 at its own offset is still a redelivery.
    assert await inbox.claim([("e1", Delivery("t", 0, 12)), ("e2", second)]) == {"e1"}
    await inbox.release(["e1"])
    assert await inbox.claim([("e1", Delivery("t", 0, 12))]) == set()  # replayed from the dead-letter topic
    assert await Inbox(db["processed_events"], "other-group").claim([("e1", first)]) == set()


async def test_an_effect_lost_after_the_claim_is_applied_when_the_batch_is_redelivered(
        infra: Infra, db: AsyncDatabase[dict[str, Any]], names: TopicNames) -> None:
    applied: list[str] = []
    crash = True

    async def batch_handler(items: list[tuple[CaseOpened, Delivery]]) -> None:
        if crash:
            raise asyncio.CancelledError  # the process stops between the claim and the effect
        applied.extend(event.case_id for event, _ in items)

    async def handler(event: CaseOpened, delivery: Delivery) -> None:
        raise AssertionError("the batch handler takes the whole batch")

    producer = ReliableProducer(infra.bootstrap_servers, "test-claims")
    consumer = EventConsumer(spec=CASE_EVENTS, names=names, group_id=f"{names.prefix}claims", handler=handler,
                             adapter=adapter_for(CASE_EVENTS), inbox=Inbox(db["processed_events"], "claims"),
                             producer=producer, policy=DeliveryPolicy(), tracer=trace.get_tracer("test"),
                             batch_handler=batch_handler)
    events = [opened(f"case-{n}") for n in range(3)]
    records = [ConsumerRecord(names(CASE_EVENTS), 0, 100 + n, 0, 0, b"k", e.model_dump_json().encode(), None, 1,
                              1, []) for n, e in enumerate(events)]
    try:
        with pytest.raises(asyncio.CancelledError):
            await consumer.process_batch(records)
        assert await db["processed_events"].count_documents({}) == 3  # claimed, effect lost
        crash = False
        await consumer.process_batch(records)  # the uncommitted batch comes again after the restart
        assert applied == ["case-0", "case-1", "case-2"]
        # A relay re-publishing case-1 later is a duplicate.
        await consumer.process_batch([ConsumerRecord(names(CASE_EVENTS), 0, 200, 0, 0, b"k",
                                                     events[1].model_dump_json().encode(), None, 1, 1, [])])
        assert applied == ["case-0", "case-1", "case-2"]
    finally:
        await producer.stop()


async def test_a_prepared_batch_is_written_as_prepared_unless_the_claim_finds_a_duplicate(
        infra: Infra, db: AsyncDatabase[dict[str, Any]], names: TopicNames) -> None:
    """The preparer computes a batch's writes while its ids are claimed; its writes stand for the batch only when
    every event was fresh, a duplicate sends the batch handler the fresh events, a failed preparation changes
    nothing but the path."""
    prepared_for: list[list[str]] = []
    written: list[tuple[str, list[str]]] = []
    failing = False

    async def prepare(items: list[tuple[CaseOpened, Delivery]]) -> Any:
        ids = [event.case_id for event, _ in items]
        prepared_for.append(ids)
        if failing:
            raise RuntimeError("the store refused the read")

        async def write() -> None:
            written.append(("prepared", ids))

        return write

    async def batch_handler(items: list[tuple[CaseOpened, Delivery]]) -> None:
        written.append(("handler", [event.case_id for event, _ in items]))

    async def handler(event: CaseOpened, delivery: Delivery) -> None:
        raise AssertionError("the batch handler takes the whole batch")

    def record(offset: int, event: CaseOpened) -> ConsumerRecord[Any, Any]:
        return ConsumerRecord(names(CASE_EVENTS), 0, offset, 0, 0, b"k", event.model_dump_json().encode(), None,
                              1, 1, [])

    producer = ReliableProducer(infra.bootstrap_servers, "test-prepare")
    consumer = EventConsumer(spec=CASE_EVENTS, names=names, group_id=f"{names.prefix}prepare", handler=handler,
                             adapter=adapter_for(CASE_EVENTS), inbox=Inbox(db["processed_events"], "prepare"),
                             producer=producer, policy=DeliveryPolicy(), tracer=trace.get_tracer("test"),
                             batch_handler=batch_handler, batch_preparer=prepare)
    events = [opened(f"case-{n}") for n in range(4)]
    try:
        await consumer.process_batch([record(10, events[0]), record(11, events[1])])
        assert written == [("prepared", ["case-0", "case-1"])]
        # case-1 published again at a new offset: prepared with it, so the handler writes the fresh one alone.
        await consumer.process_batch([record(12, events[2]), record(13, events[1])])
        assert prepared_for[-1] == ["case-2", "case-1"]
        assert written[-1] == ("handler", ["case-2"])
        failing = True
        await consumer.process_batch([record(14, events[3])])
        assert written[-1] == ("handler", ["case-3"])
        assert len(written) == 3
        assert await db["processed_events"].count_documents({}) == 4
    finally:
        await producer.stop()
    with pytest.raises(ValueError, match="batch handler"):
        EventConsumer(spec=CASE_EVENTS, names=names, group_id="g", handler=handler, adapter=adapter_for(CASE_EVENTS),
                      inbox=Inbox(db["processed_events"], "g"), producer=producer, policy=DeliveryPolicy(),
                      tracer=trace.get_tracer("test"), batch_preparer=prepare)
