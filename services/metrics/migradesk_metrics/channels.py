"""The Kafka channels of metrics: what it consumes (runtime and AsyncAPI read this). It never reads PII."""

from migradesk_shared.topics import ACTIVITIES, CASE_EVENTS, REFERRAL_EVENTS, TopicSpec

SUBSCRIBES: tuple[TopicSpec, ...] = (CASE_EVENTS, REFERRAL_EVENTS, ACTIVITIES)
PUBLISHES: tuple[TopicSpec, ...] = ()
