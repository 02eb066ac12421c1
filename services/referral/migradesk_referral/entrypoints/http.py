"""Referral's HTTP routes: the agencies' inbox and the desk's view of referrals. Each route parses its input into
a command, calls one use case and renders the result."""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Body, Depends, Query, Request

from migradesk_referral.adapters.views import agency_view, person_view, referral_view
from migradesk_referral.domain.directory import AgencyDetails, check_details
from migradesk_referral.entrypoints.schemas import (
    AgencyEditIn,
    AgencyIn,
    AgencyStateIn,
    NewAgencyIn,
    RedirectIn,
    ReferralActionIn,
    RouteIn,
)
from migradesk_referral.service import (
    ActOnReferral,
    EscalationsQuery,
    ListReferrals,
    ManualRoutingQueue,
    Redirect,
    ReferralService,
    RouteManually,
)
from migradesk_shared.auth import Principal, Role, requires
from migradesk_shared.http import API_ERROR_RESPONSES
from migradesk_shared.web.names import is_language_code


def _service(request: Request) -> ReferralService:
    return cast(ReferralService, request.app.state.service)


# Who may work on referrals: the agency they are addressed to, and the desk.
Inbox = Annotated[Principal, Depends(requires(Role.AGENCY, Role.STAFF, Role.ADMIN))]
# Who may take a step: those, and the coordinator (cancel and reopen only: the use case checks each action).
Acting = Annotated[Principal, Depends(requires(Role.AGENCY, Role.STAFF, Role.COORDINATOR, Role.ADMIN))]
# Who makes the desk's routing decisions (route by hand, redirect) and works the manual-routing queue.
Desk = Annotated[Principal, Depends(requires(Role.STAFF, Role.COORDINATOR, Role.ADMIN))]
# Who keeps the agency directory; and who may also read an agency's audit.
Admin = Annotated[Principal, Depends(requires(Role.ADMIN))]
DirectoryReader = Annotated[Principal, Depends(requires(Role.ADMIN, Role.COORDINATOR))]
AnyRole = Annotated[Principal, Depends(requires(*Role))]
Referrals = Annotated[ReferralService, Depends(_service)]


