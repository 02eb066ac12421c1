"""Which events travel on which topic, as pydantic adapters that parse raw Kafka bytes."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from migradesk_shared.contracts.activities import ActivitiesTopicEvent
from migradesk_shared.contracts.case_events import CaseEvent
from migradesk_shared.contracts.person_profiles import PersonProfileUpserted
from migradesk_shared.contracts.referral_events import PartnerResponse, ReferralDispatched, ReferralEvent
from migradesk_shared.topics import (
    ACTIVITIES,
    ALL_TOPICS,
    CASE_EVENTS,
    DISPATCH,
    PARTNER_RESPONSES,
    PERSON_PROFILES,
    REFERRAL_EVENTS,
    TopicSpec,
)

# The type each topic carries (a model, or a union discriminated by event_type).
TOPIC_TYPES: dict[str, Any] = {
    CASE_EVENTS.name: CaseEvent,
    PERSON_PROFILES.name: PersonProfileUpserted,
    ACTIVITIES.name: ActivitiesTopicEvent,
    REFERRAL_EVENTS.name: ReferralEvent,
    PARTNER_RESPONSES.name: PartnerResponse,
    **{spec.name: ReferralDispatched for spec in DISPATCH.values()},
}
TOPIC_CONTRACTS: dict[str, TypeAdapter[Any]] = {topic: TypeAdapter(t) for topic, t in TOPIC_TYPES.items()}


def adapter_for(spec: TopicSpec) -> TypeAdapter[Any]:
    return TOPIC_CONTRACTS[spec.name]


# Every topic of the list has a contract: a topic without one could carry anything.
if {spec.name for spec in ALL_TOPICS} != set(TOPIC_CONTRACTS):
    raise RuntimeError("every topic in topics.py needs a contract in TOPIC_CONTRACTS")
