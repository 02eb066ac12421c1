"""Referral's service layer: route a logged request to an agency and store the referral with its events."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import structlog
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from migradesk_referral.domain.referral import OPEN_STATUSES, Command, HistoryEntry, Referral, allowed_actions, apply
from migradesk_referral.domain.routing import AgencyCandidate, choose_agency
from migradesk_referral.domain.sla import check_response_sla, response_deadline
from migradesk_shared.auth import Principal, Role
from migradesk_shared.contracts.case_events import CaseOpened, PersonFacets, RequestLogged
from migradesk_shared.contracts.envelope import Event
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
from migradesk_shared.contracts.vocabulary import Action, Outcome, ReferralStatus
from migradesk_shared.errors import Conflict, NotFound
from migradesk_shared.outbox import append_outbox, new_document_outbox
from migradesk_shared.topics import DISPATCH, REFERRAL_EVENTS, ServiceArea, TopicSpec

log = structlog.get_logger("migradesk.referral")

OPEN_STATUS_VALUES = sorted(s.value for s in OPEN_STATUSES)

# Called after a write that stored events in a document's outbox: (collection name, document id).
OnWrite = Callable[[str, Any], None]


def _no_relay(collection: str, doc_id: Any) -> None:
    return None


class ReferralStore:
    """Referral's repository. Every query on the request/event path is an `_id` look-up or an equality on the
    leading field(s) of an index, so its cost does not grow with the number of referrals stored."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], on_write: OnWrite = _no_relay) -> None:
        self.agencies = db["agencies"]
        self.referrals = db["referrals"]
        # Local copies of the profiles intake shares (with consent), so an agency can reach the person.
        self.persons = db["persons"]
        # case id -> person id of the shared profiles, so a referral finds its person by two _id look-ups.
        self.case_persons = db["case_persons"]
        self._on_write = on_write

    def written(self, doc_id: str) -> None:
        self._on_write(self.referrals.name, doc_id)

    async def ensure_indexes(self) -> None:
        # One first-routing referral per request: a redelivered RequestLogged cannot create a twin.
        await self.referrals.create_index([("request_id", 1), ("routing_attempt", 1)], unique=True)
        await self.referrals.create_index([("agency_id", 1), ("status", 1)])
        await self.referrals.create_index([("case_id", 1)])
        await self.referrals.create_index([("reroute_pending", 1)])
        await self.referrals.create_index([("status", 1), ("overdue", 1)])
        await self.case_persons.create_index([("person_id", 1)])

    async def seed_demo_agencies(self) -> int:
        data = json.loads(resources.files("migradesk_referral").joinpath("demo_agencies.json").read_text("utf-8"))
        for agency in data:
            with contextlib.suppress(DuplicateKeyError):  # another replica seeded it at the same moment
                await self.agencies.update_one(
                    {"_id": agency["agency_id"]},
                    {"$setOnInsert": {**{k: v for k, v in agency.items() if k != "agency_id"},
                                      "open_referrals": 0}},
                    upsert=True)
        return len(data)

    async def candidates(self, area: ServiceArea) -> list[AgencyCandidate]:
        # The directory is small (tens of agencies); the load of each is a counter, not a count of referrals.
        return [AgencyCandidate(agency_id=agency["_id"], areas=frozenset(ServiceArea(a) for a in agency["areas"]),
                                languages=frozenset(agency.get("languages", [])), active=agency.get("active", True),
                                open_referrals=max(agency.get("open_referrals", 0), 0),
                                categories=frozenset(agency["categories"]) if agency.get("categories") else None)
                async for agency in self.agencies.find({"areas": area.value, "active": True})]

    async def change_load(self, agency_id: str | None, delta: int) -> None:
        """Keep an agency's open-referral counter after a referral opened or closed there. A crash between the
        referral's write and this one leaves the counter off by one until `reconcile_load` runs; routing only
        uses it to balance load, so that is the cheaper trade than counting on every routing."""
        if agency_id is not None and delta:
            await self.agencies.update_one({"_id": agency_id}, {"$inc": {"open_referrals": delta}})

    async def reconcile_load(self) -> int:
        """Recount each agency's open referrals (equality on the (agency_id, status) index per open status)."""
        fixed = 0
        async for agency in self.agencies.find({}, {"_id": 1, "open_referrals": 1}):
            count = 0
            for status in OPEN_STATUS_VALUES:
                count += await self.referrals.count_documents({"agency_id": agency["_id"], "status": status})
            if count != agency.get("open_referrals"):
                await self.agencies.update_one({"_id": agency["_id"]}, {"$set": {"open_referrals": count}})
                fixed += 1
        return fixed


