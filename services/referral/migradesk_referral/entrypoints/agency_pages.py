"""The agency directory's pages, for administrators (coordinators read them): the agencies, active and inactive;
a new agency's form; an agency's form over the version shown, with its deactivate/activate button and its audit.
A saved form comes back with a notice (a redirect); an edit over a version someone else saved first comes back as
409 with the agency as it is now and nothing of the edit saved; a refused field shows its error next to it.
Deactivating moves the agency's referrals not yet served to the next eligible agency (or to manual routing), as
the API does (ReferralService.deactivate_agency)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from migradesk_referral.domain.directory import (
    INVALID,
    MISSING,
    TOO_LONG,
    TOO_MANY,
    TOO_SMALL,
    UNKNOWN,
    WEEKDAYS,
    AgencyDetails,
    AgencyInvalid,
    AgencyType,
    check_details,
    parse_intervals,
)
from migradesk_referral.domain.routing import Agency
from migradesk_referral.entrypoints.pages import AREA_LABELS, CATEGORY_LABELS, PageError
from migradesk_referral.service import ReferralService
from migradesk_shared.auth import Role
from migradesk_shared.contracts.categories import CATEGORIES
from migradesk_shared.errors import Conflict, NotFound
from migradesk_shared.web.forms import FIELD_ERRORS
from migradesk_shared.web.i18n import N_
from migradesk_shared.web.names import is_language_code, language_names
from migradesk_shared.web.session import PageUser, page_user, submitted_fields
from migradesk_shared.web.templates import Pages

AGENCIES_PATH = "/agencies"

DirectoryUser = Annotated[PageUser, Depends(page_user(Role.ADMIN, Role.COORDINATOR))]
AdminUser = Annotated[PageUser, Depends(page_user(Role.ADMIN))]

TYPE_LABELS: dict[AgencyType, str] = {
    AgencyType.UBS: N_("UBS (primary health care unit)"),
    AgencyType.CRAS: N_("CRAS (social assistance reference centre)"),
    AgencyType.CREAS: N_("CREAS (specialised social assistance centre)"),
    AgencyType.SINE: N_("SINE (public employment service)"),
    AgencyType.SCHOOL: N_("School"),
    AgencyType.DEFENSORIA: N_("Public Defender's Office (Defensoria)"),
    AgencyType.CAPS: N_("CAPS (psychosocial care centre)"),
    AgencyType.CASA_DA_MULHER_BRASILEIRA: N_("Casa da Mulher Brasileira"),
    AgencyType.CONSELHO_TUTELAR: N_("Conselho Tutelar (child protection council)"),
    AgencyType.OTHER: N_("Other"),
}
WEEKDAY_LABELS: dict[str, str] = {
    "mon": N_("Monday"), "tue": N_("Tuesday"), "wed": N_("Wednesday"), "thu": N_("Thursday"),
    "fri": N_("Friday"), "sat": N_("Saturday"), "sun": N_("Sunday"),
}
AUDIT_ACTIONS: dict[str, str] = {
    "created": N_("Added"), "edited": N_("Edited"), "deactivated": N_("Deactivated"),
    "activated": N_("Activated"),
}
FIELD_LABELS: dict[str, str] = {
    "name": N_("Name"), "type": N_("Type"), "areas": N_("Service areas"), "categories": N_("Categories served"),
    "languages": N_("Languages"), "address": N_("Address"), "capacity": N_("Capacity (open referrals it can hold)"),
    "opening_hours": N_("Opening hours"), "active": N_("Active"),
    "contact_email": N_("E-mail for escalations"),
}
# The directory's problems, by field where one field has its own words, else by kind.
PROBLEMS: dict[str, str] = {
    MISSING: FIELD_ERRORS["missing"],
    TOO_LONG: FIELD_ERRORS["string_too_long"],
    TOO_MANY: FIELD_ERRORS["too_long"],
    UNKNOWN: FIELD_ERRORS["enum"],
    INVALID: FIELD_ERRORS["string_pattern_mismatch"],
}
FIELD_PROBLEMS: dict[tuple[str, str], str] = {
    ("capacity", TOO_SMALL): N_("The capacity is at least 1 open referral."),
    ("capacity", INVALID): FIELD_ERRORS["int_parsing"],
    ("capacity", TOO_LONG): N_("This number is too large."),
    ("areas", MISSING): N_("Choose at least one service area."),
    ("languages", MISSING): N_("Choose at least one language."),
    ("categories", INVALID): N_("Choose only categories of the service areas the agency serves."),
    ("opening_hours", INVALID): N_("Write the opening hours as 08:00-12:00, 13:00-17:00 (leave empty if closed)."),
    ("agency_id", INVALID): N_("Use lower-case letters, digits and hyphens only."),
    ("contact_email", INVALID): N_("Write an e-mail address, such as recepcao@example.org."),
    ("agency_id", "taken"): N_("Another agency already has this identifier."),
}
STALE = N_("Someone else changed this agency first; here it is as it is now. Nothing of yours was saved: check it "
           "and save again if you still need to.")
NOT_FOUND = N_("This agency does not exist.")
DONE_MESSAGES: dict[str, str] = {
    "created": N_("Agency added."),
    "saved": N_("Agency saved."),
    "activated": N_("Agency activated: routing sends requests to it again."),
}
DEACTIVATED = N_("Agency deactivated: %(rerouted)s referral(s) went on to other agencies, %(manual)s to manual "
                 "routing.")


@dataclass
class FormValues:
    """What the form shows: as entered, or the agency's own details."""

    agency_id: str = ""
    name: str = ""
    type: str = ""
    areas: Sequence[str] = ()
    categories: Sequence[str] = ()
    languages: Sequence[str] = ()
    address: str = ""
    capacity: str = ""
    hours: dict[str, str] | None = None
    contact_email: str = ""


