"""The Kafka channels of intake: what it consumes and publishes (runtime and AsyncAPI read this)."""

from migradesk_shared.topics import ACTIVITIES, CASE_EVENTS, PERSON_PROFILES, REFERRAL_EVENTS, TopicSpec

# Referral's de-identified events feed the read model of each referral's live status.
SUBSCRIBES: tuple[TopicSpec, ...] = (REFERRAL_EVENTS,)
PUBLISHES: tuple[TopicSpec, ...] = (CASE_EVENTS, PERSON_PROFILES, ACTIVITIES)
