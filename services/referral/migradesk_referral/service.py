"""Referral's use cases: route a logged request to an agency, take an agency's (or the desk's) step on a
referral, re-route declined referrals, let the desk route by hand the referrals no agency could take and redirect
open ones, escalate unanswered ones (and send the e-mail notices of escalations), list the escalations for the
desk, keep the local copies of shared profiles, and show referrals to the callers
allowed to see them.

Each use case loads through the repository, lets the pure domain decide, and saves the state WITH the events
it causes (the repository stores both in one write and wakes the relay).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from migradesk_referral.adapters import mappers
from migradesk_referral.adapters.repository import QueuePosition, ReferralRepository
from migradesk_referral.domain.directory import (
    AgencyChange,
    AgencyDetails,
    agency_id_from,
    changed_fields,
    check_agency_id,
)
from migradesk_referral.domain.notifications import (
    CLAIM_FOR,
    NO_MAIL,
    MailSetup,
    Notice,
    failed,
    manual_routing_notices,
    overdue_notices,
    sent,
)
from migradesk_referral.domain.person import ContactRead, PersonContact
from migradesk_referral.domain.readdressing import (
    MOVED_ON_DEACTIVATION,
    moved_off_deactivated,
    redirected,
    routed_manually,
)
from migradesk_referral.domain.record import (
    ReferralRecord,
    RequestToRoute,
    escalated,
    next_attempt,
    referral_id_for,
    routed,
    take_action,
)
from migradesk_referral.domain.referral import (
    DESK_ROLES,
    OPEN_STATUSES,
    Command,
    IllegalTransition,
    authorize,
    could_not_help_reason,
)
from migradesk_referral.domain.routing import Agency, AgencyCandidate, choose_agency
from migradesk_referral.domain.sla import DEFAULT_POLICY, SlaPolicy
from migradesk_shared.auth import Principal, Role
from migradesk_shared.contracts.case_events import RequestLogged
from migradesk_shared.contracts.person_profiles import PersonProfileUpserted
from migradesk_shared.contracts.referral_events import ActorRole, PartnerResponse
from migradesk_shared.contracts.vocabulary import Action, Outcome, ReferralStatus
from migradesk_shared.errors import Conflict, DomainRuleViolation, Forbidden, NotFound
from migradesk_shared.topics import ServiceArea

log = structlog.get_logger("migradesk.referral")

ACTOR_ROLES: dict[Role, ActorRole] = {Role.AGENCY: "agency", Role.STAFF: "staff", Role.ADMIN: "staff",
                                      Role.COORDINATOR: "staff"}
# Listing an inbox without a status reads its open referrals, one status at a time.
OPEN_STATUS_ORDER = sorted(OPEN_STATUSES, key=lambda s: s.value)


@dataclass(frozen=True)
class RouteRequest:
    """Route one attempt of a request: the first from RequestLogged, the next ones after a decline."""

    request: RequestToRoute
    causation_id: str  # the event (or the declined referral) that caused this routing
    attempt: int = 1
    declined_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class ActOnReferral:
    """Take one step of a referral's life, as the caller (an agency, the desk) or the system itself."""

    referral_id: str
    action: Action
    caller: Principal | None = None  # None: the system (its actor is `actor`)
    actor: str = "system"
    reason: str | None = None
    outcome: Outcome | None = None
    comment: str | None = None
    scheduled_for: datetime | None = None
    # The version the caller saw; a stale one is refused instead of overwriting someone else's step.
    expected_version: int | None = None


class PartnerResponseRefused(DomainRuleViolation):
    """A response from an agency's system that can never be applied (not its referral, not an agency's step, an
    illegal transition, a stale version): its message names what is wrong (the dead-letter reason)."""

    code = "partner_response_refused"


@dataclass(frozen=True)
class RouteManually:
    """The desk routes a referral that needs manual routing (no agency could take it) to an agency it chooses."""

    referral_id: str
    agency_id: str
    reason: str
    caller: Principal
    expected_version: int | None = None


@dataclass(frozen=True)
class Redirect:
    """The desk moves an open referral to another agency."""

    referral_id: str
    agency_id: str
    reason: str
    caller: Principal
    expected_version: int | None = None


@dataclass(frozen=True)
class ManualRoutingQueue:
    caller: Principal
    limit: int = 50
    cursor: str | None = None  # where the previous page ended (its next_cursor)


@dataclass(frozen=True)
class QueuePage:
    referrals: list[ReferralRecord]
    next_cursor: str | None  # None: the queue ends with this page


@dataclass(frozen=True)
class ListReferrals:
    caller: Principal | None
    agency_id: str | None = None
    case_id: str | None = None
    status: str | None = None
    limit: int = 100


