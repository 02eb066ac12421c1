"""Referral's repository: its interface in domain terms, and the implementation over the MongoDB-compatible store.

Every write that changes a referral stores the events it causes in the SAME document write (the document's
outbox) and tells the relay (`on_write`), and keeps the agency's open-referral counter; so no use case can
forget either. Every query on the request/event path is an `_id` look-up or an equality on the leading
field(s) of an index (see `prepare`), so its cost does not grow with the number of referrals stored.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple, Protocol

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from migradesk_referral.domain.directory import AgencyChange
from migradesk_referral.domain.notifications import Notice, NoticeKind, NoticeStatus, Recipient
from migradesk_referral.domain.person import ContactRead, PersonContact
from migradesk_referral.domain.record import ReferralRecord, RequestToRoute
from migradesk_referral.domain.referral import OPEN_STATUSES, HistoryEntry, Referral
from migradesk_referral.domain.routing import Agency, AgencyCandidate
from migradesk_shared.audit_log import ChainedLog, Verification
from migradesk_shared.contracts.case_events import PersonFacets
from migradesk_shared.contracts.envelope import Event
from migradesk_shared.contracts.vocabulary import Action, Outcome, ReferralStatus
from migradesk_shared.errors import Conflict
from migradesk_shared.outbox import append_outbox, new_document_outbox
from migradesk_shared.topics import ServiceArea, TopicSpec

# The collection whose documents carry an outbox (the relay publishes it).
REFERRALS = "referrals"
OPEN_STATUS_VALUES = sorted(s.value for s in OPEN_STATUSES)

# Events to store with a state change, each with the topic it goes to.
Events = Sequence[tuple[TopicSpec, Event]]
# Called after a write that stored events in a document's outbox: (collection name, document id).
OnWrite = Callable[[str, Any], None]


def no_relay(collection: str, doc_id: Any) -> None:
    return None


class QueuePosition(NamedTuple):
    """Where a page of the manual-routing queue ended: the last referral's created_at and id (oldest first)."""

    created_at: datetime
    referral_id: str


class StoredEvent(NamedTuple):
    """An event as stored with a referral, waiting for (or past) the relay: what tests and operators inspect."""

    topic: str
    event_type: str
    payload: dict[str, Any]


def changed_meanwhile(referral_id: str) -> Conflict:
    return Conflict(f"referral {referral_id} changed meanwhile; reload it and try again", field="expected_version")


