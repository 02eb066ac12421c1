"""The access log's page, for administrators: who read or changed a person's data, when and in which case, by
person or by staff member within a period, and a check that no record of it was changed or removed."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from migradesk_intake.adapters.repository import AuditQuery
from migradesk_intake.entrypoints.http import use_cases
from migradesk_intake.entrypoints.identity import signed_in
from migradesk_shared.auth import Role
from migradesk_shared.web.i18n import N_
from migradesk_shared.web.session import PageUser
from migradesk_shared.web.templates import Pages

Administrator = Annotated[PageUser, Depends(signed_in(Role.ADMIN))]
AUDIT_PATH = "/admin/audit"
SAY_WHOSE = N_("Enter a person's id or a staff member (one of the two).")
BAD_DATE = N_("Enter a valid date.")


def _day(value: str, tz: ZoneInfo, *, end: bool = False) -> datetime | None:
    """A day of the form, as the moment it starts (or, for the end of a period, the next day starts)."""
    day = date.fromisoformat(value) + (timedelta(days=1) if end else timedelta())
    return datetime.combine(day, time(), tz)


def build_audit_pages(pages: Pages) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get(AUDIT_PATH, response_class=HTMLResponse)
    async def audit_page(request: Request, user: Administrator) -> HTMLResponse:
        form = {name: request.query_params.get(name, "").strip() for name in ("person_id", "actor", "since", "until")}
        tz = ZoneInfo(request.app.state.settings.timezone)
        errors: dict[str, str] = {}
        accesses = None
        if form["person_id"] or form["actor"]:
            period: dict[str, datetime | None] = {}
            for name in ("since", "until"):
                try:
                    period[name] = _day(form[name], tz, end=name == "until") if form[name] else None
                except ValueError:
                    errors[name] = BAD_DATE
            if form["person_id"] and form["actor"]:
                errors["person_id"] = SAY_WHOSE
            if not errors:
                accesses = await use_cases(request).repository.audit_trail(AuditQuery(
                    person_id=form["person_id"] or None, actor=form["actor"] or None, since=period["since"],
                    until=period["until"], limit=500))
        elif "search" in request.query_params:
            errors["person_id"] = SAY_WHOSE
        verification = (await use_cases(request).repository.verify_audit()
                        if request.query_params.get("verify") else None)
        return await pages.render(request, "audit.html", {
            "user": user, "form": form, "errors": errors, "accesses": accesses, "verification": verification},
            status_code=422 if errors else 200)

    return router