def values_of(agency: Agency) -> FormValues:
    return FormValues(agency_id=agency.agency_id, name=agency.name, type=agency.type,
                      areas=[a.value for a in agency.areas], categories=list(agency.categories or ()),
                      languages=list(agency.languages), address=agency.address,
                      capacity=str(agency.capacity) if agency.capacity is not None else "",
                      hours={day: ", ".join(hours) for day, hours in agency.opening_hours},
                      contact_email=agency.contact_email)


def problem_message(field: str, problem: str) -> str:
    base = field.split(".", 1)[0]
    return FIELD_PROBLEMS.get((base, problem)) or PROBLEMS.get(problem) or PROBLEMS[INVALID]


def parse_form(fields: list[tuple[str, str]]) -> tuple[FormValues, AgencyDetails | None, dict[str, PageError]]:
    """A posted agency form -> what was entered, and the details or the errors next to their fields."""
    one = dict(fields)

    def many(name: str) -> list[str]:
        return [v for k, v in fields if k == name and v]

    entered = FormValues(agency_id=one.get("agency_id", "").strip(), name=one.get("name", ""),
                         type=one.get("type", ""), areas=many("areas"), categories=many("categories"),
                         languages=many("languages"), address=one.get("address", ""),
                         capacity=one.get("capacity", "").strip(),
                         hours={day: one.get(f"hours_{day}", "").strip() for day in WEEKDAYS},
                         contact_email=one.get("contact_email", "").strip())
    errors: dict[str, PageError] = {}
    hours: dict[str, list[str]] = {}
    for day, text in (entered.hours or {}).items():
        intervals = parse_intervals(text)
        if intervals is None:
            errors[f"opening_hours.{day}"] = PageError(problem_message("opening_hours", INVALID))
        else:
            hours[day] = intervals
    capacity: int | None = None
    if entered.capacity:
        try:
            capacity = int(entered.capacity)
        except ValueError:
            errors["capacity"] = PageError(problem_message("capacity", INVALID))
    try:
        details = check_details(name=entered.name, type=entered.type, areas=entered.areas,
                                categories=entered.categories, languages=entered.languages,
                                address=entered.address, capacity=capacity if "capacity" not in errors else 1,
                                opening_hours=hours, contact_email=entered.contact_email,
                                known_language=is_language_code)
    except AgencyInvalid as refused:
        for field, problem in refused.problems.items():
            errors.setdefault(field, PageError(problem_message(field, problem)))
        return entered, None, errors
    return entered, (details if not errors else None), errors


def _service(request: Request) -> ReferralService:
    return cast(ReferralService, request.app.state.service)