def _referral_id(request_id: str, attempt: int) -> str:
    # Deterministic, so a replayed event (or a re-run of re-routing) maps onto the same referral.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"migradesk:referral:{request_id}:{attempt}"))


@dataclass(frozen=True)
class RoutingInput:
    """What routing needs to know about a request; from RequestLogged, or from a declined referral."""

    case_id: str
    request_id: str
    category: str
    area: ServiceArea
    municipality: str
    facets: PersonFacets
    correlation_id: str
    causation_id: str
    attempt: int = 1
    declined_by: tuple[str, ...] = ()


async def route_request(item: RoutingInput, *, store: ReferralStore, producer: str = "referral") -> str | None:
    """Store the referral of one routing attempt with its events; None if that attempt exists already."""
    decision = choose_agency(item.area, item.facets.language, await store.candidates(item.area),
                             declined_by=item.declined_by, category=item.category)
    referral_id = _referral_id(item.request_id, item.attempt)
    now = datetime.now(UTC)
    common: dict[str, Any] = {"producer": producer, "correlation_id": item.correlation_id,
                              "causation_id": item.causation_id, "occurred_at": now}
    ids: dict[str, Any] = {"referral_id": referral_id, "case_id": item.case_id, "request_id": item.request_id,
                           "category": item.category, "service_area": item.area}
    events: list[tuple[TopicSpec, Event]]
    if decision.agency_id is None:
        status = ReferralStatus.NEEDS_MANUAL_ROUTING
        events = [(REFERRAL_EVENTS, ReferralNeedsManualRouting(**common, **ids, reason=decision.reason,
                                                               municipality=item.municipality))]
    else:
        status = ReferralStatus.PENDING
        events = [
            (REFERRAL_EVENTS, ReferralCreated(**common, **ids, agency_id=decision.agency_id,
                                              municipality=item.municipality, facets=item.facets)),
            (DISPATCH[item.area], ReferralDispatched(**common, **ids, agency_id=decision.agency_id,
                                                     preferred_language=item.facets.language)),
        ]
    doc = {
        "_id": referral_id, "request_id": item.request_id, "routing_attempt": item.attempt,
        "case_id": item.case_id, "category": item.category, "service_area": item.area.value,
        "agency_id": decision.agency_id, "declined_by": list(item.declined_by), "status": status.value,
        "routing_reason": decision.reason, "language": item.facets.language, "municipality": item.municipality,
        "facets": item.facets.model_dump(mode="json"), "correlation_id": item.correlation_id,
        "created_at": now, "updated_at": now, "version": 1,
        "response_due_at": response_deadline(item.area, now),
        "overdue": False, "reroute_pending": False,
        "history": [{"status": status.value, "action": None, "actor": "routing", "at": now,
                     "reason": None, "comment": decision.reason}],
        **new_document_outbox(events),
    }
    try:
        await store.referrals.insert_one(doc)
    except DuplicateKeyError:
        log.info("referral already exists for request", request_id=item.request_id, referral_id=referral_id)
        return None
    store.written(referral_id)
    await store.change_load(decision.agency_id, 1)
    log.info("referral created", referral_id=referral_id, case_id=item.case_id, agency_id=decision.agency_id,
             status=status.value, attempt=item.attempt)
    return referral_id


async def handle_request_logged(event: RequestLogged, *, store: ReferralStore) -> None:
    if event.service_area is None:
        return  # resolved at the desk itself; nothing to refer
    await route_request(RoutingInput(
        case_id=event.case_id, request_id=event.request_id, category=event.category, area=event.service_area,
        municipality=event.municipality, facets=event.facets,
        correlation_id=event.correlation_id or event.case_id, causation_id=event.event_id), store=store)


def referral_from_document(doc: dict[str, Any]) -> Referral:
    history = tuple(HistoryEntry(status=ReferralStatus(h["status"]),
                                 action=Action(h["action"]) if h.get("action") else None,
                                 actor=h.get("actor", ""), at=h["at"], reason=h.get("reason"),
                                 comment=h.get("comment")) for h in doc.get("history", []))
    return Referral(referral_id=doc["_id"], status=ReferralStatus(doc["status"]),
                    outcome=Outcome(doc["outcome"]) if doc.get("outcome") else None,
                    decline_reason=doc.get("decline_reason"), scheduled_for=doc.get("scheduled_for"),
                    history=history, version=doc["version"])


