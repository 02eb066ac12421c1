"""Contract events <-> referral's domain: what a routing, a lifecycle step or an escalation publishes, and what
referral takes from intake's events. The events are de-identified: no names, contacts or free-text comments."""

from __future__ import annotations

import json
from datetime import datetime
from importlib import resources
from typing import Any

from migradesk_referral.adapters.repository import Events
from migradesk_referral.domain.person import PersonContact
from migradesk_referral.domain.record import ReferralRecord, RequestToRoute
from migradesk_referral.domain.referral import Command
from migradesk_referral.domain.routing import Agency
from migradesk_shared.contracts.case_events import RequestLogged
from migradesk_shared.contracts.person_profiles import PersonProfileUpserted
from migradesk_shared.contracts.referral_events import (
    ActorRole,
    ReferralAccepted,
    ReferralAttended,
    ReferralCancelled,
    ReferralCompleted,
    ReferralCreated,
    ReferralDeclined,
    ReferralDispatched,
    ReferralLifecycleEvent,
    ReferralNeedsManualRouting,
    ReferralNoShow,
    ReferralOverdue,
    ReferralReopened,
    ReferralScheduled,
    ReferralUnableToContact,
)
from migradesk_shared.contracts.vocabulary import Action, Outcome
from migradesk_shared.topics import DISPATCH, REFERRAL_EVENTS, ServiceArea

PRODUCER = "referral"


# -- intake's events -> domain ----------------------------------------------------------------------------------

def request_to_route(event: RequestLogged, area: ServiceArea) -> RequestToRoute:
    return RequestToRoute(case_id=event.case_id, request_id=event.request_id, category=event.category, area=area,
                          municipality=event.municipality, facets=event.facets,
                          correlation_id=event.correlation_id or event.case_id, logged_at=event.occurred_at)


def person_contact(event: PersonProfileUpserted) -> PersonContact:
    return PersonContact(full_name=event.full_name, phone=event.phone, languages=tuple(event.languages),
                         birth_date=event.birth_date, updated_at=event.occurred_at)


# -- domain -> referral's events --------------------------------------------------------------------------------

def routing_events(referral: ReferralRecord, *, causation_id: str, trace: dict[str, str] | None = None) -> Events:
    """ReferralCreated (and the dispatch to the area's integrated agencies), or ReferralNeedsManualRouting;
    `trace`: the trace of the event that caused them, when it is not the current one (a batch)."""
    return [(spec, event.in_trace(trace) if trace else event)
            for spec, event in _routing_events(referral, causation_id=causation_id)]


def _routing_events(referral: ReferralRecord, *, causation_id: str) -> Events:
    request = referral.request
    common: dict[str, Any] = {"producer": PRODUCER, "correlation_id": request.correlation_id,
                              "causation_id": causation_id, "occurred_at": referral.created_at}
    ids: dict[str, Any] = {"referral_id": referral.referral_id, "case_id": request.case_id,
                           "request_id": request.request_id, "category": request.category,
                           "service_area": request.area}
    if referral.agency_id is None:
        return [(REFERRAL_EVENTS, ReferralNeedsManualRouting(**common, **ids, reason=referral.routing_reason,
                                                             municipality=request.municipality))]
    return [
        (REFERRAL_EVENTS, ReferralCreated(**common, **ids, agency_id=referral.agency_id,
                                          municipality=request.municipality, facets=request.facets,
                                          request_logged_at=request.logged_at if referral.attempt == 1 else None)),
        (DISPATCH[request.area], ReferralDispatched(**common, **ids, agency_id=referral.agency_id,
                                                    preferred_language=request.facets.language)),
    ]


LIFECYCLE_EVENTS: dict[Action, type[ReferralLifecycleEvent]] = {
    Action.ACCEPT: ReferralAccepted, Action.DECLINE: ReferralDeclined, Action.SCHEDULE: ReferralScheduled,
    Action.ATTEND: ReferralAttended, Action.NO_SHOW: ReferralNoShow, Action.COMPLETE: ReferralCompleted,
    Action.CANCEL: ReferralCancelled, Action.UNABLE_TO_CONTACT: ReferralUnableToContact,
    Action.REOPEN: ReferralReopened,
}


def _about(referral: ReferralRecord, actor_role: ActorRole) -> dict[str, Any]:
    return {"producer": PRODUCER, "correlation_id": referral.request.correlation_id,
            "referral_id": referral.referral_id, "case_id": referral.case_id,
            "service_area": referral.request.area, "agency_id": referral.agency_id,
            "municipality": referral.request.municipality, "referral_created_at": referral.created_at,
            "actor_role": actor_role}


def lifecycle_events(after: ReferralRecord, command: Command, actor_role: ActorRole) -> Events:
    extra: dict[str, Any] = {}
    if command.action is Action.DECLINE:
        extra["reason"] = command.reason
    elif command.action is Action.SCHEDULE:
        extra["scheduled_for"] = command.scheduled_for
    elif command.action is Action.COMPLETE:
        extra["outcome"] = command.outcome
        extra["could_not_help_reason"] = command.reason if command.outcome is Outcome.COULD_NOT_HELP else None
    elif command.action is Action.REOPEN:
        extra["reopened_to"] = after.status
    # Free-text comments stay in referral's store: the event is de-identified.
    # A step the referral took before (history holds every step, this one last): counted once in the rates.
    repeated = any(h.status is after.status for h in after.state.history[:-1])
    event = LIFECYCLE_EVENTS[command.action](occurred_at=command.at, **_about(after, actor_role), **extra,
                                             repeated=repeated)
    return [(REFERRAL_EVENTS, event)]


def overdue_events(escalated: ReferralRecord, deadline: datetime, now: datetime) -> Events:
    return [(REFERRAL_EVENTS, ReferralOverdue(occurred_at=now, **_about(escalated, "system"), deadline=deadline,
                                              escalated_to=escalated.escalated_to))]


# -- the demo directory -----------------------------------------------------------------------------------------

def demo_directory() -> list[Agency]:
    """The Dourados partner agencies packaged with the service, for demos and tests."""
    data = json.loads(resources.files("migradesk_referral").joinpath("demo_agencies.json").read_text("utf-8"))
    return [Agency(agency_id=a["agency_id"], name=a["name"], type=a["type"],
                   areas=tuple(ServiceArea(x) for x in a["areas"]), languages=tuple(a.get("languages", [])),
                   address=a.get("address", ""), capacity=a.get("capacity"), active=a.get("active", True),
                   categories=tuple(a["categories"]) if "categories" in a else None) for a in data]
