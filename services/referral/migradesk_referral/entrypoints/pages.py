"""The agencies' inbox pages, rendered on the server in the language of the request: the referrals addressed to the
signed-in agency, most urgent first, and one referral with the person's contact (where they consented to sharing
it), its history, its response deadline and the steps the caller's role may take next, each a form over the
version shown. A step taken comes back with a notice (a redirect); a step someone else took first comes back as
"someone else acted first; here is its state now" (409), never applied over theirs; a refused step comes back
with the error next to its field.

People sign in on intake's page (the `accounts_url` setting): the session cookie intake sets is checked here
alone, with the deployment's secret (migradesk_shared.web.session)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, cast
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from migradesk_referral.domain.notifications import NO_ADDRESS, NO_MAIL_SERVER, NoticeKind, NoticeStatus, Recipient
from migradesk_referral.domain.record import ReferralRecord
from migradesk_referral.domain.referral import COULD_NOT_HELP_DESCRIBED, DESK_ROLES, OPEN_STATUSES, allowed_actions
from migradesk_referral.domain.routing import Agency
from migradesk_referral.service import ActOnReferral, InboxQuery, Redirect, ReferralService, RouteManually
from migradesk_shared.auth import Role
from migradesk_shared.contracts.vocabulary import Action, DeclineReason, Outcome, ReferralStatus, ServiceArea
from migradesk_shared.errors import Conflict, DomainRuleViolation, Forbidden, NotFound
from migradesk_shared.web.forms import FIELD_ERRORS
from migradesk_shared.web.i18n import N_
from migradesk_shared.web.names import language_names
from migradesk_shared.web.session import PageUser, page_user, session_language, submitted_form
from migradesk_shared.web.templates import AccountLanguage, Pages

PACKAGE = Path(__file__).resolve().parents[1]
TEMPLATES = PACKAGE / "templates"
LOCALE_DIR = PACKAGE / "locale"

INBOX_PATH = "/inbox"
PAGE_SIZE = 25
# Deeper than this, filter instead: each page reads every status up to its end.
MAX_PAGE = 40

# Who prints a person's referral slip: the desk that sends them, and the agency that receives them.
SLIP_ROLES = (Role.AGENCY, Role.STAFF, Role.ADMIN)
# The agency, the desk (which may record an agency's step for it) and the coordination (cancel, reopen).
InboxUser = Annotated[PageUser, Depends(page_user(Role.AGENCY, Role.STAFF, Role.COORDINATOR, Role.ADMIN))]

# The same words as the desk's case page (intake's catalog has them too).
STATUS_LABELS: dict[ReferralStatus, str] = {
    ReferralStatus.PENDING: N_("Waiting for the agency"),
    ReferralStatus.ACCEPTED: N_("Accepted by the agency"),
    ReferralStatus.SCHEDULED: N_("Appointment scheduled"),
    ReferralStatus.ATTENDED: N_("Attended"),
    ReferralStatus.NO_SHOW: N_("Did not come to the appointment"),
    ReferralStatus.DECLINED: N_("Declined by the agency"),
    ReferralStatus.COMPLETED: N_("Completed"),
    ReferralStatus.CANCELLED: N_("Cancelled"),
    ReferralStatus.UNABLE_TO_CONTACT: N_("The agency could not reach the person"),
    ReferralStatus.NEEDS_MANUAL_ROUTING: N_("No agency found: the coordination routes it"),
}
AREA_LABELS: dict[ServiceArea, str] = {
    ServiceArea.HEALTH: N_("Health"),
    ServiceArea.EDUCATION: N_("Education"),
    ServiceArea.SOCIAL_ASSISTANCE: N_("Social assistance"),
    ServiceArea.WORK: N_("Work"),
    ServiceArea.PROTECTION: N_("Protection"),
}
# The request categories as the desk names them (shared/…/contracts/categories.py holds the codes); a category
# without a name here shows its code.
CATEGORY_LABELS: dict[str, str] = {
    "sus_card": N_("SUS card (Cartão SUS)"),
    "primary_care": N_("Primary care"),
    "mental_health": N_("Mental health"),
    "maternal_care": N_("Maternal care / prenatal care"),
    "vaccination": N_("Vaccination"),
    "school_enrolment": N_("School enrolment"),
    "portuguese_course": N_("Portuguese course"),
    "diploma_revalidation": N_("Diploma revalidation"),
    "adult_education": N_("Youth and adult education (EJA)"),
    "cadunico": N_("Cadastro Único (social programmes register)"),
    "bolsa_familia": N_("Bolsa Família (family allowance)"),
    "bpc": N_("Continuous cash benefit (BPC)"),
    "shelter": N_("Shelter"),
    "food_support": N_("Food support"),
    "rent_support": N_("Rent support"),
    "job_placement": N_("Job placement"),
    "ctps_digital": N_("Digital work card (CTPS Digital)"),
    "vocational_training": N_("Vocational training"),
    "mei": N_("Individual micro-entrepreneur (MEI)"),
    "gender_violence": N_("Gender-based violence"),
    "lgbtqia_phobia": N_("LGBTQIA+phobia"),
    "racism_xenophobia": N_("Racism / xenophobia"),
    "trafficking": N_("Human trafficking"),
    "child_protection": N_("Protection of children and adolescents"),
    "documentation": N_("Documents (CPF, RNM/CRNM, protocol)"),
    "legal_orientation": N_("Legal / migration guidance"),
    "daycare": N_("Daycare / early childhood education place"),
    "housing": N_("Housing (housing programmes)"),
    "labour_exploitation": N_("Slave-like labour / labour exploitation"),
    "legal_aid": N_("Free legal aid (Public Defender's Office)"),
    "migratory_regularisation": N_("Migratory regularisation (residence authorisation, refuge)"),
    "family_reunification": N_("Family reunification"),
    "civil_registry": N_("Civil registry (birth, marriage, death certificates)"),
    "interpretation": N_("Interpreting / translation"),
}
# Each step: its form's heading and its button.
ACTION_TITLES: dict[Action, str] = {
    Action.ACCEPT: N_("Accept the referral"),
    Action.DECLINE: N_("Decline the referral"),
    Action.SCHEDULE: N_("Schedule an appointment"),
    Action.ATTEND: N_("The person came to the appointment"),
    Action.NO_SHOW: N_("The person did not come to the appointment"),
    Action.COMPLETE: N_("Complete the referral"),
    Action.UNABLE_TO_CONTACT: N_("The person could not be reached"),
    Action.CANCEL: N_("Cancel the referral"),
    Action.REOPEN: N_("Reopen the referral"),
}
ACTION_BUTTONS: dict[Action, str] = {
    Action.ACCEPT: N_("Accept"),
    Action.DECLINE: N_("Decline"),
    Action.SCHEDULE: N_("Schedule"),
    Action.ATTEND: N_("Record attendance"),
    Action.NO_SHOW: N_("Record the absence"),
    Action.COMPLETE: N_("Complete"),
    Action.UNABLE_TO_CONTACT: N_("Record that the person could not be reached"),
    Action.CANCEL: N_("Cancel the referral"),
    Action.REOPEN: N_("Reopen"),
}
# What each step was called in the history.
ACTION_DONE: dict[Action, str] = {
    Action.ACCEPT: N_("Accepted"),
    Action.DECLINE: N_("Declined"),
    Action.SCHEDULE: N_("Appointment scheduled"),
    Action.ATTEND: N_("Attended"),
    Action.NO_SHOW: N_("Did not come to the appointment"),
    Action.COMPLETE: N_("Completed"),
    Action.UNABLE_TO_CONTACT: N_("The person could not be reached"),
    Action.CANCEL: N_("Cancelled"),
    Action.REOPEN: N_("Reopened"),
}
DECLINE_REASON_LABELS: dict[DeclineReason, str] = {
    DeclineReason.NO_CAPACITY: N_("No capacity to take it now"),
    DeclineReason.OUT_OF_SCOPE: N_("Not a service this agency offers"),
    DeclineReason.MISSING_DOCUMENTS: N_("Documents the service requires are missing"),
    DeclineReason.OUT_OF_TERRITORY: N_("The person lives outside this agency's territory"),
    DeclineReason.OTHER: N_("Another reason (say which in the comment)"),
}
OUTCOME_LABELS: dict[Outcome, str] = {
    Outcome.GOT_HELP: N_("The person got the help they needed"),
    Outcome.COULD_NOT_HELP: N_("The agency could not help"),
}
# Which fields each step's form has (every one has a comment).
ACTION_FIELDS: dict[Action, tuple[str, ...]] = {
    Action.DECLINE: ("reason", "comment"),
    Action.SCHEDULE: ("scheduled_for", "comment"),
    Action.COMPLETE: ("outcome", "reason", "comment"),
}
# Steps whose comment is required (the machine wants a reason or a comment, or a comment for the audit trail).
COMMENT_REQUIRED = frozenset({Action.UNABLE_TO_CONTACT, Action.CANCEL, Action.REOPEN})
FORM_ORDER = (Action.ACCEPT, Action.SCHEDULE, Action.ATTEND, Action.NO_SHOW, Action.COMPLETE, Action.DECLINE,
              Action.UNABLE_TO_CONTACT, Action.CANCEL, Action.REOPEN)

DONE_MESSAGES: dict[str, str] = {
    Action.ACCEPT: N_("Referral accepted."),
    Action.DECLINE: N_("Referral declined: the request goes on to another agency."),
    Action.SCHEDULE: N_("Appointment scheduled."),
    Action.ATTEND: N_("Attendance recorded."),
    Action.NO_SHOW: N_("Absence recorded."),
    Action.COMPLETE: N_("Referral completed."),
    Action.UNABLE_TO_CONTACT: N_("Recorded: the person could not be reached."),
    Action.CANCEL: N_("Referral cancelled."),
    Action.REOPEN: N_("Referral reopened."),
}
STALE = N_("Someone else acted on this referral first; here is its state now. Nothing of yours was saved: check "
           "it below and act again if you still need to.")
CHOOSE_A_REASON = N_("Choose why the referral is declined.")
CHOOSE_AN_OUTCOME = N_("Choose the outcome.")
SAY_WHY_NOT_HELPED = N_("Say why the agency could not help.")
ENTER_DATE_TIME = N_("Enter the date and time of the appointment.")
NOT_IN_THE_PAST = N_("The appointment cannot be in the past.")
WRITE_A_COMMENT = N_("Write a comment: it stays in the referral's history.")
NOT_ANY_MORE = N_("This step cannot be taken on the referral as it is now: here is its state.")
NOT_YOUR_ROLE = N_("Your role does not take this step.")
NOT_FOUND = N_("This referral does not exist, or it is not addressed to your agency.")
UNKNOWN_STATUS = N_("Choose one of the options.")
TOO_LONG = FIELD_ERRORS["string_too_long"]

REASON_MAX, COMMENT_MAX = 200, 2000

# The e-mail notices of escalations, as the pages list them.
NOTICE_KINDS: dict[NoticeKind, str] = {
    NoticeKind.OVERDUE: N_("Waiting past its deadline"),
    NoticeKind.NEEDS_MANUAL_ROUTING: N_("No agency could take it"),
}
RECIPIENTS: dict[Recipient, str] = {
    Recipient.AGENCY: N_("The agency"),
    Recipient.DESK: N_("The desk"),
}
NOTICE_STATUS: dict[NoticeStatus, str] = {
    NoticeStatus.PENDING: N_("Not sent yet"),
    NoticeStatus.SENT: N_("Sent"),
    NoticeStatus.NOT_SENT: N_("Not sent"),
}
NOTICE_ERRORS: dict[str, str] = {
    NO_MAIL_SERVER: N_("no mail server is configured"),
    NO_ADDRESS: N_("no e-mail address is recorded for it"),
}
# The desk's routing decisions on a referral's page: route by hand one no agency took, redirect an open one.
ROUTE, REDIRECT = "route", "redirect"
ROUTING_TITLES: dict[str, str] = {ROUTE: N_("Route to an agency"), REDIRECT: N_("Redirect to another agency")}
ROUTING_BUTTONS: dict[str, str] = {ROUTE: N_("Route"), REDIRECT: N_("Redirect")}
ROUTING_DONE: dict[str, str] = {
    ROUTE: N_("Referral routed: the agency has it now."),
    REDIRECT: N_("Referral redirected: the new agency has it now."),
}
CHOOSE_AN_AGENCY = N_("Choose an active agency that serves this request.")
SAY_WHY = N_("Say why: it stays in the referral's history.")
ROUTING_REASON_MAX = 500
OVERDUE_BANNER = N_("Referrals of your agency waiting past their response deadline: %(count)s.")


@dataclass(frozen=True)
class PageError:
    message: str  # a message of the catalog, translated by the template
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ActionForm:
    action: str
    title: str  # messages of the catalog
    button: str
    fields: tuple[str, ...]
    comment_required: bool


def inbox_pages(account_language: AccountLanguage | None = session_language) -> Pages:
    return Pages(templates=TEMPLATES, locale_dir=LOCALE_DIR, account_language=account_language)


def _service(request: Request) -> ReferralService:
    return cast(ReferralService, request.app.state.service)


def _timezone(request: Request) -> str:
    return str(request.app.state.settings.timezone)


def action_forms(referral: ReferralRecord, role: Role) -> list[ActionForm]:
    """The steps `role` may take next on the referral, as forms with their fields."""
    if referral.status is ReferralStatus.NEEDS_MANUAL_ROUTING:
        return []
    allowed = allowed_actions(referral.state, role)
    return [ActionForm(a.value, ACTION_TITLES[a], ACTION_BUTTONS[a], ACTION_FIELDS.get(a, ("comment",)),
                       a in COMMENT_REQUIRED) for a in FORM_ORDER if a in allowed]


def routing_form(referral: ReferralRecord, role: Role) -> str | None:
    """Which routing decision the desk may take on the referral: route one no agency took, redirect an open one."""
    if role not in DESK_ROLES:
        return None
    if referral.status is ReferralStatus.NEEDS_MANUAL_ROUTING:
        return ROUTE
    return REDIRECT if referral.is_open else None


def routing_choices(referral: ReferralRecord, directory: list[Agency]) -> list[Agency]:
    """The agencies the referral may go to: active, serving its area and category, not the one it is at."""
    request = referral.request
    return [a for a in directory if a.active and a.agency_id != referral.agency_id
            and a.candidate().takes(request.area, request.category)]


def parse_step(form: dict[str, str], *, timezone: str, now: datetime
               ) -> tuple[Action | None, dict[str, Any], dict[str, PageError]]:
    """A posted step's form -> the step and its fields, or the errors next to its fields (keys "action.field")."""
    try:
        action = Action(form.get("action", ""))
    except ValueError:
        return None, {}, {"action": PageError(UNKNOWN_STATUS)}
    key = action.value
    errors: dict[str, PageError] = {}
    comment = form.get("comment", "").strip() or None
    reason = form.get("reason", "").strip() or None
    fields: dict[str, Any] = {"comment": comment}
    if comment and len(comment) > COMMENT_MAX:
        errors[f"{key}.comment"] = PageError(TOO_LONG)
    if action in COMMENT_REQUIRED and not comment:
        errors[f"{key}.comment"] = PageError(WRITE_A_COMMENT)
    if action is Action.DECLINE:
        if reason not in set(DeclineReason):
            errors[f"{key}.reason"] = PageError(CHOOSE_A_REASON)
        fields["reason"] = reason
    elif action is Action.COMPLETE:
        outcome = form.get("outcome", "")
        if outcome not in set(Outcome):
            errors[f"{key}.outcome"] = PageError(CHOOSE_AN_OUTCOME)
        else:
            fields["outcome"] = Outcome(outcome)
            if outcome == Outcome.COULD_NOT_HELP:
                if not reason:
                    errors[f"{key}.reason"] = PageError(SAY_WHY_NOT_HELPED)
                # What staff typed is free text: it stays in the referral's history (the comment), while the event,
                # which leaves referral de-identified, carries only a code.
                fields["reason"] = COULD_NOT_HELP_DESCRIBED
                fields["comment"] = "\n".join(part for part in (reason, comment) if part) or None
        if reason and len(reason) > REASON_MAX:
            errors[f"{key}.reason"] = PageError(TOO_LONG)
    elif action is Action.SCHEDULE:
        when = form.get("scheduled_for", "").strip()
        try:
            at = datetime.fromisoformat(when)
        except ValueError:
            errors[f"{key}.scheduled_for"] = PageError(ENTER_DATE_TIME)
        else:
            if at.tzinfo is None:  # a datetime-local field: the municipality's clock
                at = at.replace(tzinfo=ZoneInfo(timezone))
            if at < now:
                errors[f"{key}.scheduled_for"] = PageError(NOT_IN_THE_PAST)
            fields["scheduled_for"] = at
    elif action in (Action.CANCEL, Action.UNABLE_TO_CONTACT):
        fields["reason"] = None  # the comment says why
    return action, fields, errors