def build_agency_pages(pages: Pages) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    async def common(request: Request) -> dict[str, Any]:
        locale = (await pages.locale_of(request)).locale
        return {"language_names": dict(language_names(locale, pages.gettext(locale))),
                "type_labels": TYPE_LABELS, "area_labels": AREA_LABELS, "category_labels": CATEGORY_LABELS,
                "categories": [c for c in CATEGORIES.values() if c.area is not None],
                "weekdays": WEEKDAYS, "weekday_labels": WEEKDAY_LABELS, "audit_actions": AUDIT_ACTIONS,
                "field_labels": FIELD_LABELS, "tz": str(request.app.state.settings.timezone)}

    async def not_found(request: Request) -> HTMLResponse:
        return await pages.render(request, "not_found.html", {"reason": NOT_FOUND}, status_code=404)

    async def form_page(request: Request, user: PageUser, *, agency: Agency | None, values: FormValues,
                        errors: dict[str, PageError] | None = None, stale: PageError | None = None,
                        done: str | None = None, done_params: dict[str, Any] | None = None,
                        status_code: int = 200) -> HTMLResponse:
        return await pages.render(request, "agency.html", {
            **await common(request), "user": user, "agency": agency, "values": values, "errors": errors or {},
            "stale": stale, "done": done, "done_params": done_params or {},
            "can_edit": user.role is Role.ADMIN}, status_code=status_code)

    @router.get(AGENCIES_PATH, response_class=HTMLResponse)
    async def agencies(request: Request, user: DirectoryUser) -> HTMLResponse:
        directory = await _service(request).directory()
        return await pages.render(request, "agencies.html", {
            **await common(request), "user": user, "active": [a for a in directory if a.active],
            "inactive": [a for a in directory if not a.active], "can_edit": user.role is Role.ADMIN})

    @router.get(AGENCIES_PATH + "/new", response_class=HTMLResponse)
    async def new_agency(request: Request, user: AdminUser) -> HTMLResponse:
        return await form_page(request, user, agency=None, values=FormValues(languages=["pt"]))

    @router.post(AGENCIES_PATH + "/new", response_class=HTMLResponse)
    async def create(request: Request, user: AdminUser) -> Response:
        entered, details, errors = parse_form(await submitted_fields(request))
        if details is None:
            return await form_page(request, user, agency=None, values=entered, errors=errors, status_code=422)
        try:
            created = await _service(request).create_agency(user.principal, details,
                                                            agency_id=entered.agency_id or None)
        except AgencyInvalid as refused:
            errors = {f: PageError(problem_message(f, p)) for f, p in refused.problems.items()}
            return await form_page(request, user, agency=None, values=entered, errors=errors, status_code=422)
        except Conflict:
            return await form_page(request, user, agency=None, values=entered, status_code=409,
                                   errors={"agency_id": PageError(problem_message("agency_id", "taken"))})
        return RedirectResponse(f"{AGENCIES_PATH}/{created.agency_id}?done=created", status_code=303)

    @router.get(AGENCIES_PATH + "/{agency_id}", response_class=HTMLResponse)
    async def show(request: Request, agency_id: str, user: DirectoryUser) -> HTMLResponse:
        try:
            agency = await _service(request).agency_detail(agency_id, user.principal)
        except NotFound:
            return await not_found(request)
        params = request.query_params
        done = params.get("done", "")
        if done == "deactivated":
            return await form_page(request, user, agency=agency, values=values_of(agency), done=DEACTIVATED,
                                   done_params={"rerouted": _count(params.get("rerouted")),
                                                "manual": _count(params.get("manual"))})
        return await form_page(request, user, agency=agency, values=values_of(agency),
                               done=DONE_MESSAGES.get(done))

    @router.post(AGENCIES_PATH + "/{agency_id}", response_class=HTMLResponse)
    async def edit(request: Request, agency_id: str, user: AdminUser) -> Response:
        service = _service(request)
        fields = await submitted_fields(request)
        version = _version(dict(fields))
        try:
            agency = await service.agency_detail(agency_id, user.principal)
            entered, details, errors = parse_form(fields)
            entered.agency_id = agency_id
            if details is None:
                return await form_page(request, user, agency=agency, values=entered, errors=errors,
                                       status_code=422)
            try:
                await service.edit_agency(user.principal, agency_id, details, expected_version=version)
            except Conflict:
                now = await service.agency_detail(agency_id, user.principal)
                return await form_page(request, user, agency=now, values=values_of(now), stale=PageError(STALE),
                                       status_code=409)
        except NotFound:
            return await not_found(request)
        return RedirectResponse(f"{AGENCIES_PATH}/{agency_id}?done=saved", status_code=303)

    @router.post(AGENCIES_PATH + "/{agency_id}/deactivate", response_class=HTMLResponse)
    async def deactivate(request: Request, agency_id: str, user: AdminUser) -> Response:
        service = _service(request)
        version = _version(dict(await submitted_fields(request)))
        try:
            try:
                done = await service.deactivate_agency(user.principal, agency_id, expected_version=version)
            except Conflict:
                return await _stale(request, user, agency_id)
        except NotFound:
            return await not_found(request)
        query = urlencode({"done": "deactivated", "rerouted": len(done.rerouted),
                           "manual": len(done.to_manual_routing)})
        return RedirectResponse(f"{AGENCIES_PATH}/{agency_id}?{query}", status_code=303)

    @router.post(AGENCIES_PATH + "/{agency_id}/activate", response_class=HTMLResponse)
    async def activate(request: Request, agency_id: str, user: AdminUser) -> Response:
        service = _service(request)
        version = _version(dict(await submitted_fields(request)))
        try:
            try:
                await service.activate_agency(user.principal, agency_id, expected_version=version)
            except Conflict:
                return await _stale(request, user, agency_id)
        except NotFound:
            return await not_found(request)
        return RedirectResponse(f"{AGENCIES_PATH}/{agency_id}?done=activated", status_code=303)

    async def _stale(request: Request, user: PageUser, agency_id: str) -> HTMLResponse:
        now = await _service(request).agency_detail(agency_id, user.principal)
        return await form_page(request, user, agency=now, values=values_of(now), stale=PageError(STALE),
                               status_code=409)

    return router


def _version(form: dict[str, str]) -> int:
    try:
        return int(form.get("version", ""))
    except ValueError:
        return 0  # no version read: treated as stale, the page shows the agency now


def _count(text: str | None) -> int:
    try:
        return max(int(text or "0"), 0)
    except ValueError:
        return 0
