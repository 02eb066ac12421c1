"""referral.referral-events.v1 (de-identified, key = referral_id) and referral.dispatch.<area>.v1."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from migradesk_shared.contracts.case_events import PersonFacets
from migradesk_shared.contracts.envelope import Event
from migradesk_shared.topics import ServiceArea


class ReferralCreated(Event):
    event_type: Literal["ReferralCreated"] = "ReferralCreated"
    schema_version: Literal[1] = 1
    referral_id: str
    case_id: str
    request_id: str
    category: str
    service_area: ServiceArea
    agency_id: str
    municipality: str
    facets: PersonFacets

    def partition_key(self) -> str:
        return self.referral_id


class ReferralNeedsManualRouting(Event):
    event_type: Literal["ReferralNeedsManualRouting"] = "ReferralNeedsManualRouting"
    schema_version: Literal[1] = 1
    referral_id: str
    case_id: str
    request_id: str
    category: str
    service_area: ServiceArea
    reason: str
    municipality: str

    def partition_key(self) -> str:
        return self.referral_id


ReferralEvent = Annotated[ReferralCreated | ReferralNeedsManualRouting, Field(discriminator="event_type")]


class ReferralDispatched(Event):
    """What an integrated agency receives on its area's dispatch topic (restricted)."""

    event_type: Literal["ReferralDispatched"] = "ReferralDispatched"
    schema_version: Literal[1] = 1
    referral_id: str
    case_id: str
    request_id: str
    category: str
    service_area: ServiceArea
    agency_id: str
    preferred_language: str

    def partition_key(self) -> str:
        return self.referral_id
