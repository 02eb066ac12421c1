"""The Kafka channels of referral: what it consumes and publishes (runtime and AsyncAPI read this), and the
examples the AsyncAPI document shows an agency's IT for the two topics its own system uses: its area's dispatch
topic (what it reads) and referral.partner-responses.v1 (what it writes; refused responses go to its .dlq with
the reason in the `dlq-error` header). The examples are contract events, so they always validate."""

from __future__ import annotations

from datetime import UTC, datetime

from migradesk_shared.contracts.docs import Example
from migradesk_shared.contracts.referral_events import PartnerResponse, ReferralDispatched
from migradesk_shared.contracts.vocabulary import Action, DeclineReason, Outcome, ServiceArea
from migradesk_shared.topics import (
    CASE_EVENTS,
    DISPATCH,
    PARTNER_RESPONSES,
    PERSON_PROFILES,
    REFERRAL_EVENTS,
    TopicSpec,
    dlq_of,
)

SUBSCRIBES: tuple[TopicSpec, ...] = (CASE_EVENTS, PERSON_PROFILES, PARTNER_RESPONSES)
PUBLISHES: tuple[TopicSpec, ...] = (REFERRAL_EVENTS, *DISPATCH.values())

_REFERRAL = "0b6f3c1e-5d2a-5f7e-9a41-2c8d7e6b5a30"
_AT = datetime(2026, 3, 9, 13, 30, tzinfo=UTC)
# An agency of each area of the demo directory, and a category it serves.
_AGENCY = {ServiceArea.HEALTH: ("ubs-jardim-climax", "sus_card"),
           ServiceArea.EDUCATION: ("semed-matriculas", "school_enrolment"),
           ServiceArea.SOCIAL_ASSISTANCE: ("cras-canaa", "cadunico"),
           ServiceArea.WORK: ("sine-dourados", "job_placement"),
           ServiceArea.PROTECTION: ("creas-dourados", "child_protection")}


def _dispatched(area: ServiceArea) -> Example:
    agency_id, category = _AGENCY[area]
    event = ReferralDispatched(event_id="5f0c2a9e-8b1d-4c3f-a6e7-0d9b8c7a6f51", occurred_at=_AT, producer="referral",
                               correlation_id="c7d1e2f3-0a4b-4c5d-8e6f-7a8b9c0d1e2f", referral_id=_REFERRAL,
                               case_id="c7d1e2f3-0a4b-4c5d-8e6f-7a8b9c0d1e2f",
                               request_id="r1a2b3c4-d5e6-4f70-8192-a3b4c5d6e7f8", category=category,
                               service_area=area, agency_id=agency_id, preferred_language="es")
    return {"name": "dispatched", "summary": f"A referral routed to {agency_id} (key: referral_id). Read with a "
            "consumer group of the agency's own and keep only the messages whose agency_id is the agency's: the "
            "topic carries every agency of the area. The person's contact is on GET /api/referrals/{id}.",
            "headers": {"event-type": "ReferralDispatched", "content-type": "application/json"},
            "payload": event.model_dump(mode="json")}


def _response(action: Action, event_id: str, **fields: object) -> PartnerResponse:
    return PartnerResponse(event_id=event_id, occurred_at=_AT, producer="ubs-jardim-climax-system",
                           referral_id=_REFERRAL, agency_id="ubs-jardim-climax", action=action,
                           **fields)  # type: ignore[arg-type]


_RESPONSES: list[tuple[str, str, PartnerResponse]] = [
    ("accept", "The agency accepts the referral (expected_version: the version it read; optional).",
     _response(Action.ACCEPT, "e1000000-0000-4000-8000-000000000001", expected_version=1)),
    ("decline", "The agency declines, with a reason code: the request goes on to the next eligible agency.",
     _response(Action.DECLINE, "e1000000-0000-4000-8000-000000000002",
               decline_reason=DeclineReason.NO_CAPACITY)),
    ("schedule", "An appointment (also a new one after a no-show).",
     _response(Action.SCHEDULE, "e1000000-0000-4000-8000-000000000003",
               scheduled_for=datetime(2026, 3, 12, 14, 0, tzinfo=UTC))),
    ("complete", "Done, with the outcome (could_not_help needs could_not_help_reason, a code).",
     _response(Action.COMPLETE, "e1000000-0000-4000-8000-000000000004",
               outcome=Outcome.GOT_HELP)),
    ("unable_to_contact", "The person could not be reached (a comment is required; it stays in referral's "
     "store and never goes out in events).",
     _response(Action.UNABLE_TO_CONTACT, "e1000000-0000-4000-8000-000000000005",
               comment="três tentativas por telefone")),
]

EXAMPLES: dict[str, list[Example]] = {
    **{spec.name: [_dispatched(area)] for area, spec in DISPATCH.items()},
    PARTNER_RESPONSES.name: [{"name": name, "summary": summary + " Key: referral_id; a new event_id per response "
                              "(a response sent again with the same event_id is applied once).",
                              "headers": {"content-type": "application/json"},
                              "payload": response.model_dump(mode="json")}
                             for name, summary, response in _RESPONSES],
    dlq_of(PARTNER_RESPONSES).name: [{
        "name": "refused", "summary": "A response that could not be applied: the original key, value and headers, "
        "with why in dlq-error (here: another agency's referral; or e.g. 'rejected: illegal transition: completed "
        "-> accept (…)', 'invalid event: …' for one that breaks the contract).",
        "headers": {"dlq-error": f"rejected: agency ubs-vila-industrial is not the agency of referral {_REFERRAL} "
                                 "(ubs-jardim-climax)",
                    "dlq-original-topic": PARTNER_RESPONSES.name, "dlq-original-partition": "1",
                    "dlq-original-offset": "42", "dlq-consumer-group": f"referral.{PARTNER_RESPONSES.name}",
                    "dlq-failed-at": "2026-03-09T13:30:02.115000+00:00"},
        "payload": _response(Action.ACCEPT, "e1000000-0000-4000-8000-000000000006").model_copy(
            update={"agency_id": "ubs-vila-industrial", "producer": "ubs-vila-industrial-system"}).model_dump(
            mode="json")}],
}
