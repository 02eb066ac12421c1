"""Which events travel on which topic, as pydantic adapters that parse raw Kafka bytes."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from migradesk_shared.contracts.case_events import CaseEvent
from migradesk_shared.contracts.referral_events import ReferralDispatched, ReferralEvent
from migradesk_shared.topics import CASE_EVENTS, DISPATCH, REFERRAL_EVENTS, TopicSpec

TOPIC_CONTRACTS: dict[str, TypeAdapter[Any]] = {
    CASE_EVENTS.name: TypeAdapter(CaseEvent),
    REFERRAL_EVENTS.name: TypeAdapter(ReferralEvent),
    **{spec.name: TypeAdapter(ReferralDispatched) for spec in DISPATCH.values()},
}


def adapter_for(spec: TopicSpec) -> TypeAdapter[Any]:
    return TOPIC_CONTRACTS[spec.name]
