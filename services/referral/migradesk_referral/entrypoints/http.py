"""Referral's HTTP routes: the agencies' inbox and the desk's view of referrals. Each route parses its input into
a command, calls one use case and renders the result."""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Query, Request

from migradesk_referral.adapters.views import agency_view, person_view, referral_view
from migradesk_referral.entrypoints.schemas import ReferralActionIn
from migradesk_referral.service import ActOnReferral, ListReferrals, ReferralService
from migradesk_shared.auth import Principal, Role, requires


def _service(request: Request) -> ReferralService:
    return cast(ReferralService, request.app.state.service)


# Who may work on referrals: the agency they are addressed to, and the desk.
Inbox = Annotated[Principal, Depends(requires(Role.AGENCY, Role.STAFF, Role.ADMIN))]
AnyRole = Annotated[Principal, Depends(requires(*Role))]
Referrals = Annotated[ReferralService, Depends(_service)]


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api")

    @router.get("/referrals")
    async def list_referrals(caller: Inbox, referrals: Referrals,
                             agency_id: Annotated[str | None, Query(max_length=100)] = None,
                             case_id: Annotated[str | None, Query(max_length=64)] = None,
                             status: Annotated[str | None, Query(max_length=40)] = None,
                             limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
        found = await referrals.list_referrals(ListReferrals(caller=caller, agency_id=agency_id, case_id=case_id,
                                                            status=status, limit=limit))
        return {"referrals": [referral_view(r) for r in found]}

    @router.get("/referrals/{referral_id}")
    async def get_referral(referral_id: str, caller: Inbox, referrals: Referrals) -> dict[str, Any]:
        """One referral, with the person's contact when they consented to sharing it with the network."""
        detail = await referrals.show(referral_id, caller)
        return {**referral_view(detail.referral), "person": person_view(detail.person)}

    @router.post("/referrals/{referral_id}/actions")
    async def act_on_referral(referral_id: str, payload: ReferralActionIn, caller: Inbox,
                              referrals: Referrals) -> dict[str, Any]:
        after = await referrals.act(ActOnReferral(
            referral_id=referral_id, action=payload.action, caller=caller, reason=payload.reason,
            outcome=payload.outcome, comment=payload.comment, scheduled_for=payload.scheduled_for,
            expected_version=payload.expected_version))
        return referral_view(after)

    @router.get("/agencies")
    async def list_agencies(caller: AnyRole, referrals: Referrals) -> dict[str, Any]:
        return {"agencies": [agency_view(a) for a in await referrals.directory()]}

    return router
