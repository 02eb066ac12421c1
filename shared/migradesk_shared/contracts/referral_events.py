"""referral.referral-events.v1 (de-identified, key = referral_id) and referral.dispatch.<area>.v1."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from migradesk_shared.contracts.case_events import PersonFacets
from migradesk_shared.contracts.envelope import Event
from migradesk_shared.contracts.vocabulary import Action, DeclineReason, Outcome, ReferralStatus
from migradesk_shared.topics import ServiceArea


class RoutedRequest(Event):
    """Which request of which case a routing event is about."""

    referral_id: str
    case_id: str
    request_id: str
    category: str
    service_area: ServiceArea

    def partition_key(self) -> str:
        return self.referral_id


class ReferralCreated(RoutedRequest):
    event_type: Literal["ReferralCreated"] = "ReferralCreated"
    schema_version: Literal[1] = 1
    agency_id: str
    municipality: str
    facets: PersonFacets
    # When the request was logged at the desk, on a request's first referral (a re-route after a decline leaves
    # it out): dimension 1's time from request to referral. Optional, so events written before it still read.
    request_logged_at: datetime | None = None


class ReferralNeedsManualRouting(RoutedRequest):
    event_type: Literal["ReferralNeedsManualRouting"] = "ReferralNeedsManualRouting"
    schema_version: Literal[1] = 1
    reason: str
    municipality: str


ActorRole = Literal["agency", "staff", "system", "partner_system"]


class ReferralLifecycleEvent(Event):
    """A change in a referral's life. De-identified: no names, contacts or free-text comments."""

    referral_id: str
    case_id: str
    service_area: ServiceArea
    agency_id: str
    municipality: str
    # When the referral was created, so metrics can measure time to acceptance and completion.
    referral_created_at: datetime
    actor_role: ActorRole = "agency"
    # The referral had taken this step before (accepted again after a reopening, say): rates count it once.
    repeated: bool = False

    def partition_key(self) -> str:
        return self.referral_id


class ReferralAccepted(ReferralLifecycleEvent):
    event_type: Literal["ReferralAccepted"] = "ReferralAccepted"
    schema_version: Literal[1] = 1


class ReferralDeclined(ReferralLifecycleEvent):
    event_type: Literal["ReferralDeclined"] = "ReferralDeclined"
    schema_version: Literal[1] = 1
    reason: DeclineReason
    rerouted_to: str | None = None  # the next agency, or None when it needs manual routing


class ReferralScheduled(ReferralLifecycleEvent):
    event_type: Literal["ReferralScheduled"] = "ReferralScheduled"
    schema_version: Literal[1] = 1
    scheduled_for: datetime


class ReferralAttended(ReferralLifecycleEvent):
    event_type: Literal["ReferralAttended"] = "ReferralAttended"
    schema_version: Literal[1] = 1


class ReferralNoShow(ReferralLifecycleEvent):
    event_type: Literal["ReferralNoShow"] = "ReferralNoShow"
    schema_version: Literal[1] = 1


class ReferralCompleted(ReferralLifecycleEvent):
    event_type: Literal["ReferralCompleted"] = "ReferralCompleted"
    schema_version: Literal[1] = 1
    outcome: Outcome
    could_not_help_reason: str | None = Field(default=None, max_length=80,
                                              description="a reason code, never free text")


class ReferralCancelled(ReferralLifecycleEvent):
    event_type: Literal["ReferralCancelled"] = "ReferralCancelled"
    schema_version: Literal[1] = 1


class ReferralUnableToContact(ReferralLifecycleEvent):
    event_type: Literal["ReferralUnableToContact"] = "ReferralUnableToContact"
    schema_version: Literal[1] = 1


class ReferralReopened(ReferralLifecycleEvent):
    """The audited comment stays in referral's store; the event says only that it happened."""

    event_type: Literal["ReferralReopened"] = "ReferralReopened"
    schema_version: Literal[1] = 1
    reopened_to: ReferralStatus


class ReferralOverdue(ReferralLifecycleEvent):
    event_type: Literal["ReferralOverdue"] = "ReferralOverdue"
    schema_version: Literal[1] = 1
    deadline: datetime
    escalated_to: str | None = None  # the role or team the overdue referral was escalated to


ReferralEvent = Annotated[
    ReferralCreated | ReferralNeedsManualRouting | ReferralAccepted | ReferralDeclined | ReferralScheduled
    | ReferralAttended | ReferralNoShow | ReferralCompleted | ReferralCancelled | ReferralUnableToContact
    | ReferralReopened | ReferralOverdue,
    Field(discriminator="event_type"),
]


class ReferralDispatched(RoutedRequest):
    """What an integrated agency receives on its area's dispatch topic (restricted)."""

    event_type: Literal["ReferralDispatched"] = "ReferralDispatched"
    schema_version: Literal[1] = 1
    agency_id: str
    preferred_language: str


class PartnerResponse(Event):
    """What an integrated agency's system publishes on referral.partner-responses.v1 (key = referral_id):
    the same actions as the inbox pages."""

    event_type: Literal["PartnerResponse"] = "PartnerResponse"
    schema_version: Literal[1] = 1
    referral_id: str
    agency_id: str
    action: Action
    decline_reason: DeclineReason | None = None
    outcome: Outcome | None = None
    could_not_help_reason: str | None = Field(default=None, max_length=80)
    scheduled_for: datetime | None = None
    comment: str | None = Field(default=None, max_length=2000)
    # The referral's version the agency's system saw (GET /api/referrals/{id}); a stale one is refused instead of
    # overwriting someone else's step. None: no check.
    expected_version: int | None = Field(default=None, ge=1)

    def partition_key(self) -> str:
        return self.referral_id