@dataclass(frozen=True)
class ReferralDetail:
    referral: ReferralRecord
    person: PersonContact | None  # None when the person did not consent to sharing, or was erased


def visible_to(caller: Principal | None, referral: ReferralRecord) -> bool:
    """An agency sees only what is addressed to it; the desk sees every referral."""
    return caller is None or caller.role is not Role.AGENCY or referral.agency_id == caller.agency_id


def _require_desk(caller: Principal, doing: str) -> None:
    if caller.role not in DESK_ROLES:
        raise Forbidden(f"the {caller.role.value} role may not {doing}: it is a desk decision (staff, coordinator, "
                        "admin)", field="Authorization", action=doing)


def _require_admin(caller: Principal, doing: str) -> None:
    if caller.role is not Role.ADMIN:
        raise Forbidden(f"the {caller.role.value} role may not {doing}: the directory is kept by administrators",
                        field="Authorization", action=doing)


# Who may read an agency with its audit: administrators, and the coordination.
DIRECTORY_READERS = frozenset({Role.ADMIN, Role.COORDINATOR})
# The order a deactivation moves its agency's referrals in (one status at a time, on the (agency, status) index).
MOVE_ORDER = sorted(MOVED_ON_DEACTIVATION, key=lambda s: s.value)


def agency_fields(agency: Agency) -> dict[str, Any]:
    """An agency's details as plain values, in the shape of AgencyDetails.as_fields (what the audit compares)."""
    return {"name": agency.name, "type": agency.type, "areas": [a.value for a in agency.areas],
            "categories": list(agency.categories) if agency.categories is not None else None,
            "languages": list(agency.languages), "address": agency.address, "capacity": agency.capacity,
            "opening_hours": {day: list(hours) for day, hours in agency.opening_hours},
            "contact_email": agency.contact_email}


def _with_details(agency: Agency, details: AgencyDetails) -> Agency:
    return replace(agency, name=details.name, type=details.type.value, areas=details.areas,
                   categories=details.categories, languages=details.languages, address=details.address,
                   capacity=details.capacity, opening_hours=details.opening_hours,
                   contact_email=details.contact_email)


@dataclass(frozen=True)
class Deactivation:
    """What deactivating an agency did: the agency now, and its referrals that moved (to another agency, or to
    manual routing) or could not be moved this time (changed meanwhile again and again: deactivate again)."""

    agency: Agency
    rerouted: list[str]
    to_manual_routing: list[str]
    left: list[str]


def _encode_cursor(position: QueuePosition) -> str:
    raw = f"{position.created_at.isoformat()}|{position.referral_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> QueuePosition:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, referral_id = raw.split("|", 1)
        created_at = datetime.fromisoformat(at)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise DomainRuleViolation("not a cursor of the manual-routing queue; pass a page's next_cursor",
                                  field="cursor") from None
    if created_at.tzinfo is None or not referral_id:
        raise DomainRuleViolation("not a cursor of the manual-routing queue; pass a page's next_cursor",
                                  field="cursor")
    return QueuePosition(created_at, referral_id)


def _now() -> datetime:
    return datetime.now(UTC)


class NoticeSender(Protocol):
    """Sends one e-mail notice (raises, saying why, when the mail server refuses it or cannot be reached)."""

    async def send(self, notice: Notice, referral: ReferralRecord, agency_name: str | None) -> None: ...


class NoMailServer:
    """Where no mail server is configured: notices are recorded as not sent, so nothing is ever sent here."""

    async def send(self, notice: Notice, referral: ReferralRecord, agency_name: str | None) -> None:
        raise RuntimeError("no mail server is configured")


def _nothing() -> None:
    return None


