"""The case page and the person's page: what staff read and do on a case after the visit (notes, follow-ups,
another request, closing, reopening), and correcting a person's data or consent. Forms post to the server and
come back to the page (a redirect after a write, the page again with the errors next to the fields after a
refusal); an edit over a version someone changed since is shown as "someone changed this; here is what
changed", never applied over their change."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from migradesk_intake.adapters.views import person_of, worklist_query
from migradesk_intake.domain.audit import AccessKind
from migradesk_intake.domain.case import CaseOutcome
from migradesk_intake.domain.person import RegisteredPerson
from migradesk_intake.domain.referral_status import ReferralStatusView
from migradesk_intake.entrypoints.http import use_cases
from migradesk_intake.entrypoints.pages import (
    AREA_LABELS,
    CATEGORY_LABELS,
    DOCUMENT_TYPES,
    LEGAL_BASIS_LABELS,
    DeskUser,
    category_groups,
)
from migradesk_intake.entrypoints.schemas import PersonDataIn
from migradesk_intake.service import (
    AddFollowUp,
    AddNote,
    AddRequest,
    ChangeConsent,
    CloseCase,
    CompleteFollowUp,
    CorrectPerson,
    ReadCase,
    ReadPerson,
    ReopenCase,
    SearchPeople,
)
from migradesk_shared.contracts.categories import CATEGORIES
from migradesk_shared.contracts.vocabulary import LegalBasis, MigratoryStatus, ReferralStatus, Sex
from migradesk_shared.errors import Conflict, DomainRuleViolation, MigraDeskError
from migradesk_shared.web.forms import FIELD_ERRORS
from migradesk_shared.web.i18n import N_
from migradesk_shared.web.names import DESK_LANGUAGES, country_name, country_names, language_names
from migradesk_shared.web.session import submitted_fields, submitted_form
from migradesk_shared.web.templates import Pages

OUTCOME_LABELS: dict[CaseOutcome, str] = {
    CaseOutcome.SERVED: N_("Served: every request was met"),
    CaseOutcome.PARTLY_SERVED: N_("Partly served: some requests were met"),
    CaseOutcome.NOT_SERVED: N_("Not served: no request could be met"),
    CaseOutcome.UNREACHABLE: N_("The person could not be reached"),
    CaseOutcome.WITHDRAWN: N_("The person no longer needs it"),
}
REFERRAL_STATUS_LABELS: dict[ReferralStatus, str] = {
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
# What each write of a case or a person is called in the case's timeline and in "here is what changed".
WRITE_LABELS: dict[str, str] = {
    AccessKind.CASE_OPEN: N_("Case opened"),
    AccessKind.CASE_NOTE: N_("Note added"),
    AccessKind.CASE_FOLLOW_UP: N_("Follow-up planned"),
    AccessKind.CASE_FOLLOW_UP_DONE: N_("Follow-up done"),
    AccessKind.CASE_REQUEST: N_("Request added"),
    AccessKind.CASE_CLOSE: N_("Case closed"),
    AccessKind.CASE_REOPEN: N_("Case reopened"),
    AccessKind.PERSON_ERASE: N_("Personal data erased"),
}
PERSON_FIELD_LABELS: dict[str, str] = {
    "full_name": N_("Full name"),
    "birth_date": N_("Date of birth"),
    "sex": N_("Sex"),
    "nationality": N_("Nationality"),
    "preferred_language": N_("Preferred language"),
    "languages": N_("Other languages the person speaks"),
    "migratory_status": N_("Migratory status"),
    "documents": N_("Documents"),
    "phone": N_("Phone"),
    "sensitive": N_("Sensitive data (optional)"),
    "consent": N_("Legal basis and sharing"),
}
SEX_LABELS: dict[Sex, str] = {Sex.NOT_INFORMED: N_("Not stated"), Sex.FEMALE: N_("Female"), Sex.MALE: N_("Male"),
                              Sex.INTERSEX: N_("Intersex")}
MIGRATORY_STATUS_LABELS: dict[MigratoryStatus, str] = {
    MigratoryStatus.ASYLUM_SEEKER: N_("Asylum seeker"),
    MigratoryStatus.REFUGEE: N_("Refugee"),
    MigratoryStatus.TEMPORARY_RESIDENCE: N_("Temporary residence"),
    MigratoryStatus.HUMANITARIAN_RECEPTION: N_("Humanitarian reception"),
    MigratoryStatus.STATELESS: N_("Stateless"),
    MigratoryStatus.BORDER_RESIDENT: N_("Border resident"),
    MigratoryStatus.UNDOCUMENTED: N_("Undocumented"),
    MigratoryStatus.OTHER: N_("Another migratory status"),
}

# The page's words for what the service refuses, by the field it names (its English message is the API's).
WRITE_THE_NOTE = N_("Write the note.")
SAY_WHAT_TO_DO = N_("Say what must be done.")
DUE_IN_PAST = N_("The due date cannot be in the past.")
CASE_IS_CLOSED = N_("This case is closed: reopen it first.")
CASE_ERASED = N_("The person of this case was erased: the case takes no more work.")
STALE_CASE = N_("Someone changed this case while you were looking at it. Here is what changed: %(changes)s. "
                "Nothing of yours was saved: check the case below and try again.")
STALE_PERSON = N_("Someone changed this person's data while you were editing it. Here is what changed: "
                  "%(changes)s. Nothing of yours was saved: your entries are kept below, next to the data as it "
                  "is now; check them and save again.")
PERSON_SAVED = N_("The person's data was saved.")
CONSENT_SAVED = N_("The consent was recorded.")
DONE_MESSAGES: dict[str, str] = {
    "note": N_("Note added."),
    "follow_up": N_("Follow-up planned."),
    "follow_up_done": N_("Follow-up marked as done."),
    "request": N_("Request added: it is being sent to the agency that serves it."),
    "closed": N_("Case closed."),
    "reopened": N_("Case reopened."),
    "person": PERSON_SAVED,
    "consent": CONSENT_SAVED,
}
# The API's error types -> the page's messages (for the person's data, validated by the API's schema).
PERSON_ERRORS: dict[str, str] = {
    "cpf_format": N_("A CPF has 11 digits, e.g. 123.456.789-09."),
    "cpf_check_digits": N_("This CPF is not valid: its check digits do not match. Check the number."),
    "rnm_format": N_("An RNM is a letter, 6 letters or digits and a check character, e.g. V123456-7."),
    "protocol_format": N_("A protocol number has at least 6 digits, with only . / - between them."),
    "passport_format": N_("A passport number has 4 to 20 letters or digits."),
    "phone_format": N_("Enter the phone with its area code, e.g. (67) 99999-0000, or a foreign number with + and "
                       "its country code."),
    "country_unknown": N_("Choose the person's nationality from the list."),
    "value_error": N_("The date of birth cannot be in the future."),
}
# Rows of documents offered on the person's page (an empty row is ignored).
DOCUMENT_ROWS = 4


@dataclass(frozen=True)
class PageError:
    message: str  # a message of the catalog, translated by the template
    params: dict[str, Any]


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    who: str | None
    label: str  # a message of the catalog
    detail: str | None = None  # a message of the catalog too, or None


def timeline(writes: Any, referrals: list[ReferralStatusView]) -> list[TimelineEntry]:
    """What happened on the case, newest first: its writes, and where each referral stands (from referral's
    events: the time of its last change)."""
    entries = [TimelineEntry(w.at, w.actor, WRITE_LABELS.get(w.action, w.action.value),
                             OUTCOME_LABELS.get(CaseOutcome(w.subject)) if w.action is AccessKind.CASE_CLOSE
                             and w.subject in set(CaseOutcome) else None) for w in writes]
    entries += [TimelineEntry(r.status_at, None, N_("Referral"), REFERRAL_STATUS_LABELS[r.status])
                for r in referrals]
    return sorted(entries, key=lambda e: e.at, reverse=True)


def changes_text(gettext: Any, names: list[str], labels: dict[str, str]) -> str:
    return ", ".join(gettext(labels[name]) if name in labels else name for name in names)


def case_errors(exc: MigraDeskError, form: str) -> dict[str, PageError]:
    """The service's refusal, as the message next to the field of `form` it concerns."""
    if isinstance(exc, DomainRuleViolation) and exc.field == "status":
        return {f"{form}.status": PageError(CASE_IS_CLOSED, {})}
    if isinstance(exc, DomainRuleViolation) and exc.field == "case_id":
        return {f"{form}.status": PageError(CASE_ERASED, {})}
    if exc.field == "text":
        return {f"{form}.text": PageError(WRITE_THE_NOTE if form == "note" else SAY_WHAT_TO_DO, {})}
    if exc.field == "due_on":
        return {f"{form}.due_on": PageError(DUE_IN_PAST, {})}
    if exc.field == "category":
        return {f"{form}.category": PageError(FIELD_ERRORS["enum"], {})}
    raise exc


