"""The governance register's pages: a year's activities and instruments grouped by MigraCidades dimension, a
record's form (new, or corrected over the revision read), its documents uploaded, downloaded and removed, and
withdrawing it. Forms post to the server and come back: a redirect after a write, the form again with the errors
next to the fields after a refusal. Desk staff, coordinators and administrators."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import UploadFile

from migradesk_intake.domain.governance import (
    ACTIVITY_DIMENSION,
    ATTACHMENT_TYPES,
    INSTRUMENT_DIMENSION,
    MAX_ATTACHMENT_BYTES,
    Facts,
    GovernanceRecord,
)
from migradesk_intake.entrypoints.governance_http import download, governance
from migradesk_intake.entrypoints.identity import signed_in
from migradesk_shared.auth import Role
from migradesk_shared.contracts.activities import ActivityFacts, InstrumentFacts
from migradesk_shared.errors import Conflict, DomainRuleViolation, NotFound
from migradesk_shared.web.forms import FIELD_ERRORS
from migradesk_shared.web.i18n import N_
from migradesk_shared.web.names import language_names
from migradesk_shared.web.session import PageUser, submitted_fields
from migradesk_shared.web.templates import Pages

RegisterUser = Annotated[PageUser, Depends(signed_in(Role.STAFF, Role.COORDINATOR, Role.ADMIN))]
PageYear = Annotated[int | None, Query(ge=1990, le=2100)]

DIMENSION_LABELS: dict[int, str] = {
    1: N_("1. Institutional structure and local strategy"),
    2: N_("2. Training of public servants"),
    3: N_("3. Social and cultural participation"),
    4: N_("4. Transparency and access to information"),
    5: N_("5. Institutional partnerships"),
}
ACTIVITY_KIND_LABELS: dict[str, str] = {
    "training": N_("Training of public servants"),
    "awareness_campaign": N_("Awareness campaign"),
    "participatory_event": N_("Participatory event (hearing, forum, conference)"),
    "cultural_event": N_("Cultural event"),
    "information_material": N_("Information material"),
    "mapping_study": N_("Mapping or diagnostic study"),
    "network_meeting": N_("Network meeting"),
    "advocacy_action": N_("Advocacy action"),
    "project": N_("Project"),
}
INSTRUMENT_KIND_LABELS: dict[str, str] = {
    "law": N_("Law"),
    "decree": N_("Decree"),
    "municipal_plan": N_("Municipal plan"),
    "committee": N_("Committee"),
    "council": N_("Council"),
    "partnership_agreement": N_("Partnership agreement"),
}
AUDIENCE_LABELS: dict[str, str] = {
    "public_servants": N_("Public servants"),
    "civil_society": N_("Civil society"),
    "migrants": N_("Migrants"),
}
SECTOR_LABELS: dict[str, str] = {
    "health": N_("Health"),
    "education": N_("Education"),
    "social_assistance": N_("Social assistance"),
    "security": N_("Public security"),
    "work": N_("Work and income"),
    "culture": N_("Culture"),
    "administration": N_("Administration"),
    "other": N_("Other sectors"),
}
SECTOR_ROWS = 4
DONE_MESSAGES: dict[str, str] = {
    "recorded": N_("Recorded in the register."),
    "saved": N_("Your correction was saved."),
    "withdrawn": N_("The record was withdrawn: it no longer counts in the figures."),
    "attached": N_("The document was attached."),
    "detached": N_("The document was removed."),
}
STALE_RECORD = N_("Someone changed this record while you were editing it. Nothing of yours was saved: check it "
                  "below and try again.")
WITHDRAWN_RECORD = N_("This record was withdrawn: it can no longer be changed.")
# Why a document is refused, by the reason the register gives (domain/governance.new_attachment).
FILE_REFUSALS: dict[str, str] = {
    "type": N_("This kind of file is not accepted: attach a PDF, an image (PNG, JPEG, WebP), a text, CSV or office "
               "document."),
    "empty": N_("The file is empty."),
    "size": N_("The file is larger than %(megabytes)s MB."),
    "content": N_("The file's content is not what its type says."),
    "count": N_("This record already has as many documents as it can hold."),
    "missing": N_("Choose a file to attach."),
}
ENDS_BEFORE_ADOPTED = N_("It cannot end before it was adopted.")
SAY_SERVANTS = N_("Say how many servants were trained, in at least one sector.")
SAY_LANGUAGES = N_("Choose at least one language.")

ACTIVITY: TypeAdapter[ActivityFacts] = TypeAdapter(ActivityFacts)
INSTRUMENT: TypeAdapter[InstrumentFacts] = TypeAdapter(InstrumentFacts)


@dataclass(frozen=True)
class PageError:
    message: str  # a message of the catalog, translated by the template
    params: dict[str, Any]


def _number(value: str) -> int | str | None:
    value = value.strip()
    return None if not value else int(value) if value.isdigit() else value


def facts_from_form(record: str, fields: list[tuple[str, str]]) -> dict[str, Any]:
    """The form's fields -> the contract's facts (validated by it, so the API's rules hold on the page)."""
    form = dict(fields)
    if record == "instrument":
        return {"kind": form.get("kind", ""), "title": form.get("title", "").strip(),
                "reference": form.get("reference", "").strip() or None, "adopted_on": form.get("adopted_on") or None,
                "ends_on": form.get("ends_on") or None, "migrant_seats": _number(form.get("migrant_seats", "")),
                "partner": form.get("partner", "").strip() or None}
    sectors: dict[str, Any] = {}
    for row in range(SECTOR_ROWS):
        sector, count = form.get(f"sector_{row}", ""), form.get(f"servants_{row}", "").strip()
        if sector and count:
            sectors[sector] = _number(count)
    return {"kind": form.get("kind", ""), "held_on": form.get("held_on") or None,
            "title": form.get("title", "").strip(), "audience": form.get("audience") or None,
            "participants": _number(form.get("participants", "")), "servants_trained_by_sector": sectors,
            "languages": [value for name, value in fields if name == "languages" and value]}


def form_errors(exc: ValidationError) -> dict[str, PageError]:
    errors: dict[str, PageError] = {}
    for error in exc.errors():
        location = [str(part) for part in error["loc"]]
        if not location:  # a rule across fields: say it next to the field it is about
            text = str(error.get("msg", ""))
            field, message = (("ends_on", ENDS_BEFORE_ADOPTED) if "adopted" in text else
                              ("servants", SAY_SERVANTS) if "servants" in text else ("languages", SAY_LANGUAGES))
            errors.setdefault(field, PageError(message, {}))
            continue
        field = "servants" if location[0] == "servants_trained_by_sector" else location[0]
        errors.setdefault(field, PageError(FIELD_ERRORS.get(error["type"], FIELD_ERRORS["missing"]), {}))
    return errors


def entries_of(facts: Facts) -> dict[str, Any]:
    """The form's values for recorded facts."""
    data = facts.model_dump(mode="json")
    entries: dict[str, Any] = {name: "" if value is None else value for name, value in data.items()}
    for row, (sector, count) in enumerate(sorted(data.get("servants_trained_by_sector", {}).items())):
        entries[f"sector_{row}"], entries[f"servants_{row}"] = sector, count
    return entries


def build_governance_pages(pages: Pages) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def today(request: Request) -> date:
        return datetime.now(ZoneInfo(request.app.state.settings.timezone)).date()

    def labels() -> dict[str, Any]:
        return {"dimension_labels": DIMENSION_LABELS, "activity_kinds": ACTIVITY_KIND_LABELS,
                "instrument_kinds": INSTRUMENT_KIND_LABELS, "audiences": AUDIENCE_LABELS, "sectors": SECTOR_LABELS,
                "activity_dimension": ACTIVITY_DIMENSION, "instrument_dimension": INSTRUMENT_DIMENSION}

    @router.get("/governance", response_class=HTMLResponse)
    async def register_page(request: Request, user: RegisterUser, year: PageYear = None) -> HTMLResponse:
        shown = year or today(request).year
        register = await governance(request).register(shown)
        by_dimension: dict[int, list[GovernanceRecord]] = {d: [] for d in DIMENSION_LABELS}
        for record in [*register.instruments, *register.activities]:
            kind = record.facts.kind
            by_dimension[(INSTRUMENT_DIMENSION if record.record == "instrument" else ACTIVITY_DIMENSION)[kind]].append(
                record)
        return await pages.render(request, "governance.html", {
            **labels(), "user": user, "year": shown, "years": list(range(today(request).year, 2014, -1)),
            "by_dimension": by_dimension, "done": DONE_MESSAGES.get(request.query_params.get("done", ""))})

    async def form_page(request: Request, user: PageUser, *, record: str, held: GovernanceRecord | None = None,
                        entries: dict[str, Any] | None = None, errors: dict[str, PageError] | None = None,
                        stale: str | None = None, status_code: int = 200) -> HTMLResponse:
        locale = (await pages.locale_of(request)).locale
        return await pages.render(request, "governance_record.html", {
            **labels(), "user": user, "record": record, "held": held,
            "entries": entries if entries is not None else (entries_of(held.facts) if held else {}),
            "errors": errors or {}, "stale": stale, "sector_rows": range(SECTOR_ROWS),
            "language_names": language_names(locale, pages.gettext(locale)),
            "accepted_types": ",".join(sorted({*ATTACHMENT_TYPES, *ATTACHMENT_TYPES.values()})),
            "max_megabytes": MAX_ATTACHMENT_BYTES // (1024 * 1024),
            "done": DONE_MESSAGES.get(request.query_params.get("done", "")) if not errors and not stale else None,
        }, status_code=status_code)

    def to_record(record_id: str, done: str, anchor: str = "") -> RedirectResponse:
        return RedirectResponse(f"/governance/{record_id}?{urlencode({'done': done})}{anchor}", status_code=303)

    def record_kind(value: str | None) -> str:
        return "instrument" if value == "instrument" else "activity"

    @router.get("/governance/new", response_class=HTMLResponse)
    async def new_record(request: Request, user: RegisterUser, record: str | None = None) -> HTMLResponse:
        return await form_page(request, user, record=record_kind(record))

    @router.post("/governance/new", response_class=HTMLResponse)
    async def create(request: Request, user: RegisterUser) -> Response:
        fields = await submitted_fields(request)
        kind = record_kind(dict(fields).get("record"))
        data = facts_from_form(kind, fields)
        try:
            facts: Facts = (INSTRUMENT if kind == "instrument" else ACTIVITY).validate_python(data)
        except ValidationError as exc:
            return await form_page(request, user, record=kind, entries=dict(fields) | {
                "languages": data.get("languages", [])}, errors=form_errors(exc), status_code=422)
        created = await governance(request).record(facts, actor=user.actor)
        return to_record(created.record_id, "recorded")

    @router.get("/governance/{record_id}", response_class=HTMLResponse)
    async def show_record(request: Request, record_id: str, user: RegisterUser) -> HTMLResponse:
        held = await governance(request).read(record_id)
        return await form_page(request, user, record=held.record, held=held)

    @router.post("/governance/{record_id}", response_class=HTMLResponse)
    async def save(request: Request, record_id: str, user: RegisterUser) -> Response:
        fields = await submitted_fields(request)
        held = await governance(request).read(record_id)
        data = facts_from_form(held.record, fields)
        entries = dict(fields) | {"languages": data.get("languages", [])}
        try:
            facts: Facts = (INSTRUMENT if held.record == "instrument" else ACTIVITY).validate_python(data)
            revision = int(dict(fields).get("revision", "0") or 0)
            await governance(request).revise(record_id, facts, expected_revision=revision, actor=user.actor)
        except ValidationError as exc:
            return await form_page(request, user, record=held.record, held=held, entries=entries,
                                   errors=form_errors(exc), status_code=422)
        except (Conflict, DomainRuleViolation) as exc:
            latest = await governance(request).read(record_id)
            return await form_page(request, user, record=held.record, held=latest,
                                   stale=WITHDRAWN_RECORD if latest.withdrawn else STALE_RECORD,
                                   status_code=exc.status_code)
        return to_record(record_id, "saved")

    @router.post("/governance/{record_id}/withdraw", response_class=HTMLResponse)
    async def withdraw(request: Request, record_id: str, user: RegisterUser) -> Response:
        fields = dict(await submitted_fields(request))
        try:
            await governance(request).withdraw(record_id, expected_revision=int(fields.get("revision", "0") or 0),
                                               actor=user.actor)
        except (Conflict, DomainRuleViolation) as exc:
            latest = await governance(request).read(record_id)
            return await form_page(request, user, record=latest.record, held=latest,
                                   stale=WITHDRAWN_RECORD if latest.withdrawn else STALE_RECORD,
                                   status_code=exc.status_code)
        return to_record(record_id, "withdrawn")

    @router.post("/governance/{record_id}/attachments", response_class=HTMLResponse)
    async def attach(request: Request, record_id: str, user: RegisterUser) -> Response:
        await submitted_fields(request)  # the form (parsed once, its CSRF token checked)
        upload = (await request.form()).get("file")
        held = await governance(request).read(record_id)
        try:
            if not isinstance(upload, UploadFile) or not upload.filename:
                raise DomainRuleViolation("choose a file", field="file", reason="missing")
            content = await upload.read(MAX_ATTACHMENT_BYTES + 1)
            await governance(request).attach(record_id, name=upload.filename,
                                             media_type=(upload.content_type or "").split(";")[0],
                                             content=content, actor=user.actor)
        except DomainRuleViolation as exc:
            return await form_page(request, user, record=held.record, held=held, status_code=exc.status_code,
                                   errors={"file": PageError(FILE_REFUSALS.get(exc.details.get("reason", ""),
                                                                               FILE_REFUSALS["type"]),
                                                             {"megabytes": MAX_ATTACHMENT_BYTES // (1024 * 1024)})})
        return to_record(record_id, "attached", "#documents")

    @router.get("/governance/{record_id}/attachments/{attachment_id}")
    async def attachment_file(request: Request, record_id: str, attachment_id: str, user: RegisterUser) -> Response:
        return download(*await governance(request).document(record_id, attachment_id))

    @router.post("/governance/{record_id}/attachments/{attachment_id}/remove", response_class=HTMLResponse)
    async def detach(request: Request, record_id: str, attachment_id: str, user: RegisterUser) -> Response:
        await submitted_fields(request)
        try:
            await governance(request).detach(record_id, attachment_id)
        except NotFound:
            pass  # removed already (a second click): the page shows what is there
        return to_record(record_id, "detached", "#documents")

    return router
