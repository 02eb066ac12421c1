"""The Kafka channels of referral: what it consumes and publishes (runtime and AsyncAPI read this)."""

from migradesk_shared.topics import CASE_EVENTS, DISPATCH, PERSON_PROFILES, REFERRAL_EVENTS, TopicSpec

SUBSCRIBES: tuple[TopicSpec, ...] = (CASE_EVENTS, PERSON_PROFILES)
PUBLISHES: tuple[TopicSpec, ...] = (REFERRAL_EVENTS, *DISPATCH.values())