def person_form_data(form: dict[str, str], multi: dict[str, list[str]]) -> dict[str, Any]:
    """The person's page's fields -> the API's payload (validated by its schema, so the same rules hold)."""
    documents = [{"type": form.get(f"document_type_{i}", ""), "number": form.get(f"document_number_{i}", "").strip()}
                 for i in range(DOCUMENT_ROWS) if form.get(f"document_number_{i}", "").strip()]
    return {"full_name": form.get("full_name", "").strip(), "birth_date": form.get("birth_date") or None,
            "sex": form.get("sex") or "not_informed", "nationality": form.get("nationality", ""),
            "preferred_language": form.get("preferred_language") or "pt",
            "languages": [code for code in multi.get("languages", []) if code],
            "migratory_status": form.get("migratory_status") or "other", "documents": documents,
            "phone": form.get("phone", "").strip() or None}


def person_errors(exc: ValidationError) -> dict[str, PageError]:
    errors: dict[str, PageError] = {}
    for error in exc.errors():
        location = [str(part) for part in error["loc"]]
        field = location[0]
        if field == "documents" and len(location) > 1:
            field = f"document_number_{location[1]}"
        message = PERSON_ERRORS.get(error["type"]) or FIELD_ERRORS.get(error["type"]) or FIELD_ERRORS["missing"]
        errors.setdefault(field, PageError(message, {}))
    return errors


