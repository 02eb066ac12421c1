"""The Kafka channels of referral: what it consumes and publishes (runtime and AsyncAPI read this)."""

from migradesk_shared.topics import CASE_EVENTS, DISPATCH, REFERRAL_EVENTS, TopicSpec

SUBSCRIBES: tuple[TopicSpec, ...] = (CASE_EVENTS,)
PUBLISHES: tuple[TopicSpec, ...] = (REFERRAL_EVENTS, *DISPATCH.values())
