"""The desk's escalation pages and the person's referral slip.

`/inbox/escalations` (staff, coordinators, administrators): the referrals waiting past their response deadline,
protection first then the longest overdue, and those no agency took, each with its agency, its request, since
when it is overdue and who was written to about it, and when; each links to its page, where the desk redirects an
overdue one or routes by hand one no agency took (the API's redirect and route use cases).

`/inbox/referrals/{id}/slip` (the desk and the referral's agency): a page to print and hand to the person, in
their preferred language (the request's, as intake shares it) when the pages have it, else in the page's; the
`language` query parameter chooses another. It names the agency, its address and opening hours, the request,
the referral's id as a reference, and what to bring; of the person, only their name (when their profile is
shared with the network).
"""

from __future__ import annotations

from typing import Annotated, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from migradesk_referral.domain.what_to_bring import DOCUMENTS, documents_for
from migradesk_referral.entrypoints.agency_pages import WEEKDAY_LABELS
from migradesk_referral.entrypoints.pages import (
    AREA_LABELS,
    CATEGORY_LABELS,
    INBOX_PATH,
    MAX_PAGE,
    NOT_FOUND,
    NOTICE_ERRORS,
    NOTICE_KINDS,
    NOTICE_STATUS,
    PAGE_SIZE,
    RECIPIENTS,
    SLIP_ROLES,
    STATUS_LABELS,
)
from migradesk_referral.service import EscalationsQuery, ReferralService
from migradesk_shared.auth import Role
from migradesk_shared.errors import DomainRuleViolation, NotFound
from migradesk_shared.web.i18n import LANGUAGES, supported_locale
from migradesk_shared.web.session import PageUser, page_user
from migradesk_shared.web.templates import Pages

ESCALATIONS_PATH = INBOX_PATH + "/escalations"
SLIP_LANGUAGE = "language"

DeskUser = Annotated[PageUser, Depends(page_user(Role.STAFF, Role.COORDINATOR, Role.ADMIN))]
SlipUser = Annotated[PageUser, Depends(page_user(*SLIP_ROLES))]


def _service(request: Request) -> ReferralService:
    return cast(ReferralService, request.app.state.service)


def slip_locale(asked: str | None, preferred: str, page_locale: str) -> str:
    """The slip's language: the one asked for, else the person's preferred one if the pages have it, else the
    page's."""
    return supported_locale(asked) or supported_locale(preferred) or page_locale


def build_escalation_pages(pages: Pages) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get(ESCALATIONS_PATH, response_class=HTMLResponse)
    async def escalations(request: Request, user: DeskUser) -> HTMLResponse:
        params = request.query_params
        try:
            page = min(max(int(params.get("page", "1")), 1), MAX_PAGE)
        except ValueError:
            page = 1
        cursor = params.get("cursor") or None
        service = _service(request)
        try:
            found = await service.escalations(EscalationsQuery(user.principal, page=page, page_size=PAGE_SIZE,
                                                               cursor=cursor))
        except DomainRuleViolation:  # a cursor that is none of the queue's: its first page
            found = await service.escalations(EscalationsQuery(user.principal, page=page, page_size=PAGE_SIZE))
        agencies = {a.agency_id: a.name for a in await service.directory()}
        queue = found.needs_manual_routing
        return await pages.render(request, "escalations.html", {
            "user": user, "found": found, "agencies": agencies, "area_labels": AREA_LABELS,
            "category_labels": CATEGORY_LABELS, "status_labels": STATUS_LABELS, "notice_kinds": NOTICE_KINDS,
            "recipients": RECIPIENTS, "notice_status": NOTICE_STATUS, "notice_errors": NOTICE_ERRORS,
            "tz": str(request.app.state.settings.timezone),
            "next_url": f"{ESCALATIONS_PATH}?" + urlencode({"page": page + 1})
            if found.has_next and page < MAX_PAGE else None,
            "previous_url": f"{ESCALATIONS_PATH}?" + urlencode({"page": page - 1}) if page > 1 else None,
            "queue_next_url": f"{ESCALATIONS_PATH}?" + urlencode({"cursor": queue.next_cursor})
            if queue.next_cursor else None,
        })

    @router.get(INBOX_PATH + "/referrals/{referral_id}/slip", response_class=HTMLResponse)
    async def slip(request: Request, referral_id: str, user: SlipUser) -> HTMLResponse:
        try:
            detail, agency = await _service(request).slip(referral_id, user.principal)
        except NotFound:
            return await pages.render(request, "not_found.html", {"reason": NOT_FOUND}, status_code=404)
        referral = detail.referral
        page_locale = (await pages.locale_of(request)).locale
        locale = slip_locale(request.query_params.get(SLIP_LANGUAGE), referral.request.facets.language,
                             page_locale)
        tz = str(request.app.state.settings.timezone)
        # The slip itself in the person's language; the page around it (header, buttons) in the reader's.
        body = pages.environment(locale).get_template("slip_body.html").render(
            referral=referral, agency=agency, person=detail.person, documents=DOCUMENTS,
            to_bring=documents_for(referral.request.category), area_labels=AREA_LABELS,
            category_labels=CATEGORY_LABELS, weekday_labels=WEEKDAY_LABELS, tz=tz)
        # Markup: `body` is the output of an autoescaping template, not text from anyone.
        return await pages.render(request, "slip.html", {
            "user": user, "referral": referral, "slip": Markup(body), "slip_locale": locale,  # noqa: S704
            "slip_languages": [{"code": lang.code, "tag": lang.tag, "name": lang.name,
                                "href": "?" + urlencode({SLIP_LANGUAGE: lang.tag})} for lang in LANGUAGES],
        })

    return router