LIFECYCLE_EVENTS: dict[Action, type[ReferralLifecycleEvent]] = {
    Action.ACCEPT: ReferralAccepted, Action.DECLINE: ReferralDeclined, Action.SCHEDULE: ReferralScheduled,
    Action.ATTEND: ReferralAttended, Action.NO_SHOW: ReferralNoShow, Action.COMPLETE: ReferralCompleted,
    Action.CANCEL: ReferralCancelled, Action.UNABLE_TO_CONTACT: ReferralUnableToContact,
    Action.REOPEN: ReferralReopened,
}


def lifecycle_event(doc: dict[str, Any], after: Referral, command: Command,
                    actor_role: ActorRole) -> ReferralLifecycleEvent:
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
    # Free-text comments stay in this store: the event is de-identified.
    return LIFECYCLE_EVENTS[command.action](
        producer="referral", occurred_at=command.at, correlation_id=doc.get("correlation_id"),
        referral_id=doc["_id"], case_id=doc["case_id"], service_area=ServiceArea(doc["service_area"]),
        agency_id=doc["agency_id"], municipality=doc.get("municipality", ""),
        referral_created_at=doc["created_at"], actor_role=actor_role, **extra)


def visible_to(caller: Principal | None, doc: dict[str, Any]) -> bool:
    """An agency sees only what is addressed to it; the desk sees every referral."""
    return caller is None or caller.role is not Role.AGENCY or doc.get("agency_id") == caller.agency_id


ACTOR_ROLES: dict[Role, ActorRole] = {Role.AGENCY: "agency", Role.STAFF: "staff", Role.ADMIN: "staff",
                                      Role.COORDINATOR: "staff"}


async def handle_referral_action(referral_id: str, command: Command, *, store: ReferralStore,
                                 expected_version: int | None, caller: Principal | None = None) -> dict[str, Any]:
    """Apply one lifecycle action: the new state, its history entry and its event in one document write.
    A stale expected_version is a 409; an illegal transition a 422 naming it. The write is conditional on the
    version read, so of two concurrent actions (in any process) exactly one applies."""
    doc = await store.referrals.find_one({"_id": referral_id}, {"outbox": 0})
    if doc is None or not visible_to(caller, doc):
        raise NotFound(f"referral {referral_id} does not exist", field="referral_id")
    actor_role: ActorRole = ACTOR_ROLES[caller.role] if caller else "system"
    if expected_version is not None and expected_version != doc["version"]:
        raise Conflict(f"referral {referral_id} is at version {doc['version']}, not {expected_version}; "
                       "reload it and try again", field="expected_version", current_version=doc["version"])
    after = apply(referral_from_document(doc), command)
    entry = after.history[-1]
    update = append_outbox([(REFERRAL_EVENTS, lifecycle_event(doc, after, command, actor_role))])
    update["$push"]["history"] = {"status": entry.status.value, "action": command.action.value,
                                  "actor": entry.actor, "at": entry.at, "reason": entry.reason,
                                  "comment": entry.comment}
    update["$set"].update({
        "status": after.status.value, "version": after.version, "updated_at": command.at,
        "outcome": after.outcome.value if after.outcome else None, "decline_reason": after.decline_reason,
        "scheduled_for": after.scheduled_for,
        # A declined request goes to the next eligible agency; the re-router does it, crash-safe.
        "reroute_pending": after.status is ReferralStatus.DECLINED,
    })
    result = await store.referrals.update_one({"_id": referral_id, "version": doc["version"]}, update)
    if result.matched_count == 0:
        raise Conflict(f"referral {referral_id} changed meanwhile; reload it and try again",
                       field="expected_version")
    store.written(referral_id)
    was_open, is_open = doc["status"] in OPEN_STATUS_VALUES, after.status in OPEN_STATUSES
    await store.change_load(doc.get("agency_id"), int(is_open) - int(was_open))
    log.info("referral action", referral_id=referral_id, action=command.action.value, status=after.status.value)
    return referral_view({**doc, **update["$set"], "history": [*doc["history"], update["$push"]["history"]]})