def person_entries(registered: RegisteredPerson) -> dict[str, Any]:
    """The form's values for the person as recorded (every document row, empty ones as "")."""
    person = registered.person
    assert person is not None
    entered: dict[str, Any] = {
        "full_name": person.full_name, "birth_date": person.birth_date.isoformat() if person.birth_date else "",
        "sex": person.sex.value, "nationality": person.nationality, "preferred_language": person.preferred_language,
        "languages": sorted(code for code in person.languages if code != person.preferred_language),
        "migratory_status": person.migratory_status.value, "phone": person.phone or ""}
    for i in range(DOCUMENT_ROWS):
        document = person.documents[i] if i < len(person.documents) else None
        entered[f"document_type_{i}"] = document.type.value if document else ""
        entered[f"document_number_{i}"] = document.number if document else ""
    return entered


def merged_entries(entered: dict[str, Any], shown: dict[str, Any], recorded: dict[str, Any]) -> dict[str, Any]:
    """After a refused save: what the form shows again. A field staff left as it was shown takes what is
    recorded now (someone else's change is not undone by saving again); a field they changed keeps their
    value (the page shows what is recorded now beside it, for them to decide)."""
    merged = dict(entered)
    for name, now in recorded.items():
        if name.startswith("document_type_"):
            continue  # follows its number
        mine = entered.get(name, "")
        if name == "languages":
            mine = sorted(code for code in mine if code != entered.get("preferred_language"))
        if name in shown and mine == shown[name]:
            merged[name] = now
            if name.startswith("document_number_"):
                row = name.removeprefix("document_number_")
                merged[f"document_type_{row}"] = recorded.get(f"document_type_{row}", "")
    return merged


