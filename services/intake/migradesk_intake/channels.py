"""The Kafka channels of intake: what it consumes and publishes (runtime and AsyncAPI read this)."""

from migradesk_shared.topics import ACTIVITIES, CASE_EVENTS, PERSON_PROFILES, TopicSpec

SUBSCRIBES: tuple[TopicSpec, ...] = ()
PUBLISHES: tuple[TopicSpec, ...] = (CASE_EVENTS, PERSON_PROFILES, ACTIVITIES)