async def reroute_declined(store: ReferralStore, limit: int = 50) -> int:
    """Send each newly declined request to the next eligible agency (or to manual routing). Idempotent: the
    next attempt's referral id is deterministic, so a crash between the two writes repeats nothing."""
    done = 0
    async for doc in store.referrals.find({"reroute_pending": True}, {"outbox": 0, "history": 0}).limit(limit):
        declined_by = (*doc.get("declined_by", []), doc["agency_id"])
        new_id = _referral_id(doc["request_id"], doc["routing_attempt"] + 1)
        await route_request(RoutingInput(
            case_id=doc["case_id"], request_id=doc["request_id"], category=doc["category"],
            area=ServiceArea(doc["service_area"]), municipality=doc.get("municipality", ""),
            facets=PersonFacets(**doc["facets"]), correlation_id=doc.get("correlation_id") or doc["case_id"],
            causation_id=doc["_id"], attempt=doc["routing_attempt"] + 1, declined_by=declined_by), store=store)
        await store.referrals.update_one({"_id": doc["_id"]},
                                         {"$set": {"reroute_pending": False, "rerouted_to": new_id}})
        done += 1
    return done


async def flag_overdue(store: ReferralStore, now: datetime, limit: int = 200) -> int:
    """Raise ReferralOverdue (escalated to the coordinator) once for each referral past its response SLA."""
    flagged = 0
    # Equality on the (status, overdue) index: only the pending referrals not yet escalated are read.
    query = {"status": ReferralStatus.PENDING.value, "overdue": False, "response_due_at": {"$lt": now}}
    async for doc in store.referrals.find(query, {"outbox": 0, "history": 0}).limit(limit):
        verdict = check_response_sla(ServiceArea(doc["service_area"]), ReferralStatus(doc["status"]),
                                     doc["created_at"], now)
        if not verdict.overdue:
            continue
        event = ReferralOverdue(producer="referral", occurred_at=now, correlation_id=doc.get("correlation_id"),
                                referral_id=doc["_id"], case_id=doc["case_id"],
                                service_area=ServiceArea(doc["service_area"]), agency_id=doc["agency_id"],
                                municipality=doc.get("municipality", ""), referral_created_at=doc["created_at"],
                                actor_role="system", deadline=verdict.deadline, escalated_to="coordinator")
        update = append_outbox([(REFERRAL_EVENTS, event)])
        update["$set"].update({"overdue": True, "escalated_to": "coordinator"})
        result = await store.referrals.update_one(
            {"_id": doc["_id"], "version": doc["version"], "overdue": False}, update)
        if result.modified_count:
            store.written(doc["_id"])
        flagged += result.modified_count
    return flagged


async def handle_case_event(event: CaseOpened | RequestLogged, *, store: ReferralStore) -> None:
    if isinstance(event, RequestLogged):
        await handle_request_logged(event, store=store)


async def handle_person_profile(event: PersonProfileUpserted, *, store: ReferralStore) -> None:
    """Keep the latest shared profile, and which cases it was shared with (a returning person has several)."""
    profile = {"full_name": event.full_name, "phone": event.phone, "languages": event.languages,
               "birth_date": event.birth_date.isoformat() if event.birth_date else None,
               "updated_at": event.occurred_at}
    await _upsert(store.persons, event.person_id, {"$set": {"profile": profile}})
    await _upsert(store.case_persons, event.case_id, {"$set": {"person_id": event.person_id}})


async def _upsert(collection: Any, doc_id: str, update: dict[str, Any]) -> None:
    # Two processes upserting one new _id at once: the loser's insert hits the unique _id; it is an update now.
    try:
        await collection.update_one({"_id": doc_id}, update, upsert=True)
    except DuplicateKeyError:
        await collection.update_one({"_id": doc_id}, update)


async def handle_person_erased(person_id: str, *, store: ReferralStore) -> None:
    """A tombstone from intake: the person asked for erasure, so the local copy goes."""
    await store.persons.delete_one({"_id": person_id})
    await store.case_persons.delete_many({"person_id": person_id})
    log.info("person copy erased", person_id=person_id)


async def person_for(store: ReferralStore, case_id: str) -> dict[str, Any] | None:
    """What the serving agency may see of the person: name, phone, languages, birth date (documents stay at
    the desk). None when the person did not consent to sharing or was erased."""
    link = await store.case_persons.find_one({"_id": case_id}, {"person_id": 1})
    if link is None:
        return None
    doc = await store.persons.find_one({"_id": link["person_id"]}, {"profile": 1})
    return dict(doc["profile"]) if doc else None


def referral_view(doc: dict[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in doc.items() if not k.startswith("outbox") and k not in {"_id", "facets"}}
    view["referral_id"] = doc["_id"]
    status = ReferralStatus(doc["status"])
    view["allowed_actions"] = (sorted(a.value for a in allowed_actions(referral_from_document(doc)))
                               if status is not ReferralStatus.NEEDS_MANUAL_ROUTING else [])
    return view