def build_case_pages(pages: Pages) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def back_to_case(case_id: str, done: str, anchor: str = "") -> RedirectResponse:
        return RedirectResponse(f"/cases/{case_id}?{urlencode({'done': done})}{anchor}", status_code=303)

    async def case_page(request: Request, user: DeskUser, case_id: str, *,
                        errors: dict[str, PageError] | None = None, entered: dict[str, str] | None = None,
                        stale: PageError | None = None, status_code: int = 200) -> HTMLResponse:
        service = use_cases(request)
        file = await service.case_file(ReadCase(case_id=case_id, actor=user.actor))
        case = file.case
        by_request: dict[str | None, list[ReferralStatusView]] = {}
        for referral in file.referrals:
            by_request.setdefault(referral.request_id, []).append(referral)
        done = request.query_params.get("done", "")
        today = service.today()
        return await pages.render(request, "case.html", {
            "user": user, "file": file, "case": case, "person": case.person, "referrals_of": by_request,
            "area_labels": AREA_LABELS, "category_labels": CATEGORY_LABELS, "status_labels": REFERRAL_STATUS_LABELS,
            "outcome_labels": OUTCOME_LABELS, "timeline": timeline(case.writes, file.referrals),
            "category_groups": category_groups(service.categories()), "country_name": country_name,
            "document_types": DOCUMENT_TYPES, "today": today,
            "overdue": {f.follow_up_id for f in case.overdue_follow_ups(today)},
            "errors": errors or {}, "entered": entered or {}, "stale": stale,
            "done": DONE_MESSAGES.get(done) if not errors and not stale else None}, status_code=status_code)

    @router.get("/cases/{case_id}", response_class=HTMLResponse)
    async def show_case(request: Request, case_id: str, user: DeskUser) -> HTMLResponse:
        return await case_page(request, user, case_id)

    async def refused(request: Request, user: DeskUser, case_id: str, exc: MigraDeskError, form: str,
                      entered: dict[str, str]) -> HTMLResponse:
        if isinstance(exc, Conflict) and exc.field == "version":
            gettext = pages.gettext((await pages.locale_of(request)).locale)
            changed = changes_text(gettext, list(exc.details.get("changed", [])), WRITE_LABELS)
            return await case_page(request, user, case_id, stale=PageError(STALE_CASE, {"changes": changed}),
                                   status_code=409)
        return await case_page(request, user, case_id, errors=case_errors(exc, form), entered=entered,
                               status_code=exc.status_code)

    @router.post("/cases/{case_id}/notes", response_class=HTMLResponse)
    async def add_note(request: Request, case_id: str, user: DeskUser) -> Response:
        form = await submitted_form(request)
        try:
            await use_cases(request).add_note(AddNote(case_id, form.get("text", ""), actor=user.actor))
        except (DomainRuleViolation, Conflict) as exc:
            return await refused(request, user, case_id, exc, "note", {"note.text": form.get("text", "")})
        return back_to_case(case_id, "note", "#notes")

    @router.post("/cases/{case_id}/follow-ups", response_class=HTMLResponse)
    async def add_follow_up(request: Request, case_id: str, user: DeskUser) -> Response:
        form = await submitted_form(request)
        entered = {"follow_up.text": form.get("text", ""), "follow_up.due_on": form.get("due_on", "")}
        try:
            due_on = date.fromisoformat(form.get("due_on", ""))
        except ValueError:
            return await case_page(request, user, case_id, entered=entered, status_code=422, errors={
                "follow_up.due_on": PageError(FIELD_ERRORS["date_parsing"], {})})
        try:
            await use_cases(request).add_follow_up(AddFollowUp(case_id, form.get("text", ""), due_on,
                                                               actor=user.actor))
        except (DomainRuleViolation, Conflict) as exc:
            return await refused(request, user, case_id, exc, "follow_up", entered)
        return back_to_case(case_id, "follow_up", "#follow-ups")

    @router.post("/cases/{case_id}/follow-ups/{follow_up_id}/done", response_class=HTMLResponse)
    async def complete_follow_up(request: Request, case_id: str, follow_up_id: str, user: DeskUser) -> Response:
        await submitted_form(request)
        try:
            await use_cases(request).complete_follow_up(CompleteFollowUp(case_id, follow_up_id, actor=user.actor))
        except (DomainRuleViolation, Conflict) as exc:
            return await refused(request, user, case_id, exc, "follow_up", {})
        return back_to_case(case_id, "follow_up_done", "#follow-ups")

    @router.post("/cases/{case_id}/requests", response_class=HTMLResponse)
    async def add_request(request: Request, case_id: str, user: DeskUser) -> Response:
        form = await submitted_form(request)
        category = form.get("category", "")
        entered = {"request.category": category, "request.description": form.get("description", "")}
        if category not in CATEGORIES:
            return await case_page(request, user, case_id, entered=entered, status_code=422, errors={
                "request.category": PageError(FIELD_ERRORS["enum"], {})})
        try:
            await use_cases(request).add_request(AddRequest(case_id, category,
                                                            form.get("description", "").strip() or None,
                                                            actor=user.actor))
        except (DomainRuleViolation, Conflict) as exc:
            return await refused(request, user, case_id, exc, "request", entered)
        return back_to_case(case_id, "request", "#requests")

    def version_of(form: dict[str, str]) -> int:
        try:
            return int(form.get("version", ""))
        except ValueError:
            return 0  # refused as stale: the page did not say which version it showed

    @router.post("/cases/{case_id}/close", response_class=HTMLResponse)
    async def close_case(request: Request, case_id: str, user: DeskUser) -> Response:
        form = await submitted_form(request)
        if form.get("outcome") not in set(CaseOutcome):
            return await case_page(request, user, case_id, status_code=422, errors={
                "close.outcome": PageError(FIELD_ERRORS["enum"], {})})
        try:
            await use_cases(request).close_case(CloseCase(case_id, CaseOutcome(form["outcome"]), version_of(form),
                                                          actor=user.actor))
        except (DomainRuleViolation, Conflict) as exc:
            return await refused(request, user, case_id, exc, "close", {})
        return back_to_case(case_id, "closed")

    @router.post("/cases/{case_id}/reopen", response_class=HTMLResponse)
    async def reopen_case(request: Request, case_id: str, user: DeskUser) -> Response:
        form = await submitted_form(request)
        try:
            await use_cases(request).reopen_case(ReopenCase(case_id, version_of(form), actor=user.actor))
        except (DomainRuleViolation, Conflict) as exc:
            return await refused(request, user, case_id, exc, "close", {})
        return back_to_case(case_id, "reopened")

    # --- the person's page ---------------------------------------------------------------------------------

    async def person_page(request: Request, user: DeskUser, registered: RegisteredPerson, *,
                          entered: dict[str, Any] | None = None, errors: dict[str, PageError] | None = None,
                          stale: PageError | None = None, stale_fields: list[str] | None = None,
                          version: int | None = None, status_code: int = 200) -> HTMLResponse:
        locale = (await pages.locale_of(request)).locale
        gettext = pages.gettext(locale)
        back = request.query_params.get("case") or (registered.case_ids[-1] if registered.case_ids else "")
        done = request.query_params.get("done", "")
        return await pages.render(request, "person.html", {
            "user": user, "registered": registered, "person": registered.person,
            "entered": entered if entered is not None else person_entries(registered),
            "recorded": person_entries(registered), "shown": json.dumps(person_entries(registered)),
            "errors": errors or {}, "stale": stale,
            "stale_fields": stale_fields or [],
            "version": version if version is not None else registered.version, "back_case": back,
            "countries": country_names(locale), "languages_offered": language_names(locale, gettext),
            "desk_languages": DESK_LANGUAGES, "sex_labels": SEX_LABELS,
            "migratory_status_labels": MIGRATORY_STATUS_LABELS, "document_types": DOCUMENT_TYPES,
            "document_rows": DOCUMENT_ROWS, "legal_bases": LEGAL_BASIS_LABELS, "field_labels": PERSON_FIELD_LABELS,
            "done": DONE_MESSAGES.get(done) if not errors and not stale else None}, status_code=status_code)

    @router.get("/persons/{person_id}", response_class=HTMLResponse)
    async def show_person(request: Request, person_id: str, user: DeskUser) -> HTMLResponse:
        registered = await use_cases(request).read_person(ReadPerson(person_id, actor=user.actor))
        return await person_page(request, user, registered)

    @router.post("/persons/{person_id}", response_class=HTMLResponse)
    async def correct_person(request: Request, person_id: str, user: DeskUser) -> Response:
        form = await submitted_form(request)
        multi = {"languages": [value for name, value in await submitted_fields(request) if name == "languages"]}
        service = use_cases(request)
        data = person_form_data(form, multi)
        entered: dict[str, Any] = {**data, "languages": data["languages"],
                                   **{k: v for k, v in form.items() if k.startswith("document_")}}
        shown = version_of(form)
        try:
            payload = PersonDataIn.model_validate(data)
        except ValidationError as exc:
            registered = await service.read_person(ReadPerson(person_id, actor=user.actor))
            return await person_page(request, user, registered, entered=entered, errors=person_errors(exc),
                                     version=shown, status_code=422)
        current = await service.read_person(ReadPerson(person_id, actor=user.actor))
        assert current.person is not None
        # The page does not edit sensitive data: what is on record is kept (the version check covers it).
        correction = replace(person_of(payload, current.person.consent), sensitive=current.person.sensitive)
        try:
            await service.correct_person(CorrectPerson(person_id, shown, correction, actor=user.actor))
        except Conflict as exc:
            if exc.field != "version":
                raise
            gettext = pages.gettext((await pages.locale_of(request)).locale)
            changed = changes_text(gettext, list(exc.details.get("changed", [])), PERSON_FIELD_LABELS)
            fresh = await service.read_person(ReadPerson(person_id, actor=user.actor))
            try:
                shown_before = json.loads(form.get("shown", "{}"))
            except ValueError:
                shown_before = {}
            entered = merged_entries(entered, shown_before if isinstance(shown_before, dict) else {},
                                     person_entries(fresh))
            return await person_page(request, user, fresh, entered=entered, version=fresh.version,
                                     stale=PageError(STALE_PERSON, {"changes": changed}),
                                     stale_fields=list(exc.details.get("changed", [])), status_code=409)
        query = {"done": "person", **({"case": request.query_params["case"]} if "case" in request.query_params
                                      else {})}
        return RedirectResponse(f"/persons/{person_id}?{urlencode(query)}", status_code=303)

    @router.post("/persons/{person_id}/consent", response_class=HTMLResponse)
    async def change_consent(request: Request, person_id: str, user: DeskUser) -> Response:
        form = await submitted_form(request)
        service = use_cases(request)
        errors: dict[str, PageError] = {}
        if form.get("legal_basis") not in set(LegalBasis):
            errors["consent.legal_basis"] = PageError(FIELD_ERRORS["enum"], {})
        if form.get("share_with_partners") not in {"yes", "no"}:
            errors["consent.share_with_partners"] = PageError(FIELD_ERRORS["enum"], {})
        if errors:
            registered = await service.read_person(ReadPerson(person_id, actor=user.actor))
            return await person_page(request, user, registered, errors=errors, status_code=422)
        await service.change_consent(ChangeConsent(person_id, LegalBasis(form["legal_basis"]),
                                                   share_with_partners=form["share_with_partners"] == "yes",
                                                   recorded_by=user.subject, actor=user.actor))
        query = {"done": "consent", **({"case": request.query_params["case"]} if "case" in request.query_params
                                       else {})}
        return RedirectResponse(f"/persons/{person_id}?{urlencode(query)}#consent", status_code=303)

    return router