class ReferralRepository(Protocol):
    """Where referral keeps its referrals, the agency directory and the local copies of shared profiles."""

    async def prepare(self) -> None:
        """Make the store ready (indexes); idempotent, every process runs it at start-up."""

    # -- the agency directory -------------------------------------------------------------------------------
    async def add_agencies(self, agencies: Sequence[Agency]) -> None:
        """Add the agencies the directory lacks; those it has keep their details and counters."""

    async def directory(self) -> list[Agency]:
        """Every agency, by id."""

    async def agencies_serving(self, area: ServiceArea) -> list[AgencyCandidate]:
        """The active agencies serving an area, each with its open-referral counter."""

    async def agency(self, agency_id: str) -> Agency | None:
        """One agency of the directory (active or not); None if there is none by that id."""

    async def recount_open_referrals(self) -> int:
        """Recount each agency's open referrals; how many counters were off."""

    async def create_agency(self, agency: Agency, change: AgencyChange) -> bool:
        """Add a new agency (counter at 0) with the audit of its creation; False if its id is taken."""
        ...

    async def save_agency(self, before: Agency, after: Agency, change: AgencyChange) -> None:
        """Store an agency's new details or state (not its counter) and append `change` to its audit, if it is
        still at the version read (`before`); Conflict otherwise."""

    # -- referrals ------------------------------------------------------------------------------------------
    async def add(self, referral: ReferralRecord, events: Events) -> bool:
        """Store a new referral with its events; False (nothing stored) if that routing attempt exists."""
        ...

    async def add_many(self, routed: Sequence[tuple[ReferralRecord, Events]]) -> list[str]:
        """Store new referrals with their events in one command; the ids stored (routing attempts that
        exist already are skipped)."""

    async def get(self, referral_id: str) -> ReferralRecord | None: ...

    async def save_transition(self, before: ReferralRecord, after: ReferralRecord, events: Events) -> None:
        """Store a lifecycle step with its events, if the referral is still as it was read (`before`);
        Conflict otherwise: of two concurrent steps (in any process) exactly one applies."""

    async def readdress(self, before: ReferralRecord, after: ReferralRecord, events: Events) -> None:
        """Store the desk's routing or redirect of a referral (its new agency, state, deadline and history) with
        its events, if the referral is still as it was read (`before`); Conflict otherwise."""

    async def mark_overdue(self, referral: ReferralRecord, events: Events, notices: Sequence[Notice] = ()) -> bool:
        """Store an escalation with its events and the notices it sends, unless the referral changed or was
        escalated meanwhile."""

    async def with_pending_notices(self, limit: int) -> list[ReferralRecord]:
        """Referrals with an e-mail notice still to send."""

    async def claim_notice(self, referral_id: str, notice_id: str, *, now: datetime, until: datetime) -> bool:
        """Take a pending notice to send it, if no back-off or other process holds it at `now`: held until
        `until` (a process that dies meanwhile lets it go then). False if it is not to be sent now."""

    async def save_notice(self, referral_id: str, notice: Notice) -> None:
        """Store what sending a notice came to (sent; or still pending, with the error and when to retry)."""

    async def overdue_in_area(self, area: ServiceArea, *, limit: int) -> list[ReferralRecord]:
        """The `limit` pending referrals of an area escalated as overdue, the longest overdue first."""

    async def count_overdue(self, agency_id: str) -> int:
        """How many of an agency's pending referrals are escalated as overdue."""

    async def mark_rerouted(self, referral_id: str, rerouted_to: str) -> None:
        """Record that a declined referral's request went on to the referral `rerouted_to`."""

    async def awaiting_reroute(self, limit: int) -> list[ReferralRecord]: ...

    async def unanswered_past_deadline(self, now: datetime, limit: int) -> list[ReferralRecord]:
        """Pending referrals not yet escalated whose response deadline is before `now`."""

    async def for_case(self, case_id: str, *, agency_id: str | None = None,
                       status: ReferralStatus | None = None) -> list[ReferralRecord]: ...

    async def with_status(self, status: ReferralStatus, *, agency_id: str | None = None,
                          limit: int) -> list[ReferralRecord]:
        """The newest `limit` referrals in a status (of one agency, if given)."""

    async def needing_manual_routing(self, limit: int, after: QueuePosition | None = None) -> list[ReferralRecord]:
        """The oldest `limit` referrals that need manual routing, after `after` (created_at, referral_id) if given."""

    async def most_urgent(self, status: ReferralStatus, *, agency_id: str | None = None, overdue_only: bool = False,
                          limit: int) -> list[ReferralRecord]:
        """The `limit` most urgent referrals in a status (of one agency, if given; only the overdue ones, if
        told): overdue first, then by response deadline (then id)."""

    # -- local copies of the profiles intake shares ---------------------------------------------------------
    async def keep_person(self, person_id: str, case_id: str, contact: PersonContact) -> None:
        """Keep the latest shared contact of a person, and that it was shared with `case_id`."""
        ...

    async def keep_persons(self, shared: Sequence[tuple[str, str, PersonContact]]) -> None:
        """keep_person for each (person id, case id, contact), in order (the last contact of a person wins),
        in one command per collection."""

    async def erase_person(self, person_id: str) -> None: ...

    async def person_for_case(self, case_id: str) -> PersonContact | None: ...

    # -- accountability -------------------------------------------------------------------------------------
    async def record_contact_read(self, read: ContactRead) -> None:
        """Keep that someone was shown a person's contact (the access log: ids only)."""

    async def verify_access_log(self) -> Verification:
        """Check every record of the access log against its chain (see migradesk_shared.audit_log)."""


# -- documents <-> domain ---------------------------------------------------------------------------------------

def _history_entry(entry: HistoryEntry) -> dict[str, Any]:
    return {"status": entry.status.value, "action": entry.action.value if entry.action else None,
            "actor": entry.actor, "at": entry.at, "reason": entry.reason, "comment": entry.comment}


def notice_document(notice: Notice) -> dict[str, Any]:
    return {"kind": notice.kind.value, "recipient": notice.recipient.value, "address": notice.address,
            "created_at": notice.created_at, "status": notice.status.value, "agency_id": notice.agency_id,
            "deadline": notice.deadline, "attempts": notice.attempts, "error": notice.error,
            "sent_at": notice.sent_at, "not_before": notice.not_before}