class ReferralService:
    def __init__(self, referrals: ReferralRepository, *, clock: Callable[[], datetime] = _now,
                 on_declined: Callable[[], None] = _nothing, sla_policy: SlaPolicy = DEFAULT_POLICY,
                 mail: MailSetup = NO_MAIL, sender: NoticeSender | None = None) -> None:
        self.referrals = referrals
        self._clock = clock
        # Whom escalations are written to, and how the notices go out.
        self._mail = mail
        self._sender: NoticeSender = sender or NoMailServer()
        # How response deadlines are counted (the municipality's working hours and holidays), from the settings.
        self._sla_policy = sla_policy
        # Wakes the re-router, so a declined request goes on at once rather than at its next round.
        self._on_declined = on_declined

    # -- routing --------------------------------------------------------------------------------------------
    async def route(self, command: RouteRequest) -> str | None:
        """Store the referral of one routing attempt with its events; None if that attempt exists already
        (a redelivered event, or a re-run of re-routing)."""
        request = command.request
        decision = choose_agency(request.area, request.facets.language,
                                 await self.referrals.agencies_serving(request.area),
                                 declined_by=command.declined_by, category=request.category)
        referral = self._noticed(routed(request, decision, at=self._clock(), attempt=command.attempt,
                                        declined_by=command.declined_by, policy=self._sla_policy))
        if not await self.referrals.add(referral, mappers.routing_events(referral,
                                                                         causation_id=command.causation_id)):
            log.info("referral already exists for request", request_id=request.request_id,
                     referral_id=referral.referral_id)
            return None
        log.info("referral created", referral_id=referral.referral_id, case_id=request.case_id,
                 agency_id=referral.agency_id, status=referral.status.value, attempt=referral.attempt)
        return referral.referral_id

    async def route_logged_request(self, event: RequestLogged) -> str | None:
        if event.service_area is None:
            return None  # resolved at the desk itself; nothing to refer
        return await self.route(RouteRequest(mappers.request_to_route(event, event.service_area),
                                             causation_id=event.event_id))

    async def route_logged_requests(self, events: Sequence[RequestLogged]) -> list[str]:
        """Route a batch of logged requests: the directory is read once per area, the load each choice adds
        is counted before the next choice, and the referrals are stored in one command. The same referrals
        as routing the requests one by one (ids are deterministic, so a redelivered batch stores nothing)."""
        candidates: dict[ServiceArea, list[AgencyCandidate]] = {}
        routed_now: list[tuple[ReferralRecord, mappers.Events]] = []
        for event in events:
            if event.service_area is None:
                continue  # resolved at the desk itself; nothing to refer
            request = mappers.request_to_route(event, event.service_area)
            if request.area not in candidates:
                candidates[request.area] = await self.referrals.agencies_serving(request.area)
            decision = choose_agency(request.area, request.facets.language, candidates[request.area],
                                     category=request.category)
            referral = self._noticed(routed(request, decision, at=self._clock(), policy=self._sla_policy))
            routed_now.append((referral, mappers.routing_events(referral, causation_id=event.event_id,
                                                                trace=event.trace_headers)))
            if decision.agency_id is not None:
                candidates[request.area] = [replace(c, open_referrals=c.open_referrals + 1)
                                            if c.agency_id == decision.agency_id else c
                                            for c in candidates[request.area]]
        stored = await self.referrals.add_many(routed_now)
        log.info("referrals created", count=len(stored), skipped=len(routed_now) - len(stored))
        return stored

    def _noticed(self, referral: ReferralRecord) -> ReferralRecord:
        """A referral that fell to manual routing carries the desk's notice, stored in the same write."""
        if referral.status is not ReferralStatus.NEEDS_MANUAL_ROUTING:
            return referral
        return replace(referral, notices=(*referral.notices,
                                          *manual_routing_notices(at=referral.updated_at, setup=self._mail)))

    async def reroute_declined(self, limit: int = 50) -> int:
        """Send each newly declined request to the next eligible agency (or to manual routing). Idempotent: the
        next attempt's referral id is deterministic, so a crash between the two writes repeats nothing."""
        done = 0
        for declined in await self.referrals.awaiting_reroute(limit):
            attempt, declined_by = next_attempt(declined)
            await self.route(RouteRequest(declined.request, causation_id=declined.referral_id, attempt=attempt,
                                          declined_by=declined_by))
            await self.referrals.mark_rerouted(declined.referral_id,
                                               referral_id_for(declined.request.request_id, attempt))
            done += 1
        return done

    # -- the referral's life --------------------------------------------------------------------------------
    async def act(self, command: ActOnReferral) -> ReferralRecord:
        """Apply one lifecycle step: the new state, its history entry and its event in one write. A stale
        expected_version is a Conflict (409); an illegal transition an IllegalTransition (422) naming it."""
        before = await self.referrals.get(command.referral_id)
        if before is None or not visible_to(command.caller, before):
            raise NotFound(f"referral {command.referral_id} does not exist", field="referral_id")
        # Cancelling and reopening are desk decisions: an agency is refused (403) whatever the state.
        authorize(command.caller.role if command.caller else None, command.action)
        actor_role: ActorRole = ACTOR_ROLES[command.caller.role] if command.caller else "system"
        self._check_version(before, command.expected_version)
        step = Command(action=command.action, actor=command.caller.actor if command.caller else command.actor,
                       at=self._clock(), reason=command.reason, outcome=command.outcome, comment=command.comment,
                       scheduled_for=command.scheduled_for)
        after = take_action(before, step)
        await self.referrals.save_transition(before, after, mappers.lifecycle_events(after, step, actor_role))
        log.info("referral action", referral_id=after.referral_id, action=step.action.value,
                 status=after.status.value)
        if after.status is ReferralStatus.DECLINED:
            self._on_declined()
        return after

    async def respond(self, response: PartnerResponse) -> ReferralRecord:
        """Apply a response an agency's own system published on referral.partner-responses.v1: the same state
        machine, role rules and events as `act` on the API (actor role partner_system). Idempotent: a response
        already applied (its event id is stored with its step, in the same write) changes nothing. Anything that
        can never be applied is a PartnerResponseRefused naming what is wrong; a concurrent write (Conflict from
        the store) is worth retrying."""
        rid = response.referral_id
        before = await self.referrals.get(rid)
        if before is None:
            raise PartnerResponseRefused(f"referral {rid} does not exist", field="referral_id")
        if response.event_id in before.partner_responses:
            log.info("partner response already applied", referral_id=rid, event_id=response.event_id)
            return before
        if response.agency_id != before.agency_id:
            raise PartnerResponseRefused(
                f"agency {response.agency_id} is not the agency of referral {rid} "
                f"({before.agency_id or 'none: it needs manual routing'})", field="agency_id")
        try:
            # The API's role rules: an agency's system takes its agency's steps, never the desk's decisions.
            authorize(Role.AGENCY, response.action)
        except Forbidden as exc:
            raise PartnerResponseRefused(f"action not allowed to a partner system: {exc.message}",
                                         field="action") from exc
        if response.expected_version is not None and response.expected_version != before.version:
            raise PartnerResponseRefused(f"stale response: referral {rid} is at version {before.version}, not "
                                         f"{response.expected_version}", field="expected_version",
                                         current_version=before.version)
        # A decline carries its reason code alone (a missing one is refused below, as the machine refuses it); a
        # partner system's could-not-help reason may be any short text: the code goes out, the text stays here.
        reason, comment = (response.decline_reason.value if response.decline_reason is not None else None,
                           response.comment)
        if response.action is Action.COMPLETE and response.outcome is Outcome.COULD_NOT_HELP:
            reason, comment = could_not_help_reason(response.could_not_help_reason, response.comment)
        step = Command(action=response.action, actor=f"partner_system:{response.producer}@{response.agency_id}",
                       at=self._clock(), reason=reason, outcome=response.outcome, comment=comment,
                       scheduled_for=response.scheduled_for)
        try:
            after = take_action(before, step)
        except IllegalTransition as exc:
            raise PartnerResponseRefused(f"illegal transition: {exc.status.value} -> {exc.action.value} "
                                         f"({exc.message})", field="action", status=exc.status.value) from exc
        after = replace(after, partner_responses=(*before.partner_responses, response.event_id))
        # The same events as the API's step, caused by the response (its trace is the consumer's current one).
        events = [(spec, event.model_copy(update={"causation_id": response.event_id}))
                  for spec, event in mappers.lifecycle_events(after, step, "partner_system")]
        await self.referrals.save_transition(before, after, events)
        log.info("partner response applied", referral_id=rid, agency_id=response.agency_id,
                 action=step.action.value, status=after.status.value, event_id=response.event_id)
        if after.status is ReferralStatus.DECLINED:
            self._on_declined()
        return after

    @staticmethod
    def _check_version(before: ReferralRecord, expected_version: int | None) -> None:
        if expected_version is not None and expected_version != before.version:
            raise Conflict(f"referral {before.referral_id} is at version {before.version}, not "
                           f"{expected_version}; reload it and try again", field="expected_version",
                           current_version=before.version)

    # -- the desk's routing decisions -----------------------------------------------------------------------
    async def route_manually(self, command: RouteManually) -> ReferralRecord:
        """Route a referral that needs manual routing to the agency the desk chose (active, serving the
        request's area and category): pending there, with the events of a new addressing (ReferralCreated and
        the dispatch to the agency's area), as routing publishes them."""
        _require_desk(command.caller, "route a referral")
        return await self._readdress(command, manually=True)

    async def redirect(self, command: Redirect) -> ReferralRecord:
        """Move an open referral to another agency (a stale expected_version is a Conflict): it starts over,
        pending there, with the same events as a routing; its history keeps the move and its reason."""
        _require_desk(command.caller, "redirect a referral")
        return await self._readdress(command, manually=False)

    async def _readdress(self, command: RouteManually | Redirect, *, manually: bool) -> ReferralRecord:
        before = await self.referrals.get(command.referral_id)
        if before is None:
            raise NotFound(f"referral {command.referral_id} does not exist", field="referral_id")
        self._check_version(before, command.expected_version)
        agency = await self.referrals.agency(command.agency_id)
        if agency is None:
            raise NotFound(f"agency {command.agency_id} does not exist", field="agency_id")
        decide = routed_manually if manually else redirected
        after = decide(before, agency.candidate(), actor=command.caller.actor, at=self._clock(),
                       reason=command.reason, policy=self._sla_policy)
        # The events of a new addressing: intake's read model turns the referral pending at the new agency, and
        # the agency's dispatch topic receives it.
        await self.referrals.readdress(before, after, mappers.routing_events(after, causation_id=after.referral_id))
        log.info("referral routed by the desk", referral_id=after.referral_id, manually=manually,
                 from_agency=before.agency_id, agency_id=after.agency_id)
        return after

    async def manual_routing_queue(self, query: ManualRoutingQueue) -> QueuePage:
        """The referrals no agency could take, oldest first, a page at a time (next_cursor goes on)."""
        _require_desk(query.caller, "see the manual-routing queue")
        after = _decode_cursor(query.cursor) if query.cursor else None
        # One more than asked tells whether the queue goes on.
        found = await self.referrals.needing_manual_routing(query.limit + 1, after)
        page = found[:query.limit]
        more = len(found) > query.limit
        return QueuePage(page, _encode_cursor(QueuePosition(page[-1].created_at, page[-1].referral_id))
                         if more and page else None)

    async def flag_overdue(self, now: datetime | None = None, limit: int = 200) -> int:
        """Raise ReferralOverdue (escalated to the coordinator) once for each referral past its response SLA; the
        e-mail notices to its agency and the desk are stored pending in the same write (send_notices sends them)."""
        now = now or self._clock()
        flagged = 0
        addresses: dict[str, str] = {}
        for referral in await self.referrals.unanswered_past_deadline(now, limit):
            found = escalated(referral, now, self._sla_policy)
            if found is None:
                continue
            escalation, deadline = found
            agency_id = escalation.agency_id
            if agency_id is not None and agency_id not in addresses:
                agency = await self.referrals.agency(agency_id)
                addresses[agency_id] = agency.contact_email if agency else ""
            notices = overdue_notices(agency_id=agency_id, agency_address=addresses.get(agency_id or ""),
                                      deadline=deadline, at=now, setup=self._mail)
            escalation = replace(escalation, notices=(*escalation.notices, *notices))
            flagged += await self.referrals.mark_overdue(escalation, mappers.overdue_events(escalation, deadline, now),
                                                         notices)
        return flagged

    async def send_notices(self, now: datetime | None = None, limit: int = 50) -> int:
        """Send the pending e-mail notices due now; each is marked sent, or keeps the server's error and is tried
        again after a back-off. A notice is claimed before it is sent, so two processes never send it at once;
        one that died between sending and marking has it sent again once its claim lapses (never lost).
        How many were sent."""
        now = now or self._clock()
        names: dict[str, str] = {}
        done = 0
        for referral in await self.referrals.with_pending_notices(limit):
            for notice in referral.notices:
                if not notice.pending or notice.not_before > now:
                    continue
                if not await self.referrals.claim_notice(referral.referral_id, notice.notice_id, now=now,
                                                         until=now + CLAIM_FOR):
                    continue  # another process has it, or it was sent meanwhile
                agency_id = notice.agency_id or referral.agency_id
                if agency_id and agency_id not in names:
                    agency = await self.referrals.agency(agency_id)
                    names[agency_id] = agency.name if agency else agency_id
                try:
                    await self._sender.send(notice, referral, names.get(agency_id or ""))
                except Exception as exc:  # the server refused or is down: kept pending, with why
                    after = failed(notice, f"{type(exc).__name__}: {exc}", now)
                    await self.referrals.save_notice(referral.referral_id, after)
                    log.warning("notice not sent, will retry", referral_id=referral.referral_id,
                                notice_id=notice.notice_id, attempts=after.attempts, error=after.error)
                    continue
                await self.referrals.save_notice(referral.referral_id, sent(notice, self._clock()))
                log.info("notice sent", referral_id=referral.referral_id, notice_id=notice.notice_id,
                         kind=notice.kind.value, recipient=notice.recipient.value)
                done += 1
        return done

    async def escalations(self, query: EscalationsQuery) -> Escalations:
        """The desk's escalations: pending referrals past their response deadline, protection first, then the
        longest overdue; and a page of the referrals no agency took (the manual-routing queue). Each area is read
        on an index (status, overdue, area) only up to the end of the page asked plus one."""
        _require_desk(query.caller, "see the escalations")
        end = query.page * query.page_size
        urgent = await self.referrals.overdue_in_area(ServiceArea.PROTECTION, limit=end + 1)
        others: list[ReferralRecord] = []
        for area in ServiceArea:
            if area is not ServiceArea.PROTECTION:
                others += await self.referrals.overdue_in_area(area, limit=end + 1)
        found = urgent + sorted(others, key=lambda r: (r.response_due_at, r.referral_id))
        queue = await self.manual_routing_queue(ManualRoutingQueue(query.caller, limit=query.page_size,
                                                                   cursor=query.cursor))
        return Escalations(found[end - query.page_size:end], query.page, len(found) > end, queue)

    async def overdue_count(self, caller: Principal) -> int:
        """How many of the caller's agency's referrals wait past their deadline (0 for the desk)."""
        if caller.role is not Role.AGENCY or not caller.agency_id:
            return 0
        return await self.referrals.count_overdue(caller.agency_id)

    async def slip(self, referral_id: str, caller: Principal) -> tuple[ReferralDetail, Agency | None]:
        """What the person's referral slip shows: the referral (its person's name is an audited read, as any
        showing of their contact) and the agency it sends them to."""
        detail = await self.read_referral(referral_id, caller, channel="slip")
        agency_id = detail.referral.agency_id
        return detail, await self.referrals.agency(agency_id) if agency_id else None

    async def reconcile_load(self) -> int:
        """Recount each agency's open referrals (the counters routing balances on can drift after a crash)."""
        return await self.referrals.recount_open_referrals()

    # -- the local copies of shared profiles ----------------------------------------------------------------
    async def keep_person_profile(self, event: PersonProfileUpserted) -> None:
        """Keep the latest shared profile, and which cases it was shared with (a returning person has several)."""
        await self.referrals.keep_person(event.person_id, event.case_id, mappers.person_contact(event))

    async def keep_person_profiles(self, events: Sequence[PersonProfileUpserted]) -> None:
        """keep_person_profile for a batch, in order, in one store command per collection."""
        await self.referrals.keep_persons([(e.person_id, e.case_id, mappers.person_contact(e)) for e in events])

    async def erase_person(self, person_id: str) -> None:
        """A tombstone from intake: the person asked for erasure, so the local copy goes."""
        await self.referrals.erase_person(person_id)
        log.info("person copy erased", person_id=person_id)

    # -- what callers see -----------------------------------------------------------------------------------
    async def show(self, referral_id: str, caller: Principal | None) -> ReferralDetail:
        """One referral, with the person's contact when they consented to sharing it with the network."""
        referral = await self.referrals.get(referral_id)
        if referral is None or not visible_to(caller, referral):
            raise NotFound(f"referral {referral_id} does not exist", field="referral_id")
        return ReferralDetail(referral, await self.referrals.person_for_case(referral.case_id))

    async def list_referrals(self, query: ListReferrals) -> list[ReferralRecord]:
        """A case's referrals, or an inbox (an agency's, or every agency's): newest first."""
        agency_id = query.agency_id
        if query.caller is not None and query.caller.role is Role.AGENCY:
            # An agency sees only the referrals addressed to it.
            if agency_id and agency_id != query.caller.agency_id:
                raise Forbidden("an agency sees only its own referrals", field="agency_id")
            agency_id = query.caller.agency_id
        status: ReferralStatus | None = None
        if query.status:
            if query.status not in set(ReferralStatus):
                return []  # no referral is in a status that does not exist
            status = ReferralStatus(query.status)
        if query.case_id:
            found = await self.referrals.for_case(query.case_id, agency_id=agency_id, status=status)
        else:
            # Closed referrals are asked for by status, so an inbox never reads the agency's whole history.
            found = []
            for wanted in [status] if status else OPEN_STATUS_ORDER:
                found += await self.referrals.with_status(wanted, agency_id=agency_id, limit=query.limit)
        return sorted(found, key=lambda r: r.created_at, reverse=True)[:query.limit]

    async def directory(self) -> list[Agency]:
        return await self.referrals.directory()

    # -- the agency directory's administration ---------------------------------------------------------------
    async def agency_detail(self, agency_id: str, caller: Principal) -> Agency:
        """One agency with its audit (administrators and the coordination)."""
        if caller.role not in DIRECTORY_READERS:
            raise Forbidden(f"the {caller.role.value} role may not read the directory's audit",
                            field="Authorization")
        agency = await self.referrals.agency(agency_id)
        if agency is None:
            raise NotFound(f"agency {agency_id} does not exist", field="agency_id")
        return agency

    async def create_agency(self, caller: Principal, details: AgencyDetails, *, agency_id: str | None = None,
                            active: bool = True) -> Agency:
        """Add an agency to the directory (its id given, or made from its name), audited. A given id that is taken
        is a Conflict; a made one takes the next free suffix."""
        _require_admin(caller, "add an agency")
        at = self._clock()
        candidates = ([check_agency_id(agency_id)] if agency_id else
                      [agency_id_from(details.name)] + [f"{agency_id_from(details.name)}-{n}" for n in range(2, 50)])
        for wanted in candidates:
            agency = _with_details(Agency(agency_id=wanted, name="", type="", areas=(), active=active), details)
            change = AgencyChange(actor=caller.actor, at=at, action="created", version=1, changes={
                key: {"from": None, "to": value} for key, value in {**details.as_fields(), "active": active}.items()})
            if await self.referrals.create_agency(agency, change):
                log.info("agency created", agency_id=wanted, actor=caller.actor)
                created = await self.referrals.agency(wanted)
                assert created is not None
                return created
        raise Conflict(f"agency {candidates[0]} exists already", field="agency_id")

    async def edit_agency(self, caller: Principal, agency_id: str, details: AgencyDetails,
                          expected_version: int) -> Agency:
        """Replace an agency's details over the version the caller saw (stale: Conflict, 409), audited field by
        field. Nothing changed: nothing written."""
        _require_admin(caller, "edit an agency")
        before = await self._agency_at(agency_id, expected_version)
        changes = changed_fields(agency_fields(before), details.as_fields())
        if not changes:
            return before
        after = replace(_with_details(before, details), version=before.version + 1)
        await self.referrals.save_agency(before, after, AgencyChange(
            actor=caller.actor, at=self._clock(), action="edited", changes=changes, version=after.version))
        log.info("agency edited", agency_id=agency_id, actor=caller.actor, fields=sorted(changes))
        return await self._reloaded(agency_id)

    async def activate_agency(self, caller: Principal, agency_id: str,
                              expected_version: int | None = None) -> Agency:
        """Make an agency eligible for routing again (its former referrals stay where they went). Already
        active: nothing to do, whatever the version."""
        _require_admin(caller, "activate an agency")
        before = await self._agency(agency_id)
        if before.active:
            return before
        self._check_agency_version(before, expected_version)
        await self._set_active(caller, before, active=True)
        return await self._reloaded(agency_id)

    async def deactivate_agency(self, caller: Principal, agency_id: str,
                                expected_version: int | None = None) -> Deactivation:
        """Take an agency out of routing, then move its referrals whose person it has not served yet (pending,
        accepted, scheduled, no_show: MOVED_ON_DEACTIVATION) to the next eligible agency, as a routing chooses
        it, or to manual routing; each records "agency deactivated" in its history and publishes the events of a
        new addressing (ReferralCreated and the dispatch, or ReferralNeedsManualRouting). Idempotent: an agency
        inactive already is not written again (whatever the version), and only what is still there moves (so a
        repeat finishes what a crash or a concurrent step left)."""
        _require_admin(caller, "deactivate an agency")
        before = await self._agency(agency_id)
        if before.active:
            self._check_agency_version(before, expected_version)
            await self._set_active(caller, before, active=False)
        rerouted, manual, left = await self._move_referrals_off(agency_id, actor=caller.actor)
        log.info("agency deactivated", agency_id=agency_id, actor=caller.actor, rerouted=len(rerouted),
                 to_manual_routing=len(manual), left=len(left))
        return Deactivation(await self._reloaded(agency_id), rerouted, manual, left)

    async def _move_referrals_off(self, agency_id: str, *, actor: str) -> tuple[list[str], list[str], list[str]]:
        candidates: dict[ServiceArea, list[AgencyCandidate]] = {}
        rerouted: list[str] = []
        manual: list[str] = []
        left: list[str] = []
        for status in MOVE_ORDER:
            while True:
                # Those it could not move stay there: read past them.
                batch = [r for r in await self.referrals.with_status(status, agency_id=agency_id,
                                                                     limit=100 + len(left))
                         if r.referral_id not in left]
                if not batch:
                    break
                for record in batch:
                    area = record.request.area
                    if area not in candidates:
                        candidates[area] = [c for c in await self.referrals.agencies_serving(area)
                                            if c.agency_id != agency_id]
                    moved = await self._move_off(record, candidates[area], actor=actor)
                    if moved is None:
                        left.append(record.referral_id)
                    elif moved.agency_id is None:
                        manual.append(moved.referral_id)
                    else:
                        rerouted.append(moved.referral_id)
                        candidates[area] = [replace(c, open_referrals=c.open_referrals + 1)
                                            if c.agency_id == moved.agency_id else c for c in candidates[area]]
        return rerouted, manual, left

    async def _move_off(self, record: ReferralRecord, candidates: list[AgencyCandidate], *,
                        actor: str) -> ReferralRecord | None:
        """One referral moved off a deactivated agency; None if it kept changing meanwhile (or moved on)."""
        agency_id = record.agency_id
        for _ in range(3):
            if record.agency_id != agency_id or record.status not in MOVED_ON_DEACTIVATION:
                return None  # someone moved it or closed it meanwhile
            decision = choose_agency(record.request.area, record.request.facets.language, candidates,
                                     declined_by=record.declined_by, category=record.request.category)
            after = self._noticed(moved_off_deactivated(record, decision, actor=actor, at=self._clock(),
                                                        policy=self._sla_policy))
            try:
                await self.referrals.readdress(record, after,
                                               mappers.routing_events(after, causation_id=after.referral_id))
            except Conflict:
                reread = await self.referrals.get(record.referral_id)
                if reread is None:
                    return None
                record = reread
                continue
            return after
        return None

    async def _agency(self, agency_id: str) -> Agency:
        agency = await self.referrals.agency(agency_id)
        if agency is None:
            raise NotFound(f"agency {agency_id} does not exist", field="agency_id")
        return agency

    async def _reloaded(self, agency_id: str) -> Agency:
        return await self._agency(agency_id)

    async def _agency_at(self, agency_id: str, expected_version: int | None) -> Agency:
        agency = await self._agency(agency_id)
        self._check_agency_version(agency, expected_version)
        return agency

    @staticmethod
    def _check_agency_version(agency: Agency, expected_version: int | None) -> None:
        if expected_version is not None and expected_version != agency.version:
            raise Conflict(f"agency {agency.agency_id} is at version {agency.version}, not {expected_version}; "
                           "reload it and try again", field="expected_version", current_version=agency.version)

    async def _set_active(self, caller: Principal, before: Agency, *, active: bool) -> None:
        after = replace(before, active=active, version=before.version + 1)
        await self.referrals.save_agency(before, after, AgencyChange(
            actor=caller.actor, at=self._clock(), action="activated" if active else "deactivated",
            changes={"active": {"from": before.active, "to": active}}, version=after.version))

    # -- the agency inbox pages -----------------------------------------------------------------------------
    async def inbox(self, query: InboxQuery) -> InboxPage:
        """A page of an inbox, most urgent first: overdue first, then by response deadline. An agency sees only
        the referrals addressed to it; the desk every agency's (or one agency's). Without a status, the open
        ones. Read one status at a time on an index (agency and status), each only up to the end of the page
        asked plus one (which tells whether the inbox goes on)."""
        agency_id = query.agency_id
        if query.caller.role is Role.AGENCY:
            if agency_id and agency_id != query.caller.agency_id:
                raise Forbidden("an agency sees only its own referrals", field="agency_id")
            agency_id = query.caller.agency_id
        if query.status:
            if query.status not in set(ReferralStatus):
                return InboxPage([], query.page, has_next=False)  # no referral is in a status that does not exist
            statuses = [ReferralStatus(query.status)]
        else:
            statuses = OPEN_STATUS_ORDER
        end = query.page * query.page_size
        found: list[ReferralRecord] = []
        for status in statuses:
            found += await self.referrals.most_urgent(status, agency_id=agency_id, overdue_only=query.overdue_only,
                                                      limit=end + 1)
        found.sort(key=urgency)
        return InboxPage(found[end - query.page_size:end], query.page, has_next=len(found) > end)

    async def read_referral(self, referral_id: str, caller: Principal | None, *, channel: str) -> ReferralDetail:
        """`show`, audited: when the person's contact is shown, who was shown it, when and through which referral
        goes to the access log (ids only), whether through the API or a page."""
        detail = await self.show(referral_id, caller)
        if detail.person is not None:
            await self.referrals.record_contact_read(ContactRead(
                actor=caller.actor if caller else "system", referral_id=referral_id,
                case_id=detail.referral.case_id, at=self._clock(), channel=channel))
            log.info("person contact read", referral_id=referral_id, actor=caller.actor if caller else "system",
                     channel=channel)
        return detail


@dataclass(frozen=True)
class InboxQuery:
    """A page of an inbox: an agency's own (the caller's), or for the desk every agency's or one agency's."""

    caller: Principal
    agency_id: str | None = None
    status: str | None = None  # None: the open referrals
    overdue_only: bool = False
    page: int = 1
    page_size: int = 25


@dataclass(frozen=True)
class EscalationsQuery:
    caller: Principal
    page: int = 1  # of the overdue ones
    page_size: int = 25
    cursor: str | None = None  # of the manual-routing queue (its next_cursor)


@dataclass(frozen=True)
class Escalations:
    overdue: list[ReferralRecord]
    page: int
    has_next: bool
    needs_manual_routing: QueuePage


@dataclass(frozen=True)
class InboxPage:
    referrals: list[ReferralRecord]
    page: int
    has_next: bool


def urgency(referral: ReferralRecord) -> tuple[bool, datetime, str]:
    """The inbox's order: overdue first, then the earliest response deadline (then the id, for a stable order)."""
    return (not referral.overdue, referral.response_due_at, referral.referral_id)