def build_inbox_pages(pages: Pages) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    async def not_found(request: Request) -> HTMLResponse:
        return await pages.render(request, "not_found.html", {"reason": NOT_FOUND}, status_code=404)

    @router.get(INBOX_PATH, response_class=HTMLResponse)
    async def inbox(request: Request, user: InboxUser) -> HTMLResponse:
        params = request.query_params
        service = _service(request)
        status = params.get("status", "")
        overdue_only = params.get("overdue") == "1"
        errors: dict[str, PageError] = {}
        if status and status not in set(ReferralStatus):
            errors["status"] = PageError(UNKNOWN_STATUS)
            status = ""
        try:
            page = min(max(int(params.get("page", "1")), 1), MAX_PAGE)
        except ValueError:
            page = 1
        agency_id = params.get("agency", "").strip() or None if user.role is not Role.AGENCY else None
        found = await service.inbox(InboxQuery(caller=user.principal, agency_id=agency_id, status=status or None,
                                               overdue_only=overdue_only, page=page, page_size=PAGE_SIZE))
        locale = (await pages.locale_of(request)).locale
        kept = [(k, v) for k, v in params.multi_items() if k not in {"page", "lang"}]
        agencies = {a.agency_id: a.name for a in await service.directory()}
        return await pages.render(request, "inbox.html", {
            "overdue_count": await service.overdue_count(user.principal), "overdue_banner": OVERDUE_BANNER,
            "language_names": dict(language_names(locale, pages.gettext(locale))),
            "user": user, "found": found, "chosen": {"status": status, "overdue": overdue_only},
            "errors": errors, "status_labels": STATUS_LABELS, "open_statuses": OPEN_STATUSES,
            "area_labels": AREA_LABELS, "category_labels": CATEGORY_LABELS, "tz": _timezone(request),
            "agency_name": agencies.get(user.agency_id or "", user.agency_id or ""), "agencies": agencies,
            "next_url": f"{INBOX_PATH}?" + urlencode([*kept, ("page", str(page + 1))])
            if found.has_next and page < MAX_PAGE else None,
            "previous_url": f"{INBOX_PATH}?" + urlencode([*kept, ("page", str(page - 1))]) if page > 1 else None,
        }, status_code=422 if errors else 200)

    async def referral_page(request: Request, user: PageUser, referral_id: str, *,
                            errors: dict[str, PageError] | None = None, entered: dict[str, str] | None = None,
                            stale: PageError | None = None, status_code: int = 200) -> HTMLResponse:
        service = _service(request)
        # The person's contact is shown: an audited read, as the API's.
        detail = await service.read_referral(referral_id, user.principal, channel="page")
        referral = detail.referral
        directory = await service.directory()
        agencies = {a.agency_id: a.name for a in directory}
        routing = routing_form(referral, user.role)
        done = request.query_params.get("done", "")
        locale = (await pages.locale_of(request)).locale
        forms = action_forms(referral, user.role)
        shown = {form.action for form in forms}
        if errors and "action" not in errors and any(key.split(".")[0] not in shown for key in errors):
            # The step's form is gone (the state moved on, or it never was the caller's): say so at the top.
            errors = {**errors, "action": PageError(NOT_ANY_MORE)}
        return await pages.render(request, "referral.html", {
            "language_names": dict(language_names(locale, pages.gettext(locale))),
            "user": user, "referral": referral, "person": detail.person, "forms": forms,
            "history": list(reversed(referral.state.history)), "status_labels": STATUS_LABELS,
            "action_done": ACTION_DONE, "area_labels": AREA_LABELS, "category_labels": CATEGORY_LABELS,
            "decline_reasons": DECLINE_REASON_LABELS, "outcomes": OUTCOME_LABELS, "tz": _timezone(request),
            "agency_name": agencies.get(referral.agency_id or "", referral.agency_id or ""),
            "errors": errors or {}, "entered": entered or {}, "stale": stale,
            "reason_max": REASON_MAX, "comment_max": COMMENT_MAX, "notice_kinds": NOTICE_KINDS,
            "recipients": RECIPIENTS, "notice_status": NOTICE_STATUS, "notice_errors": NOTICE_ERRORS,
            "slip_roles": SLIP_ROLES, "routing": routing, "routing_titles": ROUTING_TITLES,
            "routing_buttons": ROUTING_BUTTONS, "routing_reason_max": ROUTING_REASON_MAX,
            "routing_choices": routing_choices(referral, directory) if routing else [],
            "done": (DONE_MESSAGES.get(done) or ROUTING_DONE.get(done)) if not errors and not stale else None},
            status_code=status_code)

    @router.get(INBOX_PATH + "/referrals/{referral_id}", response_class=HTMLResponse)
    async def show_referral(request: Request, referral_id: str, user: InboxUser) -> HTMLResponse:
        try:
            return await referral_page(request, user, referral_id)
        except NotFound:
            return await not_found(request)

    @router.post(INBOX_PATH + "/referrals/{referral_id}/actions", response_class=HTMLResponse)
    async def act(request: Request, referral_id: str, user: InboxUser) -> Response:
        form = await submitted_form(request)
        service = _service(request)
        entered = {name: form.get(name, "") for name in ("action", "reason", "outcome", "comment", "scheduled_for")}
        now = datetime.now(ZoneInfo(_timezone(request)))
        action, fields, errors = parse_step(form, timezone=_timezone(request), now=now)
        try:
            version = int(form.get("version", ""))
        except ValueError:
            version = 0  # no version read: treated as stale, the page shows the state now
        try:
            if action is None or errors:
                return await referral_page(request, user, referral_id, errors=errors, entered=entered,
                                           status_code=422)
            try:
                await service.act(ActOnReferral(referral_id=referral_id, action=action, caller=user.principal,
                                                expected_version=version, **fields))
            except Conflict:
                return await referral_page(request, user, referral_id, stale=PageError(STALE), status_code=409)
            except Forbidden:
                return await referral_page(request, user, referral_id, errors={
                    f"{action.value}.action": PageError(NOT_YOUR_ROLE), "action": PageError(NOT_YOUR_ROLE)},
                    entered=entered, status_code=403)
            except DomainRuleViolation:
                # The machine refused the step (its form is gone if the state moved on): the page as it is now.
                return await referral_page(request, user, referral_id, errors={
                    f"{action.value}.action": PageError(NOT_ANY_MORE), "action": PageError(NOT_ANY_MORE)},
                    entered=entered, status_code=422)
        except NotFound:
            return await not_found(request)
        return RedirectResponse(f"{INBOX_PATH}/referrals/{referral_id}?{urlencode({'done': action.value})}",
                                status_code=303)

    @router.post(INBOX_PATH + "/referrals/{referral_id}/{decision}", response_class=HTMLResponse)
    async def route(request: Request, referral_id: str, decision: str, user: InboxUser) -> Response:
        """The desk routes by hand a referral no agency took, or redirects an open one (the API's use cases)."""
        if decision not in ROUTING_TITLES:
            return await not_found(request)
        form = await submitted_form(request)
        agency_id, reason = form.get("agency_id", "").strip(), form.get("reason", "").strip()
        entered = {"action": decision, "agency_id": agency_id, "reason": reason}
        errors: dict[str, PageError] = {}
        if not agency_id:
            errors[f"{decision}.agency_id"] = PageError(CHOOSE_AN_AGENCY)
        if not reason:
            errors[f"{decision}.reason"] = PageError(SAY_WHY)
        elif len(reason) > ROUTING_REASON_MAX:
            errors[f"{decision}.reason"] = PageError(TOO_LONG)
        try:
            version = int(form.get("version", ""))
        except ValueError:
            version = 0  # no version read: treated as stale, the page shows the state now
        service = _service(request)
        try:
            if errors:
                return await referral_page(request, user, referral_id, errors=errors, entered=entered,
                                           status_code=422)
            try:
                if decision == ROUTE:
                    await service.route_manually(RouteManually(referral_id, agency_id, reason, user.principal,
                                                               expected_version=version))
                else:
                    await service.redirect(Redirect(referral_id, agency_id, reason, user.principal,
                                                    expected_version=version))
            except Conflict:
                return await referral_page(request, user, referral_id, stale=PageError(STALE), status_code=409)
            except Forbidden:
                return await referral_page(request, user, referral_id, errors={"action": PageError(NOT_YOUR_ROLE)},
                                           status_code=403)
            except (NotFound, DomainRuleViolation) as refused:
                if isinstance(refused, NotFound) and refused.field != "agency_id":
                    raise
                key = "reason" if refused.field == "reason" else "agency_id"
                message = SAY_WHY if key == "reason" else CHOOSE_AN_AGENCY
                if refused.field == "referral_id":  # the referral moved on meanwhile: the page as it is now
                    return await referral_page(request, user, referral_id, errors={"action": PageError(NOT_ANY_MORE)},
                                               status_code=422)
                return await referral_page(request, user, referral_id, errors={f"{decision}.{key}": PageError(message)},
                                           entered=entered, status_code=422)
        except NotFound:
            return await not_found(request)
        return RedirectResponse(f"{INBOX_PATH}/referrals/{referral_id}?{urlencode({'done': decision})}",
                                status_code=303)

    return router
