"""Referral's Kafka subscribers: intake's case events (a logged request is routed), the shared person
profiles (kept, or erased on a tombstone) and the agencies' systems' responses (a step on a referral, or the
dead-letter topic with the reason it was refused). Each turns the event into one use case."""

from __future__ import annotations

from typing import Any

from migradesk_referral.service import PartnerResponseRefused, ReferralService
from migradesk_shared.contracts.case_events import RequestLogged
from migradesk_shared.contracts.referral_events import PartnerResponse
from migradesk_shared.kafka import Delivery, Rejected
from migradesk_shared.runtime import Runtime
from migradesk_shared.topics import CASE_EVENTS, PARTNER_RESPONSES, PERSON_PROFILES


def subscribe(runtime: Runtime, service: ReferralService) -> None:
    async def on_case_event(event: Any, delivery: Delivery) -> None:
        if isinstance(event, RequestLogged):  # a case's opening alone asks nothing of referral
            await service.route_logged_request(event)

    async def on_case_events(items: list[tuple[Any, Delivery]]) -> None:
        # A batch routes in one store command; if it fails, the consumer retries it message by message.
        await service.route_logged_requests([event for event, _ in items if isinstance(event, RequestLogged)])

    async def on_profile(event: Any, delivery: Delivery) -> None:
        await service.keep_person_profile(event)

    async def on_profiles(items: list[tuple[Any, Delivery]]) -> None:
        # The consumer hands over runs that a tombstone never splits, so order within a run is all that matters.
        await service.keep_person_profiles([event for event, _ in items])

    async def on_erasure(person_id: str, delivery: Delivery) -> None:
        await service.erase_person(person_id)

    async def on_partner_response(event: PartnerResponse, delivery: Delivery) -> None:
        # Refused for good (another agency's referral, a desk's action, an illegal transition, a stale version):
        # dead-lettered at once with the reason, and the next response of the partition is applied. A concurrent
        # write (Conflict) is retried like any other failure. No batch handler: responses are few, one by one.
        try:
            await service.respond(event)
        except PartnerResponseRefused as exc:
            raise Rejected(exc.message) from exc

    runtime.subscribe(CASE_EVENTS, on_case_event, batch_handler=on_case_events)
    runtime.subscribe(PERSON_PROFILES, on_profile, batch_handler=on_profiles, tombstone_handler=on_erasure)
    runtime.subscribe(PARTNER_RESPONSES, on_partner_response)