# --- the worklist and search -----------------------------------------------------------------------------

# Search reasons as the search gives them (English, some with numbers) -> the page's words.
SEARCH_REASON_LABELS: tuple[tuple[str, str], ...] = (
    ("same name", N_("Same name")),
    ("name sounds the same", N_("The name sounds the same")),
    ("names sound the same", N_("Some of the names sound the same")),
    ("similar name", N_("Similar name")),
    ("same document number", N_("Same document number")),
    ("same phone", N_("Same phone")),
)
ORDER_LABELS: dict[str, str] = {"oldest": N_("Oldest first"), "newest": N_("Newest first")}
STATUS_LABELS: dict[str, str] = {"open": N_("Open cases"), "closed": N_("Closed cases")}


def search_reason_label(reason: str) -> str:
    """The catalog message of a search reason (the most specific that matches), else the reason as it is."""
    for text, label in SEARCH_REASON_LABELS:
        if reason == text or (text != "same name" and text in reason):
            return label
    return reason


def build_worklist_page(pages: Pages) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/cases", response_class=HTMLResponse)
    async def worklist(request: Request, user: DeskUser) -> HTMLResponse:
        params = request.query_params
        service = use_cases(request)
        chosen: dict[str, Any] = {"status": params.get("status", "open"), "area": params.get("area", ""),
                  "staff": params.get("staff", "").strip(), "overdue": params.get("overdue") == "1",
                  "older_than_days": params.get("older_than_days", "").strip(),
                  "order": params.get("order", "oldest"), "q": params.get("q", "").strip()}
        errors: dict[str, PageError] = {}
        view = found = None
        if chosen["q"]:
            try:
                found = await service.search_people(SearchPeople(chosen["q"], actor=user.actor,
                                                                 after=params.get("after") or None))
            except DomainRuleViolation:
                errors["q"] = PageError(FIELD_ERRORS["missing"], {})
        else:
            days: int | None = None
            if chosen["older_than_days"]:
                try:
                    days = int(chosen["older_than_days"])
                    if not 1 <= days <= 3650:
                        raise ValueError(days)
                except ValueError:
                    errors["older_than_days"] = PageError(FIELD_ERRORS["int_parsing"], {})
            if not errors:
                try:
                    query = worklist_query(status=chosen["status"], area=chosen["area"] or None,
                                           staff=chosen["staff"] or None, overdue=chosen["overdue"],
                                           older_than_days=days, order=chosen["order"],
                                           after=params.get("after") or None, page_size=25, today=service.today())
                    view = await service.worklist(query, actor=user.actor)
                except DomainRuleViolation as exc:
                    errors[exc.field or "status"] = PageError(FIELD_ERRORS["enum"], {})
        kept = [(k, v) for k, v in params.multi_items() if k not in {"after", "lang"}]
        next_url = None
        cursor = (found.next_cursor if found else view.next_cursor if view else None)
        if cursor:
            next_url = "/cases?" + urlencode([*kept, ("after", cursor)])
        return await pages.render(request, "worklist.html", {
            "user": user, "chosen": chosen, "view": view, "found": found, "errors": errors, "next_url": next_url,
            "first_url": "/cases?" + urlencode(kept) if params.get("after") else None,
            "area_labels": {(area.value if area else "desk"): label for area, label in AREA_LABELS.items()},
            "order_labels": ORDER_LABELS, "status_labels": STATUS_LABELS, "today": service.today(),
            "reason_label": search_reason_label}, status_code=422 if errors else 200)

    return router