def notice_from_document(notice_id: str, doc: Mapping[str, Any]) -> Notice:
    return Notice(notice_id=notice_id, kind=NoticeKind(doc["kind"]), recipient=Recipient(doc["recipient"]),
                  address=doc.get("address"), created_at=doc["created_at"], status=NoticeStatus(doc["status"]),
                  agency_id=doc.get("agency_id"), deadline=doc.get("deadline"), attempts=doc.get("attempts", 0),
                  error=doc.get("error"), sent_at=doc.get("sent_at"), not_before=doc["not_before"])


def notices_update(notices: Sequence[Notice]) -> tuple[dict[str, Any], dict[str, int]]:
    """The $set and $inc that add new notices to a referral: each under its id (so marking one sent never
    rewrites another), and the count of pending ones with the flag the sending job finds them by."""
    fields: dict[str, Any] = {f"notices.{n.notice_id}": notice_document(n) for n in notices}
    pending = sum(1 for n in notices if n.pending)
    if pending:
        fields["notify_pending"] = True
    return fields, ({"notices_pending": pending} if pending else {})


def due_hour(at: datetime) -> str:
    """The hour a response falls due, as text: the escalation job asks for one hour at a time by equality,
    the only kind of condition the store answers from an index (it cannot use one for a date range)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H")


# How far back the escalation job looks for deadlines it has not flagged yet (it runs every minute; older
# ones would mean the service was down for longer than this).
OVERDUE_LOOKBACK = timedelta(days=7)


def referral_document(record: ReferralRecord) -> dict[str, Any]:
    """The document of a newly routed referral (lifecycle fields are added by its first step)."""
    request = record.request
    return {
        "_id": record.referral_id, "request_id": request.request_id, "routing_attempt": record.attempt,
        "case_id": request.case_id, "category": request.category, "service_area": request.area.value,
        "agency_id": record.agency_id, "declined_by": list(record.declined_by), "status": record.status.value,
        "routing_reason": record.routing_reason, "language": request.facets.language,
        "municipality": request.municipality, "facets": request.facets.model_dump(mode="json"),
        "correlation_id": request.correlation_id, "request_logged_at": request.logged_at,
        "created_at": record.created_at, "updated_at": record.updated_at,
        "version": record.version, "response_due_at": record.response_due_at, "overdue": record.overdue,
        "response_due_hour": due_hour(record.response_due_at),
        "reroute_pending": record.reroute_pending, "history": [_history_entry(h) for h in record.state.history],
        # The notices appear when there are some (a referral that falls to manual routing at once), the pending
        # count and flag when some are to send, as later writes add them (notices_update).
        **({"notices": {n.notice_id: notice_document(n) for n in record.notices}} if record.notices else {}),
        **({"notices_pending": record.notices_pending, "notify_pending": True} if record.notices_pending else {}),
    }


def referral_from_document(doc: Mapping[str, Any]) -> ReferralRecord:
    history = tuple(HistoryEntry(status=ReferralStatus(h["status"]),
                                 action=Action(h["action"]) if h.get("action") else None,
                                 actor=h.get("actor", ""), at=h["at"], reason=h.get("reason"),
                                 comment=h.get("comment")) for h in doc.get("history", []))
    state = Referral(referral_id=doc["_id"], status=ReferralStatus(doc["status"]),
                     outcome=Outcome(doc["outcome"]) if doc.get("outcome") else None,
                     decline_reason=doc.get("decline_reason"), scheduled_for=doc.get("scheduled_for"),
                     history=history, version=doc["version"])
    request = RequestToRoute(case_id=doc["case_id"], request_id=doc["request_id"], category=doc["category"],
                             area=ServiceArea(doc["service_area"]), municipality=doc.get("municipality", ""),
                             facets=PersonFacets.model_validate(doc["facets"]),
                             correlation_id=doc.get("correlation_id") or doc["case_id"],
                             logged_at=doc.get("request_logged_at"))
    return ReferralRecord(state=state, request=request, attempt=doc["routing_attempt"], agency_id=doc["agency_id"],
                          declined_by=tuple(doc.get("declined_by", [])), routing_reason=doc.get("routing_reason", ""),
                          created_at=doc["created_at"], updated_at=doc.get("updated_at", doc["created_at"]),
                          response_due_at=doc["response_due_at"], overdue=doc.get("overdue", False),
                          escalated_to=doc.get("escalated_to"), reroute_pending=doc.get("reroute_pending", False),
                          rerouted_to=doc.get("rerouted_to"),
                          partner_responses=tuple(doc.get("partner_responses", [])),
                          notices=tuple(sorted((notice_from_document(k, v)
                                                for k, v in (doc.get("notices") or {}).items()),
                                               key=lambda n: (n.created_at, n.recipient.value, n.notice_id))))


def agency_document(agency: Agency) -> dict[str, Any]:
    """The directory fields of an agency (its counter starts at 0 when it is added)."""
    doc: dict[str, Any] = {"name": agency.name, "type": agency.type, "areas": [a.value for a in agency.areas]}
    if agency.categories is not None:
        doc["categories"] = list(agency.categories)
    doc.update({"languages": list(agency.languages), "address": agency.address})
    if agency.capacity is not None:
        doc["capacity"] = agency.capacity
    doc["active"] = agency.active
    if agency.opening_hours:
        doc["opening_hours"] = {day: list(hours) for day, hours in agency.opening_hours}
    if agency.contact_email:
        doc["contact_email"] = agency.contact_email
    return doc


def audit_entry(change: AgencyChange) -> dict[str, Any]:
    return {"actor": change.actor, "at": change.at, "action": change.action, "version": change.version,
            "changes": change.changes}


def changed_agency_meanwhile(agency_id: str) -> Conflict:
    return Conflict(f"agency {agency_id} changed meanwhile; reload it and try again", field="expected_version")


def agency_from_document(doc: Mapping[str, Any]) -> Agency:
    categories = doc.get("categories")
    return Agency(agency_id=doc.get("_id") or doc["agency_id"], name=doc.get("name", ""), type=doc.get("type", ""),
                  areas=tuple(ServiceArea(a) for a in doc.get("areas", [])),
                  languages=tuple(doc.get("languages", [])), address=doc.get("address", ""),
                  capacity=doc.get("capacity"), active=doc.get("active", True),
                  categories=tuple(categories) if categories is not None else None,
                  open_referrals=doc.get("open_referrals", 0),
                  opening_hours=tuple((day, tuple(hours)) for day, hours in (doc.get("opening_hours") or {}).items()),
                  contact_email=doc.get("contact_email", ""), version=doc.get("version", 1),
                  audit=tuple(doc.get("audit", [])))


def contact_document(contact: PersonContact) -> dict[str, Any]:
    return {"full_name": contact.full_name, "phone": contact.phone, "languages": list(contact.languages),
            "birth_date": contact.birth_date.isoformat() if contact.birth_date else None,
            "updated_at": contact.updated_at}


def contact_from_document(profile: Mapping[str, Any]) -> PersonContact:
    birth = profile.get("birth_date")
    return PersonContact(full_name=profile.get("full_name", ""), phone=profile.get("phone"),
                         languages=tuple(profile.get("languages", [])),
                         birth_date=date.fromisoformat(birth) if birth else None, updated_at=profile["updated_at"])


# -- the MongoDB-compatible store -------------------------------------------------------------------------------

# The access log's key when none is given: tests and tools. The service derives its own from its secrets.
DEVELOPMENT_AUDIT_KEY = b"migradesk-development-audit-key"


class MongoReferralRepository:
    """ReferralRepository over the MongoDB-compatible store (MongoDB, or the patched FerretDB)."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], on_write: OnWrite = no_relay, *,
                 audit_key: bytes = DEVELOPMENT_AUDIT_KEY) -> None:
        self.agencies = db["agencies"]
        self.referrals = db[REFERRALS]
        # Local copies of the profiles intake shares (with consent), so an agency can reach the person.
        self.persons = db["persons"]
        # case id -> person id of the shared profiles, so a referral finds its person by two _id look-ups.
        self.case_persons = db["case_persons"]
        # Who was shown a person's contact, when, through which referral (LGPD accountability; ids only).
        self.access_log = db["access_log"]
        # Appended only, each record chained to the one before (HMAC under `audit_key`): see shared audit_log.
        self.chained_access_log = ChainedLog(self.access_log, db["access_log_heads"], key=audit_key)
        self._on_write = on_write

    async def prepare(self) -> None:
        # One first-routing referral per request: a redelivered RequestLogged cannot create a twin.
        await self.referrals.create_index([("request_id", 1), ("routing_attempt", 1)], unique=True)
        await self.referrals.create_index([("agency_id", 1), ("status", 1)])
        await self.referrals.create_index([("case_id", 1)])
        await self.referrals.create_index([("reroute_pending", 1)])
        await self.referrals.create_index([("status", 1), ("overdue", 1)])
        await self.referrals.create_index([("response_due_hour", 1), ("status", 1), ("overdue", 1)])
        # An agency's inbox, overdue only: equality on all three fields.
        await self.referrals.create_index([("agency_id", 1), ("status", 1), ("overdue", 1)])
        # The escalations worklist, an area at a time (protection first): equality on all three fields.
        await self.referrals.create_index([("status", 1), ("overdue", 1), ("service_area", 1)])
        # The notices still to send.
        await self.referrals.create_index([("notify_pending", 1)])
        await self.access_log.create_index([("referral_id", 1)])
        await self.chained_access_log.ensure_indexes()
        await self.case_persons.create_index([("person_id", 1)])

    # -- the agency directory -------------------------------------------------------------------------------
    async def add_agencies(self, agencies: Sequence[Agency]) -> None:
        for agency in agencies:
            with contextlib.suppress(DuplicateKeyError):  # another replica added it at the same moment
                await self.agencies.update_one(
                    {"_id": agency.agency_id},
                    {"$setOnInsert": {**agency_document(agency), "open_referrals": 0}}, upsert=True)

    async def directory(self) -> list[Agency]:
        return [agency_from_document(doc) async for doc in self.agencies.find({}).sort("_id", 1)]

    async def agencies_serving(self, area: ServiceArea) -> list[AgencyCandidate]:
        # The directory is small (tens of agencies); the load of each is a counter, not a count of referrals.
        return [agency_from_document(doc).candidate()
                async for doc in self.agencies.find({"areas": area.value, "active": True})]

    async def agency(self, agency_id: str) -> Agency | None:
        doc = await self.agencies.find_one({"_id": agency_id})
        return agency_from_document(doc) if doc else None

    async def create_agency(self, agency: Agency, change: AgencyChange) -> bool:
        try:
            await self.agencies.insert_one({"_id": agency.agency_id, **agency_document(agency), "open_referrals": 0,
                                            "version": agency.version, "audit": [audit_entry(change)]})
        except DuplicateKeyError:
            return False
        return True

    async def save_agency(self, before: Agency, after: Agency, change: AgencyChange) -> None:
        fields = {**agency_document(after), "version": after.version}
        unset = {name: "" for name in ("categories", "capacity", "opening_hours", "contact_email")
                 if name not in fields}
        update: dict[str, Any] = {"$set": fields, "$push": {"audit": audit_entry(change)}}
        if unset:
            update["$unset"] = unset
        # The seeded agencies were stored before agencies had a version: theirs is 1.
        version: dict[str, Any] = ({"$or": [{"version": 1}, {"version": {"$exists": False}}]}
                                   if before.version == 1 else {"version": before.version})
        result = await self.agencies.update_one({"_id": before.agency_id, **version}, update)
        if result.matched_count == 0:
            raise changed_agency_meanwhile(before.agency_id)

    async def _change_load(self, agency_id: str | None, delta: int) -> None:
        """Keep an agency's open-referral counter after a referral opened or closed there. A crash between the
        referral's write and this one leaves the counter off by one until it is recounted; routing only uses
        it to balance load, so that is the cheaper trade than counting on every routing."""
        if agency_id is not None and delta:
            await self.agencies.update_one({"_id": agency_id}, {"$inc": {"open_referrals": delta}})

    async def recount_open_referrals(self) -> int:
        # Equality on the (agency_id, status) index per open status.
        fixed = 0
        async for agency in self.agencies.find({}, {"_id": 1, "open_referrals": 1}):
            count = 0
            for status in OPEN_STATUS_VALUES:
                count += await self.referrals.count_documents({"agency_id": agency["_id"], "status": status})
            if count != agency.get("open_referrals"):
                await self.agencies.update_one({"_id": agency["_id"]}, {"$set": {"open_referrals": count}})
                fixed += 1
        return fixed

    # -- referrals ------------------------------------------------------------------------------------------
    def _written(self, referral_id: str) -> None:
        # Every write with events tells the relay, so they go out at once.
        self._on_write(self.referrals.name, referral_id)

    async def add(self, referral: ReferralRecord, events: Events) -> bool:
        try:
            await self.referrals.insert_one({**referral_document(referral), **new_document_outbox(events)})
        except DuplicateKeyError:
            return False
        self._written(referral.referral_id)
        await self._change_load(referral.agency_id, int(referral.is_open))
        return True

    async def add_many(self, routed: Sequence[tuple[ReferralRecord, Events]]) -> list[str]:
        if not routed:
            return []
        refused: set[int] = set()
        try:
            await self.referrals.insert_many([{**referral_document(r), **new_document_outbox(events)}
                                              for r, events in routed], ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(err.get("code") != 11000 for err in errors):
                raise
            refused = {err["index"] for err in errors}  # routed before: a redelivered event
        stored = [r for i, (r, _) in enumerate(routed) if i not in refused]
        load: dict[str, int] = {}
        for referral in stored:
            self._written(referral.referral_id)
            if referral.agency_id is not None and referral.is_open:
                load[referral.agency_id] = load.get(referral.agency_id, 0) + 1
        for agency_id, delta in load.items():
            await self._change_load(agency_id, delta)
        return [r.referral_id for r in stored]

    async def get(self, referral_id: str) -> ReferralRecord | None:
        doc = await self.referrals.find_one({"_id": referral_id}, {"outbox": 0})
        return referral_from_document(doc) if doc else None

    async def save_transition(self, before: ReferralRecord, after: ReferralRecord, events: Events) -> None:
        state = after.state
        update = append_outbox(events)
        update["$push"]["history"] = {"$each": [_history_entry(h)
                                                for h in state.history[len(before.state.history):]]}
        update["$set"].update({
            "status": state.status.value, "version": state.version, "updated_at": after.updated_at,
            "outcome": state.outcome.value if state.outcome else None, "decline_reason": state.decline_reason,
            "scheduled_for": state.scheduled_for, "reroute_pending": after.reroute_pending,
        })
        if after.partner_responses != before.partner_responses:
            update["$push"]["partner_responses"] = {"$each": list(after.partner_responses[
                len(before.partner_responses):])}
        # Conditional on the version read: of two concurrent steps exactly one matches.
        result = await self.referrals.update_one({"_id": before.referral_id, "version": before.version}, update)
        if result.matched_count == 0:
            raise changed_meanwhile(before.referral_id)
        self._written(before.referral_id)
        await self._change_load(before.agency_id, int(after.is_open) - int(before.is_open))

    async def readdress(self, before: ReferralRecord, after: ReferralRecord, events: Events) -> None:
        state = after.state
        update = append_outbox(events)
        update["$push"]["history"] = {"$each": [_history_entry(h)
                                                for h in state.history[len(before.state.history):]]}
        update["$set"].update({
            "agency_id": after.agency_id, "routing_reason": after.routing_reason, "status": state.status.value,
            "version": state.version, "created_at": after.created_at, "updated_at": after.updated_at,
            "response_due_at": after.response_due_at, "response_due_hour": due_hour(after.response_due_at),
            "overdue": after.overdue, "escalated_to": after.escalated_to,
            "outcome": state.outcome.value if state.outcome else None, "decline_reason": state.decline_reason,
            "scheduled_for": state.scheduled_for, "reroute_pending": after.reroute_pending,
        })
        _add_notices(update, after.notices[len(before.notices):])
        # Conditional on the version read: of two concurrent decisions (or a step meanwhile) exactly one applies.
        result = await self.referrals.update_one({"_id": before.referral_id, "version": before.version}, update)
        if result.matched_count == 0:
            raise changed_meanwhile(before.referral_id)
        self._written(before.referral_id)
        await self._change_load(before.agency_id, -int(before.is_open))
        await self._change_load(after.agency_id, int(after.is_open))

    async def mark_overdue(self, referral: ReferralRecord, events: Events, notices: Sequence[Notice] = ()) -> bool:
        update = append_outbox(events)
        update["$set"].update({"overdue": True, "escalated_to": referral.escalated_to})
        _add_notices(update, notices)
        result = await self.referrals.update_one(
            {"_id": referral.referral_id, "version": referral.version, "overdue": False}, update)
        if result.modified_count:
            self._written(referral.referral_id)
        return bool(result.modified_count)

    async def with_pending_notices(self, limit: int) -> list[ReferralRecord]:
        # Equality on the notify_pending index: only the referrals with something to send.
        return await self._find({"notify_pending": True}, limit=limit)

    async def claim_notice(self, referral_id: str, notice_id: str, *, now: datetime, until: datetime) -> bool:
        key = f"notices.{notice_id}"
        result = await self.referrals.update_one(
            {"_id": referral_id, f"{key}.status": NoticeStatus.PENDING.value, f"{key}.not_before": {"$lte": now}},
            {"$set": {f"{key}.not_before": until}})
        return bool(result.modified_count)

    async def save_notice(self, referral_id: str, notice: Notice) -> None:
        key = f"notices.{notice.notice_id}"
        update: dict[str, Any] = {"$set": {key: notice_document(notice)}}
        if not notice.pending:
            update["$inc"] = {"notices_pending": -1}
        # Only over a pending one: a notice is marked sent once, whichever process sent it.
        result = await self.referrals.update_one(
            {"_id": referral_id, f"{key}.status": NoticeStatus.PENDING.value}, update)
        if result.modified_count and not notice.pending:
            # The flag goes when nothing is left to send; a notice added meanwhile keeps the count above 0.
            await self.referrals.update_one({"_id": referral_id, "notices_pending": {"$lte": 0}},
                                            {"$set": {"notify_pending": False}})

    async def overdue_in_area(self, area: ServiceArea, *, limit: int) -> list[ReferralRecord]:
        # Equality on the (status, overdue, service_area) index: the store reads the area's overdue referrals
        # only, and sorts those.
        cursor = self.referrals.find({"status": ReferralStatus.PENDING.value, "overdue": True,
                                      "service_area": area.value}, {"outbox": 0}).sort(
            [("response_due_at", 1), ("_id", 1)]).limit(limit)
        return [referral_from_document(doc) async for doc in cursor]

    async def count_overdue(self, agency_id: str) -> int:
        # Equality on the (agency_id, status, overdue) index.
        return await self.referrals.count_documents({"agency_id": agency_id, "status": ReferralStatus.PENDING.value,
                                                     "overdue": True})

    async def mark_rerouted(self, referral_id: str, rerouted_to: str) -> None:
        await self.referrals.update_one({"_id": referral_id},
                                        {"$set": {"reroute_pending": False, "rerouted_to": rerouted_to}})

    async def _find(self, query: dict[str, Any], *, newest_first: bool = False,
                    limit: int = 0) -> list[ReferralRecord]:
        cursor = self.referrals.find(query, {"outbox": 0})
        if newest_first:
            cursor = cursor.sort("created_at", -1)
        if limit:
            cursor = cursor.limit(limit)
        return [referral_from_document(doc) async for doc in cursor]

    async def awaiting_reroute(self, limit: int) -> list[ReferralRecord]:
        return await self._find({"reroute_pending": True}, limit=limit)

    async def unanswered_past_deadline(self, now: datetime, limit: int) -> list[ReferralRecord]:
        # One equality query per hour on the (response_due_hour, status, overdue) index: only the referrals
        # falling due in that hour are read, never every pending referral.
        found: list[ReferralRecord] = []
        hour = (now - OVERDUE_LOOKBACK).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        while hour <= now and len(found) < limit:
            found += await self._find({"response_due_hour": due_hour(hour), "status": ReferralStatus.PENDING.value,
                                       "overdue": False, "response_due_at": {"$lt": now}}, limit=limit - len(found))
            hour += timedelta(hours=1)
        return found

    async def for_case(self, case_id: str, *, agency_id: str | None = None,
                       status: ReferralStatus | None = None) -> list[ReferralRecord]:
        # Equality on the case_id index: a case has a handful of referrals.
        query: dict[str, Any] = {"agency_id": agency_id} if agency_id else {}
        query["case_id"] = case_id
        if status is not None:
            query["status"] = status.value
        return await self._find(query)

    async def with_status(self, status: ReferralStatus, *, agency_id: str | None = None,
                          limit: int) -> list[ReferralRecord]:
        # Equality on the (agency_id, status) index, or on the leading field of (status, overdue).
        query: dict[str, Any] = {"agency_id": agency_id} if agency_id else {}
        query["status"] = status.value
        return await self._find(query, newest_first=True, limit=limit)

    async def needing_manual_routing(self, limit: int, after: QueuePosition | None = None) -> list[ReferralRecord]:
        # Equality on the leading field of the (status, overdue) index: the store reads the queue's documents
        # only, never the rest of the collection, and sorts them. The page goes on from a position (keyset), not
        # an offset, so referrals routed meanwhile never make a page skip one.
        query: dict[str, Any] = {"status": ReferralStatus.NEEDS_MANUAL_ROUTING.value}
        if after is not None:
            query["$or"] = [{"created_at": {"$gt": after.created_at}},
                            {"created_at": after.created_at, "_id": {"$gt": after.referral_id}}]
        cursor = self.referrals.find(query, {"outbox": 0}).sort([("created_at", 1), ("_id", 1)]).limit(limit)
        return [referral_from_document(doc) async for doc in cursor]

    async def most_urgent(self, status: ReferralStatus, *, agency_id: str | None = None, overdue_only: bool = False,
                          limit: int) -> list[ReferralRecord]:
        # Equality on the (agency_id, status[, overdue]) index, or on the leading field(s) of (status, overdue):
        # the store reads one agency's referrals in that status (or, for the desk, every referral in it), never
        # the rest of the collection, and sorts those.
        query: dict[str, Any] = {"agency_id": agency_id} if agency_id else {}
        query["status"] = status.value
        if overdue_only:
            query["overdue"] = True
        cursor = self.referrals.find(query, {"outbox": 0}).sort(
            [("overdue", -1), ("response_due_at", 1), ("_id", 1)]).limit(limit)
        return [referral_from_document(doc) async for doc in cursor]

    async def stored_events(self, referral_id: str) -> list[StoredEvent]:
        doc = await self.referrals.find_one({"_id": referral_id}, {"outbox": 1})
        return [StoredEvent(e["topic"], e["event_type"], json.loads(e["value"]))
                for e in (doc or {}).get("outbox", []) if e["value"] is not None]

    # -- local copies of the profiles intake shares ---------------------------------------------------------
    async def keep_person(self, person_id: str, case_id: str, contact: PersonContact) -> None:
        # A returning person has several cases; each links to the one (latest) profile.
        await _upsert(self.persons, person_id, {"$set": {"profile": contact_document(contact)}})
        await _upsert(self.case_persons, case_id, {"$set": {"person_id": person_id}})

    async def keep_persons(self, shared: Sequence[tuple[str, str, PersonContact]]) -> None:
        if not shared:
            return
        # Ordered: a person shared twice in one batch keeps the later contact. A clash with another process
        # creating the same document raises, and the consumer then retries message by message (keep_person).
        await self.persons.bulk_write([UpdateOne({"_id": person_id}, {"$set": {"profile": contact_document(c)}},
                                                 upsert=True) for person_id, _, c in shared], ordered=True)
        await self.case_persons.bulk_write([UpdateOne({"_id": case_id}, {"$set": {"person_id": person_id}},
                                                      upsert=True) for person_id, case_id, _ in shared], ordered=True)

    async def erase_person(self, person_id: str) -> None:
        await self.persons.delete_one({"_id": person_id})
        await self.case_persons.delete_many({"person_id": person_id})

    async def person_for_case(self, case_id: str) -> PersonContact | None:
        link = await self.case_persons.find_one({"_id": case_id}, {"person_id": 1})
        if link is None:
            return None
        doc = await self.persons.find_one({"_id": link["person_id"]}, {"profile": 1})
        return contact_from_document(doc["profile"]) if doc else None

    # -- accountability -------------------------------------------------------------------------------------
    async def record_contact_read(self, read: ContactRead) -> None:
        await self.chained_access_log.append([{"actor": read.actor, "action": "person.contact_read",
                                               "referral_id": read.referral_id, "case_id": read.case_id,
                                               "at": read.at, "channel": read.channel}])

    async def verify_access_log(self) -> Verification:
        return await self.chained_access_log.verify()

    async def contact_reads(self, referral_id: str) -> list[ContactRead]:
        """The access log of one referral, oldest first (for tests and operators)."""
        return [ContactRead(actor=doc["actor"], referral_id=doc["referral_id"], case_id=doc["case_id"],
                            at=doc["at"], channel=doc["channel"])
                async for doc in self.access_log.find({"referral_id": referral_id}).sort("at", 1)]


def _add_notices(update: dict[str, Any], notices: Sequence[Notice]) -> None:
    fields, counts = notices_update(notices)
    update["$set"].update(fields)
    if counts:
        update.setdefault("$inc", {}).update(counts)


async def _upsert(collection: AsyncCollection[dict[str, Any]], doc_id: str, update: dict[str, Any]) -> None:
    # Two processes upserting one new _id at once: the loser's insert hits the unique _id; it is an update now.
    try:
        await collection.update_one({"_id": doc_id}, update, upsert=True)
    except DuplicateKeyError:
        await collection.update_one({"_id": doc_id}, update)