def details_of(payload: AgencyIn) -> AgencyDetails:
    """The payload checked against the directory's rules (AgencyInvalid, 422, naming the fields)."""
    return check_details(name=payload.name, type=payload.type, areas=payload.areas, categories=payload.categories,
                         languages=payload.languages, address=payload.address, capacity=payload.capacity,
                         opening_hours=payload.opening_hours, contact_email=payload.contact_email,
                         known_language=is_language_code)


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api", responses=API_ERROR_RESPONSES)

    @router.get("/referrals")
    async def list_referrals(caller: Inbox, referrals: Referrals,
                             agency_id: Annotated[str | None, Query(max_length=100)] = None,
                             case_id: Annotated[str | None, Query(max_length=64)] = None,
                             status: Annotated[str | None, Query(max_length=40)] = None,
                             limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
        found = await referrals.list_referrals(ListReferrals(caller=caller, agency_id=agency_id, case_id=case_id,
                                                            status=status, limit=limit))
        return {"referrals": [referral_view(r, caller.role) for r in found]}

    # Declared before /referrals/{referral_id}, which would take "manual-routing" for an id.
    @router.get("/referrals/manual-routing")
    async def manual_routing_queue(caller: Desk, referrals: Referrals,
                                   limit: Annotated[int, Query(ge=1, le=200)] = 50,
                                   cursor: Annotated[str | None, Query(max_length=400)] = None) -> dict[str, Any]:
        """The requests no agency could take (needs_manual_routing), oldest first; pass next_cursor for the
        next page (null: the queue ends there)."""
        page = await referrals.manual_routing_queue(ManualRoutingQueue(caller, limit=limit, cursor=cursor))
        return {"referrals": [referral_view(r, caller.role) for r in page.referrals],
                "next_cursor": page.next_cursor}

    @router.get("/referrals/escalations")
    async def escalations(caller: Desk, referrals: Referrals, page: Annotated[int, Query(ge=1, le=40)] = 1,
                          page_size: Annotated[int, Query(ge=1, le=100)] = 25,
                          cursor: Annotated[str | None, Query(max_length=400)] = None) -> dict[str, Any]:
        """The desk's escalations: `overdue`, pending referrals past their response deadline (protection first,
        then the longest overdue; `has_next`: pass page + 1), and `needs_manual_routing`, the requests no agency
        took (oldest first; pass next_cursor as cursor). Each with the notices sent about it."""
        found = await referrals.escalations(EscalationsQuery(caller, page=page, page_size=page_size, cursor=cursor))
        return {"overdue": [referral_view(r, caller.role) for r in found.overdue], "page": found.page,
                "has_next": found.has_next,
                "needs_manual_routing": [referral_view(r, caller.role) for r in found.needs_manual_routing.referrals],
                "next_cursor": found.needs_manual_routing.next_cursor}

    @router.get("/referrals/{referral_id}")
    async def get_referral(referral_id: str, caller: Inbox, referrals: Referrals) -> dict[str, Any]:
        """One referral, with the person's contact when they consented to sharing it with the network (an
        audited read)."""
        detail = await referrals.read_referral(referral_id, caller, channel="api")  # audited
        return {**referral_view(detail.referral, caller.role), "person": person_view(detail.person)}

    @router.post("/referrals/{referral_id}/actions")
    async def act_on_referral(referral_id: str, payload: ReferralActionIn, caller: Acting,
                              referrals: Referrals) -> dict[str, Any]:
        after = await referrals.act(ActOnReferral(
            referral_id=referral_id, action=payload.action, caller=caller, reason=payload.reason,
            outcome=payload.outcome, comment=payload.comment, scheduled_for=payload.scheduled_for,
            expected_version=payload.expected_version))
        return referral_view(after, caller.role)

    @router.post("/referrals/{referral_id}/route")
    async def route_referral(referral_id: str, payload: RouteIn, caller: Desk,
                             referrals: Referrals) -> dict[str, Any]:
        """Route a referral that needs manual routing to an active agency serving its area."""
        after = await referrals.route_manually(RouteManually(
            referral_id=referral_id, agency_id=payload.agency_id, reason=payload.reason, caller=caller,
            expected_version=payload.expected_version))
        return referral_view(after, caller.role)

    @router.post("/referrals/{referral_id}/redirect")
    async def redirect_referral(referral_id: str, payload: RedirectIn, caller: Desk,
                                referrals: Referrals) -> dict[str, Any]:
        """Move an open referral to another agency (409 on a stale expected_version)."""
        after = await referrals.redirect(Redirect(
            referral_id=referral_id, agency_id=payload.agency_id, reason=payload.reason, caller=caller,
            expected_version=payload.expected_version))
        return referral_view(after, caller.role)

    @router.get("/agencies")
    async def list_agencies(caller: AnyRole, referrals: Referrals) -> dict[str, Any]:
        return {"agencies": [agency_view(a) for a in await referrals.directory()]}

    @router.get("/audit/verification")
    async def access_log_verification(caller: Admin, referrals: Referrals) -> dict[str, Any]:
        """Every record of the access log (who was shown whose contact) checked against its chain: `intact`, or
        the problems found (a record changed or missing, a head no record matches)."""
        found = await referrals.referrals.verify_access_log()
        return {"intact": found.intact, "records": found.records, "chains": len(found.chains),
                "problems": found.problems}

    @router.post("/agencies", status_code=201)
    async def create_agency(payload: NewAgencyIn, caller: Admin, referrals: Referrals) -> dict[str, Any]:
        """Add an agency (422 naming the field in error; 409 if the given agency_id is taken)."""
        created = await referrals.create_agency(caller, details_of(payload), agency_id=payload.agency_id,
                                                active=payload.active)
        return agency_view(created, with_audit=True)

    @router.get("/agencies/{agency_id}")
    async def get_agency(agency_id: str, caller: DirectoryReader, referrals: Referrals) -> dict[str, Any]:
        """One agency with its version and audit (administrators and coordinators)."""
        return agency_view(await referrals.agency_detail(agency_id, caller), with_audit=True)

    @router.put("/agencies/{agency_id}")
    async def edit_agency(agency_id: str, payload: AgencyEditIn, caller: Admin,
                          referrals: Referrals) -> dict[str, Any]:
        """Replace an agency's details over expected_version (409 when stale)."""
        edited = await referrals.edit_agency(caller, agency_id, details_of(payload), payload.expected_version)
        return agency_view(edited, with_audit=True)

    @router.post("/agencies/{agency_id}/deactivate")
    async def deactivate_agency(agency_id: str, caller: Admin, referrals: Referrals,
                                payload: Annotated[AgencyStateIn | None, Body()] = None) -> dict[str, Any]:
        """Take the agency out of routing and move its pending, accepted, scheduled and no-show referrals to the
        next eligible agency (or to manual routing). Repeating it is harmless."""
        done = await referrals.deactivate_agency(caller, agency_id,
                                                 payload.expected_version if payload else None)
        return {**agency_view(done.agency, with_audit=True), "rerouted": done.rerouted,
                "to_manual_routing": done.to_manual_routing, "not_moved": done.left}

    @router.post("/agencies/{agency_id}/activate")
    async def activate_agency(agency_id: str, caller: Admin, referrals: Referrals,
                              payload: Annotated[AgencyStateIn | None, Body()] = None) -> dict[str, Any]:
        activated = await referrals.activate_agency(caller, agency_id, payload.expected_version if payload else None)
        return agency_view(activated, with_audit=True)

    return router
